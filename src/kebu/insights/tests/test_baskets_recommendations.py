"""What a product page and a customer page show from the rules: a product's "bought with", and a
customer's recommendations (a consumable due, a rule's suggestion, co-occurrence when rules are few),
each only to those who may see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.selectors.baskets import recommendations_for
from kebu.insights.tests.test_baskets import compute, shop, teapot  # noqa: F401  (fixtures)
from kebu.orders.models import Product
from kebu.orders.tests.factories import make_order

# Every test reads the 16-order shop of test_baskets.py and its rules.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("shop")]


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="老顾客", owner=sales_a)


@pytest.fixture
def bought(owner, catalogue, customer):
    """``bought(code, quantity, days_ago)``: a paid order of the customer's."""

    def make(code: str, quantity: int = 1, days_ago: int = 10):
        return make_order(
            actor=owner,
            customer=customer,
            store=catalogue.store,
            lines=[(code, quantity)],
            ordered_at=timezone.now() - timedelta(days=days_ago),
        )

    return make


def named(name: str) -> Product:
    return Product.objects.get(name=name)


def render_tag(source: str, user, **context) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load insights_baskets %}" + source).render(Context({"request": request, **context}))


def test_a_consumable_due_for_repurchase_is_recommended_with_the_day_it_runs_out(sales_a, customer, bought):
    compute()
    order = bought("TEA-250", 1, days_ago=28)  # 明前龙井 lasts 30 days

    first = recommendations_for(user=sales_a, customer=customer)[0]

    assert (first.product.name, first.reason) == ("明前龙井", "due")
    assert first.due_on == timezone.localdate(order.ordered_at) + timedelta(days=30)


def test_the_units_kept_stretch_a_consumable_until_it_is_due(sales_a, customer, bought):
    compute()
    bought("TEA-250", 3, days_ago=40)  # three tins: 90 days

    recommended = recommendations_for(user=sales_a, customer=customer)

    assert "明前龙井" not in {r.product.name for r in recommended}


def test_a_product_bought_yesterday_is_not_recommended_even_when_a_rule_suggests_it(
    sales_a, customer, bought
):
    compute()
    bought("POT-1", 1, days_ago=200)
    bought("TEA-250", 1, days_ago=1)  # 紫砂壶 → 明前龙井 is a rule, but the tea is just bought

    recommended = recommendations_for(user=sales_a, customer=customer)

    assert "明前龙井" not in {r.product.name for r in recommended}


def test_a_product_a_rule_suggests_from_what_the_customer_bought_is_recommended(sales_a, customer, bought):
    compute()
    bought("CREAM-50", 1, days_ago=10)

    (suggestion,) = recommendations_for(user=sales_a, customer=customer)

    assert (suggestion.product.name, suggestion.reason) == ("爽肤水", "rule")
    assert [p.name for p in suggestion.because] == ["玻尿酸面霜"]
    assert suggestion.confidence == pytest.approx(3 / 7)


def test_products_often_bought_together_fill_in_when_no_rule_applies(sales_a, customer, bought):
    compute(min_confidence=0.9)  # 紫砂壶 → 明前龙井 (6/7) no longer passes
    bought("POT-1", 1, days_ago=10)

    (suggestion,) = recommendations_for(user=sales_a, customer=customer)

    assert (suggestion.product.name, suggestion.reason, suggestion.orders) == ("明前龙井", "together", 6)
    assert [p.name for p in suggestion.because] == ["紫砂壶"]


def test_a_product_no_longer_on_sale_is_not_recommended(sales_a, customer, bought):
    compute()
    bought("CREAM-50", 1, days_ago=10)
    Product.objects.filter(name="爽肤水").update(is_active=False)

    assert recommendations_for(user=sales_a, customer=customer) == []


def test_recommendations_are_nothing_to_someone_who_cannot_see_the_customer(
    client_for, sales_b, customer, bought
):
    compute()
    bought("CREAM-50", 1, days_ago=10)

    assert recommendations_for(user=sales_b, customer=customer) == []
    url = reverse("insights:baskets-customer", args=[customer.pk])
    assert client_for(sales_b).get(url).status_code == 404
    assert render_tag("{% customer_recommendations customer %}", sales_b, customer=customer).strip() == ""


def test_the_customer_card_shows_each_recommendation_and_why(client_for, sales_a, customer, bought):
    compute()
    bought("TEA-250", 1, days_ago=28)
    bought("CREAM-50", 1, days_ago=10)

    response = client_for(sales_a).get(reverse("insights:baskets-customer", args=[customer.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-reason="due"' in page and "Due for repurchase" in page
    assert 'data-reason="rule"' in page and "爽肤水" in page and "conf 43%" in page


def test_the_customer_tag_renders_the_card_for_someone_who_may_see_the_customer(sales_a, customer, bought):
    compute()
    bought("CREAM-50", 1, days_ago=10)

    html = render_tag("{% customer_recommendations customer %}", sales_a, customer=customer)

    assert 'id="customer-recommendations"' in html and "爽肤水" in html


def test_recommendations_read_a_bounded_number_of_queries(
    sales_a, customer, bought, django_assert_max_num_queries
):
    compute()
    for code in ("CREAM-50", "TEA-250", "POT-1", "TONER-100"):
        bought(code, 1, days_ago=100)
    sales_a.has_perm("insights.view_insights")  # permissions cached, as after the page's first check

    with django_assert_max_num_queries(6):
        recommendations_for(user=sales_a, customer=customer)


def test_the_product_card_gives_shop_analysts_confidence_lift_and_orders(client_for, analyst):
    compute()
    tea = named("明前龙井")

    response = client_for(analyst).get(reverse("insights:baskets-product", args=[tea.pk]))

    assert response.status_code == 200
    assert "紫砂壶" in response.content.decode()
    assert "conf 75%, lift 1.7, 6 orders" in response.content.decode()


def test_the_product_card_gives_a_sales_clerk_the_ratios_but_not_the_shop_volume(client_for, sales_a):
    compute()
    tea = named("明前龙井")

    page = client_for(sales_a).get(reverse("insights:baskets-product", args=[tea.pk])).content.decode()

    assert "conf 75%, lift 1.7" in page
    assert "6 orders" not in page


def test_the_product_card_is_nothing_without_the_insights_permission(client_for, staff_member):
    from django.contrib.auth.models import Permission

    compute()
    stock_keeper = staff_member(None, "stock")
    stock_keeper.user_permissions.add(Permission.objects.get(codename="view_product"))
    tea = named("明前龙井")

    assert client_for(stock_keeper).get(reverse("insights:baskets-product", args=[tea.pk])).status_code == 403
    assert render_tag("{% product_bought_together product %}", stock_keeper, product=tea).strip() == ""
