"""The dry run of an import (the import pages' "check every row", ``kebu import --dry-run``): a customer,
product or order sheet imported as its import would import it, in transactions that are then rolled back.

So the check is the writing's own rules rather than a second reading of them. Besides a cell that cannot
be read, it finds what only writing finds: an order paid more than it is worth, taken on credit without
a credit line or beyond a limit that blocks, or met again with other lines; a customer the rows that
match them would give an eleventh phone; an owner the importer's role may not assign; a category five
levels deep. And nothing of it is left: no row, no number given out (customer and order numbers come
from ``core.Sequence`` rows, rolled back with the rest), no audit entry, the audit log's head where it
was. Only PostgreSQL's id sequences move on, as for any transaction rolled back: an id is a key, not a
count, and the audit log is chained by numbers of its own (``AuditHead``).

A stretch of the file (about ``STRETCH_ROWS`` rows, or fewer if they take longer than
``STRETCH_SECONDS``; whole batches) is one transaction, its batches imported in it one after another as
the import commits them, so that a later batch meets what an earlier one wrote: a buyer made, credit
taken, a SKU added. Stretches rather than the whole file: while a stretch writes, the shop's other
writers wait for it (SQLite's write lock, PostgreSQL's lock on the audit log's head), and a check's
heartbeat is committed between stretches. A stretch does not see what the stretches before it wrote. A
row refused only because of them (a customer given an eleventh phone by rows thousands apart) is found
when written, and an all-or-nothing import, which is checked by this rehearsal too, then takes back what
it wrote (``imports._taken_back``); a row taken only because of them (a new price alone for a SKU a row
a stretch above adds) is reported as refused."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any, cast

from django.conf import settings
from django.db import transaction

from kebu.core.models import Job, JobStatus, shop_settings_held
from kebu.customers.models import CustomField
from kebu.customers.privacy import contact_policy
from kebu.orders.models import Store
from kebu.transfer.changes import CustomerChange, changes_read, import_changes_listed
from kebu.transfer.corrections import Correction
from kebu.transfer.customers import CustomerRow, FileCheck, Problem, Repeat, customer_rows_repeated
from kebu.transfer.imports import JOB_KIND, _batch_import, import_mapping
from kebu.transfer.models import Import, ImportKind
from kebu.transfer.orders import (
    OrderKey,
    OrderRows,
    order_batch_import,
    order_batches,
    order_groups,
    order_numbers_split,
)
from kebu.transfer.products import ProductRow, product_batch_import
from kebu.transfer.readers import Cell, table_read
from kebu.transfer.report import ReportRow, refused_rows, report_write

# A marketplace export of a few thousand lines is one stretch, checked exactly as its import writes it.
# A stretch is rehearsed at about the import's speed: under a millisecond a line of orders or customers
# on either database (a 3,000-line Taobao export: 1.8 s on SQLite, 2.8 s on PostgreSQL), but some 5 ms a
# row of a product sheet (a SKU, its category's levels and an audit entry each, in a savepoint of its
# own), where 5,000 rows held the shop's other writers for 28 s, past SQLite's 20-second busy timeout: a
# clerk saving a customer meanwhile was told the database was locked. So a stretch also ends, after the
# batch it is in, once it has been open ``STRETCH_SECONDS``: the writers wait some seconds at most.
STRETCH_ROWS = 5000
STRETCH_SECONDS = 5.0

# A row the dry run tells of: its number and cells, and its problems (the import would reject it) or the
# cells of it the import would take otherwise than written (its corrections).
Found = tuple[int, list[Cell], list[Problem], list[Correction]]
# The rows of one thing imported: an order's lines; a customer's or a SKU's row alone.
Group = list[tuple[int, list[Cell]]]


@dataclass
class Stretch:
    """A stretch of the file rehearsed: how many of its rows it held, and the rows to tell of, each with
    the file's rows it stands for (an order is told of by its first row, with all its problems; its
    lines are those rows, which the report gives whole: ``report.refused_rows``); and, when asked for,
    what its rows would change on customers already in Kebu, in the file's order, as the one who
    rehearses may see it (``changes.changes_read``)."""

    rows: int
    found: list[tuple[Found, Group]]
    changes: list[CustomerChange] = field(default_factory=list)


def import_rehearse(
    rows: Iterator[tuple[int, list[Cell]]],
    *,
    kind: str,
    actor: Any,
    headers: Sequence[str],
    mapping: dict[int, str],
    store: Store | None = None,
    split: Mapping[OrderKey, list[int]] | None = None,
    repeats: Mapping[int, Repeat] | None = None,
    changes: bool = False,
    reader: Any = None,
) -> Iterator[Stretch]:
    """``rows`` of a customer, product or order sheet imported by ``actor`` as the import would import them
    now, a stretch at a time, each stretch rolled back: what the import would reject, and what it would
    correct; with ``changes``, what a customer sheet's rows would change on the customers already in
    Kebu, as ``reader`` (by default ``actor``) may see them (read from the stretch's journal before it is
    rolled back: a few queries a stretch). An order
    sheet's ``split`` is ``order_numbers_split`` of the whole file (the orders whose rows are apart,
    which the import refuses), its ``store`` the one chosen for it; a customer sheet's ``repeats``
    ``customer_rows_repeated`` of the whole file."""
    size = cast(int, settings.KEBU["IMPORT_BATCH_ROWS"])
    batches: Iterator[list[Group]]
    if kind == ImportKind.ORDERS:
        batches = order_batches(order_groups(rows, mapping, store=store), size=size)
    else:
        batches = _row_batches(rows, size=size)
    definitions = list(CustomField.objects.filter(is_active=True)) if kind == ImportKind.CUSTOMERS else []
    reader = actor if reader is None else reader
    # Each stretch takes the batches after the one that opens it, for as long as it may.
    for first in batches:
        yield _stretch_rehearse(
            chain([first], batches),
            kind=kind,
            actor=actor,
            headers=headers,
            mapping=mapping,
            store=store,
            split=split,
            repeats=repeats,
            definitions=definitions,
            changes=changes and kind == ImportKind.CUSTOMERS and reader is not None,
            reader=reader,
        )


def _row_batches(rows: Iterator[tuple[int, list[Cell]]], *, size: int) -> Iterator[list[Group]]:
    """A customer or product sheet's rows, ``size`` at a time, as its import takes them."""
    while batch := list(islice(rows, size)):
        yield [[row] for row in batch]


def _stretch_rehearse(
    batches: Iterator[list[Group]],
    *,
    kind: str,
    actor: Any,
    headers: Sequence[str],
    mapping: dict[int, str],
    store: Store | None,
    split: Mapping[OrderKey, list[int]] | None,
    repeats: Mapping[int, Repeat] | None,
    definitions: Sequence[CustomField],
    changes: bool,
    reader: Any,
) -> Stretch:
    """``batches`` rehearsed in one transaction rolled back, until it has held ``STRETCH_ROWS`` rows or been
    open ``STRETCH_SECONDS``; the batches after those are left in ``batches``."""
    taken: list[tuple[Group, OrderRows | CustomerRow | ProductRow]] = []
    changed: list[CustomerChange] = []
    with _rolled_back(kind=kind, actor=actor, headers=headers, mapping=mapping, store=store) as run:
        opened, held = time.monotonic(), 0
        for batch in batches:
            if kind == ImportKind.ORDERS:
                # The stage rules and credit setting read once a batch, as the import reads them.
                with shop_settings_held():
                    orders = order_batch_import(run, batch, mapping=mapping, split=split)
                taken += zip(batch, orders, strict=True)
            elif kind == ImportKind.PRODUCTS:
                skus = product_batch_import(run, [group[0] for group in batch], mapping=mapping)
                taken += zip(batch, skus, strict=True)
            else:
                customers = _batch_import(
                    run,
                    [group[0] for group in batch],
                    mapping=mapping,
                    definitions=definitions,
                    repeats=repeats,
                )
                taken += zip(batch, customers, strict=True)
            held += sum(len(group) for group in batch)
            if held >= STRETCH_ROWS or time.monotonic() - opened >= STRETCH_SECONDS:
                break
        if changes:
            entries = import_changes_listed(run, user=reader)
            changed = list(changes_read(entries.iterator(), policy=contact_policy(reader), rehearsed=True))
    found: list[tuple[Found, Group]] = []
    for group, record in taken:
        number, cells = group[0]
        if record.problems:
            found.append(((number, cells, record.problems, []), group))  # nothing of it is taken
        elif record.corrections:
            found.append(((number, cells, [], record.corrections), group))
    return Stretch(rows=sum(len(group) for group, _record in taken), found=found, changes=changed)


@contextmanager
def _rolled_back(
    *, kind: str, actor: Any, headers: Sequence[str], mapping: dict[int, str], store: Store | None
) -> Iterator[Import]:
    """An import that never was: its job and its record made in a transaction that is rolled back, with
    everything written under them, once the caller is done (the journal's rows name the import)."""
    with transaction.atomic():
        job = Job.objects.create(kind=JOB_KIND, status=JobStatus.RUNNING, created_by=actor)
        yield Import.objects.create(
            job=job,
            kind=kind,
            headers=list(headers),
            mapping={str(index): key for index, key in mapping.items()},
            options={"store": store.pk} if store is not None else {},
            created_by=actor,
        )
        transaction.set_rollback(True)


def import_file_check(
    data: bytes | Path,
    *,
    kind: str,
    sheet: str | None = None,
    mapping: dict[int, str] | None = None,
    store: Store | None = None,
    actor: Any = None,
    report: str | IO[bytes] | None = None,
    reader: Any = None,
) -> FileCheck:
    """``kebu import --dry-run`` of a customer, product or order sheet: ``mapping`` checked (or guessed
    from the header), every row rehearsed (``import_rehearse``), the rows the import would reject listed
    with their cells and problems (every row of an order refused, each with the problems on its own
    cells: ``report.refused_rows``), the others counted as good; a customer sheet's customers already
    in Kebu that the import would change counted, as ``reader`` (by default ``actor``) may see them.
    With ``report``, the report is written as the rows are rehearsed (``report.report_write``): the rows
    to fix, the corrected cells, and what the import would change on each of those customers, as the
    import's own report lists it once done (the check's page too, ``drafts.import_check_run``); each
    change is written as its stretch is read, never all of them held. Raises ``FileRefused`` for a file
    that cannot be read, ``ValidationFailed`` for columns that do not make a sheet of ``kind``."""
    table = table_read(data, sheet=sheet)
    mapping = import_mapping(table.headers, mapping=mapping, kind=kind)
    split = repeats = None
    # A pass of its own over the file: an order's rows further down refuse its first ones, a customer's
    # row further down is the one that counts, so neither can be told before the whole file is seen.
    if kind == ImportKind.ORDERS:
        split = order_numbers_split(table_read(data, sheet=sheet).rows, mapping, store=store)
    elif kind == ImportKind.CUSTOMERS:
        repeats = customer_rows_repeated(table_read(data, sheet=sheet).rows, mapping)
    check = FileCheck(headers=table.headers, mapping=mapping)
    stretches = import_rehearse(
        table.rows,
        kind=kind,
        actor=actor,
        headers=table.headers,
        mapping=mapping,
        store=store,
        split=split,
        repeats=repeats,
        changes=True,
        reader=reader,
    )

    def found() -> Iterator[ReportRow]:
        for stretch in stretches:
            check.good += stretch.rows
            for (number, cells, problems, corrections), rows in stretch.found:
                if problems:
                    refused = refused_rows(rows, problems)
                    check.bad += refused
                    check.good -= len(rows)
                    yield from refused
                else:
                    check.corrections_add(corrections)
                    yield number, cells, [], corrections
            for change in stretch.changes:
                check.changed += 1
                yield change.row, [], [], [], [change]

    if report is None:
        deque(found(), maxlen=0)
    else:
        report_write(report, headers=table.headers, rows=found())
    return check
