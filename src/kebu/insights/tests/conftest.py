"""Personas for the insights tests: the customer tests' colleagues and the order tests' catalogue."""

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
def _insights_in_english(settings):
    """Tests read the source messages; a test of the language itself sends its own."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield
