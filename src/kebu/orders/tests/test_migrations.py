"""A shop that had orders before the lines carried their customer: migrating fills the copy in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from kebu.core.tests.migrations import migrate, migrate_to_latest
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import OrderLine
from kebu.orders.services.metrics import figures_recompute

BEFORE = [("orders", "0004_figures_indexes")]


@pytest.fixture(autouse=True)
def _latest_schema_afterwards():
    """Later tests need today's tables, whatever migration a test stopped at."""
    yield
    migrate_to_latest()


@pytest.mark.django_db(transaction=True)
def test_each_line_gets_its_orders_customer_and_whether_it_counts(owner):
    paying, waiting = make_customer(actor=owner, name="王芳"), make_customer(actor=owner, name="李雷")
    apps = migrate(BEFORE)
    Store, Order, Line = (apps.get_model("orders", m) for m in ("Store", "Order", "OrderLine"))
    store = Store.objects.create(name="老店", platform="offline")
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)
    made = {}
    for customer, status, number in ((paying, "completed", "A1"), (waiting, "pending", "A2")):
        order = Order.objects.create(
            order_no=number, store=store, customer_id=customer.pk, status=status, ordered_at=at,
            goods_cny=30, total_cny=30, **({"paid_cny": 30, "paid_at": at} if status == "completed" else {}),
        )  # fmt: skip
        for position in range(2):
            Line.objects.create(
                order=order, title="茶", quantity=1, unit_price_cny=15, amount_cny=15, position=position
            )
        made[number] = order.pk

    migrate([("orders", "0006_line_customer_required")])

    lines = {(line.order_id, line.customer_id, line.counted) for line in OrderLine.objects.all()}
    assert lines == {(made["A1"], paying.pk, True), (made["A2"], waiting.pk, False)}
    assert OrderLine.objects.count() == 4
    figures_recompute()
    paying.refresh_from_db()
    assert (paying.order_count, paying.total_spent_cny) == (1, 30)


def _single_column_indexes(table):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return sorted(
        info["columns"][0]
        for info in constraints.values()
        if info["index"] and not info["unique"] and not info["primary_key"] and len(info["columns"]) == 1
    )


@pytest.mark.django_db(transaction=True)
def test_the_keys_other_indexes_lead_with_have_no_index_of_their_own_and_going_back_restores_them():
    assert "customer_id" not in _single_column_indexes("orders_order")
    assert "store_id" not in _single_column_indexes("orders_order")
    assert _single_column_indexes("orders_orderline").count("sku_id") == 1

    migrate([("orders", "0006_line_customer_required")])

    assert {"customer_id", "store_id"} <= set(_single_column_indexes("orders_order"))
    assert _single_column_indexes("orders_orderline").count("sku_id") == 2


@pytest.mark.django_db(transaction=True)
def test_order_numbers_imported_as_excel_text_formulas_become_the_numbers_themselves(owner):
    buyer = make_customer(actor=owner, name="王芳")
    apps = migrate([("orders", "0010_store_roles")])
    Store, Order = apps.get_model("orders", "Store"), apps.get_model("orders", "Order")
    store = Store.objects.create(name="淘宝店", platform="taobao")
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)

    def order(number: str, tracking: str = "") -> int:
        return Order.objects.create(
            order_no=number, tracking_no=tracking, store=store, customer_id=buyer.pk, status="pending",
            ordered_at=at, goods_cny=30, total_cny=30,
        ).pk  # fmt: skip

    marked = order('="3871234567890123456"', tracking='="SF1234"')
    twice = order('="3871234567890123457"')
    order("3871234567890123457")  # the same order imported once each way: its number is taken
    plain = order("A1", tracking="=SUM(1)")

    migrate([("orders", "0011_order_numbers_as_excel_shows_them")])

    Order = apps.get_model("orders", "Order")
    numbers = dict(Order.objects.values_list("pk", "order_no"))
    assert numbers[marked] == "3871234567890123456"
    assert numbers[twice] == '="3871234567890123457"'  # two orders must not share one number
    assert numbers[plain] == "A1"
    tracking = dict(Order.objects.values_list("pk", "tracking_no"))
    assert (tracking[marked], tracking[plain]) == ("SF1234", "=SUM(1)")


@pytest.mark.django_db(transaction=True)
def test_products_made_before_they_had_a_version_start_at_one_and_going_back_drops_it():
    apps = migrate([("orders", "0012_aftersale_replacement")])
    Product = apps.get_model("orders", "Product")
    made = Product.objects.create(name="明前龙井").pk

    apps = migrate([("orders", "0013_product_version")])

    assert apps.get_model("orders", "Product").objects.get(pk=made).version == 1
    migrate([("orders", "0012_aftersale_replacement")])
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, "orders_product")]
    assert "version" not in columns and "name" in columns


@pytest.mark.django_db(transaction=True)
def test_orders_on_credit_from_before_had_all_of_it_taken_on_credit(owner):
    buyer = make_customer(actor=owner, name="义乌批发")
    apps = migrate([("orders", "0013_product_version")])
    Store, Order = apps.get_model("orders", "Store"), apps.get_model("orders", "Order")
    store = Store.objects.create(name="批发部", platform="offline")
    at = datetime(2026, 5, 1, 10, tzinfo=UTC)

    def order(number: str, method: str, owed: int) -> int:
        return Order.objects.create(
            order_no=number, store=store, customer_id=buyer.pk, status="paid", ordered_at=at, paid_at=at,
            goods_cny=300, total_cny=300, paid_cny=300, payment_method=method, credit_outstanding_cny=owed,
        ).pk  # fmt: skip

    part_settled, cash = order("C1", "credit", 120), order("W1", "wechat", 0)

    apps = migrate([("orders", "0014_order_credit_taken")])

    taken = dict(apps.get_model("orders", "Order").objects.values_list("pk", "credit_taken_cny"))
    assert (taken[part_settled], taken[cash]) == (300, 0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite copies a table to change it")
def test_adding_what_was_taken_on_credit_copies_the_order_table_once():
    migrate([("orders", "0013_product_version")])
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        migrate([("orders", "0014_order_credit_taken")])

    # one copy, for the constraint: a shop's ten million orders are not copied twice
    assert sum(s.startswith('CREATE TABLE "new__orders_order"') for s in statements) == 1
