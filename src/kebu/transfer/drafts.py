"""A file between its upload and its import: kept as a draft the pages read its columns and first rows
from, and checked by rehearsing its import in transactions rolled back (the pages' dry run, a job).

A draft is a file only, under a generated name beside the imports' files, with no job and no Import
row, so nothing can run it (the reconciler re-queues jobs, and a draft has none). Whoever holds the
token (the uploader's session) names it; a token is checked to be one of ours before it becomes a
path."""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from kebu.core.errors import KebuError, NotFound, ValidationFailed
from kebu.core.jobs import JobRun, job_create, job_runner
from kebu.core.models import Job, JobStatus
from kebu.customers.selectors import customer_visible_queryset
from kebu.orders.models import Store
from kebu.transfer.cells import unquoted
from kebu.transfer.changes import CustomerChange, FieldChange, added_fields_read
from kebu.transfer.corrections import Correction
from kebu.transfer.customers import Problem, customer_rows_repeated, mapping_check
from kebu.transfer.imports import BY_IMPORTER, customer_import_start, import_permissions, imports_dir
from kebu.transfer.models import Import, ImportKind
from kebu.transfer.orders import order_mapping_check, order_numbers_split, order_store_check
from kebu.transfer.products import product_mapping_check
from kebu.transfer.readers import Cell, Counted, table_read, table_sheets
from kebu.transfer.rehearsals import Stretch, import_rehearse
from kebu.transfer.report import ReportRow, refused_rows, report_write
from kebu.transfer.reviews import review_mapping_check, review_rows_check

CHECK_JOB_KIND = "transfer.import_check"
DRAFT_PREFIX = "draft-"
DRAFT_KEPT_FOR = 2 * 24 * 3600  # seconds; a draft left longer is deleted at the next upload
_TOKEN = re.compile(r"[0-9a-f]{32}")


@dataclass
class Draft:
    token: str
    headers: list[str]
    sheet: str
    size: int
    sheets: list[str] = field(default_factory=list)  # a workbook's, to choose from


def _draft_path(token: str, suffix: str = "") -> Path:
    if not _TOKEN.fullmatch(token or "") or (suffix and not _TOKEN.fullmatch(suffix)):
        raise NotFound(_("This upload is gone. Upload the file again."))
    return imports_dir() / (DRAFT_PREFIX + token + (f"-{suffix}.xlsx" if suffix else ""))


def import_draft_keep(*, data: bytes) -> Draft:
    """Read ``data`` as far as its header and keep it as a draft. ``FileRefused`` (nothing kept) for a
    file that cannot be read: not a spreadsheet, damaged, empty, a header without rows …"""
    table = table_read(data)
    import_drafts_prune()
    token = uuid.uuid4().hex
    with open(_draft_path(token), "xb") as out:
        out.write(data)
    return Draft(
        token=token, headers=table.headers, sheet=table.sheet, size=len(data), sheets=table_sheets(data)
    )


def import_draft_sheet(token: str, *, sheet: str) -> list[str]:
    """The header of the draft's sheet ``sheet``, another than the one read on upload; ``FileRefused``
    when it has no header and rows under it, ``NotFound`` when the draft is gone."""
    return table_read(import_draft_read(token), sheet=sheet).headers


def import_draft_read(token: str) -> bytes:
    """The draft's file; ``NotFound`` when the token is not a draft's (or it was deleted since)."""
    try:
        return _draft_path(token).read_bytes()
    except FileNotFoundError:
        raise NotFound(_("This upload is gone. Upload the file again.")) from None


def import_draft_preview(token: str, *, sheet: str, rows: int = 10) -> list[tuple[int, list[Cell]]]:
    """The first ``rows`` data rows of the draft, with their row numbers."""
    table = table_read(import_draft_read(token), sheet=sheet or None)
    return list(islice(table.rows, rows))


def import_draft_drop(token: str) -> None:
    """Delete the draft and the reports of its checks."""
    path = _draft_path(token)
    for kept in path.parent.glob(path.name + "*"):
        kept.unlink(missing_ok=True)


def import_drafts_prune(*, older_than: float = DRAFT_KEPT_FOR) -> int:
    """Delete drafts (and their reports) not touched for ``older_than`` seconds: they hold personal data
    that nobody imported. Returns how many files went."""
    cutoff = time.time() - older_than
    gone = 0
    for path in imports_dir().glob(DRAFT_PREFIX + "*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                gone += 1
        except FileNotFoundError:
            continue
    return gone


def import_mapping_check(
    *, kind: str, headers: Sequence[str], mapping: dict[int, str], store: Store | None = None
) -> None:
    """``ValidationFailed`` unless ``mapping`` gives a sheet of ``kind`` what tells its rows apart; for
    orders, also unless they have a store, chosen or in a column (else every order would be refused for
    want of one), and one chosen is active (``order_store_check``)."""
    if kind == ImportKind.PRODUCTS:
        product_mapping_check(headers, mapping)
    elif kind == ImportKind.ORDERS:
        order_mapping_check(headers, mapping)
        if store is None and "store" not in mapping.values():
            raise ValidationFailed(
                _("Which store were these orders sold in? Choose the store, or the column that names it.")
            )
        order_store_check(store)
    elif kind == ImportKind.REVIEWS:
        review_mapping_check(headers, mapping)
        if store is None and "store" not in mapping.values():
            raise ValidationFailed(
                _("Which store are these reviews from? Choose the store, or the column that names it.")
            )
    else:
        mapping_check(headers, mapping)


def import_from_draft(
    *,
    actor: Any,
    token: str,
    file_name: str,
    sheet: str,
    mode: str,
    mapping: dict[int, str],
    kind: str = ImportKind.CUSTOMERS,
    store: Store | None = None,
    owner: Any = BY_IMPORTER,
) -> Import:
    """Start the import of a draft holding a sheet of ``kind`` (``customer_import_start``, which keeps its
    own copy and queues the job; ``owner``: of the customers it adds) and delete the draft once that is
    committed. A draft is the import pages': what they ask of whoever starts an import
    (``import_permissions``) is asked again when it runs."""
    data = import_draft_read(token)
    import_mapping_check(
        kind=kind, headers=table_read(data, sheet=sheet or None).headers, mapping=mapping, store=store
    )
    run = customer_import_start(
        actor=actor,
        data=data,
        file_name=file_name,
        sheet=sheet or None,
        mode=mode,
        mapping=mapping,
        kind=kind,
        store=store,
        owner=owner,
        permissions=import_permissions(kind),
    )
    transaction.on_commit(lambda: import_draft_drop(token))
    return run


# --- checking a draft without writing (the pages' dry run) -------------------------------------------


@dataclass
class CheckResult:
    """A finished check: how many rows were read, how many the import would reject, how many problems
    they have, how many cells of the others it would take otherwise than written, how many would change
    a customer already in Kebu, and the report (the rows to fix, the corrected cells, the changes) if
    there is one."""

    rows: int
    bad: int
    problems: int
    problems_sheet: str
    report: Path | None
    corrected: int = 0
    corrections_sheet: str = ""
    # Rows that would change a customer already in Kebu (one the checker may see), and the report's
    # sheet that lists what: none from a check made before Kebu told them.
    changed: int = 0
    changes_sheet: str = ""
    # The language the report was written in: its sheets' and fields' names are in it.
    language: str = ""


@transaction.atomic
def import_draft_check_start(
    *,
    actor: Any,
    token: str,
    sheet: str,
    mapping: dict[int, str],
    kind: str = ImportKind.CUSTOMERS,
    store: Store | None = None,
) -> Job:
    """Queue a check of every row of the draft as the import of a sheet of ``kind`` would read it with
    ``mapping`` (orders: in ``store`` unless a column names it), writing nothing but a report file. A job,
    as a sheet of many thousand rows takes longer than a page may."""
    _draft_path(token)
    payload = {
        "draft": token,
        "kind": kind,
        "store": store.pk if store is not None else None,
        "sheet": sheet,
        "mapping": {str(index): key for index, key in mapping.items()},
        "report": uuid.uuid4().hex,
        # The problems are written in the words of the merchant who asked, not of the worker's locale.
        "language": translation.get_language() or settings.LANGUAGE_CODE,
    }
    return job_create(kind=CHECK_JOB_KIND, actor=actor, payload=payload)


@job_runner(CHECK_JOB_KIND)
def import_check_run(job_run: JobRun) -> None:
    """Rehearse every row as the import of whoever asked would import it now, a stretch of the file at a
    time, each rolled back (``rehearsals.import_rehearse``; a review export's rows are read as its import
    reads them), and write the rows it would reject, or take otherwise than written, to the report. Writes
    nothing else. A worker killed half-way leaves no report (a finished one is renamed into place);
    claimed again, it starts over."""
    job, payload = job_run.job, job_run.job.payload
    with translation.override(payload.get("language")):
        data = import_draft_read(payload["draft"])
        sheet = payload.get("sheet") or None
        mapping = {int(index): key for index, key in payload["mapping"].items()}
        table = table_read(data, sheet=sheet)
        kind = payload.get("kind") or ImportKind.CUSTOMERS
        store_id = payload.get("store")
        store = Store.objects.filter(pk=store_id).first() if store_id is not None else None
        # The pass that finds the orders whose rows are apart, or the customers named again further down,
        # counts the rows too: no pass of its own for the progress bar's total.
        read = Counted(table_read(data, sheet=sheet).rows)
        split = repeats = None
        if kind == ImportKind.ORDERS:
            split = order_numbers_split(read, mapping, store=store)
        elif kind == ImportKind.CUSTOMERS:
            repeats = customer_rows_repeated(read, mapping)
        else:
            read.drain()
        with transaction.atomic():
            job_run.beat(done=0, total=read.count)
        stretches = (
            _reviews_check(table.rows, headers=table.headers, mapping=mapping, store=store)
            if kind == ImportKind.REVIEWS
            else import_rehearse(
                table.rows,
                kind=kind,
                actor=job.created_by,
                headers=table.headers,
                mapping=mapping,
                store=store,
                split=split,
                repeats=repeats,
                changes=True,
            )
        )
        counted = {"rows": 0, "bad": 0, "problems": 0, "corrected": 0, "changed": 0}

        def found_rows() -> Iterator[ReportRow]:
            for stretch in stretches:
                job_run.stop_if_cancelled()
                for found, rows in stretch.found:
                    if not found[2]:
                        counted["corrected"] += len(found[3])
                        yield found
                        continue
                    counted["bad"] += len(rows)
                    counted["problems"] += len(found[2])
                    # Every row of an order refused, each with the problems on its own cells.
                    for number, cells, problems in refused_rows(rows, found[2]):
                        yield number, cells, problems, []
                for change in stretch.changes:
                    counted["changed"] += 1
                    yield change.row, [], [], [], [change]
                counted["rows"] += stretch.rows
                with transaction.atomic():
                    job_run.beat(done=counted["rows"])

        target = _draft_path(payload["draft"], payload["report"])
        partial = target.with_suffix(".partial")
        try:
            report_write(str(partial), headers=table.headers, rows=found_rows())
        except BaseException:
            partial.unlink(missing_ok=True)  # cancelled or failed: no half report left behind
            raise
        os.replace(partial, target)
        result = {
            **counted,
            "problems_sheet": _("Problems"),
            "corrections_sheet": _("Corrected cells"),
            "changes_sheet": _("Changed"),
        }
    updated = Job.objects.filter(pk=job.pk, claim=job.claim).update(payload={**payload, "result": result})
    if not updated:
        raise KebuError(_("The check was taken over by another worker."))


def _reviews_check(
    rows: Iterator[tuple[int, list[Cell]]],
    *,
    headers: Sequence[str],
    mapping: dict[int, str],
    store: Store | None,
) -> Iterator[Stretch]:
    """A review export's bad rows (row, cells, problems), a batch at a time."""
    size = cast(int, settings.KEBU["IMPORT_BATCH_ROWS"])
    while batch := list(islice(rows, size)):
        cells_of = dict(batch)
        bad = review_rows_check(batch, mapping=mapping, headers=headers, store=store)
        yield Stretch(
            rows=len(batch),
            found=[
                ((row.number, cells_of[row.number], row.problems, []), [(row.number, cells_of[row.number])])
                for row in bad
            ],
        )


def import_check_result(job: Job) -> CheckResult | None:
    """What a finished check found, or None while it runs (or when it failed)."""
    result = job.payload.get("result")
    if job.kind != CHECK_JOB_KIND or job.status != JobStatus.DONE or result is None:
        return None
    report = _draft_path(job.payload["draft"], job.payload["report"])
    return CheckResult(
        rows=result["rows"],
        bad=result["bad"],
        problems=result["problems"],
        problems_sheet=result["problems_sheet"],
        report=report if report.is_file() else None,
        corrected=result.get("corrected", 0),
        corrections_sheet=result.get("corrections_sheet", ""),
        changed=result.get("changed", 0),
        changes_sheet=result.get("changes_sheet", ""),
        language=job.payload.get("language", ""),
    )


def import_check_problems(result: CheckResult, *, start: int, stop: int) -> list[Problem]:
    """Problems ``start`` to ``stop`` (0-based, in row order) of a finished check, read back from its
    report: the report is what the merchant downloads, so the page shows exactly what it holds."""
    if result.report is None or not result.problems:
        return []
    table = table_read(result.report.read_bytes(), sheet=result.problems_sheet)
    return [
        Problem(int(float(str(cells[0]))), *[_as_written(cells[i]) for i in range(1, 4)])
        for _number, cells in islice(table.rows, start, stop)
    ]


def import_check_corrections(result: CheckResult, *, limit: int) -> list[Correction]:
    """The first ``limit`` corrections of a finished check, read back from its report, as its problems
    are."""
    if result.report is None or not result.corrected:
        return []
    table = table_read(result.report.read_bytes(), sheet=result.corrections_sheet)
    return [
        Correction(int(float(str(cells[0]))), *[_as_written(cells[i]) for i in range(1, 5)])
        for _number, cells in islice(table.rows, min(limit, result.corrected))
    ]


def import_check_changes(result: CheckResult, *, limit: int, user: Any) -> list[CustomerChange]:
    """The first ``limit`` rows of a finished check that would change a customer already in Kebu, read
    back from its report, as its problems are (masked there as ``user``, who asked for the check, sees
    them), each with the customer's page if ``user`` may see them still. A phone, address, account or tag
    a row adds is told by its field's name in the report ("Phones (added)", in the check's language) and
    listed as added, as the import's page lists it."""
    if result.report is None or not result.changed:
        return []
    with translation.override(result.language or translation.get_language()):
        added = added_fields_read()
    table = table_read(result.report.read_bytes(), sheet=result.changes_sheet)
    changes: list[CustomerChange] = []
    for _number, cells in table.rows:
        row, customer_no, name, matched_by, label, before, after = (_as_written(c) for c in cells[:7])
        if not changes or changes[-1].row != int(float(row)):
            if len(changes) == limit:
                break
            changes.append(CustomerChange(int(float(row)), 0, customer_no, name, matched_by, []))
        if label in added and not before:
            changes[-1].fields.append(FieldChange(added[label], "", after, added=True))
        else:
            changes[-1].fields.append(FieldChange(label, before, after))
    numbers = {change.customer_no for change in changes}
    ids = dict(
        customer_visible_queryset(user=user).filter(customer_no__in=numbers).values_list("customer_no", "pk")
    )
    return [replace(change, customer_id=ids.get(change.customer_no, 0)) for change in changes]


def _as_written(cell: Cell) -> str:
    """A report's text cell as the merchant wrote it: the report put a quote before what a spreadsheet
    would run (+86 138-…, =…), which the page, not a spreadsheet, does not need."""
    return unquoted(str(cell or ""))
