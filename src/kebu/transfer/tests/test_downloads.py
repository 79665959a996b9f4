"""The small downloads' workbook (dashboard, forecast, sales summary, surveys): read back by calamine as
the import reads files, and its XML for what calamine does not tell (the frozen pane, the filter, the
number formats)."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from python_calamine import CalamineWorkbook

from kebu.audit.models import AuditEntry
from kebu.transfer.downloads import MONEY, MONTH, YUAN, Column, ExportAudit, Percent, Sheet, xlsx_response

NS = {"x": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
AT = datetime(2025, 3, 1, 2, 30, tzinfo=UTC)
SALES = Sheet(
    "Sales",
    [Column("Month", MONTH), "Store", Column("Net sales", MONEY), "Orders", "Refund rate", "Answered at"],
    [
        [date(2025, 3, 1), "=cmd|' /C calc'!A0", Decimal("1234.50"), 3, Percent(Decimal("0.125")), AT],
        [date(2025, 2, 1), "+86 138 1234 5678", Decimal("99.00"), 1, Percent(None), ""],
    ],
)


def part(content: bytes, name: str) -> ElementTree.Element:
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return ElementTree.fromstring(book.read(name))  # noqa: S314 (our own output)


def sheet_xml(content: bytes, sheet: int) -> ElementTree.Element:
    return part(content, f"xl/worksheets/sheet{sheet}.xml")


def number_format(content: bytes, sheet: int, ref: str) -> str:
    """The number format Excel shows the cell ``ref`` of sheet ``sheet`` (1, 2, …) in."""
    cell = sheet_xml(content, sheet).find(f".//x:c[@r='{ref}']", NS)
    styles = part(content, "xl/styles.xml")
    assert cell is not None, ref
    style = styles.findall("x:cellXfs/x:xf", NS)[int(cell.get("s", "0"))]
    codes = {f.get("numFmtId"): f.get("formatCode") for f in styles.findall("x:numFmts/x:numFmt", NS)}
    return codes.get(style.get("numFmtId", "0"), "General")


def test_a_sheet_has_its_header_frozen_and_filtered_above_typed_and_neutralised_cells():
    response = xlsx_response("sales.xlsx", [SALES])

    rows = CalamineWorkbook.from_filelike(io.BytesIO(response.content)).get_sheet_by_index(0).to_python()
    assert rows[0] == ["Month", "Store", "Net sales", "Orders", "Refund rate", "Answered at"]
    # 02:30 UTC is 10:30 in the shop's time zone (Asia/Shanghai)
    assert rows[1][1:] == ["'=cmd|' /C calc'!A0", 1234.5, 3.0, 0.125, datetime(2025, 3, 1, 10, 30)]
    assert rows[2][1] == "+86 138 1234 5678"  # a phone runs nothing: left as written
    xml = sheet_xml(response.content, 1)
    pane = xml.find(".//x:pane", NS)
    assert pane is not None and (pane.get("ySplit"), pane.get("state")) == ("1", "frozen")
    assert xml.find("x:autoFilter", NS).get("ref") == "A1:F3"
    formats = [number_format(response.content, 1, ref) for ref in ("A2", "C2", "D2", "E2", "F2")]
    assert formats == ["yyyy-mm", "#,##0.00", "General", "0.00%", "yyyy-mm-dd hh:mm"]


def test_the_total_row_is_left_out_of_the_filter_and_keeps_its_columns_formats():
    sheet = Sheet(
        "By month",
        [Column("Month", MONTH), Column("Net sales", YUAN), "Orders"],
        [[date(2025, 3, 1), Decimal("10.00"), 2]],
        total=["Total", Decimal("10.00"), None],
        frozen_columns=1,
    )

    content = xlsx_response("s.xlsx", [sheet]).content

    rows = CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0).to_python()
    assert rows[2][:2] == ["Total", 10.0]
    xml = sheet_xml(content, 1)
    assert xml.find("x:autoFilter", NS).get("ref") == "A1:C2"
    assert xml.find(".//x:pane", NS).get("xSplit") == "1"
    assert number_format(content, 1, "B3") == '"¥"#,##0.00'
    assert xml.find(".//x:c[@r='C3']", NS) is not None  # the rule runs on under a blank


def test_a_header_or_a_sheet_name_of_the_merchants_own_text_cannot_run():
    sheet = Sheet("Q1/Q2", ['=HYPERLINK("http://evil")', "@SUM(1)"], [["-2+3", "  =1+1"]])

    book = CalamineWorkbook.from_filelike(io.BytesIO(xlsx_response("x.xlsx", [sheet]).content))

    assert book.sheet_names == ["Q1 Q2"]  # a name Excel accepts
    assert book.get_sheet_by_index(0).to_python() == [
        ['\'=HYPERLINK("http://evil")', "'@SUM(1)"],
        ["'-2+3", "'  =1+1"],
    ]


def test_a_chinese_file_name_is_sent_as_rfc_5987_and_an_ascii_one_as_it_is():
    chinese = xlsx_response("销售汇总-20250101.xlsx", [SALES])
    ascii_name = xlsx_response("sales-summary-20250101.xlsx", [SALES])

    assert chinese["Content-Disposition"] == (
        "attachment; filename*=utf-8''%E9%94%80%E5%94%AE%E6%B1%87%E6%80%BB-20250101.xlsx"
    )
    assert ascii_name["Content-Disposition"] == 'attachment; filename="sales-summary-20250101.xlsx"'
    assert chinese["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.django_db
def test_an_audited_download_records_its_sheets_and_rows(owner):
    other = Sheet("Stores", ["Store"], [["旗舰店"]], total=["Total"])

    xlsx_response(
        "s.xlsx", [SALES, other], audit=ExportAudit("orders.test_export", owner, {"channel": "store"})
    )

    entry = AuditEntry.objects.get(action="orders.test_export")
    assert entry.actor == owner
    assert entry.data == {"channel": "store", "sheets": ["Sales", "Stores"], "rows": 3}
