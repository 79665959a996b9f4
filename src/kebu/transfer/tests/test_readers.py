"""Reading files as merchants have them: workbooks with a title row, CSV in every encoding Excel and WPS
write, and files that are not what they claim, each refused with a reason."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import xlsxwriter
from django.utils import translation

from kebu.transfer import readers
from kebu.transfer.cells import date_parse, money_parse, normalized
from kebu.transfer.readers import FileRefused, table_read

HEADER = ["姓名", "手机", "生日", "消费金额"]


def xlsx(write) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    write(book, book.add_worksheet("客户"))
    book.close()
    return buffer.getvalue()


def rows(table) -> list[tuple[int, list]]:
    return list(table.rows)


# --- workbooks ----------------------------------------------------------------------------------------


def test_a_workbook_with_a_merged_title_row_reads_from_its_header_with_the_sheets_row_numbers():
    def write(book, sheet):
        sheet.merge_range(0, 0, 0, 3, "2024 年客户表")
        sheet.write_row(1, 0, HEADER)
        sheet.write_row(2, 0, ["张三", "13812345678"])
        sheet.write_datetime(2, 2, datetime(1990, 1, 5), book.add_format({"num_format": "yyyy-mm-dd"}))
        sheet.write_number(2, 3, 1234.5)
        # Row 4 left empty on purpose: it is skipped, and the numbers after it do not move.
        sheet.write_row(4, 0, ["李四"])
        sheet.write_number(4, 1, 13912345678)  # a phone Excel took for a number
        sheet.write_formula(4, 3, "=D3*2", None, 2469)

    table = table_read(xlsx(write))

    assert (table.format, table.sheet, table.header_row, table.headers) == ("xlsx", "客户", 2, HEADER)
    assert rows(table) == [
        (3, ["张三", "13812345678", date(1990, 1, 5), 1234.5]),
        (5, ["李四", 13912345678.0, "", 2469.0]),  # a formula is read as the value it last showed
    ]


@pytest.mark.parametrize(("name", "kind"), [("customers.xls", "xls"), ("customers.ods", "ods")])
def test_an_xls_saved_by_old_excel_or_wps_and_an_ods_read_as_an_xlsx_does(name, kind):
    # Real files, not made in memory by the writer Kebu exports with: samples/README.md says how.
    table = table_read((Path(__file__).parent / "samples" / name).read_bytes())

    assert (table.format, table.sheet, table.header_row) == (kind, "客户", 1)
    assert table.headers == ["客户编号", "姓名", "手机号", "性别", "生日", "累计消费", "备注"]
    read = rows(table)
    assert [number for number, _cells in read] == [2, 4, 5]  # row 3 is empty: skipped, numbers kept
    zhang, li, wang = (cells for _number, cells in read)
    # A date cell is a date, a phone typed as a number keeps every digit, a money cell is its amount.
    assert zhang[1:6] == ["张三", 13812345678, "男", date(1990, 1, 5), 1234.5]
    assert normalized(zhang[2]) == "13812345678" and normalized(wang[2]) == "13712345678"
    assert (date_parse(zhang[4]), money_parse(zhang[5])) == (date(1990, 1, 5), Decimal("1234.50"))
    assert zhang[6] == "老客户，喜欢铁观音"
    # The same fields typed as text, the way WPS users often do.
    assert li[2:6] == ["139 0000 1111", "女", "1985/6/1", "￥2,000.00"]
    assert (date_parse(li[4]), money_parse(li[5])) == (date(1985, 6, 1), Decimal("2000.00"))
    assert (wang[4], money_parse(wang[5])) == (date(1988, 2, 29), Decimal("0.00"))


def test_blank_and_repeated_header_cells_get_names_of_their_own():
    def write(book, sheet):
        sheet.write_row(0, 0, ["姓名", "", "姓名", "备注"])
        sheet.write_row(1, 0, ["张三", "x", "张三丰", "y"])

    table = table_read(xlsx(write))

    assert table.headers == ["姓名", "Column 2", "姓名 (2)", "备注"]


def test_three_hundred_columns_are_read():
    header = [f"字段{i}" for i in range(300)]
    table = table_read(("\ufeff" + ",".join(header) + "\n" + ",".join("x" * 300) + "\n").encode())

    assert len(table.headers) == 300 and rows(table) == [(2, ["x"] * 300)]


def test_a_sheet_wider_than_the_limit_is_refused(monkeypatch):
    monkeypatch.setattr(readers, "MAX_COLUMNS", 10)
    with pytest.raises(FileRefused, match="11 columns; at most 10"):
        table_read((",".join(f"c{i}" for i in range(11)) + "\n" + "1," * 10 + "1\n").encode())


def test_a_named_sheet_is_read_and_a_missing_one_is_named_in_the_refusal():
    def write(book, sheet):
        sheet.write_row(0, 0, ["姓名"])
        sheet.write_row(1, 0, ["张三"])
        other = book.add_worksheet("订单")
        other.write_row(0, 0, ["订单号"])
        other.write_row(1, 0, ["A1"])

    data = xlsx(write)

    assert table_read(data, sheet="订单").headers == ["订单号"]
    with pytest.raises(FileRefused, match="no sheet “会员”; it has: 客户, 订单"):
        table_read(data, sheet="会员")


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "The workbook has no sheet “会员”; it has: 客户, 订单, 商品."),
        ("zh-hans", "表格中没有名为“会员”的工作表，现有：客户、订单、商品。"),
    ],
)
def test_the_sheets_a_refusal_names_are_a_list_as_the_merchants_language_writes_one(language, said):
    """A message lists things as its language does: "a, b, c" in English, "a、b、c" (the enumeration
    comma) in Chinese, never the Chinese comma in an English sentence."""

    def write(book, sheet):
        sheet.write_row(0, 0, ["姓名"])
        for name in ("订单", "商品"):
            book.add_worksheet(name).write_row(0, 0, ["编号"])

    with translation.override(language), pytest.raises(FileRefused) as refused:
        table_read(xlsx(write), sheet="会员")

    assert str(refused.value.message) == said


# --- CSV ----------------------------------------------------------------------------------------------

CSV_TEXT = "姓名,手机,城市\n张三,138 1234 5678,广州\n李四,+86-139-1234-5678,深圳\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (CSV_TEXT.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + CSV_TEXT.encode("utf-8"), "utf-8"),  # Excel's "CSV UTF-8"
        (CSV_TEXT.encode("gbk"), "gb18030"),  # Excel and WPS on a Chinese Windows
        (CSV_TEXT.encode("gb18030"), "gb18030"),
        (CSV_TEXT.replace(",", "\t").encode("utf-16"), "utf-16"),  # Excel's "Unicode text", tab-separated
    ],
)
def test_csv_in_every_encoding_a_merchants_programs_write_reads_the_same(data, encoding):
    table = table_read(data)

    assert (table.format, table.encoding) == ("csv", encoding)
    assert table.headers == ["姓名", "手机", "城市"]
    assert rows(table) == [(2, ["张三", "138 1234 5678", "广州"]), (3, ["李四", "+86-139-1234-5678", "深圳"])]


def test_a_csv_appended_to_in_two_encodings_reads_each_line_right():
    data = "姓名,城市\n张三,广州\n".encode() + "李四,深圳\n".encode("gbk")

    table = table_read(data)

    assert table.encoding == "utf-8+gb18030"
    assert [cells for _n, cells in rows(table)] == [["张三", "广州"], ["李四", "深圳"]]


# GBK names whose bytes are also valid UTF-8 (叶伟 reads Ҷΰ as UTF-8, 史小平 ʷСƽ), as an audit found them.
GBK_NAMES_TEXT = "姓名,手机\n张三,13800000001\n叶伟,13800000002\n史小平,13800000003\n"


def test_a_gbk_csv_reads_as_gbk_throughout_even_the_lines_that_are_also_valid_utf8(tmp_path):
    kept = tmp_path / "kept"
    kept.write_bytes(GBK_NAMES_TEXT.encode("gbk"))

    for table in (table_read(GBK_NAMES_TEXT.encode("gbk")), table_read(kept)):
        assert table.encoding == "gb18030"
        assert [cells[0] for _n, cells in rows(table)] == ["张三", "叶伟", "史小平"]


def test_a_gbk_line_that_is_also_valid_utf8_is_read_as_gbk_past_the_first_pieces_of_a_large_file():
    # The file's encoding is decided on all of it: its first lines here are ASCII and UTF-8-valid GBK.
    text = "name,phone\n" + "叶伟,13800000002\n" * 200 + "".join(f"客户{i},138{i:08d}\n" for i in range(5000))

    table = table_read(text.encode("gbk"))

    assert [cells[0] for _n, cells in rows(table)][:2] == ["叶伟", "叶伟"]


def test_a_utf8_csv_appended_to_in_gbk_reads_gbk_names_that_are_also_valid_utf8_right():
    # 王小明 is only UTF-8 and 李四 only GBK; 张三 in UTF-8 is also valid GBK (寮犱笁), and GBK 叶伟 and
    # 史小平 valid UTF-8.
    data = "姓名,手机\n王小明,13800000000\n张三,13800000001\n".encode() + (
        "李四,13800000004\n叶伟,13800000002\n史小平,13800000003\n".encode("gbk")
    )

    table = table_read(data)

    assert table.encoding == "utf-8+gb18030"
    assert [cells[0] for _n, cells in rows(table)] == ["王小明", "张三", "李四", "叶伟", "史小平"]


def test_semicolons_and_quoted_cells_spanning_lines_keep_excels_row_numbers():
    data = '姓名;备注;城市\n张三;"第一行\n第二行";广州\n李四;"含;分号";深圳\n'.encode()

    table = table_read(data)

    assert table.delimiter == ";"
    assert rows(table) == [(2, ["张三", "第一行\n第二行", "广州"]), (3, ["李四", "含;分号", "深圳"])]


# --- files that are not what they claim --------------------------------------------------------------


def test_an_empty_file_is_refused():
    with pytest.raises(FileRefused, match="empty"):
        table_read(b"")


def test_a_file_of_blank_lines_is_refused():
    with pytest.raises(FileRefused, match="no rows"):
        table_read(b"\n ,  ,\n\n")


def test_a_header_without_data_is_refused():
    with pytest.raises(FileRefused, match="header row but no data rows"):
        table_read("姓名,手机\n\n".encode())


def test_a_picture_named_csv_is_refused():
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"
    with pytest.raises(FileRefused, match="not a spreadsheet or a CSV file"):
        table_read(png)


def test_a_truncated_workbook_is_refused_as_damaged():
    data = xlsx(lambda book, sheet: sheet.write_row(0, 0, HEADER))
    with pytest.raises(FileRefused, match="may be damaged"):
        table_read(data[: len(data) // 2])


def test_a_password_protected_workbook_is_refused_with_what_to_do():
    # An encrypted .xlsx is an OLE2 compound file holding an "EncryptionInfo" stream.
    data = readers.OLE2_MAGIC + b"\x00" * 512 + "EncryptionInfo".encode("utf-16-le") + b"\x00" * 64
    with pytest.raises(FileRefused, match="protected with a password"):
        table_read(data)


def test_a_zip_bomb_is_refused_before_it_is_unpacked():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (40 * 1024 * 1024))
    with pytest.raises(FileRefused, match="unpacks to far more"):
        table_read(buffer.getvalue())


def test_a_zip_that_is_not_a_workbook_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("客户.csv", "姓名\n张三\n")
    with pytest.raises(FileRefused, match="zip archive, not a workbook"):
        table_read(buffer.getvalue())


def test_a_file_over_the_size_limit_is_refused(monkeypatch):
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 100)
    with pytest.raises(FileRefused, match="Split it into several files"):
        table_read(("姓名\n" + "张三\n" * 50).encode())


def test_a_csv_on_disk_may_be_larger_than_a_file_read_whole(monkeypatch, tmp_path):
    # Read as its rows are, a CSV (or .xlsx) on disk does not cost memory by its size; an .xls is read
    # whole, so the smaller limit is its own.
    monkeypatch.setattr(readers, "MAX_FILE_BYTES", 100)
    sheet = tmp_path / "订单.csv"
    sheet.write_text("姓名\n" + "张三\n" * 50, encoding="utf-8")
    xls = tmp_path / "订单.xls"
    xls.write_bytes(readers.OLE2_MAGIC + b"\0" * 200)

    assert len(list(table_read(sheet).rows)) == 50
    with pytest.raises(FileRefused, match="Split it into several files"):
        table_read(xls)
    monkeypatch.setattr(readers, "MAX_STREAMED_BYTES", 100)
    with pytest.raises(FileRefused, match="Split it into several files"):
        table_read(sheet)


def test_a_refusal_reads_in_the_merchants_language():
    with translation.override("zh-hans"), pytest.raises(FileRefused, match="文件只有表头，下面没有数据行"):
        table_read("姓名,手机\n".encode())


# --- found by review: each of these once crashed, aborted or misread -----------------------------------


def test_a_tiny_workbook_with_one_cell_at_the_far_corner_reads_without_laying_the_area_out():
    # 2 KB on disk; a reader that lays the sheet out (calamine) would reserve the whole A1:XFD1048576
    # area, 17 billion cells, and abort. Read row by row, the stray cell is past the header's width.
    def write(book, sheet):
        sheet.write_row(0, 0, ["姓名"])
        sheet.write_row(1, 0, ["张三"])
        sheet.write(1048575, 16383, "x")

    assert rows(table_read(xlsx(write))) == [(2, ["张三"])]


def test_a_zip_with_an_unreadable_member_is_refused_as_damaged():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        member = zipfile.ZipInfo("mimetype")
        member.flag_bits |= 0x1  # "encrypted": reading it raises RuntimeError
        archive.writestr(member, "application/vnd.oasis.opendocument.spreadsheet")
    with pytest.raises(FileRefused, match="may be damaged"):
        table_read(buffer.getvalue())


def test_a_title_above_a_two_column_sheet_is_not_its_header():
    table = table_read("客户名单\n姓名,手机\n张三,13800138000\n".encode())

    assert (table.header_row, table.headers) == (2, ["姓名", "手机"])


@pytest.mark.parametrize("label", ["合计", "总计", "合 计", "小计：", "Total", "ＴＯＴＡＬ"])
def test_a_total_row_a_sheet_ends_with_is_not_read_as_data(label):
    # WPS and Excel sheets often end with a sum; it is no customer or order, and a row the import
    # refused for it would stop an all-or-nothing import of an otherwise good sheet.
    sheet = (
        "客户资料表 2024\n姓名,手机,消费金额\n"
        f"张三,13812345678,￥100\n\n李四,13912345678,200元\n{label},,￥300\n"
    )

    table = table_read(sheet.encode("gb18030"))

    assert rows(table) == [(3, ["张三", "13812345678", "￥100"]), (5, ["李四", "13912345678", "200元"])]


def test_a_name_that_only_starts_like_a_total_is_data():
    table = table_read("姓名,手机\n合计划,13812345678\n张总计,13912345678\n".encode())

    assert [cells[0] for _n, cells in rows(table)] == ["合计划", "张总计"]


def test_a_lone_carriage_return_ends_a_line_wherever_it_is():
    table = table_read("姓名,手机\n张三,13800138000\r李四,13900139000\n".encode())

    assert [cells for _n, cells in rows(table)] == [["张三", "13800138000"], ["李四", "13900139000"]]


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 7, 64])
def test_a_kept_csv_is_read_from_disk_in_pieces_as_its_bytes_read(tmp_path, monkeypatch, chunk_bytes):
    # An import reads its kept file by path, a piece at a time, so a large file is never held whole; a
    # line (\r\n, a lone \r, a multi-byte character, a GBK line) split between two pieces reads the same.
    data = (
        '\ufeff姓名,备注\r\n张三,"第一行\r\n第二行"\r\n李四,含\r王五,末行'.encode()
        + "\n赵六,深圳\r\n".encode("gbk")
    )
    kept = tmp_path / "kept"
    kept.write_bytes(data)
    monkeypatch.setattr(readers, "_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("the CSV was read whole"))

    table = table_read(kept)

    assert (table.headers, table.encoding) == (["姓名", "备注"], "utf-8+gb18030")
    assert (
        rows(table)
        == rows(table_read(data))
        == [
            (2, ["张三", "第一行\r\n第二行"]),
            (3, ["李四", "含"]),
            (4, ["王五", "末行"]),
            (5, ["赵六", "深圳"]),
        ]
    )


def test_a_control_character_inside_a_utf16_cell_does_not_split_its_row():
    text = "姓名\t备注\n" + "".join(f"客户{i}\t-\n" for i in range(60)) + "张三\t第一\x0b第二\n"

    table = table_read(text.encode("utf-16"))

    assert rows(table)[-1] == (62, ["张三", "第一\x0b第二"])


def test_a_hidden_sheet_of_dropdown_lists_is_not_taken_for_the_data():
    def write(book, sheet):
        sheet.write_row(0, 0, ["个人", "批发"])
        sheet.hide()
        data = book.add_worksheet("客户表")
        data.write_row(0, 0, ["姓名", "类型"])
        data.write_row(1, 0, ["张三", "批发"])
        data.activate()

    assert table_read(xlsx(write)).sheet == "客户表"


def test_header_names_stay_unique_even_when_the_sheet_has_a_numbered_one():
    table = table_read("手机,手机 (2),手机\n1,2,3\n".encode())

    assert table.headers == ["手机", "手机 (2)", "手机 (3)"]


def test_a_sheet_that_starts_below_and_right_of_a1_keeps_excels_row_numbers_and_columns():
    def write(book, sheet):
        sheet.write_row(2, 1, HEADER)  # B3
        sheet.write_row(3, 1, ["张三", "13812345678"])

    table = table_read(xlsx(write))

    assert (table.header_row, table.headers[1:]) == (3, HEADER)
    assert rows(table) == [(4, ["", "张三", "13812345678", "", ""])]


def test_a_long_number_a_marketplace_wrote_as_a_text_formula_reads_as_excel_shows_it():
    # Taobao's CSV: ="…" keeps Excel from rounding a 19-digit order number. Excel shows the text.
    table = table_read(
        '订单编号,物流单号,备注\n="3871234567890123456",="SF1234",="说""好"""\n'
        '="3871234567890123457",=SUM(1),"=""x"" and more"\n'.encode("gbk")
    )

    assert [cells for _n, cells in rows(table)] == [
        ["3871234567890123456", "SF1234", '说"好"'],
        ["3871234567890123457", "=SUM(1)", '="x" and more'],  # a formula of another kind stays as written
    ]


def test_group_labels_merged_above_the_header_are_not_taken_for_it():
    def write(book, sheet):
        sheet.merge_range(0, 0, 0, 1, "客户信息")
        sheet.merge_range(0, 2, 0, 4, "联系方式")
        sheet.write(0, 5, "消费")
        sheet.write_row(1, 0, ["客户编号", "姓名", "手机", "微信", "邮箱", "累计金额"])
        sheet.write_row(2, 0, ["C9001", "周杰", "13900139000", "zj_wx", "zj@example.com", "￥1,234.50"])

    table = table_read(xlsx(write))

    assert (table.header_row, table.headers) == (2, ["客户编号", "姓名", "手机", "微信", "邮箱", "累计金额"])
    assert [number for number, _cells in rows(table)] == [3]


def test_a_header_with_an_unnamed_column_keeps_its_first_data_row():
    table = table_read("姓名,,备注\n张三,李四,老客\n".encode())

    assert (table.header_row, table.headers) == (1, ["姓名", "Column 2", "备注"])
