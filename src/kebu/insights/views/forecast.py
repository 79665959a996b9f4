"""The sales forecast page (销售预测) and its spreadsheet: what the last finished run computed, for weeks or
months, net sales or orders. The chart is drawn by a static script (the CSP allows no inline script)
from data handed over with ``json_script``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kebu.customers.columns import yuan
from kebu.insights import access
from kebu.insights.forecast import DOUBLE_11, MID_YEAR_618, MONTH, SPRING_FESTIVAL, WEEK
from kebu.insights.messages import message_shown
from kebu.insights.models import InsightKind
from kebu.insights.views._common import freshness
from kebu.transfer.downloads import MONEY, Column, Sheet, xlsx_response

KIND = InsightKind.FORECAST
PERIODS = (WEEK, MONTH)
METRICS = ("net", "orders")
EVENT_NAMES = {
    DOUBLE_11: gettext_lazy("Double 11 (双11)"),
    MID_YEAR_618: gettext_lazy("618 mid-year sale"),
    SPRING_FESTIVAL: gettext_lazy("Spring Festival (春节)"),
}
EVENT_WHEN = {
    DOUBLE_11: gettext_lazy("the week or month holding 11 November"),
    MID_YEAR_618: gettext_lazy("the week or month holding 18 June"),
    SPRING_FESTIVAL: gettext_lazy(
        "the two weeks around 正月初一 (6 days before to 7 after, when couriers stop), or its month"
    ),
}


def _choice(request: HttpRequest, name: str, choices: tuple[str, ...], default: str) -> str:
    value = request.GET.get(name, "")
    return value if value in choices else default


def period_label(start: str, period: str) -> str:
    """2026-W07 for the ISO week beginning on ``start``, 2026-02 for a month."""
    day = date.fromisoformat(start)
    if period == WEEK:
        year, week, _weekday = day.isocalendar()
        return f"{year}-W{week:02d}"
    return day.strftime("%Y-%m")


def _amount(value: Any, metric: str) -> str:
    if value is None:
        return "—"
    if metric == "net":
        return yuan(Decimal(str(value)).quantize(Decimal("0.01")))
    return f"{float(value):,.1f}".removesuffix(".0") if isinstance(value, float) else f"{value:,}"


def _factor_text(factor: float | None) -> str:
    if factor is None:
        return ""
    change = round((factor - 1) * 100)
    return f"×{factor:.2f} ({'+' if change >= 0 else ''}{change}%)"


def _page(view: dict[str, Any], period: str, metric: str) -> dict[str, Any]:
    """What the template shows of one period's view for ``metric``: rows of text and the chart's data."""
    figures = view["metrics"].get(metric)
    if not figures:
        return {}
    forecast_rows = [
        {
            "label": period_label(row["start"], period),
            "start": row["start"],
            "mean": _amount(row["mean"], metric),
            "lower": _amount(row["lower"], metric),
            "upper": _amount(row["upper"], metric),
            "event": EVENT_NAMES.get(row["event"], "") if row["event"] else "",
            "factor": _factor_text(row["factor"]) if row["event"] else "",
        }
        for row in figures["forecast"]
    ]
    events = [
        {
            "name": EVENT_NAMES[found["event"]],
            "when": EVENT_WHEN[found["event"]],
            "factor": _factor_text(found["factor"]),
            "occurrences": found["occurrences"],
        }
        for found in figures["events"]
    ]
    backtest = figures["backtest"]
    backtest_rows = [
        {
            "label": period_label(row["start"], period),
            "actual": _amount(row["actual"], metric),
            "model": _amount(row["model"], metric),
            "baseline": _amount(row["baseline"], metric),
            "baseline_last": row["baseline_kind"] == "last",
        }
        for row in (backtest["rows"] if backtest else [])
    ]
    chart = {
        "history": {
            "labels": [period_label(start, period) for start in view["starts"]],
            "values": [float(value) for value in figures["history"]],
        },
        "forecast": {
            "labels": [row["label"] for row in forecast_rows],
            "mean": [row["mean"] for row in figures["forecast"]],
            "lower": [row["lower"] for row in figures["forecast"]],
            "upper": [row["upper"] for row in figures["forecast"]],
            "events": [str(row["event"]) for row in forecast_rows],
        },
        "money": metric == "net",
        # Open on the last two seasons and the forecast; the slider reaches the rest.
        "window": 2 * view["season_length"] + view["horizon"],
        "labels": {
            "history": _("Actual"),
            "forecast": _("Forecast"),
            "interval": _("Likely range"),
            "metric": _("Net sales (¥)") if metric == "net" else _("Orders"),
        },
    }
    return {
        "figures": figures,
        "forecast_rows": forecast_rows,
        "events": events,
        "backtest": backtest,
        "backtest_rows": backtest_rows,
        "chart": chart,
    }


@login_required
@require_GET
def forecast_view(request: HttpRequest) -> HttpResponse:
    access.require_view(request.user, KIND)
    context = freshness(request, KIND)
    period = _choice(request, "period", PERIODS, MONTH)
    metric = _choice(request, "metric", METRICS, "net")
    run = context["run"]
    result = run.result if run is not None else {}
    view = (result.get("views") or {}).get(period)
    context.update(
        period=period,
        metric=metric,
        periods=[(WEEK, _("Weekly")), (MONTH, _("Monthly"))],
        metrics=[("net", _("Net sales")), ("orders", _("Orders"))],
        view=view,
        view_message=message_shown(view.get("message_parts"), view.get("message", "")) if view else "",
        interval_pct=round(100 * float(result.get("interval", 0.8))),
        **(_page(view, period, metric) if view else {}),
    )
    return render(request, "insights/forecast/page.html", context)


@login_required
@require_GET
def forecast_export_view(request: HttpRequest) -> HttpResponse:
    """The history and the forecast of one period as an .xlsx sheet: amounts as numbers, nothing a
    spreadsheet would run."""
    access.require_view(request.user, KIND)
    period = _choice(request, "period", PERIODS, MONTH)
    run = freshness(request, KIND)["run"]
    view = ((run.result if run is not None else {}).get("views") or {}).get(period)
    if not view or not view.get("metrics"):
        raise Http404
    net, orders = view["metrics"]["net"], view["metrics"]["orders"]
    columns: list[Column | str] = [
        _("Period"),
        _("Starts on"),
        _("Actual or forecast"),
        Column(_("Net sales (¥)"), MONEY),
        Column(_("Net sales, low"), MONEY),
        Column(_("Net sales, high"), MONEY),
        _("Orders"),
        _("Orders, low"),
        _("Orders, high"),
        _("Event"),
    ]
    rows: list[list[Any]] = [
        [period_label(start, period), start, _("Actual"), Decimal(str(value)), None, None, n, None, None, ""]
        for start, value, n in zip(view["starts"], net["history"], orders["history"], strict=True)
    ]
    for money, count in zip(net["forecast"], orders["forecast"], strict=True):
        rows.append(
            [
                period_label(money["start"], period),
                money["start"],
                _("Forecast"),
                money["mean"],
                money["lower"],
                money["upper"],
                count["mean"],
                count["lower"],
                count["upper"],
                str(EVENT_NAMES[money["event"]]) if money["event"] else "",
            ]
        )
    return xlsx_response(f"forecast-{period}.xlsx", [Sheet(_("Forecast"), columns, rows, width=14)])
