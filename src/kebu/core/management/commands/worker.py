"""``kebu worker``: a background-job consumer (Huey). Run several, on several hosts, with REDIS_URL."""

from __future__ import annotations

from typing import Any

from django.core.management import BaseCommand, call_command

# A periodic task runs under a lock (``lock_task``) that only its own normal end releases: a worker killed
# mid-run (kill -9, out of memory, power loss) would leave it held, and the task refused every hour after,
# for good. Huey's lock expiry is not offered by its SQLite storage (nor by Redis before 7.4), so a
# starting worker clears them. Every locked task here is safe to run twice at once (each is idempotent),
# so clearing a lock another host's worker still holds costs a repeat at worst, never a loss.
CONSUMER_OPTIONS: dict[str, Any] = {"flush_locks": True}


class Command(BaseCommand):
    help = "Run a background-job worker (Huey consumer)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workers", type=int, default=2)

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("run_huey", workers=options["workers"], **CONSUMER_OPTIONS)
