"""The sales forecast, computed nightly (and on demand) into the run's result.

For weeks and for months, and for net sales and for orders: the history (counted as the sales summary
counts it, ``selectors/sales_series.py``), the forecast with its prediction interval, each shopping
event's factor, and a backtest beside the seasonal-naive baseline (``kebu.insights.forecast``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.utils import timezone

from kebu.insights import forecast as model
from kebu.insights.messages import message_stored, too_few
from kebu.insights.models import InsightRun
from kebu.insights.selectors.sales_series import SalesSeries, sales_days, sales_series

WEEK, MONTH = model.WEEK, model.MONTH
METRICS = ("net", "orders")
DEFAULT_HORIZON = {WEEK: 26, MONTH: 6}
MAX_HORIZON = {WEEK: 52, MONTH: 12}
DEFAULT_INTERVAL = 0.8
# The backtest: the last 12 weeks, each forecast 4 weeks ahead; the last 6 months, each 2 months ahead.
# Further ahead than one step, because a merchant plans stock weeks ahead, not for tomorrow.
BACKTEST = {WEEK: (12, 4), MONTH: (6, 2)}
HORIZON_PARAM = {WEEK: "horizon_weeks", MONTH: "horizon_months"}


def _int_param(params: dict[str, Any], key: str, *, default: int, low: int, high: int) -> int:
    try:
        value = int(params.get(key, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, low), high)


def _interval_param(params: dict[str, Any]) -> float:
    try:
        value = float(params.get("interval", DEFAULT_INTERVAL))
    except (TypeError, ValueError):
        return DEFAULT_INTERVAL
    return value if 0.5 <= value <= 0.99 else DEFAULT_INTERVAL


def forecast_compute(*, run: InsightRun) -> dict[str, Any]:
    """Forecast the shop's weekly and monthly sales from every counted order placed before today.

    Raises ``TooFewData`` when fewer than 12 weeks had a sale. The monthly view may still be too short
    while the weekly one is not; it then carries its own message. ``run.params`` may set
    ``horizon_weeks`` (1–52, 26), ``horizon_months`` (1–12, 6) and ``interval`` (0.5–0.99, 0.8); the
    values used are stored back on the run."""
    params = dict(run.params or {})
    horizons = {
        period: _int_param(
            params, HORIZON_PARAM[period], default=DEFAULT_HORIZON[period], low=1, high=MAX_HORIZON[period]
        )
        for period in (WEEK, MONTH)
    }
    interval = _interval_param(params)
    run.params = {
        **params,
        "horizon_weeks": horizons[WEEK],
        "horizon_months": horizons[MONTH],
        "interval": interval,
    }

    today = timezone.localdate()
    days = sales_days(until=today - timedelta(days=1))
    weekly = sales_series(period=WEEK, today=today, days=days)
    if weekly.periods_with_sales < model.MIN_PERIODS[WEEK]:
        raise too_few("forecast.weeks", need=model.MIN_PERIODS[WEEK], have=weekly.periods_with_sales)
    monthly = sales_series(period=MONTH, today=today, days=days)
    return {
        "as_of": (today - timedelta(days=1)).isoformat(),
        "interval": interval,
        "views": {
            WEEK: _view(weekly, horizon=horizons[WEEK], interval=interval),
            MONTH: _view(monthly, horizon=horizons[MONTH], interval=interval),
        },
    }


def _view(series: SalesSeries, *, horizon: int, interval: float) -> dict[str, Any]:
    """One period's figures for the page: history, forecasts and backtests of both metrics."""
    period = series.period
    need = model.MIN_PERIODS[period]
    view: dict[str, Any] = {
        "periods": len(series),
        "starts": [start.isoformat() for start in series.starts],
        "season_length": model.SEASON_LENGTH[period],
        "seasonal": len(series) >= 2 * model.SEASON_LENGTH[period],
        "horizon": horizon,
        "message": "",
        "metrics": {},
    }
    if len(series) < need:
        # The sentence in the shop's language and what it is made of, written for each reader when shown.
        view["message_parts"] = {"key": "forecast.view", "period": period, "need": need, "have": len(series)}
        view["message"] = message_stored(view["message_parts"])
        return view
    histories: dict[str, list[float]] = {
        "net": [float(value) for value in series.net_cny],
        "orders": [float(value) for value in series.orders],
    }
    shown: dict[str, list[Any]] = {
        "net": [str(value) for value in series.net_cny],
        "orders": list(series.orders),
    }
    for metric in METRICS:
        view["metrics"][metric] = _metric(
            histories[metric],
            series.starts,
            shown=shown[metric],
            period=period,
            horizon=horizon,
            interval=interval,
            places=2 if metric == "net" else 1,
        )
    return view


def _metric(
    values: list[float],
    starts: list[date],
    *,
    shown: list[Any],
    period: str,
    horizon: int,
    interval: float,
    places: int,
) -> dict[str, Any]:
    made = model.forecast(values, starts, period=period, horizon=horizon, interval=interval)
    backtest_periods, backtest_horizon = BACKTEST[period]
    tested = model.backtest(
        values, starts, period=period, periods=backtest_periods, horizon=backtest_horizon, interval=interval
    )
    return {
        "model": made.model,
        "history": shown,
        "forecast": [
            {
                "start": start.isoformat(),
                "mean": round(float(mean), places),
                "lower": round(float(lower), places),
                "upper": round(float(upper), places),
                "event": event,
                "factor": round(float(factor), 3) if event is not None else None,
            }
            for start, mean, lower, upper, event, factor in zip(
                made.starts, made.mean, made.lower, made.upper, made.events, made.multipliers, strict=True
            )
        ],
        "events": [
            {
                "event": found.event,
                "factor": None if found.factor is None else round(found.factor, 3),
                "occurrences": found.occurrences,
            }
            for found in made.factors.values()
        ],
        "backtest": _backtest(tested, places=places, periods=backtest_periods),
    }


def _backtest(tested: model.Backtest | None, *, places: int, periods: int) -> dict[str, Any] | None:
    if tested is None:
        return None
    return {
        "periods": periods,
        "tested": len(tested.rows),
        "horizon": tested.horizon,
        "mape_model": None if tested.mape_model is None else round(tested.mape_model, 1),
        "mape_baseline": None if tested.mape_baseline is None else round(tested.mape_baseline, 1),
        "skipped_zero": tested.skipped_zero,
        "winner": tested.winner,
        "baseline_last_value": sum(1 for row in tested.rows if row.baseline_kind == model.LAST_VALUE),
        "trend_only_fits": sum(1 for row in tested.rows if not row.seasonal),
        "rows": [
            {
                "start": row.start.isoformat(),
                "actual": round(row.actual, places),
                "model": round(row.model, places),
                "baseline": round(row.baseline, places),
                "baseline_kind": row.baseline_kind,
            }
            for row in tested.rows
        ],
    }
