"""The sales summary as a workbook (销售汇总 .xlsx): the page's tables, one sheet each, in the same order
and with the same totals, so what a merchant takes to Excel is what they saw.

Written by ``transfer.downloads`` as the dashboard's and the forecast's downloads are: months as dates
shown ``2026-01``, yuan as numbers in a ¥ format, counts as numbers, store and category names (the
merchant's own text) through ``safe_cell``. Nothing is written as a formula: totals are numbers summed by
``reports.sales_summary``, not ``=SUM()``, so they are the page's figures to the fen."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from kebu.orders import reports
from kebu.transfer.downloads import MONTH, YUAN, Column, Sheet


def _sheet(name: str, columns: list[Column | str], rows: list[list[Any]], total: list[Any]) -> Sheet:
    return Sheet(name, columns, rows, total=total, frozen_columns=1)  # the month or the name stays in view


def _figure_cells(figures: reports.SalesFigures) -> list[Any]:
    return [
        figures.orders,
        figures.customers,
        figures.gross_cny,
        figures.refunds_cny,
        figures.net_cny,
        figures.avg_order_cny,
    ]


def sales_summary_sheets(summary: reports.SalesSummary) -> list[Sheet]:
    """The page's tables, newest month first as on the page; a breakdown the page leaves out because
    nothing sold in the range (no store, no category) is left out here too."""
    empty = reports.SalesFigures()
    no_lines = reports.CategoryFigures()
    months = list(reversed(summary.months))
    month = Column(_("Month"), MONTH)
    figures_header: list[Column | str] = [
        _("Orders"),
        _("Customers"),
        Column(_("Gross sales"), YUAN),
        Column(_("Refunds"), YUAN),
        Column(_("Net sales"), YUAN),
        Column(_("Average order"), YUAN),
    ]
    sheets = [
        _sheet(
            name=_("By month"),
            columns=[month, *figures_header],
            rows=[[m, *_figure_cells(summary.by_month.get(m, empty))] for m in months],
            total=[_("Total"), *_figure_cells(summary.total)],
        )
    ]
    by_platform = summary.channel == "platform"
    if summary.channels:
        sheets += [
            _sheet(
                name=_("By platform") if by_platform else _("By store"),
                columns=[_("Platform") if by_platform else _("Store"), *figures_header],
                rows=[
                    [c.label, *_figure_cells(summary.channel_totals.get(c.key, empty))]
                    for c in summary.channels
                ],
                total=[_("Total"), *_figure_cells(summary.total)],
            ),
            _sheet(
                name=_("Platforms by month") if by_platform else _("Stores by month"),
                columns=[month, *(Column(c.label, YUAN) for c in summary.channels), Column(_("Total"), YUAN)],
                rows=[
                    [
                        m,
                        *(summary.by_channel.get((m, c.key), empty).net_cny for c in summary.channels),
                        summary.by_month.get(m, empty).net_cny,
                    ]
                    for m in months
                ],
                total=[
                    _("Total"),
                    *(summary.channel_totals[c.key].net_cny for c in summary.channels),
                    summary.total.net_cny,
                ],
            ),
        ]
    if summary.categories:
        sheets += [
            _sheet(
                name=_("By top category"),
                columns=[_("Top category"), _("Orders"), _("Units"), Column(_("Net sales"), YUAN)],
                rows=[
                    [
                        c.label,
                        summary.category_totals[c.key].orders,
                        summary.category_totals[c.key].quantity,
                        summary.category_totals[c.key].net_cny,
                    ]
                    for c in summary.categories
                ],
                total=[
                    _("Total"),
                    summary.category_total.orders,
                    summary.category_total.quantity,
                    summary.category_total.net_cny,
                ],
            ),
            _sheet(
                name=_("Top categories by month"),
                columns=[
                    month,
                    *(Column(c.label, YUAN) for c in summary.categories),
                    Column(_("Total"), YUAN),
                ],
                rows=[
                    [
                        m,
                        *(summary.by_category.get((m, c.key), no_lines).net_cny for c in summary.categories),
                        summary.category_month_totals.get(m, no_lines).net_cny,
                    ]
                    for m in months
                ],
                total=[
                    _("Total"),
                    *(summary.category_totals[c.key].net_cny for c in summary.categories),
                    summary.category_total.net_cny,
                ],
            ),
        ]
    return sheets
