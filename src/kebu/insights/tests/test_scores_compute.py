"""Scoring the customers: RFM cells against hand-computed quintiles, the eight segments, fixed cut points,
the explanation of each cell, value tiers, a rerun replacing the table, and CLV with too few data."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from kebu.customers.services import customer_archive
from kebu.insights.clv import GammaGamma, gamma_gamma_expected_spend
from kebu.insights.models import RunStatus
from kebu.insights.models.scores import CustomerScore, ScoreSettings, Segment, ValueTier
from kebu.insights.selectors.scores import cell_explanation_text
from kebu.insights.services.scores import score_settings_update
from kebu.insights.tests.scores_shop import CREAM, TEA, TONER, history_shop, scores_run, shop_make
from kebu.orders.models import Order
from kebu.orders.services.metrics import figures_recompute

pytestmark = pytest.mark.django_db

# Five customers. Days since the last order 50, 5, 20, 100, 200; orders 1..5; spend 128.00, 398.00,
# 268.50, 512.00, 447.50. Each quintile cut (the smallest value with at least k·20% at or below it) is
# then the k-th smallest value: R cuts 5/20/50/100 days, F 1/2/3/4 orders, M 128/268.5/398/447.5 yuan.
FIVE = {
    "安": [(50, TEA)],
    "白": [(30, CREAM), (5, CREAM)],
    "陈": [(60, TONER), (40, TONER), (20, TONER)],
    "丁": [(300, TEA), (250, TEA), (150, TEA), (100, TEA)],
    "范": [(400, TONER), (350, TONER), (300, TONER), (250, TONER), (200, TONER)],
}


@pytest.fixture
def five(owner, catalogue):
    return shop_make(actor=owner, catalogue=catalogue, customers=FIVE)


def _scores() -> dict[str, CustomerScore]:
    return {s.customer.name: s for s in CustomerScore.objects.select_related("customer")}


def _cells() -> dict[str, tuple[int, int, int]]:
    return {name: (s.r_score, s.f_score, s.m_score) for name, s in _scores().items()}


def test_quintile_scores_match_a_hand_computed_shop(five):
    run = scores_run()

    assert run.status == RunStatus.DONE
    assert _cells() == {
        "安": (3, 1, 1),
        "白": (5, 2, 3),
        "陈": (4, 3, 2),
        "丁": (2, 4, 5),
        "范": (1, 5, 4),
    }
    assert run.result["thresholds"]["r"] == [5, 20, 50, 100]
    assert run.result["thresholds"]["m"] == [128.0, 268.5, 398.0, 447.5]


def test_the_segments_compare_each_score_with_the_middle(five):
    scores_run()

    segments = {name: s.segment for name, s in _scores().items()}
    assert segments == {
        "安": Segment.GENERAL_DEVELOP,  # R3 high, F1 low, M1 low
        "白": Segment.IMPORTANT_DEVELOP,  # R5 high, F2 low, M3 high
        "陈": Segment.GENERAL_VALUE,  # R4 high, F3 high, M2 low
        "丁": Segment.IMPORTANT_KEEP,  # R2 low, F4 high, M5 high
        "范": Segment.IMPORTANT_KEEP,  # R1 low, F5 high, M4 high
    }


def test_ties_share_a_band_rather_than_being_split(owner, catalogue):
    # Four one-order customers and one with two: 80% have one order, so every cut up to the 80th
    # percentile is 1 order and the four share F=1; the repeat buyer is above all cuts.
    shop_make(
        actor=owner,
        catalogue=catalogue,
        customers={
            "一": [(3, TEA)],
            "二": [(4, TEA)],
            "三": [(5, TEA)],
            "四": [(6, TEA)],
            "五": [(9, TEA), (2, TEA)],
        },
    )

    scores_run()

    assert {name: s.f_score for name, s in _scores().items()} == {"一": 1, "二": 1, "三": 1, "四": 1, "五": 5}


EIGHT = {
    # R high: last order within 90 days; F high: 3 orders or more; M high: more than ¥300 spent.
    "value": [(70, CREAM), (60, CREAM), (10, CREAM)],  # 597.00
    "develop": [(10, CREAM + CREAM)],  # 398.00
    "keep": [(300, CREAM), (250, CREAM), (200, CREAM)],
    "winback": [(200, CREAM + CREAM)],
    "g_value": [(70, TONER), (60, TONER), (10, TONER)],  # 268.50
    "g_develop": [(10, TONER)],
    "g_keep": [(300, TONER), (250, TONER), (200, TONER)],
    "g_winback": [(200, TONER)],
}
FIXED = {
    "rfm_method": "fixed",
    "r_cuts_days": "30, 60, 90, 120",
    "f_cuts_orders": "1, 2, 3, 4",
    "m_cuts_cny": "100, 300, 500, 1000",
}


def test_every_one_of_the_eight_segments_is_reached(owner, catalogue):
    shop_make(actor=owner, catalogue=catalogue, customers=EIGHT)
    score_settings_update(actor=owner, data=FIXED)

    scores_run()

    assert {name: s.segment for name, s in _scores().items()} == {
        "value": Segment.IMPORTANT_VALUE,
        "develop": Segment.IMPORTANT_DEVELOP,
        "keep": Segment.IMPORTANT_KEEP,
        "winback": Segment.IMPORTANT_WINBACK,
        "g_value": Segment.GENERAL_VALUE,
        "g_develop": Segment.GENERAL_DEVELOP,
        "g_keep": Segment.GENERAL_KEEP,
        "g_winback": Segment.GENERAL_WINBACK,
    }


def test_fixed_cut_points_change_the_cells_and_are_stored_with_the_run(owner, five):
    scores_run()
    before = _cells()

    score_settings_update(actor=owner, data=FIXED)
    run = scores_run()

    # 安: 50 days (≤60: R4), 1 order (F1), ¥128 (≤300: M2); 白: 5 days (R5), 2 orders (F2), ¥398 (M3).
    after = _cells()
    assert (before["安"], after["安"]) == ((3, 1, 1), (4, 1, 2))
    assert after["白"] == (5, 2, 3)
    assert after["范"] == (1, 5, 3)  # 200 days (>120: R1), 5 orders (>4: F5), ¥447.50 (≤500: M3)
    assert run.params["rfm_method"] == "fixed" and run.params["r_cuts_days"] == [30, 60, 90, 120]
    assert run.result["thresholds"]["method"] == "fixed"


def test_a_value_on_a_cut_point_is_in_the_band_below_it(owner, catalogue):
    shop_make(actor=owner, catalogue=catalogue, customers={"正好": [(30, TONER), (29, TONER)]})
    score_settings_update(actor=owner, data={**FIXED, "m_cuts_cny": "100, 179, 500, 1000"})

    scores_run()

    # 29 days with a cut at 30: the newest band; ¥179.00 spent with a cut at ¥179: M=2, not 3.
    score = CustomerScore.objects.get()
    assert (score.recency_days, score.r_score, score.spent_cny, score.m_score) == (
        29,
        5,
        Decimal("179.00"),
        2,
    )


def test_each_cell_is_explained_with_its_percentile_rank(five):
    scores_run()

    scores = _scores()
    assert cell_explanation_text(scores["白"]) == (
        "R=5: last order 5 days ago, newer than 80% of customers; "
        "F=2: 2 orders, more than 20% of customers; "
        "M=3: spent ¥398.00, more than 40% of customers"
    )
    assert cell_explanation_text(scores["安"]).startswith("R=3: last order 50 days ago, newer than 40% of")
    assert "F=1: 1 order, among the fewest" in cell_explanation_text(scores["安"])
    assert cell_explanation_text(scores["范"]).startswith(
        "R=1: last order 200 days ago, among the longest ago"
    )


def test_edited_tier_rules_take_effect_at_the_next_run(owner, five):
    scores_run()
    assert {n: s.tier for n, s in _scores().items()} == {
        # defaults: high from ¥3000 or 5 orders, middle from ¥500 or 2 orders
        "安": ValueTier.LOW,
        "白": ValueTier.MIDDLE,
        "陈": ValueTier.MIDDLE,
        "丁": ValueTier.MIDDLE,
        "范": ValueTier.HIGH,
    }

    score_settings_update(
        actor=owner,
        data={
            "tier_high_spent_cny": Decimal("500"),
            "tier_high_orders": 4,
            "tier_middle_spent_cny": Decimal("300"),
            "tier_middle_orders": 3,
            "tier_match": "all",
        },
    )
    scores_run()

    # both thresholds now: high needs ¥500 and 4 orders, middle ¥300 and 3 orders
    assert {n: s.tier for n, s in _scores().items()} == {
        "安": ValueTier.LOW,
        "白": ValueTier.LOW,
        "陈": ValueTier.LOW,
        "丁": ValueTier.HIGH,
        "范": ValueTier.MIDDLE,
    }


def test_settings_that_contradict_each_other_are_refused(owner):
    from kebu.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        score_settings_update(actor=owner, data={"tier_middle_orders": 9, "r_cuts_days": "90, 30, 180, 365"})

    assert set(caught.value.field_errors) == {"tier_middle_orders", "r_cuts_days"}
    assert ScoreSettings.read().tier_middle_orders == 2


def test_a_rerun_replaces_the_rows_and_drops_customers_without_orders(owner, five):
    scores_run()
    first = set(CustomerScore.objects.values_list("customer_id", "computed_at"))

    customer_archive(actor=owner, customer=five["安"])
    Order.objects.filter(customer=five["白"]).delete()
    figures_recompute(customer_ids=[five["白"].pk])
    scores_run()

    assert sorted(_scores()) == ["丁", "范", "陈"]
    assert CustomerScore.objects.count() == 3
    assert not first & set(CustomerScore.objects.values_list("customer_id", "computed_at"))


def test_no_customer_with_orders_is_too_few_data_and_leaves_no_rows(owner, five):
    scores_run()
    Order.objects.all().delete()
    figures_recompute()

    run = scores_run()

    assert run.status == RunStatus.DONE and "No customer" in run.message
    assert not CustomerScore.objects.exists()


def test_with_too_few_customers_clv_is_empty_and_the_run_says_why(five):
    run = scores_run()

    assert not CustomerScore.objects.filter(clv_365_cny__isnull=False).exists()
    assert CustomerScore.objects.filter(p_alive__isnull=True).count() == 5
    assert run.result["clv"]["bgnbd"] is None
    assert "at least 50 customers" in run.result["clv"]["reason"]
    # the rest is there all the same
    assert run.result["segments"][Segment.IMPORTANT_KEEP] == 2


def test_with_enough_history_the_clv_models_are_fitted_and_stored(owner, catalogue):
    shop_make(actor=owner, catalogue=catalogue, customers=history_shop())

    run = scores_run()

    fitted = run.result["clv"]
    assert fitted["bgnbd"]["customers"] == 80 and fitted["gamma_gamma"] and fitted["reason"] == ""
    scores = list(CustomerScore.objects.all())
    assert all(s.clv_365_cny is not None and s.clv_365_cny >= s.clv_90_cny >= 0 for s in scores)
    # a one-order customer cannot have dropped out yet in BG/NBD
    assert {s.p_alive for s in scores if s.orders == 1} == {1.0}
    # the stored value is that customer's expected orders × the model's expected spend per order
    gg = GammaGamma(**{k: fitted["gamma_gamma"][k] for k in ("p", "q", "v", "log_likelihood", "customers")})
    buyer = max((s for s in scores if s.orders > 2), key=lambda s: s.spent_cny)
    per_order = gamma_gamma_expected_spend(
        gg,
        frequency=np.array([buyer.orders - 1.0]),
        monetary=np.array([float(buyer.spent_cny) / buyer.orders]),
    )[0]
    assert float(buyer.clv_365_cny) == pytest.approx(buyer.expected_orders_365 * per_order, rel=1e-3)


def test_a_low_chance_of_still_buying_makes_the_churn_risk_high(owner, catalogue):
    shop_make(actor=owner, catalogue=catalogue, customers=history_shop())

    scores_run()

    unlikely = CustomerScore.objects.filter(orders__gt=1, p_alive__lt=0.2)
    assert unlikely.exists()
    assert set(unlikely.values_list("churn_risk", flat=True)) == {"high"}
    # some of them are high on the model's word alone: their interval ratio is below the high mark
    assert unlikely.filter(churn_ratio__lt=3).exists()
