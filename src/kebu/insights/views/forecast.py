"""The sales forecast page (销售预测) and its spreadsheet: what the last finished run computed, for weeks or
months, net sales or orders. The chart is drawn by a static script (the CSP allows no inline script)
from data handed over with ``json_script``."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kebu.customers.columns import yuan
from kebu.insights import access
from kebu.insights.forecast import DOUBLE_11, MID_YEAR_618, MONTH, SPRING_FESTIVAL, WEEK
from kebu.insights.models import InsightKind
from kebu.insights.views._common import freshness
from kebu.transfer.exports import safe_cell

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
    header = [
        _("Period"),
        _("Starts on"),
        _("Actual or forecast"),
        _("Net sales (¥)"),
        _("Net sales, low"),
        _("Net sales, high"),
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
    return _xlsx(f"forecast-{period}", _("Forecast"), header, rows)


def _xlsx(name: str, sheet_name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(
        buffer,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )
    sheet = book.add_worksheet(sheet_name[:31])
    bold = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    money = book.add_format({"num_format": "#,##0.00"})
    for col, label in enumerate(header):
        sheet.write_string(0, col, safe_cell(label), bold)
        sheet.set_column(col, col, 14)
    for r, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, Decimal):
                sheet.write_number(r, col, float(value), money)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                sheet.write_number(r, col, value, money if col in (3, 4, 5) else None)
            else:
                sheet.write_string(r, col, safe_cell(value))
    sheet.freeze_panes(1, 0)
    book.close()
    response = HttpResponse(
        buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="{name}.xlsx"'
    return response
