"""``kebu demo --customers N [--seed S]``: load demo customers (see ``kebu.customers.demo``)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kebu.customers.demo import DEFAULT_BATCH_SIZE, demo_customers_load


class Command(BaseCommand):
    help = "Append realistic demo customers (a cosmetics-and-tea shop) to the database."
    # A data loader needs the models only, not the URL conf or views (as ``migrate``), so it works
    # while those are half-written and runs without importing the whole site.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, required=True, help="How many customers to add.")
        parser.add_argument(
            "--seed", type=int, default=1, help="Random seed; the same seed gives the same data."
        )
        parser.add_argument(
            "--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="Customers per transaction."
        )

    def handle(self, *args: Any, customers: int, seed: int, batch_size: int, **options: Any) -> None:
        if customers < 1 or batch_size < 1:
            raise CommandError("--customers and --batch-size must be at least 1.")
        started = time.perf_counter()
        step = max(customers // 20, batch_size)
        next_report = step

        def progress(done: int) -> None:
            nonlocal next_report
            if done >= next_report or done == customers:
                elapsed = time.perf_counter() - started
                self.stdout.write(
                    f"  {done:>10,} / {customers:,}  {elapsed:7.1f} s  ({done / elapsed:,.0f}/s)"
                )
                next_report = done + step

        written = demo_customers_load(count=customers, seed=seed, batch_size=batch_size, progress=progress)
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Loaded {written:,} demo customers in {elapsed:.1f} s."))
