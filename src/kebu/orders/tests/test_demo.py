"""The order demo writes what the services would have written: amounts that add up, refunds within what
was paid, credit settled oldest first, addresses encrypted as the model encrypts them, nothing in the
future, and customers' figures equal to a rebuild from the orders."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from kebu.customers.demo import demo_customers_load
from kebu.customers.models import Address, Customer, CustomerType
from kebu.orders import demo
from kebu.orders.demo import DEMO_STORES, demo_orders_load
from kebu.orders.models import (
    COUNTED_STATUSES,
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleStatus,
    CreditPayment,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Store,
)
from kebu.orders.services.aftersales import fen_shares, line_refund_bases
from kebu.orders.services.metrics import figures_recompute
from kebu.orders.services.orders import LineInput, OrderInput, order_create

CUSTOMERS, ORDERS = 200, 2000
ORDER_TIMES = ("ordered_at", "paid_at", "shipped_at", "delivered_at", "completed_at", "cancelled_at")
ORDER_TIMES += ("closed_at", "created_at", "updated_at")


def _load(*, seed: int = 3, wholesalers: int = 0, **kwargs) -> demo.DemoOrdersResult:
    """Demo customers, some of them made wholesalers (a quarter of whom buy on credit), then orders."""
    demo_customers_load(count=CUSTOMERS, seed=seed)
    if wholesalers:
        picked = Customer.objects.filter(stage__in=["repeat", "member", "vip"]).order_by("pk")[:wholesalers]
        Customer.objects.filter(pk__in=list(picked.values_list("pk", flat=True))).update(
            customer_type=CustomerType.WHOLESALER
        )
    return demo_orders_load(count=ORDERS, seed=seed, **kwargs)


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


@pytest.mark.django_db
def test_the_figures_of_demo_customers_equal_a_rebuild_from_their_orders():
    # given
    result = _load()

    # when
    check = figures_recompute()

    # then
    assert result.orders == ORDERS == Order.objects.count()
    assert (check.customers_changed, check.top_category_changed) == (0, 0)
    assert (
        Customer.objects.aggregate(n=Sum("order_count"))["n"]
        == Order.objects.filter(status__in=COUNTED_STATUSES).count()
    )
    # Each line carries its order's customer and whether it counts, as the services write them.
    counted = Q(order__status__in=COUNTED_STATUSES)
    assert not OrderLine.objects.exclude(customer=F("order__customer")).exists()
    assert not OrderLine.objects.filter(counted & Q(counted=False) | ~counted & Q(counted=True)).exists()
    assert (
        OrderLine.objects.filter(counted=True).exists() and OrderLine.objects.filter(counted=False).exists()
    )


@pytest.mark.django_db
def test_an_order_made_by_the_service_on_demo_data_keeps_the_figures_equal_to_a_rebuild(owner):
    """Incremental (the service) and full (the rebuild) agree on top of the demo's rows."""
    _load()
    customer = Customer.objects.filter(order_count__gt=2).order_by("pk").first()
    store = Store.objects.get(name=DEMO_STORES[0][0])
    code = OrderLine.objects.filter(order__customer=customer).values_list("sku_code", flat=True).first()

    order_create(
        actor=owner,
        data=OrderInput(
            customer=customer, store=store, lines=[LineInput(sku_code=code, quantity=2)], status="paid"
        ),
    )

    assert figures_recompute().customers_changed == 0


@pytest.mark.django_db
def test_the_rebuild_empties_the_figures_of_a_customer_whose_orders_were_deleted():
    # given a demo customer with orders, figures and a top category, whose orders then go
    _load()
    customer = Customer.objects.filter(order_count__gt=1, top_category__isnull=False).order_by("pk").first()
    others = dict(Customer.objects.exclude(pk=customer.pk).values_list("pk", "total_spent_cny"))
    orders = Order.objects.filter(customer=customer)
    AfterSaleLine.objects.filter(aftersale__order__in=orders).delete()
    AfterSale.objects.filter(order__in=orders).delete()
    OrderLine.objects.filter(order__in=orders).delete()
    orders.delete()

    # when
    result = figures_recompute()

    # then only they change, back to nothing
    assert (result.customers_changed, result.top_category_changed) == (1, 1)
    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent_cny, customer.top_category_id) == (0, 0, None)
    assert (customer.first_order_at, customer.avg_order_cny, customer.refund_rate) == (None, None, None)
    assert dict(Customer.objects.exclude(pk=customer.pk).values_list("pk", "total_spent_cny")) == others


@pytest.mark.django_db
def test_no_demo_order_happens_in_the_future_and_times_are_whole_seconds():
    before = timezone.now()
    _load(wholesalers=40)

    moments: list[datetime] = []
    for row in Order.objects.values_list(*ORDER_TIMES):
        moments.extend(t for t in row if t is not None)
    moments.extend(AfterSale.objects.values_list("requested_at", flat=True))
    moments.extend(AfterSale.objects.values_list("resolved_at", flat=True))
    moments.extend(CreditPayment.objects.values_list("received_at", flat=True))
    assert max(moments) <= before + (timezone.now() - before)
    assert all(t.microsecond == 0 for t in moments)
    for order in Order.objects.all():
        assert order.ordered_at <= (order.paid_at or order.ordered_at) <= order.updated_at
        if order.shipped_at:
            assert order.paid_at <= order.shipped_at <= (order.delivered_at or order.shipped_at)


@pytest.mark.django_db
def test_the_demo_spreads_orders_over_three_years_up_to_now():
    now = timezone.now()
    _load()

    first = Order.objects.order_by("ordered_at").values_list("ordered_at", flat=True).first()
    recent = Order.objects.filter(ordered_at__gte=now - timezone.timedelta(days=30)).count()
    assert (now - first).days > 2 * 365
    assert recent > 0
    assert Order.objects.filter(status__in=[OrderStatus.PAID, OrderStatus.SHIPPED]).exists()
    assert Order.objects.filter(status=OrderStatus.COMPLETED).count() > ORDERS // 2


@pytest.mark.django_db
def test_lines_add_up_to_goods_and_goods_to_the_amount_due():
    _load(wholesalers=40)

    lines = defaultdict(Decimal)
    for line in OrderLine.objects.all():
        assert line.amount_cny == line.quantity * line.unit_price_cny - line.discount_cny
        assert line.quantity >= 1 and line.amount_cny >= 0
        lines[line.order_id] += line.amount_cny
    for order in Order.objects.all():
        assert 1 <= OrderLine.objects.filter(order=order).count() <= 4
        assert order.goods_cny == lines[order.pk]
        assert order.total_cny == order.goods_cny - order.discount_cny - order.coupon_cny + order.shipping_cny
        if order.status in COUNTED_STATUSES:
            assert order.paid_cny == order.total_cny and order.paid_at is not None
        else:
            assert order.paid_cny == 0 and order.payment_method == ""
    assert OrderLine.objects.count() < 2 * ORDERS  # mostly one or two lines


@pytest.mark.django_db
def test_refunds_are_completed_within_what_was_paid_and_close_orders_refunded_in_full():
    _load()

    refunds = {
        row["order"]: row["amount"]
        for row in AfterSale.objects.values("order").annotate(amount=Sum("amount_cny"))
    }
    assert set(AfterSale.objects.values_list("status", flat=True)) == {AfterSaleStatus.COMPLETED}
    for order in Order.objects.all():
        refunded = _money(refunds.get(order.pk))
        assert order.refunded_cny == order.refund_reserved_cny == refunded
        assert refunded <= order.paid_cny
        assert (order.status == OrderStatus.CLOSED) == (refunded > 0 and refunded == order.paid_cny)
        if order.status == OrderStatus.CLOSED:
            assert order.closed_at is not None
    per_line = AfterSaleLine.objects.values("line").annotate(
        amount=Sum("amount_cny"), quantity=Sum("quantity")
    )
    returned = AfterSaleLine.objects.filter(aftersale__kind=AfterSaleKind.RETURN).values("line")
    returned_quantities = dict(returned.annotate(q=Sum("quantity")).values_list("line", "q"))
    line_refunds = {row["line"]: _money(row["amount"]) for row in per_line}
    # A refund naming no line (退差价) is shared by the order's lines, as the service shares it.
    unlined = AfterSale.objects.filter(lines__isnull=True).values_list("order", "amount_cny")
    assert unlined, "the demo has price-drop refunds"
    for order_id, amount in unlined:
        lines = list(OrderLine.objects.filter(order=order_id).order_by("position"))
        fen = [int(line.amount_cny * 100) for line in lines]
        for line, share in zip(lines, fen_shares(min(int(amount * 100), sum(fen)), fen), strict=True):
            line_refunds[line.pk] = line_refunds.get(line.pk, _money(None)) + Decimal(share).scaleb(-2)
    for line in OrderLine.objects.all():
        assert line.refunded_cny == line_refunds.get(line.pk, _money(None))
        assert line.refunded_cny <= line.amount_cny
        assert line.returned_quantity == returned_quantities.get(line.pk, 0)
    for aftersale in AfterSale.objects.annotate(lines_total=Sum("lines__amount_cny")):
        assert _money(aftersale.lines_total) <= aftersale.amount_cny
        assert aftersale.customer_id == aftersale.order.customer_id
        assert aftersale.order.paid_at <= aftersale.requested_at <= aftersale.resolved_at


@pytest.mark.django_db
def test_a_returns_lines_give_back_their_units_share_of_what_was_paid_as_the_services_default_does():
    _load()

    items = AfterSaleLine.objects.filter(aftersale__kind=AfterSaleKind.RETURN).select_related("line")
    assert items, "the demo has returns"
    for item in items:
        # the order's one after-sale: its units are the line's first priced
        basis = line_refund_bases(Order.objects.get(pk=item.line.order_id))[item.line_id]
        first = replace(basis, priced=0, left_cny=item.line.amount_cny)
        assert item.amount_cny == first.default(item.quantity), item.line.order_id


@pytest.mark.django_db
def test_about_five_percent_of_orders_are_refunded():
    _load()

    refunded = Order.objects.filter(refunded_cny__gt=0).count()
    assert 0.03 * ORDERS <= refunded <= 0.07 * ORDERS
    assert Order.objects.filter(status=OrderStatus.CLOSED).exists()
    assert Order.objects.filter(refunded_cny__gt=0).exclude(status=OrderStatus.CLOSED).exists()


@pytest.mark.django_db
def test_the_shipping_address_is_the_customers_default_address_encrypted_as_the_model_does():
    _load()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT receiver_phone, ship_address, buyer_message FROM orders_order "
            "WHERE ship_address <> '' OR receiver_phone <> '' OR buyer_message <> ''"
        )
        raw = cursor.fetchall()
    assert raw
    for values in raw:
        assert all(v == "" or v.startswith("kebu1$") for v in values)
        assert not any("路" in v or v.startswith("+86") for v in values)
    defaults = {a.customer_id: a for a in Address.objects.filter(is_default=True)}
    checked = 0
    for order in Order.objects.select_related("customer")[:300]:
        address = defaults.get(order.customer_id)
        if address is None:
            assert order.ship_address == ""
            continue
        assert order.receiver_name == (address.receiver or order.customer.name)
        assert (order.receiver_phone, order.ship_address) == (address.receiver_phone, address.detail)
        assert (order.ship_province, order.ship_city, order.ship_district) == (
            address.province,
            address.city,
            address.district,
        )
        checked += 1
    assert checked > 100


@pytest.mark.django_db
def test_credit_customers_owe_their_latest_debts_within_their_limit():
    _load(wholesalers=60)

    credit = Order.objects.filter(payment_method=PaymentMethod.CREDIT)
    assert credit.exists()
    assert credit.filter(credit_outstanding_cny__gt=0).exists()
    today = timezone.localdate()
    for customer in Customer.objects.filter(pk__in=credit.values("customer")):
        debts = list(credit.filter(customer=customer).order_by("credit_due_date", "id"))
        owed = [o for o in debts if o.credit_outstanding_cny > 0]
        # Payments settle the oldest debts first: what is owed is the tail.
        assert debts[len(debts) - len(owed) :] == owed
        assert all(o.credit_outstanding_cny == o.paid_cny for o in owed)
        assert all(
            o.credit_due_date
            == timezone.localdate(o.paid_at) + timezone.timedelta(days=customer.payment_terms_days)
            for o in debts
        )
        paid_in = CreditPayment.objects.filter(customer=customer).aggregate(s=Sum("amount_cny"))["s"] or 0
        assert paid_in == sum(o.paid_cny for o in debts) - sum(o.credit_outstanding_cny for o in owed)
        assert customer.receivable_cny == sum(o.credit_outstanding_cny for o in owed)
        assert customer.credit_limit_cny is not None and customer.receivable_cny <= customer.credit_limit_cny
    overdue = credit.filter(credit_outstanding_cny__gt=0, credit_due_date__lt=today)
    assert overdue.exists()


@pytest.mark.django_db
def test_a_few_customers_place_most_orders_and_leads_place_none():
    _load()

    spent = sorted(
        Customer.objects.filter(order_count__gt=0).values_list("total_spent_cny", flat=True), reverse=True
    )
    top = spent[: len(spent) // 5]
    assert sum(top) > Decimal("0.5") * sum(spent)
    ordered = Customer.objects.annotate(n=Count("orders")).filter(n__gt=0)
    assert not ordered.filter(stage="lead").exists()
    per_store = dict(Order.objects.values_list("store__name").annotate(n=Count("id")))
    assert set(per_store) == {name for name, _platform in DEMO_STORES}


@pytest.mark.django_db
def test_the_same_customers_seed_and_time_give_the_same_orders_whatever_the_batch_size():
    now = timezone.now()
    demo_customers_load(count=80, seed=21)

    def profile() -> list[tuple]:
        orders = Order.objects.order_by("ordered_at", "customer_id", "store__name").values_list(
            "customer_id", "store__name", "status", "ordered_at", "paid_at", "total_cny", "refunded_cny"
        )
        lines = OrderLine.objects.order_by("order__ordered_at", "order__customer_id", "position")
        return [*orders, *lines.values_list("sku_code", "quantity", "amount_cny")]

    stages = dict(Customer.objects.values_list("pk", "stage"))

    def clear() -> None:
        """Back to the customers as they were: the rebuild after a load moved some up the ladder."""
        for pk, stage in stages.items():
            Customer.objects.filter(pk=pk).update(stage=stage)
        AfterSaleLine.objects.all().delete()
        AfterSale.objects.all().delete()
        OrderLine.objects.all().delete()
        CreditPayment.objects.all().delete()
        Order.objects.all().delete()

    demo_orders_load(count=600, seed=4, now=now, batch_size=97)
    first = profile()
    clear()
    demo_orders_load(count=600, seed=4, now=now, batch_size=600)
    again = profile()
    clear()
    demo_orders_load(count=600, seed=5, now=now)
    other = profile()

    assert first == again
    assert first != other


@pytest.mark.django_db
def test_loading_twice_appends_and_the_catalogue_and_stores_are_made_once():
    _load()
    stores, skus = Store.objects.count(), OrderLine.objects.values("sku").distinct().count()

    demo_orders_load(count=300, seed=9)

    assert Order.objects.count() == ORDERS + 300
    assert Store.objects.count() == stores
    assert OrderLine.objects.values("sku").distinct().count() >= skus
    assert figures_recompute().customers_changed == 0


@pytest.mark.django_db
def test_the_demo_command_loads_customers_then_orders():
    call_command("demo", customers=60, orders=400, seed=2)

    assert Customer.objects.count() == 60
    assert Order.objects.count() == 400
    assert Customer.objects.filter(order_count__gt=0).exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the bulk path is SQLite's")
@pytest.mark.django_db(transaction=True)
def test_the_bulk_path_writes_consistent_orders_and_puts_every_index_back(monkeypatch):
    def indexes() -> list[tuple[str, str]]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name")
            return cursor.fetchall()

    demo_customers_load(count=CUSTOMERS, seed=3)
    before = indexes()
    monkeypatch.setattr(demo, "BULK_PATH_FROM", 10)

    result = demo_orders_load(count=ORDERS, seed=3, batch_size=333)

    assert result.orders == Order.objects.count() == ORDERS
    assert indexes() == before
    with connection.cursor() as cursor:
        assert cursor.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        # Enforcement was off during the load: every reference it wrote must hold.
        assert cursor.execute("PRAGMA foreign_key_check").fetchall() == []
    assert figures_recompute().customers_changed == 0
    assert not Order.objects.filter(~Q(status__in=COUNTED_STATUSES), paid_cny__gt=0).exists()
