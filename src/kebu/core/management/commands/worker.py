"""``kebu worker``: a background-job consumer (Huey). Run several, on several hosts, with REDIS_URL."""

from __future__ import annotations

from typing import Any

from django.core.management import BaseCommand, call_command


class Command(BaseCommand):
    help = "Run a background-job worker (Huey consumer)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("run_huey", workers=options["workers"])
