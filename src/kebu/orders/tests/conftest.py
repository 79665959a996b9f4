"""Personas for the order tests: the customer tests' colleagues (roles, teams, the shared pool) and a
small catalogue."""

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
from kebu.orders.tests.factories import Catalogue, make_catalogue


@pytest.fixture
def catalogue(owner) -> Catalogue:
    """Two top categories (护肤 › 面霜, 茶叶), three SKUs and the default store."""
    return make_catalogue(actor=owner)


@pytest.fixture(autouse=True)
def _service_messages_in_english():
    """Service tests read the source messages; pages pick their language per request anyway."""
    from django.utils import translation

    with translation.override("en"):
        yield
