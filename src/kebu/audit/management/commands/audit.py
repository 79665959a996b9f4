"""``kebu audit verify`` checks the audit log's hash chain; ``kebu audit export`` writes it to CSV."""

from __future__ import annotations

import sys
from datetime import datetime, time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from kebu.audit.selectors import AuditFilters
from kebu.audit.services import audit_export, audit_verify


def _since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--since takes a date (2025-01-31) or a date and time, not {value!r}.")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


class Command(BaseCommand):
    help = "Check the audit log's hash chain (verify) or write it to a CSV file (export)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        sub.add_parser("verify", help="Recompute every entry's hash; report the first broken link.")
        export = sub.add_parser("export", help="Write the audit log to a CSV file (UTF-8 with BOM).")
        export.add_argument(
            "--output", "-o", required=True, help="The CSV file to write; - for standard output."
        )
        export.add_argument(
            "--since", help="Only entries from this date (shop time zone) or ISO date and time on."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "verify":
            self._verify(options)
        else:
            self._export(options)

    def _verify(self, options: dict[str, Any]) -> None:
        result = audit_verify()
        if result.ok:
            self.stdout.write(f"OK: {result.checked} entries, chain intact")
            if result.last_hash and options["verbosity"] >= 1:
                # Noted down elsewhere, it shows later whether the log was rewritten up to here.
                self.stdout.write(f"Last entry #{result.checked}: {result.last_hash}")
            return
        self.stderr.write(f"BROKEN at entry #{result.first_broken_seq}: {result.reason}")
        sys.exit(1)

    def _export(self, options: dict[str, Any]) -> None:
        filters = AuditFilters(since=_since(options["since"]) if options.get("since") else None)
        target = options["output"]
        export = audit_export(actor=None, filters=filters)
        if target == "-":
            for line in export.lines:
                self.stdout.write(line, ending="")
        else:
            path = Path(target)
            with path.open("w", encoding="utf-8", newline="") as handle:
                for line in export.lines:
                    handle.write(line)
            self.stderr.write(f"{export.rows} entries written to {path}")
