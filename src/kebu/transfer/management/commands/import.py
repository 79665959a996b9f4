"""``kebu import FILE --kind customers --dry-run``: check a sheet before importing it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, CommandError

from kebu.core.errors import ValidationFailed
from kebu.transfer.customers import customer_file_check
from kebu.transfer.report import report_write


class Command(BaseCommand):
    help = (
        "Check a customer sheet (.xlsx, .xls, .ods or .csv in UTF-8 or GBK) as the import will read it: "
        "which column is which field, and every bad cell by row and column. Writes nothing to the database."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--kind", choices=["customers"], required=True)
        parser.add_argument("--sheet", help="the sheet to read (default: the first with data)")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the file and report, writing nothing (the only mode so far: importing is to come)",
        )
        parser.add_argument(
            "--report", type=Path, help="write the rows to fix, bad cells marked, to this .xlsx"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["dry_run"]:
            raise CommandError("Importing is not built yet; --dry-run checks the file and writes nothing.")
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        try:
            check = customer_file_check(data, sheet=options["sheet"])
        except ValidationFailed as exc:
            raise CommandError(f"{path}: {exc.message}") from exc
        for index, key in sorted(check.mapping.items()):
            self.stdout.write(f"  {check.headers[index]} → {key}")
        if check.unmapped:
            self.stdout.write(f"  not imported: {', '.join(check.unmapped)}")
        for _number, _cells, problems in check.bad:
            for p in problems:
                self.stdout.write(f"  row {p.row}, {p.column or '-'}: {p.value!r}: {p.reason}")
        self.stdout.write(f"{check.good} rows ready, {len(check.bad)} rows with problems")
        if options["report"] is not None:
            written = report_write(str(options["report"]), headers=check.headers, rows=check.bad)
            self.stdout.write(f"report: {options['report']} ({written} rows to fix)")
