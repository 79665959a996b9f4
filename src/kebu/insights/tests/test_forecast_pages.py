"""The forecast page and its download: what the last run computed, for those allowed shop-wide analyses."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from python_calamine import CalamineWorkbook

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind
from kebu.insights.services.runs import insight_compute
from kebu.insights.views.forecast import period_label
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHOP = timezone.get_default_timezone()
URL = "/insights/forecast/"


def sell_weekly(owner, catalogue, *, first: date, count: int) -> None:
    buyer = make_customer(actor=owner, name="Alice")
    for week in range(count):
        day = first + timedelta(days=7 * week)
        make_order(
            actor=owner,
            customer=buyer,
            store=catalogue.store,
            lines=[("CREAM-50", 1 + week % 3)],
            ordered_at=datetime(day.year, day.month, day.day, 12, tzinfo=SHOP),
        )


@pytest.fixture
def computed(owner, catalogue):
    """Fifty weeks of sales from Wednesday 1 May 2024, forecast on 16 April 2025."""
    sell_weekly(owner, catalogue, first=date(2024, 5, 1), count=50)
    with time_machine.travel(datetime(2025, 4, 16, 3, tzinfo=SHOP), tick=False):
        return insight_compute(kind=InsightKind.FORECAST)


def chart_data(response) -> dict:
    html = response.content.decode()
    start = html.index(">", html.index('id="forecast-chart-data"')) + 1
    return json.loads(html[start : html.index("</script>", start)])


def test_the_page_shows_the_monthly_forecast_with_its_band_backtest_and_festivals(
    client_for, analyst, computed
):
    response = client_for(analyst).get(URL)

    assert response.status_code == 200
    data = chart_data(response)
    months = computed.result["views"]["month"]
    assert data["history"]["labels"] == [s[:7] for s in months["starts"]]
    assert data["forecast"]["labels"][0] == "2025-04"
    net = months["metrics"]["net"]["forecast"]
    assert data["forecast"]["lower"] == [row["lower"] for row in net]
    assert data["forecast"]["upper"] == [row["upper"] for row in net]
    html = response.content.decode()
    assert 'id="backtest-none"' in html  # eleven months leave no month to test on
    assert "Double 11 (双11)" in html and "Spring Festival (春节)" in html
    assert 'id="forecast-no-season"' in html  # eleven months: no season yet


def test_the_weekly_orders_view_is_a_click_away(client_for, analyst, computed):
    response = client_for(analyst).get(URL, {"period": "week", "metric": "orders"})

    data = chart_data(response)
    assert data["forecast"]["labels"][0] == "2025-W16"
    assert data["money"] is False
    weekly = computed.result["views"]["week"]["metrics"]["orders"]
    assert data["history"]["values"] == [float(n) for n in weekly["history"]]
    html = response.content.decode()
    backtest = weekly["backtest"]
    assert f'id="mape-model">{backtest["mape_model"]}%' in html
    assert f'id="mape-baseline">{backtest["mape_baseline"]}%' in html


def test_those_without_shop_wide_analyses_may_not_see_it(client_for, sales_a, readonly, computed, client):
    assert client_for(sales_a).get(URL).status_code == 403
    assert client_for(readonly).get(URL).status_code == 403
    assert client_for(sales_a).get(reverse("insights:forecast-export")).status_code == 403
    assert client.get(URL).status_code == 302


def test_before_the_first_run_the_page_says_when_it_will_come(client_for, analyst):
    response = client_for(analyst).get(URL)

    assert response.status_code == 200
    assert "Not computed yet" in response.content.decode()
    assert b"forecast-chart-data" not in response.content


def test_too_few_data_is_shown_in_words_instead_of_a_chart(client_for, analyst, owner, catalogue):
    sell_weekly(owner, catalogue, first=date(2025, 3, 5), count=4)
    insight_compute(kind=InsightKind.FORECAST)

    response = client_for(analyst).get(URL)

    assert "A forecast needs at least 12 complete weeks with sales" in response.content.decode()
    assert b"forecast-chart-data" not in response.content


def test_the_download_holds_the_history_and_the_forecast_as_numbers(client_for, analyst, computed):
    response = client_for(analyst).get(reverse("insights:forecast-export"), {"period": "month"})

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="forecast-month.xlsx"'
    rows = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
    months = computed.result["views"]["month"]
    history = [row for row in rows[1:] if row[2] == "Actual"]
    ahead = [row for row in rows[1:] if row[2] == "Forecast"]
    assert [row[0] for row in history] == [s[:7] for s in months["starts"]]
    assert [row[3] for row in history] == [float(v) for v in months["metrics"]["net"]["history"]]
    assert [row[6] for row in history] == [float(v) for v in months["metrics"]["orders"]["history"]]
    assert [(row[3], row[4], row[5]) for row in ahead] == [
        (r["mean"], r["lower"], r["upper"]) for r in months["metrics"]["net"]["forecast"]
    ]
    assert [row[9] for row in ahead if row[9]] == ["618 mid-year sale"]


def test_the_download_is_not_found_without_a_forecast(client_for, analyst):
    assert client_for(analyst).get(reverse("insights:forecast-export")).status_code == 404


def test_weeks_are_labelled_by_iso_week():
    assert period_label("2024-12-30", "week") == "2025-W01"
    assert period_label("2025-04-14", "week") == "2025-W16"
    assert period_label("2025-04-01", "month") == "2025-04"
