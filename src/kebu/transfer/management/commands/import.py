"""``kebu import``: bring a customer, order, product or review sheet in from the terminal, check it first,
resume or undo an import.

kebu import FILE [--kind customers|orders|products|reviews] [--store S] [--preset NAME] [--dry-run]
            [--all-or-nothing] [--report out.xlsx] [--sheet S] [--user U] [--owner U|nobody]
kebu import --resume ID
kebu import --undo ID [--user U]

Without ``--kind`` the file is a customer sheet, unless no column of it names a customer and its columns
read as one other kind's sheet only (the products ``kebu export products`` wrote): then it is that kind's,
and the command says so.

A customer sheet's import also says how many customers already in Kebu it changed, and ``--report`` then
holds the sheet of what it changed on each ("Changed": row, customer, how the row found them, each field
before → after), the one the import's page downloads (``changes.import_changes``), read as the one who
runs the command may read it. With ``--user U``: the customers U may see, contact details masked if U
sees them masked. Without: every customer, unmasked, as ``kebu export`` without ``--user`` writes them;
an import under no one's name may do everything, and whoever runs it holds the database and its keys
(``access.ShellOperator``). The dry run says how many customers the import would change, and its
``--report`` lists each change the same way (``rehearsals.import_file_check``).
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from kebu.core.errors import KebuError, ValidationFailed
from kebu.core.jobs import STALE_AFTER, job_retry, job_run
from kebu.core.models import Job, JobStatus
from kebu.customers.access import ShellOperator
from kebu.customers.privacy import contact_policy
from kebu.orders.models import Store
from kebu.transfer.aside import aside_kept_text
from kebu.transfer.changes import import_changes, import_changes_listed
from kebu.transfer.corrections import Correction, import_corrections
from kebu.transfer.customers import customer_file_check
from kebu.transfer.imports import (
    BY_IMPORTER,
    customer_import_start,
    database_file_unmapped,
    import_mapping,
    import_notes,
    import_owner_options,
    import_problems,
    import_refusal_text,
    import_rejected_rows,
    import_undo,
)
from kebu.transfer.management.commands._checks import CHECKS_BUT_URLS
from kebu.transfer.management.commands._counts import counted
from kebu.transfer.management.commands._staff import staff_member_named
from kebu.transfer.models import Import, ImportKind, ImportMode
from kebu.transfer.orders import order_file_check, order_store_check
from kebu.transfer.presets import mapping_preset_named
from kebu.transfer.products import product_file_check
from kebu.transfer.readers import Counted, table_read
from kebu.transfer.report import report_audit, report_write
from kebu.transfer.reviews import review_file_check

PROGRESS_EVERY_SECONDS = 2.0
NOTES_SHOWN = 20  # the rest are on the import's page
CORRECTIONS_SHOWN = 20  # the rest are on the import's page and in the report
PROBLEMS_SHOWN = 20  # the rest are in the report (--report) and on the import's page
NOBODY = "nobody"  # --owner nobody: the customers the import adds go to the shared pool


class Command(BaseCommand):
    requires_system_checks = CHECKS_BUT_URLS
    help = (
        "Import a customer, order, product or review sheet (.xlsx, .xls, .ods or .csv in UTF-8 or GBK). "
        "Customers are matched by number, phone, account, email (or a unique name), SKUs by their code, "
        "orders and reviews by store and number, so importing a file again creates nothing twice. "
        "--dry-run checks the file and writes nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, nargs="?")
        parser.add_argument(
            "--kind",
            choices=[k.value for k in ImportKind],
            help="the kind of sheet (default: customers, or the one other kind its columns read as)",
        )
        parser.add_argument("--sheet", help="the sheet to read (default: the first with data)")
        parser.add_argument(
            "--store",
            help="orders and reviews: the store the orders were sold in, when the file has no store column",
        )
        parser.add_argument("--dry-run", action="store_true", help="check the file and report; write nothing")
        parser.add_argument(
            "--all-or-nothing",
            action="store_true",
            help="import nothing if any row would be refused, checking every row as writing it would "
            "(default: import the good rows, report the others)",
        )
        parser.add_argument(
            "--report",
            type=Path,
            help="write the rows to fix, bad cells marked, to this .xlsx, and what a customer sheet changed "
            "(or, with --dry-run, would change) on customers already in Kebu (as the --user sees them; "
            "without one, all of them unmasked)",
        )
        parser.add_argument(
            "--user",
            help="the staff member the import is recorded under, and runs as: it adds, changes and sees "
            "only what they may by hand (default: none, and then everything)",
        )
        parser.add_argument(
            "--owner",
            metavar="U",
            help="customers and orders: the owner of the customers the import adds, unless the file's "
            f"owner column names one: a staff member's login name, or {NOBODY!r} for the shared pool "
            "(default: the --user; nobody without one)",
        )
        parser.add_argument(
            "--resume", type=int, metavar="ID", help="carry on with an import that was stopped"
        )
        parser.add_argument(
            "--take-over",
            action="store_true",
            help="with --resume: take the import over at once from a process you know is dead "
            "(otherwise a running import is taken over once its heartbeat is 90 seconds old)",
        )
        parser.add_argument("--undo", type=int, metavar="ID", help="undo an import")
        parser.add_argument(
            "--preset", metavar="NAME", help="take the columns as the saved preset NAME maps them"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # The process's memory stays bounded by SQLite's page cache however large the database and the
        # import: the pages read after the job (the journal, for what it changed) are not mapped either.
        with database_file_unmapped():
            self._handle(**options)

    def _handle(self, **options: Any) -> None:
        self._shown = 0.0
        actor = staff_member_named(options["user"])
        # Who reads what the import changed: the --user, else whoever runs this, who holds the database.
        reader = actor if actor is not None else ShellOperator()
        owner = BY_IMPORTER
        if options["owner"]:
            owner = None if options["owner"] == NOBODY else staff_member_named(options["owner"])
        try:
            if options["undo"] is not None:
                run = import_undo(actor=actor, run=self._import(options["undo"]))
                self.stdout.write(" ".join(filter(None, [f"import #{run.pk} undone", aside_kept_text(run)])))
                return
            if options["resume"] is not None:
                run = self._import(options["resume"])
                if run.job.status == JobStatus.FAILED:
                    job_retry(job=run.job)
                stale_after = timedelta(0) if options["take_over"] else STALE_AFTER
                self._run(run, stale_after=stale_after, report=options["report"], reader=reader, actor=actor)
                return
            path: Path | None = options["file"]
            if path is None:
                raise CommandError("Name the file to import (or --resume ID, --undo ID).")
            try:  # a CSV or .xlsx is read as the import goes, never whole: here only whether it opens
                with path.open("rb"):
                    pass
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from exc
            if options["kind"] is None:
                options["kind"] = self._kind_read(path, sheet=options["sheet"])
            store = None
            if options["store"]:
                # Without regard to case, as a sheet's store column is matched (kebu.transfer.orders).
                wanted = options["store"].strip().lower()
                stores = list(Store.objects.all())
                store = next((s for s in stores if s.name.lower() == wanted), None)
                if store is None:
                    names = ", ".join(s.name for s in stores) or "none yet"
                    raise CommandError(
                        f"There is no store {options['store']!r} (stores: {names}). Add it on the Stores "
                        "page (Orders › Stores, /orders/stores/) or in the admin (Settings › Stores)."
                    )
                if options["kind"] == ImportKind.ORDERS:
                    order_store_check(store)
            mapping = None
            if options["preset"]:
                headers = table_read(path, sheet=options["sheet"]).headers
                mapping = mapping_preset_named(options["preset"], headers, kind=options["kind"])
            if options["dry_run"]:
                import_owner_options(actor=actor, owner=owner)  # refused now, as the import would be
                self._check(
                    path,
                    sheet=options["sheet"],
                    report=options["report"],
                    mapping=mapping,
                    kind=options["kind"],
                    store=store,
                    actor=actor,
                    reader=reader,
                )
                return
            with transaction.atomic():
                run = customer_import_start(
                    actor=actor,
                    data=path,
                    file_name=path.name,
                    sheet=options["sheet"],
                    mode=ImportMode.ALL_OR_NOTHING if options["all_or_nothing"] else ImportMode.GOOD_ROWS,
                    mapping=mapping,
                    enqueue=False,
                    kind=options["kind"],
                    store=store,
                    owner=owner,
                )
            self.stdout.write(f"import #{run.pk}: {run.file_name}")
            for index, key in sorted((int(i), k) for i, k in run.mapping.items()):
                self.stdout.write(f"  {run.headers[index]} → {key}")
            self._run(run, stale_after=STALE_AFTER, report=options["report"], reader=reader, actor=actor)
        except KebuError as exc:
            raise CommandError(str(exc.message)) from exc

    def _kind_read(self, path: Path, *, sheet: str | None) -> str:
        """The kind of a sheet imported without ``--kind``: customers, as always, unless no column names a
        customer and the headers read as exactly one other kind's sheet; a sheet they read as none (or as
        several) stays a customer sheet, refused with the columns it has. A sheet with an order number
        column that reads as orders is refused: an order export names its buyers too, and read as a
        customer sheet its orders would be left out without a word."""
        headers = table_read(path, sheet=sheet).headers
        fits = []
        for kind in ImportKind:
            try:
                mapping = import_mapping(headers, kind=kind)
            except ValidationFailed:
                continue
            if kind == ImportKind.ORDERS and "order_no" in mapping.values():
                column = headers[next(i for i, key in mapping.items() if key == "order_no")]
                raise CommandError(
                    f"{path.name} has order numbers ({column}): to import its orders, say "
                    "--kind orders (with --store S unless a column names the store); to read only its "
                    "buyers as customers, say --kind customers."
                )
            fits.append(kind)
        if ImportKind.CUSTOMERS in fits or len(fits) != 1:
            return ImportKind.CUSTOMERS
        self.stdout.write(
            f"{path.name}: no column names a customer; read as a {fits[0]} sheet (--kind {fits[0]})"
        )
        return fits[0]

    def _import(self, pk: int) -> Import:
        run = Import.objects.select_related("job").filter(pk=pk).first()
        if run is None:
            raise CommandError(f"There is no import #{pk}.")
        return run

    def _run(self, run: Import, *, stale_after: Any, report: Path | None, reader: Any, actor: Any) -> None:
        """Run the import's job here, in this process; a job another live worker holds is left to it. What
        it changed on customers already in Kebu is told as ``reader`` may see it; the report, if written,
        is recorded as ``actor``'s (None: whoever runs the command under no one's name)."""
        run.job.refresh_from_db()
        waiting = run.job.status in {JobStatus.QUEUED, JobStatus.RUNNING}
        if waiting and job_run(run.job_id, stale_after=stale_after, on_beat=self._progress) is None:
            raise CommandError(
                f"Import #{run.pk} is running in another process (its heartbeat is fresh). "
                "If that process was killed, resume again in a minute and a half, or with --take-over."
            )
        run.refresh_from_db()
        job = Job.objects.get(pk=run.job_id)
        if job.status == JobStatus.FAILED:
            raise CommandError(f"import #{run.pk} failed: {job.error}")
        # An order sheet's counts are orders, an order of several lines once; the dry run counts rows.
        unit = " (orders)" if run.kind == ImportKind.ORDERS else ""
        self.stdout.write(
            f"{run.created} created, {run.updated} updated, {run.unchanged} unchanged, "
            f"{run.rejected} rejected{unit}"
        )
        if run.undone_at is not None:
            self.stdout.write("undone since: everything it created or changed was put back")
        elif job.status == JobStatus.CANCELLED:
            # A cancelled import is over (--resume does not carry it on): its counts are not the file's.
            rows = counted(job.total or 0, "row", "rows")
            self.stdout.write(
                f"cancelled after {job.done:,} of {rows}: what it wrote stays (--undo {run.pk} takes it "
                "back); import the file again to add the rest, nothing is added twice"
            )
        if run.rejected:
            self._problems(run, report=report)
        changed = 0
        if run.kind == ImportKind.CUSTOMERS and run.updated:
            changed = self._changed(run, report=report, reader=reader)
        if run.noted:
            self.stdout.write(f"{run.noted} with notes (what was left out, and why):")
            for note in import_notes(run, limit=NOTES_SHOWN):
                self.stdout.write(f"  row {note.row}, {note.column} “{note.value}”: {note.reason}")
        if run.corrected:
            self._corrections(run.corrected, import_corrections(run))
        if run.refused:
            why = import_refusal_text(run) or "all or nothing, and some rows are bad"
            self.stdout.write(f"nothing imported: {why}")
        if report is not None and (run.rejected or run.corrected or changed):
            changes = Counted(import_changes(run, user=reader))
            written = report_write(
                str(report),
                headers=run.headers,
                rows=import_rejected_rows(run),
                corrections=import_corrections(run),
                corrected=run.corrected,
                changes=changes,
            )
            report_audit(
                actor=actor,
                run=run,
                rows_to_fix=written,
                corrected=run.corrected,
                changed=changes.count,
                masked=contact_policy(reader).masked,
            )
            self.stdout.write(_report_line(report, to_fix=written, corrected=run.corrected, changed=changed))

    def _changed(self, run: Import, *, report: Path | None, reader: Any) -> int:
        """Say how many customers already in Kebu the import changed, of those ``reader`` may see (the
        import's page counts them so), and where each change is listed; return that count."""
        listed = import_changes_listed(run, user=reader).count()
        line = f"{counted(listed, 'customer', 'customers')} changed"
        if unlisted := run.updated - listed:
            line += f" (and {unlisted} more you may not see, or deleted since: not listed)"
        if listed and report is not None:
            line += f": each field before → after in the report's sheet “{_('Changed')}”"
        elif listed:
            line += ": --report FILE lists each field before → after"
        self.stdout.write(line)
        return listed

    def _corrections(self, corrected: int, corrections: list[Correction]) -> None:
        """The cells taken otherwise than written, the first of them one a line."""
        self.stdout.write(f"{counted(corrected, 'cell', 'cells')} corrected (taken otherwise than written):")
        for c in corrections[:CORRECTIONS_SHOWN]:
            self.stdout.write(f"  row {c.row}, {c.column} “{c.written}” → “{c.taken}”: {c.reason}")
        if corrected > CORRECTIONS_SHOWN:
            self.stdout.write(f"  … and {corrected - CORRECTIONS_SHOWN} more")

    def _problems(self, run: Import, *, report: Path | None) -> None:
        """The first rejected rows' problems, each on the row its cell is on, as the dry run prints them,
        so that a run without --report still says why; the rest are counted as ``run.rejected`` counts
        them (an order sheet's orders), and where to find them said."""
        found = import_problems(run, limit=PROBLEMS_SHOWN)
        shown = [p for problems in found.values() for p in problems][:PROBLEMS_SHOWN]
        for p in shown:
            self.stdout.write(f"  row {p.row}, {p.column or '-'}: {p.value!r}: {p.reason}")
        # Those told of, fully or in part: the first problems are theirs, in the order found lists them.
        told = sum(1 for problems in found.values() if problems and problems[0] in shown)
        more = run.rejected - told
        if more > 0:
            what = ("order", "orders") if run.kind == ImportKind.ORDERS else ("row", "rows")
            where = "in the report" if report is not None else "use --report FILE to have them all"
            self.stdout.write(
                f"  and {counted(more, 'more ' + what[0], 'more ' + what[1])} with problems — {where}"
            )

    def _progress(self, job: Job) -> None:
        now = time.monotonic()
        if now - self._shown < PROGRESS_EVERY_SECONDS or not job.total:
            return
        self._shown = now
        self.stdout.write(f"  {job.done:,} of {counted(job.total, 'row', 'rows')} ({job.percent}%)")

    def _check(
        self,
        data: Path,
        *,
        sheet: str | None,
        report: Path | None,
        mapping: dict[int, str] | None,
        kind: str,
        store: Store | None,
        actor: Any,
        reader: Any,
    ) -> None:
        """The dry run: the file's import rehearsed as ``actor``'s, rolled back (``transfer.rehearsals``);
        what it would change on customers already in Kebu told as ``reader`` may see it."""
        if kind == ImportKind.ORDERS:
            check = order_file_check(data, sheet=sheet, mapping=mapping, store=store, actor=actor)
        elif kind == ImportKind.PRODUCTS:
            check = product_file_check(data, sheet=sheet, mapping=mapping, actor=actor)
        elif kind == ImportKind.REVIEWS:
            check = review_file_check(data, sheet=sheet, mapping=mapping, store=store)
        else:
            # The report is written as the rows are rehearsed, with what the import would change on
            # customers already in Kebu, as the real import's report lists it (read as ``reader`` may).
            check = customer_file_check(
                data,
                sheet=sheet,
                mapping=mapping,
                actor=actor,
                report=None if report is None else str(report),
                reader=reader,
            )
        for index, key in sorted(check.mapping.items()):
            self.stdout.write(f"  {check.headers[index]} → {key}")
        if check.unmapped:
            self.stdout.write(f"  not imported: {', '.join(check.unmapped)}")
        for _number, _cells, problems in check.bad:
            for p in problems:
                self.stdout.write(f"  row {p.row}, {p.column or '-'}: {p.value!r}: {p.reason}")
        ready, bad = counted(check.good, "row", "rows"), counted(len(check.bad), "row", "rows")
        self.stdout.write(f"{ready} ready, {bad} with problems")
        if check.corrected:
            self._corrections(check.corrected, check.corrections)
        if kind == ImportKind.CUSTOMERS and check.changed:
            line = f"{counted(check.changed, 'customer', 'customers')} would change"
            if report is not None:
                line += f": each field before → after in the report's sheet “{_('Changed')}”"
            else:
                line += ": --report FILE lists each field before → after"
            self.stdout.write(line)
        if report is not None:
            if kind != ImportKind.CUSTOMERS:  # a customer sheet's was written as it was checked
                report_write(
                    str(report),
                    headers=check.headers,
                    rows=check.bad,
                    corrections=check.corrections,
                    corrected=check.corrected,
                )
            report_audit(
                actor=actor,
                file_name=data.name,
                kind=kind,
                rows_to_fix=len(check.bad),
                corrected=check.corrected,
                changed=check.changed if kind == ImportKind.CUSTOMERS else 0,
                masked=contact_policy(reader).masked,
            )
            self.stdout.write(
                _report_line(report, to_fix=len(check.bad), corrected=check.corrected, changed=check.changed)
            )


def _report_line(report: Path, *, to_fix: int, corrected: int, changed: int) -> str:
    """Where the report is and what it holds: rows to fix only when some were rejected."""
    held = [
        counted(count, one, many)
        for count, one, many in (
            (to_fix, "row to fix", "rows to fix"),
            (corrected, "corrected cell", "corrected cells"),
            (changed, "changed customer", "changed customers"),
        )
        if count
    ]
    return f"report: {report} ({', '.join(held) or 'nothing to fix'})"
