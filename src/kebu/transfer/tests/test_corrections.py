"""Cells an import takes otherwise than they were written (a phone without its +86, a date written
2024年1月5日, ￥1,299.00元): each one reported with its row, column, both values and the reason, on the
check, in the report and on the finished import, counted, and never for a plain value."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import python_calamine
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse
from django.utils import translation

from kebu.core.jobs import job_run
from kebu.transfer.corrections import CORRECTIONS_KEPT, Correction, import_corrections
from kebu.transfer.customers import customer_file_check
from kebu.transfer.imports import customer_import_start
from kebu.transfer.models import Import
from kebu.transfer.orders import order_file_check
from kebu.transfer.products import product_file_check
from kebu.transfer.report import report_write
from kebu.transfer.tests.test_views import token_of, upload

pytestmark = pytest.mark.django_db

HEADER = "姓名,手机号,性别,客户类型,阶段,生日,邮箱,地址"
PLAIN = "张三,138 1234 5670,Male,Wholesaler,,2024-01-05,zs@example.com,浙江省 杭州市 西湖区 文三路1号"
CORRECTED = [
    "李四,+86 138-1234-5671,m,批发,老客,2024年1月5日,ｌｉ@example.com,广东深圳南山区科技园1号",
    "王五,１３８１２３４５６７２,,,,20240105,,",
    "赵六,13812345673,,,,45296,,",
]
REJECTED = "钱七,12345,m,,,2024年1月5日,,"  # not a phone: rejected, so nothing of it is taken

PHONE = "Taken as the phone number Kebu keeps."
CHOICE = "Taken as the choice Kebu has for this word."
OTHER_DATE = "A date written another way, taken as year-month-day."
EXPECTED = [
    Correction(3, "手机号", "+86 138-1234-5671", "13812345671", PHONE),
    Correction(3, "性别", "m", "Male", CHOICE),
    Correction(3, "客户类型", "批发", "Wholesaler", CHOICE),
    Correction(3, "阶段", "老客", "Repeat buyer", CHOICE),
    Correction(3, "生日", "2024年1月5日", "2024-01-05", OTHER_DATE),
    Correction(
        3, "邮箱", "ｌｉ@example.com", "li@example.com", "Full-width letters or digits taken as plain ones."
    ),
    Correction(
        3,
        "地址",
        "广东深圳南山区科技园1号",
        "广东省 深圳市 南山区 科技园1号",
        "Completed from the list of provinces, cities and districts.",
    ),
    Correction(4, "手机号", "１３８１２３４５６７２", "13812345672", PHONE),
    Correction(4, "生日", "20240105", "2024-01-05", OTHER_DATE),
    Correction(5, "生日", "45296", "2024-01-05", "An Excel date number, taken as the date it stands for."),
]


def customers_sheet(*rows: str) -> bytes:
    return "\n".join([HEADER, *rows]).encode()


def run_import(owner, data: bytes, **options) -> Import:
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=data, file_name="客户.csv", enqueue=False, **options)
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def by_place(corrections):
    return sorted(corrections, key=lambda c: (c.row, HEADER.split(",").index(c.column)))


def test_each_kind_of_correction_is_reported_with_its_cell_values_and_reason_and_none_for_plain_values():
    check = customer_file_check(customers_sheet(PLAIN, *CORRECTED, REJECTED))

    assert (check.good, len(check.bad)) == (4, 1)
    assert by_place(check.corrections) == EXPECTED
    assert check.corrected == len(EXPECTED)


def test_a_word_written_as_the_merchants_own_label_is_no_correction_and_a_synonym_is():
    # given a merchant whose pages are in Chinese, where Male is 男
    with translation.override("zh-hans"):
        check = customer_file_check(customers_sheet("张三,13812345670,男,,,,,", "李四,13812345671,先生,,,,,"))

    assert [(c.row, c.written, c.taken) for c in check.corrections] == [(3, "先生", "男")]


def test_a_label_of_kebus_other_language_is_no_correction():
    # given a sheet exported by someone reading Kebu in English, imported by someone reading it in Chinese
    with translation.override("zh-hans"):
        check = customer_file_check(
            customers_sheet("张三,13812345670,Male,,,,,", "李四,13812345671,Female,,,,,")
        )

    assert check.good == 2 and check.corrections == []


def test_a_number_cell_read_as_text_and_spaces_trimmed_are_no_corrections():
    from kebu.transfer.cells import date_correction, money_correction, text_correction

    assert text_correction(13812345678.0, "13812345678") is None
    assert text_correction("  AB  C ", "AB C") is None
    assert text_correction("张　三", "张 三") is None  # an ideographic space is a space
    assert money_correction("1,299.00", parse := __import__("decimal").Decimal("1299.00")) is None
    assert money_correction(1299.0, parse) is None
    assert date_correction("2024-01-05 10:30", None) is None  # type: ignore[arg-type]


def test_an_amount_with_its_currency_and_an_order_time_in_another_form_are_corrected(owner, shop):
    from kebu.transfer.tests.test_orders_import import TAOBAO

    lines = TAOBAO.decode().splitlines()
    header = lines[0].split(",")
    first = lines[1].split(",")
    first[header.index("买家实际支付金额")] = "￥398.00元"
    first[header.index("订单创建时间")] = "2024/1/5 10:20"

    check = order_file_check("\n".join([lines[0], ",".join(first), *lines[2:]]).encode(), store=shop.store)

    assert not check.bad
    assert [(c.row, c.column, c.written, c.taken, c.reason) for c in check.corrections] == [
        (
            2,
            "买家实际支付金额",
            "￥398.00元",
            "398.00",
            "The currency sign or word left out: the amount in yuan.",
        ),
        (2, "订单创建时间", "2024/1/5 10:20", "2024-01-05 10:20", OTHER_DATE),
    ]


def test_a_delivery_method_in_a_marketplaces_words_is_corrected_and_kebus_label_in_either_language_is_not(
    owner, shop
):
    from kebu.transfer.tests.test_orders_import import delivery_sheet

    # given a merchant reading Kebu in Chinese, where a pick-up is 自提
    with translation.override("zh-hans"):
        check = order_file_check(delivery_sheet("自提", "Pick-up", "上门自提", "ＥＭＳ"), store=shop.store)

    assert check.good == 4 and not check.bad
    assert [(c.row, c.column, c.written, c.taken) for c in check.corrections] == [
        (4, "运送方式", "上门自提", "自提"),
        (5, "运送方式", "ＥＭＳ", "快递"),
    ]


def test_a_product_price_in_brackets_or_full_width_is_corrected():
    data = "商家编码,商品名称,价格\nA-1,面霜,１９９\nA-2,爽肤水,89.50\n".encode()

    check = product_file_check(data)

    assert [(c.row, c.column, c.written, c.taken) for c in check.corrections] == [
        (2, "价格", "１９９", "199.00")
    ]


def test_the_import_counts_every_correction_keeps_the_first_and_shows_them_after_it_ends(owner, owner_client):
    run = run_import(owner, customers_sheet(PLAIN, *CORRECTED, REJECTED))

    assert (run.created, run.rejected, run.corrected) == (4, 1, len(EXPECTED))
    assert by_place(import_corrections(run)) == EXPECTED
    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()
    assert re.search(r'data-count="corrected">\s*已更正：10 个格子', page)  # zh-Hans, the tests' language
    assert "+86 138-1234-5671" in page and "广东省 深圳市 南山区 科技园1号" in page


def test_a_million_corrections_are_counted_but_only_the_first_are_kept(owner, settings):
    rows = [f"客户{n},+86 138{n:08d},,,,,," for n in range(CORRECTIONS_KEPT + 50)]

    run = run_import(owner, customers_sheet(*rows))

    assert run.corrected == CORRECTIONS_KEPT + 50
    kept = import_corrections(run)
    assert len(kept) == CORRECTIONS_KEPT and kept[0].row == 2


def test_an_import_without_corrections_shows_no_corrections_section(owner, owner_client):
    run = run_import(owner, customers_sheet(PLAIN))

    assert run.corrected == 0 and run.corrections == ""
    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()
    assert 'id="corrections"' not in page


def test_the_report_marks_corrected_cells_apart_from_bad_ones_and_counts_them(tmp_path: Path):
    check = customer_file_check(customers_sheet(PLAIN, *CORRECTED, REJECTED))
    target = tmp_path / "report.xlsx"

    report_write(
        str(target), headers=check.headers, rows=check.bad, corrections=check.corrections, corrected=12
    )

    book = python_calamine.CalamineWorkbook.from_path(str(target))
    assert book.sheet_names == ["Rows to fix", "Problems", "Corrected cells"]
    listed = book.get_sheet_by_name("Corrected cells").to_python()
    assert listed[0] == ["Row", "Column", "Value as written", "Value as taken", "Reason"]
    # as written, with the quote every export puts before what a spreadsheet would run (=+86 138-…)
    assert listed[1][1:4] == ["手机号", "'+86 138-1234-5671", "13812345671"]
    assert listed[-1][0] == f"The first {len(EXPECTED)} of 12 corrected cells are listed."
    # the corrected cell is yellow with written → taken as its comment; a bad cell is red
    import zipfile

    with zipfile.ZipFile(target) as archive:
        styles = archive.read("xl/styles.xml").decode()
        comments = "".join(
            archive.read(name).decode() for name in archive.namelist() if name.startswith("xl/comments")
        )
    assert "FFFFEB9C" in styles and "FFFFC7CE" in styles
    assert "+86 138-1234-5671 → 13812345671" in comments


def test_a_report_without_corrections_has_no_corrections_sheet(tmp_path: Path):
    check = customer_file_check(customers_sheet(PLAIN, REJECTED))
    target = tmp_path / "report.xlsx"

    report_write(str(target), headers=check.headers, rows=check.bad, corrections=check.corrections)

    assert python_calamine.CalamineWorkbook.from_path(str(target)).sheet_names == ["Rows to fix", "Problems"]


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_the_check_page_shows_the_corrections_apart_from_the_problems(
    owner_client, django_capture_on_commit_callbacks
):
    text = check_page(
        owner_client, customers_sheet(PLAIN, *CORRECTED, REJECTED), django_capture_on_commit_callbacks
    )

    assert re.search(r'data-count="bad">1<', text)
    corrections = re.search(r'<section id="corrections".*?</section>', text, re.S).group(0)
    assert "Corrected: 10 cells" in corrections
    assert "１３８１２３４５６７２" in corrections and "13812345672" in corrections
    # the rejected row (6) is among the problems, not the corrections
    assert '<td class="text-secondary">6</td>' not in corrections
    assert '<td class="text-secondary">6</td>' in text.split('<section id="corrections"')[0]


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_the_check_page_shows_cells_as_written_without_the_reports_quote(
    owner_client, django_capture_on_commit_callbacks
):
    # The report quotes +86 138-… and -138-1234 so no spreadsheet runs them; the page shows what the
    # sheet said, as the finished import's page does.
    text = check_page(
        owner_client,
        customers_sheet(*CORRECTED, "钱七,-138-1234,m,,,,,"),
        django_capture_on_commit_callbacks,
    )

    corrections = re.search(r'<section id="corrections".*?</section>', text, re.S).group(0)
    assert ">+86 138-1234-5671<" in corrections
    problems = text.split('<section id="corrections"')[0]
    assert ">-138-1234<" in problems
    assert "&#x27;+86" not in text and "&#x27;-138" not in text


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_the_check_page_of_a_plain_file_has_no_corrections_section(
    owner_client, django_capture_on_commit_callbacks
):
    text = check_page(owner_client, customers_sheet(PLAIN), django_capture_on_commit_callbacks)

    assert 'id="check-clean"' in text and 'id="corrections"' not in text


def test_the_dry_run_says_how_many_cells_were_corrected_and_writes_them_to_the_report(tmp_path: Path):
    source = tmp_path / "客户.csv"
    source.write_bytes(customers_sheet(PLAIN, *CORRECTED))
    out = io.StringIO()

    call_command("import", str(source), "--dry-run", "--report", str(tmp_path / "r.xlsx"), stdout=out)

    assert f"{len(EXPECTED)} cells corrected" in out.getvalue()
    assert "row 3, 手机号 “+86 138-1234-5671” → “13812345671”" in out.getvalue()
    book = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "r.xlsx"))
    assert len(book.get_sheet_by_name("Corrected cells").to_python()) == 1 + len(EXPECTED) + 2


def test_the_dry_run_says_one_row_and_one_cell_in_the_singular(tmp_path: Path):
    source = tmp_path / "客户.csv"
    source.write_bytes("姓名,手机号\n张三,１３８１２３４５６７１\n李四,139\n王五,137\n".encode())
    out = io.StringIO()

    call_command("import", str(source), "--dry-run", stdout=out)

    assert "1 row ready, 2 rows with problems" in out.getvalue()
    assert "1 cell corrected (taken otherwise than written):" in out.getvalue()


_KEYS = ["name", "phone", "gender", "customer_type", "stage", "birthday", "email", "address"]


def check_page(client, data: bytes, on_commit) -> str:
    """The check page of ``data`` uploaded, its columns as ``HEADER`` names them, once the check ran."""
    upload_file = io.BytesIO(data)
    upload_file.name = "客户.csv"
    token = token_of(upload(client, upload_file))
    with on_commit(execute=True):
        response = client.post(
            reverse("transfer:draft", args=[token]),
            {**{f"col_{i}": key for i, key in enumerate(_KEYS)}, "mode": "good_rows", "action": "check"},
        )
    return client.get(response["Location"]).content.decode()


def test_a_big_import_counts_its_corrected_cells_as_the_page_writes_numbers():
    from django.template.loader import render_to_string

    with translation.override("zh-hans"):
        page = render_to_string("transfer/_corrections.html", {"corrected": 36000, "corrections": []})

    assert re.search(r'data-count="corrected">\s*已更正：36,000 个格子', page)
