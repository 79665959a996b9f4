"""Personas for the core tests: the customer tests' admin by role, and a client logged in as anyone."""

from __future__ import annotations

from kebu.customers.tests.conftest import admin_member, client_for  # noqa: F401  (fixtures, shared by name)
