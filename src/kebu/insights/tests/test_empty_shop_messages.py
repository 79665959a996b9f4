"""A shop with no orders yet (or just one) reads why an analysis has nothing to show in plain words, in
either language: never "only 0 orders" (只有 0 笔订单), and "1 order" in the singular."""

from __future__ import annotations

import pytest
from django.utils import translation

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, RunStatus
from kebu.insights.services.runs import insight_compute
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def compute(kind: str, language: str) -> str:
    """The nightly run's message, as a colleague reading in ``language`` sees it."""
    run = insight_compute(kind=kind)
    assert run.status == RunStatus.DONE
    with translation.override(language):
        return run.shown_message


@pytest.mark.parametrize(
    ("kind", "language", "said"),
    [
        (InsightKind.BASKETS, "en", "No order holds two products or more yet; frequently bought together"),
        (InsightKind.BASKETS, "zh-hans", "还没有包含两种及以上商品的订单"),
        (InsightKind.FORECAST, "en", "complete weeks with sales; the shop has none yet."),
        (InsightKind.FORECAST, "zh-hans", "店铺目前还没有。"),
        (InsightKind.CLUSTERS, "en", "customers with orders; no customer has ordered yet."),
        (InsightKind.CLUSTERS, "zh-hans", "目前还没有客户下过单。"),
    ],
)
def test_a_shop_without_orders_is_told_so_plainly(kind, language, said):
    message = compute(kind, language)

    assert said in message
    assert not any(zero in message for zero in (" 0 ", "有 0", "only 0", "Only 0"))


@pytest.fixture
def one_order_of_two_products(owner, catalogue):
    customer = make_customer(actor=owner, name="头一位")
    make_order(actor=owner, customer=customer, store=catalogue.store, lines=[("TEA-250", 1), ("CREAM-50", 1)])


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        (InsightKind.BASKETS, "Only 1 order holds two products or more;"),
        (InsightKind.CLUSTERS, "Clusters need at least 200 customers with orders; there is 1."),
    ],
)
def test_one_order_or_customer_is_counted_in_the_singular(one_order_of_two_products, kind, said):
    assert said in compute(kind, "en")
