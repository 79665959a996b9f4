"""Shared test set-up: personas and test-only settings.

The database is chosen the way production chooses it: DATABASE_URL (the Makefile sets it for the
PostgreSQL run), else SQLite."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

os.environ.setdefault("KEBU_DATA_DIR", os.path.join(os.path.dirname(__file__), "var", "test"))

# Property tests check what is true, not how fast: Hypothesis's 200 ms per example and its "too slow to
# generate" check failed them on a busy 2-core machine (speed is measured in bench/, never in a test).
hypothesis_settings.register_profile("kebu", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("kebu")


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Tests run against source files; the manifest needs collectstatic, fast hashing needs no argon2.
    settings.STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.HUEY["immediate"] = True
    # djhuey built its Huey when the apps loaded, before this hook: switch that instance too, so a task
    # runs in the test (with in-memory storage) instead of queueing into the data directory.
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True


@pytest.fixture
def owner(django_user_model):
    """The shop owner: an admin account."""
    return django_user_model.objects.create_user(
        username="laoban", password="pass-laoban-123", display_name="老板", is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_member(django_user_model):
    """Make a colleague in a role (kebu.accounts.roles: admin, manager, sales, analyst, readonly)."""
    from kebu.accounts.roles import role_assign

    def make(role: str | None, username: str, *, team=None, display_name: str = "", **fields):
        user = django_user_model.objects.create_user(
            username=username,
            password=f"pass-{username}-123",
            display_name=display_name or username,
            team=team,
            **fields,
        )
        if role:
            role_assign(user=user, key=role)
        return user

    return make


@pytest.fixture
def clerk(django_user_model):
    """A sales clerk: a plain account without a role here; the customer tests give it the sales role
    (src/kebu/customers/tests/conftest.py, tests/conftest.py)."""
    return django_user_model.objects.create_user(
        username="xiaowang", password="pass-xiaowang-123", display_name="小王"
    )


@pytest.fixture
def clerk_client(client, clerk):
    client.force_login(clerk)
    return client


@pytest.fixture
def owner_client(owner):
    """The owner logged in, past the second step (admins must use two-step verification)."""
    from django.test import Client

    from kebu.accounts.tests.otp_helpers import login_verified

    client = Client()
    login_verified(client, owner)
    return client


@pytest.fixture(autouse=True)
def _shop_language():
    """Each test starts in the shop's language (zh-Hans), whatever the one before it asked for: a test
    client's request in English leaves English active in this thread (LocaleMiddleware activates it and
    nothing puts it back), and a later test reading Chinese messages then read English ones."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)
