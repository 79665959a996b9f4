"""``kebu metrics``: rebuild every customer's figures from the orders, or mark churned customers."""

from __future__ import annotations

import time
from typing import Any

from django.core.management import BaseCommand

from kebu.orders.services.metrics import customers_churn_mark, figures_recompute


class Command(BaseCommand):
    help = "Rebuild customers' figures (total spent, orders, …) from the orders, or mark churned customers."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "recompute",
            help="Rebuild every customer's figures and stage from the orders; prints how many were off.",
        )
        sub.add_parser("churn", help="Mark customers churned after the shop's days without an order.")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        if options["action"] == "recompute":
            result = figures_recompute()
            self.stdout.write(
                f"customers whose figures changed: {result.customers_changed}; "
                f"top category changed: {result.top_category_changed} "
                f"({time.perf_counter() - started:.1f} s)"
            )
        else:
            marked = customers_churn_mark()
            self.stdout.write(f"customers marked churned: {marked} ({time.perf_counter() - started:.1f} s)")
