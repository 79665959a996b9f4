"""What an import changed on the customers already there: on the import's page and in its report, as the
reader may see it (the customers they may see, contact details masked unless they see them in full); and
from the terminal (``kebu import --report``), as its ``--user`` may see it, or all of it without one."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from urllib.parse import unquote

import pytest
import python_calamine
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.urls import reverse

from kebu.customers.models import Customer
from kebu.customers.services import customer_input_from, customer_update
from kebu.transfer.imports import customer_import_start
from kebu.transfer.models import Import, ImportMode
from kebu.transfer.tests.test_imports import csv_bytes, run_import
from kebu.transfer.tests.test_views import token_of, upload

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")]

# 客户编号,姓名,手机号码,微信号,邮箱,性别,省份,城市,区县,详细地址,备注
FIRST = csv_bytes(
    ",王小姐,13812345678,wang_wx,wang@example.com,女,浙江省,杭州市,西湖区,文三路1号,老客户",
    ",李四,13900001111,,,男,,,,,",
)
# The same customer found by her phone alone, under the name she gave since.
RENAMED = csv_bytes(
    ",李四,13900001111,,,男,,,,,",
    ",王丽,13812345678,,,,,,,,",
)


def page_of(client: Client, run) -> str:
    response = client.get(reverse("transfer:detail", args=[run.pk]))
    assert response.status_code == 200
    return response.content.decode()


def text_of(html: str) -> str:
    """``html`` as the reader reads it: without its tags, a space between words."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def changed_sheet(client: Client, run) -> list[list[str]]:
    """The report's sheet of changes, as the reader downloads it, without its header."""
    response = client.get(reverse("transfer:rejected", args=[run.pk]))
    assert response.status_code == 200
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(b"".join(response.streaming_content)))
    assert "Changed" in book.sheet_names, book.sheet_names
    rows = book.get_sheet_by_name("Changed").to_python()
    return [[str(cell) for cell in row] for row in rows[1:]]


def sheet_of(path) -> list[list[str]]:
    """The sheet of changes of the report ``kebu import --report`` wrote, without its header."""
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    assert "Changed" in book.sheet_names, book.sheet_names
    return [[str(cell) for cell in row] for row in book.get_sheet_by_name("Changed").to_python()[1:]]


def colleague(staff_member, role: str, *permissions: str):
    """A colleague in ``role`` who may import customer sheets and see every import, with the further
    ``permissions`` given ("app.codename")."""
    user = staff_member(role, "chakan", display_name="查看员")
    for name in ("transfer.import_customers", "transfer.view_import", *permissions):
        app_label, codename = name.split(".")
        permission = Permission.objects.get(content_type__app_label=app_label, codename=codename)
        user.user_permissions.add(permission)
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_a_reimport_that_renames_a_customer_found_by_phone_shows_the_row_and_both_names(owner, owner_client):
    run_import(owner, FIRST)
    wang = Customer.objects.get(name="王小姐")

    again = run_import(owner, RENAMED)

    assert (again.updated, again.unchanged) == (1, 1)
    page = page_of(owner_client, again)
    assert 'id="changes"' in page and "Changed customers" in page
    changed = page[page.index('id="changes-table"') :]
    assert '<tr data-row="3">' in changed and 'data-row="2"' not in changed  # 李四 changed nothing
    assert f'href="{reverse("customers:detail", args=[wang.pk])}">{wang.customer_no}</a>' in changed
    assert f"{wang.customer_no} 王丽" in text_of(changed)
    assert "matched by phone" in changed  # how the row found her
    assert "Name 王小姐 → 王丽" in text_of(changed)
    assert 'id="rejected-download"' in page  # the report, with every change


def test_the_report_lists_every_field_a_reimport_changed_old_and_new(owner, owner_client):
    run_import(owner, FIRST)
    wang = Customer.objects.get(name="王小姐")

    again = run_import(owner, RENAMED)

    [line] = changed_sheet(owner_client, again)
    assert line == ["3.0", wang.customer_no, "王丽", "phone", "Name", "王小姐", "王丽"]


def test_contact_details_stay_masked_for_a_colleague_who_sees_them_masked(owner, owner_client, staff_member):
    # given 王小姐, and an import by the owner that finds her by her WeChat ID, changes her email and
    # notes and gives her another phone
    run_import(owner, FIRST)
    again = run_import(owner, csv_bytes(",王小姐,13999990000,wang_wx,new@example.com,,,,,,VIP 年卡"))
    assert again.updated == 1
    # when a colleague who sees every customer, but contact details masked, reads the import
    analyst = colleague(staff_member, "analyst")

    # then they read that the email and notes changed, never what they were or became
    page = page_of(analyst, again)
    changed = page[page.index('id="changes-table"') :]
    assert "w***@example.com" in changed and "n***@example.com" in changed and "139****0000" in changed
    for clear in ("wang@example.com", "new@example.com", "老客户", "VIP 年卡", "9999", "139 9999 0000"):
        assert clear not in page
    lines = changed_sheet(analyst, again)
    assert {line[3] for line in lines} == {"WeChat ID"}
    assert [line[4:] for line in lines] == [
        ["Email", "w***@example.com", "n***@example.com"],
        ["Notes", "****", "****"],
        ["Phones (added)", "", "139****0000"],
    ]
    # while the owner, who sees them, reads them in full
    assert [line[4:] for line in changed_sheet(owner_client, again)] == [
        ["Email", "wang@example.com", "new@example.com"],
        ["Notes", "老客户", "VIP 年卡"],
        ["Phones (added)", "", "139 9999 0000"],
    ]


def test_a_customer_the_reader_may_not_see_is_not_listed_and_said_so(owner, staff_member, pool_off):
    # given 王小姐 and 李四, the owner's, both renamed by a re-import
    run_import(owner, FIRST)
    again = run_import(owner, csv_bytes(",王丽,13812345678,,,,,,,,", ",李思,13900001111,,,,,,,,"))
    assert again.updated == 2
    # and a salesperson who sees only their own customers, 李思 among them since
    sales = colleague(staff_member, "sales")
    Customer.objects.filter(name="李思").update(owner=sales.user)

    page = page_of(sales, again)

    # then they read what changed on 李思, and only that there was another
    changed = page[page.index('id="changes"') :]
    assert "李四" in changed and 'data-row="3"' in changed
    assert "王小姐" not in page and "王丽" not in page and 'data-row="2"' not in changed
    assert "1 more row changed a customer you may not see" in changed
    assert [line[2] for line in changed_sheet(sales, again)] == ["李思"]


def test_the_page_lists_the_first_changes_in_a_few_queries_however_many(
    owner, owner_client, django_assert_max_num_queries
):
    def renamed(count: int, name: str) -> bytes:
        return csv_bytes(*(f",{name}{i},1381234{i:04d},,,,,,,,客户{name}{i}" for i in range(count)))

    run_import(owner, renamed(40, "甲"))
    again = run_import(owner, renamed(40, "乙"))
    assert again.updated == 40

    with django_assert_max_num_queries(10):
        page = page_of(owner_client, again)

    changed = page[page.index('id="changes-table"') :]
    assert changed.count("<tr data-row=") == 40
    assert "Name 甲39 → 乙39 Notes 客户甲39 → 客户乙39" in text_of(changed)


def test_the_check_lists_what_the_import_would_change_and_changes_nothing(
    owner, owner_client, django_capture_on_commit_callbacks
):
    # given 王小姐, and a file that finds her by her phone under another name
    run_import(owner, FIRST)
    wang = Customer.objects.get(name="王小姐")
    data = io.BytesIO(RENAMED)
    data.name = "客户.csv"
    token = token_of(upload(owner_client, data))
    mapped = {f"col_{i}": key for i, key in enumerate(["customer_no", "name", "phone", "wechat", "email"])}

    # when the merchant checks the file
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**{f"col_{i}": "" for i in range(11)}, **mapped, "mode": "good_rows", "action": "check"},
        )
    assert response.status_code == 302
    page = owner_client.get(response["Location"]).content.decode()

    # then the check says the row would rename her (not that it did), and she is still 王小姐
    assert "Customers it would change" in page and "Changed customers" not in page
    changed = page[page.index('id="changes-table"') :]
    assert '<tr data-row="3">' in changed and 'data-row="2"' not in changed
    assert f'href="{reverse("customers:detail", args=[wang.pk])}">{wang.customer_no}</a>' in changed
    assert f"{wang.customer_no} 王小姐" in text_of(changed)  # as she is: nothing was written
    assert "Name 王小姐 → 王丽" in text_of(changed)
    wang.refresh_from_db()
    assert (wang.name, wang.version) == ("王小姐", 1)
    report = owner_client.get(re.search(r'href="([^"]+/report\.xlsx)"', page).group(1))
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(b"".join(report.streaming_content)))
    lines = book.get_sheet_by_name("Changed").to_python()[1:]
    assert [[str(cell) for cell in line] for line in lines] == [
        ["3.0", wang.customer_no, "王小姐", "phone", "Name", "王小姐", "王丽"]
    ]


def test_the_check_of_a_sheet_listing_a_customer_twice_lists_no_change_once_it_is_imported(
    owner, owner_client, django_capture_on_commit_callbacks
):
    # given a sheet with 王小姐 on rows 2 and 4, her notes different, imported once
    sheet = csv_bytes(
        ",王小姐,13812345678,,,,,,,,老客户",
        ",李四,13900001111,,,,,,,,",
        ",王小姐,138 1234 5678,,,,,,,,VIP客户",
    )
    run_import(owner, sheet)
    data = io.BytesIO(sheet)
    data.name = "客户.csv"
    token = token_of(upload(owner_client, data))

    # when the merchant checks the same sheet again
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {
                **{f"col_{i}": "" for i in range(11)},
                "col_1": "name",
                "col_2": "phone",
                "col_10": "notes",
                "mode": "good_rows",
                "action": "check",
            },
        )
    page = owner_client.get(response["Location"]).content.decode()

    # then, the check done, it would change nobody: row 2 leaves her notes to row 4, as the import does
    assert "3 rows read 3 ready 0 with problems Every row can be imported." in text_of(page)
    assert 'id="changes-table"' not in page
    assert Customer.objects.get(name="王小姐").notes == "VIP客户"


def test_an_import_journalled_before_kebu_kept_the_new_values_shows_them_while_nobody_changed_since(
    owner, owner_client
):
    # given a re-import journalled as an older Kebu did: the values before, not after, nor the match
    run_import(owner, FIRST)
    again = run_import(owner, RENAMED)
    entry = again.journal.get(action="updated")
    detail = json.loads(entry.detail)
    entry.detail = json.dumps({"before": detail["before"], "added": detail["added"]}, ensure_ascii=False)
    entry.save()

    # then the new name is the customer's as she is, as long as nobody changed her since
    changed = text_of(page_of(owner_client, again))
    assert "Name 王小姐 → 王丽" in changed and "matched by" not in changed
    wang = Customer.objects.get(name="王丽")
    renamed = replace(customer_input_from(wang), name="王女士")
    customer_update(actor=owner, customer=wang, data=renamed, expected_version=wang.version)
    assert "Name 王小姐 → (changed since)" in text_of(page_of(owner_client, again))


# 王小姐 found by her WeChat ID, given a phone, an address and a tag.
ADDS_HEADER = "姓名,手机号码,微信号,省份,城市,区县,详细地址,标签\n"
ADDS = (ADDS_HEADER + "王小姐,13999990000,wang_wx,广东省,深圳市,南山区,科技园1号,VIP\n").encode("utf-8")
ADDS_KEYS = ["name", "phone", "wechat", "province", "city", "district", "address", "tags"]


def checked_page(
    client: Client, data: bytes, keys: list[str], capture, *, language: str = "en", read_in: str = "en"
) -> str:
    """The check page of ``data``, its columns mapped to ``keys``, asked for in ``language`` (the report's)
    and read in ``read_in``."""
    upload_ = io.BytesIO(data)
    upload_.name = "客户.csv"
    token = token_of(upload(client, upload_))
    with capture(execute=True):
        response = client.post(
            reverse("transfer:draft", args=[token]),
            {**{f"col_{i}": key for i, key in enumerate(keys)}, "mode": "good_rows", "action": "check"},
            HTTP_ACCEPT_LANGUAGE=language,
        )
    assert response.status_code == 302
    return client.get(response["Location"], HTTP_ACCEPT_LANGUAGE=read_in).content.decode()


def row_of(page: str, row: int) -> str:
    return re.search(rf'<tr data-row="{row}">.*?</tr>', page, re.S).group(0)


def test_the_check_shows_what_a_row_adds_as_added_as_the_import_page_does(
    owner, owner_client, django_capture_on_commit_callbacks
):
    # given 王小姐, and a file that finds her by her WeChat ID and adds a phone, an address and a tag
    run_import(owner, FIRST)

    # when the merchant checks the file
    page = checked_page(owner_client, ADDS, ADDS_KEYS, django_capture_on_commit_callbacks)

    # then each is listed as added, under the field's own name, as the import's page lists them
    checked = row_of(page, 2)
    assert checked.count('<span class="badge text-bg-light border">added</span>') == 3
    assert "Phones added 139 9999 0000" in text_of(checked)
    assert "Addresses added 广东省深圳市南山区 科技园1号" in text_of(checked)
    assert "Tags added VIP" in text_of(checked)
    assert "(added)" not in checked and "→" not in checked
    again = run_import(owner, ADDS)
    assert row_of(page_of(owner_client, again), 2) == checked


def test_a_checks_report_without_rows_to_fix_is_named_as_the_checks_report(
    owner, owner_client, django_capture_on_commit_callbacks
):
    # given a file that only adds to 王小姐, checked
    run_import(owner, FIRST)
    page = checked_page(owner_client, ADDS, ADDS_KEYS, django_capture_on_commit_callbacks)

    # when its report is downloaded
    link = re.search(r'href="([^"]+)" id="check-report"', page).group(1)
    response = owner_client.get(link)

    # then it is named for what it is: no row is to fix
    name = unquote(response["Content-Disposition"].split("filename*=utf-8''")[-1])
    assert name == "客户 - check report.xlsx"


def test_a_check_asked_for_in_chinese_and_read_in_english_still_shows_what_a_row_adds_as_added(
    owner, owner_client, django_capture_on_commit_callbacks
):
    # given a check asked for in Chinese: its report names the fields in Chinese, 手机（新增）
    run_import(owner, FIRST)

    # when its page is read in English
    page = checked_page(
        owner_client, ADDS, ADDS_KEYS, django_capture_on_commit_callbacks, language="zh-hans", read_in="en"
    )

    # then the fields keep the report's names, and what was added is still said to be
    checked = row_of(page, 2)
    assert checked.count('<span class="badge text-bg-light border">added</span>') == 3, text_of(checked)
    assert "（新增）" not in checked and "→" not in checked


# 王小姐 found by her WeChat ID, her email and notes changed, a phone added; 李四 renamed.
CHANGED = csv_bytes(",王小姐,13999990000,wang_wx,new@example.com,,,,,,VIP 年卡", ",李思,13900001111,,,,,,,,")


def test_the_terminals_report_without_a_user_lists_every_change_unmasked_as_the_owners_download_does(
    owner, owner_client, tmp_path
):
    # given 王小姐 and 李四, and a file that changes both
    run_import(owner, FIRST)
    path, report = tmp_path / "客户.csv", tmp_path / "报告.xlsx"
    path.write_bytes(CHANGED)
    out = io.StringIO()

    # when it is imported from the terminal under no one's name, with a report
    call_command("import", str(path), report=str(report), stdout=out)

    # then it says how many customers it changed, and the report lists every change, in full: whoever runs
    # the command holds the database
    text = out.getvalue()
    assert "0 created, 2 updated, 0 unchanged, 0 rejected" in text
    assert "2 customers changed: each field before → after in the report's sheet “Changed”" in text
    assert f"report: {report} (2 changed customers)" in text  # no row to fix: it does not say "0 rows to fix"
    run = Import.objects.latest("pk")
    wang, li = Customer.objects.get(name="王小姐"), Customer.objects.get(name="李思")
    assert sheet_of(report) == [
        ["2.0", wang.customer_no, "王小姐", "WeChat ID", "Email", "wang@example.com", "new@example.com"],
        ["2.0", wang.customer_no, "王小姐", "WeChat ID", "Notes", "老客户", "VIP 年卡"],
        ["2.0", wang.customer_no, "王小姐", "WeChat ID", "Phones (added)", "", "139 9999 0000"],
        ["3.0", li.customer_no, "李思", "phone", "Name", "李四", "李思"],
    ]
    assert sheet_of(report) == changed_sheet(owner_client, run)  # the page's download, line for line


def test_the_dry_runs_report_lists_what_the_import_would_change_as_the_import_itself_then_lists_it(
    owner, owner_client, tmp_path
):
    # given 王小姐 and 李四, and a file that changes both
    run_import(owner, FIRST)
    path, checked, imported = tmp_path / "客户.csv", tmp_path / "检查.xlsx", tmp_path / "报告.xlsx"
    path.write_bytes(CHANGED)
    out = io.StringIO()

    # when it is checked from the terminal with a report, then imported with one
    call_command("import", str(path), dry_run=True, report=str(checked), stdout=out)
    assert not Customer.objects.filter(name="李思").exists()  # the check changed nobody
    call_command("import", str(path), report=str(imported), stdout=io.StringIO())

    # then the check said what would change, and its report's sheet of changes is the import's, line for
    # line, but for each customer named as they are, before the change the check did not make
    text = out.getvalue()
    assert "2 rows ready, 0 rows with problems" in text
    assert "2 customers would change: each field before → after in the report's sheet “Changed”" in text
    assert f"report: {checked} (2 changed customers)" in text
    would, did = sheet_of(checked), sheet_of(imported)
    assert [line[:2] + line[3:] for line in would] == [line[:2] + line[3:] for line in did]
    assert [line[2] for line in would] == ["王小姐", "王小姐", "王小姐", "李四"]
    assert [line[2] for line in did] == ["王小姐", "王小姐", "王小姐", "李思"]


def test_the_dry_run_without_a_report_says_how_many_customers_would_change_and_how_to_list_them(
    owner, tmp_path
):
    run_import(owner, FIRST)
    path = tmp_path / "客户.csv"
    path.write_bytes(CHANGED)
    out = io.StringIO()

    call_command("import", str(path), dry_run=True, stdout=out)

    assert "2 customers would change: --report FILE lists each field before → after" in out.getvalue()


def test_a_report_without_rejected_rows_is_named_as_the_imports_report_not_as_rows_to_fix(
    owner, owner_client
):
    # given a re-import that changed customers and rejected no row, and one that rejected a row
    run_import(owner, FIRST)
    changed = run_import(owner, RENAMED)
    rejected = run_import(owner, csv_bytes(",王五,12345,,,,,,,,"))  # not a phone
    assert (changed.rejected, rejected.rejected) == (0, 1)

    def name_of(run) -> str:
        response = owner_client.get(reverse("transfer:rejected", args=[run.pk]))
        return unquote(response["Content-Disposition"].split("filename*=utf-8''")[-1])

    # then the first is named for what it is, the second still for its rows to fix
    assert name_of(changed) == "客户 - import report.xlsx"
    assert name_of(rejected) == "客户 - rows to fix.xlsx"


def test_the_terminals_report_as_a_user_lists_the_changes_masked_as_they_see_them(
    owner, staff_member, tmp_path
):
    # given a re-import the owner started, resumed from the terminal as a colleague who sees every
    # customer but contact details masked
    run_import(owner, FIRST)
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=CHANGED, file_name="客户.csv", mode=ImportMode.GOOD_ROWS, enqueue=False
        )
    analyst = colleague(staff_member, "analyst")
    report = tmp_path / "报告.xlsx"

    call_command("import", resume=run.pk, user="chakan", report=str(report), stdout=io.StringIO())

    # then the report is theirs: as the import's page downloads it for them, masked
    lines = sheet_of(report)
    assert [line[4:] for line in lines] == [
        ["Email", "w***@example.com", "n***@example.com"],
        ["Notes", "****", "****"],
        ["Phones (added)", "", "139****0000"],
        ["Name", "李四", "李思"],
    ]
    assert lines == changed_sheet(analyst, run)


def test_the_terminal_counts_the_changes_its_user_may_see_and_says_the_others_are_not_listed(
    owner, staff_member, pool_off, tmp_path
):
    # given a re-import the owner started that changes 王小姐 and 李四, resumed from the terminal by a
    # salesperson who sees only their own customers, 李四 among them
    run_import(owner, FIRST)
    sales = colleague(staff_member, "sales")
    Customer.objects.filter(name="李四").update(owner=sales.user)
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=CHANGED, file_name="客户.csv", mode=ImportMode.GOOD_ROWS, enqueue=False
        )
    out = io.StringIO()

    call_command("import", resume=run.pk, user="chakan", stdout=out)

    assert (
        "1 customer changed (and 1 more you may not see, or deleted since: not listed): "
        "--report FILE lists each field before → after"
    ) in out.getvalue()
