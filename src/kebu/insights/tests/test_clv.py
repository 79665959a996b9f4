"""The CLV mathematics against the published CDNOW results and against independent numerical integrals.

The CDNOW sample (tests/data, see SOURCE.md) is the data of Fader, Hardie & Lee (2005); the papers' fitted
parameters are the reference. The integrals below compute the same expectations straight from the
models' definitions (Poisson purchases, geometric dropout, Gamma/Beta heterogeneity), without the
closed forms clv.py uses, so a slip in a closed form or its rewriting shows up as a mismatch."""

from __future__ import annotations

import functools
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, special

from kebu.insights import clv
from kebu.insights.errors import TooFewData

CDNOW = Path(__file__).parent / "data" / "cdnow_customers_summary_with_transactions.csv"

# Fader, Hardie & Lee, Marketing Science 2005, and JMR 2005 / Fader & Hardie 2013.
PUBLISHED_BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44}


@functools.cache
def cdnow() -> dict[str, np.ndarray]:
    data = np.genfromtxt(CDNOW, delimiter=",", names=True)
    return {"x": data["x"], "t_x": data["t_x"], "T": data["T"], "zbar": data["zbar"]}


@functools.cache
def cdnow_bgnbd() -> clv.BgNbd:
    d = cdnow()
    return clv.bgnbd_fit(frequency=d["x"], recency=d["t_x"], age=d["T"])


@functools.cache
def cdnow_gamma_gamma() -> clv.GammaGamma:
    d = cdnow()
    return clv.gamma_gamma_fit(frequency=d["x"], monetary=d["zbar"])


def published_bgnbd() -> clv.BgNbd:
    return clv.BgNbd(**PUBLISHED_BGNBD, log_likelihood=float("nan"), customers=2357)


def simulate_bgnbd(
    *, customers: int, r: float, alpha: float, a: float, b: float, max_age: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Customers drawn from the BG/NBD story itself, in whole days: Poisson purchases at a Gamma rate,
    dropout with a Beta probability right after each purchase. Loops over purchase rounds, not customers."""
    rng = np.random.default_rng(seed)
    rate = rng.gamma(r, 1.0 / alpha, customers)
    dropout = rng.beta(a, b, customers)
    age = np.floor(rng.uniform(1.0, max_age, customers))
    x, t_x, clock = np.zeros(customers), np.zeros(customers), np.zeros(customers)
    alive = np.ones(customers, dtype=bool)
    while alive.any():
        who = np.flatnonzero(alive)
        next_time = clock[who] + rng.exponential(1.0 / rate[who])
        inside = next_time <= age[who]
        alive[who[~inside]] = False
        bought = who[inside]
        clock[bought] = next_time[inside]
        x[bought] += 1
        t_x[bought] = clock[bought]
        alive[bought[rng.random(bought.size) < dropout[bought]]] = False
    return x, np.floor(t_x), age


# ------------------------------------------------------------------ independent numerical integrals


def _integrate_over_dropout(model: clv.BgNbd, function) -> float:
    """∫₀¹ function(p) · Beta(p; a, b) dp, the Beta weight handled exactly by QUADPACK's algebraic
    weight (its endpoint singularity for a < 1 would defeat a plain rule)."""
    value, _ = integrate.quad(
        function, 0.0, 1.0, weight="alg", wvar=(model.a - 1.0, model.b - 1.0), limit=400
    )
    return value / special.beta(model.a, model.b)


def numeric_posterior(model: clv.BgNbd, *, x: float, t_x: float, big_t: float, horizon: float):
    """P(alive) and expected purchases in (T, T + horizon] from the model's definition.

    Given λ and p, the history's likelihood is (1−p)^x λ^x e^{−λT} (still alive) plus, with a repeat
    purchase, p(1−p)^{x−1} λ^x e^{−λ t_x} (dropped after the last one); a customer alive at T makes
    (1 − e^{−λpt})/p purchases on average in the next t. λ is integrated out with the Gamma integral
    ∫λ^x e^{−λs} Gamma(λ; r, α) dλ ∝ (α + s)^{−(r+x)} (the shared constant cancels in the ratios);
    p numerically."""
    r, alpha = model.r, model.alpha
    k = r + x
    alive = _integrate_over_dropout(model, lambda p: (1 - p) ** x)
    dead = (
        _integrate_over_dropout(model, lambda p: p * (1 - p) ** (x - 1))
        * ((alpha + big_t) / (alpha + t_x)) ** k
        if x > 0
        else 0.0
    )

    def purchases_ahead(p: float) -> float:
        # (1 − ((α+T)/(α+T+pt))^k)/p, written with expm1/log1p so it stays exact as p → 0, where the
        # quadrature may ask for the limit itself.
        step = horizon / (alpha + big_t)
        if p == 0.0:
            return k * step
        return -np.expm1(-k * np.log1p(p * step)) / p * (1 - p) ** x

    ahead = _integrate_over_dropout(model, purchases_ahead)
    return alive / (alive + dead), ahead / (alive + dead)


def numeric_expected_spend(model: clv.GammaGamma, *, x: float, zbar: float) -> float:
    """E[p/ν | data]: each purchase ~ Gamma(p, rate ν), ν ~ Gamma(q, rate v), so given x purchases of
    mean zbar the posterior of ν is ∝ ν^{q+px−1} e^{−ν(v + x·zbar)}; integrated numerically."""
    shape, rate = model.q + model.p * x, model.v + x * zbar
    mode = (shape - 1.0) / rate

    def density(nu: float) -> float:
        return float(np.exp((shape - 1.0) * np.log(nu / mode) - rate * (nu - mode)))

    top, _ = integrate.quad(lambda nu: model.p / nu * density(nu), 0.0, np.inf, limit=400)
    bottom, _ = integrate.quad(density, 0.0, np.inf, limit=400)
    return top / bottom


# ----------------------------------------------------------------------------------- the CDNOW check


@pytest.mark.parametrize("name", sorted(PUBLISHED_BGNBD))
def test_bgnbd_fit_on_cdnow_reproduces_fader_hardie_lee_2005_within_one_percent(name):
    fitted = getattr(cdnow_bgnbd(), name)
    assert fitted == pytest.approx(PUBLISHED_BGNBD[name], rel=0.01)


def test_bgnbd_fit_on_cdnow_reaches_the_published_log_likelihood():
    assert cdnow_bgnbd().log_likelihood == pytest.approx(-9582.4, abs=0.1)
    assert cdnow_bgnbd().customers == 2357


@pytest.mark.parametrize("name", sorted(PUBLISHED_GAMMA_GAMMA))
def test_gamma_gamma_fit_on_cdnow_reproduces_the_published_parameters_within_one_percent(name):
    fitted = getattr(cdnow_gamma_gamma(), name)
    assert fitted == pytest.approx(PUBLISHED_GAMMA_GAMMA[name], rel=0.01)


def test_gamma_gamma_fit_uses_only_the_repeat_customers():
    assert cdnow_gamma_gamma().customers == 946


def test_expected_purchases_reproduce_the_papers_worked_example():
    # Fader, Hardie & Lee 2005, section 5: the customer with x = 2, t_x = 30.43, T = 38.86 weeks is
    # expected to make 1.226 purchases in the next 39 weeks.
    expected = clv.bgnbd_expected_purchases(
        published_bgnbd(),
        horizon=39.0,
        frequency=np.array([2.0]),
        recency=np.array([30.43]),
        age=np.array([38.86]),
    )
    assert expected[0] == pytest.approx(1.226, abs=0.0005)


# ------------------------------------------------------------------------ against the definitions


def test_p_alive_is_one_for_a_customer_without_a_repeat_purchase():
    p_alive = clv.bgnbd_p_alive(
        cdnow_bgnbd(), frequency=np.zeros(3), recency=np.zeros(3), age=np.array([1.0, 20.0, 300.0])
    )
    assert np.array_equal(p_alive, np.ones(3))


@pytest.mark.parametrize(
    ("x", "t_x", "big_t"),
    [
        (0, 0.0, 38.86),
        (1, 1.71, 38.86),
        (2, 30.43, 38.86),
        (7, 10.0, 30.0),
        (25, 35.0, 36.0),
        (120, 20.0, 52.0),
    ],
)
def test_p_alive_and_expected_purchases_match_a_numerical_integral_of_the_model(x, t_x, big_t):
    model = published_bgnbd()
    p_alive, expected = numeric_posterior(model, x=x, t_x=t_x, big_t=big_t, horizon=39.0)
    arrays = {"frequency": np.array([float(x)]), "recency": np.array([t_x]), "age": np.array([big_t])}
    assert clv.bgnbd_p_alive(model, **arrays)[0] == pytest.approx(p_alive, rel=1e-6)
    assert clv.bgnbd_expected_purchases(model, horizon=39.0, **arrays)[0] == pytest.approx(expected, rel=1e-6)


def test_expected_purchases_match_the_integral_when_dropout_shape_a_is_above_one():
    # a > 1 takes the other sign of (a − 1) in the closed form; the integral does not care.
    model = clv.BgNbd(r=1.3, alpha=20.0, a=2.5, b=6.0, log_likelihood=0.0, customers=0)
    _, expected = numeric_posterior(model, x=4, t_x=80.0, big_t=150.0, horizon=90.0)
    result = clv.bgnbd_expected_purchases(
        model, horizon=90.0, frequency=np.array([4.0]), recency=np.array([80.0]), age=np.array([150.0])
    )
    assert result[0] == pytest.approx(expected, rel=1e-6)


def test_expected_purchases_are_zero_over_no_time_and_grow_with_the_horizon():
    d = cdnow()
    model = cdnow_bgnbd()
    horizons = [0.0, 13.0, 52.0, 520.0]
    series = [
        clv.bgnbd_expected_purchases(model, horizon=h, frequency=d["x"], recency=d["t_x"], age=d["T"])
        for h in horizons
    ]
    assert np.array_equal(series[0], np.zeros_like(d["x"]))
    assert all(np.all(later > earlier) for earlier, later in itertools.pairwise(series))


@pytest.mark.parametrize(("x", "t_x", "big_t"), [(0, 0.0, 38.86), (2, 20.0, 38.86), (30, 20.0, 50.0)])
def test_the_quadrature_fallback_agrees_with_the_closed_form(x, t_x, big_t):
    model = published_bgnbd()
    arrays = {"frequency": np.array([float(x)]), "recency": np.array([t_x]), "age": np.array([big_t])}
    closed_form = clv.bgnbd_expected_purchases(model, horizon=39.0, **arrays) / clv.bgnbd_p_alive(
        model, **arrays
    )
    by_quadrature = clv._expected_if_alive_by_quadrature(
        model.r, model.alpha, model.a, model.b, x, big_t, 39.0
    )
    assert by_quadrature == pytest.approx(closed_form[0], rel=1e-7)


def test_expected_purchases_stay_finite_and_bounded_where_the_closed_form_fails():
    # b in the thousands and a horizon far beyond α + T: scipy's 2F1 returns nan in both of its forms.
    model = clv.BgNbd(r=0.0983, alpha=0.958, a=3.4986, b=1280.56, log_likelihood=0.0, customers=0)
    x, t_x, big_t = np.array([7.0, 7.0, 0.0]), np.array([0.0, 100.0, 0.0]), np.array([0.0, 250.0, 0.0])
    expected = clv.bgnbd_expected_purchases(model, horizon=2361.0, frequency=x, recency=t_x, age=big_t)
    p_alive = clv.bgnbd_p_alive(model, frequency=x, recency=t_x, age=big_t)
    # never more than a customer who never drops out would buy: E[λ | history] · t.
    ceiling = (model.r + x) / (model.alpha + big_t) * 2361.0 * p_alive
    assert np.all(np.isfinite(expected)) and np.all(expected > 0) and np.all(expected <= ceiling)


@pytest.mark.parametrize(("x", "zbar"), [(1, 11.77), (2, 22.35), (6, 40.0), (40, 95.5)])
def test_expected_spend_matches_the_posterior_mean_integral(x, zbar):
    model = clv.GammaGamma(**PUBLISHED_GAMMA_GAMMA, log_likelihood=0.0, customers=0)
    expected = clv.gamma_gamma_expected_spend(
        model, frequency=np.array([float(x)]), monetary=np.array([zbar])
    )
    assert expected[0] == pytest.approx(numeric_expected_spend(model, x=x, zbar=zbar), rel=1e-6)


def test_expected_spend_of_a_customer_without_repeat_purchases_is_the_shops_mean():
    model = cdnow_gamma_gamma()
    expected = clv.gamma_gamma_expected_spend(
        model, frequency=np.array([0.0, 0.0]), monetary=np.array([0.0, 500.0])
    )
    assert np.allclose(expected, model.v * model.p / (model.q - 1.0))


def test_clv_is_expected_purchases_times_expected_spend():
    d = cdnow()
    bg, gg = cdnow_bgnbd(), cdnow_gamma_gamma()
    arrays = {"frequency": d["x"], "recency": d["t_x"], "age": d["T"]}
    value = clv.clv_expected(bg, gg, horizon=52.0, monetary=d["zbar"], **arrays)
    purchases = clv.bgnbd_expected_purchases(bg, horizon=52.0, **arrays)
    spend = clv.gamma_gamma_expected_spend(gg, frequency=d["x"], monetary=d["zbar"])
    assert np.allclose(value, purchases * spend)


# ------------------------------------------------------------------------------- the fit is a fit


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-0.3, max_value=0.3), min_size=4, max_size=4).filter(lambda s: any(s)))
def test_bgnbd_likelihood_at_the_fit_is_at_least_that_of_any_perturbed_parameters(shifts):
    d, model = cdnow(), cdnow_bgnbd()
    fitted = np.array([model.r, model.alpha, model.a, model.b])
    r, alpha, a, b = fitted * np.exp(shifts)
    perturbed = clv.bgnbd_log_likelihood(
        r=r, alpha=alpha, a=a, b=b, frequency=d["x"], recency=d["t_x"], age=d["T"]
    )
    assert perturbed.sum() <= model.log_likelihood + 1e-9


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=-0.3, max_value=0.3), min_size=3, max_size=3).filter(lambda s: any(s)))
def test_gamma_gamma_likelihood_at_the_fit_is_at_least_that_of_any_perturbed_parameters(shifts):
    d, model = cdnow(), cdnow_gamma_gamma()
    repeat = d["x"] > 0
    p, q, v = np.array([model.p, model.q, model.v]) * np.exp(shifts)
    perturbed = clv.gamma_gamma_log_likelihood(
        p=p, q=q, v=v, frequency=d["x"][repeat], monetary=d["zbar"][repeat]
    )
    assert perturbed.sum() <= model.log_likelihood + 1e-9


def test_bgnbd_fit_does_not_depend_on_the_time_unit():
    d = cdnow()
    in_days = clv.bgnbd_fit(frequency=d["x"], recency=d["t_x"] * 7, age=d["T"] * 7)
    in_weeks = cdnow_bgnbd()
    assert (in_days.r, in_days.a, in_days.b) == pytest.approx((in_weeks.r, in_weeks.a, in_weeks.b), rel=1e-5)
    assert in_days.alpha == pytest.approx(in_weeks.alpha * 7, rel=1e-5)


def test_bgnbd_fit_recovers_the_parameters_of_simulated_customers():
    truth = {"r": 0.6, "alpha": 40.0, "a": 0.9, "b": 4.0}
    x, t_x, age = simulate_bgnbd(customers=40_000, max_age=720.0, seed=20240601, **truth)
    model = clv.bgnbd_fit(frequency=x, recency=t_x, age=age)
    # sampling error on 40,000 customers is a few percent; a wrong likelihood is off by far more.
    assert model.r == pytest.approx(truth["r"], rel=0.08)
    assert model.alpha == pytest.approx(truth["alpha"], rel=0.1)
    assert model.a == pytest.approx(truth["a"], rel=0.15)
    assert model.b == pytest.approx(truth["b"], rel=0.2)


def test_gamma_gamma_fit_recovers_the_parameters_of_simulated_spend():
    rng = np.random.default_rng(7)
    truth = {"p": 5.0, "q": 3.0, "v": 80.0}
    x = rng.integers(1, 12, 100_000).astype(float)
    nu = rng.gamma(truth["q"], 1.0 / truth["v"], x.size)
    # the mean of x purchases each ~ Gamma(p, rate ν) is Gamma(p·x, rate ν·x).
    zbar = rng.gamma(truth["p"] * x, 1.0 / (nu * x))
    model = clv.gamma_gamma_fit(frequency=x, monetary=zbar)
    assert model.p == pytest.approx(truth["p"], rel=0.05)
    assert model.q == pytest.approx(truth["q"], rel=0.05)
    assert model.v == pytest.approx(truth["v"], rel=0.08)


def test_fit_gradients_agree_with_finite_differences():
    d = cdnow()
    bg_objective = clv._bgnbd_objective(d["x"], d["t_x"] / 30.0, d["T"] / 30.0, np.ones_like(d["x"]))
    repeat = d["x"] > 0
    gg_objective = clv._gamma_gamma_objective(d["x"][repeat], d["zbar"][repeat] / 30.0)
    for objective, theta in (
        (bg_objective, np.log([0.4, 0.2, 0.9, 2.0])),
        (gg_objective, np.log([5.0, 3.0, 0.6])),
    ):
        analytic = objective(theta)[1]
        numeric = np.array(
            [
                (objective(theta + step)[0] - objective(theta - step)[0]) / 2e-6
                for step in np.eye(theta.size) * 1e-6
            ]
        )
        assert analytic == pytest.approx(numeric, rel=1e-4, abs=1e-7)


# ------------------------------------------------------------------------------- too few, or bad


def test_bgnbd_on_a_handful_of_customers_says_too_few_data():
    d = cdnow()
    with pytest.raises(TooFewData, match="at least 50 customers"):
        clv.bgnbd_fit(frequency=d["x"][:30], recency=d["t_x"][:30], age=d["T"][:30])


def test_bgnbd_when_nobody_came_back_says_too_few_data():
    with pytest.raises(TooFewData, match="came back"):
        clv.bgnbd_fit(frequency=np.zeros(500), recency=np.zeros(500), age=np.linspace(1, 300, 500))


def test_bgnbd_when_nobody_seems_to_drop_out_says_the_data_do_not_pin_it_down():
    # pure Poisson buyers, all still buying: the dropout Beta runs off to "never", not a real estimate.
    rng = np.random.default_rng(3)
    age = np.full(3000, 365.0)
    x = rng.poisson(rng.gamma(2.0, 1 / 60.0, age.size) * age).astype(float)
    t_x = np.where(x > 0, age - rng.uniform(0, 1, age.size), 0.0)
    with pytest.raises(TooFewData, match="could not be estimated"):
        clv.bgnbd_fit(frequency=x, recency=t_x, age=age)


def test_gamma_gamma_with_few_repeat_customers_says_too_few_data():
    x = np.array([0.0] * 200 + [1.0] * 5)
    with pytest.raises(TooFewData, match="at least 20 customers"):
        clv.gamma_gamma_fit(frequency=x, monetary=np.full(x.size, 50.0))


def test_gamma_gamma_when_everyone_spends_the_same_says_so():
    with pytest.raises(TooFewData, match="spends the same"):
        clv.gamma_gamma_fit(frequency=np.full(100, 3.0), monetary=np.full(100, 88.0))


@pytest.mark.parametrize(
    ("frequency", "recency", "age"),
    [([1.0, 2.0], [3.0], [5.0, 6.0]), ([-1.0], [0.0], [5.0]), ([1.0], [7.0], [5.0]), ([0.0], [2.0], [5.0])],
)
def test_impossible_histories_are_a_programming_error_not_too_few_data(frequency, recency, age):
    with pytest.raises(ValueError):
        clv.bgnbd_fit(frequency=np.array(frequency), recency=np.array(recency), age=np.array(age))


# ------------------------------------------------------------------------------------------ churn


def test_interval_churn_ratio_is_days_since_last_order_over_the_usual_interval():
    ratio = clv.interval_churn_ratio(
        days_since_last=np.array([30.0, 90.0, 10.0]), interval_days=np.array([30.0, 45.0, 40.0])
    )
    assert np.allclose(ratio, [1.0, 2.0, 0.25])


def test_interval_churn_ratio_is_nan_without_an_interval():
    ratio = clv.interval_churn_ratio(
        days_since_last=np.array([30.0, 30.0, 30.0]), interval_days=np.array([np.nan, 0.0, None], dtype=float)
    )
    assert np.all(np.isnan(ratio))


def test_when_nobody_came_back_the_models_say_so_without_counting_zero():
    nobody = np.zeros(500)

    with pytest.raises(TooFewData, match="none has come back yet") as patterns:
        clv.bgnbd_fit(frequency=nobody, recency=nobody, age=np.linspace(1, 300, 500))
    with pytest.raises(TooFewData, match="none has come back yet") as spend:
        clv.gamma_gamma_fit(frequency=nobody, monetary=np.full(500, 50.0))

    assert "there are 0" not in str(patterns.value) + str(spend.value)


def test_one_repeat_customer_is_counted_in_the_singular():
    x = np.array([0.0] * 200 + [1.0])

    with pytest.raises(TooFewData, match=r"second order; there is 1\."):
        clv.gamma_gamma_fit(frequency=x, monetary=np.full(x.size, 50.0))
