"""Small shops for the scores tests, made through the customer and order services as the product makes
them: each customer is a name and their orders, each order so many days ago with its lines."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind
from kebu.insights.services.runs import insight_compute
from kebu.orders.tests.factories import make_order

# One line each, at the catalogue's prices: ¥199.00, ¥89.50, ¥128.00.
CREAM, TONER, TEA = [("CREAM-50", 1)], [("TONER-100", 1)], [("TEA-250", 1)]


def shop_make(
    *,
    actor: Any,
    catalogue: Any,
    customers: dict[str, list[tuple[int, list[tuple[str, int]]]]],
    owner: Any = None,
) -> dict[str, Any]:
    """``customers``: name → [(days ago, lines), …]. Returns name → customer (figures refreshed)."""
    made = {}
    now = timezone.now()
    for name, orders in customers.items():
        customer = make_customer(actor=actor, name=name, owner=owner)
        for days_ago, lines in orders:
            make_order(
                actor=actor,
                customer=customer,
                store=catalogue.store,
                lines=lines,
                ordered_at=now - timedelta(days=days_ago, minutes=1),
            )
        customer.refresh_from_db()
        made[name] = customer
    return made


def scores_run(actor: Any = None):
    """Compute the scores as the nightly task does, and return the run."""
    return insight_compute(kind=InsightKind.SCORES, actor=actor)


def history_shop(customers: int = 80, seed: int = 5) -> dict[str, list[tuple[int, list[tuple[str, int]]]]]:
    """Customers drawn from the BG/NBD story itself, so a purchase model has something to learn: each
    joined on a day of the last year, buys at their own rate (one order per ~40 days on average, varying
    between customers) and after each repeat order stops for good with their own probability. Baskets
    vary from order to order. A fixed seed makes the shop the same at every run."""
    rng = np.random.default_rng(seed)
    skus = ["TEA-250", "TONER-100", "CREAM-50"]
    shop: dict[str, list[tuple[int, list[tuple[str, int]]]]] = {}
    for i in range(customers):
        rate = rng.gamma(shape=1.5, scale=1 / 60)  # orders per day
        dropout = rng.beta(1.0, 3.0)
        joined = float(rng.uniform(1, 365))  # days ago of the first order
        days, elapsed = [joined], 0.0
        # In this model a customer can only drop out right after a repeat purchase, never before one.
        while True:
            if len(days) > 1 and rng.random() < dropout:
                break
            elapsed += rng.exponential(1 / rate)
            if elapsed > joined - 1:
                break
            days.append(joined - elapsed)
        # each customer has their own usual basket size, and their orders vary around it
        size = 1 + int(rng.poisson(1.5))
        shop[f"c{i:03d}"] = [
            (int(d), [(skus[(i + k) % len(skus)], size + k % 2)]) for k, d in enumerate(days)
        ]
    return shop
