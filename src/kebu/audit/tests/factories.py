"""Helpers for the audit tests: write entries as the product does, tamper as an intruder would."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import connection

from kebu.audit.models import AuditEntry
from kebu.audit.services import audit_record

SQLITE_CREATE = importlib.import_module("kebu.audit.migrations.0002_append_only_trigger").SQLITE_CREATE


def record(action: str = "customer.update", actor: Any = None, **fields: Any) -> AuditEntry:
    return audit_record(action=action, actor=actor, **fields)


def record_many(n: int, *, action: str = "customer.update") -> list[AuditEntry]:
    return [
        record(action, target_type="customers.customer", target_id=str(i), target_repr=f"C{i:06d}")
        for i in range(n)
    ]


@contextmanager
def guard_off() -> Iterator[Any]:
    """What someone holding the database's owner password can do: switch the trigger off, edit,
    switch it back on."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_append_only")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_append_only")
        yield cursor
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_append_only")
        else:
            cursor.execute(SQLITE_CREATE)


def sql_set(seq: int, column: str, value: Any) -> None:
    """Change one column of one entry behind the application's back."""
    is_json = column in ("changes", "data")
    placeholder = "%s::jsonb" if is_json and connection.vendor == "postgresql" else "%s"
    with guard_off() as cursor:
        cursor.execute(
            f"UPDATE audit_auditentry SET {column} = {placeholder} WHERE seq = %s",  # noqa: S608
            [json.dumps(value) if is_json else value, seq],
        )


def sql_delete(seq: int) -> None:
    with guard_off() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE seq = %s", [seq])
