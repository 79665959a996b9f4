"""The .xlsx reader of our own reads what calamine reads, cell for cell, in memory that does not grow with
the sheet; and it reads the parts Excel, WPS and other programs write that xlsxwriter never does."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from datetime import date, datetime, time, timedelta

import pytest
import python_calamine
import xlsxwriter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kebu.transfer.readers import FileRefused, table_read, table_rows_count
from kebu.transfer.sheetxml import FormulaError, XlsxBook, number_format_kind
from kebu.transfer.tests.sheets import FORMULA_ERRORS, xlsx_with_formula_errors

FORMATS = [
    None,
    "yyyy-mm-dd",
    "yyyy-mm-dd hh:mm:ss",
    "hh:mm",
    "[h]:mm:ss",
    'yyyy"年"m"月"d"日"',
    "#,##0.00",
    '0.00"h"',
    "[Red]0.00",
    "0.00E+00",
    "@",
    14,
    22,
    31,
    46,
    57,
]


def ours(data: bytes) -> list[list]:
    book = XlsxBook(zipfile.ZipFile(io.BytesIO(data)))
    return [_trimmed(row) for _number, row in book.rows(book.sheets[0])]


def calamines(data: bytes) -> list[list]:
    sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data)).get_sheet_by_index(0)
    first_column = sheet.start[1] if sheet.start else 0
    return [_trimmed([""] * first_column + list(row)) for row in sheet.iter_rows()]


def _trimmed(row: list) -> list:
    row = list(row)
    while row and row[-1] == "":
        row.pop()
    return [(type(cell).__name__, cell) for cell in row]


def _workbook(cells: list[tuple[int, int, object, object]], *, constant_memory: bool) -> bytes:
    buffer = io.BytesIO()
    # in_memory would turn constant_memory (and with it the inline strings) off.
    book = xlsxwriter.Workbook(buffer, {"constant_memory": constant_memory})
    sheet = book.add_worksheet("客户")
    formats = {f: book.add_format({"num_format": f}) for f in FORMATS if f is not None}
    for row, column, value, number_format in sorted(cells, key=lambda c: (c[0], c[1])):
        style = formats.get(number_format)
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value, style)
        elif isinstance(value, (int, float)):
            sheet.write_number(row, column, value, style)
        elif isinstance(value, datetime):
            sheet.write_datetime(row, column, value, style or formats["yyyy-mm-dd hh:mm:ss"])
        else:
            sheet.write_string(row, column, value, style)
    book.close()
    return buffer.getvalue()


# Up to ten million: calamine panics on a date or duration further out than its clock reaches. Negative
# numbers only in number formats: in a date format Excel shows them as ####, calamine as midnight, and
# we keep the number where Python's calendar does not reach.
NUMBER_FORMATS = [None, "#,##0.00", '0.00"h"', "[Red]0.00", "0.00E+00", "@"]
value_and_format = st.one_of(
    st.tuples(
        st.one_of(
            st.text(min_size=1, max_size=20),
            st.sampled_from(["张三", "13812345678", "_x0041_", "a\r\nb", " 前后空格 ", "&<>\"'"]),
            st.integers(min_value=0, max_value=10**7),
            st.floats(min_value=0, max_value=1e7),
            st.booleans(),
            st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(9999, 12, 31)),
        ),
        st.sampled_from(FORMATS),
    ),
    st.tuples(
        st.one_of(st.integers(min_value=-(10**7), max_value=-1), st.floats(min_value=-1e7, max_value=-1e-9)),
        st.sampled_from(NUMBER_FORMATS),
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cells=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=30), st.integers(min_value=0, max_value=30), value_and_format
        ),
        min_size=1,
        max_size=40,
        unique_by=lambda cell: (cell[0], cell[1]),
    ),
    constant_memory=st.booleans(),
)
def test_any_sheet_reads_the_same_as_calamine_reads_it(cells, constant_memory):
    # xlsxwriter writes inline strings in constant-memory mode and a shared-string table otherwise.
    data = _workbook([(r, c, v, f) for r, c, (v, f) in cells], constant_memory=constant_memory)

    assert ours(data) == calamines(data)


def test_dates_times_and_durations_come_out_as_excel_shows_them():
    data = _workbook(
        [
            (0, 0, 45000, "yyyy-mm-dd"),
            (0, 1, 45000.5, 'yyyy"年"m"月"d"日"'),
            (0, 2, 0.75, "hh:mm"),
            (0, 3, 1.25, "[h]:mm:ss"),
            (0, 4, 45000.5, 31),  # a built-in Chinese date format
            (0, 5, 45000.5, '0.00"h"'),  # "h" in quotes is text, not hours
            (0, 6, 59, 14),  # before Excel's 29 February 1900 that never was
            (0, 7, 61, 14),
        ],
        constant_memory=False,
    )

    assert [value for _kind, value in ours(data)[0]] == [
        date(2023, 3, 15),
        datetime(2023, 3, 15, 12, 0),
        time(18, 0),
        timedelta(days=1, hours=6),
        datetime(2023, 3, 15, 12, 0),
        45000.5,
        date(1900, 2, 28),
        date(1900, 3, 1),
    ]


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("yyyy/m/d", "date"),
        ("[$-804]yyyy年m月d日;@", "date"),
        ("[DBNum1][$-804]m月d日", "date"),
        ("[h]:mm", "duration"),
        ("[mm]:ss", "duration"),
        ("General", ""),
        ("#,##0.00_);[Red](#,##0.00)", ""),
        ('"¥"#,##0.00', ""),
        ('0"天"', ""),
        ("\\d0", ""),
        ("0.00E+00", ""),  # scientific, not a year
        ('ggge"年"m"月"d"日"', "date"),
    ],
)
def test_a_number_format_is_a_date_only_where_its_codes_outside_quotes_say_so(code, kind):
    assert number_format_kind(code) == kind


def _package(sheet_xml: str, *, shared: str = "", workbook_pr: str = "", namespace: str = "") -> bytes:
    """A minimal .xlsx as other programs write it: parts xlsxwriter never writes (rich text with
    phonetic guides, a 1904 workbook, strict OOXML, prefixed tags), assembled by hand."""
    ns = namespace or "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel_ns = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            "</Types>",
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{ns}" xmlns:r="{rel_ns}">{workbook_pr}'
            f'<sheets><sheet name="表" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/styles.xml",
            f'<styleSheet xmlns="{ns}"><cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14"/></cellXfs>'
            "</styleSheet>",
        )
        if shared:
            archive.writestr("xl/sharedStrings.xml", f'<sst xmlns="{ns}">{shared}</sst>')
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml.replace("NS", ns))
    return buffer.getvalue()


def test_rich_text_reads_as_its_runs_joined_without_the_phonetic_guide():
    shared = (
        "<si><r><t>王</t></r><r><rPr><b/></rPr><t>小明</t></r><rPh sb='0' eb='1'><t>ワン</t></rPh></si>"
        "<si><t>普通</t></si>"
    )
    sheet = (
        '<worksheet xmlns="NS"><sheetData><row r="1"><c r="A1" t="s"><v>0</v></c>'
        '<c r="B1" t="s"><v>1</v></c><c r="C1" t="inlineStr"><is><r><t>行</t></r><r><t>内</t></r></is></c>'
        "</row></sheetData></worksheet>"
    )

    assert ours(_package(sheet, shared=shared)) == [[("str", "王小明"), ("str", "普通"), ("str", "行内")]]


def test_a_1904_workbook_counts_its_dates_from_1904():
    sheet = (
        '<worksheet xmlns="NS"><sheetData><row r="1"><c r="A1" s="1"><v>1</v></c></row></sheetData>'
        "</worksheet>"
    )

    data = _package(sheet, workbook_pr='<workbookPr date1904="1"/>')

    assert ours(data) == [[("date", date(1904, 1, 2))]]


def test_strict_ooxml_prefixed_tags_and_cells_without_references_are_read():
    sheet = (
        '<x:worksheet xmlns:x="NS"><x:sheetData>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>甲</x:t></x:is></x:c><x:c><x:v>2</x:v></x:c></x:row>'
        '<x:row r="4"><x:c r="C4" t="b"><x:v>1</x:v></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )

    data = _package(sheet, namespace="http://purl.oclc.org/ooxml/spreadsheetml/main")

    assert ours(data) == [[("str", "甲"), ("float", 2.0)], [], [], [("str", ""), ("str", ""), ("bool", True)]]


@pytest.mark.parametrize("error", FORMULA_ERRORS)
def test_a_cell_whose_formula_gives_an_error_reads_as_that_error_not_as_blank(error):
    data = xlsx_with_formula_errors([["姓名", "手机"], ["张三", error]])

    [(_number, [name, phone])] = list(table_read(data).rows)

    assert (name, phone) == ("张三", error) and isinstance(phone, FormulaError)


@pytest.mark.parametrize(
    "last_row",
    [
        '<row r="60"><c r="A60"><v>1</sheetData>',  # the XML breaks off
        '<row r="60"><c r="A60" t="s"><v>7</v></c></row></sheetData></worksheet>',  # no string 7
        '<row r="60"><c r="A60" t="s"><v>七</v></c></row></sheetData></worksheet>',
        '<row r="60"><c r="A60" t="s"><v>-1</v></c></row></sheetData></worksheet>',
        '<row r="60"><c r="XFE60"><v>1</v></c></row></sheetData></worksheet>',  # past Excel's last column
        '<row r="60"><c r="ZZZZZZ60"><v>1</v></c></row></sheetData></worksheet>',
        '<row r="60"><c r="1A"><v>1</v></c></row></sheetData></worksheet>',
        '<row r="1048577"><c r="A1048577"><v>1</v></c></row></sheetData></worksheet>',
    ],
)
def test_a_sheet_damaged_half_way_is_refused_as_damaged_not_cut_short(last_row):
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>客户{n}</t></is></c></row>' for n in range(1, 60)
    )
    broken = _package(f'<worksheet xmlns="NS"><sheetData>{rows}{last_row}', shared="<si><t>甲</t></si>")

    table = table_read(broken)  # the header and the first rows read well
    with pytest.raises(FileRefused, match="damaged"):
        list(table.rows)


def test_a_member_whose_compressed_bytes_are_corrupt_is_refused_as_damaged():
    data = bytearray(_workbook([(r, 0, f"客户{r}", None) for r in range(3000)], constant_memory=True))
    start = data.index(b"xl/worksheets/sheet1.xml") + 200  # inside the sheet's deflated bytes
    data[start : start + 40] = bytes(40)

    with pytest.raises(FileRefused, match="damaged"):
        list(table_read(bytes(data)).rows)


def test_rows_keep_their_own_numbers_when_the_file_lists_them_out_of_order():
    sheet = (
        '<worksheet xmlns="NS"><sheetData>'
        + "".join(f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in (1, 3, 2, 5))
        + "</sheetData></worksheet>"
    )
    book = XlsxBook(zipfile.ZipFile(io.BytesIO(_package(sheet))))

    numbered = [(number, row) for number, row in book.rows(book.sheets[0])]

    assert numbered == [(1, [1.0]), (2, []), (3, [3.0]), (2, [2.0]), (4, []), (5, [5.0])]


def test_reading_a_sheet_holds_one_row_at_a_time_not_the_sheet():
    cells = [(r, c, f"第{r}行第{c}列的一段文字", None) for r in range(20_000) for c in range(5)]
    data = _workbook(cells, constant_memory=True)  # inline strings: no table to hold
    book = XlsxBook(zipfile.ZipFile(io.BytesIO(data)))

    tracemalloc.start()
    try:
        count = sum(1 for _row in book.rows(book.sheets[0]))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # 100,000 strings of ~12 characters as Python objects would be ~10 MB; a row and a parser's buffers
    # are well under one.
    assert count == 20_000
    assert peak < 2_000_000


# --- counting the rows for the progress bar ------------------------------------------------------------


def _read_count(data: bytes) -> int:
    return sum(1 for _ in table_read(data).rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    width=st.integers(min_value=2, max_value=8),
    rows=st.lists(
        st.lists(
            st.one_of(
                st.none(),
                st.text(min_size=1, max_size=8).filter(str.strip),
                st.integers(min_value=-(10**6), max_value=10**6),
                st.booleans(),
            ),
            max_size=8,
        ),
        min_size=1,
        max_size=30,
    ),
    title=st.booleans(),
    constant_memory=st.booleans(),
)
def test_an_xlsx_counts_the_rows_that_reading_it_gives(width, rows, title, constant_memory):
    # A title above the header, blank rows between, rows shorter than the header: as merchants' sheets are.
    top = [(0, 0, "客户名单", None)] if title else []
    header = [(len(top), c, f"列{c}", None) for c in range(width)]
    cells = [
        (len(top) + 1 + r, c, value, None)
        for r, row in enumerate(rows)
        for c, value in enumerate(row[:width])
        if value is not None
    ]
    if not cells:
        return  # a header without rows under it is refused, not counted
    data = _workbook(top + header + cells, constant_memory=constant_memory)

    assert table_rows_count(data) == _read_count(data)


def test_counting_a_large_sheet_takes_rows_cut_between_reads_once():
    cells = [(r, c, f"第{r}行" if c else r, None) for r in range(40_000) for c in range(3)]
    data = _workbook(cells, constant_memory=True)  # ~3 MB of XML: three reads of 1 MB

    assert table_rows_count(data) == _read_count(data) == 39_999


def test_counting_reads_prefixed_tags_rows_without_numbers_and_blank_strings_as_reading_does():
    sheet = (
        '<x:worksheet xmlns:x="NS"><x:sheetData>'
        '<x:row><x:c t="inlineStr"><x:is><x:t>姓名</x:t></x:is></x:c><x:c><x:v>2</x:v></x:c></x:row>'
        '<x:row r="3"><x:c r="A3" t="inlineStr"><x:is><x:t xml:space="preserve">  </x:t></x:is></x:c></x:row>'
        '<x:row spans="1:2"><x:c t="b"><x:v>1</x:v></x:c></x:row>'
        '<x:row r="9" ht="20"/>'
        '<x:row r="10"><x:c r="B10" s="1"/></x:row>'
        '<x:row r="11"><x:c r="A11"><x:v>7</x:v></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )
    data = _package(sheet, namespace="http://purl.oclc.org/ooxml/spreadsheetml/main")

    assert [number for number, _cells in table_read(data).rows] == [4, 11]
    assert table_rows_count(data) == 2


def test_counting_refuses_a_sheet_damaged_far_down_as_reading_it_does_naming_the_last_row_read():
    # An import counts its rows before it writes any: the count is what keeps a damaged file out whole.
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>客户{n}</t></is></c></row>' for n in range(1, 3000)
    )
    broken = '<row r="3000"><c r="A3000" t="s"><v>7</v></c></row>'  # no shared string 7
    data = _package(f'<worksheet xmlns="NS"><sheetData>{rows}{broken}</sheetData></worksheet>')

    with pytest.raises(FileRefused, match="cannot be read after row 2999"):
        table_rows_count(data)
