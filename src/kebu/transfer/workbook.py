"""An export's workbook, written as a stream: one sheet of rows under a frozen, filtered header, typed
cells (text, numbers, dates and moments in their formats), dropdowns whose values sit on a hidden
second sheet, and nothing else.

Why not xlsxwriter, which writes the validation report: its constant-memory mode checks, wraps and
formats each cell through several calls, ~4.4 µs a cell on this project's 2-core machine, so a million
customers (about 18 million filled cells) took 80 s in xlsxwriter alone, over the 60 s a whole export
may take. An export's cells are five kinds of value in four formats, so this module writes each row as
one string (~1 µs a cell) and hands it to a thread that compresses and writes it (zlib and the file
write let go of the GIL). Inline strings, as xlsxwriter's constant-memory mode writes them: no table of
every distinct string is held. A large export goes further (``in_child``): a child process makes the
XML while the exporting process reads and decrypts the next rows, one core each.

What a cell holds follows Excel's rules: text is escaped for XML, control characters as ``_xHHHH_``
and cut at 32,767 characters; dates are serial days from 1900 (with Excel's 29 February 1900), and a
date before 1900, which Excel cannot hold as a date, is written as its text."""

from __future__ import annotations

import math
import pickle
import queue
import re
import subprocess
import sys
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any
from xml.sax.saxutils import escape, quoteattr

# Cell kinds: how a column's values are written, and in which number format. CODE is text that holds an
# identifier (an order number, a SKU, a phone): its whole column is formatted as text (@), so that what a
# merchant types there later stays as typed, where General would round a 19-digit order number, drop
# SKU 00123's zeros and show a phone as 1.38E+10.
TEXT, DAY, MOMENT, MONEY, COUNT, CODE = "text", "day", "moment", "money", "count", "code"

MAX_ROWS = 1_048_576  # a sheet's rows, the header included
MAX_TEXT = 32_767  # characters in one cell
COMPRESS_LEVEL = 1  # 18% larger than level 6 and three times faster (100k customers: 16.5 / 14.0 MB)
_CHUNK_CHARS = 1 << 20  # what the writing thread is handed at a time
_QUEUE_CHUNKS = 8

# Style indexes into styles.xml's cellXfs, in this order.
_STYLE = {"header": 1, DAY: 2, MOMENT: 3, MONEY: 4, COUNT: 5, CODE: 6}
_DAY_ORDINAL = date(1899, 12, 31).toordinal()  # Excel's day 0


@dataclass(frozen=True)
class SheetColumn:
    label: str
    kind: str = TEXT
    width: float = 14
    choices: tuple[str, ...] = ()  # a dropdown of these (a value not in it only warns)


class WorkbookTooLarge(ValueError):
    """More rows than a sheet holds."""


class WorkbookFailed(RuntimeError):
    """The child process writing the workbook stopped; the message says how."""


def column_letter(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


_ESCAPE = re.compile(r"[&<>\x00-\x08\x0b-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_")
# What needs more than the text between tags: the above, or a space at either end.
_SPECIAL = re.compile(_ESCAPE.pattern + r"|^\s|\s$")
_XML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _escaped(match: re.Match[str]) -> str:
    found = match.group()
    if found in _XML:
        return _XML[found]
    if found.startswith("_x"):  # text that reads as an escape is escaped itself: "_x005F_" is "_"
        return "_x005F_" + found[1:]
    return f"_x{ord(found):04X}_"  # a control character (a carriage return would be read as a newline)


def _text_xml(text: str) -> str:
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT]
    if not _SPECIAL.search(text):
        return f"<is><t>{text}</t></is>"
    text = _ESCAPE.sub(_escaped, text)
    if text[:1].isspace() or text[-1:].isspace():
        return f'<is><t xml:space="preserve">{text}</t></is>'
    return f"<is><t>{text}</t></is>"


def excel_serial(value: date) -> float | None:
    """Excel's serial number for a date or a (naive) moment; None before 1900."""
    days = value.toordinal() - _DAY_ORDINAL
    if days < 1:
        return None
    if days > 59:  # Excel counts a 29 February 1900 that never was
        days += 1
    if isinstance(value, datetime):
        seconds = value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
        return days + seconds / 86400
    return days


def _cell_writers(
    columns: Sequence[SheetColumn], as_text: Callable[[Any], str]
) -> list[Callable[[str, Any], str]]:
    """For each column, a function from (row number, value) to the cell's XML ("" for a blank)."""

    def writer(ref: str, kind: str) -> Callable[[str, Any], str]:
        head = f'<c r="{ref}'
        plain, styled = '"><v>', f'" s="{_STYLE.get(kind, 0)}"><v>'
        day, moment = f'" s="{_STYLE[DAY]}"><v>', f'" s="{_STYLE[MOMENT]}"><v>'
        text = f'" s="{_STYLE[CODE]}" t="inlineStr">' if kind == CODE else '" t="inlineStr">'

        def cell(row: str, value: Any) -> str:
            if type(value) is str:  # most cells: said first
                if not value:
                    return ""
            elif value is None:
                return ""
            elif isinstance(value, date):
                serial = excel_serial(value)
                if serial is not None:
                    return f"{head}{row}{moment if isinstance(value, datetime) else day}{serial}</v></c>"
                value = value.isoformat()
            elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
                if not math.isfinite(value):  # Excel has no NaN or infinity
                    return ""
                if kind != CODE:
                    return f"{head}{row}{styled if kind in (MONEY, COUNT) else plain}{value}</v></c>"
            return f"{head}{row}{text}{_text_xml(as_text(value))}</c>"

        return cell

    return [writer(column_letter(index), column.kind) for index, column in enumerate(columns)]


def workbook_write(
    target: str | IO[bytes],
    *,
    sheet_name: str,
    lists_name: str,
    columns: Sequence[SheetColumn],
    rows: Iterable[Sequence[Any]],
    error_message: str,
    as_text: Callable[[Any], str] = str,
    on_row: Callable[[int], None] | None = None,
    every: int = 1000,
    in_child: bool = False,
) -> int:
    """Write a workbook to ``target`` (a path or a binary stream): the header, then ``rows`` (sequences
    of values, one per column: None or "" for a blank), a row at a time; ``on_row(rows)`` every
    ``every`` rows. ``error_message`` is what a dropdown says of a value not in its list; ``as_text``
    makes a text cell's text of its value (an export neutralises formulas there). Returns the
    rows written. Raises ``WorkbookTooLarge`` before writing past the sheet's last row.

    ``in_child``: the XML is made and written by a child process while this one makes the next rows
    (a large export's two halves each take one core). ``target`` must then be a path, ``as_text`` a
    module-level function, and each row a list of plain values (they are pickled across). A failure
    in the child is raised here as ``WorkbookFailed``."""
    if in_child:
        book = {
            "sheet_name": sheet_name,
            "lists_name": lists_name,
            "columns": list(columns),
            "error_message": error_message,
            "as_text": as_text,
        }
        return _write_in_child(str(target), book, rows, on_row, every)
    sheet_name, lists_name = excel_sheet_name(sheet_name), excel_sheet_name(lists_name)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as book:
        with book.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            written = _rows_write(member, columns, rows, as_text, on_row, every)
            member.write(_sheet_tail(columns, written, lists_name, error_message).encode("utf-8"))
        book.writestr("xl/worksheets/sheet2.xml", _lists_sheet(columns))
        book.writestr("[Content_Types].xml", _CONTENT_TYPES)
        book.writestr("_rels/.rels", _ROOT_RELS)
        book.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        book.writestr("xl/styles.xml", _STYLES)
        book.writestr("xl/workbook.xml", _workbook(sheet_name, lists_name, written, len(columns)))
    return written


def _rows_write(
    member: IO[bytes],
    columns: Sequence[SheetColumn],
    rows: Iterable[Sequence[Any]],
    as_text: Callable[[Any], str],
    on_row: Callable[[int], None] | None,
    every: int,
) -> int:
    """The sheet's XML up to the end of its rows, compressed and written by a thread of its own while
    this one makes the next rows. Returns the rows written (the header not counted)."""
    chunks: queue.Queue[bytes | None] = queue.Queue(_QUEUE_CHUNKS)
    failed: list[BaseException] = []

    def drain() -> None:
        while (chunk := chunks.get()) is not None:
            if not failed:
                try:
                    member.write(chunk)
                except BaseException as exc:  # raised again in the caller's thread
                    failed.append(exc)

    writer = threading.Thread(target=drain, name="workbook-writer", daemon=True)
    writer.start()
    header = "".join(
        f'<c r="{column_letter(i)}1" s="{_STYLE["header"]}" t="inlineStr">{_text_xml(str(c.label))}</c>'
        for i, c in enumerate(columns)
    )
    parts: list[str] = [_sheet_head(columns), f'<row r="1">{header}</row>']
    size, count = 0, 0
    cells = _cell_writers(columns, as_text)
    try:
        for values in rows:
            count += 1
            if count >= MAX_ROWS:
                raise WorkbookTooLarge(count)
            number = str(count + 1)
            line = "".join([write(number, value) for write, value in zip(cells, values, strict=True)])
            parts.append(f'<row r="{number}">{line}</row>')
            size += len(line)
            if size >= _CHUNK_CHARS:
                chunks.put("".join(parts).encode("utf-8"))
                if failed:
                    raise failed[0]
                parts, size = [], 0
            if on_row is not None and count % every == 0:
                on_row(count)
        parts.append("</sheetData>")
        chunks.put("".join(parts).encode("utf-8"))
    finally:
        chunks.put(None)
        writer.join()
    if failed:
        raise failed[0]
    return count


def _write_in_child(
    path: str,
    book: dict[str, Any],
    rows: Iterable[Sequence[Any]],
    on_row: Callable[[int], None] | None,
    every: int,
) -> int:
    """Hand ``rows`` in pickled batches to a child process (``python -m kebu.transfer.workbook``) that
    writes the workbook. Its pipe holds about one batch, so neither side runs ahead of the other by
    more than that. Whatever stops this side (an error, a cancelled job) stops the child too."""
    child = subprocess.Popen(  # noqa: S603 (this interpreter, this module, a path we chose)
        [sys.executable, "-m", __name__, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,  # stderr is ours: a crash's traceback lands in this process's log
    )
    assert child.stdin is not None and child.stdout is not None
    count = 0
    try:
        pickle.dump(book, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        batch: list[Sequence[Any]] = []
        for values in rows:
            count += 1
            if count >= MAX_ROWS:
                raise WorkbookTooLarge(count)
            batch.append(values)
            if len(batch) == every:
                pickle.dump(batch, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                batch = []
                if on_row is not None:
                    on_row(count)
        pickle.dump(batch, child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(None, child.stdin)
        child.stdin.close()
        said = child.stdout.read().decode("utf-8", "replace")
        child.wait()
    except BrokenPipeError as exc:
        child.wait()
        raise WorkbookFailed(_child_said(child) or f"exit code {child.returncode}") from exc
    except BaseException:
        child.kill()
        child.wait()
        raise
    finally:
        for stream in (child.stdin, child.stdout):
            with suppress(BrokenPipeError):  # a child that stopped early leaves unsent bytes
                stream.close()
    if child.returncode != 0 or said != str(count):
        raise WorkbookFailed(said or f"exit code {child.returncode}")
    return count


def _child_said(child: subprocess.Popen[bytes]) -> str:
    assert child.stdout is not None
    return child.stdout.read().decode("utf-8", "replace").strip()


def _child_main(path: str) -> int:
    """The child's side: the book's settings, then batches of rows until None; prints the rows written
    (or what went wrong) for the parent."""
    pipe = sys.stdin.buffer  # the parent's, nobody else's: what it pickled is what it read
    book = pickle.load(pipe)  # noqa: S301

    def rows() -> Iterator[Sequence[Any]]:
        while (batch := pickle.load(pipe)) is not None:  # noqa: S301
            yield from batch

    try:
        written = workbook_write(path, rows=rows(), **book)
    except Exception as exc:
        sys.stdout.write(f"{type(exc).__name__}: {exc}")
        return 1
    sys.stdout.write(str(written))
    return 0


def excel_sheet_name(name: str) -> str:
    """A name Excel accepts for a sheet: no []:*?/\\, at most 31 characters."""
    return re.sub(r"[\[\]:*?/\\]", " ", name)[:31] or "Sheet"


def _width(width: float) -> float:
    """A width in characters as Excel stores it (as xlsxwriter computes it, 7-pixel digits)."""
    return int((width * 7 + 5) / 7 * 256) / 256 if width > 1 else width


_NS = (
    'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
    'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
)


def _sheet_head(columns: Sequence[SheetColumn]) -> str:
    # A column's style is what a cell typed into it later takes: a CODE column's is text.
    styles = {CODE: f' style="{_STYLE[CODE]}"'}
    widths = "".join(
        f'<col min="{i}" max="{i}" width="{_width(c.width)}"{styles.get(c.kind, "")} customWidth="1"/>'
        for i, c in enumerate(columns, start=1)
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS}>'
        '<sheetViews><sheetView tabSelected="1" workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft"/></sheetView></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{widths}</cols><sheetData>'
    )


def _sheet_tail(columns: Sequence[SheetColumn], rows: int, lists_name: str, error_message: str) -> str:
    last = column_letter(len(columns) - 1)
    validations = []
    place = 0
    for index, column in enumerate(columns):
        if not column.choices:
            continue
        letter, ref = column_letter(place), column_letter(index)
        source = f"{_quoted_sheet(lists_name)}!${letter}$2:${letter}${len(column.choices) + 1}"
        validations.append(
            f'<dataValidation type="list" errorStyle="warning" allowBlank="1" showInputMessage="1" '
            f'showErrorMessage="1" errorTitle={quoteattr(str(column.label)[:32])} '
            f'error={quoteattr(error_message[:255])} sqref="{ref}2:{ref}{MAX_ROWS}">'
            f"<formula1>{escape(source)}</formula1></dataValidation>"
        )
        place += 1
    checks = f'<dataValidations count="{len(validations)}">{"".join(validations)}</dataValidations>'
    return (
        f'<autoFilter ref="A1:{last}{max(rows, 1) + 1}"/>'
        f"{checks if validations else ''}"
        '<pageMargins left="0.7" right="0.7" top="0.75" bottom="0.75" header="0.3" footer="0.3"/>'
        "</worksheet>"
    )


def _lists_sheet(columns: Sequence[SheetColumn]) -> str:
    """The hidden sheet the dropdowns read: each choice column's label, then its values, in a column."""
    lists = [column for column in columns if column.choices]
    height = max((len(c.choices) for c in lists), default=0) + 1
    rows = []
    for number in range(1, height + 1):
        cells = []
        for place, column in enumerate(lists):
            values = (str(column.label), *column.choices)
            if number <= len(values):
                ref = f"{column_letter(place)}{number}"
                cells.append(f'<c r="{ref}" t="inlineStr">{_text_xml(values[number - 1])}</c>')
        rows.append(f'<row r="{number}">{"".join(cells)}</row>')
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {_NS}>'
        f"<sheetData>{''.join(rows)}</sheetData></worksheet>"
    )


def _quoted_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


def _workbook(sheet_name: str, lists_name: str, rows: int, width: int) -> str:
    area = f"{_quoted_sheet(sheet_name)}!$A$1:${column_letter(width - 1)}${max(rows, 1) + 1}"
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook {_NS}>'
        '<bookViews><workbookView activeTab="0"/></bookViews><sheets>'
        f'<sheet name={quoteattr(sheet_name)} sheetId="1" r:id="rId1"/>'
        f'<sheet name={quoteattr(lists_name)} sheetId="2" state="hidden" r:id="rId2"/>'
        '</sheets><definedNames><definedName name="_xlnm._FilterDatabase" localSheetId="0" hidden="1">'
        f"{escape(area)}</definedName></definedNames></workbook>"
    )


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/worksheets/sheet2.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    "</Types>"
)
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/worksheet" Target="worksheets/sheet2.xml"/>'
    f'<Relationship Id="rId3" Type="{_REL}/styles" Target="styles.xml"/>'
    "</Relationships>"
)
# cellXfs in the order of _STYLE: the default, the header (bold on grey, boxed), then a day, a moment,
# money, a count and a code (49 is Excel's built-in text format, @).
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    '<numFmts count="4"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/>'
    '<numFmt numFmtId="166" formatCode="#,##0.00"/><numFmt numFmtId="167" formatCode="0"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="3"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill>'
    '<fill><patternFill patternType="solid"><fgColor rgb="FFEEEEEE"/><bgColor indexed="64"/></patternFill>'
    "</fill></fills>"
    '<borders count="2"><border><left/><right/><top/><bottom/><diagonal/></border>'
    '<border><left style="thin"><color auto="1"/></left><right style="thin"><color auto="1"/></right>'
    '<top style="thin"><color auto="1"/></top><bottom style="thin"><color auto="1"/></bottom><diagonal/>'
    "</border></borders>"
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="7"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="2" borderId="1" xfId="0" applyFont="1" applyFill="1" '
    'applyBorder="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="166" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="167" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="49" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    "</cellXfs>"
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1]))
