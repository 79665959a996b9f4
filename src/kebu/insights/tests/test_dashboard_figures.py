"""The dashboard's figures: whose customers they count (the customer list's own rule), the sales
summary's sums, and what new customers, the repurchase rate, the comparison and the top lists mean."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from kebu.customers.selectors import customer_visible_queryset
from kebu.customers.services import customer_archive
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import TicketKind
from kebu.engagement.services.tickets import TicketInput, ticket_open
from kebu.insights.selectors.dashboard import (
    POOL,
    DashboardFilters,
    OwnerScope,
    _whole_months,
    dashboard_figures,
    dashboard_owner_scope,
)
from kebu.insights.services.dashboard import dashboard_rebuild
from kebu.orders import reports
from kebu.orders.models import OrderLine, OrderStatus, Store
from kebu.orders.services.aftersales import AfterSaleLineInput, order_refund
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


def span(first: date, last: date, **fields) -> DashboardFilters:
    return DashboardFilters(date_from=first, date_to=last, **fields)


@pytest.fixture
def people(owner, sales_a, sales_b, manager_east, analyst, readonly, admin_member, staff_member):
    """Everyone who might look, and customers of each owner (the manager shares sales A's team)."""
    nobody = staff_member(None, "norole", display_name="无角色")
    customers = {
        who: make_customer(actor=owner, name=f"{label}的客户", owner=user)
        for who, label, user in (
            ("a", "甲", sales_a),
            ("b", "乙", sales_b),
            ("m", "主管", manager_east),
            ("o", "老板", owner),
            ("pool", "公海", None),
        )
    }
    users = [owner, sales_a, sales_b, manager_east, analyst, readonly, admin_member, nobody]
    return users, customers


@pytest.mark.parametrize("pool", ["on", "off"])
def test_the_owners_in_sight_are_exactly_the_customers_in_sight_for_every_role(people, pool, request):
    users, _customers = people
    if pool == "off":
        request.getfixturevalue("pool_off")
    from kebu.customers.models import Customer

    for user in users:
        scope = dashboard_owner_scope(user=user)
        by_owner = set(Customer.objects.filter(scope.q()).values_list("pk", flat=True))
        visible = set(customer_visible_queryset(user=user).values_list("pk", flat=True))
        assert by_owner == visible, user.username


@pytest.fixture
def summary_shop(owner, sales_a, sales_b, catalogue):
    """Orders over three months around midnights, refunds, unpaid and cancelled ones, three owners."""
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    alice = make_customer(actor=owner, name="Alice", owner=sales_a)
    bob = make_customer(actor=owner, name="Bob", owner=sales_b)
    carol = make_customer(actor=owner, name="Carol")

    def buy(customer, store, when, lines, **fields):
        return make_order(actor=owner, customer=customer, store=store, lines=lines, ordered_at=when, **fields)

    first = buy(alice, catalogue.store, at(2025, 1, 10, 12, 0), [("CREAM-50", 2), ("TEA-250", 1)])
    cream = OrderLine.objects.get(order=first, sku_code="CREAM-50")
    order_refund(
        actor=owner, order=first, amount_cny=None, reason="damaged", lines=[AfterSaleLineInput(cream.pk, 1)]
    )
    buy(alice, pdd, at(2025, 1, 31, 23, 30), [("TONER-100", 2)])
    buy(bob, catalogue.store, at(2025, 2, 1, 0, 30), [("TEA-250", 3)])
    fourth = buy(carol, pdd, at(2025, 2, 15, 9, 0), [("CREAM-50", 1)], shipping_cny="10.00")
    order_refund(actor=owner, order=fourth, amount_cny="50.00", reason="price")
    buy(carol, catalogue.store, at(2025, 3, 5, 10, 0), [("TEA-250", 1)], status=OrderStatus.PENDING)
    buy(bob, pdd, at(2025, 3, 20, 10, 0), [("CREAM-50", 5)], status=OrderStatus.CANCELLED)
    buy(alice, catalogue.store, at(2025, 3, 31, 23, 50), [("TEA-250", 1)])
    buy(carol, catalogue.store, at(2025, 3, 1, 0, 0), [("TEA-250", 2)])
    dashboard_rebuild()
    return {"pdd": pdd}


@pytest.mark.parametrize("who", ["owner", "sales_a", "sales_b"])
def test_each_months_totals_are_the_sales_summarys(summary_shop, who, request):
    user = request.getfixturevalue(who)
    summary = reports.sales_summary(user=user, date_from=date(2025, 1, 1), date_to=date(2025, 3, 31))

    for month in summary.months:
        last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
        figures = dashboard_figures(user=user, filters=span(month, last))
        expected = summary.by_month.get(month, reports.SalesFigures())
        got = figures.totals
        assert (got.orders, got.gross_cny, got.refunds_cny, got.net_cny, got.avg_order_cny) == (
            expected.orders,
            expected.gross_cny,
            expected.refunds_cny,
            expected.net_cny,
            expected.avg_order_cny,
        ), (who, month)
        assert figures.buyers.buyers == expected.customers, (who, month)
        by_category = {s.key: s.net_cny for s in figures.categories}
        assert by_category == {
            key: cat.net_cny for (m, key), cat in summary.by_category.items() if m == month
        }, (who, month)


def test_the_same_dates_give_each_clerk_their_own_sums_and_the_owner_all_of_them(
    summary_shop, owner, sales_a, sales_b
):
    quarter = span(date(2025, 1, 1), date(2025, 3, 31))

    a = dashboard_figures(user=sales_a, filters=quarter).totals.net_cny
    b = dashboard_figures(user=sales_b, filters=quarter).totals.net_cny
    everyone = dashboard_figures(user=owner, filters=quarter).totals.net_cny

    # Alice's 634.00 and Bob's 384.00, each with Carol's 415.00 from the shared pool (which is on).
    assert (a, b) == (Decimal("1049.00"), Decimal("799.00"))
    assert everyone == Decimal("634.00") + Decimal("384.00") + Decimal("415.00")


def test_new_customers_and_the_repurchase_rate_mean_what_the_page_says(owner, catalogue):
    store = catalogue.store
    old_friend = make_customer(actor=owner, name="老朋友")
    one_timer = make_customer(actor=owner, name="新客一次")
    came_back = make_customer(actor=owner, name="新客又来")
    make_order(actor=owner, customer=old_friend, store=store, ordered_at=at(2025, 4, 20, 10, 0))
    make_order(actor=owner, customer=old_friend, store=store, ordered_at=at(2025, 5, 3, 10, 0))
    make_order(actor=owner, customer=one_timer, store=store, ordered_at=at(2025, 5, 4, 10, 0))
    make_order(actor=owner, customer=came_back, store=store, ordered_at=at(2025, 5, 4, 11, 0))
    make_order(actor=owner, customer=came_back, store=store, ordered_at=at(2025, 5, 6, 11, 0))
    dashboard_rebuild()

    figures = dashboard_figures(user=owner, filters=span(date(2025, 5, 1), date(2025, 5, 7)))

    assert figures.totals.new_customers == 2  # first orders ever in the dates
    # Ordered in the dates: 3. Not only their first order: the old friend, and the one who came back.
    assert (figures.buyers.buyers, figures.buyers.repeaters) == (3, 2)
    assert figures.buyers.repurchase_rate == Decimal("0.6667")
    by_day = {b.start: (b.new_customers, b.returning_customers) for b in figures.buckets}
    assert by_day[date(2025, 5, 3)] == (0, 1)
    assert by_day[date(2025, 5, 4)] == (2, 0)
    assert by_day[date(2025, 5, 6)] == (0, 1)


def test_each_figure_is_compared_with_the_same_number_of_days_just_before(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    for when in (at(2025, 5, 31, 23, 0), at(2025, 6, 1, 1, 0), at(2025, 6, 7, 22, 0), at(2025, 6, 8, 1, 0)):
        make_order(actor=owner, customer=buyer, store=catalogue.store, ordered_at=when)
    dashboard_rebuild()

    figures = dashboard_figures(user=owner, filters=span(date(2025, 6, 1), date(2025, 6, 7)))

    assert figures.filters.previous == (date(2025, 5, 25), date(2025, 5, 31))
    assert (figures.totals.orders, figures.previous_totals.orders) == (2, 1)
    orders = {k.key: k for k in figures.kpis}["orders"]
    assert orders.change == Decimal("1.0000")


def _two_weeks_of_two_stores(owner, catalogue):
    """The week of 2025-05-25 and the week after, in the catalogue's store and a Pinduoduo one."""
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    twice, once_elsewhere, newcomer = (make_customer(actor=owner, name=n) for n in ("两次", "别家", "新来"))
    for customer, store, when in (
        (twice, catalogue.store, at(2025, 5, 26, 10, 0)),  # first order ever
        (twice, catalogue.store, at(2025, 5, 28, 10, 0)),  # and again, the same week
        (once_elsewhere, pdd, at(2025, 5, 30, 10, 0)),
        (twice, catalogue.store, at(2025, 6, 2, 10, 0)),
        (newcomer, pdd, at(2025, 6, 3, 10, 0)),
    ):
        make_order(actor=owner, customer=customer, store=store, ordered_at=when)
    dashboard_rebuild()
    return pdd


def _customers_of_both_weeks(owner, **fields):
    figures = dashboard_figures(user=owner, filters=span(date(2025, 6, 1), date(2025, 6, 7), **fields))
    return figures.buyers, figures.previous_buyers


def test_the_week_before_counts_its_own_customers_and_repeaters_per_store(owner, catalogue):
    pdd = _two_weeks_of_two_stores(owner, catalogue)

    now, before = _customers_of_both_weeks(owner)
    assert (before.buyers, before.repeaters) == (2, 1)  # 两次 came back within the week, 别家 did not
    assert (now.buyers, now.repeaters) == (2, 1)  # 两次 again, 新来 for the first time
    now, before = _customers_of_both_weeks(owner, store_id=pdd.pk)
    assert (before.buyers, before.repeaters, now.buyers, now.repeaters) == (1, 0, 1, 0)


def test_top_customers_rank_by_what_they_spent_in_the_dates_not_ever(owner, catalogue):
    store = catalogue.store
    big_before = make_customer(actor=owner, name="去年大客户")
    small_now = make_customer(actor=owner, name="本月小客户")
    make_order(
        actor=owner, customer=big_before, store=store, lines=[("CREAM-50", 20)], ordered_at=at(2025, 1, 5)
    )
    make_order(
        actor=owner, customer=big_before, store=store, lines=[("TONER-100", 1)], ordered_at=at(2025, 6, 5)
    )
    make_order(
        actor=owner, customer=small_now, store=store, lines=[("TEA-250", 1)], ordered_at=at(2025, 6, 6)
    )
    make_order(
        actor=owner, customer=small_now, store=store, lines=[("TEA-250", 1)], ordered_at=at(2025, 6, 9)
    )
    dashboard_rebuild()

    figures = dashboard_figures(user=owner, filters=span(date(2025, 6, 1), date(2025, 6, 30)))

    assert [(c.name, c.net_cny, c.orders) for c in figures.top_customers] == [
        ("本月小客户", Decimal("256.00"), 2),
        ("去年大客户", Decimal("89.50"), 1),
    ]
    assert [(p.label, p.units) for p in figures.top_products] == [("明前龙井", 2), ("爽肤水", 1)]


def test_a_store_or_a_platform_counts_that_channel_only(summary_shop, owner, catalogue):
    quarter = span(date(2025, 1, 1), date(2025, 3, 31))
    pdd = summary_shop["pdd"]

    by_store = dashboard_figures(
        user=owner, filters=span(quarter.date_from, quarter.date_to, store_id=pdd.pk)
    )
    by_platform = dashboard_figures(
        user=owner, filters=span(quarter.date_from, quarter.date_to, platform="pinduoduo")
    )
    everything = dashboard_figures(user=owner, filters=quarter)

    assert by_store.totals == by_platform.totals
    assert by_store.totals.orders == 2 and everything.totals.orders == 6
    assert [s.key for s in by_store.channels] == [pdd.pk]
    assert {s.key: s.net_cny for s in everything.channels}[pdd.pk] == by_store.totals.net_cny


def test_one_owner_chosen_counts_theirs_and_an_owner_out_of_sight_counts_nothing(
    summary_shop, owner, sales_a, sales_b
):
    quarter = (date(2025, 1, 1), date(2025, 3, 31))

    theirs = dashboard_figures(user=owner, filters=span(*quarter, owner=sales_b.pk))
    pool = dashboard_figures(user=owner, filters=span(*quarter, owner=POOL))
    peeking = dashboard_figures(user=sales_a, filters=span(*quarter, owner=sales_b.pk))

    assert theirs.totals.net_cny == Decimal("384.00") and pool.totals.net_cny == Decimal("415.00")
    assert not peeking.sales_visible and peeking.totals.orders == 0 and peeking.top_customers == []
    assert OwnerScope(owner_ids=frozenset({sales_a.pk})).narrowed(sales_b.pk).is_empty


def test_provinces_and_stages_count_the_active_customers_in_sight(owner, sales_a, catalogue):
    from kebu.core import divisions
    from kebu.customers.services import AddressInput

    places = sorted(divisions.provinces())[:17]

    def living_in(name, province, **fields):
        city = divisions.cities(province)[0]
        district = divisions.districts(province, city)[0]
        address = AddressInput(province=province, city=city, district=district, detail="1号", is_default=True)
        return make_customer(actor=owner, name=name, addresses=[address], **fields)

    for i, province in enumerate(places):
        living_in(f"客{i}", province, owner=sales_a)
    living_in("又一个", places[0], owner=sales_a)
    gone = living_in("已归档", places[0], owner=sales_a)
    customer_archive(actor=owner, customer=gone)
    living_in("别人的", places[1], owner=owner)
    make_order(actor=owner, customer=living_in("买过", places[2], owner=sales_a), store=catalogue.store)
    dashboard_rebuild()

    figures = dashboard_figures(user=sales_a, filters=span(date(2025, 1, 1), date(2025, 1, 2)))

    provinces = [(s.label, s.customers) for s in figures.provinces]
    assert provinces[:3] == [(places[0], 2), (places[2], 2), (places[1], 1)]
    assert len(provinces) == 16 and provinces[-1] == ("Other provinces", 2)
    stages = {s.key: s.customers for s in figures.funnel}
    assert (stages["lead"], stages["new"], figures.churned) == (18, 1, 0)
    assert [s.key for s in figures.funnel] == ["lead", "new", "converted", "repeat", "member", "vip"]


def test_open_complaints_are_the_ones_the_user_may_see(owner, sales_a, sales_b):
    mine = make_customer(actor=owner, name="甲的客户", owner=sales_a)
    theirs = make_customer(actor=owner, name="乙的客户", owner=sales_b)
    for customer, kind in ((mine, TicketKind.COMPLAINT), (theirs, TicketKind.COMPLAINT), (mine, "request")):
        ticket_open(
            actor=owner, customer=customer, data=TicketInput(category="quality", subject="问题", kind=kind)
        )
    dashboard_rebuild()
    dates = span(date(2025, 1, 1), date(2025, 1, 31))

    assert dashboard_figures(user=sales_a, filters=dates).open_complaints == 1
    assert dashboard_figures(user=owner, filters=dates).open_complaints == 2


def test_the_figures_of_90_busy_days_come_from_a_fixed_number_of_queries(
    owner, catalogue, django_assert_max_num_queries
):
    store = catalogue.store
    buyers = [make_customer(actor=owner, name=f"客{i}") for i in range(6)]
    for day in range(1, 91, 3):
        moment = at(2025, 1, 1, 10, 0) + timedelta(days=day)
        make_order(
            actor=owner, customer=buyers[day % 6], store=store, ordered_at=moment, lines=[("TEA-250", 1)]
        )
    dashboard_rebuild()

    # Whole months of the products and of the period before come from their month tables: two reads each.
    with django_assert_max_num_queries(18):
        figures = dashboard_figures(
            user=owner, filters=span(date(2025, 1, 1), date(2025, 3, 31), grain="day")
        )

    assert figures.totals.orders == 30 and len(figures.buckets) == 90


def test_a_customer_refunded_in_full_is_not_a_top_customer_and_ties_go_to_the_older(owner, catalogue):
    store = catalogue.store
    first, second, refunded = (make_customer(actor=owner, name=n) for n in ("先来", "后到", "全退"))
    for buyer in (second, first):
        make_order(
            actor=owner, customer=buyer, store=store, lines=[("TEA-250", 1)], ordered_at=at(2025, 6, 2)
        )
    order = make_order(
        actor=owner, customer=refunded, store=store, lines=[("CREAM-50", 3)], ordered_at=at(2025, 6, 3)
    )
    order_refund(actor=owner, order=order, amount_cny="597.00", reason="other")
    dashboard_rebuild()

    figures = dashboard_figures(user=owner, filters=span(date(2025, 6, 1), date(2025, 6, 30)))

    assert [c.name for c in figures.top_customers] == ["先来", "后到"]


def _expected_customers(orders, first: date, last: date, buckets, store=None):
    """Customers, repeaters, (new, returning) per bucket and net spent per customer from ``first`` to
    ``last``, counted here from the (moment, order, customer, store, paid) of each order."""
    firsts = {}
    for _moment, order, customer, _store, _paid in sorted(orders):
        firsts.setdefault(customer, order)
    mine = [o for o in orders if first <= o[0].date() <= last and store in (None, o[3])]
    repeaters = {customer for _moment, order, customer, *_rest in mine if firsts[customer] != order}
    per_bucket = []
    for start, end in buckets:
        inside = [o for o in mine if start <= o[0].date() <= end]
        new = sum(firsts[customer] == order for _moment, order, customer, *_rest in inside)
        per_bucket.append((new, len({o[2] for o in inside}) - new))
    spent = {}
    for _moment, _order, customer, _store, paid in mine:
        spent[customer] = spent.get(customer, 0) + paid
    return (len({o[2] for o in mine}), len(repeaters)), per_bucket, spent


@pytest.mark.parametrize("store_filter", [False, True])
def test_whole_months_and_their_ragged_ends_count_each_customer_once(owner, catalogue, store_filter):
    # Six months of orders, some either side of a month's last midnight: each pass over them gives a
    # moment to the next customer, so customers buy twice in a month, in one store or in both, and a
    # range with ragged ends (and its comparison period) reads whole months from the month sets.
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    people = [make_customer(actor=owner, name=f"月客{i}") for i in range(4)]
    moments = [
        at(2024, 11, 3, 10),
        at(2024, 11, 20, 10),
        at(2024, 12, 28, 10),
        at(2025, 1, 31, 23, 59),
        at(2025, 2, 1, 0, 1),
        at(2025, 2, 14, 9),
        at(2025, 2, 28, 23, 58),
        at(2025, 3, 1, 0, 2),
        at(2025, 3, 17, 15),
        at(2025, 3, 31, 12),
        at(2025, 4, 1, 8),
        at(2025, 4, 9, 20),
        at(2025, 4, 30, 23, 59),
    ]
    orders = []
    for k, moment in enumerate(moments * 3):
        customer, store = people[k % 4], pdd if k % 3 == 1 else catalogue.store
        sku = ("CREAM-50", "TONER-100", "TEA-250")[k % 3]
        order = make_order(
            actor=owner, customer=customer, store=store, ordered_at=moment, lines=[(sku, 1 + k % 2)]
        )
        orders.append((moment, order.pk, customer.pk, store.pk, order.paid_cny))
    dashboard_rebuild()
    first, last = date(2025, 1, 20), date(2025, 4, 12)  # before: 2024-10-29 to 2025-01-19
    store = pdd.pk if store_filter else None

    figures = dashboard_figures(user=owner, filters=span(first, last, grain="month", store_id=store))
    by_week = dashboard_figures(user=owner, filters=span(first, last, grain="week", store_id=store))

    buckets = [(b.start, b.end) for b in figures.buckets]
    assert buckets[0] == (first, date(2025, 1, 31)) and buckets[-1] == (date(2025, 4, 1), last)
    totals, per_bucket, spent = _expected_customers(orders, first, last, buckets, store)
    assert (figures.buyers.buyers, figures.buyers.repeaters) == totals
    assert [(b.new_customers, b.returning_customers) for b in figures.buckets] == per_bucket
    assert {c.id: c.net_cny for c in figures.top_customers} == spent
    before, _per_bucket, _spent = _expected_customers(orders, *figures.filters.previous, [], store)
    assert (figures.previous_buyers.buyers, figures.previous_buyers.repeaters) == before
    sold = {}
    for line in OrderLine.objects.filter(order_id__in=[o[1] for o in orders if first <= o[0].date() <= last]):
        if store in (None, line.order.store_id):
            units, count = sold.get(line.product_id, (0, 0))
            sold[line.product_id] = (units + line.quantity, count + 1)
    assert {p.key: (p.units, p.orders) for p in figures.top_products} == sold
    # A weekly line reads the same dates from the day sets alone.
    assert by_week.buyers == figures.buyers and by_week.top_customers == figures.top_customers
    assert sum(b.new_customers for b in by_week.buckets) == sum(n for n, _r in per_bucket)


@pytest.mark.parametrize(
    ("first", "last", "whole"),
    [
        (date(2025, 1, 1), date(2025, 1, 31), (date(2025, 1, 1), date(2025, 1, 31))),
        (date(2025, 1, 2), date(2025, 1, 31), None),
        (date(2025, 1, 1), date(2025, 1, 30), None),
        (date(2025, 1, 30), date(2025, 2, 28), (date(2025, 2, 1), date(2025, 2, 28))),
        (date(2025, 1, 31), date(2025, 3, 31), (date(2025, 2, 1), date(2025, 3, 31))),
        (date(2024, 1, 31), date(2024, 3, 1), (date(2024, 2, 1), date(2024, 2, 29))),
        (date(2025, 3, 31), date(2025, 6, 29), (date(2025, 4, 1), date(2025, 5, 31))),
        (date(2024, 12, 5), date(2025, 12, 5), (date(2025, 1, 1), date(2025, 11, 30))),
        (date(2025, 2, 10), date(2025, 2, 20), None),
    ],
)
def test_the_whole_months_of_a_range_are_the_calendar_months_inside_it(first, last, whole):
    assert _whole_months(first, last) == whole
