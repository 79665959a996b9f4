"""Frequently bought together over a small shop whose rules are known by hand: which orders and lines make
the baskets, what is stored and replaced, and who sees the rules page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import AssociationRule, InsightKind, ProductPair, RunStatus
from kebu.insights.services.runs import insight_compute
from kebu.orders.models import AfterSaleKind, OrderStatus, Product
from kebu.orders.services.aftersales import (
    AfterSaleLineInput,
    aftersale_approve,
    aftersale_complete,
    aftersale_receive,
    aftersale_request,
)
from kebu.orders.services.orders import LineInput, OrderInput, order_create
from kebu.orders.services.products import ProductInput, SkuInput, product_create
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

# Low enough thresholds for a 16-order shop; the defaults ask for 100 orders with two products.
SMALL_SHOP = {"min_orders": 2, "min_support": 0, "min_confidence": 0.1, "min_baskets": 5}


@pytest.fixture
def teapot(owner):
    return product_create(
        actor=owner,
        data=ProductInput(name="紫砂壶", skus=[SkuInput(code="POT-1", price_cny="268.00")]),
    )


@pytest.fixture
def shop(owner, catalogue, teapot):
    """16 paid orders: tea and teapot ×6, tea ×2, cream and toner ×3, teapot ×1, cream ×4. So tea is in 8
    orders, the teapot in 7, both in 6: tea → teapot has support 6/16, confidence 6/8, lift (6/8)/(7/16)."""
    buyers = [make_customer(actor=owner, name=f"买家{i}") for i in range(4)]
    baskets = (
        [[("TEA-250", 1), ("POT-1", 1)]] * 6
        + [[("TEA-250", 2)]] * 2
        + [[("CREAM-50", 1), ("TONER-100", 1)]] * 3
        + [[("POT-1", 1)]]
        + [[("CREAM-50", 1)]] * 4
    )
    for k, lines in enumerate(baskets):
        make_order(actor=owner, customer=buyers[k % 4], store=catalogue.store, lines=lines)
    return buyers


def products(*names: str) -> list[int]:
    return [Product.objects.get(name=name).pk for name in names]


def rule(antecedent: str, consequent: str) -> AssociationRule:
    (a,), (c,) = products(antecedent), products(consequent)
    return AssociationRule.objects.get(antecedent_id=a, antecedent_second__isnull=True, consequent_id=c)


def compute(**params):
    return insight_compute(kind=InsightKind.BASKETS, params={**SMALL_SHOP, **params})


def test_tea_then_teapot_is_found_with_its_exact_support_confidence_and_lift(shop):
    run = compute()

    tea_pot = rule("明前龙井", "紫砂壶")
    assert (run.status, run.message) == (RunStatus.DONE, "")
    assert (tea_pot.orders, tea_pot.antecedent_orders) == (6, 8)
    assert tea_pot.support == pytest.approx(6 / 16)
    assert tea_pot.confidence == pytest.approx(6 / 8)
    assert tea_pot.lift == pytest.approx((6 / 8) / (7 / 16))
    assert (run.result["baskets"], run.result["multi_item_baskets"]) == (16, 9)


def test_a_line_returned_in_full_leaves_its_basket(owner, shop, catalogue):
    order = make_order(
        actor=owner,
        customer=shop[0],
        store=catalogue.store,
        lines=[("TEA-250", 1), ("POT-1", 2)],
        status=OrderStatus.DELIVERED,
    )
    pot_line = order.lines.get(sku_code="POT-1")
    aftersale = aftersale_request(
        actor=owner,
        order=order,
        kind=AfterSaleKind.RETURN,
        reason="quality",
        lines=[AfterSaleLineInput(pot_line.pk, 2)],
    )
    aftersale = aftersale_receive(actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=aftersale))
    aftersale_complete(actor=owner, aftersale=aftersale)

    compute()

    # The order counts as a basket of tea alone: 9 orders with tea, still 6 with the teapot too.
    tea_pot = rule("明前龙井", "紫砂壶")
    assert (tea_pot.orders, tea_pot.antecedent_orders) == (6, 9)


def test_orders_not_paid_are_not_baskets(owner, shop, catalogue):
    for _ in range(3):
        make_order(
            actor=owner,
            customer=shop[1],
            store=catalogue.store,
            lines=[("TEA-250", 1), ("POT-1", 1)],
            status=OrderStatus.PENDING,
        )

    run = compute()

    assert (rule("明前龙井", "紫砂壶").orders, run.result["baskets"]) == (6, 16)


def test_free_text_lines_are_left_out_and_counted(owner, shop, catalogue):
    order_create(
        actor=owner,
        data=OrderInput(
            customer=shop[2],
            store=catalogue.store,
            lines=[LineInput(sku_code="TEA-250"), LineInput(title="手写礼盒", unit_price_cny="10.00")],
            status=OrderStatus.PAID,
            payment_method="alipay",
        ),
    )

    run = compute()

    assert run.result["free_text_lines"] == 1
    assert run.result["multi_item_baskets"] == 9  # tea and a gift box: one product, no pair
    assert rule("明前龙井", "紫砂壶").antecedent_orders == 9


def test_a_rerun_replaces_every_rule_and_pair(shop):
    compute(min_confidence=0.1)
    first = set(AssociationRule.objects.values_list("pk", flat=True))

    run = compute(min_confidence=0.8)

    found = {
        (r.antecedent.name, r.consequent.name, r.computed_at == AssociationRule.objects.first().computed_at)
        for r in AssociationRule.objects.select_related("antecedent", "consequent")
    }
    # Confidence 1 (every toner order has cream) and 6/7 (teapot orders with tea): the others are gone.
    assert found == {("爽肤水", "玻尿酸面霜", True), ("紫砂壶", "明前龙井", True)}
    assert first.isdisjoint(AssociationRule.objects.values_list("pk", flat=True))
    assert run.result["rules_stored"] == 2
    assert ProductPair.objects.count() == 4  # two pairs, both ways round


def test_too_few_orders_with_two_products_is_an_answer_and_keeps_the_last_rules(shop):
    compute()
    kept = AssociationRule.objects.count()

    run = insight_compute(kind=InsightKind.BASKETS)  # the defaults: 100 orders with two products

    assert (run.status, run.result) == (RunStatus.DONE, {})
    assert "Only 9 orders hold two products or more" in run.message
    assert AssociationRule.objects.count() == kept > 0


def test_the_thresholds_used_are_recorded_with_the_run(shop):
    run = compute(min_confidence=0.5)

    run.refresh_from_db()
    assert run.params["min_confidence"] == 0.5
    assert run.params["min_support"] == 0
    assert run.params["rules_per_antecedent"] == 20  # a default, written out
    assert run.result["params"] == run.params


def test_a_threshold_out_of_range_fails_the_run_and_changes_no_rule(shop):
    compute()
    before = list(AssociationRule.objects.values_list("pk", flat=True))

    run = compute(min_confidence=2)

    assert run.status == RunStatus.FAILED and "min_confidence" in run.message
    assert list(AssociationRule.objects.values_list("pk", flat=True)) == before


def test_the_rules_page_lists_the_rules_by_lift_with_the_run_figures(client_for, analyst, shop):
    compute()

    response = client_for(analyst).get(reverse("insights:baskets"))

    assert response.status_code == 200
    rules = list(response.context["page"].object_list)
    assert [r.lift for r in rules] == sorted((r.lift for r in rules), reverse=True)
    assert len(rules) == AssociationRule.objects.count() > 0
    assert 'id="count-baskets">16<' in response.content.decode()  # orders read


def test_the_rules_page_narrows_to_one_product_and_sorts_by_orders(client_for, analyst, shop, teapot):
    compute()

    response = client_for(analyst).get(reverse("insights:baskets"), {"product": teapot.pk, "sort": "orders"})

    rules = list(response.context["page"].object_list)
    assert rules and all(teapot.pk in {r.antecedent_id, r.consequent_id} for r in rules)
    assert [r.orders for r in rules] == sorted((r.orders for r in rules), reverse=True)


def test_the_rules_page_is_for_those_who_see_shop_wide_analyses(client_for, sales_a, readonly, shop):
    compute()

    assert client_for(sales_a).get(reverse("insights:baskets")).status_code == 403
    assert client_for(readonly).get(reverse("insights:baskets")).status_code == 403


def test_the_rules_page_reads_a_bounded_number_of_queries(
    client_for, analyst, shop, django_assert_max_num_queries
):
    compute()
    client = client_for(analyst)

    with django_assert_max_num_queries(15):
        client.get(reverse("insights:baskets"))
