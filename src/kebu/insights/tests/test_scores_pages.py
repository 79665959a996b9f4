"""The segments pages and the customer page's card: each user counts and lists the customers they may see,
scored against the shop's cut points; the card explains a customer's scores and shows nothing to those
without the permission; the settings page is for those who may change them."""

from __future__ import annotations

import re
from html import unescape as html_unescape

import pytest
from django.db.models import Sum
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse

from kebu.insights.models.scores import CustomerScore, ScoreSettings, Segment
from kebu.insights.services.scores import score_settings_update
from kebu.insights.tests.scores_shop import CREAM, TEA, TONER, history_shop, scores_run, shop_make

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(owner, catalogue, sales_a, sales_b):
    """Three customers of sales_a, two of sales_b (another team)."""
    mine = shop_make(
        actor=sales_a,
        catalogue=catalogue,
        owner=sales_a,
        customers={"甲一": [(40, CREAM), (5, CREAM)], "甲二": [(50, TEA)], "甲三": [(300, TONER)]},
    )
    theirs = shop_make(
        actor=sales_b,
        catalogue=catalogue,
        owner=sales_b,
        customers={"乙一": [(90, CREAM), (60, CREAM), (3, CREAM)], "乙二": [(200, TEA)]},
    )
    scores_run()
    return {**mine, **theirs}


def _segment_counts(html: str) -> int:
    return sum(int(n) for n in re.findall(r'class="fs-5 fw-semibold segment-count">(\d+)<', html))


def test_the_segments_page_counts_only_the_customers_one_may_see(shop, client_for, sales_a, analyst):
    mine = client_for(sales_a).get(reverse("insights:segments")).content.decode()
    everyone = client_for(analyst).get(reverse("insights:segments")).content.decode()

    assert (_segment_counts(mine), _segment_counts(everyone)) == (3, 5)
    assert "3 customers with orders that you can see" in mine


def test_the_segments_page_shows_each_meaning_action_and_the_cut_points(shop, client_for, analyst):
    html = client_for(analyst).get(reverse("insights:segments")).content.decode()

    assert "Bought recently, often and for a lot" in html
    assert "Win them back: ask why they stopped" in html
    assert 'id="thresholds"' in html and "R: days since last order" in html
    assert "No lifetime values yet:" in html and "at least 50 customers" in html


def test_a_segment_list_shows_only_ones_own_customers_with_their_cells_explained(shop, client_for, sales_a):
    segment = CustomerScore.objects.get(customer=shop["乙一"]).segment
    url = reverse("insights:segments_segment", args=[segment])

    theirs = client_for(sales_a).get(url).content.decode()
    everything = client_for(sales_a).get(reverse("insights:segments_customers")).content.decode()

    assert "乙一" not in theirs and "乙一" not in everything and "乙二" not in everything
    assert all(name in everything for name in ("甲一", "甲二", "甲三"))
    assert "last order 5 days ago, newer than" in everything


def test_the_list_filters_by_tier_and_churn(shop, client_for, analyst):
    client = client_for(analyst)
    high_churn = client.get(reverse("insights:segments_customers"), {"churn": "high"}).content.decode()
    middle = client.get(reverse("insights:segments_customers"), {"tier": "middle"}).content.decode()

    churned = set(CustomerScore.objects.filter(churn_risk="high").values_list("customer__name", flat=True))
    middles = set(CustomerScore.objects.filter(tier="middle").values_list("customer__name", flat=True))
    assert churned and middles and churned != middles
    for name in ("甲一", "甲二", "甲三", "乙一", "乙二"):
        assert (name in high_churn) == (name in churned)
        assert (name in middle) == (name in middles)


def test_an_unknown_segment_is_404(shop, client_for, analyst):
    assert client_for(analyst).get(reverse("insights:segments_segment", args=["nonsense"])).status_code == 404


def test_the_pages_need_the_insights_permission(shop, client_for, staff_member):
    nobody = staff_member(None, "nobody")
    for name in ("insights:segments", "insights:segments_customers", "insights:segments_at_risk"):
        assert client_for(nobody).get(reverse(name)).status_code == 403


def test_the_list_reads_a_fixed_number_of_queries(shop, client_for, analyst, django_assert_max_num_queries):
    client = client_for(analyst)
    url = reverse("insights:segments_customers")
    client.get(url)  # sessions, permissions and settings warmed up

    with django_assert_max_num_queries(14):
        client.get(url)


def _card(user, customer) -> str:
    request = RequestFactory().get("/")
    request.user = user
    template = Template("{% load insights_scores %}{% customer_scores customer %}")
    return template.render(Context({"request": request, "customer": customer}))


def test_the_customer_card_explains_the_scores(shop, sales_a):
    html = _card(sales_a, shop["甲一"])

    score = CustomerScore.objects.get(customer=shop["甲一"])
    assert f"R{score.r_score} F{score.f_score} M{score.m_score}" in html
    assert "last order 5 days ago, newer than" in html
    assert str(Segment(score.segment).label) in html
    assert "at least 50 customers" in html  # why there is no lifetime value


def test_the_customer_card_shows_nothing_without_the_permission(shop, staff_member):
    assert _card(staff_member(None, "nobody"), shop["甲一"]).strip() == ""


def test_the_customer_card_says_when_a_customer_is_not_scored_yet(owner, sales_a):
    from kebu.customers.tests.factories import make_customer

    customer = make_customer(actor=sales_a, name="新人", owner=sales_a)
    assert "Not scored yet" in _card(sales_a, customer)


def test_the_settings_page_saves_for_those_who_may_change_them(shop, client_for, owner, sales_a):
    url = reverse("insights:segments_settings")
    data = {
        "rfm_method": "fixed",
        "r_cuts_days": "7，30, 90 180",
        "f_cuts_orders": "1, 2, 3, 5",
        "m_cuts_cny": "100, 300, 800, 2000",
        "high_from_score": 3,
        "tier_high_spent_cny": "2000",
        "tier_high_orders": 6,
        "tier_middle_spent_cny": "300",
        "tier_middle_orders": 2,
        "tier_match": "any",
        "churn_ratio_medium": "1.5",
        "churn_ratio_high": "3",
        "churn_p_alive_medium": "0.5",
        "churn_p_alive_high": "0.2",
    }

    assert client_for(sales_a).post(url, data).status_code == 403
    bad = client_for(owner).post(url, {**data, "r_cuts_days": "30, 7, 90, 180"})
    saved = client_for(owner).post(url, data)

    assert bad.status_code == 200 and "each larger than the one before" in bad.content.decode()
    assert saved.status_code == 302
    row = ScoreSettings.read()
    assert (row.rfm_method, row.r_cuts_days, row.tier_high_orders) == ("fixed", "7，30, 90 180", 6)


def test_the_run_totals_shown_to_those_who_see_everyone_match_a_count_of_the_table(shop, analyst, owner):
    from kebu.insights.selectors.runs import insight_latest
    from kebu.insights.selectors.scores import segment_summary

    result = insight_latest(kind="scores").result

    for user in (analyst, owner):
        assert segment_summary(user=user, result=result) == segment_summary(user=user)


def test_a_sales_clerk_sees_the_expected_spend_of_their_own_customers_not_the_shops(
    owner, catalogue, sales_a, sales_b, client_for, analyst
):
    # given a shop with enough history for the lifetime-value models, half of it sales_a's
    history = list(history_shop().items())
    shop_make(actor=owner, catalogue=catalogue, owner=sales_a, customers=dict(history[:40]))
    shop_make(actor=owner, catalogue=catalogue, owner=sales_b, customers=dict(history[40:]))
    run = scores_run()
    assert run.result["clv"]["gamma_gamma"]
    shop_total = f"¥{run.result['clv']['total_365_cny']:,.0f}"
    own = CustomerScore.objects.filter(customer__owner=sales_a).aggregate(total=Sum("clv_365_cny"))["total"]
    own_total = f"¥{own:,.0f}"
    assert own_total != shop_total

    # when each opens the segments page
    clerk_html = client_for(sales_a).get(reverse("insights:segments")).content.decode()
    analyst_html = client_for(analyst).get(reverse("insights:segments")).content.decode()

    # then the clerk reads their customers' sum (the shop's is a forecast of its sales, which is not theirs
    # to see), and someone who sees every customer the shop's
    assert shop_total not in clerk_html
    assert f"The customers you can see are together expected to spend about {own_total}" in clerk_html
    assert f"All customers together are expected to spend about {shop_total}" in analyst_html


def _threshold_rows(html: str) -> list[list[str]]:
    table = html[html.index('id="thresholds"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><th>[^<]*</th>(.*?)</tr>", table)
    cells = [[html_unescape(cell) for cell in re.findall(r"<td>(.*?)</td>", row)] for row in rows]
    return [row for row in cells if row]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_cut_points_read_as_days_orders_and_money_each_in_one_format(
    shop, client_for, owner, analyst, language
):
    # given the shop's own cut points: whole and part yuan, more than a thousand orders and days
    score_settings_update(
        actor=owner,
        data={
            "rfm_method": "fixed",
            "r_cuts_days": "7, 30, 90, 1200",
            "f_cuts_orders": "2, 3, 5, 1234",
            "m_cuts_cny": "628, 1294.5, 2451.6, 5343",
        },
    )
    scores_run()

    # when the analyst reads the segments page
    html = client_for(analyst).get(reverse("insights:segments"), HTTP_ACCEPT_LANGUAGE=language)

    # then days and orders are whole numbers grouped by thousands, and money is in yuan with two places
    page = html.content.decode()
    assert "¥3,000" in page  # the tiers' note: the default high value, spent at least ¥3,000
    assert _threshold_rows(page) == [
        ["≤ 7", "≤ 30", "≤ 90", "≤ 1,200", "> 1,200"],
        ["> 1,234", "≤ 1,234", "≤ 5", "≤ 3", "≤ 2"],
        ["> ¥5,343.00", "≤ ¥5,343.00", "≤ ¥2,451.60", "≤ ¥1,294.50", "≤ ¥628.00"],
    ]
