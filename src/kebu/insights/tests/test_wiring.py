"""The analyses are where a merchant looks: the menu for those allowed, the score card and suggestions
on the customer's page, what is bought together on the product's page, and figures right after setup."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, InsightRun, RunStatus
from kebu.insights.services.runs import NIGHTLY_ORDER
from kebu.insights.tests.test_baskets import shop, teapot  # noqa: F401  (fixtures)
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_the_menu_offers_shop_wide_analyses_only_to_those_who_may_see_them(client_for, sales_a, analyst):
    sales_menu = client_for(sales_a).get(reverse("customers:list")).content.decode()
    analyst_menu = client_for(analyst).get(reverse("customers:list")).content.decode()

    assert 'id="nav-dashboard"' in sales_menu and 'id="nav-segments"' in sales_menu
    assert 'id="nav-forecast"' not in sales_menu and 'id="nav-baskets"' not in sales_menu
    for item in ("nav-dashboard", "nav-forecast", "nav-cohorts", "nav-baskets", "nav-clusters"):
        assert f'id="{item}"' in analyst_menu


def test_the_customer_page_shows_the_score_card_and_asks_for_suggestions(client_for, sales_a, catalogue):
    customer = make_customer(actor=sales_a, name="老顾客", owner=sales_a)
    make_order(actor=sales_a, customer=customer, store=catalogue.store)

    html = client_for(sales_a).get(reverse("customers:detail", args=[customer.pk])).content.decode()

    assert 'id="customer-scores"' in html
    assert reverse("insights:baskets-customer", args=[customer.pk]) in html


def test_the_product_page_asks_for_what_is_bought_with_it(client_for, manager_east, shop, teapot):  # noqa: F811
    html = client_for(manager_east).get(reverse("orders:product-edit", args=[teapot.pk])).content.decode()

    assert reverse("insights:baskets-product", args=[teapot.pk]) in html


def test_setup_with_demo_data_leaves_every_analysis_computed(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    call_command("setup", demo_customers=60, demo_orders=400)

    runs = InsightRun.objects.filter(started_by__isnull=True)
    assert sorted(runs.values_list("kind", flat=True)) == sorted(NIGHTLY_ORDER)
    assert not runs.filter(status=RunStatus.FAILED).exists()
    assert InsightRun.objects.get(kind=InsightKind.DASHBOARD).result
