"""Importing a customer sheet: start (keep the file, make the job), run (batches that resume where the
last committed one ended), report (the rows to fix) and undo.

Each row is matched to a customer by, in this order, customer number, phone, a marketplace or social
account (WeChat, 旺旺, Douyin …), email, and, for a row with none of those, its exact name when exactly one
customer has it. A matched customer gets the row's non-blank cells (``customer_import_merge``) that the
importer may change (``_Allowed``): one they may not see or change is left as it is, and contact details
they see masked are not taken, each with a note; an unmatched row becomes a new customer, if the
importer may add customers, owned as the new-customer form would have it (``_new_owner``). So importing
the same file twice, or a newer export that overlaps an older one, creates nobody twice. A row may name
its customer by a key alone, without a name or a phone (a 客户编号 | 标签 sheet, to tag or reassign
customers in bulk): it updates the customer who has the key, and is rejected, naming the key, when no
one has it, since a new customer needs a name or a phone (``customers.key_unknown_problem``).

A batch is one transaction: its customers, its journal rows (``ImportRow``), the import's next row and
counts, and the job's heartbeat. A worker killed mid-batch loses only that uncommitted batch, which
the next claim of the job does again."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.audit.models import AuditEntry
from kebu.audit.services import audit_record
from kebu.core.bulk import objects_insert, values_insert
from kebu.core.errors import Conflict, Forbidden, ValidationFailed
from kebu.core.indexes import indexes_set_aside
from kebu.core.jobs import JobCancelled, JobRun, job_cancel, job_create, job_runner
from kebu.core.lookup import text_lookup
from kebu.core.models import JobStatus, shop_settings_held
from kebu.core.text import list_join
from kebu.customers import access
from kebu.customers.models import Customer, CustomerEvent, CustomField, SocialAccount, SocialKind, Tag
from kebu.customers.models import CustomerPhone as Phone
from kebu.customers.privacy import CONTACT_CHANGE_KINDS
from kebu.customers.selectors import assignable_users, customer_visible_queryset
from kebu.customers.services import (
    ImportedChange,
    customer_import_changes,
    customer_import_merge,
    customer_import_revert,
    customers_import_create,
    customers_import_owners_put_back,
    customers_with_contacts,
)
from kebu.orders.models import Store
from kebu.transfer.aside import aside_note, aside_undo
from kebu.transfer.cells import normalized
from kebu.transfer.corrections import corrections_note
from kebu.transfer.customers import (
    CustomerRow,
    Problem,
    References,
    Repeat,
    columns_feeding,
    customer_headers_match,
    customer_row_read,
    customer_rows_repeated,
    key_unknown_problem,
    mapping_check,
)
from kebu.transfer.models import (
    Import,
    ImportKind,
    ImportMode,
    ImportRow,
    ImportRowAction,
)
from kebu.transfer.orders import (
    OrderKey,
    order_batch_import,
    order_batches,
    order_groups,
    order_headers_match,
    order_import_undo,
    order_mapping_check,
    order_numbers_split,
)
from kebu.transfer.products import (
    ProductRow,
    product_batch_import,
    product_headers_match,
    product_import_undo,
    product_mapping_check,
)
from kebu.transfer.readers import Cell, Counted, file_size_check, table_read
from kebu.transfer.report import refused_rows
from kebu.transfer.reviews import (
    review_batch_import,
    review_headers_match,
    review_import_undo,
    review_mapping_check,
    review_rows_check,
)
from kebu.transfer.versions import versions_changed_since, versions_undone_record

JOB_KIND = "transfer.import"
# The audit log's action for an import's start, by what it imports (``audit.models.AuditAction``).
START_ACTIONS = {
    ImportKind.CUSTOMERS: "customer.import",
    ImportKind.ORDERS: "order.import",
    ImportKind.PRODUCTS: "product.import",
    ImportKind.REVIEWS: "review.import",
}
UNDO_CONFLICTS_SHOWN = 10
# What starting an import on the import pages takes (``views.importer_required``): the import permission,
# and for a sheet of products, orders or reviews the right to add what it creates besides.
IMPORT_PERMISSION = "transfer.import_customers"
KIND_PERMISSIONS: dict[str, str] = {
    ImportKind.PRODUCTS: "orders.add_product",
    ImportKind.ORDERS: "orders.add_order",
    ImportKind.REVIEWS: "engagement.add_feedback",
}


def import_permissions(kind: str) -> list[str]:
    """The permissions the import pages ask of whoever starts an import of ``kind``."""
    return [IMPORT_PERMISSION, *([KIND_PERMISSIONS[kind]] if kind in KIND_PERMISSIONS else [])]


def imports_dir() -> Path:
    path = Path(settings.DATA_DIR) / "imports"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- starting ---------------------------------------------------------------------------------------


@dataclass
class Plan:
    """A file read far enough to start its import: its header and which column feeds which field."""

    headers: list[str]
    mapping: dict[int, str]
    sheet: str


def import_plan(
    data: bytes | Path,
    *,
    sheet: str | None = None,
    mapping: dict[int, str] | None = None,
    kind: str = ImportKind.CUSTOMERS,
) -> Plan:
    """Read the header of ``data`` and match its columns (or check the ``mapping`` given). Raises
    ``FileRefused`` for a file that cannot be read, ``ValidationFailed`` when no column holds what tells
    the rows apart (a customer's name, phone, number, account or email; a SKU's code)."""
    table = table_read(data, sheet=sheet)
    mapping = import_mapping(table.headers, mapping=mapping, kind=kind)
    return Plan(headers=table.headers, mapping=mapping, sheet=table.sheet)


def import_mapping(
    headers: Sequence[str], *, mapping: dict[int, str] | None = None, kind: str = ImportKind.CUSTOMERS
) -> dict[int, str]:
    """Which column of a sheet of ``kind`` with ``headers`` feeds which field: ``mapping`` checked, or
    guessed from the headers (``import_plan``, for a header already read)."""
    if mapping is None:
        if kind == ImportKind.PRODUCTS:
            mapping = product_headers_match(headers)
        elif kind == ImportKind.ORDERS:
            mapping = order_headers_match(headers)
        elif kind == ImportKind.REVIEWS:
            mapping = review_headers_match(headers)
        else:
            mapping = customer_headers_match(headers, list(CustomField.objects.filter(is_active=True)))
    elif any(not 0 <= index < len(headers) for index in mapping):
        raise ValidationFailed(_("The column mapping names a column the file does not have."))
    if kind == ImportKind.PRODUCTS:
        product_mapping_check(headers, mapping)
    elif kind == ImportKind.ORDERS:
        order_mapping_check(headers, mapping)
    elif kind == ImportKind.REVIEWS:
        review_mapping_check(headers, mapping)
    else:
        mapping_check(headers, mapping)
    return dict(mapping)


# ``customer_import_start``'s ``owner`` when none is chosen: the customers an import adds are the
# importer's, as those they add on the new-customer form are unless they choose otherwise.
BY_IMPORTER: Any = object()


def import_owner_options(*, actor: Any, owner: Any) -> dict[str, Any]:
    """An import's ``options`` for the owner of the customers it adds whose row names none: nothing for
    the importer (``BY_IMPORTER``, or ``actor`` themselves), else ``{"owner": id}``, or
    ``{"owner": None}`` for nobody (the shared pool). Choosing is the assign permission's, as on the
    new-customer form: ``Forbidden`` for someone without it choosing anyone but themselves,
    ``ValidationFailed`` for someone who may not have customers (inactive, or without
    ``customers.view_customer``)."""
    if owner is BY_IMPORTER or owner == actor:
        return {}
    if actor is not None and not access.can_assign(actor):
        raise Forbidden(_("Your role may not give customers to others; leave owner out to own it yourself."))
    if owner is not None and not assignable_users().filter(pk=owner.pk).exists():
        message = _("Choose an active colleague who works with customers.")
        raise ValidationFailed(message, field_errors={"owner": [message]})
    return {"owner": owner.pk if owner is not None else None}


@transaction.atomic
def customer_import_start(
    *,
    actor: Any,
    data: bytes | Path,
    file_name: str,
    sheet: str | None = None,
    mode: str = ImportMode.GOOD_ROWS,
    mapping: dict[int, str] | None = None,
    enqueue: bool = True,
    kind: str = ImportKind.CUSTOMERS,
    store: Any = None,
    owner: Any = BY_IMPORTER,
    permissions: Sequence[str] = (),
) -> Import:
    """Keep the file (``data``, or the file at that path, copied in pieces) under a generated name, and
    queue its import as a job (``enqueue=False``: the caller runs ``job_run`` itself). The kept copy is
    read as far as its header first, so a file that cannot be imported is refused here, before anything
    is queued, and the job reads exactly the file that was checked. ``owner``: of the customers it adds
    (a customer sheet's rows, an order sheet's new buyers) whose row names none: a staff member, or None
    for nobody (the shared pool); by default the importer (``import_owner_options``). ``permissions``:
    those the importer was asked for to start it (the pages ask ``import_permissions``; the terminal
    asks none of ``--user``, whom the import only runs as), asked again when the job runs
    (``_importer_check``)."""
    options: dict[str, Any] = {"store": store.pk} if store is not None else {}
    options |= import_owner_options(actor=actor, owner=owner)
    if isinstance(data, Path):
        file_size_check(data.stat().st_size, streamed=True)  # before a file too large is copied
    stored_as = uuid.uuid4().hex
    kept = imports_dir() / stored_as
    size, sha256 = _file_keep(data, kept)
    try:
        plan = import_plan(kept, sheet=sheet, mapping=mapping, kind=kind)
    except BaseException:
        kept.unlink()
        raise
    # The worker writes each rejected row's reasons in the language of whoever started the import.
    payload: dict[str, Any] = {"language": translation.get_language()}
    if permissions:
        payload["permissions"] = list(permissions)
    job = job_create(kind=JOB_KIND, actor=actor, payload=payload, enqueue=enqueue)
    run = Import.objects.create(
        job=job,
        kind=kind,
        mode=mode,
        options=options,
        file_name=Path(file_name).name[:255],
        stored_as=stored_as,
        file_size=size,
        file_sha256=sha256,
        sheet=plan.sheet,
        headers=plan.headers,
        mapping={str(index): key for index, key in plan.mapping.items()},
        created_by=actor,
    )
    audit_record(
        action=START_ACTIONS[ImportKind(kind)],
        actor=actor,
        target=run,
        data={
            "kind": kind,
            "file": run.file_name,
            "bytes": run.file_size,
            "sha256": run.file_sha256,
            "mode": mode,
        },
    )
    return run


_COPY_BYTES = 1 << 20


def _file_keep(data: bytes | Path, kept: Path) -> tuple[int, str]:
    """Write ``data`` to ``kept`` (a path: copied a piece at a time, so that a large file is never in
    memory whole); return its size and SHA-256."""
    digest = hashlib.sha256()
    size = 0
    with open(kept, "xb") as out:
        try:
            with io.BytesIO(data) if isinstance(data, bytes) else data.open("rb") as source:
                while piece := source.read(_COPY_BYTES):
                    out.write(piece)
                    digest.update(piece)
                    size += len(piece)
        except BaseException:
            kept.unlink()
            raise
    return size, digest.hexdigest()


# --- running ----------------------------------------------------------------------------------------


@job_runner(JOB_KIND)
def import_run(job_run: JobRun) -> None:
    with translation.override(job_run.job.payload.get("language")), database_file_unmapped():
        _import_run(job_run)


@contextmanager
def database_file_unmapped() -> Iterator[None]:
    """SQLite reads the database through its bounded page cache for the import, not through the memory
    map (``mmap_size``): every page an import's matching reads stays mapped into the process, so the
    memory it holds grew with the database, up to the map's 256 MB (a re-import of 100,000 rows held
    ~100 MB of mapped pages after 20,000). ``kebu import`` holds it for its whole run: what it tells
    afterwards (the changed customers counted, the report) reads the journal of every row."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA mmap_size")
        found = cursor.fetchone()  # none for an in-memory database, which has no map
        if found is not None:
            cursor.execute("PRAGMA mmap_size=0")
    if found is None:
        yield
        return
    mapped = int(found[0])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA mmap_size={mapped}")


def _import_run(job_run: JobRun) -> None:
    run = Import.objects.get(job=job_run.job)
    if run.undone_at is not None or run.refused:
        return
    # Both refused before anything is checked or written.
    _importer_check(run, permissions=job_run.job.payload.get("permissions", ()))
    if run.kind in (ImportKind.CUSTOMERS, ImportKind.ORDERS):
        _new_owner(run, _Allowed.of(run.created_by))
    definitions = list(CustomField.objects.filter(is_active=True))
    mapping = {int(index): key for index, key in run.mapping.items()}
    # Read from the kept file each time, not held: a CSV is then never in memory whole.
    kept = imports_dir() / run.stored_as

    def rows() -> Iterator[tuple[int, list[Cell]]]:
        return table_read(kept, sheet=run.sheet or None).rows

    store = Store.objects.filter(pk=run.options["store"]).first() if run.options.get("store") else None
    # A pass over the whole file before anything is written, which reads every cell and counts the rows
    # (``table_rows_count``) and, for an order or customer sheet, tells what cannot be told before the
    # whole file has been seen: the orders whose rows are apart, which the import refuses; the customers
    # a row further down names again.
    read = Counted(rows())
    split = repeats = None
    if run.kind == ImportKind.ORDERS:
        split = order_numbers_split(read, mapping, store=store)
    elif run.kind == ImportKind.CUSTOMERS:
        repeats = customer_rows_repeated(read, mapping)
    elif job_run.job.total is None:  # a product or review sheet's resumed run has read it already
        read.drain()
    if job_run.job.total is None:
        with transaction.atomic():
            job_run.beat(total=read.count)
    try:
        if run.mode == ImportMode.ALL_OR_NOTHING and not run.checked:
            _all_or_nothing_check(
                run, rows, mapping=mapping, store=store, split=split, repeats=repeats, job_run=job_run
            )
            if run.refused:
                return
        if run.kind == ImportKind.ORDERS:
            _orders_run(run, rows, mapping=mapping, store=store, split=split, job_run=job_run)
        else:
            _rows_run(run, rows, mapping=mapping, definitions=definitions, repeats=repeats, job_run=job_run)
    except _RefusedWhenWritten as exc:
        _taken_back(run, exc.refused, job_run=job_run)
        return
    except JobCancelled:
        _finished(run, status=JobStatus.CANCELLED)
        raise
    _finished(run, status=JobStatus.DONE)


def _importer_check(run: Import, *, permissions: Sequence[str]) -> None:
    """``ValidationFailed``, naming them and what to do, when whoever started ``run`` may no longer
    import it: they have left, their account was deleted, or they no longer hold the ``permissions``
    they were asked for to start it. A queued or resumed import runs after that was asked, and it runs
    as them: one who left may do nothing, so each of its rows would be refused or left out with a note
    that says nothing of why; and one whose account was deleted left ``created_by`` empty, which reads
    as an import from the terminal under no one's name, which may do everything. Whether there was
    someone is the import's start in the audit log, which keeps their id and login name for good; an
    import from the terminal without ``--user`` has nobody there, and runs."""
    importer = run.created_by
    if importer is None:
        started = (
            AuditEntry.objects.filter(
                action=START_ACTIONS[ImportKind(run.kind)],
                target_type=Import._meta.label_lower,
                target_id=str(run.pk),
            )
            .values_list("actor_id", "actor_label")
            .first()
        )
        if started is None or started[0] is None:
            return
        message = _(
            "%(name)s started this import, and their account has been deleted since: it cannot run in "
            "their name. The import stopped: import the file again yourself (what it already imported "
            "is not added twice)."
        )
        raise ValidationFailed(message % {"name": started[1]})
    if not importer.is_active:
        message = _(
            "%(name)s started this import, and has left since: it cannot run in their name. The import "
            "stopped: import the file again yourself (what it already imported is not added twice)."
        )
        raise ValidationFailed(message % {"name": importer})
    if not importer.has_perms(permissions):
        message = _(
            "%(name)s started this import, and may no longer import this kind of sheet: it cannot run in "
            "their name. The import stopped: import the file again as someone who may (what it already "
            "imported is not added twice)."
        )
        raise ValidationFailed(message % {"name": importer})


def _rows_run(
    run: Import,
    rows: Callable[[], Iterator[tuple[int, list[Cell]]]],
    *,
    mapping: dict[int, str],
    definitions: Sequence[CustomField],
    repeats: Mapping[int, Repeat] | None,
    job_run: JobRun,
) -> None:
    """A customer, product or review sheet's batches of ``IMPORT_BATCH_ROWS`` rows, from where the last
    committed one ended. All or nothing, a row refused when written refuses the file
    (``_RefusedWhenWritten``): its batch rolls back, and ``_taken_back`` takes back the ones before."""
    whole = run.mode == ImportMode.ALL_OR_NOTHING
    if run.kind == ImportKind.CUSTOMERS and _bulk(job_run):
        indexes_set_aside(Customer, job=job_run.job, keep=MATCHED_BY)
    pending = (r for r in rows() if r[0] >= run.next_row)
    batch_rows = cast(int, settings.KEBU["IMPORT_BATCH_ROWS"])
    while batch := list(islice(pending, batch_rows)):
        job_run.stop_if_cancelled()
        with transaction.atomic():
            taken: Sequence[CustomerRow | ProductRow] = []
            if run.kind == ImportKind.PRODUCTS:
                taken = product_batch_import(run, batch, mapping=mapping)
            elif run.kind == ImportKind.REVIEWS:
                review_batch_import(run, batch, mapping=mapping)
            else:
                taken = _batch_import(run, batch, mapping=mapping, definitions=definitions, repeats=repeats)
            if whole and (refused := [([r.number], r.problems) for r in taken if r.problems]):
                raise _RefusedWhenWritten(refused)
            _batch_committed(run, next_row=batch[-1][0] + 1)
            job_run.beat(done=run.processed)


def _batch_committed(run: Import, *, next_row: int) -> None:
    """Save what a batch counted onto ``run``, and where the next one starts, in the batch's transaction:
    a worker killed after it resumes there."""
    run.next_row = next_row
    run.save(
        update_fields=[
            "next_row",
            "created",
            "updated",
            "unchanged",
            "rejected",
            "noted",
            "made_aside",
            "corrected",
            "corrections",
        ]
    )


def _bulk(job_run: JobRun) -> bool:
    """Whether the rows still to import are many, and at least as many as the customers there are:
    then the customer table's list indexes are set aside for the import (``kebu.core.indexes``), and
    made again once the job has ended, however it ends (``job_run``)."""
    left = (job_run.job.total or 0) - job_run.job.done
    threshold = cast(int, settings.KEBU["IMPORT_INDEXES_ASIDE_ROWS"])
    return left >= threshold and left >= Customer.objects.count()


def import_cancel(*, run: Import) -> Import:
    """Stop an import: a running one after the batch it is in (its worker records how it ended), a
    waiting one at once, recorded here, since no worker will ever pick it up."""
    job = job_cancel(job=run.job)
    if job.status == JobStatus.CANCELLED and job.started_at is None:
        _finished(run, status=JobStatus.CANCELLED)
    return run


# What the import refuses: its rows' numbers (an order's lines, in the file's order; a customer's row
# alone), the first of which the journal keeps it under, and its problems, each on its own row.
Refusal = tuple[Sequence[int], Sequence[Problem]]


class _RefusedWhenWritten(Exception):
    """All or nothing, and rows that passed the check were refused when written."""

    def __init__(self, refused: Sequence[Refusal]) -> None:
        super().__init__()
        self.refused = refused


def _all_or_nothing_check(
    run: Import,
    rows: Callable[[], Iterator[tuple[int, list[Cell]]]],
    *,
    mapping: dict[int, str],
    store: Store | None,
    split: Mapping[OrderKey, list[int]] | None,
    repeats: Mapping[int, Repeat] | None,
    job_run: JobRun,
) -> None:
    """All or nothing: before any of it is written, the file is imported as its importer's import will
    import it, a stretch at a time in transactions rolled back (``rehearsals.import_rehearse``, the dry
    run's rehearsal), so that the check is the writing's own rules: besides a cell that cannot be read,
    an order the order services refuse, a customer the rows give an eleventh phone, a category five
    levels deep. A review sheet's rows are read and their orders looked for, as its dry run does. Any row
    refused refuses the import (``_refuse_or_go_on``). The check's progress is the job's, a stretch at a
    time, and starts again from nothing when the writing does."""
    if run.kind == ImportKind.REVIEWS:
        reviews = review_rows_check(rows(), mapping=mapping, headers=run.headers, store=store)
        _refuse_or_go_on(run, [([r.number], r.problems) for r in reviews], job_run=job_run)
        return
    from kebu.transfer.rehearsals import import_rehearse  # the rehearsal imports this module

    refused: list[Refusal] = []
    checked = 0
    for stretch in import_rehearse(
        rows(),
        kind=run.kind,
        actor=run.created_by,
        headers=run.headers,
        mapping=mapping,
        store=store,
        split=split,
        repeats=repeats,
    ):
        refused += [([n for n, _cells in rows], found[2]) for found, rows in stretch.found if found[2]]
        checked += stretch.rows
        with transaction.atomic():
            job_run.beat(done=checked)  # alive, and how far: a long file's check is as long as its import
        job_run.stop_if_cancelled()
    _refuse_or_go_on(run, refused, job_run=job_run)


def _orders_run(
    run: Import,
    rows: Callable[[], Iterator[tuple[int, list[Cell]]]],
    *,
    mapping: dict[int, str],
    store: Store | None,
    split: Mapping[OrderKey, list[int]] | None,
    job_run: JobRun,
) -> None:
    """An order sheet's batches: whole orders (an order's lines are never split between two batches), about
    ``IMPORT_BATCH_ROWS`` rows each, from where the last committed one ended. Importing the good rows,
    each order stands alone; all or nothing, an order refused when written refuses the file
    (``_RefusedWhenWritten``), as a row of another sheet does."""
    pending = order_groups((r for r in rows() if r[0] >= run.next_row), mapping, store=store)
    for batch in order_batches(pending, size=cast(int, settings.KEBU["IMPORT_BATCH_ROWS"])):
        job_run.stop_if_cancelled()
        # The stage rules and credit setting each order asks for are read once a batch.
        with transaction.atomic(), shop_settings_held():
            orders = order_batch_import(run, batch, mapping=mapping, split=split)
            if run.mode == ImportMode.ALL_OR_NOTHING and (
                refused := [(o.numbers, o.problems) for o in orders if o.problems]
            ):
                raise _RefusedWhenWritten(refused)
            _batch_committed(run, next_row=batch[-1][-1][0] + 1)
            job_run.beat(done=run.next_row - 2)  # rows, not orders: the header is row 1


def _taken_back(run: Import, refused: Sequence[Refusal], *, job_run: JobRun) -> None:
    """All or nothing, and ``refused`` passed the check but were refused when written (the shop changed
    between the check and the write: someone saved an order with one of the file's numbers, gave a
    customer of the file another phone; or a stretch of the check did not see what the stretches before
    it would write). Their batch has rolled back; what the batches before it wrote is taken back as undo
    takes it back (``_import_take_back``, recorded as ``import.undo``), and the import is refused with
    those rows for the report, in one transaction: nothing of the file is left.

    Only when taking back would lose work done meanwhile on what the import had just written does the job
    fail instead (``ValidationFailed``), saying so and keeping what it wrote, which the import's page can
    undo later."""
    run.refresh_from_db()  # the rolled-back batch had counted onto the run in memory
    try:
        with transaction.atomic():
            counts = _import_take_back(run, actor=run.created_by)
            run.journal.all().delete()
            ImportRow.objects.bulk_create(_rejections(run, refused))
            run.created = run.updated = run.unchanged = run.noted = run.corrected = 0
            run.corrections = ""  # of rows no longer taken
            run.rejected, run.refused = len(refused), True
            run.save(
                update_fields=[
                    "created",
                    "updated",
                    "unchanged",
                    "noted",
                    "corrected",
                    "corrections",
                    "rejected",
                    "refused",
                    "made_aside",
                ]
            )
            if any(counts.values()):
                # Rows written and taken back again: the audit log says so, and the dashboard rebuilds.
                audit_record(
                    action="import.undo",
                    actor=run.created_by,
                    target=run,
                    data=counts | {"all_or_nothing": True},
                    ip="",
                )
            job_run.beat(done=run.processed)
            # With the refusal, so that a worker killed after it does not leave the import unfinished.
            _finished(run, status=JobStatus.DONE)
    except Conflict as exc:
        rows = "; ".join(
            _("row %(row)d: %(reason)s") % {"row": p.row, "reason": p.reason}
            for _numbers, found in refused
            for p in found
        )
        raise ValidationFailed(
            _(
                "All or nothing: a row was refused when written, after the file had been checked "
                "(%(rows)s), and what the import wrote before it cannot be undone without losing work "
                "done on it since (%(conflict)s). It is kept: undo the import from its page once that is "
                "settled."
            )
            % {"rows": rows, "conflict": exc.message}
        ) from exc


def _finished(run: Import, *, status: str) -> None:
    audit_record(
        action="import.finish",
        actor=run.created_by,
        target=run,
        data={
            "status": status,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "rejected": run.rejected,
            "refused": run.refused,
        },
        ip="",
    )


def _refuse_or_go_on(run: Import, bad: Sequence[Refusal], *, job_run: JobRun) -> None:
    """After the all-or-nothing check: refuse the import with its bad rows kept for the report, or mark
    it checked so that a resumed run does not check again."""
    with transaction.atomic():
        if bad:
            ImportRow.objects.bulk_create(_rejections(run, bad))
            run.rejected, run.refused = len(bad), True
        run.checked = True
        run.save(update_fields=["rejected", "refused", "checked"])
        job_run.beat(done=run.processed if bad else 0)
        if bad:
            # With the refusal, so that a worker killed after it does not leave the import unfinished.
            _finished(run, status=JobStatus.DONE)


@dataclass(frozen=True)
class _Keys:
    """What tells a row's customer apart, worked out once per row: its number, phones, accounts and
    email (as their lookups), and its name only when it has none of those."""

    number: str
    phones: tuple[str, ...]
    accounts: tuple[tuple[str, str], ...]
    email: str
    name: str

    @classmethod
    def of(cls, row: CustomerRow) -> _Keys:
        assert row.checked is not None and row.data is not None
        phones = tuple(row.checked.phone_lookups)
        # An account of kind "other" says nothing about whose it is: a JD "xiaoming" is not Pinduoduo's.
        accounts = tuple(
            (s.kind, text_lookup(s.handle)) for s in row.data.socials if s.kind != SocialKind.OTHER
        )
        email = row.checked.clean.email_lookup
        only_name = not (row.customer_no or phones or accounts or email)
        return cls(row.customer_no, phones, accounts, email, row.data.name if only_name else "")


@dataclass
class _Matches:
    """Each key a batch's rows carry -> the customer that has it (the first created, for a key several
    customers share). Grows as the batch creates customers, so a later row of the same file finds them;
    an order batch learns a buyer it will make under a stand-in id below zero."""

    numbers: dict[str, int] = field(default_factory=dict)
    phones: dict[str, int] = field(default_factory=dict)
    accounts: dict[tuple[str, str], int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)
    names: dict[str, list[int]] = field(default_factory=dict)

    def find(self, keys: _Keys) -> int | None:
        return self.found_by(keys)[0]

    def found_by(self, keys: _Keys) -> tuple[int | None, str]:
        """The customer with these keys, and the key that told: "customer_no", "phone", "social:<kind>"
        (a marketplace or social account), "email" or "name" (``changes.matched_by_label``)."""
        if keys.number in self.numbers:
            return self.numbers[keys.number], "customer_no"
        for lookup in keys.phones:
            if lookup in self.phones:
                return self.phones[lookup], "phone"
        for account in keys.accounts:
            if account in self.accounts:
                return self.accounts[account], f"social:{account[0]}"
        if keys.email in self.emails:
            return self.emails[keys.email], "email"
        if keys.name and len(self.names.get(keys.name, ())) == 1:
            return self.names[keys.name][0], "name"
        return None, ""

    def learn(self, keys: _Keys, customer_id: int, customer_no: str) -> None:
        if customer_no:
            self.numbers.setdefault(customer_no, customer_id)
        for lookup in keys.phones:
            self.phones.setdefault(lookup, customer_id)
        for account in keys.accounts:
            self.accounts.setdefault(account, customer_id)
        if keys.email:
            self.emails.setdefault(keys.email, customer_id)
        if keys.name:
            self.names.setdefault(keys.name, [customer_id])


# The customer columns ``_matches_load`` looks rows up by, besides the unique customer number: a bulk
# import keeps their indexes when it sets the others aside.
MATCHED_BY = ("name", "email_lookup")


def _matches_load(keys: Sequence[_Keys]) -> _Matches:
    """The existing customers that have any of these keys: a few queries for the whole batch."""
    numbers = {k.number for k in keys if k.number}
    phones = {lookup for k in keys for lookup in k.phones}
    accounts = {a for k in keys for a in k.accounts}
    emails = {k.email for k in keys if k.email}
    names = {k.name for k in keys if k.name}
    found = _Matches()
    if numbers:
        found.numbers = dict(
            Customer.objects.filter(customer_no__in=numbers).values_list("customer_no", "pk")
        )
    if phones:
        for lookup, customer_id in (
            Phone.objects.filter(number_lookup__in=phones)
            .order_by("customer_id")
            .values_list("number_lookup", "customer_id")
        ):
            found.phones.setdefault(lookup, customer_id)
    if accounts:
        handles = {handle for _, handle in accounts}
        for kind, handle, customer_id in (
            SocialAccount.objects.filter(handle_lookup__in=handles)
            .order_by("customer_id")
            .values_list("kind", "handle_lookup", "customer_id")
        ):
            found.accounts.setdefault((kind, handle), customer_id)
    if emails:
        for lookup, customer_id in (
            Customer.objects.filter(email_lookup__in=emails).order_by("pk").values_list("email_lookup", "pk")
        ):
            found.emails.setdefault(lookup, customer_id)
    if names:
        for name, customer_id in (
            Customer.objects.filter(name__in=names).order_by("pk").values_list("name", "pk")
        ):
            found.names.setdefault(name, []).append(customer_id)
    return found


def _ambiguous(number: int, name: str, headers: Sequence[str], mapping: dict[int, str]) -> CustomerRow:
    column = next((headers[i] for i, key in mapping.items() if key == "name"), "")
    reason = _(
        "Several customers are called “%(name)s”, and this row has nothing else to tell which one "
        "(a customer number, phone, account or email)."
    ) % {"name": name}
    return CustomerRow(number, None, problems=[Problem(number, column, name, reason)])


def _rejections(run: Import, refused: Iterable[Refusal]) -> list[ImportRow]:
    return [ImportRow.rejection(run, numbers, problems) for numbers, problems in refused]


def _batch_import(
    run: Import,
    batch: Sequence[tuple[int, list[Cell]]],
    *,
    mapping: dict[int, str],
    definitions: Sequence[CustomField],
    repeats: Mapping[int, Repeat] | None = None,
) -> list[CustomerRow]:
    """Import ``batch`` inside the caller's transaction, counting onto ``run``. Returns its rows as the
    import took them, a rejected one with its problems (the dry run's report, ``transfer.rehearsals``).
    ``repeats`` (``customer_rows_repeated`` of the whole file): a row that updates a customer whom a row
    further down names again leaves to that row what it gives too."""
    references = References.load()
    rows = [
        customer_row_read(
            number,
            cells,
            mapping=mapping,
            headers=run.headers,
            definitions=definitions,
            references=references,
            key_enough=True,
        )
        for number, cells in batch
    ]
    good = [(r, _Keys.of(r)) for r in rows if not r.problems]
    made_tags = _tags_resolve([r for r, _keys in good])
    rejected = [r for r in rows if r.problems]
    matches = _matches_load([keys for _, keys in good])
    # The customers the batch matched, read in one go with their phones, addresses and accounts; one
    # the batch created or already changed is read again when needed. Those the importer may not see
    # are not read at all.
    wanted = {cid for _, keys in good if (cid := matches.find(keys)) is not None}
    hidden = _customers_hidden(run, wanted)
    loaded = customers_with_contacts(wanted - hidden) if wanted else {}
    allowed = _Allowed.of(run.created_by)
    owner = _new_owner(run, allowed)
    cells_of = dict(batch)
    journal: list[ImportRow] = []
    timeline: list[CustomerEvent] = []  # the updated customers' timeline events, written with the journal
    created: list[tuple[int, int]] = []  # the journal's rows for the customers made: (row, customer)
    to_create: list[tuple[CustomerRow, _Keys]] = []
    pending = _Matches()  # the keys of the rows waiting in to_create

    def create_pending() -> None:
        nonlocal pending
        made = customers_import_create(
            actor=run.created_by,
            rows=[(r.checked, r.customer_no) for r, _ in to_create if r.checked],
            import_id=run.pk,
        )
        for (row, keys), pk, number in zip(to_create, made.ids, made.numbers, strict=True):
            matches.learn(keys, pk, number)
            created.append((row.number, pk))
        run.created += len(made.ids)
        to_create.clear()
        pending = _Matches()

    for row, keys in good:
        customer_id, matched_by = matches.found_by(keys)
        if customer_id is None and pending.find(keys) is not None:
            create_pending()  # an earlier row of this batch is the same customer: create it first
            customer_id, matched_by = matches.found_by(keys)
        if customer_id is None:
            if keys.name and len(matches.names.get(keys.name, ())) > 1:
                rejected.append(_ambiguous(row.number, keys.name, run.headers, mapping))
                continue
            if row.checked is not None and row.checked.unnamed:
                # Named by a key alone (a 客户编号 | 标签 sheet): a customer to update, never one to make.
                unknown = key_unknown_problem(
                    row, cells=cells_of[row.number], mapping=mapping, headers=run.headers
                )
                rejected.append(CustomerRow(row.number, None, problems=[unknown]))
                continue
            if problem := _new_customer_problem(
                run, row, cells=cells_of[row.number], mapping=mapping, allowed=allowed
            ):
                rejected.append(CustomerRow(row.number, None, problems=[problem]))
                continue
            if row.owner_refused is not None:
                rejected.append(CustomerRow(row.number, None, problems=[row.owner_refused]))
                continue
            if "owner" not in row.provided and row.checked is not None:
                row.checked.data.owner = owner
            to_create.append((row, keys))
            pending.learn(keys, 0, row.customer_no)
            continue
        if customer_id in hidden:
            # As much as the new-customer form tells of a phone that a customer they cannot see has.
            reason = _(
                "A customer you cannot see already has this row's customer number, phone, account, email "
                "or name: they were left as they are."
            )
            left_out = [["", "", reason]]
            change = None
        else:
            customer: Customer | int = loaded.pop(customer_id, customer_id)
            if row.owner_refused is not None and allowed.change and allowed.assign:
                # Refused only where the row would move the customer to them: naming the one who owns
                # them already (Kebu's own export, after a colleague left) changes nothing. Without
                # those permissions the owner is left as it is anyway, with a note (``_update``).
                customer = _customer_read(customer)
                assert row.data is not None and row.data.owner is not None
                if customer.owner_id != row.data.owner.pk:
                    rejected.append(CustomerRow(row.number, None, problems=[row.owner_refused]))
                    continue
            try:
                change, left_out = _update(
                    run,
                    row,
                    customer,
                    cells=cells_of[row.number],
                    mapping=mapping,
                    allowed=allowed,
                    definitions=definitions,
                    timeline=timeline,
                    repeat=_repeat_of(repeats, row.number, matched_by=matched_by),
                )
            except ValidationFailed as exc:
                reasons = [str(m) for messages in exc.field_errors.values() for m in messages] or [
                    str(exc.message)
                ]
                rejected.append(
                    CustomerRow(row.number, None, problems=[Problem(row.number, "", "", r) for r in reasons])
                )
                continue
        run.noted += bool(left_out)
        if change is None:
            run.unchanged += 1
            if left_out:
                journal.append(
                    ImportRow(
                        run=run,
                        row=row.number,
                        action=ImportRowAction.UNCHANGED,
                        noted=True,
                        detail=json.dumps({"left_out": left_out}, ensure_ascii=False),
                    )
                )
            continue
        run.updated += 1
        # ``after`` and ``matched_by`` tell the import's page what the row changed (``changes``); undo
        # reads only ``before`` and ``added``.
        detail: dict[str, Any] = {
            "before": change.before,
            "added": change.added,
            "after": change.after,
            "matched_by": matched_by,
        }
        if left_out:
            detail["left_out"] = left_out
        journal.append(
            ImportRow(
                run=run,
                row=row.number,
                action=ImportRowAction.UPDATED,
                noted=bool(left_out),
                customer_id=customer_id,
                version=change.customer.version,
                detail=json.dumps(detail, ensure_ascii=False),
            )
        )
    if to_create:
        create_pending()
    journal += _rejections(run, [([r.number], r.problems) for r in rejected])
    run.rejected += len(rejected)
    refused = {r.number for r in rejected}
    corrections_note(run, [c for r in rows if r.number not in refused for c in r.corrections])
    objects_insert(ImportRow, journal)
    objects_insert(CustomerEvent, timeline)
    values_insert(
        ImportRow,
        ["row", "customer"],
        created,
        same={"run": run.pk, "action": ImportRowAction.CREATED, "version": 1},
    )
    if made_tags:
        # A tag made for rows that were then rejected went to nobody: deleted again, in the batch's
        # transaction, so that an import makes no tag it did not give someone.
        unused = Tag.objects.filter(pk__in=[t.pk for t in made_tags], customers__isnull=True)
        gone = set(unused.values_list("pk", flat=True))
        Tag.objects.filter(pk__in=gone).delete()
        aside_note(run, [t for t in made_tags if t.pk not in gone])
    rejections = {r.number: r for r in rejected}
    return [rejections.get(r.number, r) for r in rows]


def _tags_resolve(rows: Sequence[CustomerRow]) -> list[Tag]:
    """Give each row's input the tags it names, making the ones the shop does not have yet: a tag is
    the merchant's own word, and a sheet is where many of them come from. Returns the tags it made."""
    names = {name for row in rows for name in row.tag_names}
    if not names:
        return []
    tags = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    made = []
    # One at a time, and only the missing ones (few: a word is new once): get_or_create tells a tag
    # made here from one another import made meanwhile, which undo must not take for this import's.
    for name in sorted(names - tags.keys()):
        tags[name], created = Tag.objects.get_or_create(name=name)
        if created:
            made.append(tags[name])
    for row in rows:
        if row.tag_names and row.checked is not None:
            row.checked.data.tags = [tags[name] for name in row.tag_names]
    return made


# A customer's contact details as a sheet's row names them (``CustomerRow.provided``): phones, email,
# addresses, accounts and notes, which someone without ``customers.view_contact`` sees masked.
CONTACT_FIELDS = frozenset(CONTACT_CHANGE_KINDS)


@dataclass(frozen=True)
class _Allowed:
    """What the importer may do to a customer, as the customer's page and the API let them: change one
    already in Kebu at all (``customers.change_customer``), and its contact details (``CONTACT_FIELDS``)
    only if they see them (``customers.view_contact``); add one (``customers.add_customer``); and give
    one an owner (``customers.assign_customer``). The profile form and the API ask for both of the first
    to change anything, since they show and send back every contact detail; a sheet's row shows none, so
    its other cells are still taken from someone who sees them masked. An import from the terminal under
    no one's name may do everything: whoever runs it holds the database."""

    change: bool
    contact: bool
    add: bool
    assign: bool

    @classmethod
    def of(cls, actor: Any) -> _Allowed:
        if actor is None:
            return cls(True, True, True, True)
        return cls(
            access.can(actor, access.CHANGE),
            access.can(actor, access.VIEW_CONTACT),
            access.can(actor, access.ADD),
            access.can_assign(actor),
        )


def _new_owner(run: Import, allowed: _Allowed) -> Any:
    """The owner a customer ``run`` adds gets when its row names none: the one chosen for the import
    (``import_owner_options``), else the importer; always the importer when they may not assign
    customers. Under no one's name, from the terminal, nobody unless one was chosen.

    The one chosen is taken only if they may be given customers now (``selectors.assignable_users``): a
    queued or resumed import runs after the choice was checked, and a colleague may have left, or no
    longer work with customers, since. ``ValidationFailed`` then, which fails the import's job at its
    start (``_import_run`` asks before anything is written): giving the customers to someone else, the
    importer or the shared pool, would be a choice the merchant did not make, and their colleague's
    customers in the wrong hands are harder to find than an import to start again."""
    if not allowed.assign or "owner" not in run.options:
        return run.created_by
    chosen = run.options["owner"]
    if chosen is None:
        return None
    owner = assignable_users().filter(pk=chosen).first()
    if owner is None:
        gone = get_user_model()._default_manager.filter(pk=chosen).first()
        message = _(
            "The colleague chosen to own the customers this import adds (%(name)s) can no longer be given "
            "customers: they have left or no longer work with customers. The import stopped: import the "
            "file again and choose someone else (customers it already added are not added twice)."
        ) % {"name": str(gone) if gone is not None else _("account deleted")}
        raise ValidationFailed(message, field_errors={"owner": [message]})
    return owner


def _new_customer_problem(
    run: Import, row: CustomerRow, *, cells: Sequence[Cell], mapping: dict[int, str], allowed: _Allowed
) -> Problem | None:
    """Why the importer may not make ``row`` (its ``cells``) a new customer, or None when they may: they
    may not add customers, or they may not assign customers and the owner cell names someone else or the
    shared pool (said on that cell)."""
    if not allowed.add:
        reason = _("This customer is not in Kebu yet, and your role may not add customers.")
        return Problem(row.number, "", "", reason)
    if (
        not allowed.assign
        and "owner" in row.provided
        and row.data is not None
        and row.data.owner != run.created_by
    ):
        # What the API answers someone who names another owner; the form does not let them name one, and
        # what they add is theirs, never the pool's.
        if row.data.owner is None:
            reason = _("Your role may not put customers in the shared pool: leave the owner column out.")
        else:
            reason = _("Your role may not assign customers to staff: leave the owner column out.")
        [column] = columns_feeding(mapping, cells, frozenset({"owner"}))
        return Problem(row.number, run.headers[column], normalized(cells[column]), reason)
    return None


def _customers_hidden(run: Import, ids: set[int]) -> set[int]:
    """The customers of ``ids`` the importer may not see (``customer_visible_queryset``), in one query for
    a batch. Not those this import made: a later row of the file is the same customer, as it is within a
    batch. None under no one's name (``_Allowed``)."""
    actor = run.created_by
    if not ids or actor is None:
        return set()
    hidden = ids - set(customer_visible_queryset(user=actor).filter(pk__in=ids).values_list("pk", flat=True))
    if hidden:
        made = run.journal.filter(action=ImportRowAction.CREATED, customer_id__in=hidden)
        hidden -= set(made.values_list("customer_id", flat=True))
    return hidden


def _update(
    run: Import,
    row: CustomerRow,
    customer: Customer | int,
    *,
    cells: Sequence[Cell],
    mapping: dict[int, str],
    allowed: _Allowed,
    definitions: Sequence[CustomField],
    timeline: list[CustomerEvent],
    repeat: Repeat | None = None,
) -> tuple[ImportedChange | None, list[list[str]]]:
    """Lay the row over its customer as the importer may change them (``allowed``): what changed, if
    anything, and the notes ([column, value, reason]) on what the row gave that was left out.

    What a row further down gives of the same customer (``repeat``) is left to it, with a note where this
    row's value differs from what the customer has: that row's, once the sheet has been imported.

    The contact details of a row by someone who sees them masked are never taken, and said so whenever
    the row gives one: were it said only when they differ from the customer's, the note would tell the
    importer whether the address they typed is the one Kebu has. Someone who may not assign customers
    leaves each one's owner as it is, told when the row names another; someone who may moves the customer
    to the owner the row names as a transfer by hand would (``customer_import_merge``), which undo
    transfers back. Someone who may not change customers changes nothing, and is told when the row
    would have."""
    masked = frozenset() if allowed.contact else row.provided & CONTACT_FIELDS
    provided = row.provided - masked
    left_out = []
    if repeat is not None and (later := provided & repeat.fields.keys()):
        provided -= later
        customer = _customer_read(customer)
        assert row.checked is not None
        if differs := customer_import_changes(
            customer=customer, checked=row.checked, provided=later, definitions=definitions
        ):
            # A note for each row below that gives what this one would have changed, in the sheet's order.
            changed = {f for f in later if f in differs or (f.startswith("custom.") and "custom" in differs)}
            for lower in sorted({repeat.fields[f] for f in changed}):
                fields = frozenset(f for f in changed if repeat.fields[f] == lower)
                columns = columns_feeding(mapping, cells, fields)
                reason = _(
                    "Row %(row)d further down is the same customer and fills in these columns too, so they "
                    "are left to it: this row's values were not imported."
                ) % {"row": lower}
                given = list_join(normalized(cells[index]) for index in columns)  # the file's, as written
                left_out.append([_headers(run, columns), given, reason])
    if masked:
        reason = _(
            "This customer is already in Kebu: the contact details in these columns, which your role sees "
            "masked, were left as Kebu has them."
        )
        left_out.append([_headers(run, columns_feeding(mapping, cells, masked)), "", reason])
    owner_kept: list[list[str]] = []
    if "owner" in provided and not allowed.assign:
        # As on their page, where only claim, release and transfer change the owner: kept, and said so
        # when the file names another (the importer sees who owns a customer they see).
        provided -= {"owner"}
        customer = _customer_read(customer)
        assert row.data is not None
        if customer.owner_id != getattr(row.data.owner, "pk", None):
            reason = _(
                "This customer is already in Kebu, and your role may not assign customers: their owner "
                "was left as Kebu has it."
            )
            owner_kept = [[_headers(run, columns_feeding(mapping, cells, frozenset({"owner"}))), "", reason]]
            left_out += owner_kept
    if allowed.change:
        change = _merge(run, row, customer, provided=provided, definitions=definitions, timeline=timeline)
        return change, left_out
    customer = _customer_read(customer)
    assert row.checked is not None
    if would := customer_import_changes(
        customer=customer, checked=row.checked, provided=provided, definitions=definitions
    ):
        reason = _(
            "This customer is already in Kebu and the file differs from them in these columns, but your "
            "role may not change customers: they were left as they are."
        )
        differs = [_headers(run, columns_feeding(mapping, cells, frozenset(would))), "", reason]
        return None, [differs, *owner_kept]
    return None, left_out


def _repeat_of(repeats: Mapping[int, Repeat] | None, number: int, *, matched_by: str) -> Repeat | None:
    """Row ``number``'s ``Repeat``, when the import found its customer by the key the rows below name that
    customer by: only then do they find the same customer (``customer_rows_repeated``)."""
    repeat = repeats.get(number) if repeats else None
    return repeat if repeat is not None and repeat.key == matched_by else None


def _customer_read(customer: Customer | int) -> Customer:
    """The customer, read with what the merge compares when given by id."""
    if isinstance(customer, Customer):
        return customer
    return customers_with_contacts([customer]).get(customer) or Customer.objects.get(pk=customer)


def _headers(run: Import, columns: Sequence[int]) -> str:
    return list_join(run.headers[index] for index in columns)


def _merge(
    run: Import,
    row: CustomerRow,
    customer: Customer | int,
    *,
    provided: frozenset[str],
    definitions: Sequence[CustomField],
    timeline: list[CustomerEvent],
) -> ImportedChange | None:
    """Lay the row over its customer (read here when given by id); a save by someone else meanwhile is
    read and merged again once. The row's timeline event goes to ``timeline``, for the batch to write."""
    for attempt in (1, 2):
        if not isinstance(customer, Customer):
            # One deleted meanwhile raises DoesNotExist, as reading it by id would.
            customer = customers_with_contacts([customer]).get(customer) or Customer.objects.get(pk=customer)
        assert isinstance(customer, Customer) and row.checked is not None
        try:
            return customer_import_merge(
                actor=run.created_by,
                customer=customer,
                checked=row.checked,
                provided=provided,
                definitions=definitions,
                import_id=run.pk,
                timeline=timeline,
            )
        except Conflict:
            if attempt == 2:
                raise ValidationFailed(
                    _("Someone else kept saving this customer during the import.")
                ) from None
            customer = customer.pk
    return None  # not reached


# --- the report -------------------------------------------------------------------------------------


def import_problems(run: Import, *, limit: int | None = None) -> dict[int, list[Problem]]:
    """What the import rejected (the first ``limit`` of them, if given), by its first row (an order's),
    -> its problems, each on the row its cell is on."""
    found: dict[int, list[Problem]] = {}
    rejected = run.journal.filter(action=ImportRowAction.REJECTED).order_by("row")
    for entry in rejected[:limit] if limit is not None else rejected:
        found[entry.row] = [Problem(*problem) for problem in entry.rejection_read()[1]]
    return found


def import_notes(run: Import, *, limit: int) -> list[Problem]:
    """The notes on the first ``limit`` rows imported without some of their cells, or left as they
    were with a note: what was left out, and why."""
    return [
        Problem(entry.row, column, value, reason)
        for entry in run.journal.filter(noted=True).order_by("row")[:limit]
        for column, value, reason in json.loads(entry.detail).get("left_out", [])
    ]


def import_held_back(run: Import) -> int | None:
    """How many rows of the file a refused all-or-nothing import did not import though nothing was wrong
    with them: its rows less those of what it refused (every line of an order refused). None for an
    import not refused, or whose rows were never counted."""
    if not run.refused or run.job.total is None:
        return None
    bad = run.rejected
    if run.kind == ImportKind.ORDERS:  # a rejection is an order, of one line or several
        rejected = run.journal.filter(action=ImportRowAction.REJECTED).only("row", "detail")
        bad = sum(len(entry.rejection_read()[0]) for entry in rejected.iterator())
    return max(run.job.total - bad, 0)


def import_refusal_text(run: Import) -> str:
    """Why a refused all-or-nothing import wrote nothing, counted: what had problems (an order sheet's
    orders, another sheet's rows), and how many good rows were held back with them; "" for an import not
    refused, or whose rows were never counted."""
    held = import_held_back(run)
    if held is None:
        return ""
    if run.kind == ImportKind.ORDERS:
        problems = ngettext("%(count)d order has problems", "%(count)d orders have problems", run.rejected)
    else:
        problems = ngettext("%(count)d row has problems", "%(count)d rows have problems", run.rejected)
    problems %= {"count": run.rejected}
    if not held:
        return _("%(problems)s, and the file has nothing else to import.") % {"problems": problems}
    return ngettext(
        "%(problems)s, so the other %(good)d good row was not imported either (all or nothing).",
        "%(problems)s, so the other %(good)d good rows were not imported either (all or nothing).",
        held,
    ) % {"problems": problems, "good": held}


def import_rejected_rows(run: Import) -> list[tuple[int, list[Cell], list[Problem]]]:
    """The rows of what the import rejected, with their cells (read again from the kept file) and the
    problems on them: the report's rows, under the file's own header. Every row of an order rejected, in
    the file's order, those without a problem with none (``report.refused_rows``): the report fixed and
    imported again brings the whole order."""
    rejected = run.journal.filter(action=ImportRowAction.REJECTED).order_by("row")
    found = [entry.rejection_read() for entry in rejected]
    if not found:
        return []
    problems = [[Problem(*problem) for problem in listed] for _rows, listed in found]
    if not (imports_dir() / run.stored_as).is_file():
        # The file was cleared away after KEBU_IMPORT_KEEP_DAYS: the problems are still known, the cells not.
        return [
            (number, [], [p for p in listed if p.row == number])
            for listed in problems
            for number in sorted({p.row for p in listed})
        ]
    owner = {number: index for index, (rows, _listed) in enumerate(found) for number in rows}
    rows: list[list[tuple[int, list[Cell]]]] = [[] for _entry in found]
    for number, cells in table_read(imports_dir() / run.stored_as, sheet=run.sheet or None).rows:
        if (index := owner.get(number)) is not None:
            rows[index].append((number, cells))
    return [
        row
        for group, listed in zip(rows, problems, strict=True)
        if group
        for row in refused_rows(group, listed)
    ]


def imports_purge(*, older_than: timedelta) -> int:
    """Delete the kept files of imports finished more than ``older_than`` ago: they hold personal data.
    The import's record, journal and undo stay (undo reads the journal, not the file). Returns how many
    files went."""
    cutoff = timezone.now() - older_than
    finished = Import.objects.filter(job__finished_at__lt=cutoff).exclude(
        job__status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    )
    removed = 0
    for stored_as in finished.values_list("stored_as", flat=True).iterator():
        path = imports_dir() / stored_as
        if path.is_file():
            path.unlink()
            removed += 1
    return removed


# --- undo -------------------------------------------------------------------------------------------


@transaction.atomic
def import_undo(*, actor: Any, run: Import) -> Import:
    """Put everything back as it was before ``run`` (``_import_take_back``): what it created is deleted,
    what it changed gets its old values, and the tags, categories and brands it made go, unless something
    uses them by then (``aside.aside_undo``: kept, and counted as kept).

    Refused (``Conflict``, naming what) when that would lose later work: a customer, SKU or order it
    created or changed was changed again since (by hand or by a later import), or ordered since."""
    run = Import.objects.select_for_update().select_related("job").get(pk=run.pk)
    if run.undone_at is not None:
        raise Conflict(_("This import was undone already."))
    if not run.job.is_finished:
        raise Conflict(_("This import is still running. Cancel it first, then undo it."))
    counts = _import_take_back(run, actor=actor)
    run.undone_at, run.undone_by = timezone.now(), actor
    run.save(update_fields=["undone_at", "undone_by", "made_aside"])
    audit_record(action="import.undo", actor=actor, target=run, data=counts)
    return run


def _import_take_back(run: Import, *, actor: Any) -> dict[str, int]:
    """Take back what ``run`` wrote, by its kind's undo, then what it made on the side
    (``aside.aside_undo``, which leaves on ``run.made_aside`` the ones kept), inside the caller's
    transaction: undo's work, and all or nothing's when a row is refused as it is written. Returns the
    counts for the audit log; ``Conflict`` when that would lose later work."""
    if run.kind == ImportKind.ORDERS:
        counts = order_import_undo(run, actor=actor)
    elif run.kind == ImportKind.PRODUCTS:
        counts = product_import_undo(run)
    elif run.kind == ImportKind.REVIEWS:
        counts = review_import_undo(run)
    else:
        counts = customer_import_undo(run, actor=actor)
    return counts | aside_undo(run)


def _later_imports(run: Import, customers: Collection[int]) -> list[int]:
    """The imports after ``run``, not undone, that created or changed any of ``customers``: what must
    be undone first for ``run``'s undo to lose nothing (newest first)."""
    return list(
        Import.objects.filter(
            pk__gt=run.pk,
            undone_at__isnull=True,
            journal__customer_id__in=customers,
            journal__action__in=[ImportRowAction.CREATED, ImportRowAction.UPDATED],
        )
        .order_by("-pk")
        .values_list("pk", flat=True)
        .distinct()
    )


def customer_import_undo(run: Import, *, actor: Any) -> dict[str, int]:
    """Delete the customers ``run`` created and give the ones it changed their old values under a new
    version (``transfer.versions``), the phones, addresses and accounts it added going with them (inside
    the caller's transaction). ``Conflict``, naming the customers, when that would lose later work: a
    customer it created or changed was changed again since (by hand or by a later import not undone),
    or one it created has orders."""
    entries = list(
        run.journal.filter(
            action__in=[ImportRowAction.CREATED, ImportRowAction.UPDATED], customer__isnull=False
        )
        .order_by("-row")
        .values_list("row", "action", "customer_id", "version", "detail")
    )
    created = {e[2] for e in entries if e[1] == ImportRowAction.CREATED}
    left_at: dict[int, int] = {}  # the version the import left each customer at: its last row's
    found_at: dict[int, int] = {}  # and the one it found a customer it changed at: before its first row's
    for _row, action, customer_id, version, _detail in entries:  # newest row first
        left_at.setdefault(customer_id, version or 0)
        if action == ImportRowAction.UPDATED and version:
            found_at[customer_id] = version - 1
    now_at = dict(Customer.objects.filter(pk__in=left_at).values_list("pk", "version"))
    changed_since = versions_changed_since(model=Customer, left=left_at, now=now_at)
    from kebu.orders.models import Order  # orders depend on customers, not the other way round

    with_orders = set(
        Order.objects.filter(customer_id__in=created).values_list("customer_id", flat=True).distinct()
    )
    blocked = sorted(set(changed_since) | with_orders)
    if blocked:
        shown = list(
            Customer.objects.filter(pk__in=blocked[:UNDO_CONFLICTS_SHOWN])
            .order_by("customer_no")
            .values_list("customer_no", flat=True)
        )
        more = len(blocked) - len(shown)
        message = ngettext(
            "Undoing would lose later work on %(count)d customer (%(customers)s): changed since the import, "
            "or with orders.",
            "Undoing would lose later work on %(count)d customers (%(customers)s): changed since the import, "
            "or with orders.",
            len(blocked),
        ) % {"count": len(blocked), "customers": list_join(shown) + ("…" if more else "")}
        if later := _later_imports(run, blocked):
            named = list_join(_("import #%(number)d") % {"number": pk} for pk in later)
            hint = ngettext(
                "A later import changed them: undo %(imports)s first, then this one.",
                "Later imports changed them: undo %(imports)s first (newest first), then this one.",
                len(later),
            ) % {"imports": named}
            message += ("" if message.endswith("。") else " ") + hint
        raise Conflict(message)
    # Every row of a customer is written back under one new version, one they never had.
    expected = dict(now_at)
    reverted: set[int] = set()
    # Whose each customer is as the import left them (checked above: nobody changed them since).
    owners = dict(
        Customer.objects.filter(pk__in=left_at).exclude(pk__in=created).values_list("pk", "owner_id")
    )
    moves: list[tuple[int, int | None, int | None]] = []
    for _row, action, customer_id, _version, detail in entries:  # newest row first
        if action != ImportRowAction.UPDATED or customer_id in created:
            continue
        change = json.loads(detail)
        if not customer_import_revert(
            customer_id=customer_id,
            before=change["before"],
            added=change["added"],
            version=expected[customer_id],
            undone_version=now_at[customer_id] + 1,
        ):
            raise Conflict(_("A customer changed while the import was being undone. Try again."))
        expected[customer_id] = now_at[customer_id] + 1
        reverted.add(customer_id)
        if "owner_id" in change["before"]:
            # The owner this row gave them, the one it found: as the import's rows moved them, backwards.
            moved_to = owners.get(customer_id)
            owners[customer_id] = change["before"]["owner_id"]
            moves.append((customer_id, moved_to, owners[customer_id]))
    versions_undone_record(
        run=run,
        model=Customer,
        versions=((cid, found_at[cid], now_at[cid] + 1) for cid in sorted(reverted) if cid in found_at),
    )
    customers_import_owners_put_back(actor=actor, moves=moves, import_id=run.pk)
    CustomerEvent.objects.bulk_create(
        CustomerEvent(customer_id=cid, actor=actor, kind="customer.import_undone", data={"import": run.pk})
        for cid in sorted(reverted)
    )
    deleted = 0
    ids = sorted(created)
    for start in range(0, len(ids), 5000):
        deleted += (
            Customer.objects.filter(pk__in=ids[start : start + 5000]).delete()[1].get("customers.Customer", 0)
        )
    return {"deleted": deleted, "restored": len(reverted)}
