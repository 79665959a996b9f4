"""``kebu insights compute``: compute the analyses now (all, or some), as the nightly task does."""

from __future__ import annotations

import time
from typing import Any

from django.core.management import BaseCommand, CommandError

from kebu.insights.models import InsightKind, RunStatus
from kebu.insights.services.runs import NIGHTLY_ORDER, insight_compute


class Command(BaseCommand):
    help = "Compute the dashboard figures, scores, forecast, baskets, cohorts and clusters now."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        compute = sub.add_parser("compute", help="Compute analyses now; prints each one's time and outcome.")
        compute.add_argument(
            "--kind",
            action="append",
            choices=InsightKind.values,
            help="Only this analysis (repeatable); all of them by default, in the nightly order.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        failed = []
        for kind in options["kind"] or NIGHTLY_ORDER:
            started = time.perf_counter()
            run = insight_compute(kind=kind)
            outcome = run.message or ("done" if run.status == RunStatus.DONE else run.status)
            self.stdout.write(f"{kind}: {outcome} ({time.perf_counter() - started:.1f} s)")
            if run.status == RunStatus.FAILED:
                failed.append(kind)
        if failed:
            raise CommandError(f"failed: {', '.join(failed)} (see the log and the run's message)")
