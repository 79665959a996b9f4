"""The validation report as a workbook the merchant can fix and upload again: the first sheet holds the
rows that were not taken, under the file's own header, each bad cell highlighted with the reason as its
comment (every row of an order refused, in the file's order, those without a problem unmarked: an order
is imported whole, so the sheet fixed and uploaded again brings all its lines, ``refused_rows``); the
second lists every problem with the row number its cell had in the original file; a third, when
there are any, the cells of the rows taken that were taken otherwise than written (``corrections``), in
another colour than the bad cells, and how many there were; and a last, when the import updated
customers already in Kebu, what it changed on each (``changes``): a line per field, old → new, so that
the list filters by field in a spreadsheet. Those two sheets are for reading, after the first two: the
report fixed and uploaded again is read from its first sheet, as the file's own rows.

The merchant's own text (the header, the cells, the values in the lists) is neutralised as every export
neutralises it (``cells.safe_cell``): a cell typed as ``=HYPERLINK(…)`` is a harmless string cell in the
.xlsx, but not once the report is saved again as CSV. The import takes the quote off again, so the report
uploaded again reads as the sheet did."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from typing import IO, Any, cast

import xlsxwriter
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.audit.services import audit_record
from kebu.transfer.cells import safe_cell, unquoted
from kebu.transfer.changes import CustomerChange, added_field_label
from kebu.transfer.corrections import CORRECTIONS_LISTED, Correction
from kebu.transfer.customers import Problem
from kebu.transfer.readers import Cell

ReportRow = (
    tuple[int, Sequence[Cell], Sequence[Problem]]
    | tuple[int, Sequence[Cell], Sequence[Problem], Sequence[Correction]]
    | tuple[int, Sequence[Cell], Sequence[Problem], Sequence[Correction], Sequence[CustomerChange]]
)


def refused_rows(
    rows: Sequence[tuple[int, list[Cell]]], problems: Iterable[Problem]
) -> list[tuple[int, list[Cell], list[Problem]]]:
    """The rows of one thing refused (an order's lines, in the file's order; a customer's row alone) as
    the report takes them: each with the problems on its own cells, none for a line of the order that
    has none. A problem on none of ``rows`` (one journalled by an older Kebu, which kept no row but the
    order's first) is on the first."""
    found: dict[int, list[Problem]] = {number: [] for number, _cells in rows}
    for problem in problems:
        found.get(problem.row, found[rows[0][0]]).append(problem)
    return [(number, cells, found[number]) for number, cells in rows]


def report_write(
    target: str | IO[bytes],
    *,
    headers: Sequence[str],
    rows: Iterable[ReportRow],
    corrections: Iterable[Correction] = (),
    corrected: int | None = None,
    changes: Iterable[CustomerChange] = (),
) -> int:
    """Write the rows to fix (row number, cells, the problems on its cells: ``refused_rows``) to
    ``target``, and the corrected cells: ``corrections``, and those a row of ``rows`` comes with as a
    fourth item (a row taken has them without problems: a check streams both in one pass), and what it
    changed on a customer as a fifth (the check's, ``changes.CustomerChange``). A row without problems
    is a row to fix, unmarked (a line of an order refused for another line), unless it comes with
    corrections or changes: then it was taken. Return how many rows to fix were written. ``corrected``: how
    many corrections there were, when only the first are given. ``changes``: what the import changed on
    customers already in Kebu, as the reader may see it (``changes.import_changes``), read as it is
    written. Cells are written as values, never as formulas: a cell the merchant typed as ``=…`` stays
    text."""
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
        fix.write_string(0, index, _safe(name), bold)  # as text: write() would make "http://…" a link
    fix.freeze_panes(1, 0)
    listed.write_row(0, 0, [_("Row"), _("Column"), _("Value"), _("Problem")], bold)
    listed.freeze_panes(1, 0)
    column_of = {name: index for index, name in enumerate(headers)}
    written = problems_written = 0
    unmarked = False
    corrections_sheet = _CorrectionsSheet(book, bold)
    changes_sheet = _ChangesSheet(book, bold)
    for number, cells, problems, *more in rows:
        taken = False
        if more and more[0]:
            corrections_sheet.add(cast(Sequence[Correction], more[0]))
            taken = True
        if len(more) > 1 and more[1]:
            changes_sheet.add(cast(Sequence[CustomerChange], more[1]))
            taken = True
        if taken and not problems:
            continue
        written += 1
        unmarked = unmarked or not problems
        reasons: dict[int, list[str]] = {}
        for problem in problems:
            if problem.column in column_of:
                reasons.setdefault(column_of[problem.column], []).append(problem.reason)
            problems_written += 1
            listed.write_number(problems_written, 0, number)
            listed.write_string(problems_written, 1, _safe(problem.column) or _("(whole row)"))
            listed.write_string(problems_written, 2, _safe(problem.value))
            listed.write_string(problems_written, 3, _safe(problem.reason))
        for index, cell in enumerate(cells):
            style = bad if index in reasons else None
            _write(fix, written, index, cell, style, day=day, moment=moment)
            if index in reasons:
                fix.write_comment(written, index, "\n".join(reasons[index]))
    if unmarked:
        # Below the list, a line apart, where reading the list back (``drafts.import_check_problems``)
        # stops: why rows without a problem are among the rows to fix.
        note = _(
            "Rows to fix also holds, unmarked, the other lines of each order with a problem: an order is "
            "imported whole. Fix the marked cells and import the sheet again as it is."
        )
        listed.write_string(problems_written + 2, 0, note, bold)
    corrections_sheet.add(corrections)
    corrections_sheet.close(corrected)
    changes_sheet.add(changes)
    book.close()
    return written


def report_audit(
    *,
    actor: Any,
    run: Any = None,
    file_name: str = "",
    kind: str = "",
    rows_to_fix: int,
    corrected: int,
    changed: int,
    masked: bool,
) -> None:
    """Record that a report left Kebu, as an export is recorded: it holds the rejected rows' cells and,
    on its "Changed" sheet, customers' values before and after, personal data. ``run``: the import it is
    the report of (``import.report``); without one, the check of the file ``file_name``, a sheet of
    ``kind``, that imported nothing (``import.check_report``). ``changed``: the customers it lists as
    changed; ``masked``: whether their contact details are masked there."""
    data: dict[str, Any] = {
        "rows_to_fix": rows_to_fix,
        "corrected": corrected,
        "changed": changed,
        "masked": masked,
    }
    if run is not None:
        audit_record(action="import.report", actor=actor, target=run, data=data)
    else:
        data = {"file": file_name, "kind": kind, **data}
        audit_record(action="import.check_report", actor=actor, data=data)


class _CorrectionsSheet:
    """The sheet of corrected cells, added at the first correction (a file without any has none): row,
    column, value as written, value as taken (in yellow, where bad cells are red, with written → taken
    and the reason as its comment), reason; the first ``CORRECTIONS_LISTED``, then how many there were."""

    def __init__(self, book: Any, bold: Any) -> None:
        self.book, self.bold = book, bold
        self.sheet: Any = None
        self.count = 0

    def add(self, corrections: Iterable[Correction]) -> None:
        for correction in corrections:
            self.count += 1
            if self.count > CORRECTIONS_LISTED:
                continue
            if self.sheet is None:
                self.sheet = self.book.add_worksheet(_("Corrected cells"))
                self.taken = self.book.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"})
                columns = [_("Row"), _("Column"), _("Value as written"), _("Value as taken"), _("Reason")]
                self.sheet.write_row(0, 0, columns, self.bold)
                self.sheet.freeze_panes(1, 0)
            line = self.count
            self.sheet.write_number(line, 0, correction.row)
            self.sheet.write_string(line, 1, _safe(correction.column))
            self.sheet.write_string(line, 2, _safe(correction.written))
            self.sheet.write_string(line, 3, _safe(correction.taken), self.taken)
            self.sheet.write_string(line, 4, _safe(correction.reason))
            comment = f"{correction.written} → {correction.taken}\n{correction.reason}"
            self.sheet.write_comment(line, 3, comment)

    def close(self, corrected: int | None) -> None:
        """Say how many cells were corrected, below the list."""
        if self.sheet is None:
            return
        total = max(corrected or 0, self.count)
        listed = min(self.count, CORRECTIONS_LISTED)
        if listed < total:
            note = _("The first %(listed)s of %(total)s corrected cells are listed.") % {
                "listed": listed,
                "total": total,
            }
        else:
            note = ngettext("%(total)d cell corrected.", "%(total)d cells corrected.", total)
            note %= {"total": total}
        self.sheet.write_string(listed + 2, 0, note, self.bold)


class _ChangesSheet:
    """The sheet of what the import changed on customers already in Kebu, added at the first change: a
    line per field changed (row, customer number and name, how the row found them, field, before,
    after), every one of them."""

    def __init__(self, book: Any, bold: Any) -> None:
        self.book, self.bold = book, bold
        self.sheet: Any = None
        self.line = 0

    def add(self, changes: Iterable[CustomerChange]) -> None:
        for change in changes:
            if self.sheet is None:
                self.sheet = self.book.add_worksheet(_("Changed"))
                columns = [_("Row"), _("Customer no."), _("Customer"), _("Matched by"), _("Field")]
                self.sheet.write_row(0, 0, [*columns, _("Before"), _("After")], self.bold)
                self.sheet.freeze_panes(1, 0)
                self.sheet.set_column(4, 6, 24)
            for field in change.fields:
                self.line += 1
                label = added_field_label(field.label) if field.added else field.label
                after = field.after if field.after_known else _("(changed since)")
                values = [change.customer_no, change.name, change.matched_by, label, field.before, after]
                self.sheet.write_number(self.line, 0, change.row)
                for column, value in enumerate(values, start=1):
                    self.sheet.write_string(self.line, column, _safe(value))


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
        sheet.write_string(row, column, _safe("" if cell is None else str(cell)), style)


def _safe(text: str) -> str:
    """``text`` neutralised as the exports neutralise it (``safe_cell``). A cell the sheet had already
    neutralised (``'=…``, as Kebu's own exports write it) is written as it was, not quoted twice: the
    import takes one quote off, and the report uploaded again must read as the sheet did."""
    return safe_cell(unquoted(text))
