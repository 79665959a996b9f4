"""The schema as the database holds it, after every migration: no index that another one duplicates,
and the customer's staff columns, left unindexed, still cleared when a user goes.

Each index is an entry to write for every row inserted or updated (a rebuild of the figures writes 860k
customer rows), so one that does another's job costs every write and serves no read."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest
from django.db import connection

from kebu.customers.models import Customer

pytestmark = pytest.mark.django_db


def _index_definitions() -> list[tuple[str, str, str]]:
    """(table, index, definition with the index's own name taken out) for every index Kebu's tables
    have that SQL created (SQLite's automatic ones for UNIQUE columns have no SQL)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
            )
        else:
            cursor.execute(
                "SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        found = cursor.fetchall()
    return [
        (table, name, re.sub(rf'INDEX\s+(?:\S+\.)?"?{re.escape(name)}"?\s', "INDEX ", definition))
        for table, name, definition in found
    ]


def test_no_index_duplicates_another():
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for table, name, definition in _index_definitions():
        seen[table, definition].append(name)
    assert len(seen) > 50  # the tables were read
    assert {key: names for key, names in seen.items() if len(names) > 1} == {}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's pattern indexes")
def test_a_blind_index_has_no_pattern_index_beside_it():
    names = {name for table, name, _ in _index_definitions() if table == "customers_customer"}
    assert not {name for name in names if "email_lookup" in name and name.endswith("_like")}
    assert "customers_customer_email_lookup_1186c6fb" in names


def test_a_deleted_user_is_cleared_from_the_customers_they_made_and_saved(django_user_model):
    leaving = django_user_model.objects.create_user("leaving", password="x-Passw0rd!")
    staying = django_user_model.objects.create_user("staying", password="x-Passw0rd!")
    made = Customer.objects.create(customer_no="C700001", name="甲", created_by=leaving, updated_by=staying)
    saved = Customer.objects.create(customer_no="C700002", name="乙", created_by=staying, updated_by=leaving)

    leaving.delete()

    made.refresh_from_db()
    saved.refresh_from_db()
    assert (made.created_by_id, made.updated_by_id) == (None, staying.pk)
    assert (saved.created_by_id, saved.updated_by_id) == (staying.pk, None)
