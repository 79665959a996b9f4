"""The validation report as a workbook the merchant can fix and upload again: the first sheet holds the
rows that were not taken, under the file's own header, each bad cell highlighted with the reason as its
comment; the second lists every problem with the row number it had in the original file."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import IO, Any

import xlsxwriter
from django.utils.translation import gettext as _

from kebu.transfer.customers import Problem
from kebu.transfer.readers import Cell


def report_write(
    target: str | IO[bytes],
    *,
    headers: Sequence[str],
    rows: Iterable[tuple[int, Sequence[Cell], Sequence[Problem]]],
) -> int:
    """Write the rows with problems (row number, cells, problems) to ``target``; return how many rows
    were written. Cells are written as values, never as formulas: a cell the merchant typed as ``=…``
    stays text."""
    book = xlsxwriter.Workbook(
        target,
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "in_memory": False,
        },
    )
    bold = book.add_format({"bold": True, "bg_color": "#EEEEEE"})
    bad = book.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    fix = book.add_worksheet(_("Rows to fix"))
    listed = book.add_worksheet(_("Problems"))
    for index, name in enumerate(headers):
        fix.write_string(0, index, name, bold)  # as text: write() would make "http://…" a link
    fix.freeze_panes(1, 0)
    listed.write_row(0, 0, [_("Row"), _("Column"), _("Value"), _("Problem")], bold)
    listed.freeze_panes(1, 0)
    column_of = {name: index for index, name in enumerate(headers)}
    written = problems_written = 0
    for number, cells, problems in rows:
        if not problems:
            continue
        written += 1
        reasons: dict[int, list[str]] = {}
        for problem in problems:
            if problem.column in column_of:
                reasons.setdefault(column_of[problem.column], []).append(problem.reason)
            problems_written += 1
            listed.write_number(problems_written, 0, number)
            listed.write_string(problems_written, 1, problem.column or _("(whole row)"))
            listed.write_string(problems_written, 2, problem.value)
            listed.write_string(problems_written, 3, problem.reason)
        for index, cell in enumerate(cells):
            style = bad if index in reasons else None
            _write(fix, written, index, cell, style, day=day, moment=moment)
            if index in reasons:
                fix.write_comment(written, index, "\n".join(reasons[index]))
    book.close()
    return written


def _write(sheet: Any, row: int, column: int, cell: Cell, style: Any, *, day: Any, moment: Any) -> None:
    if isinstance(cell, bool):
        sheet.write_boolean(row, column, cell, style)
    elif isinstance(cell, int | float) and math.isfinite(cell):
        sheet.write_number(row, column, cell, style)
    elif isinstance(cell, datetime):
        sheet.write_datetime(row, column, cell.replace(tzinfo=None), style or moment)
    elif isinstance(cell, date):
        sheet.write_datetime(row, column, datetime.combine(cell, time.min), style or day)
    else:
        sheet.write_string(row, column, "" if cell is None else str(cell), style)
