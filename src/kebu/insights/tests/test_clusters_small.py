"""Clusters where there is nothing to cluster yet, and who may see the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, RunStatus
from kebu.insights.services.runs import insight_compute
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
URL = "/insights/clusters/"


def order_days_ago(*, actor, customer, store, days_ago: float, lines):
    return make_order(
        actor=actor,
        customer=customer,
        store=store,
        lines=lines,
        ordered_at=timezone.now() - timedelta(days=days_ago),
    )


def test_a_shop_with_few_customers_gets_a_plain_message_not_clusters(owner, catalogue):
    for i in range(12):
        customer = make_customer(actor=owner, name=f"客{i}")
        order_days_ago(
            actor=owner, customer=customer, store=catalogue.store, days_ago=i + 1, lines=[("TEA-250", 1)]
        )

    run = insight_compute(kind=InsightKind.CLUSTERS)

    assert run.status == RunStatus.DONE
    assert run.result == {}
    assert run.message == "Clusters need at least 200 customers with orders; there are 12."


def test_those_without_shop_wide_analyses_may_not_see_it(client_for, sales_a, readonly, client):
    assert client_for(sales_a).get(URL).status_code == 403
    assert client_for(readonly).get(URL).status_code == 403
    assert client.get(URL).status_code == 302


def test_before_the_first_run_the_page_says_when_it_will_come(client_for, analyst):
    html = client_for(analyst).get(URL).content.decode()
    assert "Not computed yet" in html
    assert 'id="clusters-list"' not in html


def test_a_too_few_data_run_shows_its_message(client_for, analyst, owner, catalogue):
    customer = make_customer(actor=owner, name="独客")
    order_days_ago(actor=owner, customer=customer, store=catalogue.store, days_ago=1, lines=[("TEA-250", 1)])
    insight_compute(kind=InsightKind.CLUSTERS)

    html = client_for(analyst).get(URL).content.decode()

    assert "Clusters need at least 200 customers with orders; there is 1." in html
    assert 'id="clusters-list"' not in html
