"""Writing many rows at once without the ORM's per-row work: ids reserved up front, one INSERT statement
per table and ``executemany``. The demo loader writes millions of rows this way, and an import its
batches (``objects_insert``), where ``bulk_create`` spends more time compiling SQL for each row than
the database spends storing it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Field, Model


def ids_reserve(count: int, model: type[Model]) -> Sequence[int]:
    """``count`` ids of ``model`` that nothing else will take, reserved up front (before any row is
    written, so each batch can be its own transaction, and rows can name each other before they exist).

    SQLite: the table is AUTOINCREMENT, so new rows take max(max(id), sqlite_sequence) + 1; moving
    ``sqlite_sequence`` past the block (an ordinary UPDATE, as SQLite documents) reserves it, and ids
    of deleted rows are never reused. PostgreSQL: drawn from the table's own identity sequence, so the
    app's concurrent inserts cannot collide and no ``setval`` is needed afterwards."""
    if count <= 0:
        return range(0)
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return sorted(row[0] for row in cursor.fetchall())
        if connection.vendor != "sqlite":
            raise NotImplementedError("Kebu runs on SQLite or PostgreSQL.")
        cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        top = cursor.fetchone()[0]
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        top = max(top, row[0] if row else 0)
        if row:
            cursor.execute("UPDATE sqlite_sequence SET seq = %s WHERE name = %s", [top + count, table])
        else:
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, top + count])
    return range(top + 1, top + 1 + count)


def _concrete(model: type[Model], field_name: str) -> Field:
    field = model._meta.get_field(field_name)
    assert isinstance(field, Field)
    return field


def column_of(model: type[Model], field_name: str) -> str:
    column = _concrete(model, field_name).column
    assert column
    return column


def insert_sql(model: type[Model], field_names: Sequence[str]) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column_of(model, name)) for name in field_names)
    placeholders = ", ".join(["%s"] * len(field_names))
    # Identifiers come from the models, quoted; every value is a parameter.
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"  # noqa: S608


def objects_insert(model: type[Model], objects: Sequence[Model]) -> None:
    """Insert ``objects`` (unsaved instances of ``model``) as ``bulk_create`` would, ids included (set on
    each object), in the caller's transaction, with each field's own ``pre_save`` and
    ``get_db_prep_save``, so encrypted, JSON and date fields are stored exactly as a save stores them.
    No signals are sent, as with ``bulk_create``."""
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [[f.pre_save(obj, True) for f in fields] for obj in objects]
    ids = values_insert(model, [f.name for f in fields], values)
    for obj, pk in zip(objects, ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias


def values_insert(
    model: type[Model], field_names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> Sequence[int]:
    """Insert ``rows`` (each the Python values of ``field_names``, in that order) into ``model``'s table,
    each value through its field's ``get_db_prep_save``, with ids reserved up front; returns them, in the
    rows' order. On its own, for the rows an import makes by the thousand and never reads back (timeline
    events, tag links), where a model instance for each is work nothing needs."""
    if not rows:
        return range(0)
    # The connection itself, not django.db.connection: that proxy looks it up again for each of the
    # fields' many uses of it (about a fifth of an insert's time).
    db = connections[DEFAULT_DB_ALIAS]
    preps = [_concrete(model, name).get_db_prep_save for name in field_names]
    ids = ids_reserve(len(rows), model)
    prepared = [
        [pk, *(prep(value, db) for prep, value in zip(preps, row, strict=True))]
        for pk, row in zip(ids, rows, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(insert_sql(model, [model._meta.pk.name, *field_names]), prepared)
    return ids
