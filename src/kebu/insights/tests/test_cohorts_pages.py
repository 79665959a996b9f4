"""The cohort retention page: the last run's table, heat-coloured by class, for those allowed shop-wide
analyses."""

from __future__ import annotations

from datetime import datetime

import pytest
import time_machine
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind
from kebu.insights.services.runs import insight_compute
from kebu.insights.views.cohorts import heat_class
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHOP = timezone.get_default_timezone()
URL = "/insights/cohorts/"


@pytest.fixture
def computed(owner, catalogue):
    """January 2025: two first orders, one of them back in February. Computed on 16 March."""
    a, b = make_customer(actor=owner, name="A"), make_customer(actor=owner, name="B")
    for customer, when in ((a, (1, 5)), (b, (1, 9)), (a, (2, 3))):
        make_order(
            actor=owner,
            customer=customer,
            store=catalogue.store,
            lines=[("TEA-250", 1)],
            ordered_at=datetime(2025, *when, 10, tzinfo=SHOP),
        )
    with time_machine.travel(datetime(2025, 3, 16, 3, tzinfo=SHOP), tick=False):
        return insight_compute(kind=InsightKind.COHORTS, params={"cohorts": 3})


def test_the_table_shows_sizes_shares_and_heat_classes(client_for, analyst, computed):
    response = client_for(analyst).get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    january = html[
        html.index('data-cohort="2025-01"') : html.index("</tr>", html.index('data-cohort="2025-01"'))
    ]
    assert 'class="cohort-cell heat-full"' in january and "100.0%" in january
    assert 'class="cohort-cell heat-5"' in january and "50.0%" in january
    assert 'class="cohort-cell heat-0 partial"' in january  # March is not over
    assert "first_order_after=2025-01-01&amp;first_order_before=2025-01-31" in january
    assert 'id="cohort-average"' in html
    assert "style=" not in html.split('id="cohort-table"')[1].split("</table>")[0]


def test_those_without_shop_wide_analyses_may_not_see_it(client_for, sales_a, readonly, client):
    assert client_for(sales_a).get(URL).status_code == 403
    assert client_for(readonly).get(URL).status_code == 403
    assert client.get(URL).status_code == 302


def test_before_the_first_run_the_page_says_when_it_will_come(client_for, analyst):
    response = client_for(analyst).get(URL)

    assert "Not computed yet" in response.content.decode()
    assert b'id="cohort-table"' not in response.content


@pytest.mark.parametrize(
    ("pct", "css"),
    [
        (None, ""),
        (0.0, "heat-0"),
        (9.9, "heat-0"),
        (10.0, "heat-1"),
        (55.5, "heat-5"),
        (99.9, "heat-9"),
        (100.0, "heat-full"),
    ],
)
def test_heat_classes_step_by_tenths(pct, css):
    assert heat_class(pct) == css
