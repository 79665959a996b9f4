"""The export's workbook writer: what goes in comes back out (read by calamine, as the import reads it),
every part is well-formed XML, and the child-process path writes the same workbook as the in-process one
and reports its failures."""

from __future__ import annotations

import math
import zipfile
from datetime import date, datetime
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from python_calamine import CalamineWorkbook

from kebu.transfer.cells import safe_cell
from kebu.transfer.workbook import (
    COUNT,
    MAX_TEXT,
    MOMENT,
    MONEY,
    SheetColumn,
    WorkbookFailed,
    column_letter,
    excel_serial,
    workbook_write,
)

COLUMNS = [
    SheetColumn("名称"),
    SheetColumn("Amount", MONEY, choices=()),
    SheetColumn("Count", COUNT),
    SheetColumn("When", MOMENT),
    SheetColumn("Stage", choices=("新客", "复购", "A & B")),
]


def write(path, rows, **options):
    return workbook_write(
        str(path),
        sheet_name="客户",
        lists_name="Lists",
        columns=options.pop("columns", COLUMNS),
        rows=rows,
        error_message="Not one of the listed values.",
        **options,
    )


def read(path):
    book = CalamineWorkbook.from_path(str(path))
    return book.sheet_names, book.get_sheet_by_index(0).to_python()


def test_column_letters():
    assert [column_letter(i) for i in (0, 25, 26, 51, 52, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


@pytest.mark.parametrize(
    ("day", "serial"),
    [
        (date(1900, 1, 1), 1),
        (date(1900, 2, 28), 59),
        (date(1900, 3, 1), 61),  # Excel's 29 February 1900 is 60
        (date(2024, 1, 5), 45296),
        (datetime(2024, 1, 5, 12, 0), 45296.5),
        (date(1899, 12, 31), None),
    ],
)
def test_excel_serials(day, serial):
    assert excel_serial(day) == serial


def test_values_come_back_as_written(tmp_path):
    rows = [
        ["王小明 & <客户>", Decimal("1234.50"), 3, datetime(2024, 5, 1, 12, 30), "新客"],
        ["  spaced  ", 0.5, 0, None, ""],
        ["tab\there\r\nline", None, True, date(1850, 1, 1), "复购"],
        ["_x0041_ stays as typed", float("nan"), math.inf, date(2024, 2, 29), None],
        ["x" * (MAX_TEXT + 10), Decimal("-7"), -2, date(1990, 5, 20), "A & B"],
    ]
    assert write(tmp_path / "out.xlsx", iter(rows)) == len(rows)
    names, sheet = read(tmp_path / "out.xlsx")
    assert names == ["客户", "Lists"]
    assert sheet[0] == ["名称", "Amount", "Count", "When", "Stage"]
    assert sheet[1] == ["王小明 & <客户>", 1234.5, 3.0, datetime(2024, 5, 1, 12, 30), "新客"]
    assert sheet[2][:3] == ["  spaced  ", 0.5, 0.0] and sheet[2][3:] == ["", ""]
    assert sheet[3][0] == "tab\there\r\nline"
    assert sheet[3][2] == "True"  # a yes/no is text, not a number
    assert sheet[3][3] == "1850-01-01"  # before 1900 Excel has no date: its text
    assert sheet[4][0] == "_x0041_ stays as typed" and sheet[4][1:3] == ["", ""]  # no NaN, no infinity
    assert sheet[4][3] in (date(2024, 2, 29), datetime(2024, 2, 29))
    assert len(sheet[5][0]) == MAX_TEXT and sheet[5][1:3] == [-7.0, -2.0]


def test_every_part_is_well_formed_and_the_layout_is_there(tmp_path):
    write(tmp_path / "out.xlsx", iter([["a", 1, 2, None, "新客"]]))
    with zipfile.ZipFile(tmp_path / "out.xlsx") as book:
        assert book.testzip() is None
        for name in book.namelist():
            ElementTree.fromstring(book.read(name))  # noqa: S314 (our own output; raises if malformed)
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        workbook = book.read("xl/workbook.xml").decode()
    assert '<pane ySplit="1"' in sheet and '<autoFilter ref="A1:E2"/>' in sheet
    assert "sqref=\"E2:E1048576\"><formula1>'Lists'!$A$2:$A$4</formula1>" in sheet
    assert 'state="hidden"' in workbook and "_xlnm._FilterDatabase" in workbook


@hypothesis_settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=5))
def test_any_text_survives(tmp_path_factory, texts):
    path = tmp_path_factory.mktemp("any") / "out.xlsx"
    write(path, iter([[text] for text in texts]), columns=[SheetColumn("Text")])
    _names, sheet = read(path)
    expected = [text.replace("\r\n", "\n") for text in texts]
    got = [str(row[0]).replace("\r\n", "\n") for row in sheet[1:]]
    got += [""] * (len(texts) - len(got))  # trailing blank rows are not rows to a reader
    assert got == [
        # XML cannot hold these characters at all; they are the only thing not kept.
        "".join(c for c in text if c not in "\ufffe\uffff")
        for text in expected
    ]


def test_the_child_process_writes_the_same_workbook(tmp_path):
    rows = [[f"=客户{i}", Decimal(i) / 4, i, datetime(2024, 1, 1, i % 24), "新客"] for i in range(2500)]
    assert write(tmp_path / "here.xlsx", iter(rows), as_text=safe_cell) == 2500
    seen = []
    count = write(tmp_path / "child.xlsx", iter(rows), as_text=safe_cell, in_child=True, on_row=seen.append)
    assert count == 2500 and seen == [1000, 2000]
    with zipfile.ZipFile(tmp_path / "here.xlsx") as here, zipfile.ZipFile(tmp_path / "child.xlsx") as child:
        assert here.namelist() == child.namelist()
        for name in here.namelist():
            assert here.read(name) == child.read(name), name
    _names, sheet = read(tmp_path / "child.xlsx")
    assert sheet[1][0] == "'=客户0" and sheet[2500][0] == "'=客户2499"  # neutralised in the child too


def test_a_failure_in_the_child_is_raised_with_its_reason(tmp_path):
    rows = [["a", 1, 2, None, "新客"], ["too", "few"]]  # a row that does not fit the columns
    with pytest.raises(WorkbookFailed, match="ValueError"):
        write(tmp_path / "out.xlsx", iter(rows), in_child=True)


def test_a_failure_here_stops_the_child(tmp_path):
    def rows():
        for i in range(1500):
            yield [str(i), i, i, None, ""]
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        write(tmp_path / "out.xlsx", rows(), in_child=True)
