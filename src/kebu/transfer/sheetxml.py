"""An .xlsx workbook read one row at a time from its XML, in memory that does not grow with the sheet.

python-calamine, which reads .xls and .ods here, lays a whole sheet out in memory before giving its first
row: a 1,000,000-row customer sheet costs several hundred MB that way (bench/README.md, "peak RSS"). An
.xlsx is a zip of XML parts, so its sheet can be parsed as it is unpacked instead; what must be held is
the shared-string table, kept here as one UTF-8 buffer and its offsets rather than as Python strings.

Cells come out as calamine gives them, so that an import reads the same values whichever reader ran:
numbers as ``float``, text as ``str``, booleans, formula results (their cached value), and a number in
a date or time format as ``date`` (a whole day), ``datetime``, ``time`` (under one day) or ``timedelta``
(an elapsed-time format such as ``[h]:mm``), counted from the workbook's epoch, with Excel's 1900
leap-year bug. ``test_sheetxml.py`` holds the two readers to the same values.

One difference: a formula whose result is an error (#REF!, #DIV/0!, #N/A …) comes out as a
``FormulaError``, which calamine gives as blank. Taken for blank, a phone column of #REF! imported as
"ready, 0 problems" and the phones were never there; the import refuses such a cell, saying why.
"""

from __future__ import annotations

import math
import posixpath
import re
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import IO, Any
from xml.etree.ElementTree import XMLPullParser

MAIN_NS = (
    "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
    "http://purl.oclc.org/ooxml/spreadsheetml/main",
)
REL_NS = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships",
    "http://purl.oclc.org/ooxml/officeDocument/relationships",
)
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"

# Excel's built-in number formats that show a date or a time (ids 27-36 and 50-58 are the ones Chinese,
# Japanese and Korean Excel and WPS use, e.g. 31 is yyyy"年"m"月"d"日"), and the one elapsed time.
BUILTIN_DATE_FORMATS = frozenset([*range(14, 23), *range(27, 37), 45, 47, *range(50, 59)])
BUILTIN_DURATION_FORMATS = frozenset([46])
_QUOTED = re.compile(r'"[^"]*"|\\.|[_*].')
_BRACKETED = re.compile(r"\[([^\]]*)\]")
_ELAPSED = re.compile(r"(?i)h+|m+|s+")
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_DAY_MS = 86_400_000
_EPOCH_1900 = datetime(1899, 12, 30)
_DAYS_1900_TO_1904 = 1462
_READ_BYTES = 1 << 16
_LETTERS = re.compile(r"[A-Za-z]{1,3}")
# Excel's last cell, XFD1048576: a reference past it is a damaged or crafted file.
MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384


class FormulaError(str):
    """A cell whose formula gives an error: its text is the error Excel shows (#REF!), for the report."""

    __slots__ = ()


class SheetXmlError(ValueError):
    """The package is not a readable .xlsx: a part is missing or is not well-formed XML."""


@dataclass(frozen=True)
class SheetInfo:
    name: str
    part: str  # the sheet's path inside the zip
    visible: bool


def number_format_kind(code: str) -> str:
    """ "date" for a format that shows a date or a time of day, "duration" for elapsed time ([h]:mm),
    "" for anything else, read as Excel does: quoted text, escaped characters and [colour], [condition]
    and [$-locale] sections do not count."""
    code = _QUOTED.sub("", code.split(";", 1)[0])
    elapsed = False
    for section in _BRACKETED.findall(code):
        elapsed = elapsed or bool(_ELAPSED.fullmatch(section))
    if elapsed:
        return "duration"
    code = _BRACKETED.sub("", code).lower()
    return "date" if any(letter in code for letter in "dmyhs") and code != "general" else ""


def _unescape(text: str) -> str:
    """OOXML writes a control character in text as _xHHHH_ (and a literal "_x" as _x005F_x)."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


class SharedStrings:
    """The workbook's shared-string table: every string once, in one buffer, decoded when a cell asks."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._ends = array("Q")

    def append(self, text: str) -> None:
        self._buffer += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._buffer))

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> str:
        if index < 0:
            raise IndexError(index)
        end = self._ends[index]
        start = self._ends[index - 1] if index else 0
        return self._buffer[start:end].decode("utf-8", "surrogatepass")


def _elements(stream: IO[bytes], names: set[str]) -> Iterator[tuple[str, Any, Any]]:
    """(local name, element, parent) for each closed element named in ``names``, from an XML stream
    parsed in pieces. The caller clears what it has handled, so memory stays flat."""
    wanted = {f"{{{ns}}}{name}": name for ns in (*MAIN_NS, PACKAGE_REL_NS) for name in names}
    wanted.update({name: name for name in names})
    parser = XMLPullParser(events=("start", "end"))
    stack: list[Any] = []
    try:
        while chunk := stream.read(_READ_BYTES):
            parser.feed(chunk)
            for event, element in parser.read_events():
                if event == "start":
                    stack.append(element)
                    continue
                stack.pop()
                name = wanted.get(element.tag)
                if name is not None:
                    yield name, element, stack[-1] if stack else None
        parser.close()
    except SyntaxError as exc:  # xml.etree's ParseError
        raise SheetXmlError(str(exc)) from exc


class XlsxBook:
    """The parts of an .xlsx that reading its sheets needs, read from an open ``zipfile.ZipFile``."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.date1904 = False
        self.sheets: list[SheetInfo] = []
        self._styles: dict[int, str] = {}
        self._shared: SharedStrings | None = None
        self._read_workbook()
        self._read_styles()

    def _part(self, name: str) -> IO[bytes] | None:
        try:
            return self.archive.open(name)
        except KeyError:
            return None

    def _read_workbook(self) -> None:
        targets: dict[str, str] = {}
        rels = self._part("xl/_rels/workbook.xml.rels")
        if rels is not None:
            with rels:
                for _name, element, _parent in _elements(rels, {"Relationship"}):
                    target = element.get("Target", "")
                    path = target.lstrip("/") if target.startswith("/") else posixpath.join("xl", target)
                    targets[element.get("Id", "")] = posixpath.normpath(path)
        workbook = self._part("xl/workbook.xml")
        if workbook is None:
            raise SheetXmlError("xl/workbook.xml is missing")
        with workbook:
            for name, element, _parent in _elements(workbook, {"sheet", "workbookPr"}):
                if name == "workbookPr":
                    self.date1904 = element.get("date1904", "").lower() in ("1", "true")
                    continue
                rel = next((element.get(f"{{{ns}}}id") for ns in REL_NS if element.get(f"{{{ns}}}id")), "")
                if rel in targets:
                    visible = element.get("state", "visible") == "visible"
                    self.sheets.append(SheetInfo(element.get("name", ""), targets[rel], visible))

    def _read_styles(self) -> None:
        styles = self._part("xl/styles.xml")
        if styles is None:
            return
        custom: dict[int, str] = {}
        with styles:
            for name, element, _parent in _elements(styles, {"numFmt", "cellXfs"}):
                if name == "numFmt":
                    code = element.get("formatCode", "")
                    custom[_int(element.get("numFmtId"))] = number_format_kind(code)
                    continue
                # A cell's s= counts the cell formats (cellXfs), not the named styles (cellStyleXfs).
                for index, xf in enumerate(element):
                    kind = self._format_kind(_int(xf.get("numFmtId")), custom)
                    if kind:
                        self._styles[index] = kind
                return

    @staticmethod
    def _format_kind(format_id: int, custom: dict[int, str]) -> str:
        if format_id in custom:
            return custom[format_id]
        if format_id in BUILTIN_DATE_FORMATS:
            return "date"
        return "duration" if format_id in BUILTIN_DURATION_FORMATS else ""

    @property
    def shared(self) -> SharedStrings:
        if self._shared is None:
            self._shared = SharedStrings()
            part = self._part("xl/sharedStrings.xml")
            if part is not None:
                with part:
                    for _name, element, parent in _elements(part, {"si"}):
                        self._shared.append(_unescape(_text(element)))
                        if parent is not None:
                            parent.clear()
        return self._shared

    def rows(self, sheet: SheetInfo) -> Iterator[tuple[int, list[Any]]]:
        """(row number, cells) for every row of ``sheet`` from row 1, a missing row as an empty list,
        each cell at its column's index (blank cells between as ""). A row or column reference past
        Excel's last (XFD1048576) raises ``SheetXmlError``."""
        part = self._part(sheet.part)
        if part is None:
            raise SheetXmlError(f"{sheet.part} is missing")
        # The loop of _elements, written out: it runs for every element of the sheet, ~20 a row.
        parser = XMLPullParser(events=("start", "end"))
        row_tag = data_tag = value_tag = inline_tag = ""
        sheet_data = None
        expected = 1
        try:
            with part:
                while chunk := part.read(_READ_BYTES):
                    parser.feed(chunk)
                    for event, element in parser.read_events():
                        if event == "end":
                            if element.tag != row_tag:
                                continue
                            number = _int(element.get("r")) or expected
                            if not 0 < number <= MAX_ROWS:
                                raise SheetXmlError(f"row {number} is past Excel's last")
                            while expected < number:
                                yield expected, []
                                expected += 1
                            yield number, self._cells(element, value_tag, inline_tag)
                            expected = max(expected, number + 1)
                            # The rows read so far (a row outside sheetData is not Excel's, but read).
                            (element if sheet_data is None else sheet_data).clear()
                        elif not row_tag:  # the root: its namespace ("{…}", or none) is every tag's
                            namespace = element.tag[: element.tag.find("}") + 1]
                            row_tag, data_tag = namespace + "row", namespace + "sheetData"
                            value_tag, inline_tag = namespace + "v", namespace + "is"
                        elif element.tag == data_tag:
                            sheet_data = element
                parser.close()
        except SyntaxError as exc:  # xml.etree's ParseError
            raise SheetXmlError(str(exc)) from exc

    def _cells(self, row: Any, value_tag: str, inline_tag: str) -> list[Any]:
        cells: list[Any] = []
        for cell in row:
            reference = cell.get("r")
            column = _column_index(reference.rstrip(_DIGITS)) if reference else len(cells)
            if column >= MAX_COLUMNS:
                raise SheetXmlError(f"cell {reference or column + 1} is past Excel's last column")
            kind = cell.get("t")
            if kind == "inlineStr":
                found = cell.find(inline_tag)
                value: Any = "" if found is None else _unescape(_text(found))
            else:
                text = cell.findtext(value_tag)
                value = "" if text is None else self._value(text, kind, cell)
            if column == len(cells):
                cells.append(value)
            elif column > len(cells):
                cells.extend([""] * (column - len(cells)))
                cells.append(value)
            else:  # a cell written twice, or out of order
                cells[column] = value
        return cells

    def _value(self, text: str, kind: str | None, cell: Any) -> Any:
        if kind is None or kind == "n":
            try:
                number = float(text)
            except ValueError:
                return text
            style = self._styles.get(_int(cell.get("s"))) if self._styles else None
            return _dated(number, style, self.date1904) if style else number
        if kind == "s":
            return self.shared[int(text)]
        if kind == "str":
            return _unescape(text)
        if kind == "b":
            return text.strip() == "1"
        if kind == "d":  # ISO 8601: a date, a time or both
            for parse in (date.fromisoformat, datetime.fromisoformat, time.fromisoformat):
                try:
                    return parse(text)
                except ValueError:
                    continue
            return text
        return FormulaError(text.strip())  # "e": an error such as #DIV/0!


def _text(element: Any) -> str:
    """A string item's text: its <t>, or its runs' <t>s joined; phonetic guides (<rPh>) left out."""
    parts: list[str] = []
    for child in element:
        local = _local(child.tag)
        if local == "t":
            parts.append(child.text or "")
        elif local == "r":
            parts.extend(t.text or "" for t in child if _local(t.tag) == "t")
    return "".join(parts)


@cache
def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


_DIGITS = "0123456789"


@cache
def _column_index(letters: str) -> int:
    """0 for A, 25 for Z, 26 for AA …; ``SheetXmlError`` for what is not a column's letters."""
    if not _LETTERS.fullmatch(letters):
        raise SheetXmlError(f"{letters!r} is not a column")
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number - 1


def _dated(number: float, kind: str, date1904: bool) -> Any:
    """An Excel serial number as calamine turns it into a Python value for a date or duration format, with
    the same arithmetic, so that the same cell gives the same millisecond."""
    serial = number + _DAYS_1900_TO_1904 if date1904 else number
    if serial < 60:  # Excel counts a 29 February 1900 that never was; before it, a day less
        serial += 1
    try:
        if kind == "duration":
            return timedelta(milliseconds=_rounded(number * _DAY_MS))
        moment = _EPOCH_1900 + timedelta(milliseconds=_rounded(serial * _DAY_MS))
    except OverflowError:
        return number
    if number < 1:
        return moment.time()
    if number == int(number):
        return date(moment.year, moment.month, moment.day)
    return moment


def _rounded(value: float) -> int:
    """Half away from zero, as Rust's f64::round (Python's round() goes to the even neighbour)."""
    return int(math.copysign(math.floor(abs(value) + 0.5), value))
