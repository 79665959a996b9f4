"""Personas for the customer tests: colleagues in each role, two teams, and the shared pool switch."""

from __future__ import annotations

import pytest
from django.test import Client


@pytest.fixture
def clerk(staff_member):
    """A sales clerk in the sales role: their own customers and the shared pool, with contact details."""
    return staff_member("sales", "xiaowang", display_name="小王")


def _client_for(user) -> Client:
    """Logged in as after a real login: with the second step done for those who must have one."""
    from kebu.accounts.tests.otp_helpers import login_verified
    from kebu.accounts.twofactor import requires_two_factor

    client = Client()
    if requires_two_factor(user):
        login_verified(client, user)
    else:
        client.force_login(user)
    return client


@pytest.fixture
def team_east():
    from kebu.accounts.models import Team

    return Team.objects.create(name="华东组")


@pytest.fixture
def team_south():
    from kebu.accounts.models import Team

    return Team.objects.create(name="华南组")


@pytest.fixture
def sales_a(staff_member, team_east):
    """Staff A, sales, in the east team."""
    return staff_member("sales", "sales_a", display_name="销售甲", team=team_east)


@pytest.fixture
def sales_b(staff_member, team_south):
    """Staff B, sales, in the south team."""
    return staff_member("sales", "sales_b", display_name="销售乙", team=team_south)


@pytest.fixture
def manager_east(staff_member, team_east):
    return staff_member("manager", "manager_east", display_name="华东主管", team=team_east)


@pytest.fixture
def analyst(staff_member):
    return staff_member("analyst", "analyst", display_name="分析师")


@pytest.fixture
def readonly(staff_member):
    return staff_member("readonly", "readonly", display_name="只读")


@pytest.fixture
def admin_member(staff_member):
    """An admin by role (not a superuser): sees everything through permissions alone."""
    return staff_member("admin", "admin_role", display_name="管理员")


@pytest.fixture
def client_for():
    """A logged-in test client for any user."""
    return _client_for


@pytest.fixture
def pool_off():
    from kebu.core.models import ShopSettings

    settings = ShopSettings.current()
    settings.shared_pool_enabled = False
    settings.save()
    return settings
