"""``kebu demo [--customers N] [--orders M] [--seed S]``: load demo customers (see
``kebu.customers.demo``), then demo orders for the customers in the database (``kebu.orders.demo``)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kebu.customers.demo import DEFAULT_BATCH_SIZE, demo_customers_load
from kebu.orders.demo import DEFAULT_BATCH_SIZE as ORDERS_BATCH_SIZE
from kebu.orders.demo import demo_orders_load


class Command(BaseCommand):
    help = (
        "Append realistic demo customers and orders (a cosmetics-and-tea shop) to the database; the "
        "orders go to the customers already there, and every customer's figures are rebuilt after them."
    )
    # A data loader needs the models only, not the URL conf or views (as ``migrate``), so it works
    # while those are half-written and runs without importing the whole site.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=0, help="How many customers to add.")
        parser.add_argument(
            "--orders", type=int, default=0, help="How many orders to add (after the customers)."
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Random seed; the same seed gives the same data."
        )
        parser.add_argument(
            "--service",
            action="store_true",
            help="Also add service records (contacts, tickets, feedback, surveys, follow-ups) for them.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=0,
            help=f"Rows per transaction (default {DEFAULT_BATCH_SIZE} customers, "
            f"{ORDERS_BATCH_SIZE} orders).",
        )

    def handle(
        self,
        *args: Any,
        customers: int,
        orders: int,
        seed: int,
        batch_size: int,
        service: bool,
        **options: Any,
    ) -> None:
        if customers < 0 or orders < 0 or batch_size < 0 or not (customers or orders or service):
            raise CommandError("Give --customers and/or --orders, at least 1, or --service.")
        if customers:
            self._customers(customers, seed, batch_size or DEFAULT_BATCH_SIZE)
        if orders:
            self._orders(orders, seed, batch_size or ORDERS_BATCH_SIZE)
        if service:
            self._service(seed)

    def _service(self, seed: int) -> None:
        from kebu.engagement.demo import demo_service_load

        started = time.perf_counter()
        made = demo_service_load(seed=seed)
        rows = ", ".join(f"{area} {count:,}" for area, count in made.items())
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Loaded demo service records ({rows}) in {elapsed:.1f} s."))

    def _reporter(self, total: int, step: int, started: float) -> Any:
        next_report = step

        def progress(done: int) -> None:
            nonlocal next_report
            if done >= next_report or done == total:
                elapsed = time.perf_counter() - started
                self.stdout.write(f"  {done:>10,} / {total:,}  {elapsed:7.1f} s  ({done / elapsed:,.0f}/s)")
                next_report = done + step

        return progress

    def _customers(self, count: int, seed: int, batch_size: int) -> None:
        started = time.perf_counter()
        progress = self._reporter(count, max(count // 20, batch_size), started)
        written = demo_customers_load(count=count, seed=seed, batch_size=batch_size, progress=progress)
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Loaded {written:,} demo customers in {elapsed:.1f} s."))

    def _orders(self, count: int, seed: int, batch_size: int) -> None:
        started = time.perf_counter()
        progress = self._reporter(count, max(count // 20, batch_size), started)
        result = demo_orders_load(count=count, seed=seed, batch_size=batch_size, progress=progress)
        if not result.orders:
            raise CommandError("No customers who could have ordered: load customers first (--customers).")
        elapsed = time.perf_counter() - started
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.seconds.items())
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {result.orders:,} demo orders ({result.lines:,} lines) for "
                f"{result.customers_with_orders:,} customers and rebuilt every customer's figures in "
                f"{elapsed:.1f} s ({phases})."
            )
        )
