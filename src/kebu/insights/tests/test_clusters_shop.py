"""Clusters computed from a real shop (customers and orders through the services), and their page.

The shop (220 customers, ~770 orders through the order services) is built once for the module inside a
transaction rolled back at its end: built per test it would cost most of a minute."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from kebu.customers.services import customer_archive
from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, RunStatus
from kebu.insights.services.runs import insight_compute
from kebu.orders.models import OrderStatus
from kebu.orders.tests.factories import make_catalogue, make_order

pytestmark = pytest.mark.django_db
URL = "/insights/clusters/"
TEA_REGULARS = 110
SKINCARE_ONE_OFFS = 110


def order_days_ago(*, actor, customer, store, days_ago: float, lines, status=OrderStatus.PAID):
    return make_order(
        actor=actor,
        customer=customer,
        store=store,
        lines=lines,
        status=status,
        ordered_at=timezone.now() - timedelta(days=days_ago),
    )


def make_shop(owner) -> None:
    """Tea regulars (an order of tea every 10 days or so, the last within a fortnight) and skincare
    one-offs (one jar of cream 7 to 10 months ago), plus customers who must not count: one archived
    regular, one without any order, one whose only order is unpaid."""
    catalogue = make_catalogue(actor=owner)
    store = catalogue.store
    for i in range(TEA_REGULARS):
        customer = make_customer(actor=owner, name=f"茶客{i}")
        for k in range(4 + i % 3):
            order_days_ago(
                actor=owner,
                customer=customer,
                store=store,
                days_ago=2 + i % 12 + 10 * k,
                lines=[("TEA-250", 1 + i % 2)],
            )
    for i in range(SKINCARE_ONE_OFFS):
        customer = make_customer(actor=owner, name=f"护肤{i}")
        order_days_ago(
            actor=owner, customer=customer, store=store, days_ago=210 + i % 90, lines=[("CREAM-50", 1)]
        )
    archived = make_customer(actor=owner, name="归档")
    order_days_ago(actor=owner, customer=archived, store=store, days_ago=3, lines=[("TEA-250", 1)])
    customer_archive(actor=owner, customer=archived)
    make_customer(actor=owner, name="没下单")
    unpaid = make_customer(actor=owner, name="未付款")
    order_days_ago(
        actor=owner,
        customer=unpaid,
        store=store,
        days_ago=5,
        lines=[("TEA-250", 1)],
        status=OrderStatus.PENDING,
    )


@pytest.fixture(scope="module")
def computed(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        owner = get_user_model().objects.create_user(
            username="clusters-owner", password="pass-clusters-123", is_staff=True, is_superuser=True
        )
        make_shop(owner)
        run = insight_compute(kind=InsightKind.CLUSTERS)
        assert run.status == RunStatus.DONE, run.message
        yield run
        transaction.set_rollback(True)


def test_the_run_separates_the_tea_regulars_from_the_skincare_one_offs(computed):
    result = computed.result
    assert result["k"] == 2
    tea, skincare = sorted(result["clusters"], key=lambda c: c["recency_days_median"])
    names = [category["name"] for category in result["categories"]]
    assert (tea["size"], skincare["size"]) == (TEA_REGULARS, SKINCARE_ONE_OFFS)
    assert [names[i] for i in tea["heavy"]] == ["茶叶"] and "frequent" in tea["traits"]
    assert [names[i] for i in skincare["heavy"]] == ["护肤"] and "one_off" in skincare["traits"]


def test_only_active_customers_with_a_counted_order_are_clustered(computed):
    assert computed.result["customers"] == TEA_REGULARS + SKINCARE_ONE_OFFS


def test_the_category_mix_is_by_top_category_named_biggest_spend_first(computed):
    categories = computed.result["categories"]
    assert [c["name"] for c in categories] == ["茶叶", "护肤"]
    for cluster in computed.result["clusters"]:
        assert sum(cluster["category_shares"]) == pytest.approx(1.0, abs=1e-3)


def test_the_result_is_stored_as_json_and_holds_no_customer(computed):
    computed.refresh_from_db()
    text = json.dumps(computed.result, ensure_ascii=False)
    assert "labels" not in computed.result
    assert "茶客" not in text and "护肤0" not in text


# ------------------------------------------------------------------------------------------ page


def test_the_page_describes_each_cluster_with_its_size(client_for, analyst, computed):
    response = client_for(analyst).get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="cluster-1"' in html and 'id="cluster-2"' in html and 'id="cluster-3"' not in html
    assert "mostly 茶叶" in html and "mostly 护肤" in html
    assert f"{TEA_REGULARS} customers" in html
    assert 'id="clusters-chart-data"' in html


def test_the_page_shows_the_silhouette_of_each_k_tried_and_the_chosen_one(client_for, analyst, computed):
    html = client_for(analyst).get(URL).content.decode()
    table = html[
        html.index('id="silhouette-rows"') : html.index("</table>", html.index('id="silhouette-rows"'))
    ]
    assert table.count("<tr") == 1 + len(computed.result["silhouette"])
    assert '<tr class="table-success"><td>2 <span class="small">(chosen)</span>' in table


def test_the_page_runs_no_inline_script_or_style(client_for, analyst, computed):
    html = client_for(analyst).get(URL).content.decode()
    assert "style=" not in html.split("<main", 1)[-1]
    for tag in html.split("<script")[1:]:
        head = tag.split(">", 1)[0]
        assert "src=" in head or 'type="application/json"' in head
