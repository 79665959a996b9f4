"""The nightly forecast over real orders: the same sales as the sales summary, complete periods only in
the shop's time zone, a clear message when the history is too short, and settings kept on the run."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, RunStatus
from kebu.insights.selectors.sales_series import MONTH, WEEK, sales_days, sales_series
from kebu.insights.services.runs import insight_compute
from kebu.orders import reports
from kebu.orders.models import OrderLine, OrderStatus
from kebu.orders.services.aftersales import AfterSaleLineInput, order_refund
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHOP = timezone.get_default_timezone()
TODAY = datetime(2025, 4, 16, 10, 0, tzinfo=SHOP)  # a Wednesday


def at(*parts: int) -> datetime:
    """A moment on the shop's clock (Asia/Shanghai)."""
    return datetime(*parts, tzinfo=SHOP)


@pytest.fixture
def buyer(owner):
    return make_customer(actor=owner, name="Alice")


def weekly(owner, buyer, catalogue, *, first: date, count: int, creams: int = 1) -> None:
    """An order of ``creams`` face creams (¥199.00 each) every Wednesday at noon, ``count`` weeks."""
    for week in range(count):
        day = first + timedelta(days=7 * week)
        make_order(
            actor=owner,
            customer=buyer,
            store=catalogue.store,
            lines=[("CREAM-50", creams + week % 3)],
            ordered_at=at(day.year, day.month, day.day, 12, 0),
        )


def test_the_monthly_history_is_the_sales_summarys_months(owner, buyer, catalogue):
    # given: a year of weekly orders from Wednesday 3 January 2024, and around them what the summary
    # counts its own way: a partial refund, a full refund, a cancelled and an unpaid order, and orders
    # minutes either side of a month's end in Shanghai.
    weekly(owner, buyer, catalogue, first=date(2024, 1, 3), count=64)
    refunded = make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        ordered_at=at(2024, 5, 8, 9),
    )
    line = OrderLine.objects.get(order=refunded)
    order_refund(
        actor=owner, order=refunded, amount_cny=None, reason="damaged", lines=[AfterSaleLineInput(line.pk, 1)]
    )
    closed = make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("TEA-250", 1)],
        ordered_at=at(2024, 6, 2, 9),
    )
    order_refund(actor=owner, order=closed, amount_cny="128.00", reason="other")
    for status in (OrderStatus.CANCELLED, OrderStatus.PENDING):
        make_order(
            actor=owner,
            customer=buyer,
            store=catalogue.store,
            lines=[("CREAM-50", 5)],
            ordered_at=at(2024, 7, 10, 9),
            status=status,
        )
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("TONER-100", 1)],
        ordered_at=at(2024, 8, 31, 23, 30),
    )
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("TONER-100", 3)],
        ordered_at=at(2024, 9, 1, 0, 30),
    )

    # when
    with time_machine.travel(TODAY, tick=False):
        run = insight_compute(kind=InsightKind.FORECAST)

    # then: January 2024 (its first sale was on the 3rd) is left out, April 2025 is not over.
    assert run.status == RunStatus.DONE, run.message
    month = run.result["views"][MONTH]
    assert month["starts"][0] == "2024-02-01" and month["starts"][-1] == "2025-03-01"
    summary = reports.sales_summary(user=owner, date_from=date(2024, 2, 1), date_to=date(2025, 3, 31))
    expected_net = [str(summary.by_month[m].net_cny) for m in summary.months]
    expected_orders = [summary.by_month[m].orders for m in summary.months]
    assert month["metrics"]["net"]["history"] == expected_net
    assert month["metrics"]["orders"]["history"] == expected_orders


def test_weeks_run_monday_to_sunday_in_the_shops_time_zone(owner, buyer, catalogue):
    # Sunday 23:30 in Shanghai is 15:30 UTC, Monday 00:30 is still Sunday in UTC.
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("CREAM-50", 1)],
        ordered_at=at(2025, 3, 3, 9),
    )
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("CREAM-50", 1)],
        ordered_at=at(2025, 3, 9, 23, 30),
    )
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("TEA-250", 1)],
        ordered_at=at(2025, 3, 10, 0, 30),
    )

    series = sales_series(period=WEEK, today=date(2025, 3, 19))

    assert series.starts == [date(2025, 3, 3), date(2025, 3, 10)]
    assert series.orders == [2, 1]
    assert [str(n) for n in series.net_cny] == ["398.00", "128.00"]


def test_the_period_under_way_and_a_first_period_begun_part_way_are_left_out(owner, buyer, catalogue):
    for day in (date(2025, 1, 15), date(2025, 2, 3), date(2025, 3, 20), date(2025, 4, 2)):
        make_order(
            actor=owner,
            customer=buyer,
            store=catalogue.store,
            lines=[("CREAM-50", 1)],
            ordered_at=at(day.year, day.month, day.day, 12),
        )
    days = sales_days(until=date(2025, 4, 15))

    months = sales_series(period=MONTH, today=date(2025, 4, 16), days=days)

    assert months.starts == [date(2025, 2, 1), date(2025, 3, 1)]
    assert months.orders == [1, 1]


def test_fewer_than_twelve_weeks_with_sales_is_answered_in_words(owner, buyer, catalogue):
    weekly(owner, buyer, catalogue, first=date(2025, 1, 8), count=8)

    with time_machine.travel(TODAY, tick=False):
        run = insight_compute(kind=InsightKind.FORECAST)

    assert (run.status, run.result) == (RunStatus.DONE, {})
    assert run.message == "A forecast needs at least 12 complete weeks with sales; the shop has 7 so far."


def test_a_short_history_forecasts_weeks_and_says_months_need_longer(owner, buyer, catalogue):
    weekly(owner, buyer, catalogue, first=date(2024, 11, 6), count=23)

    with time_machine.travel(TODAY, tick=False):
        run = insight_compute(kind=InsightKind.FORECAST)

    week, month = run.result["views"][WEEK], run.result["views"][MONTH]
    assert len(week["metrics"]["net"]["forecast"]) == 26
    assert week["seasonal"] is False
    assert month["metrics"] == {}
    assert month["message"] == "A monthly forecast needs at least 10 complete months; the shop has 4 so far."


def test_horizons_and_interval_come_from_the_runs_settings_and_are_kept_on_it(owner, buyer, catalogue):
    weekly(owner, buyer, catalogue, first=date(2024, 5, 1), count=50)

    with time_machine.travel(TODAY, tick=False):
        run = insight_compute(
            kind=InsightKind.FORECAST,
            params={"horizon_weeks": 8, "horizon_months": 99, "interval": "nonsense"},
        )

    assert len(run.result["views"][WEEK]["metrics"]["orders"]["forecast"]) == 8
    assert len(run.result["views"][MONTH]["metrics"]["orders"]["forecast"]) == 12
    run.refresh_from_db()
    assert run.params == {"horizon_weeks": 8, "horizon_months": 12, "interval": 0.8}


def test_each_forecast_period_carries_its_range_and_festival(owner, buyer, catalogue):
    weekly(owner, buyer, catalogue, first=date(2024, 5, 1), count=50)

    with time_machine.travel(TODAY, tick=False):
        run = insight_compute(kind=InsightKind.FORECAST)

    rows = run.result["views"][MONTH]["metrics"]["net"]["forecast"]
    assert [row["start"] for row in rows] == [
        "2025-04-01",
        "2025-05-01",
        "2025-06-01",
        "2025-07-01",
        "2025-08-01",
        "2025-09-01",
    ]
    assert all(row["lower"] <= row["mean"] <= row["upper"] for row in rows)
    assert [row["event"] for row in rows] == [None, None, "618", None, None, None]
    backtest = run.result["views"][WEEK]["metrics"]["net"]["backtest"]
    assert backtest["tested"] == 12 and backtest["horizon"] == 4
    assert backtest["winner"] in {"model", "baseline", "tie"}


def test_a_zone_whose_offset_is_not_whole_hours_still_gets_its_own_days(settings, owner, buyer, catalogue):
    # Kolkata is UTC+5:30: 00:15 on 2 March there is 18:45 on 1 March in UTC, and no whole UTC hour
    # falls on its midnight.
    settings.TIME_ZONE = "Asia/Kolkata"
    kolkata = timezone.get_default_timezone()
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("TEA-250", 1)],
        ordered_at=datetime(2025, 3, 2, 0, 15, tzinfo=kolkata),
    )
    make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("TEA-250", 2)],
        ordered_at=datetime(2025, 3, 1, 23, 50, tzinfo=kolkata),
    )

    days = sales_days(until=date(2025, 3, 31))

    assert [(d.day, d.orders, str(d.net_cny)) for d in days] == [
        (date(2025, 3, 1), 1, "256.00"),
        (date(2025, 3, 2), 1, "128.00"),
    ]


def test_the_series_takes_one_query_however_many_orders(owner, buyer, catalogue, django_assert_num_queries):
    weekly(owner, buyer, catalogue, first=date(2025, 1, 8), count=10)

    with django_assert_num_queries(1):
        days = sales_days(until=date(2025, 4, 15))

    assert sum(d.orders for d in days) == 10
