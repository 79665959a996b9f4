"""The dashboard's tables say what the orders say: a rebuild equals a count made here order by order,
whatever the shop did; a refresh after orders, payments, refunds, cancellations and changes of owner
equals a rebuild; days are the shop's days, also across summer time."""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kebu.core.errors import KebuError
from kebu.customers.models import Customer
from kebu.customers.services import customer_release, customer_transfer
from kebu.customers.tests.factories import make_customer
from kebu.insights.models import (
    DashboardBuyers,
    DashboardBuyersMonth,
    DashboardCategorySales,
    DashboardCustomers,
    DashboardProductSales,
    DashboardProductSalesMonth,
    DashboardSales,
    InsightKind,
    RunStatus,
)
from kebu.insights.services.dashboard import (
    BUYER,
    PRODUCT,
    buyers_bytes,
    buyers_read,
    dashboard_rebuild,
    dashboard_refresh,
)
from kebu.insights.services.runs import insight_compute
from kebu.orders.models import COUNTED_STATUSES, Order, OrderLine, OrderStatus, Store
from kebu.orders.services.aftersales import AfterSaleLineInput, order_refund
from kebu.orders.services.orders import LineInput, OrderInput, order_cancel, order_create, order_pay
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
SKUS = ["CREAM-50", "TONER-100", "TEA-250", ""]  # "" is a line typed by hand: no product, no category
# Moments a few minutes either side of two midnights in Shanghai (16:00 UTC), some shared to the second,
# so that days split where the shop's clock says and "first order" needs its tie-break.
MOMENTS = [
    datetime(2025, 3, 9, 23, 58, tzinfo=SHANGHAI),
    datetime(2025, 3, 10, 0, 0, tzinfo=SHANGHAI),
    datetime(2025, 3, 10, 0, 3, tzinfo=SHANGHAI),
    datetime(2025, 3, 10, 12, 0, tzinfo=SHANGHAI),
    datetime(2025, 3, 10, 23, 59, 59, tzinfo=SHANGHAI),
    datetime(2025, 3, 11, 0, 0, 1, tzinfo=SHANGHAI),
    datetime(2025, 3, 14, 9, 30, tzinfo=SHANGHAI),
]
# Either side of the midnights that end February and March in Shanghai: the month sets split there.
MONTH_EDGES = [
    datetime(2025, 2, 28, 23, 59, tzinfo=SHANGHAI),
    datetime(2025, 3, 31, 23, 59, 30, tzinfo=SHANGHAI),
    datetime(2025, 4, 1, 0, 0, 30, tzinfo=SHANGHAI),
]


def fen(amount: Decimal) -> int:
    return int(amount * 100)


def live() -> dict[str, Any]:
    """What the tables should hold, counted here in Python order by order, line by line."""
    zone = timezone.get_default_timezone()
    orders = list(
        Order.objects.filter(status__in=COUNTED_STATUSES)
        .select_related("customer")
        .order_by("customer_id", "ordered_at", "id")
    )
    firsts, seen = set(), set()
    for order in orders:
        if order.customer_id not in seen:
            firsts.add(order.pk)
            seen.add(order.customer_id)
    sales: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    buyers: dict[tuple, dict[int, list[int]]] = defaultdict(dict)
    keys = {}
    for order in orders:
        key = (timezone.localtime(order.ordered_at, zone).date(), order.store_id, order.customer.owner_id)
        keys[order.pk] = key
        row = sales[key]
        row[0] += 1
        row[1] += order.pk in firsts
        row[2] += order.refunded_cny > 0
        row[3] += fen(order.paid_cny)
        row[4] += fen(order.refunded_cny)
        entry = buyers[key].setdefault(order.customer_id, [0, 0, 0])
        entry[0] += fen(order.paid_cny - order.refunded_cny)
        entry[1] += 1
        entry[2] |= order.pk in firsts
    categories: dict[tuple, list[Any]] = defaultdict(lambda: [set(), 0, 0])
    products: dict[tuple, list[Any]] = defaultdict(lambda: [set(), 0, 0])
    for line in OrderLine.objects.filter(order_id__in=keys):
        targets = [categories[(*keys[line.order_id], line.root_category_id)]]
        if line.product_id is not None:
            targets.append(products[(*keys[line.order_id], line.product_id)])
        for target in targets:
            target[0].add(line.order_id)
            target[1] += line.quantity - line.returned_quantity
            target[2] += fen(line.amount_cny - line.refunded_cny)
    months: dict[tuple, dict[int, list[int]]] = defaultdict(dict)
    for (day, store_id, owner_id), entries in buyers.items():
        for customer_id, (net, count, first) in entries.items():
            entry = months[(day.replace(day=1), store_id, owner_id)].setdefault(customer_id, [0, 0, 0])
            entry[0] += net
            entry[1] += count
            entry[2] |= first
    product_months: dict[tuple, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (day, store_id, owner_id, product_id), (order_ids, units, net) in products.items():
        total = product_months[(day.replace(day=1), store_id, owner_id, product_id)]
        for k, value in enumerate((len(order_ids), units, net)):
            total[k] += value
    active = Customer.objects.filter(archived_at__isnull=True)
    return {
        "sales": {k: tuple(v) for k, v in sales.items()},
        "buyers": {k: {c: tuple(e) for c, e in v.items()} for k, v in buyers.items()},
        "months": {k: {c: tuple(e) for c, e in v.items()} for k, v in months.items()},
        "categories": {k: (len(v[0]), v[1], v[2]) for k, v in categories.items()},
        "products": {k: (len(v[0]), v[1], v[2]) for k, v in products.items()},
        "product_months": {k: tuple(v) for k, v in product_months.items()},
        "customers": dict(Counter(active.values_list("owner_id", "province", "stage"))),
    }


def stored() -> dict[str, Any]:
    """What the tables hold, in the shape of ``live()``."""
    products = {}
    for row in DashboardProductSales.objects.all():
        entries = np.frombuffer(bytes(row.entries), dtype=PRODUCT)
        assert len(entries) == row.products and list(entries["product"]) == sorted(entries["product"])
        for e in entries:
            key = (row.day, row.store_id, row.owner_id, int(e["product"]))
            products[key] = (int(e["orders"]), int(e["units"]), int(e["net_fen"]))
    product_months = {}
    for row in DashboardProductSalesMonth.objects.all():
        entries = np.frombuffer(bytes(row.entries), dtype=PRODUCT)
        assert len(entries) == row.products and list(entries["product"]) == sorted(entries["product"])
        assert row.month.day == 1
        for e in entries:
            key = (row.month, row.store_id, row.owner_id, int(e["product"]))
            product_months[key] = (int(e["orders"]), int(e["units"]), int(e["net_fen"]))
    buyers = {}
    for row in DashboardBuyers.objects.all():
        entries = buyers_read(bytes(row.entries))
        assert len(entries) == row.buyers and list(entries["customer"]) == sorted(entries["customer"])
        buyers[(row.day, row.store_id, row.owner_id)] = {
            int(e["customer"]): (int(e["net_fen"]), int(e["orders"]), int(e["first"])) for e in entries
        }
    months = {}
    for row in DashboardBuyersMonth.objects.all():
        entries = buyers_read(bytes(row.entries))
        assert len(entries) == row.buyers and list(entries["customer"]) == sorted(entries["customer"])
        assert row.month.day == 1
        months[(row.month, row.store_id, row.owner_id)] = {
            int(e["customer"]): (int(e["net_fen"]), int(e["orders"]), int(e["first"])) for e in entries
        }
    return {
        "sales": {
            (r.day, r.store_id, r.owner_id): (
                r.orders,
                r.new_customers,
                r.refunded_orders,
                r.gross_fen,
                r.refunds_fen,
            )
            for r in DashboardSales.objects.all()
        },
        "buyers": buyers,
        "months": months,
        "categories": {
            (r.day, r.store_id, r.owner_id, r.category_id): (r.orders, r.units, r.net_fen)
            for r in DashboardCategorySales.objects.all()
        },
        "products": products,
        "product_months": product_months,
        "customers": {
            (r.owner_id, r.province, r.stage): r.customers for r in DashboardCustomers.objects.all()
        },
    }


@pytest.fixture
def shop(owner, catalogue, sales_a, sales_b):
    """Two stores; customers of sales A, of sales B and of the shared pool."""
    return {
        "actor": owner,
        "stores": [catalogue.store, Store.objects.create(name="拼多多店", platform="pinduoduo")],
        "staff": [sales_a, sales_b, None],
        "customers": [
            make_customer(actor=owner, name="甲一", owner=sales_a),
            make_customer(actor=owner, name="甲二", owner=sales_a),
            make_customer(actor=owner, name="乙一", owner=sales_b),
            make_customer(actor=owner, name="公海", owner=None),
        ],
    }


def _step(draw: Any, shop: dict[str, Any], orders: list[Order]) -> None:
    """One thing a shop does, drawn at random; a refused one changes nothing."""
    actor = shop["actor"]
    op = draw(st.sampled_from(["create", "create", "create", "pay", "cancel", "refund", "return", "owner"]))
    if op == "owner":
        customer = Customer.objects.get(pk=draw(st.sampled_from(shop["customers"])).pk)
        to = draw(st.sampled_from(shop["staff"]))
        if to is None:
            customer_release(customer=customer, actor=actor)
        else:
            customer_transfer(customer=customer, to_user=to, actor=actor)
        return
    if op == "create" or not orders:
        status = draw(st.sampled_from([OrderStatus.PAID, OrderStatus.COMPLETED, OrderStatus.PENDING]))
        data = OrderInput(
            customer=draw(st.sampled_from(shop["customers"])),
            store=draw(st.sampled_from(shop["stores"])),
            lines=[
                LineInput(sku_code=sku, title="" if sku else "手写礼盒", quantity=draw(st.integers(1, 3)))
                if sku
                else LineInput(title="手写礼盒", quantity=1, unit_price_cny="33.33")
                for sku in draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3))
            ],
            status=status,
            payment_method="" if status == OrderStatus.PENDING else "alipay",
            ordered_at=draw(st.sampled_from(MOMENTS + MONTH_EDGES)),
            shipping_cny=draw(st.sampled_from(["0", "8.00"])),
        )
        orders.append(order_create(actor=actor, data=data))
        return
    order = Order.objects.get(pk=draw(st.sampled_from(orders)).pk)
    if op == "pay":
        order_pay(actor=actor, order=order, payment_method="wechat")
    elif op == "cancel":
        order_cancel(actor=actor, order=order)
    elif op == "refund":
        left = order.paid_cny - order.refund_reserved_cny
        amount = draw(st.sampled_from([left, (left / 3).quantize(Decimal("0.01")), Decimal("0.01")]))
        order_refund(actor=actor, order=order, amount_cny=amount, reason="other")
    else:
        line = draw(st.sampled_from(list(order.lines.all())))
        order_refund(
            actor=actor,
            order=order,
            amount_cny=None,
            reason="quality",
            lines=[AfterSaleLineInput(line.pk, draw(st.integers(1, line.quantity)))],
        )


PROPERTY = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@PROPERTY
@given(data=st.data())
def test_a_rebuild_equals_the_orders_counted_one_by_one_whatever_the_shop_did(data, shop):
    orders: list[Order] = []
    for _ in range(data.draw(st.integers(1, 12))):
        with contextlib.suppress(KebuError):
            _step(data.draw, shop, orders)

    dashboard_rebuild()

    assert stored() == live()


@PROPERTY
@given(data=st.data())
def test_refreshing_after_each_change_ends_where_a_rebuild_does(data, shop):
    dashboard_rebuild()
    orders: list[Order] = []
    for _ in range(data.draw(st.integers(1, 12))):
        with contextlib.suppress(KebuError):
            _step(data.draw, shop, orders)
        if data.draw(st.booleans()):
            assert not dashboard_refresh().needs_rebuild
    dashboard_refresh()
    refreshed = stored()

    dashboard_rebuild()

    assert refreshed == stored()


def test_a_refresh_redoes_only_the_day_of_a_new_order(shop):
    actor, store, [a1, *_others] = shop["actor"], shop["stores"][0], shop["customers"]
    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[0])
    dashboard_rebuild()

    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[6])
    result = dashboard_refresh()

    assert result.days == (date(2025, 3, 14),)
    assert stored() == live()


def test_a_refresh_merges_the_months_of_the_days_it_redid_again(shop):
    actor, store, [a1, a2, b1, _pool] = shop["actor"], shop["stores"][0], shop["customers"]
    make_order(actor=actor, customer=a1, store=store, ordered_at=MONTH_EDGES[1])
    make_order(actor=actor, customer=a2, store=store, ordered_at=MONTH_EDGES[2])
    make_order(actor=actor, customer=b1, store=store, ordered_at=MONTH_EDGES[2])
    dashboard_rebuild()

    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[0])
    make_order(actor=actor, customer=a2, store=store, ordered_at=MONTH_EDGES[2])
    result = dashboard_refresh()

    assert result.days == (date(2025, 3, 9), date(2025, 3, 31), date(2025, 4, 1))  # 3-31 lost a first
    assert stored() == live()
    march = stored()["months"][(date(2025, 3, 1), store.pk, a1.owner_id)]
    assert march[a1.pk][1:] == (2, 1)  # two orders that month, the first of them ever
    assert stored()["months"][(date(2025, 4, 1), store.pk, a2.owner_id)][a2.pk][1:] == (2, 1)
    assert stored()["months"][(date(2025, 4, 1), store.pk, b1.owner_id)][b1.pk][1:] == (1, 1)


def test_a_refund_moves_the_day_of_its_order_not_the_day_it_was_paid_out(shop):
    actor, store, a1 = shop["actor"], shop["stores"][0], shop["customers"][0]
    order = make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[3], lines=[("TEA-250", 2)])
    dashboard_rebuild()

    order_refund(actor=actor, order=order, amount_cny="28.00", reason="price")
    result = dashboard_refresh()

    assert result.days == (date(2025, 3, 10),)
    row = DashboardSales.objects.get(day=date(2025, 3, 10))
    assert (row.gross_fen, row.refunds_fen, row.refunded_orders) == (25600, 2800, 1)


def test_an_older_order_found_later_takes_new_customer_from_the_day_that_had_it(shop):
    actor, store, a1 = shop["actor"], shop["stores"][0], shop["customers"][0]
    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[6])
    dashboard_rebuild()

    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[0])
    result = dashboard_refresh()

    assert result.days == (date(2025, 3, 9), date(2025, 3, 14))
    new = dict(DashboardSales.objects.values_list("day", "new_customers"))
    assert new == {date(2025, 3, 9): 1, date(2025, 3, 14): 0}


def test_a_customer_given_to_a_colleague_takes_all_their_days_with_them(shop, sales_b):
    actor, store, a1 = shop["actor"], shop["stores"][0], shop["customers"][0]
    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[0])
    make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[6])
    dashboard_rebuild()

    customer_transfer(customer=Customer.objects.get(pk=a1.pk), to_user=sales_b, actor=actor)
    result = dashboard_refresh()

    assert result.days == (date(2025, 3, 9), date(2025, 3, 14))
    assert set(DashboardSales.objects.values_list("owner_id", flat=True)) == {sales_b.pk}
    assert stored() == live()


def test_cancelling_an_unpaid_order_changes_no_sales(shop):
    actor, store, a1 = shop["actor"], shop["stores"][0], shop["customers"][0]
    pending = make_order(
        actor=actor, customer=a1, store=store, ordered_at=MOMENTS[3], status=OrderStatus.PENDING
    )
    dashboard_rebuild()

    order_cancel(actor=actor, order=pending)
    result = dashboard_refresh()

    assert result.days == () and not DashboardSales.objects.exists()


def test_nothing_new_is_nothing_to_do(shop):
    make_order(actor=shop["actor"], customer=shop["customers"][0], store=shop["stores"][0])
    dashboard_rebuild()

    assert dashboard_refresh() == type(dashboard_refresh())()


def test_a_page_sized_refresh_leaves_many_days_to_a_bigger_one(shop, sales_b):
    actor, store, a1 = shop["actor"], shop["stores"][0], shop["customers"][0]
    for moment in MOMENTS:
        make_order(actor=actor, customer=a1, store=store, ordered_at=moment)
    dashboard_rebuild()
    customer_transfer(customer=Customer.objects.get(pk=a1.pk), to_user=sales_b, actor=actor)

    deferred = dashboard_refresh(max_days=2)
    assert deferred.deferred and len(deferred.days) == 4
    assert set(DashboardSales.objects.values_list("owner_id", flat=True)) == {shop["staff"][0].pk}

    assert not dashboard_refresh().deferred
    assert set(DashboardSales.objects.values_list("owner_id", flat=True)) == {sales_b.pk}


def test_tables_never_built_or_built_for_another_zone_need_a_rebuild(shop, settings):
    assert dashboard_refresh().needs_rebuild
    dashboard_rebuild()
    assert not dashboard_refresh().needs_rebuild

    settings.TIME_ZONE = "Europe/Berlin"

    assert dashboard_refresh().needs_rebuild


def test_an_order_import_undone_needs_a_rebuild_its_deleted_orders_days_are_unknown(owner, shop):
    from kebu.transfer.imports import import_undo
    from kebu.transfer.tests.test_orders_import import TAOBAO, run_import

    store = shop["stores"][0]
    store.platform = "taobao"
    store.save()
    run = run_import(owner, TAOBAO, store=store)
    dashboard_rebuild()
    assert DashboardSales.objects.exists() and DashboardBuyersMonth.objects.exists()
    assert DashboardProductSalesMonth.objects.exists()

    import_undo(actor=owner, run=run)

    assert dashboard_refresh().needs_rebuild
    dashboard_rebuild()
    assert not DashboardSales.objects.exists() and not DashboardBuyersMonth.objects.exists()
    assert not DashboardProductSalesMonth.objects.exists()


def test_days_follow_the_shops_clock_across_summer_time(owner, catalogue, settings):
    settings.TIME_ZONE = "America/New_York"
    zone = ZoneInfo("America/New_York")
    buyer = make_customer(actor=owner, name="Ann")
    # Around midnight before and after the clocks went forward (9 March) and back (2 November).
    for moment in (
        datetime(2025, 3, 8, 23, 30, tzinfo=zone),
        datetime(2025, 3, 9, 0, 30, tzinfo=zone),
        datetime(2025, 3, 9, 23, 30, tzinfo=zone),
        datetime(2025, 3, 10, 0, 30, tzinfo=zone),
        datetime(2025, 11, 1, 23, 30, tzinfo=zone),
        datetime(2025, 11, 2, 0, 30, tzinfo=zone),
        datetime(2025, 11, 2, 23, 30, tzinfo=zone),
        datetime(2025, 11, 3, 0, 30, tzinfo=zone),
    ):
        make_order(actor=owner, customer=buyer, store=catalogue.store, ordered_at=moment)

    dashboard_rebuild()

    assert stored() == live()
    days = sorted(DashboardSales.objects.values_list("day", flat=True))
    spring = [date(2025, 3, 8), date(2025, 3, 9), date(2025, 3, 10)]
    autumn = [date(2025, 11, 1), date(2025, 11, 2), date(2025, 11, 3)]
    assert days == [*spring, *autumn]


def test_the_nightly_run_rebuilds_and_keeps_what_it_wrote(shop):
    make_order(actor=shop["actor"], customer=shop["customers"][0], store=shop["stores"][0])

    run = insight_compute(kind=InsightKind.DASHBOARD)

    assert run.status == RunStatus.DONE and run.result["rows"] == 1 and run.result["buyer_sets"] == 1
    assert stored() == live()


def test_an_empty_shop_rebuilds_to_empty_tables(owner):
    dashboard_rebuild()

    assert not DashboardSales.objects.exists() and not DashboardBuyers.objects.exists()
    assert dashboard_refresh() == type(dashboard_refresh())()


def test_refunded_in_full_still_counts_as_an_order_with_nothing_left(shop):
    actor, store, a1 = shop["actor"], shop["stores"][0], shop["customers"][0]
    order = make_order(actor=actor, customer=a1, store=store, ordered_at=MOMENTS[3])
    order_refund(actor=actor, order=order, amount_cny="199.00", reason="other")

    dashboard_rebuild()

    row = DashboardSales.objects.get()
    assert (row.orders, row.gross_fen, row.refunds_fen, row.refunded_orders) == (1, 19900, 19900, 1)
    assert Order.objects.get(pk=order.pk).status == OrderStatus.CLOSED


def test_a_buyers_set_is_stored_column_by_column_with_who_and_whether_again_first():
    entries = np.array([(3, 12_800, 1, 1), (7, -500, 2, 0), (9, 99_900, 3, 1)], dtype=BUYER)

    blob = buyers_bytes(entries)

    # A reader of the comparison period takes the first five bytes of each entry: ids, then flags
    # (1: the customer's first order is among these, 2: another order is too).
    assert len(blob) == 15 * 3
    assert np.frombuffer(blob[:12], "<u4").tolist() == [3, 7, 9]
    assert list(blob[12:15]) == [1, 2, 3]
    assert buyers_read(blob).tolist() == entries.tolist()
