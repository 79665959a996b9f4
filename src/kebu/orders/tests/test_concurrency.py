"""Two people at once on PostgreSQL: refunds on one order cannot together pass what was paid, and two
orders of one customer both count. (SQLite runs writers one after the other: its IMMEDIATE write lock
is the same guarantee, and its in-memory test database cannot run two writers at all.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, connections

from kebu.core.errors import KebuError, ValidationFailed
from kebu.customers.models import Customer
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import AfterSale, Order, OrderLine, OrderStatus
from kebu.orders.services.aftersales import order_refund
from kebu.orders.tests.factories import make_order

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite's in-memory test database cannot run two writers")


def _race(*work: Callable[[], object]) -> list[object]:
    """Run each callable in its own thread and connection, released together; their results or errors."""
    barrier = threading.Barrier(len(work))
    results: list[object] = [None] * len(work)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work[index]()
        except Exception as exc:  # the test looks at what each one got
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_refunds_at_once_cannot_together_exceed_what_was_paid(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")
    order = make_order(actor=owner, customer=buyer, store=catalogue.store)  # 199.00 paid

    def refund() -> object:
        return order_refund(
            actor=owner, order=Order.objects.get(pk=order.pk), amount_cny="150.00", reason="other"
        )

    for _round in range(3):
        results = _race(refund, refund)
        refused = [r for r in results if isinstance(r, KebuError)]
        assert len(refused) >= 1, results
        if len(refused) == 1:
            break

    order.refresh_from_db()
    assert (order.refunded_cny, order.refund_reserved_cny) == (Decimal("150.00"), Decimal("150.00"))
    assert AfterSale.objects.filter(order=order).count() == 1
    buyer.refresh_from_db()
    assert buyer.total_spent_cny == Decimal("49.00")


def test_two_orders_of_one_customer_at_once_both_count(owner, catalogue):
    buyer = make_customer(actor=owner, name="王芳")

    def buy() -> object:
        return make_order(actor=owner, customer=Customer.objects.get(pk=buyer.pk), store=catalogue.store)

    results = _race(buy, buy, buy)

    assert all(isinstance(r, Order) for r in results), results
    buyer.refresh_from_db()
    assert (buyer.order_count, buyer.total_spent_cny) == (3, Decimal("597.00"))


def test_the_same_order_number_saved_twice_at_once_makes_one_order_and_a_clear_refusal(owner, catalogue):
    # Two buyers, so that the customer locks do not put them one after the other: both pass the
    # number check, and the unique index decides (or the second sees the first's number committed).
    buyers = [make_customer(actor=owner, name=name) for name in ("王芳", "李雷")]

    def save(buyer: Customer) -> Callable[[], object]:
        return lambda: make_order(
            actor=owner, customer=Customer.objects.get(pk=buyer.pk), store=catalogue.store, order_no="TB9001"
        )

    results = _race(save(buyers[0]), save(buyers[1]))

    [made] = [r for r in results if isinstance(r, Order)]
    [refused] = [r for r in results if not isinstance(r, Order)]
    assert isinstance(refused, ValidationFailed) and "order_no" in refused.field_errors, refused
    assert list(Order.objects.filter(order_no="TB9001").values_list("pk", flat=True)) == [made.pk]
    assert OrderLine.objects.count() == 1
    counts = dict(Customer.objects.filter(pk__in=[b.pk for b in buyers]).values_list("pk", "order_count"))
    assert sorted(counts.values()) == [0, 1] and counts[made.customer_id] == 1


def test_two_returns_of_the_same_line_at_once_cannot_both_take_it(owner, catalogue, monkeypatch):
    import time

    from kebu.orders.services import aftersales
    from kebu.orders.services.aftersales import AfterSaleLineInput, aftersale_request

    # Widen the window between reading what a line already has in after-sales and writing the new one,
    # so that the two requests surely overlap: only the customer's lock keeps them apart.
    counted = aftersales._open_quantities

    def slowly(order):
        taken = counted(order)
        time.sleep(0.5)
        return taken

    monkeypatch.setattr(aftersales, "_open_quantities", slowly)

    buyer = make_customer(actor=owner, name="王芳")
    order = make_order(
        actor=owner,
        customer=buyer,
        store=catalogue.store,
        lines=[("CREAM-50", 1), ("TEA-250", 1)],
        status=OrderStatus.SHIPPED,  # goods that went out: they may come back
    )
    cream = order.lines.get(sku_code="CREAM-50")

    def ask() -> object:
        return aftersale_request(
            actor=owner,
            order=Order.objects.get(pk=order.pk),
            kind="return",
            reason="size",
            amount_cny="100.00",
            lines=[AfterSaleLineInput(cream.pk, 1, "100.00")],
        )

    results = _race(ask, ask)

    assert sum(isinstance(r, AfterSale) for r in results) == 1, results
    assert sum(isinstance(r, KebuError) for r in results) == 1, results


def test_a_refund_and_a_payment_received_at_once_do_not_deadlock(owner, catalogue, monkeypatch):
    import time

    from kebu.orders.services import aftersales
    from kebu.orders.services.aftersales import aftersale_complete, aftersale_request
    from kebu.orders.services.credit import credit_payment_record, customer_credit_set

    buyer = make_customer(actor=owner, name="批发")
    customer_credit_set(actor=owner, customer=buyer, credit_limit_cny="5000", payment_terms_days=30)
    order = make_order(actor=owner, customer=buyer, store=catalogue.store, payment_method="credit")
    pending = aftersale_request(actor=owner, order=order, kind="refund", reason="price", amount_cny="50.00")
    # The refund pauses after changing its order and before moving the customer's figures: the moment a
    # payment received (customer, then that order) would lock in the other order and deadlock.
    apply = aftersales.customer_figures_apply

    def slowly(**kwargs):
        time.sleep(0.6)
        return apply(**kwargs)

    monkeypatch.setattr(aftersales, "customer_figures_apply", slowly)

    results = _race(
        lambda: aftersale_complete(actor=owner, aftersale=AfterSale.objects.get(pk=pending.pk)),
        lambda: credit_payment_record(
            actor=owner, customer=Customer.objects.get(pk=buyer.pk), amount_cny="20.00", method="cash"
        ),
    )

    assert not any(isinstance(r, Exception) for r in results), results
    buyer.refresh_from_db()
    order.refresh_from_db()
    assert buyer.receivable_cny == order.credit_outstanding_cny == Decimal("129.00")
