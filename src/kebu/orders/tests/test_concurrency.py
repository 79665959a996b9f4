"""Two people at once on PostgreSQL: refunds on one order cannot together pass what was paid, and two
orders of one customer both count. (SQLite runs writers one after the other: its IMMEDIATE write lock
is the same guarantee, and its in-memory test database cannot run two writers at all.)"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, connections

from kebu.core.errors import KebuError
from kebu.customers.models import Customer
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import AfterSale, Order
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
