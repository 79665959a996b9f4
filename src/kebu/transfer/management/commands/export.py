"""``kebu export``: customers, orders or products to a spreadsheet from the terminal.

kebu export customers|orders|products --format xlsx|csv --output FILE [--filter "stage=lead&tag=3"]
            [--columns customer_no,name,phone] [--user U]
kebu export customers --template --output FILE
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, CommandError
from django.http import QueryDict

from kebu.core.errors import KebuError
from kebu.transfer.exports import FORMATS, KINDS, export_build, export_write, template_build
from kebu.transfer.management.commands._checks import CHECKS_BUT_URLS
from kebu.transfer.management.commands._counts import counted
from kebu.transfer.management.commands._staff import staff_member_named


class Command(BaseCommand):
    requires_system_checks = CHECKS_BUT_URLS
    help = (
        "Export customers, orders (a row per order line) or products (a row per SKU) to .xlsx or CSV. "
        "--filter takes the list page's query string, so a filtered list exports as it shows. Without "
        "--user the export holds every record unmasked, as the database does; it is audited either way."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--output", "-o", type=Path, required=True, help="the file to write")
        parser.add_argument(
            "--format", choices=FORMATS, help="xlsx or csv (default: from the output's extension, else xlsx)"
        )
        parser.add_argument(
            "--filter", default="", help='the list page\'s query string, e.g. "stage=lead&tag=3"'
        )
        parser.add_argument(
            "--columns", default="", help="column keys, comma-separated, in order (default: all)"
        )
        parser.add_argument("--user", help="export what this staff member sees, masked as they see it")
        parser.add_argument(
            "--template", action="store_true", help="write a blank import template with an example row"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        output = Path(options["output"])
        file_format = options["format"] or ("csv" if output.suffix.lower() == ".csv" else "xlsx")
        if not output.parent.is_dir():
            raise CommandError(f"The folder {output.parent} does not exist.")
        user = staff_member_named(options["user"])
        try:
            if options["template"]:
                export = template_build(options["kind"])
            else:
                export = export_build(
                    options["kind"],
                    user=user,
                    filters=QueryDict(options["filter"]),
                    columns=[c.strip() for c in options["columns"].split(",") if c.strip()],
                )
            rows = export_write(export, output, file_format=file_format, user=user)
        except KebuError as exc:
            raise CommandError(str(exc)) from exc
        what = "template" if options["template"] else counted(rows, "row", "rows")
        self.stdout.write(f"Wrote {output} ({what}, {counted(len(export.columns), 'column', 'columns')}).")
