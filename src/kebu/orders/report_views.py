"""The sales summary page (销售汇总): parse the range, call ``reports.sales_summary``, render tables and a
chart. The chart is drawn by a static script (the CSP allows no inline script) from data handed over
with ``json_script``."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from kebu.core.forms import KebuForm
from kebu.core.timezones import time_zone_label
from kebu.customers.columns import yuan
from kebu.orders import report_export, reports
from kebu.transfer.downloads import ExportAudit, xlsx_response

DAY_LIMITS = [MinValueValidator(date(1900, 1, 1)), MaxValueValidator(date(9998, 12, 31))]


class SalesReportForm(KebuForm):
    date_from = forms.DateField(
        label=gettext_lazy("From"),
        required=False,
        validators=DAY_LIMITS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    date_to = forms.DateField(
        label=gettext_lazy("Until"),
        required=False,
        validators=DAY_LIMITS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    channel = forms.ChoiceField(
        label=gettext_lazy("Channels"),
        required=False,
        choices=[("store", gettext_lazy("By store")), ("platform", gettext_lazy("By platform"))],
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        default_from, default_to = reports.default_range()
        first = data.get("date_from") or default_from
        last = data.get("date_to") or default_to
        if first > last:
            self.add_error("date_to", _("Choose a day after the start."))
        elif len(reports.months_between(first, last)) > reports.MAX_MONTHS:
            self.add_error(
                "date_from", _("Choose at most %(n)d months at a time.") % {"n": reports.MAX_MONTHS}
            )
        data["date_from"], data["date_to"] = first, last
        data["channel"] = data.get("channel") or "store"
        return data


def _figure_cells(figures: reports.SalesFigures) -> dict[str, Any]:
    return {
        "orders": figures.orders,
        "customers": figures.customers,
        "gross": yuan(figures.gross_cny),
        "refunds": yuan(figures.refunds_cny),
        "net": yuan(figures.net_cny),
        "avg": yuan(figures.avg_order_cny),
    }


def _tables(summary: reports.SalesSummary) -> dict[str, Any]:
    """The summary as rows of text, in the order the tables show them (newest month first)."""
    empty = reports.SalesFigures()
    no_lines = reports.CategoryFigures()
    months = list(reversed(summary.months))
    labels = dict(zip(summary.months, reports.month_labels(summary.months), strict=True))
    return {
        "month_rows": [{"month": labels[m], **_figure_cells(summary.by_month.get(m, empty))} for m in months],
        "month_total": _figure_cells(summary.total),
        "channel_rows": [
            {"label": c.label, **_figure_cells(summary.channel_totals.get(c.key, empty))}
            for c in summary.channels
        ],
        "channel_pivot": [
            {
                "month": labels[m],
                "cells": [yuan(summary.by_channel.get((m, c.key), empty).net_cny) for c in summary.channels],
                "total": yuan(summary.by_month.get(m, empty).net_cny),
            }
            for m in months
        ],
        "channel_pivot_total": [yuan(summary.channel_totals[c.key].net_cny) for c in summary.channels],
        "category_rows": [
            {
                "label": c.label,
                "orders": summary.category_totals[c.key].orders,
                "quantity": summary.category_totals[c.key].quantity,
                "net": yuan(summary.category_totals[c.key].net_cny),
            }
            for c in summary.categories
        ],
        "category_pivot": [
            {
                "month": labels[m],
                "cells": [
                    yuan(summary.by_category.get((m, c.key), no_lines).net_cny) for c in summary.categories
                ],
                "total": yuan(summary.category_month_totals.get(m, no_lines).net_cny),
            }
            for m in months
        ],
        "category_pivot_total": [yuan(summary.category_totals[c.key].net_cny) for c in summary.categories],
        "category_total": {
            "orders": summary.category_total.orders,
            "quantity": summary.category_total.quantity,
            "net": yuan(summary.category_total.net_cny),
        },
    }


def _chart(summary: reports.SalesSummary) -> dict[str, Any]:
    """What the chart script draws: net sales per month stacked by channel, and the number of orders.
    Amounts travel as decimal strings, never floats; the chart reads them as numbers."""
    empty = reports.SalesFigures()
    return {
        "months": reports.month_labels(summary.months),
        "channels": [
            {
                "name": c.label,
                "net": [str(summary.by_channel.get((m, c.key), empty).net_cny) for m in summary.months],
            }
            for c in summary.channels
        ],
        "orders": [summary.by_month.get(m, empty).orders for m in summary.months],
        "labels": {"net": _("Net sales (¥)"), "orders": _("Orders")},
    }


def _require_view(user: Any) -> None:
    if not (user.is_active and user.has_perm("orders.view_order")):
        raise PermissionDenied


def _range(form: SalesReportForm) -> tuple[date, date, str]:
    """The range and channel in force: the form's, or the last 12 months by store when none was given.
    The page and its download read the same, so the download is what the page showed."""
    if form.is_bound:
        cd = form.cleaned_data
        return cd["date_from"], cd["date_to"], cd["channel"]
    date_from, date_to = reports.default_range()
    return date_from, date_to, "store"


@require_GET
@login_required
def sales_summary_view(request: HttpRequest) -> HttpResponse:
    user = request.user
    _require_view(user)
    form = SalesReportForm(request.GET or None)
    context: dict[str, Any] = {"form": form}
    if form.is_bound and not form.is_valid():
        return render(request, "orders/report_sales.html", context, status=400)
    date_from, date_to, channel = _range(form)
    # Shown with the range in force, also where it was left to the default.
    form = SalesReportForm(initial={"date_from": date_from, "date_to": date_to, "channel": channel})
    summary = reports.sales_summary(user=user, date_from=date_from, date_to=date_to, channel=channel)
    context.update(
        form=form,
        summary=summary,
        chart=_chart(summary),
        channel_label=_("Store") if channel == "store" else _("Platform"),
        time_zone=time_zone_label(),
        # The range in force, not the address's: a page left to its default downloads the same months.
        export_query=urlencode(
            {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "channel": channel}
        ),
        **_tables(summary),
    )
    return render(request, "orders/report_sales.html", context)


@require_GET
@login_required
def sales_summary_export_view(request: HttpRequest) -> HttpResponse:
    """The page's tables as .xlsx, summed for the same user and range as the page. Audited like every
    export: it tells what the shop sold, by store and category."""
    user = request.user
    _require_view(user)
    form = SalesReportForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return HttpResponse(status=400)
    date_from, date_to, channel = _range(form)
    summary = reports.sales_summary(user=user, date_from=date_from, date_to=date_to, channel=channel)
    name = f"sales-summary-{date_from:%Y%m%d}-{date_to:%Y%m%d}.xlsx"
    audit = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(), "channel": channel}
    return xlsx_response(
        name,
        report_export.sales_summary_sheets(summary),
        audit=ExportAudit("orders.sales_summary_export", user, audit),
    )
