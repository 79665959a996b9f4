"""Sales forecasting, pure: numbers in, numbers out (numpy, pandas, statsmodels; no database).

The model is exponential smoothing in its state-space form (statsmodels' ``ETSModel``; Hyndman et al.,
*Forecasting with Exponential Smoothing*, 2008): additive errors, an additive damped trend, and an
additive season of 52 weeks or 12 months when the history holds at least two full seasons (fewer cannot
tell a season from noise), else the trend alone. Why these:

- additive errors, because a small shop has weeks without a sale, and multiplicative errors or seasons
  need every value above zero; they also give exact analytic prediction intervals (no simulation), so
  the same history gives the same band every night and a test can check it;
- a damped trend, because an undamped one extrapolates a good quarter for ever (Gardner & McKenzie);
- initial states by statsmodels' heuristic (a regression over the first seasons), because estimating 52
  initial weekly seasonals by likelihood is both slow and over-fitted on two or three years.

Shopping festivals do not keep to a 52-week season: 双11 (11 November) and 618 (18 June) fall in a
different ISO week from year to year, and 春节 moves by weeks between January and February, when couriers
stop and sales dip. ETS takes no regressors, so each event's effect is estimated from history as a
multiplicative factor (the event periods against the ordinary periods on either side), divided out
before fitting and multiplied back onto the forecast periods that hold the event.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from lunardate import LunarDate

WEEK, MONTH = "week", "month"
SEASON_LENGTH = {WEEK: 52, MONTH: 12}
# The least history a forecast is made from. Weekly: a quarter, the floor. Monthly: ten months,
# the least from which statsmodels' heuristic can set the initial level and trend.
MIN_PERIODS = {WEEK: 12, MONTH: 10}

DOUBLE_11, MID_YEAR_618, SPRING_FESTIVAL = "double11", "618", "spring_festival"
EVENTS = (DOUBLE_11, MID_YEAR_618, SPRING_FESTIVAL)
# 春节: the fortnight from 6 days before 正月初一 to 7 days after, when couriers stop. With weeks from
# Monday, exactly two weeks hold most of any fortnight, whatever weekday it starts on.
SPRING_BEFORE_DAYS, SPRING_AFTER_DAYS = 6, 7
# The ordinary periods an event is compared with: up to this many on each side, within this distance
# (weeks or months), skipping other events' periods.
NEIGHBOURS = {WEEK: (3, 6), MONTH: (1, 2)}
# A factor below this means the event's periods are as good as empty (a shop closed for 春节): dividing by
# it would blow them up, so its periods are replaced by their neighbours' level instead.
FACTOR_FLOOR = 0.05


def spring_festival(year: int) -> date:
    """正月初一 of ``year``: its Gregorian date moves between 21 January and 20 February."""
    return LunarDate(year, 1, 1).to_solar_date()


def period_next(start: date, period: str, steps: int = 1) -> date:
    for _step in range(steps):
        start = start + timedelta(days=7) if period == WEEK else (start + timedelta(days=32)).replace(day=1)
    return start


def _period_end(start: date, period: str) -> date:
    """The last day of the period beginning on ``start``."""
    return period_next(start, period) - timedelta(days=1)


def _overlap_days(start: date, end: date, first: date, last: date) -> int:
    return max(0, (min(end, last) - max(start, first)).days + 1)


def event_of(start: date, period: str) -> str | None:
    """The shopping event the period beginning on ``start`` holds, if any: the week or month holding
    11 November (双11) or 18 June (618); for 春节, the two weeks with most of their days in the fortnight
    around 正月初一, or the month holding 正月初一."""
    end = _period_end(start, period)
    for year in {start.year, end.year}:
        if start <= date(year, 11, 11) <= end:
            return DOUBLE_11
        if start <= date(year, 6, 18) <= end:
            return MID_YEAR_618
    for year in {start.year, end.year}:
        new_year = spring_festival(year)
        if period == MONTH:
            # The fortnight starts 6 days before and ends 7 after, so the month of 正月初一 always holds
            # most of it (or half, when 正月初一 is the last day of January).
            if start <= new_year <= end:
                return SPRING_FESTIVAL
            continue
        first = new_year - timedelta(days=SPRING_BEFORE_DAYS)
        last = new_year + timedelta(days=SPRING_AFTER_DAYS)
        if 2 * _overlap_days(start, end, first, last) > (end - start).days + 1:
            return SPRING_FESTIVAL
    return None


@dataclass(frozen=True)
class EventFactor:
    """How an event moves its periods' sales: ``factor`` × an ordinary period (None: its periods have
    never been seen with ordinary periods on both sides), from ``occurrences`` years of history."""

    event: str
    factor: float | None
    occurrences: int


def _runs(labels: Sequence[str | None], event: str) -> list[tuple[int, int]]:
    """The consecutive stretches (first, last index) of periods labelled ``event``."""
    runs: list[tuple[int, int]] = []
    for i, label in enumerate(labels):
        if label != event:
            continue
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _neighbour_level(
    values: np.ndarray, labels: Sequence[str | None], first: int, last: int, period: str
) -> float | None:
    """The mean of the ordinary periods on either side of ``first..last``; None without one on each side."""
    count, reach = NEIGHBOURS[period]
    before = [i for i in range(first - 1, max(-1, first - 1 - reach), -1) if labels[i] is None][:count]
    after = [i for i in range(last + 1, min(len(values), last + 1 + reach)) if labels[i] is None][:count]
    if not before or not after:
        return None
    return float(np.mean(values[before + after]))


def event_factors(
    values: Sequence[float], labels: Sequence[str | None], period: str
) -> dict[str, EventFactor]:
    """Each event's factor: its periods' sales over what the ordinary periods around them sold, summed
    over the years (a ratio of sums, so a year that sold nothing on either side weighs nothing, and a
    bigger recent year weighs more)."""
    array = np.asarray(values, dtype=float)
    factors: dict[str, EventFactor] = {}
    for event in EVENTS:
        actual = baseline = 0.0
        seen = 0
        for first, last in _runs(labels, event):
            level = _neighbour_level(array, labels, first, last, period)
            if level is None or level <= 0:
                continue
            actual += float(array[first : last + 1].sum())
            baseline += level * (last - first + 1)
            seen += 1
        factors[event] = EventFactor(event, actual / baseline if seen else None, seen)
    return factors


def events_removed(
    values: Sequence[float], labels: Sequence[str | None], factors: dict[str, EventFactor], period: str
) -> np.ndarray:
    """``values`` as if no event had happened: each event period divided by its event's factor."""
    adjusted = np.asarray(values, dtype=float).copy()
    for event, found in factors.items():
        if found.factor is None:
            continue
        for first, last in _runs(labels, event):
            if found.factor >= FACTOR_FLOOR:
                adjusted[first : last + 1] /= found.factor
            else:
                level = _neighbour_level(adjusted, labels, first, last, period)
                if level is not None:
                    adjusted[first : last + 1] = level
    return adjusted


@dataclass(frozen=True)
class Forecast:
    """The next ``len(starts)`` periods: the point forecast and the prediction interval at ``interval``
    (never below zero), the event each period holds and the factor put on it."""

    starts: list[date]
    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    events: list[str | None]
    multipliers: np.ndarray
    seasonal: bool
    model: str
    factors: dict[str, EventFactor] = field(default_factory=dict)


def _ets(values: np.ndarray, *, seasonal: bool, season: int, horizon: int, interval: float) -> pd.DataFrame:
    """Fit ETS(A,Ad,A) or ETS(A,Ad,N) to ``values`` and predict the next ``horizon`` periods."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    model = ETSModel(
        pd.Series(values),
        error="add",
        trend="add",
        damped_trend=True,
        seasonal="add" if seasonal else None,
        seasonal_periods=season if seasonal else None,
        initialization_method="heuristic",
    )
    with warnings.catch_warnings():
        # The optimiser's convergence chatter and divisions by a zero variance on a constant series: the
        # fit it returns is still the best one found, and a constant series forecasts itself.
        warnings.simplefilter("ignore")
        fitted = model.fit(disp=False)
        frame = fitted.get_prediction(start=len(values), end=len(values) + horizon - 1).summary_frame(
            alpha=1 - interval
        )
    return frame.fillna({"pi_lower": frame["mean"], "pi_upper": frame["mean"]})


def forecast(
    values: Sequence[float], starts: Sequence[date], *, period: str, horizon: int, interval: float = 0.8
) -> Forecast:
    """Forecast the ``horizon`` periods after the history ``values`` (one per period beginning on
    ``starts``, oldest first, no gaps).

    Guarantees: ``lower ≤ mean ≤ upper`` and none below zero; an event period's figures are its
    event's factor times the smooth forecast; a history shorter than ``MIN_PERIODS`` raises ValueError
    (the caller says so in words)."""
    if len(values) != len(starts):
        raise ValueError("one value per period")
    if len(values) < MIN_PERIODS[period]:
        raise ValueError(f"at least {MIN_PERIODS[period]} periods are needed")
    season = SEASON_LENGTH[period]
    seasonal = len(values) >= 2 * season
    labels = [event_of(start, period) for start in starts]
    factors = event_factors(values, labels, period)
    adjusted = events_removed(values, labels, factors, period)
    frame = _ets(adjusted, seasonal=seasonal, season=season, horizon=horizon, interval=interval)

    future = [period_next(starts[-1], period, step) for step in range(1, horizon + 1)]
    future_events = [event_of(start, period) for start in future]
    multipliers = np.array(
        [factors[e].factor if e is not None and factors[e].factor is not None else 1.0 for e in future_events]
    )
    # Sales are never negative: the band and the line stop at zero (the model itself is unbounded).
    mean = np.clip(frame["mean"].to_numpy() * multipliers, 0, None)
    lower = np.clip(frame["pi_lower"].to_numpy() * multipliers, 0, None)
    upper = np.clip(frame["pi_upper"].to_numpy() * multipliers, 0, None)
    return Forecast(
        starts=future,
        mean=mean,
        lower=np.minimum(lower, mean),
        upper=np.maximum(upper, mean),
        events=future_events,
        multipliers=multipliers,
        seasonal=seasonal,
        model="ETS(A,Ad,A)" if seasonal else "ETS(A,Ad,N)",
        factors=factors,
    )


def mape(actual: Sequence[float], predicted: Sequence[float]) -> tuple[float | None, int]:
    """Mean absolute percentage error, in percent, and how many periods were skipped because nothing was
    sold in them (an error relative to zero is undefined). None when every period was skipped."""
    pairs = [(a, p) for a, p in zip(actual, predicted, strict=True) if a != 0]
    skipped = len(actual) - len(pairs)
    if not pairs:
        return None, skipped
    return 100.0 * sum(abs(a - p) / abs(a) for a, p in pairs) / len(pairs), skipped


SEASONAL_NAIVE, LAST_VALUE = "seasonal", "last"


def seasonal_naive(values: Sequence[float], *, target: int, horizon: int, season: int) -> tuple[float, str]:
    """The baseline's forecast for period ``target`` made ``horizon`` periods before it: the same period
    one season earlier (or as many seasons as it takes to be known then); without that much history,
    the last value known then."""
    seasons_back = math.ceil(horizon / season)
    same = target - season * seasons_back
    if same >= 0:
        return float(values[same]), SEASONAL_NAIVE
    return float(values[target - horizon]), LAST_VALUE


@dataclass(frozen=True)
class BacktestRow:
    start: date
    actual: float
    model: float
    baseline: float
    baseline_kind: str
    seasonal: bool


@dataclass(frozen=True)
class Backtest:
    """The last periods, each forecast ``horizon`` periods ahead from the history before it, by the model
    (refitted at each origin, events re-estimated) and by the seasonal-naive baseline."""

    horizon: int
    rows: list[BacktestRow]
    mape_model: float | None
    mape_baseline: float | None
    skipped_zero: int

    @property
    def winner(self) -> str | None:
        """ "model", "baseline" or "tie" (equal to a tenth of a point, as shown); None without figures."""
        if self.mape_model is None or self.mape_baseline is None:
            return None
        model, baseline = round(self.mape_model, 1), round(self.mape_baseline, 1)
        return "tie" if model == baseline else ("model" if model < baseline else "baseline")


def backtest(
    values: Sequence[float],
    starts: Sequence[date],
    *,
    period: str,
    periods: int,
    horizon: int,
    interval: float = 0.8,
) -> Backtest | None:
    """Rolling-origin backtest over the last ``periods`` periods. Targets whose origin has less than
    ``MIN_PERIODS`` of history are left out; None when none is left."""
    season = SEASON_LENGTH[period]
    rows: list[BacktestRow] = []
    for target in range(max(0, len(values) - periods), len(values)):
        origin = target - horizon + 1  # the history is values[:origin]
        if origin < MIN_PERIODS[period]:
            continue
        made = forecast(values[:origin], starts[:origin], period=period, horizon=horizon, interval=interval)
        baseline, kind = seasonal_naive(values, target=target, horizon=horizon, season=season)
        rows.append(
            BacktestRow(
                start=starts[target],
                actual=float(values[target]),
                model=float(made.mean[-1]),
                baseline=baseline,
                baseline_kind=kind,
                seasonal=made.seasonal,
            )
        )
    if not rows:
        return None
    actual = [row.actual for row in rows]
    mape_model, skipped = mape(actual, [row.model for row in rows])
    mape_baseline, _skipped = mape(actual, [row.baseline for row in rows])
    return Backtest(
        horizon=horizon, rows=rows, mape_model=mape_model, mape_baseline=mape_baseline, skipped_zero=skipped
    )
