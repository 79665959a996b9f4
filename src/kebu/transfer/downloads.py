"""A page's tables as an .xlsx download: the dashboard's charts, the forecast, the sales summary, a
survey's answers and links. A few sheets of at most some thousands of rows, written by xlsxwriter in
memory; the streaming writer of ``workbook`` is for one sheet of a million rows.

Each sheet has a bold header, frozen and under an autofilter, columns of one width, and typed cells: a
day, a month or a moment as a date in its format (an aware moment in the shop's time zone), an amount
as a number in a money format, a ``Percent`` as a percentage, other numbers as they are. Text, the
header and the merchant's own names included, goes through ``safe_cell`` as in every export, and no
string is ever written as a formula, a number or a link.

It lives here, beside ``safe_cell`` and the export's writer, rather than in ``core``, which imports no
app of its own; the apps that offer a download already import ``transfer``."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

import xlsxwriter
from django.db import models
from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header

from kebu.audit.services import audit_record
from kebu.transfer.cells import safe_cell
from kebu.transfer.workbook import COUNT, DAY, MOMENT, MONEY, TEXT, excel_sheet_name

MONTH, YUAN, PERCENT = "month", "yuan", "percent"
_NUMBER_FORMATS = {
    DAY: "yyyy-mm-dd",
    MONTH: "yyyy-mm",
    MOMENT: "yyyy-mm-dd hh:mm",
    MONEY: "#,##0.00",
    YUAN: '"¥"#,##0.00',
    PERCENT: "0.00%",
    COUNT: None,  # Excel's General: 3, 2.5
    TEXT: None,
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    """A header, and the format of the numbers and dates below it: DAY, MONTH, MOMENT, MONEY, YUAN,
    PERCENT or COUNT. Without one, each cell's type says: a moment MOMENT, a day DAY, a Decimal MONEY,
    another number COUNT (Excel's General)."""

    label: str
    kind: str | None = None


@dataclass(frozen=True)
class Percent:
    """A rate (0.125) to write as a percentage (12.50%), in a column of mixed kinds."""

    value: Decimal | float | None


@dataclass(frozen=True)
class Sheet:
    """One table: ``rows`` of values (None or "" for a blank), and a ``total`` row in bold under a rule,
    left out of the filter so that sorting keeps it last."""

    name: str
    columns: Sequence[Column | str]
    rows: Sequence[Sequence[Any]]
    total: Sequence[Any] | None = None
    width: float = 16
    frozen_columns: int = 0


@dataclass(frozen=True)
class ExportAudit:
    """The audit entry a download writes; the sheets' names and their rows (totals not counted) are
    added to ``data``."""

    action: str
    actor: Any
    data: Mapping[str, Any]
    target: models.Model | None = None


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    """``sheets`` as an .xlsx file, in memory."""
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
    header = book.add_format({"bold": True, "bg_color": "#EEEEEE", "border": 1})
    formats: dict[tuple[str, bool], Any] = {}

    def cell_format(kind: str, total: bool) -> Any:
        if (kind, total) not in formats:
            style: dict[str, Any] = {"bold": True, "top": 1} if total else {}
            if number := _NUMBER_FORMATS[kind]:
                style["num_format"] = number
            formats[kind, total] = book.add_format(style) if style else None
        return formats[kind, total]

    for table in sheets:
        sheet = book.add_worksheet(excel_sheet_name(table.name))
        columns = [c if isinstance(c, Column) else Column(c) for c in table.columns]
        for col, column in enumerate(columns):
            sheet.write_string(0, col, safe_cell(column.label), header)
        sheet.set_column(0, len(columns) - 1, table.width)
        sheet.freeze_panes(1, table.frozen_columns)
        sheet.autofilter(0, 0, len(table.rows), len(columns) - 1)
        lines = [(row, False) for row in table.rows] + ([(table.total, True)] if table.total else [])
        for r, (row, total) in enumerate(lines, start=1):
            for col, (value, column) in enumerate(zip(row, columns, strict=True)):
                _write(sheet, r, col, value, cell_format(_kind_of(value, column.kind), total), ruled=total)
    book.close()
    return buffer.getvalue()


def _kind_of(value: Any, declared: str | None) -> str:
    if isinstance(value, Percent):
        return PERCENT
    if value is None or isinstance(value, str):
        return TEXT
    if declared:
        return declared
    if isinstance(value, datetime):
        return MOMENT
    if isinstance(value, date):
        return DAY
    return MONEY if isinstance(value, Decimal) else COUNT


def _write(sheet: Any, r: int, col: int, value: Any, style: Any, *, ruled: bool) -> None:
    """One cell; a blank is written only in a ``ruled`` (total) row, whose rule runs on under it."""
    if isinstance(value, Percent):
        value = value.value
    is_number = isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if value is None or value == "" or (is_number and not math.isfinite(value)):  # Excel has no NaN
        if ruled:
            sheet.write_blank(r, col, None, style)
    elif is_number:
        sheet.write_number(r, col, float(value), style)
    elif isinstance(value, datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        sheet.write_datetime(r, col, local.replace(tzinfo=None), style)
    elif isinstance(value, date):
        sheet.write_datetime(r, col, datetime.combine(value, time.min), style)
    else:
        sheet.write_string(r, col, safe_cell(value), style)


def xlsx_response(
    filename: str, sheets: Sequence[Sheet], *, audit: ExportAudit | None = None
) -> HttpResponse:
    """``sheets`` as a download named ``filename`` (a Chinese name too, as RFC 5987's ``filename*``).
    With ``audit``, the entry is recorded once the file is made, before it leaves."""
    content = xlsx_bytes(sheets)
    if audit is not None:
        audit_record(
            action=audit.action,
            actor=audit.actor,
            target=audit.target,
            data={
                **audit.data,
                "sheets": [excel_sheet_name(sheet.name) for sheet in sheets],
                "rows": sum(len(sheet.rows) for sheet in sheets),
            },
        )
    response = HttpResponse(content, content_type=XLSX_TYPE)
    response["Content-Disposition"] = content_disposition_header(True, filename)
    return response
