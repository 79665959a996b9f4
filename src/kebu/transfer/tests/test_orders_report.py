"""The report of an order sheet's refused orders: every row of an order refused, in the file's order, each
problem on the row its cell is on and that cell marked, so that the report fixed and imported again
brings the whole order; on the import's page, in the terminal, in the dry run and on the check's page
alike. And the refusals the order services word by field, told on the cells that gave those fields."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from decimal import Decimal

import pytest
import python_calamine
import xlsxwriter
from django.core.management import call_command
from django.urls import reverse
from xlsxwriter.utility import xl_cell_to_rowcol, xl_rowcol_to_cell

from kebu.customers.models import Customer
from kebu.orders.models import Order
from kebu.transfer.customers import Problem
from kebu.transfer.imports import import_problems, import_rejected_rows, import_undo
from kebu.transfer.models import Import, ImportMode, ImportRowAction
from kebu.transfer.orders import order_file_check
from kebu.transfer.report import report_write
from kebu.transfer.tests.sheets import csv_rows
from kebu.transfer.tests.test_orders_import import TAOBAO, _with_column, counts, run_import

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pages_in_english")]

HEADER = TAOBAO.decode("utf-8").splitlines()[0]
# 王小明's order 9001: a cream (2 × 199.00, row 2) and a toner (89.50, row 3), 487.50 paid; 李华's order
# 9002: a tea (row 4).
CREAM = (
    "9001,tb_xiaoming,487.50,交易成功,,王小明,浙江省 杭州市 西湖区 文三路1号,13800005678,2024-01-05 10:20:00,"
    "2024-01-05 10:21:00,玻尿酸面霜,2,CREAM-50,199.00,,,,0"
)
TONER = (
    "9001,tb_xiaoming,487.50,交易成功,,王小明,浙江省 杭州市 西湖区 文三路1号,13800005678,2024-01-05 10:20:00,"
    "2024-01-05 10:21:00,爽肤水,1,TONER-100,89.50,,,,0"
)
TEA = (
    "9002,tb_lihua,128.00,交易成功,,李华,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-06 09:00:00,"
    "2024-01-06 09:05:00,明前龙井,1,TEA-250,128.00,,,,0"
)
# The toner's price a cell cannot read: the order's second line is bad, its first is not.
BAD_TONER = TONER.replace(",89.50,", ",八十九块五,")
PRICE = "价格"  # the sheet's 14th column: N on the report's sheet of rows to fix


def sheet(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


def report_of(client, run: Import) -> bytes:
    """The report as the import's page gives it (its "download the rejected rows" link)."""
    response = client.get(reverse("transfer:rejected", args=[run.pk]))
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def sheets(report: bytes) -> dict[str, list[list]]:
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(report))
    return {name: book.get_sheet_by_name(name).to_python() for name in book.sheet_names}


def marked(report: bytes) -> dict[str, str]:
    """The marked cells of the report's rows to fix (A1 references), with the reasons written on them."""
    with zipfile.ZipFile(io.BytesIO(report)) as archive:
        comments = archive.read("xl/comments1.xml").decode()
    found = re.findall(r'<comment ref="([A-Z]+\d+)".*?<t(?:\s[^>]*)?>([^<]*)</t>', comments, re.S)
    return {cell: html.unescape(reason) for cell, reason in found}


def fixed(report: bytes, value: str) -> bytes:
    """The report as a merchant fixes it: each marked cell of its rows to fix given ``value``, the
    workbook saved again (every sheet, the rows to fix first)."""
    marks = [xl_cell_to_rowcol(cell) for cell in marked(report)]
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False})
    for index, (name, rows) in enumerate(sheets(report).items()):
        page = book.add_worksheet(name)
        for r, cells in enumerate(rows):
            for c, cell in enumerate(cells):
                page.write(r, c, value if index == 0 and (r, c) in marks else cell)
    book.close()
    return out.getvalue()


def lines_of(order_no: str) -> list[tuple[str, int, Decimal]]:
    order = Order.objects.get(order_no=order_no)
    return [(line.sku_code, line.quantity, line.amount_cny) for line in order.lines.order_by("position")]


def test_a_refused_order_is_reported_whole_its_problem_on_the_line_it_is_on(owner, owner_client, shop):
    # when: an order whose second line has a price no one can read is imported
    run = run_import(owner, sheet(CREAM, BAD_TONER, TEA), store=shop.store)

    # then: the order is refused, counted once, and the other imported
    assert counts(run) == (1, 0, 0, 1)
    assert not Order.objects.filter(order_no="9001").exists()
    # its report has both its rows, in the file's order, the bad cell marked on the toner's row alone
    report = report_of(owner_client, run)
    found = sheets(report)
    assert [row[12] for row in found["Rows to fix"]] == ["商家编码", "CREAM-50", "TONER-100"]
    assert found["Rows to fix"][1][13] == "199.00"  # the cream's price, unmarked
    assert list(marked(report)) == ["N3"]  # 价格 of the report's third row: the toner's
    [listed] = found["Problems"][1:2]
    assert listed[:3] == [3, PRICE, "八十九块五"]
    # the page lists the problem on row 3 too, under counts it says are of orders
    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()
    assert re.search(r'data-count="rejected">1<', page) and "Counted in orders" in page
    assert re.findall(
        r'<tr><td class="text-secondary">(\d+)</td><td class="text-nowrap">([^<]*)</td>', page
    ) == [("3", PRICE)]


def test_the_report_of_a_refused_order_fixed_and_imported_again_brings_the_whole_order_once(
    owner, owner_client, shop
):
    # given: the order refused for its second line's price, the other order imported
    run = run_import(owner, sheet(CREAM, BAD_TONER, TEA), store=shop.store)
    assert counts(run) == (1, 0, 0, 1)

    # when: its report is downloaded, the marked cell corrected, and the report imported again
    again = run_import(
        owner, fixed(report_of(owner_client, run), "89.50"), store=shop.store, name="导出 - rows to fix.xlsx"
    )

    # then: the order comes in with both its lines and its amounts
    assert counts(again) == (1, 0, 0, 0), import_rejected_rows(again)
    assert lines_of("9001") == [("CREAM-50", 2, Decimal("398.00")), ("TONER-100", 1, Decimal("89.50"))]
    order = Order.objects.get(order_no="9001")
    assert (order.total_cny, order.paid_cny) == (Decimal("487.50"), Decimal("487.50"))
    # and nothing is doubled: each order once, its buyer's figures counting it once
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["9001", "9002"]
    ming = Customer.objects.get(name="王小明")
    assert (ming.order_count, ming.total_spent_cny) == (1, Decimal("487.50"))
    # the same report imported once more adds nothing
    once_more = run_import(
        owner, fixed(report_of(owner_client, run), "89.50"), store=shop.store, name="导出 - rows to fix.xlsx"
    )
    assert counts(once_more) == (0, 0, 1, 0)
    assert Order.objects.count() == 2


def test_the_command_reports_every_row_of_a_refused_order_and_its_problem_on_its_row(owner, shop, tmp_path):
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(sheet(CREAM, BAD_TONER, TEA))
    report = tmp_path / "to-fix.xlsx"
    out = io.StringIO()

    call_command("import", str(path), kind="orders", store=shop.store.name, report=str(report), stdout=out)

    text = out.getvalue()
    assert "1 created, 0 updated, 0 unchanged, 1 rejected (orders)" in text
    assert f"row 3, {PRICE}: '八十九块五'" in text and "row 2," not in text, text
    assert f"report: {report} (2 rows to fix)" in text
    written = report.read_bytes()
    assert [row[12] for row in sheets(written)["Rows to fix"][1:]] == ["CREAM-50", "TONER-100"]
    assert list(marked(written)) == ["N3"]


def test_the_dry_run_counts_and_reports_every_row_of_an_order_it_would_refuse(owner, shop, tmp_path):
    data = sheet(CREAM, BAD_TONER, TEA)
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(data)
    report = tmp_path / "to-fix.xlsx"
    out = io.StringIO()

    check = order_file_check(data, store=shop.store, actor=owner)
    call_command(
        "import",
        str(path),
        kind="orders",
        store=shop.store.name,
        dry_run=True,
        report=str(report),
        stdout=out,
    )

    assert [(row, [(p.row, p.column) for p in problems]) for row, _cells, problems in check.bad] == [
        (2, []),
        (3, [(3, PRICE)]),
    ]
    assert check.good == 1  # rows: the tea's
    text = out.getvalue()
    assert "1 row ready, 2 rows with problems" in text and f"row 3, {PRICE}" in text, text
    assert f"report: {report} (2 rows to fix)" in text
    written = report.read_bytes()
    assert [row[12] for row in sheets(written)["Rows to fix"][1:]] == ["CREAM-50", "TONER-100"]
    assert list(marked(written)) == ["N3"]
    assert sheets(written)["Problems"][1][:2] == [3, PRICE]
    assert not Order.objects.exists()


@pytest.mark.usefixtures("no_drafts_left_over")
def test_the_check_on_the_pages_counts_lists_and_reports_every_row_of_an_order_it_would_refuse(
    owner_client, shop, django_capture_on_commit_callbacks
):
    from kebu.transfer.tests.test_views_kinds import chosen, token_of, upload_file

    token = token_of(upload_file(owner_client, sheet(CREAM, BAD_TONER, TEA), kind="orders", store=shop.store))
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())
    form = {**mapping, "mode": ImportMode.GOOD_ROWS, "store": shop.store.pk, "action": "check"}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("transfer:draft", args=[token]), form)

    page = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">1<', page) and re.search(r'data-count="bad">2<', page)
    assert re.findall(
        r'<tr><td class="text-secondary">(\d+)</td><td class="text-nowrap">([^<]*)</td>', page
    ) == [("3", PRICE)]
    link = re.search(r'href="([^"]+/report\.xlsx)"', page).group(1)
    report = b"".join(owner_client.get(link).streaming_content)
    assert [row[12] for row in sheets(report)["Rows to fix"][1:]] == ["CREAM-50", "TONER-100"]
    assert list(marked(report)) == ["N3"]


def test_all_or_nothing_refused_reports_every_row_of_the_order(owner, shop):
    run = run_import(owner, sheet(CREAM, BAD_TONER, TEA), store=shop.store, mode=ImportMode.ALL_OR_NOTHING)

    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    rows = [
        (row, [(p.row, p.column) for p in problems]) for row, _cells, problems in import_rejected_rows(run)
    ]
    assert rows == [(2, []), (3, [(3, PRICE)])]


def test_an_import_journalled_before_problems_kept_their_rows_still_shows_and_reports_them(
    owner, owner_client, shop
):
    # given: an import whose journal an older Kebu wrote: the order's first row, the problem on it
    run = run_import(owner, sheet(CREAM, BAD_TONER, TEA), store=shop.store)
    entry = run.journal.get(action=ImportRowAction.REJECTED)
    reason = json.loads(entry.detail)["problems"][0][2]
    entry.detail = json.dumps({"problems": [[PRICE, "八十九块五", reason]]}, ensure_ascii=False)
    entry.save(update_fields=["detail"])

    # then: it is read as it was written, on that row
    assert import_problems(run) == {2: [Problem(2, PRICE, "八十九块五", reason)]}
    assert [(row, problems) for row, _cells, problems in import_rejected_rows(run)] == [
        (2, [Problem(2, PRICE, "八十九块五", reason)])
    ]
    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()
    assert re.findall(r'<tr><td class="text-secondary">(\d+)</td>', page) == ["2"]
    assert list(marked(report_of(owner_client, run))) == ["N2"]
    # and undo works as ever
    import_undo(actor=owner, run=run)
    assert not Order.objects.exists()


# What the order services refuse of a new order, by field, told on the cell the sheet gave it in: an
# order's on its first row, a line's on the line's own row. A value Kebu derived has no cell: the problem
# is the order's as a whole (column "").
@pytest.mark.parametrize(
    ("rows", "extra", "expected", "words"),
    [
        # paid more than due (398.00 + 89.50)
        (
            (CREAM.replace("487.50", "500.00"), TONER.replace("487.50", "500.00")),
            None,
            [(2, "买家实际支付金额")],
            "More than",
        ),
        # paid before it was ordered
        (
            (CREAM.replace("2024-01-05 10:21:00", "2024-01-05 10:00:00"), TONER),
            None,
            [(2, "订单付款时间")],
            "Payment cannot come before",
        ),
        # ordered and paid in the future: both cells
        (
            (CREAM.replace("2024-01-05", "2099-01-05"), TONER.replace("2024-01-05", "2099-01-05")),
            None,
            [(2, "订单创建时间"), (2, "订单付款时间")],
            "in the future",
        ),
        # ordered in the future, no payment time: the payment's is the order's, told once, on its cell
        (
            (
                CREAM.replace("2024-01-05 10:20:00,2024-01-05 10:21:00", "2099-01-05 10:20:00,"),
                TONER.replace("2024-01-05 10:20:00,2024-01-05 10:21:00", "2099-01-05 10:20:00,"),
            ),
            None,
            [(2, "订单创建时间")],
            "in the future",
        ),
        # a discount larger than the order (nothing paid said: the amount due, 0)
        (
            (CREAM.replace("487.50", ""), TONER.replace("487.50", "")),
            ("订单优惠", "1000.00"),
            [(2, "订单优惠")],
            "more than the order is worth",
        ),
        # the second line's quantity
        (
            (CREAM.replace("487.50", ""), TONER.replace("487.50", "").replace(",1,TONER", ",0,TONER")),
            None,
            [(3, "宝贝总数量")],
            "at least 1",
        ),
        # the second line's unit price, blank, of an item the catalogue does not have: the cell to fill
        (
            (CREAM.replace("487.50", ""), TONER.replace("487.50", "").replace(",TONER-100,89.50,", ",,,")),
            None,
            [(3, PRICE)],
            "Enter the unit price",
        ),
        # the second line's amount too large, on its quantity; the order's as a whole has no cell
        (
            (
                CREAM.replace("487.50", ""),
                TONER.replace("487.50", "").replace(",1,TONER-100,89.50,", ",2,TONER-100,99999999.00,"),
            ),
            None,
            [(2, ""), (3, "宝贝总数量")],
            "too large",
        ),
    ],
)
def test_an_order_the_order_services_refuse_is_refused_on_the_cells_that_say_why(
    owner, shop, tmp_path, rows, extra, expected, words
):
    data = sheet(*rows)
    if extra is not None:
        data = _with_column(data, extra[0], {"9001": extra[1]})

    check = order_file_check(data, store=shop.store, actor=owner)
    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (0, 0, 0, 1) and not Order.objects.exists()
    problems = [p for _row, _cells, found in import_rejected_rows(run) for p in found]
    assert sorted((p.row, p.column) for p in problems) == sorted(expected)
    assert all(words in p.reason for p in problems), problems
    assert [p for _row, _cells, found in check.bad for p in found] == problems
    # each cell named is marked on its own row of the report (the order's rows are its first two)
    headers = run.headers
    path = tmp_path / "report.xlsx"
    report_write(str(path), headers=headers, rows=import_rejected_rows(run))
    cells = {xl_rowcol_to_cell(row - 1, headers.index(column)) for row, column in expected if column}
    assert set(marked(path.read_bytes()) if cells else {}) == cells
    # with the value it had in the file
    written = csv_rows(data)
    assert all(p.value == written[p.row - 1][headers.index(p.column)] for p in problems if p.column)


def test_an_order_on_credit_for_a_buyer_without_a_credit_line_is_refused_on_its_payment_method(owner, shop):
    # An order on credit goes through order_create on its own: its refusal is told on the cell too.
    data = _with_column(sheet(CREAM, TONER), "支付方式", {"9001": "赊账"})

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (0, 0, 0, 1) and not Order.objects.exists()
    problems = [p for _row, _cells, found in import_rejected_rows(run) for p in found]
    assert [(p.row, p.column, p.value) for p in problems] == [(2, "支付方式", "赊账")]
    assert "credit line" in problems[0].reason
