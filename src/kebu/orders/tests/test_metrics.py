"""The figures kept order by order equal the figures rebuilt from scratch, whatever happened in between;
and the lifecycle stage moves up by the shop's rules."""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kebu.audit.models import AuditEntry
from kebu.core.errors import KebuError
from kebu.core.models import ShopSettings
from kebu.customers.models import Customer, CustomerEvent, Stage
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import COUNTED_STATUSES, AfterSaleKind, CustomerCategorySpend, Order, OrderStatus
from kebu.orders.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_cancel,
    aftersale_complete,
    aftersale_receive,
    aftersale_reject,
    aftersale_request,
    order_refund,
)
from kebu.orders.services.credit import credit_payment_record, customer_credit_set
from kebu.orders.services.metrics import FIGURE_FIELDS, customers_churn_mark, figures_recompute
from kebu.orders.services.orders import LineInput, OrderInput, order_cancel, order_create, order_pay
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SKUS = ["CREAM-50", "TONER-100", "TEA-250", ""]  # "" is a free-text line without a category
PRICES = ["0.00", "0.01", "9.90", "33.33", "99.99", "128.00", "1999.99"]
PAID_NOW = [None, None, "0.01", "50.00", "1999.99"]


def _figures() -> dict[int, tuple]:
    rows = Customer.objects.order_by("pk").values_list("pk", *FIGURE_FIELDS)
    return {row[0]: row[1:] for row in rows}


def _category_spend() -> set[tuple]:
    return set(CustomerCategorySpend.objects.values_list("customer_id", "category_id", "spent_cny"))


def _scramble() -> None:
    """Wrong figures everywhere (the stage aside: a rebuild only moves stages up, see below)."""
    Customer.objects.update(
        total_spent_cny=Decimal("123.45"),
        order_count=7,
        avg_order_cny=Decimal("1.00"),
        first_order_at=None,
        last_order_at=timezone.now(),
        purchase_interval_days=Decimal("3.3"),
        refund_count=5,
        refund_rate=None,
        top_category=None,
        receivable_cny=Decimal("9.99"),
    )
    CustomerCategorySpend.objects.update(spent_cny=Decimal("-1"))


def _step(draw, *, actor, store, customers, orders) -> None:
    """One thing a shop does, drawn at random; a refused one must leave everything as it was."""
    op = draw(
        st.sampled_from(
            ["create", "create", "pay", "cancel", "refund", "line_refund", "exchange", "reject", "repay"]
        )
    )
    now = timezone.now()
    if op == "create" or not orders:
        lines = [
            LineInput(
                sku_code=sku,
                title="" if sku else "手写商品",
                quantity=draw(st.integers(1, 3)),
                unit_price_cny=draw(st.sampled_from([*PRICES, None]))
                if sku
                else draw(st.sampled_from(PRICES)),
                discount_cny=draw(st.sampled_from(["0", "0.01", "5.00"])),
            )
            for sku in draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3))
        ]
        customer = draw(st.sampled_from(customers))
        status = draw(st.sampled_from([OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.COMPLETED]))
        method = (
            draw(st.sampled_from(["alipay", "wechat", "credit"])) if status != OrderStatus.PENDING else ""
        )
        data = OrderInput(
            customer=customer,
            store=store,
            lines=lines,
            status=status,
            payment_method=method,
            ordered_at=now - timedelta(days=draw(st.integers(0, 900)), seconds=draw(st.integers(0, 86399))),
            shipping_cny=draw(st.sampled_from(["0", "8.00"])),
            # Order-level discounts spread over the lines' default refunds (aftersales.line_refund_bases).
            discount_cny=draw(st.sampled_from(["0", "0", "3.33", "10.00"])),
            coupon_cny=draw(st.sampled_from(["0", "0", "5.00"])),
            # On credit, part paid at the counter and the rest owed (more than the order: refused).
            paid_now_cny=draw(st.sampled_from(PAID_NOW)) if method == "credit" else None,
        )
        orders.append(order_create(actor=actor, data=data, allow_over_credit_limit=True))
        return
    order = Order.objects.get(pk=draw(st.sampled_from(orders)).pk)
    if op == "pay":
        method = draw(st.sampled_from(["alipay", "credit"]))
        order_pay(
            actor=actor,
            order=order,
            payment_method=method,
            paid_now_cny=draw(st.sampled_from(PAID_NOW)) if method == "credit" else None,
            allow_over_credit_limit=True,
        )
    elif op == "cancel":
        order_cancel(actor=actor, order=order)
    elif op == "refund":
        left = order.paid_cny - order.refund_reserved_cny
        amount = draw(
            st.sampled_from([left, (left / 3).quantize(Decimal("0.01")), Decimal("0.01"), left + 1])
        )
        order_refund(actor=actor, order=order, amount_cny=amount, reason="other")
    elif op == "line_refund":  # left to its default: the units' share of what was paid
        line = draw(st.sampled_from(list(order.lines.all())))
        order_refund(
            actor=actor,
            order=order,
            amount_cny=None,
            reason="quality",
            lines=[AfterSaleLineInput(line.pk, draw(st.integers(1, line.quantity)))],
            returned=draw(st.booleans()),
        )
    elif op == "exchange":  # moves no money; completed, its units may come back again
        line = draw(st.sampled_from(list(order.lines.all())))
        aftersale = aftersale_request(
            actor=actor,
            order=order,
            kind=AfterSaleKind.EXCHANGE,
            reason="size",
            lines=[AfterSaleLineInput(line.pk, draw(st.integers(1, line.quantity)))],
        )
        for step in (aftersale_approve, aftersale_receive, aftersale_complete)[: draw(st.integers(0, 3))]:
            aftersale = step(actor=actor, aftersale=aftersale)
    elif op == "reject":
        aftersale = aftersale_request(
            actor=actor, order=order, kind=AfterSaleKind.REFUND, reason="price", amount_cny="0.01"
        )
        if draw(st.booleans()):
            aftersale_reject(actor=actor, aftersale=aftersale, resolution_note="超过售后期")
        else:
            aftersale_cancel(actor=actor, aftersale=aftersale)
    else:  # a credit customer pays part of what they owe
        customer = Customer.objects.get(pk=order.customer_id)
        if customer.receivable_cny > 0:
            share = draw(
                st.sampled_from([customer.receivable_cny, Decimal("0.01"), customer.receivable_cny / 2])
            )
            credit_payment_record(
                actor=actor, customer=customer, amount_cny=share.quantize(Decimal("0.01")), method="cash"
            )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_incremental_figures_equal_a_full_recompute_after_any_sequence(data, owner, catalogue):
    customers = [make_customer(actor=owner, name=f"顾客{i}") for i in range(3)]
    customer_credit_set(actor=owner, customer=customers[0], credit_limit_cny="100.00", payment_terms_days=15)
    orders: list[Order] = []
    for _ in range(data.draw(st.integers(1, 14))):
        # A refused step wrote nothing, which the comparison below also checks.
        with contextlib.suppress(KebuError):
            _step(data.draw, actor=owner, store=catalogue.store, customers=customers, orders=orders)
    kept, kept_spend = _figures(), _category_spend()

    _scramble()
    figures_recompute(actor=owner)

    assert _figures() == kept
    assert _category_spend() == kept_spend
    for order in Order.objects.prefetch_related("lines", "aftersales"):
        completed = [a for a in order.aftersales.all() if a.status == "completed"]
        assert order.refunded_cny == sum((a.amount_cny for a in completed), Decimal("0"))
        assert order.refunded_cny <= order.refund_reserved_cny <= order.paid_cny
        # What is owed never passes what went on credit, nor that what the order counts as paid.
        assert 0 <= order.credit_outstanding_cny <= order.credit_taken_cny <= order.paid_cny
        assert order.on_credit or order.credit_taken_cny == 0
        # A line never gives back more than it cost, however refunds with and without lines mix.
        assert all(0 <= line.refunded_cny <= line.amount_cny for line in order.lines.all())
        assert sum(line.refunded_cny for line in order.lines.all()) <= order.refunded_cny
        # Only the units of completed returns are out of the quantities sold: never an exchange's.
        returns = [a for a in completed if a.kind == AfterSaleKind.RETURN]
        back = {line.pk: 0 for line in order.lines.all()}
        for item in (item for a in returns for item in a.lines.all()):
            back[item.line_id] += item.quantity
        assert {line.pk: line.returned_quantity for line in order.lines.all()} == back
        # What the spend rebuild reads: each line's copy of its order's customer and counting.
        assert {(line.customer_id, line.counted) for line in order.lines.all()} == {
            (order.customer_id, order.status in COUNTED_STATUSES)
        }


def test_a_recompute_of_a_shop_in_order_writes_nothing_and_is_audited(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    make_order(actor=owner, customer=buyer, store=catalogue.store)

    result = figures_recompute(actor=owner)

    assert (result.customers_changed, result.top_category_changed) == (0, 0)
    entry = AuditEntry.objects.get(action="metrics.recompute")
    assert entry.data == {"customers_changed": 0, "top_category_changed": 0}


def test_a_rebuild_reads_its_figures_from_the_narrow_indexes_not_the_rows(owner, catalogue):
    """At 10M orders the order rows are ~10x the size of ``order_figures``, and the spend per category
    grouped off ``line_customer_spend`` takes a fifth of the time that joining lines to orders and
    sorting them did: a rebuild that fell back to the rows (a dropped column, a new figure an index
    lacks) would be several times slower (bench/README). Each customer's top category is the first
    entry of the rebuilt spend's index, not a sort of every spend row."""
    if connection.vendor != "sqlite":
        pytest.skip("EXPLAIN QUERY PLAN is SQLite's; PostgreSQL picks its plan from the table's statistics")
    buyer = make_customer(actor=owner, name="王芳")
    make_order(actor=owner, customer=buyer, store=catalogue.store)
    plans: dict[str, list[str]] = {}

    def explained(execute, sql, params, many, context):
        # Planned as each temporary table is made, while the tables it reads still exist.
        for table in ("kebu_figures_changes", "kebu_spend_rebuilt"):
            if sql.startswith(f"CREATE TEMP TABLE {table} AS "):
                select = sql.removeprefix(f"CREATE TEMP TABLE {table} AS ")
                context["cursor"].execute(f"EXPLAIN QUERY PLAN {select}", params)
                plans[table] = [row[-1] for row in context["cursor"].fetchall()]
        return execute(sql, params, many, context)

    with connection.execute_wrapper(explained):
        figures_recompute(actor=owner)

    figures = plans["kebu_figures_changes"]
    assert any("USING COVERING INDEX order_figures" in step for step in figures), figures
    assert any("USING COVERING INDEX kebu_spend_rebuilt_top" in step for step in figures), figures
    assert plans["kebu_spend_rebuilt"] == ["SCAN l USING COVERING INDEX line_customer_spend"], plans


def test_a_rebuild_of_most_customers_sets_the_figure_indexes_aside_and_puts_each_back(
    owner, catalogue, monkeypatch
):
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's bulk path; PostgreSQL updates its indexes as it goes")
    from kebu.orders.services import metrics

    monkeypatch.setattr(metrics, "BULK_INDEX_MIN_ROWS", 2)
    for name in ("王芳", "李四", "赵六"):
        make_order(actor=owner, customer=make_customer(actor=owner, name=name), store=catalogue.store)
    make_customer(actor=owner, name="没下单")  # the update rewrites 3 of 4: past the bulk path's share
    kept = _figures()

    def indexes() -> dict[str, str]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customers_customer'"
            )
            return dict(cursor.fetchall())

    before = indexes()
    _scramble()

    with CaptureQueriesContext(connection) as queries:
        figures_recompute(actor=owner)

    dropped = {q["sql"].split('"')[1] for q in queries if q["sql"].startswith("DROP INDEX")}
    assert {"cust_spent", "cust_last_order", "cust_top_category", "cust_receivable"} <= dropped
    assert not dropped & {"cust_stage", "cust_name", "cust_active_created"}  # their columns are not rewritten
    assert indexes() == before
    assert _figures() == kept


def test_the_command_repairs_figures_that_were_changed_behind_kebus_back(owner, catalogue, capsys):
    buyer = make_customer(actor=owner, name="王芳")
    make_order(actor=owner, customer=buyer, store=catalogue.store, lines=[("TEA-250", 2)])
    Customer.objects.filter(pk=buyer.pk).update(total_spent_cny=0, order_count=0, top_category=None)

    call_command("metrics", "recompute")

    assert "customers whose figures changed: 1; top category changed: 1" in capsys.readouterr().out
    buyer.refresh_from_db()
    assert (buyer.total_spent_cny, buyer.order_count, buyer.top_category) == (
        Decimal("256.00"),
        1,
        catalogue.tea,
    )


def test_a_customer_with_only_unpaid_orders_has_every_stale_figure_cleared(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    make_order(actor=owner, customer=buyer, store=catalogue.store, status=OrderStatus.PENDING)
    Customer.objects.filter(pk=buyer.pk).update(last_order_at=timezone.now(), purchase_interval_days=3)

    result = figures_recompute()

    buyer.refresh_from_db()
    assert (buyer.last_order_at, buyer.purchase_interval_days, buyer.order_count) == (None, None, 0)
    assert result.customers_changed == 1


def test_a_customer_whose_orders_are_gone_is_reset(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    Customer.objects.filter(pk=buyer.pk).update(total_spent_cny=50, order_count=1, avg_order_cny=50)

    figures_recompute()

    buyer.refresh_from_db()
    assert (buyer.total_spent_cny, buyer.order_count, buyer.avg_order_cny) == (0, 0, None)


def test_stages_climb_lead_new_repeat_vip_and_each_step_is_on_the_timeline(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    assert buyer.stage == Stage.LEAD
    seen = []
    for lines in ([("TEA-250", 1)], [("TEA-250", 1)], [("CREAM-50", 25)]):
        make_order(actor=owner, customer=buyer, store=catalogue.store, lines=lines)
        buyer.refresh_from_db()
        seen.append(buyer.stage)

    assert seen == [Stage.NEW, Stage.REPEAT, Stage.VIP]
    events = CustomerEvent.objects.filter(customer=buyer, kind="customer.stage_changed").order_by("id")
    assert [(e.data["from"], e.data["to"]) for e in events] == [
        ("lead", "new"),
        ("new", "repeat"),
        ("repeat", "vip"),
    ]


def test_stages_never_move_down_and_a_hand_set_member_keeps_their_place(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳", stage=Stage.MEMBER)
    order = make_order(actor=owner, customer=buyer, store=catalogue.store, lines=[("CREAM-50", 30)])
    buyer.refresh_from_db()
    assert buyer.stage == Stage.VIP

    order_refund(actor=owner, order=order, amount_cny=order.paid_cny, reason="other")

    buyer.refresh_from_db()
    assert buyer.stage == Stage.VIP
    other = make_customer(actor=owner, name="李雷", stage=Stage.MEMBER)
    make_order(actor=owner, customer=other, store=catalogue.store)
    other.refresh_from_db()
    assert other.stage == Stage.MEMBER  # one order earns "new", below a member


def test_the_shop_adjusts_the_rules_and_can_switch_them_off(owner, catalogue):
    shop = ShopSettings.current()
    shop.stage_repeat_orders, shop.stage_vip_spent_cny = 3, Decimal("300")
    shop.save()
    buyer = make_customer(actor=owner, name="王芳")
    for _ in range(2):
        make_order(actor=owner, customer=buyer, store=catalogue.store, lines=[("TEA-250", 1)])
    buyer.refresh_from_db()
    assert buyer.stage == Stage.NEW  # two orders are not three
    make_order(actor=owner, customer=buyer, store=catalogue.store, lines=[("TEA-250", 1)])
    buyer.refresh_from_db()
    assert buyer.stage == Stage.VIP  # 384.00 passes 300

    shop.stage_auto = False
    shop.save()
    manual = make_customer(actor=owner, name="李雷")
    make_order(actor=owner, customer=manual, store=catalogue.store)
    manual.refresh_from_db()
    assert manual.stage == Stage.LEAD


def test_a_rebuild_moves_stages_up_by_the_current_rules(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    make_order(actor=owner, customer=buyer, store=catalogue.store)
    shop = ShopSettings.current()
    shop.stage_vip_spent_cny = Decimal("100")
    shop.save()

    figures_recompute()

    buyer.refresh_from_db()
    assert buyer.stage == Stage.VIP


def test_customers_without_orders_for_the_churn_days_are_marked_and_come_back_when_they_order(
    owner, catalogue
):
    now = timezone.now()
    gone = make_customer(actor=owner, name="王芳")
    make_order(actor=owner, customer=gone, store=catalogue.store, ordered_at=now - timedelta(days=400))
    recent = make_customer(actor=owner, name="李雷")
    make_order(actor=owner, customer=recent, store=catalogue.store, ordered_at=now - timedelta(days=10))
    never = make_customer(actor=owner, name="韩梅梅")

    assert customers_churn_mark(now=now) == 1
    assert customers_churn_mark(now=now) == 0

    stages = dict(Customer.objects.values_list("pk", "stage"))
    assert (stages[gone.pk], stages[recent.pk], stages[never.pk]) == (Stage.CHURNED, Stage.NEW, Stage.LEAD)
    make_order(actor=owner, customer=gone, store=catalogue.store)
    gone.refresh_from_db()
    assert gone.stage == Stage.REPEAT


def test_the_daily_task_marks_churned_customers_once(owner, catalogue):
    from kebu.orders.tasks import customers_churn_mark_daily

    gone = make_customer(actor=owner, name="王芳")
    make_order(
        actor=owner, customer=gone, store=catalogue.store, ordered_at=timezone.now() - timedelta(days=500)
    )

    customers_churn_mark_daily()  # huey keeps no result of a periodic task: look at what it did
    customers_churn_mark_daily()

    gone.refresh_from_db()
    assert gone.stage == Stage.CHURNED
    assert AuditEntry.objects.filter(action="customer.churn").count() == 1
