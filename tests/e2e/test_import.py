"""What a merchant clicks to import a customer sheet: upload a Chinese CSV, see its columns matched, check
every row, import, and see what was created and what was left out; on a desk and on a phone."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from kebu.accounts.tests.otp_helpers import login_verified
from kebu.core.models import Job, JobStatus
from kebu.customers.models import Customer
from kebu.transfer.imports import customer_import_start
from kebu.transfer.models import Import
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
SHEET = (
    "手机号,姓名,微信号,省份,城市,区县,地址,备注\n"
    "13812345678,张三,zs_wx,浙江省,杭州市,西湖区,文三路1号,老客户\n"
    "13900001111,李四,,广东省,深圳市,南山区,科技园2号,\n"
    "12345,王五,ww_wx,,,,,电话少了几位\n"
)


def _as_owner(page, live_server, owner) -> None:
    """The owner's browser, past the second step (as test_login_security does)."""
    client = Client()
    login_verified(client, owner)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )


def test_a_merchant_uploads_a_chinese_sheet_checks_it_and_imports_it(page, live_server, owner, tmp_path):
    problems: list[str] = []

    def console(msg) -> None:
        # a CSP violation or a script error; a refused form answers 400 on purpose
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            problems.append(f"{page.url}: {msg.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: {exc}"))
    _as_owner(page, live_server, owner)
    sheet = tmp_path / "客户名单.csv"
    sheet.write_bytes(SHEET.encode("utf-8-sig"))  # as Excel saves "CSV UTF-8"

    # given the owner opens the import from the menu
    page.goto(f"{live_server.url}/customers/")
    page.click("#nav-import")
    expect(page).to_have_url(re.compile(r"/imports/$"))
    page.click("#import-new")
    screenshot(page, "import-upload")

    # a file with a header and no rows is refused on the form, and nothing is kept
    header_only = tmp_path / "空表.csv"
    header_only.write_bytes(SHEET.splitlines()[0].encode("utf-8"))
    page.set_input_files("#id_file", str(header_only))
    page.click("#upload-submit")
    expect(page.locator("[data-error=file]")).to_be_visible()
    screenshot(page, "import-upload-refused")

    # when the sheet is uploaded, its columns come back matched by their Chinese names
    page.set_input_files("#id_file", str(sheet))
    page.click("#upload-submit")
    expect(page).to_have_url(re.compile(r"/imports/draft/[0-9a-f]{32}/$"))
    for index, key in enumerate(
        ["phone", "name", "wechat", "province", "city", "district", "address", "notes"]
    ):
        expect(page.locator(f"#id_col_{index}")).to_have_value(key)
    expect(page.locator("#preview tbody tr")).to_have_count(3)
    expect(page.locator("#preview")).to_contain_text("文三路1号")
    screenshot(page, "import-columns")

    # and checking every row finds the short phone, writing nothing
    page.click("#check-submit")
    expect(page.locator("#check-counts [data-count=good]")).to_have_text("2")
    expect(page.locator("#check-counts [data-count=bad]")).to_have_text("1")
    expect(page.locator("#problems")).to_contain_text("12345")
    expect(page.locator("#check-report")).to_be_visible()
    assert not Customer.objects.exists()
    screenshot(page, "import-check")

    # then importing takes the good rows and lists the one left out
    page.click("#import-submit")
    expect(page).to_have_url(re.compile(r"/imports/\d+/$"))
    expect(page.locator("#import-outcome")).to_be_visible()
    expect(page.locator("#import-counts [data-count=created]")).to_have_text("2")
    expect(page.locator("#import-counts [data-count=rejected]")).to_have_text("1")
    expect(page.locator("#problems")).to_contain_text("12345")
    expect(page.locator("#rejected-download")).to_be_visible()
    expect(page.locator("#import-undo")).to_be_visible()
    run = Import.objects.get()
    assert (run.created, run.rejected) == (2, 1)
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["张三", "李四"]
    screenshot(page, "import-done")

    # the history lists it
    page.goto(f"{live_server.url}/imports/")
    expect(page.locator("#imports tbody tr")).to_have_count(1)
    expect(page.locator("#imports")).to_contain_text("客户名单.csv")
    screenshot(page, "import-history")

    # and on a phone the pages fit
    page.set_viewport_size(PHONE)
    screenshot(page, "import-history-phone")
    page.goto(f"{live_server.url}/imports/{run.pk}/")
    screenshot(page, "import-done-phone")
    page.goto(f"{live_server.url}/imports/new/")
    page.set_input_files("#id_file", str(sheet))
    page.click("#upload-submit")
    expect(page.locator("#mapping-form")).to_be_visible()
    screenshot(page, "import-columns-phone")

    assert not problems, "\n".join(problems)


def test_a_running_import_shows_its_progress_and_stops_when_cancelled(page, live_server, owner):
    _as_owner(page, live_server, owner)
    run = customer_import_start(actor=owner, data=SHEET.encode(), file_name="大表.csv", enqueue=False)
    Job.objects.filter(pk=run.job_id).update(status=JobStatus.RUNNING, done=1200, total=5000)

    page.goto(f"{live_server.url}/imports/{run.pk}/")
    expect(page.locator("#import-percent")).to_have_text("24%")
    screenshot(page, "import-running")

    # the page polls: what the worker writes shows up without a reload
    Job.objects.filter(pk=run.job_id).update(done=2500)
    expect(page.locator("#import-percent")).to_have_text("50%")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#import-cancel")
    expect(page.locator("#import-status")).to_contain_text("…")
    assert Job.objects.get(pk=run.job_id).cancel_requested
    page.set_viewport_size(PHONE)
    screenshot(page, "import-running-phone")


def test_a_reimport_says_which_customers_it_changed_and_how(page, live_server, owner, tmp_path):
    from kebu.core.jobs import job_run

    def imported(text: str, name: str) -> Import:
        run = customer_import_start(actor=owner, data=text.encode(), file_name=name, enqueue=False)
        job_run(run.job_id)
        run.refresh_from_db()
        return run

    # given the sheet imported, then a newer one where 张三 goes by another name and 李四 has a note
    imported(SHEET, "客户名单.csv")
    newer = SHEET.replace("张三", "张三丰").replace("科技园2号,", "科技园2号,年底回访")
    again = imported(newer, "客户名单-新.csv")
    assert (again.updated, again.unchanged, again.rejected) == (2, 0, 1)
    _as_owner(page, live_server, owner)

    # when the owner opens the import
    page.goto(f"{live_server.url}/imports/{again.pk}/")

    # then each changed customer is listed with what changed, and links to their page
    rows = page.locator("#changes-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("张三 → 张三丰")
    expect(rows.nth(1)).to_contain_text("年底回访")
    zhang = Customer.objects.get(name="张三丰")
    expect(rows.nth(0).locator("a")).to_have_attribute("href", f"/customers/{zhang.pk}/")
    screenshot(page, "import-changed")
    page.set_viewport_size(PHONE)
    screenshot(page, "import-changed-phone")

    # and checking a file that would rename him back says so before anything is written
    page.set_viewport_size({"width": 1366, "height": 900})
    back = tmp_path / "客户名单-旧.csv"
    back.write_bytes(SHEET.encode("utf-8-sig"))
    page.goto(f"{live_server.url}/imports/new/")
    page.set_input_files("#id_file", str(back))
    page.click("#upload-submit")
    page.click("#check-submit")
    checked = page.locator("#changes-table tbody tr")
    expect(checked).to_have_count(1)  # a blank note says nothing: 李四 keeps his
    expect(checked.nth(0)).to_contain_text("张三丰 → 张三")
    assert Customer.objects.filter(name="张三丰").exists()
    screenshot(page, "import-check-changed")
