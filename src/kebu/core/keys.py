"""Key rotation: move every encrypted value onto the active key, in small batches.

Stateless on purpose: the work left is "every non-empty value not yet under the active key", found by
its ``kebu1$<key id>$`` prefix. A rotation killed half-way is resumed by running it again; rows it
already moved are skipped by the same WHERE clause. Each batch is its own short transaction, and
each row is rewritten only if it still holds the value read (an edit made meanwhile wins), so the
app keeps serving: every process reads values under both keys until the last one is moved. Each run,
finished or not, writes a ``keys.rotate`` audit entry."""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from kebu.audit.services import audit_record
from kebu.core import crypto
from kebu.core.fields import encrypted_fields
from kebu.core.models import EncryptionKey


@dataclass
class RotationResult:
    key_id: str
    started_new_key: bool
    rewritten: int = 0
    finished: bool = False
    per_table: dict[str, int] = field(default_factory=dict)


def _columns() -> list[tuple[str, list[tuple[str, str]]]]:
    """(table, [(column, context)]) for every encrypted column."""
    return [
        (model._meta.db_table, [(f.column, crypto.context_of(model, f.name)) for f in fields])
        for model, fields in encrypted_fields()
    ]


def _pending_clause(columns: list[tuple[str, str]], prefix: str) -> tuple[str, list[str]]:
    quote = connection.ops.quote_name
    parts = [f"({quote(c)} <> '' AND {quote(c)} NOT LIKE %s)" for c, _ in columns]
    return " OR ".join(parts), [prefix + "%"] * len(columns)


def keys_pending(*, key_id: str | None = None) -> int:
    """How many rows still hold a value under a key other than ``key_id`` (default: the active one)."""
    prefix = f"{crypto.PREFIX}${key_id or crypto.keyring().active}$"
    total = 0
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, columns in _columns():
            clause, params = _pending_clause(columns, prefix)
            cursor.execute(f"SELECT COUNT(*) FROM {quote(table)} WHERE {clause}", params)  # noqa: S608
            total += cursor.fetchone()[0]
    return total


def keys_usage() -> dict[str, int]:
    """Values per key id, across every encrypted column (for ``kebu keys status``)."""
    usage: dict[str, int] = {}
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, columns in _columns():
            for column, _ in columns:
                cursor.execute(
                    f"SELECT {quote(column)} FROM {quote(table)} WHERE {quote(column)} <> ''"  # noqa: S608
                )
                for (value,) in cursor.fetchall():
                    key_id = crypto.key_id_of(value)
                    usage[key_id] = usage.get(key_id, 0) + 1
    return usage


def keys_rotate(
    *,
    batch_size: int = 500,
    max_batches: int | None = None,
    progress: Callable[[str, int], None] | None = None,
    actor: Any = None,
) -> RotationResult:
    """Start a rotation (new active key) when every value is already under the active key, else resume
    the unfinished one. ``max_batches`` stops early, as a kill would (tests, and a cautious operator).

    One rotation at a time: two would each add a key to the keyring file and one key would be lost."""
    with _rotation_lock():
        return _rotate(batch_size=batch_size, max_batches=max_batches, progress=progress, actor=actor)


@contextmanager
def _rotation_lock() -> Iterator[None]:
    path = crypto.keyring_path().with_name("rotate.lock")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise crypto.KeyringError("Another key rotation is running; let it finish first.") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _rotate(
    *,
    batch_size: int,
    max_batches: int | None,
    progress: Callable[[str, int], None] | None,
    actor: Any,
) -> RotationResult:
    crypto.keyring_check()
    started = False
    if keys_pending() == 0:
        crypto.keyring_add_key()
        crypto.keyring_check()  # records the new key's check value before any value uses it
        started = True
    ring = crypto.keyring()
    prefix = f"{crypto.PREFIX}${ring.active}$"
    result = RotationResult(key_id=ring.active, started_new_key=started)
    quote = connection.ops.quote_name
    batches = 0
    for table, columns in _columns():
        clause, params = _pending_clause(columns, prefix)
        names = ", ".join(quote(c) for c, _ in columns)
        last_id = 0
        while max_batches is None or batches < max_batches:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, {names} FROM {quote(table)} WHERE id > %s AND ({clause}) "  # noqa: S608
                    "ORDER BY id LIMIT %s",
                    [last_id, *params, batch_size],
                )
                rows = cursor.fetchall()
                for row_id, *values in rows:
                    last_id = row_id
                    sets, new_values, old_values = [], [], []
                    for (column, context), value in zip(columns, values, strict=True):
                        if value and not value.startswith(prefix):
                            sets.append(column)
                            new_values.append(
                                ring.encrypt(ring.decrypt(value, context=context), context=context)
                            )
                            old_values.append(value)
                    assignments = ", ".join(f"{quote(c)} = %s" for c in sets)
                    unchanged = " AND ".join(f"{quote(c)} = %s" for c in sets)
                    cursor.execute(
                        f"UPDATE {quote(table)} SET {assignments} WHERE id = %s AND {unchanged}",  # noqa: S608
                        [*new_values, row_id, *old_values],
                    )
                    result.rewritten += cursor.rowcount
                    result.per_table[table] = result.per_table.get(table, 0) + cursor.rowcount
            batches += 1
            if progress is not None:
                progress(table, result.per_table.get(table, 0))
            if len(rows) < batch_size:
                break
    # Processes that had not yet re-read the keyring may have written under the old key meanwhile:
    # done only when nothing is left, else the next run picks those rows up.
    result.finished = keys_pending() == 0
    with transaction.atomic():
        if result.finished:
            EncryptionKey.objects.exclude(key_id__in=[ring.active, crypto.MAC_KEY_ID]).filter(
                retired_at__isnull=True
            ).update(retired_at=timezone.now())
        audit_record(
            action="keys.rotate",
            actor=actor,
            target_type="core.encryptionkey",
            target_id=ring.active,
            target_repr=ring.active,
            data={
                "started_new_key": started,
                "rewritten": result.rewritten,
                "finished": result.finished,
            },
        )
    return result
