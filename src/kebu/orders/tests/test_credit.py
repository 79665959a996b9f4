"""Credit for wholesale customers (赊账): limits, what is owed, payments received, overdue debts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.core.errors import ValidationFailed
from kebu.core.models import ShopSettings
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import Order, OrderStatus
from kebu.orders.selectors import credit_overdue_list
from kebu.orders.services.aftersales import order_refund, refunds_credit_split
from kebu.orders.services.credit import credit_payment_record, customer_credit_set
from kebu.orders.services.orders import CreditLimitExceeded, order_pay
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def wholesaler(owner):
    customer = make_customer(actor=owner, name="义乌小商品批发", customer_type="wholesaler", owner=owner)
    return customer_credit_set(
        actor=owner, customer=customer, credit_limit_cny="1000.00", payment_terms_days=30
    )


def _on_credit(owner, catalogue, customer, *, lines, days_ago=0, **kwargs):
    return make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        lines=lines,
        payment_method="credit",
        ordered_at=timezone.now() - timedelta(days=days_ago),
        **kwargs,
    )


def test_an_order_on_credit_counts_as_a_sale_and_is_owed_until_its_due_date(owner, catalogue, wholesaler):
    order = _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 3)])

    assert order.credit_outstanding_cny == Decimal("597.00")
    assert order.credit_due_date == timezone.localdate(order.paid_at) + timedelta(days=30)
    wholesaler.refresh_from_db()
    assert (wholesaler.receivable_cny, wholesaler.total_spent_cny) == (Decimal("597.00"), Decimal("597.00"))


def test_a_customer_without_a_credit_line_cannot_buy_on_credit(owner, catalogue):
    retail = make_customer(actor=owner, name="散客")
    with pytest.raises(ValidationFailed) as caught:
        _on_credit(owner, catalogue, retail, lines=[("TEA-250", 1)])
    assert "credit" in str(caught.value.field_errors["payment_method"][0])
    assert not Order.objects.exists()


def test_on_credit_the_amount_is_what_is_owed_and_nothing_owed_of_something_due_is_refused(
    owner, catalogue, wholesaler
):
    pending = make_order(
        actor=owner,
        customer=wholesaler,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        status=OrderStatus.PENDING,
    )  # 398.00 due

    with pytest.raises(ValidationFailed) as caught:
        order_pay(actor=owner, order=pending, payment_method="credit", paid_cny="0.00")

    assert caught.value.field_errors == {
        "paid_cny": [
            "On credit the amount is what the customer owes for this order: it cannot be ¥0 when ¥398.00 "
            "is due. Enter what they owe (empty: the amount due)."
        ]
    }
    assert Order.objects.get(pk=pending.pk).status == OrderStatus.PENDING
    # part of it on credit is owed as given, and counts as spent as a payment does
    order = order_pay(actor=owner, order=pending, payment_method="credit", paid_cny="300.00")
    assert (order.paid_cny, order.credit_outstanding_cny) == (Decimal("300.00"), Decimal("300.00"))
    wholesaler.refresh_from_db()
    assert (wholesaler.receivable_cny, wholesaler.total_spent_cny) == (Decimal("300.00"), Decimal("300.00"))


def test_part_paid_at_the_counter_and_the_rest_on_credit_owes_only_the_rest(owner, catalogue, wholesaler):
    # given: 3 creams (¥597.00), ¥200.00 paid at the counter, the rest on the customer's account
    order = _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 3)], paid_now_cny="200.00")

    assert (order.paid_cny, order.credit_taken_cny, order.credit_outstanding_cny) == (
        Decimal("597.00"),
        Decimal("397.00"),
        Decimal("397.00"),
    )
    assert order.paid_now_cny == Decimal("200.00")
    assert order.credit_due_date == timezone.localdate(order.paid_at) + timedelta(days=30)
    wholesaler.refresh_from_db()
    # the whole order is spent, as any paid order; only the rest is owed
    assert (wholesaler.total_spent_cny, wholesaler.order_count, wholesaler.receivable_cny) == (
        Decimal("597.00"),
        1,
        Decimal("397.00"),
    )
    entry = AuditEntry.objects.get(action="order.create")
    assert entry.data["paid_now"] == "200.00"


def test_paying_an_order_part_now_and_the_rest_on_credit(owner, catalogue, wholesaler):
    pending = make_order(
        actor=owner,
        customer=wholesaler,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        status=OrderStatus.PENDING,
    )  # 398.00 due

    order = order_pay(actor=owner, order=pending, payment_method="credit", paid_now_cny="98.00")

    assert (order.paid_cny, order.credit_taken_cny, order.credit_outstanding_cny) == (
        Decimal("398.00"),
        Decimal("300.00"),
        Decimal("300.00"),
    )
    assert order.credit_due_date == timezone.localdate(order.paid_at) + timedelta(days=30)
    wholesaler.refresh_from_db()
    assert (wholesaler.total_spent_cny, wholesaler.receivable_cny) == (Decimal("398.00"), Decimal("300.00"))
    assert AuditEntry.objects.get(action="order.pay").data["paid_now"] == "98.00"
    # a payment received later settles the rest, and no more
    credit_payment_record(actor=owner, customer=wholesaler, amount_cny="300.00", method="cash")
    order.refresh_from_db()
    wholesaler.refresh_from_db()
    assert order.credit_outstanding_cny == wholesaler.receivable_cny == 0


def test_the_limit_is_checked_against_what_goes_on_credit_not_what_was_paid_now(owner, catalogue, wholesaler):
    shop = ShopSettings.current()
    shop.credit_over_limit = "block"
    shop.save()
    pending = make_order(
        actor=owner,
        customer=wholesaler,
        store=catalogue.store,
        lines=[("CREAM-50", 6)],
        status=OrderStatus.PENDING,
    )  # 1,194.00 due, the limit is 1,000.00

    with pytest.raises(CreditLimitExceeded):
        order_pay(actor=owner, order=pending, payment_method="credit", paid_now_cny="100.00")
    order = order_pay(actor=owner, order=pending, payment_method="credit", paid_now_cny="194.00")

    assert order.credit_outstanding_cny == Decimal("1000.00")
    # and so at creation: 1,000.00 owed, the limit raised to 2,000.00
    customer_credit_set(actor=owner, customer=wholesaler, credit_limit_cny="2000.00", payment_terms_days=30)
    with pytest.raises(CreditLimitExceeded):
        _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 6)], paid_now_cny="193.99")
    created = _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 6)], paid_now_cny="194.00")
    assert created.credit_outstanding_cny == Decimal("1000.00")
    wholesaler.refresh_from_db()
    assert wholesaler.receivable_cny == Decimal("2000.00")


@pytest.mark.parametrize(
    ("method", "paid_now", "message"),
    [
        ("alipay", "100.00", "Only an order on credit is paid in part now"),
        ("credit", "398.00", "¥398.00 paid now leaves nothing on credit"),
    ],
)
def test_paid_now_is_for_part_of_an_order_on_credit_only(
    owner, catalogue, wholesaler, method, paid_now, message
):
    pending = make_order(
        actor=owner,
        customer=wholesaler,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        status=OrderStatus.PENDING,
    )

    with pytest.raises(ValidationFailed) as caught:
        order_pay(actor=owner, order=pending, payment_method=method, paid_now_cny=paid_now)
    with pytest.raises(ValidationFailed) as caught_at_creation:
        make_order(
            actor=owner,
            customer=wholesaler,
            store=catalogue.store,
            lines=[("CREAM-50", 2)],
            payment_method=method,
            paid_now_cny=paid_now,
        )

    for error in (caught.value, caught_at_creation.value):
        assert list(error.field_errors) == ["paid_now_cny"]
        assert str(error.field_errors["paid_now_cny"][0]).startswith(message)
    assert Order.objects.get().status == OrderStatus.PENDING
    wholesaler.refresh_from_db()
    assert (wholesaler.total_spent_cny, wholesaler.receivable_cny) == (0, 0)


def test_beyond_the_limit_warns_and_may_be_confirmed(owner, catalogue, wholesaler):
    _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 4)])  # 796.00
    pending = make_order(
        actor=owner,
        customer=wholesaler,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        status=OrderStatus.PENDING,
    )

    with pytest.raises(CreditLimitExceeded) as caught:
        order_pay(actor=owner, order=pending, payment_method="credit")
    assert not caught.value.blocking
    assert "¥1,194.00" in str(caught.value.message)  # grouped, as the pages write money
    assert Order.objects.get(pk=pending.pk).status == OrderStatus.PENDING

    order_pay(actor=owner, order=pending, payment_method="credit", allow_over_credit_limit=True)
    wholesaler.refresh_from_db()
    assert wholesaler.receivable_cny == Decimal("1194.00")


def test_the_shop_can_block_orders_beyond_the_limit_outright(owner, catalogue, wholesaler):
    shop = ShopSettings.current()
    shop.credit_over_limit = "block"
    shop.save()

    with pytest.raises(CreditLimitExceeded) as caught:
        _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 6)])

    assert caught.value.blocking
    assert not Order.objects.exists()


def test_a_payment_settles_the_oldest_debts_first(owner, catalogue, wholesaler):
    old = _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 2)], days_ago=50)  # 256.00
    new = _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 1)], days_ago=5)  # 128.00

    payment = credit_payment_record(
        actor=owner, customer=wholesaler, amount_cny="300.00", method="bank_transfer"
    )

    old.refresh_from_db()
    new.refresh_from_db()
    assert (old.credit_outstanding_cny, new.credit_outstanding_cny) == (0, Decimal("84.00"))
    wholesaler.refresh_from_db()
    assert wholesaler.receivable_cny == Decimal("84.00")
    assert wholesaler.total_spent_cny == Decimal("384.00")  # paying a debt is not spending more
    assert payment.amount_cny == Decimal("300.00")


def test_paying_more_than_is_owed_is_refused(owner, catalogue, wholesaler):
    _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 1)])
    with pytest.raises(ValidationFailed) as caught:
        credit_payment_record(actor=owner, customer=wholesaler, amount_cny="128.01", method="cash")
    assert "128.00" in str(caught.value.field_errors["amount_cny"][0])
    wholesaler.refresh_from_db()
    assert wholesaler.receivable_cny == Decimal("128.00")


def test_a_refund_on_a_credit_order_cancels_what_is_owed(owner, catalogue, wholesaler):
    order = _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 2)])
    order_refund(actor=owner, order=order, amount_cny="128.00", reason="quality")

    order.refresh_from_db()
    wholesaler.refresh_from_db()
    assert order.credit_outstanding_cny == wholesaler.receivable_cny == Decimal("128.00")


def test_a_refund_beyond_what_is_still_owed_records_what_goes_back_to_the_customer(
    owner, catalogue, wholesaler
):
    # given: ¥256.00 on credit, ¥100.00 of it paid since: ¥156.00 still owed
    order = _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 2)])
    credit_payment_record(actor=owner, customer=wholesaler, amount_cny="100.00", method="bank_transfer")

    refund = order_refund(actor=owner, order=order, amount_cny="200.00", reason="quality")

    assert (refund.credit_cleared_cny, refund.paid_back_cny) == (Decimal("156.00"), Decimal("44.00"))
    refund.refresh_from_db()
    assert refund.credit_cleared_cny == Decimal("156.00")
    order.refresh_from_db()
    wholesaler.refresh_from_db()
    assert order.credit_outstanding_cny == wholesaler.receivable_cny == 0
    # a refund on an order that owes nothing goes back whole
    again = order_refund(actor=owner, order=order, amount_cny="10.00", reason="quality")
    assert (again.credit_cleared_cny, again.paid_back_cny) == (0, Decimal("10.00"))


def test_refunds_completed_one_after_the_other_each_clear_what_the_earlier_left_owed(
    owner, catalogue, wholesaler
):
    # given: ¥256.00 on credit, ¥106.00 of it paid since: ¥150.00 still owed
    order = _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 2)])
    credit_payment_record(actor=owner, customer=wholesaler, amount_cny="106.00", method="bank_transfer")
    order.refresh_from_db()
    amounts = [Decimal("100.00"), Decimal("100.00"), Decimal("20.00")]

    splits = refunds_credit_split(order=order, amounts_cny=amounts)

    assert splits == [
        (Decimal("100.00"), 0),
        (Decimal("50.00"), Decimal("50.00")),
        (0, Decimal("20.00")),
    ]
    # as they go when completed so
    done = [order_refund(actor=owner, order=order, amount_cny=a, reason="quality") for a in amounts]
    assert [(r.credit_cleared_cny, r.paid_back_cny) for r in done] == splits


def test_the_overdue_list_shows_days_and_amount_past_due(owner, catalogue, wholesaler, clerk):
    _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 1)], days_ago=45)
    _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 1)], days_ago=40)
    _on_credit(owner, catalogue, wholesaler, lines=[("CREAM-50", 1)], days_ago=1)  # not due yet

    (row,) = credit_overdue_list(user=owner)

    assert row["customer"] == wholesaler
    assert (row["overdue_cny"], row["orders"], row["days_overdue"]) == (Decimal("256.00"), 2, 15)
    assert credit_overdue_list(user=clerk) == []  # not their customer


def test_credit_terms_are_validated(owner, wholesaler):
    with pytest.raises(ValidationFailed) as caught:
        customer_credit_set(actor=owner, customer=wholesaler, credit_limit_cny="-5", payment_terms_days=400)
    assert set(caught.value.field_errors) == {"credit_limit_cny", "payment_terms_days"}


@pytest.mark.parametrize("method", ["credit", "cod", "huabei"])
def test_a_debt_is_not_paid_on_credit_cash_on_delivery_or_huabei(owner, catalogue, wholesaler, method):
    _on_credit(owner, catalogue, wholesaler, lines=[("TEA-250", 1)])

    with pytest.raises(ValidationFailed) as caught:
        credit_payment_record(actor=owner, customer=wholesaler, amount_cny="100.00", method=method)

    assert "method" in caught.value.field_errors
    wholesaler.refresh_from_db()
    assert wholesaler.receivable_cny == Decimal("128.00")
