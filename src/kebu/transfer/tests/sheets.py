"""Workbooks as merchants' spreadsheet programs save them, for the import's tests."""

from __future__ import annotations

import csv
import io

import xlsxwriter

# What Excel shows in a cell whose formula fails, each with a formula that fails that way.
FORMULA_ERRORS = {
    "#REF!": "=#REF!",
    "#DIV/0!": "=1/0",
    "#N/A": "=NA()",
    "#VALUE!": '="a"+1',
    "#NAME?": "=NOSUCHFUNCTION()",
}


def xlsx_with_formula_errors(rows: list[list[str]]) -> bytes:
    """An .xlsx of ``rows`` in which a cell written as one of ``FORMULA_ERRORS`` holds a formula whose
    saved result is that error, as Excel saves it."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value in FORMULA_ERRORS:
                sheet.write_formula(r, c, FORMULA_ERRORS[value], None, value)
            else:
                sheet.write_string(r, c, value)
    book.close()
    return buffer.getvalue()


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
