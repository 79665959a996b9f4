"""The sales summary as a workbook (销售汇总 .xlsx): the page's tables, one sheet each, in the same order
and with the same totals, so what a merchant takes to Excel is what they saw.

Written with xlsxwriter as the dashboard's and the forecast's downloads are (a few hundred cells at most:
120 months by a few dozen stores or categories; the streaming writer of ``transfer.workbook`` is for a
single sheet of a million rows). As in every export, text is neutralised by ``safe_cell`` (store and
category names are the merchant's own text) and nothing is written as a formula: totals are numbers
summed by ``reports.sales_summary``, not ``=SUM()``, so they are the page's figures to the fen."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.utils.translation import gettext as _

from kebu.orders import reports
from kebu.transfer.cells import safe_cell

# Yuan as numbers that Excel sums, shown as the page shows them.
MONEY_FORMAT = '"¥"#,##0.00'
MONTH_FORMAT = "yyyy-mm"


@dataclass(frozen=True)
class Sheet:
    """One table of the page: its header, its rows (months as dates, amounts as Decimal, counts as int,
    None for a blank such as the average of no orders) and its totals row."""

    name: str
    header: list[str]
    rows: list[list[Any]]
    total: list[Any]


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
    figures_header = [
        _("Orders"),
        _("Customers"),
        _("Gross sales"),
        _("Refunds"),
        _("Net sales"),
        _("Average order"),
    ]
    sheets = [
        Sheet(
            name=_("By month"),
            header=[_("Month"), *figures_header],
            rows=[[m, *_figure_cells(summary.by_month.get(m, empty))] for m in months],
            total=[_("Total"), *_figure_cells(summary.total)],
        )
    ]
    by_platform = summary.channel == "platform"
    if summary.channels:
        sheets.append(
            Sheet(
                name=_("By platform") if by_platform else _("By store"),
                header=[_("Platform") if by_platform else _("Store"), *figures_header],
                rows=[
                    [c.label, *_figure_cells(summary.channel_totals.get(c.key, empty))]
                    for c in summary.channels
                ],
                total=[_("Total"), *_figure_cells(summary.total)],
            )
        )
        sheets.append(
            Sheet(
                name=_("Platforms by month") if by_platform else _("Stores by month"),
                header=[_("Month"), *(c.label for c in summary.channels), _("Total")],
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
            )
        )
    if summary.categories:
        sheets.append(
            Sheet(
                name=_("By top category"),
                header=[_("Top category"), _("Orders"), _("Units"), _("Net sales")],
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
            )
        )
        sheets.append(
            Sheet(
                name=_("Top categories by month"),
                header=[_("Month"), *(c.label for c in summary.categories), _("Total")],
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
            )
        )
    return sheets


def sales_summary_workbook(sheets: list[Sheet]) -> bytes:
    """The sheets as .xlsx: a frozen header, months as dates shown ``2026-01``, yuan as numbers in a ¥
    format, counts as numbers, text through ``safe_cell``, the totals row in bold."""
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
    header_format = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    formats = {
        False: {
            "text": None,
            "money": book.add_format({"num_format": MONEY_FORMAT}),
            "month": book.add_format({"num_format": MONTH_FORMAT}),
            "count": None,
        },
        True: {
            "text": book.add_format({"bold": True, "top": 1}),
            "money": book.add_format({"bold": True, "top": 1, "num_format": MONEY_FORMAT}),
            "month": book.add_format({"bold": True, "top": 1, "num_format": MONTH_FORMAT}),
            "count": book.add_format({"bold": True, "top": 1}),
        },
    }
    for sheet_data in sheets:
        sheet = book.add_worksheet(sheet_data.name[:31])
        for col, label in enumerate(sheet_data.header):
            sheet.write_string(0, col, safe_cell(label), header_format)
            sheet.set_column(col, col, 16)
        last = len(sheet_data.rows) + 1
        for r, row in enumerate([*sheet_data.rows, sheet_data.total], start=1):
            cell_formats = formats[r == last]
            for col, value in enumerate(row):
                if value is None:
                    if r == last:
                        sheet.write_blank(r, col, None, cell_formats["text"])
                elif isinstance(value, date):
                    sheet.write_datetime(r, col, datetime.combine(value, time.min), cell_formats["month"])
                elif isinstance(value, Decimal):
                    sheet.write_number(r, col, float(value), cell_formats["money"])
                elif isinstance(value, int) and not isinstance(value, bool):
                    sheet.write_number(r, col, value, cell_formats["count"])
                else:
                    sheet.write_string(r, col, safe_cell(value), cell_formats["text"])
        sheet.freeze_panes(1, 1)
    book.close()
    return buffer.getvalue()
