"""Reading a merchant's file into rows of cells: a workbook (xlsx, xls, ods) or a CSV in whatever encoding
Excel, WPS or a marketplace wrote it. Every refusal is a ``FileRefused`` that says what is wrong and what
to do, in the user's language; nothing here writes to the database.

What a file is, is decided by its first bytes, never by its name: a zip is a workbook (xlsx or ods, its
members counted and their unpacked size added up before anything is unpacked), an OLE2 compound file is
an old Excel workbook (xls) or a password-protected new one, and anything else must be text.

A CSV's encoding is decided for the whole file, on a first pass over its bytes: a file that is valid UTF-8
throughout is UTF-8. Any other file has GBK (GB18030, a superset of GBK and GB2312) in it, and its lines
are decoded one by one: as GB18030 where a line is not valid UTF-8, as UTF-8 where it is not valid
GB18030 (a file appended to by two programs mixes them), and a line that is valid both ways as the
reading that is Chinese text rather than mojibake. That last is not rare: GBK 叶伟 is also valid UTF-8
(Ҷΰ), and most lines of a UTF-8 Chinese file are also valid GB18030 (张三 reads 寮犱笁)."""

from __future__ import annotations

import codecs
import csv
import io
import lzma
import re
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, partial
from itertools import chain, islice
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import python_calamine
from django.utils.translation import gettext as _

from kebu.core.errors import ValidationFailed
from kebu.core.text import list_join
from kebu.transfer.headers import (
    CUSTOMER_HEADERS,
    ORDER_HEADERS,
    PRODUCT_HEADERS,
    REVIEW_HEADERS,
    header_key,
)
from kebu.transfer.sheetxml import XlsxBook

# A file read whole into memory (sent as bytes, or an .xls, .ods or .xlsb), and a CSV or .xlsx on disk,
# read as its rows are: a year of a busy store's marketplace export (a million order lines) is over
# 200 MB, and the import's memory does not grow with it.
MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_STREAMED_BYTES = 2 * 1024 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_UNZIPPED_BYTES = 4 * 1024 * 1024 * 1024
# Spreadsheet XML packs 5-30 times; a member that packs a thousand times is made to explode.
MAX_ZIP_RATIO = 1000
MAX_COLUMNS = 1000
HEADER_SCAN_ROWS = 20

ZIP_MAGIC = b"PK\x03\x04"
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

Cell = str | int | float | bool | date | datetime | time | timedelta | None


class FileRefused(ValidationFailed):
    """The file as a whole cannot be read; the message says why and what to do."""

    code = "file_refused"


@dataclass
class Table:
    """One sheet of a file: where its header is, the header's names, and its data rows, each with its row
    number as the merchant sees it in Excel or WPS (1 is the first row)."""

    format: str  # "xlsx", "xls", "ods" or "csv"
    headers: list[str]
    header_row: int
    rows: Iterator[tuple[int, list[Cell]]]
    sheet: str = ""
    encoding: str = ""  # CSV: "utf-8", "gb18030", "utf-8+gb18030" (mixed) or "utf-16"
    delimiter: str = ""  # CSV
    notes: list[str] = field(default_factory=list)


def table_rows_count(data: bytes | Path, *, sheet: str | None = None) -> int:
    """How many data rows ``table_read(data, sheet=sheet)`` gives, for a progress bar's total, and proof
    that every one of them can be read: an import counts before it writes, so that a file damaged half-way
    is refused (``FileRefused``) with nothing of it written. So every cell is read, as a row at a time:
    counting an .xlsx's rows from its XML without reading their cells took a sixth of the time, and let a
    cell that cannot be read stop the import after its first batches were in."""
    return sum(1 for _ in table_read(data, sheet=sheet).rows)


T = TypeVar("T")


class Counted(Generic[T]):
    """What is taken from ``items``, passed on and counted: a file's rows, in a pass over the whole file
    for something else (``orders.order_numbers_split``, ``customers.customer_rows_repeated``) that gives
    the progress bar its total and reads every cell as ``table_rows_count`` does; the customers a
    report's "Changed" sheet lists, known once it is written."""

    def __init__(self, items: Iterable[T]) -> None:
        self._items = items
        self.count = 0

    def __iter__(self) -> Iterator[T]:
        for item in self._items:
            self.count += 1
            yield item

    def drain(self) -> int:
        """Take everything, for the count alone."""
        for _item in self:
            pass
        return self.count


def table_read(data: bytes | Path, *, sheet: str | None = None) -> Table:
    """The first sheet with data in ``data`` (or the one named ``sheet``), header found and rows ready to
    iterate. Raises ``FileRefused`` for a file that cannot be read, with the reason.

    ``data`` may be the path of a kept file: a CSV or an .xlsx is then read from disk as its rows are, so
    an import of a large file does not hold its bytes (an .xls or .ods is still read whole)."""
    if isinstance(data, Path):
        file_size_check(data.stat().st_size, streamed=True)
        with data.open("rb") as stream:
            head = stream.read(_HEAD_BYTES)
        if not head.startswith((ZIP_MAGIC, OLE2_MAGIC, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return _csv(head, partial(_chunks, data))
        if head.startswith(ZIP_MAGIC):
            return _zipped(data, sheet)
        data = data.read_bytes()
    file_size_check(len(data))
    if data.startswith(ZIP_MAGIC):
        return _zipped(io.BytesIO(data), sheet)
    if data.startswith(OLE2_MAGIC):
        if b"E\x00n\x00c\x00r\x00y\x00p\x00t\x00i\x00o\x00n\x00I\x00n\x00f\x00o" in data:
            raise _password_protected()
        return _workbook(data, "xls", sheet)
    return _csv(data[:_HEAD_BYTES], partial(_pieces, data))


def table_sheets(data: bytes) -> list[str]:
    """The names of a workbook's visible sheets, in its order; none for a CSV or a file that cannot be
    read as a workbook (``table_read`` says why). A 微商's workbook often keeps customers on two sheets
    (this year's and the old ones'), of which ``table_read`` reads the first unless told."""
    if not data.startswith((ZIP_MAGIC, OLE2_MAGIC)):
        return []
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except (python_calamine.CalamineError, python_calamine.PasswordError, ValueError):
        return []
    return [m.name for m in book.sheets_metadata if m.visible == python_calamine.SheetVisibleEnum.Visible]


def file_size_check(size: int, *, streamed: bool = False) -> None:
    """``FileRefused`` for an empty file or one over the size an import takes: ``MAX_STREAMED_BYTES``
    for a file on disk that may be a CSV or an .xlsx (``streamed``), else ``MAX_FILE_BYTES``."""
    if not size:
        raise FileRefused(_("The file is empty."))
    limit = MAX_STREAMED_BYTES if streamed else MAX_FILE_BYTES
    if size > limit:
        raise FileRefused(
            _("The file is %(size)s MB; at most %(max)s MB can be imported. Split it into several files.")
            % {"size": size // (1024 * 1024), "max": limit // (1024 * 1024)}
        )


_HEAD_BYTES = 65536 + len(codecs.BOM_UTF8)
_CHUNK_BYTES = 1 << 20


def _pieces(data: bytes) -> Iterator[bytes]:
    return (data[i : i + _CHUNK_BYTES] for i in range(0, len(data), _CHUNK_BYTES))


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK_BYTES):
            yield chunk


# --- workbooks ----------------------------------------------------------------------------------------


def _zipped(source: Path | io.BytesIO, sheet: str | None) -> Table:
    """An .xlsx read row by row from its XML; an .ods (or an .xlsb) through calamine, whole."""
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError) as exc:
        raise _damaged() from exc
    try:
        kind = _zip_format(archive)
        if kind == "xlsx" and "xl/workbook.xml" in archive.namelist():
            return _xlsx(archive, sheet)
    except FileRefused:
        archive.close()
        raise
    archive.close()
    data = source.read_bytes() if isinstance(source, Path) else source.getvalue()
    file_size_check(len(data))  # read whole: an .ods or .xlsb is not read row by row
    return _workbook(data, kind, sheet)


def _zip_format(archive: zipfile.ZipFile) -> str:
    """xlsx or ods, after checking the archive cannot unpack into more than this machine should hold."""
    members = archive.infolist()  # read when the archive was opened (_zipped): nothing left to fail
    if len(members) > MAX_ZIP_MEMBERS:
        raise _bomb()
    unpacked = 0
    for member in members:
        unpacked += member.file_size
        if member.file_size > MAX_ZIP_RATIO * max(member.compress_size, 1) and member.file_size > 1024 * 1024:
            raise _bomb()
    if unpacked > MAX_UNZIPPED_BYTES:
        raise _bomb()
    names = {m.filename for m in members}
    try:
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            return "xlsx"
        if "mimetype" in names and archive.read("mimetype").startswith(b"application/vnd.oasis.opendocument"):
            return "ods"
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as exc:
        raise _damaged() from exc  # an encrypted, corrupt or oddly compressed member
    raise FileRefused(
        _("This is a zip archive, not a workbook. Upload the .xlsx, .xls, .ods or .csv file itself.")
    )


# What a damaged .xlsx raises as it is read: XML that breaks off (SheetXmlError, a ValueError), a number
# that is not one or a shared string that is not there, a member that does not unpack.
_XLSX_BROKEN = (
    ValueError,
    IndexError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    RuntimeError,
    NotImplementedError,
    OSError,
    EOFError,
)


def _xlsx(archive: zipfile.ZipFile, sheet: str | None) -> Table:
    try:
        book = XlsxBook(archive)
        names = [info.name for info in book.sheets]
        if sheet is not None and sheet not in names:
            raise FileRefused(
                _("The workbook has no sheet “%(sheet)s”; it has: %(names)s.")
                % {"sheet": sheet, "names": list_join(names)}
            )
        # A hidden sheet is a template's lists for its dropdowns, not the data.
        for info in book.sheets:
            if (info.name == sheet) if sheet is not None else info.visible:
                table = _table("xlsx", _xlsx_rows(book.rows(info)))
                if table is not None:
                    table.sheet = info.name
                    return table
    except _XLSX_BROKEN as exc:
        raise _damaged() from exc
    raise FileRefused(_("The workbook has no rows."))


def _xlsx_rows(rows: Iterator[tuple[int, list[Any]]]) -> Iterator[tuple[int, list[Cell]]]:
    """A damaged part met half-way through is refused as the whole file is, naming the last row read.
    (The archive closes with the last reference to it: the rows, or the workbook when a sheet has none.)"""
    number = 0
    try:
        for number, cells in rows:
            yield number, cells
    except _XLSX_BROKEN as exc:
        raise _damaged(after=number) from exc


def _workbook(data: bytes, kind: str, sheet: str | None) -> Table:
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = book.sheet_names
        visible = [
            m.name for m in book.sheets_metadata if m.visible == python_calamine.SheetVisibleEnum.Visible
        ]
        if sheet is not None and sheet not in names:
            raise FileRefused(
                _("The workbook has no sheet “%(sheet)s”; it has: %(names)s.")
                % {"sheet": sheet, "names": list_join(names)}
            )
        # A hidden sheet is a template's lists for its dropdowns, not the data.
        for name in [sheet] if sheet is not None else visible:
            found = book.get_sheet_by_name(name)
            if found.height == 0 or found.width == 0:
                continue
            # Row by row, not the sheet as one list of lists: a large sheet's Python objects are most of
            # an import's memory. iter_rows starts at row 1 but at the first used column: the columns
            # before it are put back, so that a column's index is the one its header has.
            first_column = found.start[1] if found.start else 0
            rows = ([""] * first_column + list(row) for row in found.iter_rows())
            numbered = ((number, cast(list[Cell], row)) for number, row in enumerate(rows, start=1))
            table = _table(kind, numbered)
            if table is not None:
                table.sheet = name
                return table
    except python_calamine.PasswordError as exc:
        raise _password_protected() from exc
    except (python_calamine.CalamineError, python_calamine.ZipError, python_calamine.XmlError) as exc:
        raise _damaged() from exc
    raise FileRefused(_("The workbook has no rows."))


# --- CSV ----------------------------------------------------------------------------------------------


def _csv(head: bytes, chunks: Callable[[], Iterator[bytes]]) -> Table:
    """``head``: the file's first bytes (its BOM, and enough to tell text from a binary file); ``chunks``:
    the whole file, in pieces, from its start each time it is called."""
    lines, encoding = _decode(head, chunks)
    sample = "".join(islice(lines, 50))
    delimiter = _delimiter(sample)
    text = chain(io.StringIO(sample, newline=""), lines)
    reader = csv.reader(text, delimiter=delimiter)

    def numbered() -> Iterator[tuple[int, list[Cell]]]:
        try:
            # A record is one row in Excel, however many lines its quoted cells span.
            for number, record in enumerate(reader, start=1):
                yield number, [_excel_text(cell) for cell in record]
        except csv.Error as exc:
            raise FileRefused(
                _("Row %(row)s of the CSV file cannot be read: %(reason)s.")
                % {"row": reader.line_num, "reason": exc}
            ) from exc

    table = _table("csv", numbered())
    if table is None:
        raise FileRefused(_("The file has no rows."))
    table.encoding, table.delimiter = encoding, delimiter
    return table


# ="3871234567890123456": a marketplace's CSV (Taobao's order and tracking numbers) writes a long number
# as a formula giving it as text, so that Excel neither rounds it nor shows 3.87E+18. Excel and WPS show
# the text; so does the import. A quote inside is doubled, as in any formula.
_EXCEL_TEXT = re.compile(r'="((?:[^"]|"")*)"')


def _excel_text(cell: str) -> str:
    """A CSV cell as Excel shows it: ``="…"`` is the text between the quotes."""
    if not cell.startswith('="') or not (found := _EXCEL_TEXT.fullmatch(cell)):
        return cell
    return found.group(1).replace('""', '"')


def _decode(head: bytes, chunks: Callable[[], Iterator[bytes]]) -> tuple[Iterator[str], str]:
    """The text's lines, decoded as they are read (a large file is never held decoded whole), and what
    the first lines were decoded from."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        data = b"".join(chunks())
        try:
            # Lines end where a CSV's lines end (\r\n, \n, \r), not at every character str.splitlines takes.
            return iter(io.StringIO(data.decode("utf-16"), newline="")), "utf-16"
        except UnicodeDecodeError as exc:
            raise _not_text() from exc
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    if b"\x00" in head[start : start + 65536]:
        raise _not_text()
    used: set[str] = set()
    gbk = not _utf8_throughout(chunks(), start)
    lines = _lines_decoded(_raw_lines(chunks(), start), used, gbk=gbk)
    first = list(islice(lines, _SAMPLE_LINES))
    encoding = "+".join(e for e in ("utf-8", "gb18030") if e in used) or "utf-8"
    return chain(first, lines), encoding


_SAMPLE_LINES = 50
# A line and its ending as CSV ends lines (\r\n, \n or \r), or the last line without one.
_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _raw_lines(chunks: Iterator[bytes], start: int) -> Iterator[bytes]:
    """The lines of the text the chunks make up, from byte ``start`` of the first, each with its ending;
    a line split between two chunks comes out whole."""
    tail = b""
    for chunk in chunks:
        text = tail + chunk[start:]
        start = max(0, start - len(chunk))
        cut = max(text.rfind(b"\n"), text.rfind(b"\r"))
        if cut == len(text) - 1 and text.endswith(b"\r"):
            # Perhaps the first half of \r\n: the line ends once the next chunk says how.
            cut = max(text.rfind(b"\n", 0, cut), text.rfind(b"\r", 0, cut))
        for found in _LINE.finditer(text, 0, cut + 1):
            yield found.group()
        tail = text[cut + 1 :]
    for found in _LINE.finditer(tail):
        yield found.group()


def _utf8_throughout(chunks: Iterator[bytes], start: int) -> bool:
    """Whether the bytes from ``start`` on are valid UTF-8: one pass, held a piece at a time."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for chunk in chunks:
            decoder.decode(chunk[start:])
            start = max(0, start - len(chunk))
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _lines_decoded(raw_lines: Iterator[bytes], used: set[str], *, gbk: bool) -> Iterator[str]:
    """Each line as UTF-8, in a file that is UTF-8 throughout; in one that has GBK in it (``gbk``), as
    GB18030 where the line is not UTF-8, and as the likelier reading where it is both (``_likelier``).
    ``used`` collects which."""
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            try:
                line, encoding = raw.decode("gb18030"), "gb18030"
            except UnicodeDecodeError as exc:
                raise FileRefused(
                    _(
                        "Line %(line)s of the file is neither UTF-8 nor GBK text. Save the file as "
                        "“CSV UTF-8” in Excel or WPS and upload it again."
                    )
                    % {"line": number}
                ) from exc
        else:
            if gbk and not raw.isascii():
                line, encoding = _likelier(raw, line)
        used.add(encoding)
        yield line


def _likelier(raw: bytes, as_utf8: str) -> tuple[str, str]:
    """A line of a file with GBK in it that is also valid UTF-8, as the reading that looks more like
    Chinese text: GBK read as UTF-8 gives Cyrillic, Greek and Latin letters (叶伟 -> Ҷΰ), UTF-8 read as
    GB18030 gives characters Chinese text seldom uses (张三 -> 寮犱笁). When neither looks likelier, the
    line is taken as GB18030, as the file's other lines are."""
    try:
        as_gbk = raw.decode("gb18030")
    except UnicodeDecodeError:
        return as_utf8, "utf-8"
    if _chinese_likeness(as_utf8) > _chinese_likeness(as_gbk):
        return as_utf8, "utf-8"
    return as_gbk, "gb18030"


def _chinese_likeness(text: str) -> int:
    return sum(_character_likeness(c) for c in text if not c.isascii())


@cache
def _character_likeness(character: str) -> int:
    """1 for a Chinese character of GB2312 (the 6,763 in everyday use), 0 for its other characters
    (full-width punctuation, pinyin, Greek and Russian letters), -1 for any character outside it."""
    try:
        encoded = character.encode("gb2312")
    except UnicodeEncodeError:
        return -1
    return 1 if encoded[0] >= 0xB0 else 0


def _delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        first = sample.splitlines()[0] if sample else ""
        return max(",\t;|", key=first.count) if first else ","


# --- the header ---------------------------------------------------------------------------------------


def _table(kind: str, rows: Iterator[tuple[int, list[Cell]]]) -> Table | None:
    """Find the header among the first rows (a sheet often opens with a title, merged across it) and
    name its columns; None when there is no row with anything in it."""
    head = list(islice(rows, HEADER_SCAN_ROWS))
    counts = [sum(1 for cell in row if not _blank(cell)) for _n, row in head]
    widest = max(counts, default=0)
    if widest == 0:
        return None
    # The first row that fills at least half as many cells as the fullest row near the top, and two cells
    # unless no row has more: a title above a two-column sheet fills one.
    least = max(min(2, widest), (widest + 1) // 2)
    at = next(i for i, count in enumerate(counts) if count >= least)
    if at + 1 < len(head) and _labels_groups_of(head[at][1], head[at + 1][1]):
        at += 1
    number, header = head[at]
    width = max(i for i, cell in enumerate(header) if not _blank(cell)) + 1
    if width > MAX_COLUMNS:
        raise FileRefused(
            _("The sheet has %(count)s columns; at most %(max)s can be imported.")
            % {"count": width, "max": MAX_COLUMNS}
        )
    names = _header_names(header[:width])
    data = _data_rows(chain(head[at + 1 :], rows), width)
    first = next(data, None)
    if first is None:
        raise FileRefused(_("The file has a header row but no data rows under it."))
    return Table(format=kind, headers=names, header_row=number, rows=chain([first], data))


def _labels_groups_of(row: list[Cell], below: list[Cell]) -> bool:
    """Whether ``row`` is a row of group labels over the header ``below``: 客户信息 merged over 客户编号
    and 姓名, 联系方式 over 手机, 微信 and 邮箱. Each label stands over a column ``below`` names, the cells
    after it are the rest of its merged cell, and ``below`` names more of the fields Kebu knows."""
    labels = {i for i, cell in enumerate(row) if not _blank(cell)}
    named = {i for i, cell in enumerate(below) if not _blank(cell)}
    return len(named) > len(labels) and labels <= named and _known_names(below) > _known_names(row)


def _known_names(cells: list[Cell]) -> int:
    """How many of ``cells`` name a field of any kind of sheet (手机, 订单编号, SKU 编码 …)."""
    return sum(1 for cell in cells if isinstance(cell, str) and header_key(cell) in _KNOWN_HEADER_KEYS)


_KNOWN_HEADER_KEYS = frozenset(
    header_key(word)
    for vocabulary in (CUSTOMER_HEADERS, ORDER_HEADERS, PRODUCT_HEADERS, REVIEW_HEADERS)
    for words in vocabulary.values()
    for word in words
)


def _header_names(cells: list[Cell]) -> list[str]:
    """Each column's name: its header text, "Column N" for a blank one (the rest of a merged cell), and
    a number after a name that came before."""
    names: list[str] = []
    for index, cell in enumerate(cells, start=1):
        name = " ".join(str(cell).split()) if not _blank(cell) else _("Column %(n)s") % {"n": index}
        unique, n = name, 1
        while unique in names:
            n += 1
            unique = f"{name} ({n})"
        names.append(unique)
    return names


def _data_rows(rows: Iterable[tuple[int, list[Cell]]], width: int) -> Iterator[tuple[int, list[Cell]]]:
    """Rows cut or padded to the header's width; rows with nothing in them, and a sum's row (``_total``),
    are skipped (their numbers are not reused, so every row keeps the number the merchant sees)."""
    for number, row in rows:
        cells = list(row[:width]) + [""] * (width - len(row))
        first = next((cell for cell in cells if not _blank(cell)), None)
        if first is not None and not _total(first):
            yield number, cells


# The word a sheet's sum or subtotal row starts with (合计 under a column of amounts), compared without
# spaces (WPS users space it out, 合  计), its case or a colon after it.
_TOTAL_WORDS = frozenset({"合计", "总计", "小计", "共计", "总合计", "total", "subtotal", "grandtotal"})


def _total(cell: Cell) -> bool:
    """Whether ``cell``, the first filled one of its row, says the row is a sum, not a record."""
    if not isinstance(cell, str) or len(cell) > 20:
        return False
    word = "".join(unicodedata.normalize("NFKC", cell).split()).rstrip(":").lower()
    return word in _TOTAL_WORDS


def _blank(cell: Any) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


# --- messages -----------------------------------------------------------------------------------------


def _damaged(*, after: int = 0) -> FileRefused:
    if after:
        return FileRefused(
            _(
                "The workbook cannot be read after row %(row)s: it may be damaged or only half uploaded. "
                "Nothing was imported. Open it in Excel or WPS, save it again and upload the saved file."
            )
            % {"row": after}
        )
    return FileRefused(
        _(
            "The file could not be read as a workbook: it may be damaged or only half uploaded. Open it "
            "in Excel or WPS, save it again and upload the saved file."
        )
    )


def _password_protected() -> FileRefused:
    return FileRefused(
        _(
            "The workbook is protected with a password. Open it in Excel or WPS, remove the password, "
            "save it and upload it again."
        )
    )


def _bomb() -> FileRefused:
    return FileRefused(_("The file unpacks to far more than a spreadsheet holds, so it was not opened."))


def _not_text() -> FileRefused:
    return FileRefused(
        _("This is not a spreadsheet or a CSV file. Upload an .xlsx, .xls, .ods or .csv file.")
    )
