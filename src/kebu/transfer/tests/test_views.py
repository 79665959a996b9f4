"""The import pages as a merchant uses them: upload, columns and presets, the check, the import and its
progress, cancel, undo, the history; and that nobody without the import permission finds them."""

from __future__ import annotations

import io
import re

import pytest
import python_calamine
from django.contrib.auth.models import Permission
from django.db import transaction
from django.test import Client
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.models import Job, JobStatus
from kebu.customers.models import Customer
from kebu.customers.services import customer_input_from, customer_update
from kebu.customers.tests.factories import CustomFieldFactory, make_customer
from kebu.transfer.drafts import DRAFT_PREFIX
from kebu.transfer.imports import customer_import_start, imports_dir
from kebu.transfer.models import Import, ImportMode, MappingPreset
from kebu.transfer.views import DRAFTS_SESSION_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")]

HEADER = "姓名,手机号,微信号,省份,城市,区县,地址,最近购买\n"
COLUMNS = 8
GOOD = [
    "张三,13812345678,zs_wx,浙江省,杭州市,西湖区,文三路1号,铁观音",
    "李四,13900001111,,,,,,",
]
BAD = ["王五,12345,,,,,,"]  # not a phone


def sheet(*lines: str, header: str = HEADER) -> io.BytesIO:
    upload = io.BytesIO((header + "".join(line + "\n" for line in lines)).encode("utf-8"))
    upload.name = "客户.csv"
    return upload


def upload(client, data: io.BytesIO, *, mode: str = ImportMode.GOOD_ROWS):
    return client.post(reverse("transfer:new"), {"file": data, "mode": mode})


def drafts_on_disk() -> list[str]:
    return sorted(p.name for p in imports_dir().glob(DRAFT_PREFIX + "*"))


def token_of(response) -> str:
    match = re.search(r"/imports/draft/([0-9a-f]{32})/", response["Location"])
    assert match, response["Location"]
    return match.group(1)


def columns(headers_count: int, **chosen: str) -> dict[str, str]:
    """The columns form as posted: ``col_<i>=<key>``, blank for the ones skipped."""
    data = {f"col_{i}": "" for i in range(headers_count)}
    data.update(chosen)
    return data


MAPPED = {
    "col_0": "name",
    "col_1": "phone",
    "col_2": "wechat",
    "col_3": "province",
    "col_4": "city",
    "col_5": "district",
    "col_6": "address",
}


def post_columns(client, token: str, action: str, *, mode: str = ImportMode.GOOD_ROWS, **extra):
    data = {**columns(COLUMNS, **MAPPED), "mode": mode, "action": action, **extra}
    return client.post(reverse("transfer:draft", args=[token]), data)


@pytest.fixture
def importer(staff_member):
    """A colleague who may import but is not an admin: sees their own imports only."""
    user = staff_member(None, "daoru", display_name="导入员")
    user.user_permissions.add(Permission.objects.get(codename="import_customers"))
    return user


@pytest.fixture
def importer_client(importer):
    client = Client()
    client.force_login(importer)
    return client


def import_through_pages(client, lines, *, django_capture_on_commit_callbacks, mode=ImportMode.GOOD_ROWS):
    token = token_of(upload(client, sheet(*lines), mode=mode))
    with django_capture_on_commit_callbacks(execute=True):
        response = post_columns(client, token, "import", mode=mode)
    assert response.status_code == 302
    return Import.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1])), response


# --- upload -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "not a spreadsheet"),
        (b"", "empty"),
        ("姓名,手机号\n".encode(), "no data rows"),
        (b"PK\x03\x04 this is no zip at all", "damaged"),
    ],
    ids=["picture", "empty", "header-only", "corrupt"],
)
def test_a_file_that_cannot_be_read_is_refused_on_the_form_and_nothing_is_kept(
    owner_client, content, message
):
    data = io.BytesIO(content)
    data.name = "客户.xlsx"

    response = owner_client.post(reverse("transfer:new"), {"file": data, "mode": ImportMode.GOOD_ROWS})

    assert response.status_code == 400
    error = response.content.decode()
    assert 'data-error="file"' in error
    assert message in error.lower() or (message == "empty" and "submitted file is empty" in error.lower())
    assert drafts_on_disk() == []
    assert not owner_client.session.get(DRAFTS_SESSION_KEY)
    assert not Import.objects.exists() and not Job.objects.exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(owner_client, settings):
    settings.KEBU = {**settings.KEBU, "IMPORT_MAX_MB": 1}
    big = sheet(*[f"客户{i},1380000{i % 10000:04d},,," for i in range(40_000)])
    assert len(big.getvalue()) > 1024 * 1024

    response = upload(owner_client, big)

    assert response.status_code == 400
    assert "at most 1 MB can be imported" in response.content.decode()
    assert drafts_on_disk() == []


def test_an_upload_is_kept_as_a_draft_under_a_generated_name_and_nothing_is_queued(owner_client):
    response = upload(owner_client, sheet(*GOOD))

    token = token_of(response)
    assert drafts_on_disk() == [DRAFT_PREFIX + token]
    assert not Import.objects.exists() and not Job.objects.exists()
    assert owner_client.session[DRAFTS_SESSION_KEY][token]["file_name"] == "客户.csv"


# --- columns and presets ----------------------------------------------------------------------------


def test_the_columns_page_shows_the_header_first_rows_and_the_guessed_fields(owner_client):
    CustomFieldFactory(key="vip_level", label="会员等级")
    data = sheet(
        "张三,13812345678,zs_wx,文三路1号,金卡,淘宝", header="姓名,手机号,微信号,地址,会员等级,来源\n"
    )
    token = token_of(upload(owner_client, data))

    response = owner_client.get(reverse("transfer:draft", args=[token]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "13812345678" in page and "zs_wx" in page  # the first rows
    guessed = [(0, "name"), (1, "phone"), (2, "wechat"), (3, "address"), (4, "cf_vip_level"), (5, "source")]
    for index, key in guessed:
        select = re.search(rf'<select name="col_{index}".*?</select>', page, re.S).group(0)
        assert f'<option value="{key}" selected>' in select


def _two_sheet_workbook() -> io.BytesIO:
    """A 微商's workbook: this year's customers on one sheet, the old ones on the next, their header
    under a title."""
    import xlsxwriter

    upload = io.BytesIO()
    book = xlsxwriter.Workbook(upload, {"in_memory": True})
    for name, title, rows in (
        ("客户", "我的客户", [["林晓", "13812340001"]]),
        ("老客户2023", "", [["何丽", "13812340011"], ["周敏", "13812340012"]]),
    ):
        sheet_ = book.add_worksheet(name)
        rows = [*([[title]] if title else []), ["姓名", "电话"], *rows]
        for r, row in enumerate(rows):
            sheet_.write_row(r, 0, row)
    book.close()
    upload.seek(0)
    upload.name = "客户.xlsx"
    return upload


def test_a_workbooks_other_sheet_can_be_chosen_and_imported(owner_client, django_capture_on_commit_callbacks):
    # given: a workbook with customers on two sheets, the first read on upload
    token = token_of(upload(owner_client, _two_sheet_workbook()))
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert "林晓" in page and 'id="sheet-choice"' in page and "老客户2023" in page

    # when: the other sheet is chosen, and imported
    response = owner_client.get(reverse("transfer:draft", args=[token]), {"sheet": "老客户2023"})
    assert response.status_code == 302
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert "何丽" in page and "林晓" not in page
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**columns(2, col_0="name", col_1="phone"), "mode": ImportMode.GOOD_ROWS, "action": "import"},
        )

    # then: its customers are the ones imported, and the import names the sheet
    assert response.status_code == 302
    run = Import.objects.get()
    assert run.sheet == "老客户2023" and (run.created, run.rejected) == (2, 0)
    assert set(Customer.objects.values_list("name", flat=True)) == {"何丽", "周敏"}


def test_a_sheet_the_workbook_does_not_have_changes_nothing(owner_client):
    token = token_of(upload(owner_client, _two_sheet_workbook()))

    owner_client.get(reverse("transfer:draft", args=[token]), {"sheet": "别的表"})

    assert owner_client.session[DRAFTS_SESSION_KEY][token]["sheet"] == "客户"


def test_a_sheet_of_many_columns_shows_the_ones_it_imports_and_folds_the_others_away(owner_client):
    # given a 40-column export of which Kebu knows three columns
    header = ",".join(["姓名", *(f"统计{i}" for i in range(37)), "手机号", "备注"]) + "\n"
    token = token_of(
        upload(owner_client, sheet(",".join(["张三", *("x" * 37), "13812345678", "老客"]), header=header))
    )

    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()

    # then those three come first, the 37 others folded away but still in the form
    fed, skipped = page.split('id="columns-skipped"')
    assert re.findall(r'data-column="(\d+)"', fed) == ["0", "38", "39"]
    assert len(re.findall(r'data-column="\d+"', skipped)) == 37
    assert "37 more columns are not imported" in " ".join(re.sub(r"<[^>]+>", " ", skipped).split())
    assert "</details>" in skipped and 'name="col_5"' in skipped
    # and a sheet with a few columns left out shows all of them, in its order
    token = token_of(upload(owner_client, sheet("张三,13812345678,a,b", header="姓名,手机号,甲,乙\n")))
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert 'id="columns-skipped"' not in page and re.findall(r'data-column="(\d+)"', page) == [
        "0",
        "1",
        "2",
        "3",
    ]


def test_a_mapping_with_nothing_that_tells_customers_apart_is_shown_as_a_problem_and_cannot_be_imported(
    owner_client,
):
    token = token_of(upload(owner_client, sheet("VIP,铁观音", header="备注,最近购买\n")))

    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert "No column was recognised as the customer" in page

    response = owner_client.post(
        reverse("transfer:draft", args=[token]),
        {"col_0": "notes", "col_1": "", "mode": ImportMode.GOOD_ROWS, "action": "import"},
    )
    assert response.status_code == 400
    assert "phone, customer number, WeChat or another account, or email" in response.content.decode()
    assert not Import.objects.exists()


def test_a_sheet_of_customer_numbers_and_tags_tags_those_customers_from_the_pages(
    owner_client, owner, django_capture_on_commit_callbacks
):
    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    data = sheet(f"{zhang.customer_no},VIP", "C000123,VIP", header="客户编号,标签\n")
    token = token_of(upload(owner_client, data))
    assert (
        "No column was recognised"
        not in owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {"col_0": "customer_no", "col_1": "tags", "mode": ImportMode.GOOD_ROWS, "action": "import"},
        )

    assert response.status_code == 302
    run = Import.objects.get()
    assert (run.created, run.updated, run.unchanged, run.rejected) == (0, 1, 0, 1)
    assert list(zhang.tags.values_list("name", flat=True)) == ["VIP"]
    page = owner_client.get(response["Location"]).content.decode()
    assert "No customer has the customer number C000123" in page


def test_two_columns_cannot_feed_one_field(owner_client):
    token = token_of(upload(owner_client, sheet(*GOOD)))

    response = owner_client.post(
        reverse("transfer:draft", args=[token]),
        {
            **columns(COLUMNS, col_0="name", col_1="phone", col_7="phone"),
            "mode": "good_rows",
            "action": "import",
        },
    )

    assert response.status_code == 400
    assert "already feeds" in response.content.decode()
    assert not Import.objects.exists()


def test_a_saved_preset_is_chosen_for_the_next_file_with_the_same_header(owner_client, owner):
    # given columns the guess gets wrong: 最近购买 kept as notes
    token = token_of(upload(owner_client, sheet(*GOOD)))
    response = post_columns(owner_client, token, "save_preset", preset_name="淘宝导出", col_7="notes")
    assert response.status_code == 302

    preset = MappingPreset.objects.get(name="淘宝导出")
    assert preset.created_by == owner
    assert preset.mapping == {
        "姓名": "name",
        "手机号": "phone",
        "微信号": "wechat",
        "省份": "province",
        "城市": "city",
        "区县": "district",
        "地址": "address",
        "最近购买": "notes",
    }

    # when the same layout is uploaded again (spaced and marked differently)
    header = " 姓名 ,*手机号,微信号,省份,城市,区县,地址,最近购买\n"
    token = token_of(upload(owner_client, sheet(*GOOD, header=header)))
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()

    # then the preset is chosen, and its columns with it
    assert f'<option value="{preset.pk}" selected>淘宝导出</option>' in page
    select = re.search(r'<select name="col_7".*?</select>', page, re.S).group(0)
    assert '<option value="notes" selected>' in select


def test_a_preset_is_applied_by_choosing_it_and_saving_under_its_name_replaces_it(owner_client):
    header = HEADER.strip().split(",")  # saved from this layout, with only 地址 given a field (notes)
    MappingPreset.objects.create(
        name="旧的", headers=header, headers_signature="x", mapping={"地址": "notes"}
    )
    token = token_of(upload(owner_client, sheet(*GOOD)))

    preset = MappingPreset.objects.get(name="旧的")
    page = owner_client.get(reverse("transfer:draft", args=[token]), {"preset": preset.pk}).content.decode()
    select = re.search(r'<select name="col_6".*?</select>', page, re.S).group(0)
    assert '<option value="notes" selected>' in select
    select = re.search(r'<select name="col_0".*?</select>', page, re.S).group(0)
    assert '<option value="" selected>' in select  # the preset names no other column

    response = post_columns(owner_client, token, "save_preset", preset_name="旧的")
    assert response.status_code == 302
    preset.refresh_from_db()
    assert MappingPreset.objects.count() == 1 and preset.mapping["姓名"] == "name"


def test_a_preset_chosen_for_a_file_whose_header_changed_a_little_guesses_the_new_columns(owner_client):
    # given a preset saved from last month's layout, which left 最近购买 out on purpose
    token = token_of(upload(owner_client, sheet(*GOOD)))
    post_columns(owner_client, token, "save_preset", preset_name="淘宝导出")
    preset = MappingPreset.objects.get(name="淘宝导出")

    # when this month's export calls 手机号 联系电话 and has a column more (备注), and the preset is chosen
    header = "姓名,联系电话,微信号,省份,城市,区县,地址,最近购买,备注\n"
    token = token_of(
        upload(
            owner_client,
            sheet("张三,13812345678,zs_wx,浙江省,杭州市,西湖区,文三路1号,铁观音,老客", header=header),
        )
    )
    page = owner_client.get(reverse("transfer:draft", args=[token]), {"preset": preset.pk}).content.decode()

    # then the new columns get the field their header says, and the one the preset left out stays out
    def chosen(index: int) -> str:
        select = re.search(rf'<select name="col_{index}".*?</select>', page, re.S).group(0)
        return re.search(r'<option value="([^"]*)" selected>', select).group(1)

    assert [chosen(i) for i in range(9)] == [
        "name",
        "phone",
        "wechat",
        "province",
        "city",
        "district",
        "address",
        "",
        "notes",
    ]


def test_a_preset_needs_a_name(owner_client):
    token = token_of(upload(owner_client, sheet(*GOOD)))

    response = post_columns(owner_client, token, "save_preset", preset_name="  ")

    assert response.status_code == 400
    assert 'data-error="preset_name"' in response.content.decode()
    assert not MappingPreset.objects.exists()


# --- the check (dry run) ----------------------------------------------------------------------------


def test_the_check_reads_every_row_shows_the_problems_offers_the_report_and_writes_nothing(
    owner_client, owner, django_capture_on_commit_callbacks
):
    make_customer(actor=owner, name="赵六", phone="13700000001")
    make_customer(actor=owner, name="赵六", phone="13700000002")
    token = token_of(upload(owner_client, sheet(*GOOD, *BAD, "赵六,,,,,,,")))
    before = Customer.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        response = post_columns(owner_client, token, "check")
    assert response.status_code == 302
    page = owner_client.get(response["Location"])

    text = page.content.decode()
    assert page.status_code == 200
    assert re.search(r'data-count="good">2<', text) and re.search(r'data-count="bad">2<', text)
    assert "12345" in text and "手机号" in text  # row 4: the phone cell and its value
    assert "Several customers are called" in text  # row 5: 赵六 is two customers
    assert Customer.objects.count() == before and not Import.objects.exists()

    report = owner_client.get(re.search(r'href="([^"]+/report\.xlsx)"', text).group(1))
    assert report.status_code == 200
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(b"".join(report.streaming_content)))
    rows = book.get_sheet_by_index(0).to_python()
    assert rows[0][:2] == ["姓名", "手机号"] and [r[0] for r in rows[1:]] == ["王五", "赵六"]


def test_an_htmx_poll_of_a_running_check_gets_the_progress_fragment(owner_client, owner):
    token = token_of(upload(owner_client, sheet(*GOOD)))
    post_columns(owner_client, token, "check")  # on-commit never runs here: the job stays queued
    job = Job.objects.get(kind="transfer.import_check")

    response = owner_client.get(reverse("transfer:check", args=[token, job.pk]), HTTP_HX_REQUEST="true")

    text = response.content.decode()
    assert text.lstrip().startswith('<div id="check-status"') and 'hx-trigger="every 1s"' in text
    assert "<html" not in text


def test_a_check_of_another_draft_or_session_is_not_found(
    owner_client, owner, client, django_capture_on_commit_callbacks
):
    token = token_of(upload(owner_client, sheet(*GOOD)))
    with django_capture_on_commit_callbacks(execute=True):
        check_url = post_columns(owner_client, token, "check")["Location"]

    other = Client()
    from kebu.accounts.tests.otp_helpers import login_verified

    login_verified(other, owner)  # the same person in another browser: the draft is this session's
    assert other.get(check_url).status_code == 404
    assert other.get(reverse("transfer:draft", args=[token])).status_code == 404
    assert owner_client.get(reverse("transfer:draft", args=["secret_key"])).status_code == 404
    assert owner_client.get("/imports/draft/..%2F..%2Fsecret_key/").status_code == 404


# --- the owner of the customers an import adds -------------------------------------------------------


def test_an_admin_chooses_on_the_columns_page_whose_the_customers_an_import_adds_are(
    owner_client, owner, staff_member, django_capture_on_commit_callbacks
):
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    token = token_of(upload(owner_client, sheet(*GOOD)))

    # offered as on the new-customer form: themselves, nobody (the shared pool), or a colleague
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    choice = re.search(r'<select name="owner".*?</select>', page, re.S).group(0)
    assert f'<option value="{owner.pk}" selected>' in choice and f'value="{clerk.pk}"' in choice
    assert "nobody: the shared pool" in choice

    # when they choose the clerk, check every row, and import from the check's page
    with django_capture_on_commit_callbacks(execute=True):
        check_url = post_columns(owner_client, token, "check", owner=clerk.pk)["Location"]
    check = owner_client.get(check_url).content.decode()
    posted = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', check))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("transfer:draft", args=[token]), {**posted, "action": "import"})

    # then the customers are the clerk's
    assert response.status_code == 302
    assert set(Customer.objects.values_list("owner", flat=True)) == {clerk.pk}
    assert Import.objects.get().options == {"owner": clerk.pk}


def test_an_importer_who_may_not_assign_is_not_offered_the_owner_and_owns_what_they_add(
    staff_member, owner, django_capture_on_commit_callbacks
):
    clerk = staff_member("sales", "xiaowang", display_name="小王")
    clerk.user_permissions.add(Permission.objects.get(codename="import_customers"))
    client = Client()
    client.force_login(clerk)
    token = token_of(upload(client, sheet(*GOOD)))

    page = client.get(reverse("transfer:draft", args=[token])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_columns(client, token, "import", owner=owner.pk)  # posted all the same

    assert 'name="owner"' not in page and 'id="owner-choice"' not in page
    assert response.status_code == 302
    assert set(Customer.objects.values_list("owner", flat=True)) == {clerk.pk}


# --- import, progress, cancel, undo -----------------------------------------------------------------


def test_importing_from_the_pages_shows_the_counts_and_the_rejected_rows(
    owner_client, django_capture_on_commit_callbacks
):
    run, response = import_through_pages(
        owner_client, [*GOOD, *BAD], django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )

    page = owner_client.get(response["Location"]).content.decode()
    assert (run.created, run.updated, run.unchanged, run.rejected) == (2, 0, 0, 1)
    assert re.search(r'data-count="created">2<', page) and re.search(r'data-count="rejected">1<', page)
    assert 'id="import-outcome"' in page and 'hx-trigger="every' not in page  # done: no more polling
    assert "12345" in page  # the rejected row on screen
    assert drafts_on_disk() == []  # the draft went once the import had its own copy
    assert Customer.objects.get(name="张三").socials.get().handle == "zs_wx"

    report = owner_client.get(reverse("transfer:rejected", args=[run.pk]))
    assert report.status_code == 200
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(b"".join(report.streaming_content)))
    assert book.get_sheet_by_index(0).to_python()[1][0] == "王五"


def test_downloading_an_imports_report_is_audited_with_who_which_import_and_how_many(
    owner_client, owner, django_capture_on_commit_callbacks
):
    # given an import that rejected a row and changed a customer already in Kebu (their name)
    make_customer(actor=owner, name="李小四", phone="13900001111")
    run, _response = import_through_pages(
        owner_client, [*GOOD, *BAD], django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    assert (run.rejected, run.updated) == (1, 1)

    # when the owner downloads its report (the rejected row's cells, the customer's before and after)
    report = owner_client.get(reverse("transfer:rejected", args=[run.pk]))
    b"".join(report.streaming_content)

    # then it is in the audit log as an export is: who, which import, how much, unmasked
    entry = AuditEntry.objects.get(action="import.report")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (owner.pk, "transfer.import", str(run.pk))
    assert entry.data == {"rows_to_fix": 1, "corrected": run.corrected, "changed": 1, "masked": False}


def test_a_report_downloaded_by_someone_who_sees_contacts_masked_is_audited_as_masked(
    importer_client, importer, django_capture_on_commit_callbacks
):
    run, _response = import_through_pages(
        importer_client, [*GOOD, *BAD], django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )

    importer_client.get(reverse("transfer:rejected", args=[run.pk]))
    importer_client.get(reverse("transfer:rejected", args=[run.pk]))

    entries = AuditEntry.objects.filter(action="import.report", target_id=str(run.pk))
    assert entries.count() == 2  # each download
    read = {(e.actor_id, e.data["masked"], e.data["rows_to_fix"]) for e in entries}
    assert read == {(importer.pk, True, run.rejected)} and run.rejected > 0


def test_downloading_a_checks_report_is_audited_with_the_file_and_its_counts(
    owner_client, owner, django_capture_on_commit_callbacks
):
    token = token_of(upload(owner_client, sheet(*GOOD, *BAD)))
    with django_capture_on_commit_callbacks(execute=True):
        check_url = post_columns(owner_client, token, "check")["Location"]
    page = owner_client.get(check_url).content.decode()
    assert not AuditEntry.objects.filter(action="import.check_report").exists()

    report = owner_client.get(re.search(r'href="([^"]+/report\.xlsx)"', page).group(1))
    assert report.status_code == 200

    entry = AuditEntry.objects.get(action="import.check_report")
    assert entry.actor_id == owner.pk and not Import.objects.exists()
    assert entry.data == {
        "file": "客户.csv",
        "kind": "customers",
        "rows_to_fix": 1,
        "corrected": 0,
        "changed": 0,
        "masked": False,
    }


def test_all_or_nothing_with_a_bad_row_imports_nothing_and_says_so(
    owner_client, django_capture_on_commit_callbacks
):
    run, response = import_through_pages(
        owner_client,
        [*GOOD, *BAD],
        mode=ImportMode.ALL_OR_NOTHING,
        django_capture_on_commit_callbacks=django_capture_on_commit_callbacks,
    )

    page = owner_client.get(response["Location"]).content.decode()
    assert run.refused and not Customer.objects.exists()
    assert "Nothing was imported" in page and 'id="import-undo"' not in page
    # and how many good rows were held back with the bad one
    held = "1 row has problems, so the other 2 good rows were not imported either (all or nothing)."
    assert held in page


def test_a_running_import_polls_its_progress_and_can_be_cancelled(owner_client, owner):
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=sheet(*GOOD).getvalue(), file_name="客户.csv", enqueue=False
        )
    Job.objects.filter(pk=run.job_id).update(status=JobStatus.RUNNING, total=4, done=1)
    url = reverse("transfer:detail", args=[run.pk])

    page = owner_client.get(url).content.decode()
    assert 'hx-trigger="every 1s"' in page and "1 of 4 rows imported" in page and "25%" in page
    fragment = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="import-status"') and "<html" not in fragment

    response = owner_client.post(reverse("transfer:cancel", args=[run.pk]))

    assert response.status_code == 302
    job = Job.objects.get(pk=run.job_id)
    assert job.cancel_requested and job.status == JobStatus.RUNNING  # stops after its batch
    assert "Stopping after the current batch" in owner_client.get(url).content.decode()


def test_an_all_or_nothing_import_shows_its_check_then_its_writing(owner_client, owner):
    # given: an all-or-nothing import a quarter through its check
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=sheet(*GOOD).getvalue(),
            file_name="客户.csv",
            mode=ImportMode.ALL_OR_NOTHING,
            enqueue=False,
        )
    Job.objects.filter(pk=run.job_id).update(status=JobStatus.RUNNING, total=4, done=1)
    url = reverse("transfer:detail", args=[run.pk])

    assert "1 of 4 rows checked" in owner_client.get(url).content.decode()

    # when: checked, and a quarter written
    Import.objects.filter(pk=run.pk).update(checked=True)

    assert "1 of 4 rows imported" in owner_client.get(url).content.decode()


def test_a_waiting_import_is_cancelled_at_once(owner_client, owner):
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=sheet(*GOOD).getvalue(), file_name="客户.csv", enqueue=False
        )

    owner_client.post(reverse("transfer:cancel", args=[run.pk]))

    assert Job.objects.get(pk=run.job_id).status == JobStatus.CANCELLED
    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()
    assert "The import was cancelled" in page and 'hx-trigger="every' not in page


def test_a_cancelled_imports_page_says_how_far_it_got_and_what_to_do_about_the_rest(
    owner_client, owner, settings
):
    from kebu.core.jobs import job_cancel, job_run

    # given: a five-row import cancelled after its first batch of two
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 2}
    data = ("姓名,手机\n" + "".join(f"客户{i},1380000{i:04d}\n" for i in range(5))).encode("utf-8")
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=data, file_name="客户.csv", enqueue=False)
    job_run(run.job_id, on_beat=lambda job: job.done == 2 and job_cancel(job=job))

    # when: its page is read
    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()

    # then: it says where it stopped, that what it wrote stays, and how to take it back or add the rest
    assert Customer.objects.count() == 2
    assert (
        "The import was cancelled after 2 of 5 rows. What it wrote stays: undo takes it back, or upload "
        "the file again to add the rest"
    ) in page
    assert 'id="import-undo"' in page


def test_an_all_or_nothing_import_cancelled_in_its_check_says_nothing_was_imported(owner_client, owner):
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=sheet(*GOOD).getvalue(),
            file_name="客户.csv",
            mode=ImportMode.ALL_OR_NOTHING,
            enqueue=False,
        )
    Job.objects.filter(pk=run.job_id).update(status=JobStatus.CANCELLED, total=4, done=1)

    page = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()

    assert "cancelled while checking the file, after 1 of 4 rows: nothing was imported." in page


def test_undo_from_the_page_puts_everything_back(owner_client, django_capture_on_commit_callbacks):
    run, _response = import_through_pages(
        owner_client, GOOD, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )

    response = owner_client.post(reverse("transfer:undo", args=[run.pk]), follow=True)

    assert not Customer.objects.exists()
    page = response.content.decode()
    assert "The import was undone" in page and "Undone by" in page and 'id="import-undo"' not in page


def test_undo_from_the_page_says_which_tags_it_made_it_kept_because_they_are_used(owner_client, owner):
    from kebu.core.jobs import job_run
    from kebu.customers.models import Tag
    from kebu.customers.services import customers_bulk_tag

    with transaction.atomic():
        data = "姓名,手机号,标签\n张三,13812345678,VIP\n".encode()
        run = customer_import_start(actor=owner, data=data, file_name="客户.csv", enqueue=False)
    job_run(run.job_id)
    customers_bulk_tag(
        actor=owner, customers=[make_customer(actor=owner, name="王五")], tags=[Tag.objects.get(name="VIP")]
    )

    response = owner_client.post(reverse("transfer:undo", args=[run.pk]), follow=True)

    page = response.content.decode()
    kept = "1 tag the import made was kept: it has been used since."
    assert "The import was undone. " + kept in page  # the message
    assert re.search(r'id="import-outcome".*?Undone by.*?' + re.escape(kept), page, re.S)  # and the page


def test_an_undo_that_would_lose_later_work_shows_the_refusal_as_it_is(
    owner_client, owner, django_capture_on_commit_callbacks
):
    run, _response = import_through_pages(
        owner_client, GOOD, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    customer = Customer.objects.get(name="张三")
    data = customer_input_from(customer)
    data.notes = "电话里说换了地址"
    customer_update(actor=owner, customer=customer, data=data, expected_version=customer.version)

    response = owner_client.post(reverse("transfer:undo", args=[run.pk]), follow=True)

    page = response.content.decode()
    assert f"Undoing would lose later work on 1 customer ({customer.customer_no})" in page
    assert Customer.objects.count() == 2


# --- history and who sees what ----------------------------------------------------------------------


def test_the_history_lists_imports_with_who_when_file_status_and_counts(
    owner_client, django_capture_on_commit_callbacks
):
    run, _response = import_through_pages(
        owner_client, [*GOOD, *BAD], django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )

    page = owner_client.get(reverse("transfer:list")).content.decode()

    row = re.search(rf'<tr>\s*<td class="text-secondary">{run.pk}</td>.*?</tr>', page, re.S).group(0)
    assert reverse("transfer:detail", args=[run.pk]) in row and "客户.csv" in row
    assert "laoban" in row or "老板" in row
    assert run.created_at.astimezone().strftime("%Y") in row
    assert ">Done<" in row and re.search(r">2</td>", row) and re.search(r">1</td>", row)


def test_an_importer_sees_their_own_imports_and_not_an_admins(
    owner_client, importer_client, importer, django_capture_on_commit_callbacks
):
    admins, _r = import_through_pages(
        owner_client, GOOD, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    own, _r = import_through_pages(
        importer_client, GOOD, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )

    listed = importer_client.get(reverse("transfer:list")).content.decode()
    assert reverse("transfer:detail", args=[own.pk]) in listed
    assert reverse("transfer:detail", args=[admins.pk]) not in listed
    for name in ("detail", "rejected"):
        assert importer_client.get(reverse(f"transfer:{name}", args=[admins.pk])).status_code == 404
    for name in ("cancel", "undo"):
        assert importer_client.post(reverse(f"transfer:{name}", args=[admins.pk])).status_code == 404
    assert Import.objects.get(pk=admins.pk).undone_at is None
    # and the admin sees both
    listed = owner_client.get(reverse("transfer:list")).content.decode()
    assert reverse("transfer:detail", args=[own.pk]) in listed


def test_a_clerk_without_the_permission_finds_no_import_page_and_no_link(
    owner, clerk_client, owner_client, django_capture_on_commit_callbacks
):
    run, _r = import_through_pages(
        owner_client, GOOD, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )
    token = token_of(upload(owner_client, sheet(*GOOD)))

    for url in [
        reverse("transfer:list"),
        reverse("transfer:new"),
        reverse("transfer:draft", args=[token]),
        reverse("transfer:check", args=[token, 1]),
        reverse("transfer:check-report", args=[token, 1]),
        reverse("transfer:detail", args=[run.pk]),
        reverse("transfer:rejected", args=[run.pk]),
    ]:
        assert clerk_client.get(url).status_code == 404, url
    for url in [
        reverse("transfer:new"),
        reverse("transfer:draft-drop", args=[token]),
        reverse("transfer:cancel", args=[run.pk]),
        reverse("transfer:undo", args=[run.pk]),
    ]:
        assert clerk_client.post(url).status_code == 404, url
    assert 'id="nav-import"' not in clerk_client.get(reverse("customers:list")).content.decode()
    assert 'id="nav-import"' in owner_client.get(reverse("customers:list")).content.decode()
    assert Customer.objects.count() == 2


def test_the_import_pages_need_a_login(client):
    response = client.get(reverse("transfer:new"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_discarding_an_upload_deletes_its_file(owner_client):
    token = token_of(upload(owner_client, sheet(*GOOD)))

    response = owner_client.post(reverse("transfer:draft-drop", args=[token]))

    assert response.status_code == 302 and drafts_on_disk() == []
    assert owner_client.get(reverse("transfer:draft", args=[token])).status_code == 404


def test_the_history_reads_a_fixed_number_of_queries_however_many_imports(
    owner_client, owner, django_assert_max_num_queries
):
    for number in range(6):
        with transaction.atomic():
            customer_import_start(
                actor=owner, data=sheet(*GOOD).getvalue(), file_name=f"{number}.csv", enqueue=False
            )

    with django_assert_max_num_queries(10):
        response = owner_client.get(reverse("transfer:list"))

    assert response.content.decode().count("/imports/") >= 6


def test_an_admin_by_role_imports_and_sees_everyones_imports(
    staff_member, importer_client, django_capture_on_commit_callbacks
):
    from kebu.accounts.tests.otp_helpers import login_verified

    admin = staff_member("admin", "guanli", display_name="管理员")
    admin_client = Client()
    login_verified(admin_client, admin)
    theirs, _r = import_through_pages(
        importer_client, GOOD, django_capture_on_commit_callbacks=django_capture_on_commit_callbacks
    )

    assert 'id="nav-import"' in admin_client.get(reverse("customers:list")).content.decode()
    assert (
        reverse("transfer:detail", args=[theirs.pk])
        in admin_client.get(reverse("transfer:list")).content.decode()
    )
    assert admin_client.get(reverse("transfer:detail", args=[theirs.pk])).status_code == 200


def test_drafts_nobody_imported_are_deleted_after_two_days_and_a_session_keeps_five(owner_client):
    import os
    import time

    from kebu.transfer.drafts import import_drafts_prune

    tokens = [token_of(upload(owner_client, sheet(*GOOD))) for _ in range(6)]
    # a session holds its five newest uploads; the oldest went with its file
    assert set(owner_client.session[DRAFTS_SESSION_KEY]) == set(tokens[1:])
    assert drafts_on_disk() == sorted(DRAFT_PREFIX + t for t in tokens[1:])

    old = imports_dir() / (DRAFT_PREFIX + tokens[1])
    three_days_ago = time.time() - 3 * 24 * 3600
    os.utime(old, (three_days_ago, three_days_ago))
    assert import_drafts_prune() == 1
    assert not old.exists() and len(drafts_on_disk()) == 4
    assert (
        owner_client.get(reverse("transfer:draft", args=[tokens[1]])).status_code == 302
    )  # gone: upload again


def test_a_long_history_pages_from_the_newest(owner_client, owner, settings):
    from kebu.transfer import views

    for number in range(views.HISTORY_PAGE + 1):
        with transaction.atomic():
            customer_import_start(
                actor=owner, data=sheet(*GOOD).getvalue(), file_name=f"{number:02d}.csv", enqueue=False
            )

    first = owner_client.get(reverse("transfer:list")).content.decode()
    second = owner_client.get(reverse("transfer:list"), {"page": 2}).content.decode()

    assert "Page 1 of 2" in first and 'href="?page=2"' in first
    assert "Page 2 of 2" in second and 'href="?page=1"' in second and "00.csv" in second
