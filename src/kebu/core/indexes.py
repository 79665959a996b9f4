"""A table's secondary indexes set aside for a long bulk write, and made again after it (SQLite).

A big first import into a near-empty customer table spends a fifth of its time moving entries into
indexes that only the list pages read (names, regions, figures: bench/README.md). Dropping them for the
import and building each again afterwards from its own ``CREATE`` statement is faster, as
``kebu demo`` does within one run. An import spans many transactions and may be killed in any of them,
so each dropped index is recorded (``SetAsideIndex``) in the transaction that drops it, and made again
once the job has ended, however it ends: by ``job_run`` after the job's status is written, by the
reconciler for a job that ended without its worker (``jobs_reconcile``), or before any migration
(``pre_migrate``), so that the schema a migration sees is the declared one. Unique indexes are never set
aside: they are rules, not speed.

PostgreSQL is left alone: there the server keeps the indexes on the other core, beside the import's
Python, and a 100k-row import took as long without them (bench/README.md)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Model, Q

from kebu.core.models import Job, JobStatus, SetAsideIndex

# The page cache, in KiB (negative, as PRAGMA cache_size takes it), while indexes are built again.
LEAN_CACHE_KB = -8192


@dataclass(frozen=True)
class SqliteIndex:
    name: str
    sql: str  # the CREATE statement that makes it again exactly
    columns: tuple[str, ...]
    unique: bool


def sqlite_indexes(cursor: Any, table: str) -> list[SqliteIndex]:
    """The indexes of ``table`` that have a ``CREATE`` statement: not the ones SQLite made for the table's
    own PRIMARY KEY and UNIQUE clauses, which cannot be dropped."""
    cursor.execute(
        "SELECT name, sql FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL ORDER BY name",
        [table],
    )
    found = cursor.fetchall()
    cursor.execute(f"PRAGMA index_list({connection.ops.quote_name(table)})")
    unique = {row[1] for row in cursor.fetchall() if row[2]}
    indexes = []
    for name, sql in found:
        cursor.execute(f"PRAGMA index_info({connection.ops.quote_name(name)})")
        columns = tuple(row[2] for row in cursor.fetchall())
        indexes.append(SqliteIndex(name, sql, columns, name in unique))
    return indexes


def indexes_set_aside(model: type[Model], *, job: Job, keep: Collection[str] = ()) -> int:
    """Drop the secondary, non-unique indexes of ``model``'s table, except those whose first column is
    in ``keep`` (the columns the bulk write itself looks rows up by), recording each for ``job``.
    Returns how many were set aside; none on a database other than SQLite."""
    if connection.vendor != "sqlite":
        return 0
    table = model._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        aside = [
            SetAsideIndex(name=index.name, table=table, sql=index.sql, job=job)
            for index in sqlite_indexes(cursor, table)
            if not index.unique and index.columns[0] not in keep
        ]
        for index in aside:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(index.name)}")
        SetAsideIndex.objects.bulk_create(aside)
    return len(aside)


def indexes_restore(*, job: Job | None = None, orphaned: bool = False) -> int:
    """Make again the indexes set aside for ``job``; with ``orphaned``, those of every job that is no
    longer waiting or running (and of deleted jobs); with neither, all of them. One transaction per
    index, so that other writers get a turn between builds. Returns how many were made again."""
    if connection.vendor != "sqlite":
        return 0
    wanted = SetAsideIndex.objects.all()
    if job is not None:
        wanted = wanted.filter(job=job)
    if orphaned:
        wanted = wanted.filter(Q(job=None) | ~Q(job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING]))
    made = 0
    pks = list(wanted.order_by("pk").values_list("pk", flat=True))
    if not pks:
        return 0
    with _sorting_lean():
        for pk in pks:
            with transaction.atomic(), connection.cursor() as cursor:
                index = SetAsideIndex.objects.filter(pk=pk).first()
                if index is None:  # made again meanwhile by another process
                    continue
                # SQLite keeps the statement without IF NOT EXISTS: the index comes back as it was.
                cursor.execute(index.sql.replace("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1))
                index.delete()
                made += 1
    return made


@contextmanager
def _sorting_lean() -> Iterator[None]:
    """Build with a small page cache, sort runs in files, and read the table without the memory map:
    SQLite sorts an index's entries in memory up to the page cache's size, and with ``temp_store=MEMORY``
    keeps every sorted run in memory too. Over a million customers four builds took a process from 35 MB
    to 252 MB that way, and to 32 MB (and were faster) with 8 MB and files. Each build reads the whole
    table, and through the map (``mmap_size``, 256 MB) every page it read stayed in the process: +42 MB
    at the end of a 100k-row import, its peak. ``temp_store`` cannot change inside a transaction: then it
    stays."""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA temp_store")
        store = int(cursor.fetchone()[0])
        cursor.execute("PRAGMA mmap_size")
        found = cursor.fetchone()  # none for an in-memory database, which has no map
        mapped = None if found is None else int(found[0])
        outside = not connection.in_atomic_block
        cursor.execute(f"PRAGMA cache_size={LEAN_CACHE_KB}")
        if mapped:
            cursor.execute("PRAGMA mmap_size=0")
        if outside:
            cursor.execute("PRAGMA temp_store=FILE")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size={cache}")
            if mapped:
                cursor.execute(f"PRAGMA mmap_size={mapped}")
            if outside:
                cursor.execute(f"PRAGMA temp_store={store}")


def restore_before_migrate(using: str, **kwargs: Any) -> None:
    """``pre_migrate``: a migration must find the schema its predecessors declared."""
    if using != connection.alias or connection.vendor != "sqlite":
        return
    if SetAsideIndex._meta.db_table in connection.introspection.table_names():
        indexes_restore()
