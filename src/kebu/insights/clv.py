"""Customer lifetime value and churn: the BG/NBD and Gamma-Gamma models, fitted by maximum likelihood.

Pure numpy/scipy, vectorised over all customers at once (no loop per customer), so the same code fits a
shop of 300 customers and one of a million.

- BG/NBD (Fader, Hardie & Lee, "Counting Your Customers the Easy Way", Marketing Science 2005): while
  alive a customer buys at a Poisson rate λ ~ Gamma(r, α); after each purchase they drop out with
  probability p ~ Beta(a, b). Gives P(alive) and the expected number of purchases in a coming period.
- Gamma-Gamma (Fader, Hardie & Lee, "RFM and CLV: Using Iso-Value Curves", JMR 2005, and Fader & Hardie's
  note "The Gamma-Gamma Model of Monetary Value", 2013): a customer's spend per purchase varies around
  their own mean, which varies across customers; gives the expected spend per purchase, shrinking a
  customer's observed mean towards the shop's the fewer purchases it rests on.

Inputs are per-customer arrays in any one time unit (the caller uses days): ``frequency`` = repeat
purchases (orders − 1), ``recency`` = time from the first to the last purchase, ``age`` = time from the
first purchase to the end of observation (the papers' x, t_x and T).

The validation against the published CDNOW results lives in tests/test_clv.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, optimize, special

from kebu.insights.messages import too_few

__all__ = [
    "BgNbd",
    "GammaGamma",
    "bgnbd_expected_purchases",
    "bgnbd_fit",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "clv_expected",
    "gamma_gamma_expected_spend",
    "gamma_gamma_fit",
    "gamma_gamma_log_likelihood",
    "interval_churn_ratio",
]

# Below these counts a fit is noise with decimals: the likelihood surface is flat and the parameters
# wander with each added customer. The figures are conventions, not theorems; the bench and the CDNOW
# test (2,357 customers, 946 repeaters) sit far above them.
MIN_CUSTOMERS = 50
MIN_REPEATERS = 20
# A log-parameter beyond this has run off towards 0 or infinity: the data do not pin it down (e.g. no
# one ever seems to drop out, so the dropout Beta degenerates). Such a "fit" would print confident noise.
LOG_PARAM_LIMIT = 12.0
# A mean dropout chance per purchase below this (one in 10,000 purchases) is the dropout part of the
# model fading away, typically because every customer is still buying (a young shop): the optimiser then
# stops wherever the flat likelihood lets it, and P(alive) and churn figures would be artefacts.
MIN_DROPOUT = 1e-4


@dataclass(frozen=True)
class BgNbd:
    """A fitted BG/NBD model: λ ~ Gamma(shape r, rate α) in purchases per time unit of the fit,
    dropout p ~ Beta(a, b). ``log_likelihood`` is the maximised total over ``customers``."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int


@dataclass(frozen=True)
class GammaGamma:
    """A fitted Gamma-Gamma spend model (shape p per transaction; the customer's rate ν ~ Gamma(q, v)),
    over the ``customers`` with at least one repeat purchase."""

    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int


def _as_float(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _check_bgnbd_inputs(frequency: np.ndarray, recency: np.ndarray, age: np.ndarray) -> None:
    """Bad shapes or impossible histories are the caller's bug, not thin data: raise ValueError."""
    if not (frequency.shape == recency.shape == age.shape) or frequency.ndim != 1:
        raise ValueError("frequency, recency and age must be 1-d arrays of one length")
    if not (np.all(np.isfinite(frequency)) and np.all(np.isfinite(recency)) and np.all(np.isfinite(age))):
        raise ValueError("frequency, recency and age must be finite")
    if np.any(frequency < 0) or np.any(recency < 0) or np.any(recency > age):
        raise ValueError("need frequency >= 0 and 0 <= recency <= age")
    if np.any((frequency == 0) & (recency != 0)):
        raise ValueError("a customer without a repeat purchase has recency 0")


# --------------------------------------------------------------------------------------------- BG/NBD


def _bgnbd_mixture(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The two parts of the paper's eq. 6, in logs and without their common factor: "still alive at T"
    and "dropped out right after the last purchase" (−inf without a repeat purchase)."""
    log_alive = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    log_dead = np.full_like(x, -np.inf)
    xr = x[repeat]
    log_dead[repeat] = np.log(a) - np.log(b + xr - 1.0) - (r + xr) * np.log(alpha + t_x[repeat])
    return log_alive, log_dead


def bgnbd_log_likelihood(
    *, r: float, alpha: float, a: float, b: float, frequency: Any, recency: Any, age: Any
) -> np.ndarray:
    """Each customer's BG/NBD log-likelihood at the given parameters (the paper's eq. 6, in logs)."""
    x, t_x, big_t = _as_float(frequency), _as_float(recency), _as_float(age)
    common = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )
    log_alive, log_dead = _bgnbd_mixture(r, alpha, a, b, x, t_x, big_t)
    return common + np.logaddexp(log_alive, log_dead)


def _bgnbd_objective(
    x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, weight: np.ndarray
) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Negative mean log-likelihood over log-parameters, with its analytic gradient.

    The terms that depend on x only (the Gamma and Beta functions) are summed over the distinct x
    values, of which there are few; customers without a repeat purchase have only the "alive" term; the
    mixture runs over the distinct repeat histories alone. Without the gradient the optimiser would need
    five likelihood passes per step."""
    total = float(weight.sum())
    ux, x_inverse = np.unique(x, return_inverse=True)
    x_weight = np.bincount(x_inverse, weights=weight)
    once = x == 0
    t_once, w_once = big_t[once], weight[once]
    repeat = ~once
    xr, t_xr, t_r, w_r = x[repeat], t_x[repeat], big_t[repeat], weight[repeat]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        r, alpha, a, b = np.exp(theta)
        # x-only parts, on the distinct x values.
        ll_x = (
            special.gammaln(r + ux)
            - special.gammaln(r)
            + r * np.log(alpha)
            + special.betaln(a, b + ux)
            - special.betaln(a, b)
        )
        d_r_x = special.digamma(r + ux) - special.digamma(r) + np.log(alpha)
        d_a_x = special.digamma(a + b) - special.digamma(a + b + ux)
        d_b_x = d_a_x + special.digamma(b + ux) - special.digamma(b)
        # no repeat purchase: alive for sure, the likelihood's last factor is (α+T)^-r.
        log_at_once = np.log(alpha + t_once)
        # repeat buyers: the mixture of "still alive at T" and "dropped out after the last purchase".
        log_at, log_atx = np.log(alpha + t_r), np.log(alpha + t_xr)
        r_x = r + xr
        log_alive = -r_x * log_at
        log_dead = np.log(a) - np.log(b + xr - 1.0) - r_x * log_atx
        mix = np.logaddexp(log_alive, log_dead)
        w_alive = np.exp(log_alive - mix)
        w_dead = 1.0 - w_alive
        ll = float(x_weight @ ll_x - r * (w_once @ log_at_once) + w_r @ mix)
        d_r = x_weight @ d_r_x - w_once @ log_at_once - w_r @ (w_alive * log_at + w_dead * log_atx)
        d_alpha = (
            r / alpha * total
            - r * (w_once @ (1.0 / (alpha + t_once)))
            - w_r @ (r_x * (w_alive / (alpha + t_r) + w_dead / (alpha + t_xr)))
        )
        d_a = x_weight @ d_a_x + (w_r @ w_dead) / a
        d_b = x_weight @ d_b_x - w_r @ (w_dead / (b + xr - 1.0))
        # chain rule for log-parameters; mean rather than sum so the tolerances mean the same at any size.
        gradient = np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
        return -ll / total, -gradient / total

    return objective


def _minimise(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]], starts: list[np.ndarray]
) -> optimize.OptimizeResult:
    """L-BFGS-B over log-parameters from each start in turn until one converges; that result, or the best
    of the failures."""
    bounds = [(-LOG_PARAM_LIMIT - 3.0, LOG_PARAM_LIMIT + 3.0)] * len(starts[0])
    best: optimize.OptimizeResult | None = None
    for start in starts:
        if best is not None and best.success:
            break
        result = optimize.minimize(
            objective,
            start,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9},
        )
        if best is None or (result.success, -result.fun) > (best.success, -best.fun):
            best = result
    assert best is not None
    return best


def _compress(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows of the given columns and how often each occurs. With whole days as the unit, a
    million customers collapse to far fewer distinct (x, t_x, T) histories. (A lexsort, several times
    faster than ``np.unique(axis=0)``, which sorts rows as opaque byte strings.)"""
    order = np.lexsort(columns[::-1])
    sorted_columns = [column[order] for column in columns]
    changes = np.zeros(order.size, dtype=bool)
    changes[0] = True
    for column in sorted_columns:
        changes[1:] |= column[1:] != column[:-1]
    starts = np.flatnonzero(changes)
    counts = np.diff(np.append(starts, order.size)).astype(np.float64)
    return [column[starts] for column in sorted_columns], counts


def bgnbd_fit(*, frequency: Any, recency: Any, age: Any) -> BgNbd:
    """Fit BG/NBD by maximum likelihood. Raises TooFewData, saying what is missing, when the data cannot
    support a fit (too few customers or repeat buyers, an optimiser that does not converge, or a
    parameter running off to zero or infinity); the returned model is always a converged interior
    maximum. Times are in the caller's unit and so is ``alpha``."""
    x, t_x, big_t = _as_float(frequency), _as_float(recency), _as_float(age)
    _check_bgnbd_inputs(x, t_x, big_t)
    customers = int(x.size)
    repeaters = int(np.count_nonzero(x))
    if customers < MIN_CUSTOMERS:
        raise too_few("clv.customers", min=MIN_CUSTOMERS, n=customers)
    if repeaters < MIN_REPEATERS:
        raise too_few("clv.repeaters", min=MIN_REPEATERS, n=repeaters)
    if float(big_t.max()) <= 0:
        raise too_few("clv.no_history")
    # Fit in units of the mean age so the start point and tolerances suit days, weeks or years alike;
    # r, a and b do not depend on the unit, α scales with it.
    scale = float(big_t.mean())
    (ux, ut_x, ubig_t), weight = _compress(x, t_x / scale, big_t / scale)
    objective = _bgnbd_objective(ux, ut_x, ubig_t, weight)
    mean_rate = float(x.sum() / big_t.sum()) * scale
    starts = [np.zeros(4), np.log([1.0, 1.0 / max(mean_rate, 1e-3), 1.0, 3.0])]
    result = _minimise(objective, starts)
    if not result.success or not np.all(np.isfinite(result.x)):
        raise too_few("clv.unsettled")
    r, alpha_scaled, a, b = (float(v) for v in np.exp(result.x))
    if np.any(np.abs(result.x) > LOG_PARAM_LIMIT) or a / (a + b) < MIN_DROPOUT:
        raise too_few("clv.unclear")
    alpha = alpha_scaled * scale
    log_likelihood = float(
        bgnbd_log_likelihood(r=r, alpha=alpha, a=a, b=b, frequency=x, recency=t_x, age=big_t).sum()
    )
    return BgNbd(r=r, alpha=alpha, a=a, b=b, log_likelihood=log_likelihood, customers=customers)


def bgnbd_p_alive(model: BgNbd, *, frequency: Any, recency: Any, age: Any) -> np.ndarray:
    """Probability that each customer is still "alive" (has not dropped out) at the end of observation.
    Exactly 1 for a customer with no repeat purchase: in this model a customer can only drop out right
    after a purchase, so one who never came back has had no chance to."""
    x, t_x, big_t = _as_float(frequency), _as_float(recency), _as_float(age)
    log_alive, log_dead = _bgnbd_mixture(model.r, model.alpha, model.a, model.b, x, t_x, big_t)
    # P = alive / (alive + dead) = 1 / (1 + exp(dead − alive)), written as a logistic to stay exact.
    return special.expit(log_alive - log_dead)


def _bgnbd_tail(
    r: float, alpha: float, a: float, b: float, x: np.ndarray, big_t: np.ndarray, horizon: float
) -> np.ndarray:
    """((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x−1; t/(α+T+t)), the paper's eq. 10 term, computed in
    a form whose hypergeometric series stays tame.

    Euler's transformation turns it into (1−z)^(a−1) · 2F1(a+b−1−r, a−1; a+b+x−1; z), z = t/(α+T+t),
    whose upper parameters no longer grow with x (no overflow or cancellation for heavy buyers). Where
    scipy still gives up on that one (extreme parameters: b in the thousands with t ≫ α+T), Pfaff's
    transformation gives the same value as 2F1(r+x, a−1; a+b+x−1; −t/(α+T)), evaluated another way."""
    scale = alpha + big_t
    one_minus_z = scale / (scale + horizon)
    tail = one_minus_z ** (a - 1.0) * special.hyp2f1(
        a + b - 1.0 - r, a - 1.0, a + b + x - 1.0, 1.0 - one_minus_z
    )
    bad = ~np.isfinite(tail)
    if bad.any():
        tail[bad] = special.hyp2f1(r + x[bad], a - 1.0, a + b + x[bad] - 1.0, -horizon / scale[bad])
    return tail


def _expected_if_alive_by_quadrature(
    r: float, alpha: float, a: float, b: float, x: float, big_t: float, horizon: float
) -> float:
    """The expected purchases of a customer alive at T, by numerical integration rather than the
    hypergeometric closed form: given alive, λ ~ Gamma(r+x, α+T) and p ~ Beta(a, b+x), and a customer
    with those makes (1 − e^{−λpt})/p purchases in the next t on average; integrating λ out gives
    (1 − ((α+T)/(α+T+pt))^(r+x))/p, integrated here over p. The last resort for parameters so extreme
    that scipy's 2F1 fails in both forms (never seen with fitted shop parameters)."""
    k, shape_b = r + x, b + x
    scale = alpha + big_t
    log_norm = -float(special.betaln(a, shape_b))

    def integrand(p: float) -> float:
        ahead = -np.expm1(-k * np.log1p(p * horizon / scale)) / p
        return float(np.exp((a - 1.0) * np.log(p) + (shape_b - 1.0) * np.log1p(-p) + log_norm) * ahead)

    mean = a / (a + shape_b)
    spread = np.sqrt(mean * (1.0 - mean) / (a + shape_b + 1.0))
    # Break points around the Beta's bulk, which may be a sliver near 0 the default rule would step over.
    points = sorted({float(np.clip(mean + c * spread, 1e-12, 1.0 - 1e-12)) for c in (-3.0, 0.0, 3.0, 10.0)})
    value, _error = integrate.quad(integrand, 0.0, 1.0, points=points, limit=400)
    return float(value)


def bgnbd_expected_purchases(
    model: BgNbd, *, horizon: float, frequency: Any, recency: Any, age: Any
) -> np.ndarray:
    """Each customer's expected number of purchases in the next ``horizon`` time units, given their
    history (the paper's eq. 10): (a+b+x−1)/(a−1) · (1 − tail) · P(alive)."""
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    x, big_t = _as_float(frequency), _as_float(age)
    if horizon < 0:
        raise ValueError("horizon must be >= 0")
    if horizon == 0:
        return np.zeros_like(x)
    if abs(a - 1.0) < 1e-9:
        # (1 − tail)/(a − 1) is 0/0 at a = 1; nudge a hair off it (the expectation is continuous in a).
        a = 1.0 + 1e-9 if a >= 1.0 else 1.0 - 1e-9
    tail = _bgnbd_tail(r, alpha, a, b, x, big_t, float(horizon))
    expected_if_alive = (a + b + x - 1.0) / (a - 1.0) * (1.0 - tail)
    failed = np.flatnonzero(~np.isfinite(expected_if_alive))
    if failed.size:
        # Once per distinct (x, T) among the failures, which are rare to begin with.
        pairs, inverse = np.unique(np.column_stack([x[failed], big_t[failed]]), axis=0, return_inverse=True)
        values = np.array(
            [_expected_if_alive_by_quadrature(r, alpha, a, b, px, pt, float(horizon)) for px, pt in pairs]
        )
        expected_if_alive[failed] = values[inverse.ravel()]
    return expected_if_alive * bgnbd_p_alive(model, frequency=frequency, recency=recency, age=age)


# ----------------------------------------------------------------------------------------- Gamma-Gamma


def gamma_gamma_log_likelihood(*, p: float, q: float, v: float, frequency: Any, monetary: Any) -> np.ndarray:
    """Each repeat customer's Gamma-Gamma log-likelihood of their mean spend (Fader & Hardie 2013, eq. 3)
    given x transactions; the caller passes only customers with frequency > 0 and monetary > 0."""
    x, z = _as_float(frequency), _as_float(monetary)
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * np.log(z)
        + px * np.log(x)
        - (px + q) * np.log(v + x * z)
    )


def _gamma_gamma_objective(x: np.ndarray, z: np.ndarray) -> Callable[[np.ndarray], tuple[float, np.ndarray]]:
    """Negative mean log-likelihood over log-parameters, with its analytic gradient. The Gamma-function
    terms depend on x only and run over its few distinct values; per customer only log(v + x·z) and
    one division remain."""
    n = float(x.size)
    ux, x_inverse = np.unique(x, return_inverse=True)
    x_count = np.bincount(x_inverse).astype(np.float64)
    log_ux = np.log(ux)
    xz = x * z
    sum_log_z = float(np.log(z).sum())
    sum_x_log_z = float(x @ np.log(z))

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p, q, v = np.exp(theta)
        pux = p * ux
        log_vxz = np.log(v + xz)
        inv_vxz = 1.0 / (v + xz)
        sum_log_vxz, x_log_vxz = float(log_vxz.sum()), float(x @ log_vxz)
        ll = (
            x_count @ (special.gammaln(pux + q) - special.gammaln(pux) + pux * log_ux)
            - n * special.gammaln(q)
            + n * q * np.log(v)
            + p * sum_x_log_z
            - sum_log_z
            - p * x_log_vxz
            - q * sum_log_vxz
        )
        psi_pxq = special.digamma(pux + q)
        d_p = x_count @ (ux * (psi_pxq - special.digamma(pux) + log_ux)) + sum_x_log_z - x_log_vxz
        d_q = x_count @ psi_pxq - n * special.digamma(q) + n * np.log(v) - sum_log_vxz
        d_v = n * q / v - p * float(x @ inv_vxz) - q * float(inv_vxz.sum())
        gradient = np.array([d_p * p, d_q * q, d_v * v])
        return -float(ll) / n, -gradient / n

    return objective


def gamma_gamma_fit(*, frequency: Any, monetary: Any) -> GammaGamma:
    """Fit Gamma-Gamma by maximum likelihood on the customers with a repeat purchase (frequency > 0) and
    a positive mean spend; the others are ignored, as the model asks. Raises TooFewData when they are
    too few, when the fit does not converge or runs off to a bound, or when q ≤ 1 (spend so uneven the
    model has no finite mean, so no expected spend could be given). ``monetary`` is the mean value of
    each customer's purchases (the papers use the repeat purchases only); ``v`` is in its currency."""
    x_all, z_all = _as_float(frequency), _as_float(monetary)
    if x_all.shape != z_all.shape or x_all.ndim != 1:
        raise ValueError("frequency and monetary must be 1-d arrays of one length")
    keep = (x_all > 0) & np.isfinite(z_all) & (z_all > 0)
    x, z = x_all[keep], z_all[keep]
    if x.size < MIN_REPEATERS:
        raise too_few("spend.repeaters", min=MIN_REPEATERS, n=int(x.size))
    if float(np.ptp(z)) <= 1e-9 * float(z.max()):
        raise too_few("spend.same")
    # Fit in units of the mean spend (v scales with the currency unit, p and q do not).
    scale = float(z.mean())
    objective = _gamma_gamma_objective(x, z / scale)
    result = _minimise(objective, [np.zeros(3), np.log([4.0, 4.0, 3.0])])
    if not result.success or not np.all(np.isfinite(result.x)):
        raise too_few("spend.unsettled")
    if np.any(np.abs(result.x) > LOG_PARAM_LIMIT):
        raise too_few("spend.unclear")
    p, q, v_scaled = (float(value) for value in np.exp(result.x))
    if q <= 1.0:
        raise too_few("spend.uneven")
    v = v_scaled * scale
    log_likelihood = float(gamma_gamma_log_likelihood(p=p, q=q, v=v, frequency=x, monetary=z).sum())
    return GammaGamma(p=p, q=q, v=v, log_likelihood=log_likelihood, customers=int(x.size))


def gamma_gamma_expected_spend(model: GammaGamma, *, frequency: Any, monetary: Any) -> np.ndarray:
    """Each customer's expected spend per future purchase: a weighted average of the shop's mean spend
    per purchase (v·p/(q−1)) and the customer's own observed mean, the weight growing with their number
    of repeat purchases. A customer with none (or no usable mean) gets the shop's mean."""
    x, z = _as_float(frequency), _as_float(monetary)
    usable = (x > 0) & np.isfinite(z) & (z > 0)
    xz = np.where(usable, x * np.where(usable, z, 0.0), 0.0)
    px = np.where(usable, model.p * x, 0.0)
    return model.p * (model.v + xz) / (px + model.q - 1.0)


def clv_expected(
    bg: BgNbd,
    gg: GammaGamma,
    *,
    horizon: float,
    frequency: Any,
    recency: Any,
    age: Any,
    monetary: Any,
) -> np.ndarray:
    """Each customer's expected spend over the next ``horizon`` time units: expected purchases (BG/NBD)
    times expected spend per purchase (Gamma-Gamma), in the currency of ``monetary``.

    Not discounted. Over the 90- and 365-day horizons shown, a discount rate of ~10% a year would lower
    the figure by 1–5%, well inside the models' own uncertainty, and discounting would need the papers'
    DERL integral instead of this closed form; the figures are "expected spend", not a capital value."""
    purchases = bgnbd_expected_purchases(bg, horizon=horizon, frequency=frequency, recency=recency, age=age)
    spend = gamma_gamma_expected_spend(gg, frequency=frequency, monetary=monetary)
    return purchases * spend


# ------------------------------------------------------------------------------------------------ churn


def interval_churn_ratio(*, days_since_last: Any, interval_days: Any) -> np.ndarray:
    """Days since the customer's last order ÷ their own average days between orders: about 1 means
    "due now", 2 "twice as late as usual". NaN where there is no interval (fewer than two orders, or
    a zero/missing interval) — not a guess."""
    since = _as_float(days_since_last)
    interval = _as_float(interval_days)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = since / interval
    return np.where(np.isfinite(interval) & (interval > 0) & np.isfinite(since), ratio, np.nan)
