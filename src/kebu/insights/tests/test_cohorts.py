"""Cohort retention over a shop built by hand, where every cell of the table is known: months in the
shop's time zone, orders counted as the sales summary counts them, months not over marked."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, RunStatus
from kebu.insights.services.runs import insight_compute
from kebu.orders.models import OrderStatus
from kebu.orders.services.aftersales import order_refund
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHOP = timezone.get_default_timezone()
TODAY = datetime(2025, 4, 16, 10, 0, tzinfo=SHOP)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHOP)


@pytest.fixture
def buy(owner, catalogue):
    def buy(customer, when, **fields):
        return make_order(
            actor=owner,
            customer=customer,
            store=catalogue.store,
            lines=[("TEA-250", 1)],
            ordered_at=when,
            **fields,
        )

    return buy


def compute(cohorts: int = 4):
    with time_machine.travel(TODAY, tick=False):
        return insight_compute(kind=InsightKind.COHORTS, params={"cohorts": cohorts})


def table(run) -> dict[str, list]:
    """cohort month -> [size, pct of month 0, 1, … as far as known]."""
    return {
        row["month"][:7]: [row["size"], *(cell["pct"] for cell in row["cells"] if cell is not None)]
        for row in run.result["cohorts"]
    }


def test_the_table_counts_each_cohorts_customers_back_month_by_month(owner, buy):
    # given: two customers start in January 2025, one in February, one in March.
    a, b, c, d = (make_customer(actor=owner, name=name) for name in "ABCD")
    for when in (at(2025, 1, 5, 10), at(2025, 2, 9, 10), at(2025, 4, 2, 10)):
        buy(a, when)
    for when in (at(2025, 1, 20, 10), at(2025, 3, 3, 10)):
        buy(b, when)
    for when in (at(2025, 2, 1, 10), at(2025, 2, 20, 10), at(2025, 3, 28, 10)):  # twice in one month: once
        buy(c, when)
    buy(d, at(2025, 3, 15, 10))

    # when
    run = compute(cohorts=4)

    # then
    assert run.status == RunStatus.DONE, run.message
    assert table(run) == {
        "2025-01": [2, 100.0, 50.0, 50.0, 50.0],
        "2025-02": [1, 100.0, 100.0, 0.0],
        "2025-03": [1, 100.0, 0.0],
        "2025-04": [0, None],
    }
    assert [row["cells"][0]["active"] for row in run.result["cohorts"]] == [2, 1, 1, 0]
    assert run.result["customers"] == 4


def test_this_months_cells_are_partial_and_the_months_to_come_empty(owner, buy):
    buy(make_customer(actor=owner), at(2025, 2, 9, 10))

    run = compute(cohorts=3)

    february = run.result["cohorts"][0]
    assert february["month"] == "2025-02-01"
    assert [cell["partial"] for cell in february["cells"][:3]] == [False, False, True]
    assert february["cells"][3:] == [None] * 21
    assert len(february["cells"]) == 24


def test_the_average_weighs_cohorts_by_size_and_takes_months_that_are_over(owner, buy):
    a, b, c, d = (make_customer(actor=owner, name=name) for name in "ABCD")
    for customer, months in ((a, (1, 2, 4)), (b, (1, 3)), (c, (2, 3)), (d, (3,))):
        for month in months:
            buy(customer, at(2025, month, 10, 10))

    run = compute(cohorts=4)

    average = run.result["average"]
    # Month 0: 4 of 4 (April's cohort is empty and not over). Month 1: A of January's two and C of
    # February's one, 2 of 3 (March's month 1 is April, not over). Month 2: B of January's two.
    assert [cell["pct"] for cell in average[:3]] == [100.0, 66.7, 50.0]
    assert [cell["cohorts"] for cell in average[:3]] == [3, 2, 1]
    assert average[3:] == [None] * 21


def test_a_fully_refunded_order_still_counts_and_a_cancelled_or_unpaid_one_does_not(owner, buy):
    # The project's rule (orders.models.COUNTED_STATUSES, as the sales summary and the customer's order
    # count use it): a full refund closes an order, which still counts, with nothing spent.
    a, b = make_customer(actor=owner, name="A"), make_customer(actor=owner, name="B")
    buy(a, at(2025, 1, 5, 10))
    refunded = buy(a, at(2025, 2, 5, 10))
    order_refund(actor=owner, order=refunded, amount_cny="128.00", reason="other")
    buy(a, at(2025, 3, 5, 10), status=OrderStatus.CANCELLED)
    buy(b, at(2025, 1, 6, 10))
    buy(b, at(2025, 3, 6, 10), status=OrderStatus.PENDING)
    refunded.refresh_from_db()
    assert refunded.status == OrderStatus.CLOSED

    run = compute(cohorts=4)

    assert table(run)["2025-01"] == [2, 100.0, 50.0, 0.0, 0.0]


def test_months_are_the_shops_months(owner, buy):
    # 23:30 on 31 January in Shanghai is 15:30 UTC: January either way. 00:30 on 1 March in Shanghai is
    # still 28 February in UTC: March here.
    january, march = make_customer(actor=owner, name="J"), make_customer(actor=owner, name="M")
    buy(january, at(2025, 1, 31, 23, 30))
    buy(january, at(2025, 3, 1, 0, 30))
    buy(march, at(2025, 3, 1, 0, 30))

    run = compute(cohorts=4)

    assert table(run) == {
        "2025-01": [1, 100.0, 0.0, 100.0, 0.0],
        "2025-02": [0, None, None, None],
        "2025-03": [1, 100.0, 0.0],
        "2025-04": [0, None],
    }


def test_a_shop_without_first_orders_in_those_months_is_told_so(owner, buy):
    buy(make_customer(actor=owner), at(2024, 6, 1, 10))

    run = compute(cohorts=6)

    assert (run.status, run.result) == (RunStatus.DONE, {})
    assert (
        run.message
        == "No customer placed a first order in the last 6 months, so there is no cohort to follow."
    )


def test_the_table_takes_two_queries_however_many_customers(owner, buy, django_assert_num_queries):
    from kebu.insights.models import InsightRun
    from kebu.insights.services.cohorts import cohorts_compute

    for n in range(6):
        customer = make_customer(actor=owner, name=f"C{n}")
        buy(customer, at(2025, 1 + n % 3, 5, 10))
        buy(customer, at(2025, 3, 20, 10))
    run = InsightRun(kind=InsightKind.COHORTS, params={"cohorts": 4})

    with time_machine.travel(TODAY, tick=False), django_assert_num_queries(2):
        result = cohorts_compute(run=run)

    assert result["customers"] == 6
