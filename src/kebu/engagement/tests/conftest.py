"""Personas for the service tests: the customer tests' colleagues (roles, teams, the shared pool) and
the order tests' small catalogue."""

from __future__ import annotations

import pytest

from kebu.customers.tests.conftest import (  # noqa: F401  (fixtures, shared by name)
    admin_member,
    analyst,
    clerk,
    client_for,
    manager_east,
    pool_off,
    readonly,
    sales_a,
    sales_b,
    team_east,
    team_south,
)
from kebu.orders.tests.conftest import catalogue  # noqa: F401


@pytest.fixture(autouse=True)
def _service_messages_in_english(settings):
    """Tests read the source messages: services in English, and pages too for a browser that asks for no
    language (it would get the shop's default, Chinese). A test of the language itself sends its own."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _media_in_test_dir(settings, tmp_path):
    """Attachments go to a folder of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
