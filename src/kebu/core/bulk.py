"""Writing many rows at once without the ORM's per-row work: ids reserved up front, one INSERT statement
per table and ``executemany`` (``COPY`` on PostgreSQL). The demo loader writes millions of rows this
way, and an import its batches (``objects_insert``), where ``bulk_create`` spends more time compiling SQL
for each row than the database spends storing it."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
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


def _into(model: type[Model], field_names: Sequence[str]) -> str:
    """``"table" ("column", …)``, quoted: what an INSERT or a COPY names."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column_of(model, name)) for name in field_names)
    return f"{quote(model._meta.db_table)} ({columns})"


def insert_sql(model: type[Model], field_names: Sequence[str]) -> str:
    placeholders = ", ".join(["%s"] * len(field_names))
    # Identifiers come from the models, quoted; every value is a parameter.
    return f"INSERT INTO {_into(model, field_names)} VALUES ({placeholders})"  # noqa: S608


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
    model: type[Model],
    field_names: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    same: Mapping[str, Any] | None = None,
) -> Sequence[int]:
    """Insert ``rows`` (each the Python values of ``field_names``, in that order) into ``model``'s table,
    each value through its field's ``get_db_prep_save``, with ids reserved up front; returns them, in the
    rows' order. For the rows an import makes by the thousand, where a model instance for each is work
    nothing needs.

    ``same`` holds the values every row shares (field name -> value), prepared once, so every row stores
    the same bytes: never an encrypted value, whose rows would then show they are equal. A field named
    in neither takes its plain default, or is left to the database where it has a default of its own or
    is generated; one whose value is made per row (a callable default, ``auto_now``) must be named, and
    ``ValueError`` says so."""
    if not rows:
        return range(0)
    # The connection itself, not django.db.connection: that proxy looks it up again for each of the
    # fields' many uses of it (about a fifth of an insert's time).
    db = connections[DEFAULT_DB_ALIAS]
    named = [_concrete(model, name) for name in [*field_names, *(same or {})]]
    preps = [field_preparer(field, db) for field in named[: len(field_names)]]
    defaults = {}
    for field in model._meta.concrete_fields:
        if field.primary_key or field in named or field.has_db_default() or field.generated:
            continue
        per_row = field.has_default() and callable(field.default)
        if per_row or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            raise ValueError(f"{model._meta.label}.{field.name} is made per row: name it.")
        defaults[field.name] = field.get_default()
    shared = {**(same or {}), **defaults}
    prepared_shared = [_concrete(model, name).get_db_prep_save(value, db) for name, value in shared.items()]
    ids = ids_reserve(len(rows), model)
    prepared = [
        [pk, *[prep(value) for prep, value in zip(preps, row, strict=True)], *prepared_shared]
        for pk, row in zip(ids, rows, strict=True)
    ]
    _rows_insert(model, [model._meta.pk.name, *field_names, *shared], prepared)
    return ids


def _rows_insert(model: type[Model], field_names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` of prepared values, in ``field_names``' columns. SQLite runs its one prepared INSERT
    for each row (``executemany``), as fast as it goes there. PostgreSQL is sent the rows with ``COPY``:
    there each INSERT statement cost the server more than its row did, and a 100k-row customer import
    waited on the server for 70% of its time (bench/README.md). ``COPY`` fires the tables' triggers and
    checks their constraints as INSERT does."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(insert_sql(model, field_names), rows)
            return
        sql = f"COPY {_into(model, field_names)} FROM STDIN"
        # Django's cursor has no COPY: its errors become Django's (an IntegrityError that callers catch),
        # and it is logged as statements are, where Django logs them (debug, tests).
        logged = cursor.debug_sql(sql, rows, many=True) if hasattr(cursor, "debug_sql") else nullcontext()
        with logged, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def values_update(model: type[Model], field_names: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Set ``field_names`` on the rows of ``model`` named by id: each of ``rows`` is ``(id, *values)``,
    the values in ``field_names``' order, each through its field's ``get_db_prep_save``. One statement
    run for all rows (``executemany``), where ``bulk_update`` builds a ``CASE`` for each field and row.
    In the caller's transaction; the caller holds the rows' locks."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    preps = [field_preparer(_concrete(model, name), db) for name in field_names]
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(column_of(model, name))} = %s" for name in field_names)
    pk = quote(model._meta.pk.column)
    # Identifiers come from the models, quoted; every value is a parameter.
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {pk} = %s"  # noqa: S608
    prepared = [[*[prep(value) for prep, value in zip(preps, row[1:], strict=True)], row[0]] for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def row_update(
    model: type[Model], pk: Any, values: Mapping[str, Any], *, where: Mapping[str, Any] | None = None
) -> int:
    """Set ``values`` (field name -> Python value, each through its field's ``get_db_prep_save``) on the
    row of ``model`` with id ``pk``, only if it still holds ``where`` (e.g. the version the caller read);
    returns how many rows were written, 0 or 1. What ``Model.objects.filter(pk=pk, **where).update(…)``
    does for plain values, without building a query each time: the statement and the fields' preparers
    are made once per model and set of fields. For a loop over many rows that each set their own fields
    (an import's updates), where the query building cost more than the UPDATE itself."""
    where = where or {}
    sql, preps = _row_update_plan(model, tuple(values), tuple(where), connections[DEFAULT_DB_ALIAS])
    params = [prep(value) for prep, value in zip(preps, [*values.values(), *where.values()], strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params[: len(values)], pk, *params[len(values) :]])
        return cursor.rowcount


@functools.lru_cache(maxsize=256)
def _row_update_plan(
    model: type[Model], set_names: tuple[str, ...], where_names: tuple[str, ...], db: BaseDatabaseWrapper
) -> tuple[str, list[Callable[[Any], Any]]]:
    quote = db.ops.quote_name
    sets = ", ".join(f"{quote(column_of(model, name))} = %s" for name in set_names)
    conditions = "".join(f" AND {quote(column_of(model, name))} = %s" for name in where_names)
    pk = quote(model._meta.pk.column)
    # Identifiers come from the models, quoted; every value is a parameter.
    sql = f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {pk} = %s{conditions}"  # noqa: S608
    return sql, [field_preparer(_concrete(model, name), db) for name in (*set_names, *where_names)]


# Django's own field classes whose ``get_db_prep_save`` may hand a value of these exact types back as it
# is (a test holds each to the full method, on both databases). Subclasses are not in it: an encrypted
# text field is a TextField that must not store its input as it is.
_AS_IS: dict[type[Field], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.BooleanField: (bool,),
    models.SmallIntegerField: (int,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.PositiveSmallIntegerField: (int,),
    models.PositiveIntegerField: (int,),
    models.AutoField: (int,),
    models.BigAutoField: (int,),
}


_SAMPLES: dict[type, Any] = {str: "x", int: 1, bool: True}


def field_preparer(field: Field, db: BaseDatabaseWrapper) -> Callable[[Any], Any]:
    """``field.get_db_prep_save`` for ``db`` as a one-argument function, short-cut for the values it
    would hand back unchanged: None, and a plain ``str``, ``int`` or ``bool`` for the field classes of
    ``_AS_IS`` (a foreign key as its target). Its chain of calls is most of an insert's preparing, and
    most of an import's values are text, numbers and blanks."""
    prep = field.get_db_prep_save
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    # Asked of the field once: whether it hands a value of the kind back as it is depends on the kind
    # and the database, not the value (PostgreSQL's driver is given ints wrapped in their column's size).
    kinds = tuple(kind for kind in _AS_IS.get(type(target), ()) if type(prep(_SAMPLES[kind], db)) is kind)
    if not kinds:
        return lambda value: prep(value, db)

    def prepared(value: Any) -> Any:
        return value if value is None or type(value) in kinds else prep(value, db)

    return prepared
