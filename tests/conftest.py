"""Fixtures for the browser tests: the clerk who clicks through the customer pages works in sales."""

from __future__ import annotations

import pytest


@pytest.fixture
def clerk(staff_member):
    """A sales clerk in the sales role (kebu.accounts.roles)."""
    return staff_member("sales", "xiaowang", display_name="小王")
