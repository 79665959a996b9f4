"""``kebu import --kind customers --dry-run`` on a sheet as a merchant keeps it: what it says, the report
it writes to fix and upload again, and that it writes nothing."""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path

import pytest
import python_calamine
import xlsxwriter
from django.core.management import CommandError, call_command
from django.db import transaction

from kebu.audit.models import AuditEntry
from kebu.customers.models import Customer, Gender
from kebu.transfer.models import Import

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).parent / "samples"
INJECTION = '=HYPERLINK("http://example.invalid","点我")'


@pytest.fixture
def merchant_sheet(tmp_path):
    path = tmp_path / "客户表.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("客户")
    sheet.merge_range(0, 0, 0, 5, "老王茶叶店 客户登记表")
    sheet.write_row(1, 0, ["*姓名", "手机号码（必填）", "性别", "生日", "备注", "最近购买"])
    day = book.add_format({"num_format": "yyyy/m/d"})
    people = [
        ("张三", 13812345678, "男", datetime(1990, 1, 5), "老客户"),
        ("李四", "139-1234-567", "男", "1985/6/1", ""),  # one digit short
        ("王芳", "+86 137 1234 5678", "女士", "1988年2月30日", INJECTION),  # no 30 February
        ("赵六", "13612345678", "外星人", "", ""),
    ]
    for offset, (name, phone, gender, birthday, notes) in enumerate(people):
        row = 2 + offset
        sheet.write(row, 0, name)
        sheet.write(row, 1, phone) if isinstance(phone, int) else sheet.write_string(row, 1, phone)
        sheet.write(row, 2, gender)
        if isinstance(birthday, datetime):
            sheet.write_datetime(row, 3, birthday, day)
        else:
            sheet.write_string(row, 3, birthday)
        sheet.write_string(row, 4, notes)
        sheet.write_string(row, 5, "铁观音")
    book.close()
    return path


def test_a_dry_run_names_every_bad_cell_writes_a_report_to_fix_and_saves_nothing(merchant_sheet, tmp_path):
    report = tmp_path / "待修改.xlsx"
    out = io.StringIO()

    call_command(
        "import", str(merchant_sheet), kind="customers", dry_run=True, report=str(report), stdout=out
    )

    text = out.getvalue()
    assert "*姓名 → name" in text and "手机号码（必填） → phone" in text
    assert "not imported: 最近购买" in text
    assert "row 4, 手机号码（必填）: '139-1234-567': A mobile number has 11 digits" in text
    assert "row 5, 生日: '1988年2月30日'" in text
    assert "row 6, 性别: '外星人'" in text
    assert "1 row ready, 3 rows with problems" in text
    assert Customer.objects.count() == 0

    book = python_calamine.CalamineWorkbook.from_path(str(report))
    fix = book.get_sheet_by_name("Rows to fix").to_python()
    assert fix[0] == ["*姓名", "手机号码（必填）", "性别", "生日", "备注", "最近购买"]
    assert [r[0] for r in fix[1:]] == ["李四", "王芳", "赵六"]
    # Kept as text: a formula typed into a cell is never written back as one, and neutralised with a
    # quote as the exports neutralise it, for the report saved again as CSV.
    assert fix[2][4] == "'" + INJECTION
    problems = book.get_sheet_by_name("Problems").to_python()
    assert [(int(r[0]), r[1]) for r in problems[1:]] == [(4, "手机号码（必填）"), (5, "生日"), (6, "性别")]


def test_a_sheet_with_no_column_that_tells_customers_apart_is_refused_with_its_headers(tmp_path):
    """A customer sheet needs a column that names or finds a customer: a name, phone, customer number,
    account or email (``customers.IDENTIFYING``). One with none of them (an order number and an amount)
    is refused before a row is read, the message naming the file's headers."""
    path = tmp_path / "orders.csv"
    path.write_text("订单号,金额\nA1,12\n", encoding="utf-8")

    refused = r"No column was recognised as the customer's name, phone, customer number, .*订单号, 金额"
    with pytest.raises(CommandError, match=refused):
        call_command("import", str(path), kind="customers", dry_run=True)


def test_a_sheet_of_customer_numbers_and_tags_tags_them_from_the_terminal_as_its_dry_run_said(
    tmp_path, owner
):
    from kebu.customers.tests.factories import make_customer

    zhang = make_customer(actor=owner, name="张三", phone="13812345678")
    path = tmp_path / "打标签.csv"
    path.write_text(f"客户编号,标签\n{zhang.customer_no},VIP\nC000123,VIP\n", encoding="utf-8")
    checked, imported = io.StringIO(), io.StringIO()

    call_command("import", str(path), kind="customers", dry_run=True, stdout=checked)
    call_command("import", str(path), kind="customers", user="laoban", stdout=imported)

    refused = (
        "  row 3, 客户编号: 'C000123': No customer has the customer number C000123; a new customer needs a "
        "name or a phone."
    )
    assert "1 row ready, 1 row with problems" in checked.getvalue() and refused in checked.getvalue()
    assert "0 created, 1 updated, 0 unchanged, 1 rejected" in imported.getvalue()
    assert refused in imported.getvalue()
    assert list(zhang.tags.values_list("name", flat=True)) == ["VIP"] and Customer.objects.count() == 1


def test_importing_keeps_the_good_rows_reports_the_others_and_can_be_undone(merchant_sheet, tmp_path, owner):
    report = tmp_path / "待修改.xlsx"
    out = io.StringIO()

    call_command("import", str(merchant_sheet), report=str(report), user="laoban", stdout=out)

    text = out.getvalue()
    assert "import #" in text and "手机号码（必填） → phone" in text
    assert "1 created, 0 updated, 0 unchanged, 3 rejected" in text
    assert "report:" in text and "(3 rows to fix)" in text
    assert Customer.objects.get().created_by == owner
    fix = python_calamine.CalamineWorkbook.from_path(str(report)).get_sheet_by_name("Rows to fix").to_python()
    assert [r[0] for r in fix[1:]] == ["李四", "王芳", "赵六"]

    run_id = text.split("import #")[1].split(":")[0]
    call_command("import", undo=int(run_id), stdout=out)
    assert Customer.objects.count() == 0


def test_a_report_written_by_the_command_is_audited_as_an_export_is(merchant_sheet, tmp_path, owner):
    report = tmp_path / "待修改.xlsx"
    out = io.StringIO()

    call_command("import", str(merchant_sheet), report=str(report), user="laoban", stdout=out)

    run = Import.objects.get()
    entry = AuditEntry.objects.get(action="import.report")
    assert (entry.actor_id, entry.target_type, entry.target_id) == (owner.pk, "transfer.import", str(run.pk))
    assert entry.data == {"rows_to_fix": 3, "corrected": run.corrected, "changed": 0, "masked": False}


def test_a_dry_runs_report_is_audited_and_a_dry_run_without_one_is_not(merchant_sheet, tmp_path):
    call_command("import", str(merchant_sheet), dry_run=True, stdout=io.StringIO())
    assert not AuditEntry.objects.filter(action="import.check_report").exists()

    call_command(
        "import", str(merchant_sheet), dry_run=True, report=str(tmp_path / "r.xlsx"), stdout=io.StringIO()
    )

    entry = AuditEntry.objects.get(action="import.check_report")
    # Under no one's name: whoever runs it holds the database, and the report is unmasked.
    assert entry.actor_id is None and entry.target_type == ""
    assert entry.data["file"] == "客户表.xlsx" and entry.data["kind"] == "customers"
    assert (entry.data["rows_to_fix"], entry.data["changed"], entry.data["masked"]) == (3, 0, False)


def test_an_import_without_a_report_says_why_each_row_was_rejected_as_the_dry_run_does(merchant_sheet, owner):
    checked, imported = io.StringIO(), io.StringIO()
    call_command("import", str(merchant_sheet), dry_run=True, stdout=checked)

    call_command("import", str(merchant_sheet), user="laoban", stdout=imported)

    text = imported.getvalue()

    def problems(output: str) -> list[str]:  # not the corrected cells, listed as "written" → "taken"
        return [line for line in output.splitlines() if line.startswith("  row ") and " → " not in line]

    said = problems(checked.getvalue())
    assert len(said) == 3
    assert problems(text.split("1 created, 0 updated, 0 unchanged, 3 rejected")[1]) == said
    assert "more rows with problems" not in text


def test_an_import_with_many_rejected_rows_shows_the_first_and_counts_the_rest(tmp_path, owner):
    path = tmp_path / "客户.csv"
    lines = ["姓名,手机号码"] + [f"客户{n},1381234{n:03d}" for n in range(25)]  # ten digits: all refused
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()

    call_command("import", str(path), user="laoban", stdout=out)

    text = out.getvalue()
    assert "0 created, 0 updated, 0 unchanged, 25 rejected" in text
    shown = [line for line in text.splitlines() if line.startswith("  row ")]
    assert len(shown) == 20
    assert shown[0].startswith("  row 2, 手机号码: '1381234000': A mobile number has 11 digits")
    assert "  and 5 more rows with problems — use --report FILE to have them all" in text


def test_a_csv_or_xlsx_is_imported_from_the_terminal_without_its_file_ever_read_whole(
    merchant_sheet, tmp_path, monkeypatch, owner
):
    # given: a CSV beside the workbook, and no way to read a file in one go
    csv_path = tmp_path / "客户.csv"
    csv_path.write_bytes("姓名,手机号码\n周七,13712345678\n".encode("gb18030"))

    def whole(self, *args, **kwargs):
        raise AssertionError(f"{self} was read whole")

    monkeypatch.setattr(Path, "read_bytes", whole)
    out = io.StringIO()

    # when
    call_command("import", str(csv_path), user="laoban", stdout=out)
    call_command("import", str(merchant_sheet), user="laoban", stdout=out)

    # then
    assert out.getvalue().count("created") == 2
    assert set(Customer.objects.values_list("name", flat=True)) == {"周七", "张三"}


@pytest.mark.parametrize("name", ["customers.xls", "customers.ods"])
def test_an_xls_or_ods_sheet_imports_from_the_terminal_with_its_dates_and_phones_whole(name, owner):
    out = io.StringIO()

    call_command("import", str(SAMPLES / name), kind="customers", user="laoban", stdout=out)

    assert "3 created, 0 updated, 0 unchanged, 0 rejected" in out.getvalue()
    people = {c.name: c for c in Customer.objects.prefetch_related("phones")}
    assert sorted(people) == ["张三", "李四", "王芳"]
    # The phone Excel kept as a number comes in with all its digits, not as 1.38e10.
    assert [p.number for p in people["张三"].phones.all()] == ["+8613812345678"]
    assert [p.number for p in people["王芳"].phones.all()] == ["+8613712345678"]
    assert [p.number for p in people["李四"].phones.all()] == ["+8613900001111"]
    assert people["张三"].birthday == date(1990, 1, 5)  # a date cell
    assert people["李四"].birthday == date(1985, 6, 1)  # a date typed as text
    assert people["王芳"].birthday == date(1988, 2, 29)
    assert (people["张三"].gender, people["王芳"].gender) == (Gender.MALE, Gender.FEMALE)
    assert people["张三"].notes == "老客户，喜欢铁观音"
    assert Customer.objects.get(name="张三").created_by == owner


def test_all_or_nothing_from_the_terminal_imports_nothing_from_a_sheet_with_bad_rows(merchant_sheet):
    out = io.StringIO()

    call_command("import", str(merchant_sheet), all_or_nothing=True, stdout=out)

    # three rows with problems hold back the good one, and it is said so
    held = "3 rows have problems, so the other 1 good row was not imported either (all or nothing)."
    assert f"nothing imported: {held}" in out.getvalue()
    assert Customer.objects.count() == 0


def test_resuming_or_undoing_an_import_that_does_not_exist_says_so():
    with pytest.raises(CommandError, match="no import #9"):
        call_command("import", resume=9)
    with pytest.raises(CommandError, match="no import #9"):
        call_command("import", undo=9)


def test_an_unreadable_file_is_refused_with_the_reason(tmp_path):
    path = tmp_path / "客户.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")

    with pytest.raises(CommandError, match="may be damaged"):
        call_command("import", str(path), kind="customers", dry_run=True)


def test_the_report_writes_cells_no_spreadsheet_number_can_hold_as_text(tmp_path):
    from kebu.transfer.customers import Problem
    from kebu.transfer.report import report_write

    path = tmp_path / "r.xlsx"
    report_write(
        str(path),
        headers=["http://example.invalid/姓名", "金额"],
        rows=[(2, ["张三", float("nan")], [Problem(2, "金额", "nan", "not an amount")])],
    )

    fix = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
    assert fix == [["http://example.invalid/姓名", "金额"], ["张三", "nan"]]


def test_the_reports_own_cells_are_neutralised_as_the_exports_are_and_read_back_as_the_sheet_was(tmp_path):
    from kebu.transfer.cells import normalized
    from kebu.transfer.corrections import Correction
    from kebu.transfer.customers import Problem
    from kebu.transfer.readers import table_read
    from kebu.transfer.report import report_write

    # given: a formula typed in a rejected row's cell and header, one the sheet had already neutralised
    # (an export of Kebu's own), a phone, and a corrected amount written with a minus sign
    headers = ["姓名", "@备注", "电话", "旧备注"]
    cells = ["王芳", INJECTION, "+86 138 1234 5678", "'=1+1"]
    path = tmp_path / "r.xlsx"

    # when
    report_write(
        str(path),
        headers=headers,
        rows=[(2, cells, [Problem(2, "@备注", INJECTION, "Not a note.")])],
        corrections=[Correction(3, "金额", "-¥5", "-5.00", "Taken as an amount.")],
    )

    # then: every text of the merchant's that a spreadsheet would run gets a quote, as in the exports
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    fix = book.get_sheet_by_name("Rows to fix").to_python()
    assert fix == [
        ["姓名", "'@备注", "电话", "旧备注"],
        ["王芳", "'" + INJECTION, "+86 138 1234 5678", "'=1+1"],  # not quoted twice
    ]
    problems = book.get_sheet_by_name("Problems").to_python()
    assert problems[1][1:] == ["'@备注", "'" + INJECTION, "Not a note."]
    corrected = book.get_sheet_by_name("Corrected cells").to_python()
    assert corrected[1][1:] == ["金额", "'-¥5", "-5.00", "Taken as an amount."]
    # and uploaded again, the rows read as the sheet's did
    [(_number, read)] = list(table_read(path.read_bytes()).rows)
    assert [normalized(c) for c in read] == [normalized(c) for c in cells]


def test_a_saved_preset_maps_the_columns_the_header_words_would_not(tmp_path, owner):
    from kebu.transfer.presets import mapping_preset_save

    sheet = tmp_path / "店铺导出.csv"
    sheet.write_text("买家称呼,买家手机,VIP等级\n张三,13812345678,金卡\n", encoding="utf-8")
    with pytest.raises(CommandError, match="No column was recognised"):
        call_command("import", str(sheet), dry_run=True, stdout=io.StringIO())
    with pytest.raises(CommandError, match="no preset “店铺”"):
        call_command("import", str(sheet), preset="店铺", stdout=io.StringIO())
    mapping_preset_save(
        actor=owner, name="店铺", headers=["买家称呼", "买家手机", "VIP等级"], mapping={0: "name", 1: "phone"}
    )

    out = io.StringIO()
    call_command("import", str(sheet), preset="店铺", stdout=out)

    assert "买家手机 → phone" in out.getvalue() and "1 created" in out.getvalue()
    assert Customer.objects.get().primary_phone == "+8613812345678"


def test_a_preset_takes_a_renamed_column_as_its_header_says_rather_than_leaving_it_out(tmp_path, owner):
    from kebu.transfer.presets import mapping_preset_save

    mapping_preset_save(
        actor=owner, name="微店", headers=["买家称呼", "联系方式", "VIP等级"], mapping={0: "name", 1: "phone"}
    )
    # next month's export calls 联系方式 联系电话
    sheet = tmp_path / "微店导出.csv"
    sheet.write_text("买家称呼,联系电话,VIP等级\n张三,13812345678,金卡\n", encoding="utf-8")

    out = io.StringIO()
    call_command("import", str(sheet), preset="微店", stdout=out)

    assert "联系电话 → phone" in out.getvalue()
    assert Customer.objects.get().primary_phone == "+8613812345678"


def test_resuming_a_cancelled_import_says_it_was_cancelled_and_how_far_it_got(owner, settings):
    from kebu.core.jobs import job_cancel, job_run
    from kebu.transfer.imports import customer_import_start

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 2}
    data = ("姓名,手机\n" + "".join(f"客户{i},1380000{i:04d}\n" for i in range(5))).encode("utf-8")
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=data, file_name="客户.csv", enqueue=False)
    job_run(run.job_id, on_beat=lambda job: job.done == 2 and job_cancel(job=job))

    out = io.StringIO()
    call_command("import", resume=run.pk, stdout=out)

    assert "2 created" in out.getvalue()
    assert f"cancelled after 2 of 5 rows: what it wrote stays (--undo {run.pk}" in out.getvalue()
    assert Customer.objects.count() == 2
    call_command("import", undo=run.pk, stdout=io.StringIO())
    call_command("import", resume=run.pk, stdout=(out := io.StringIO()))
    assert "undone since" in out.getvalue() and "what it wrote stays" not in out.getvalue()


def test_a_customer_preset_and_an_order_preset_may_share_a_name(owner):
    from kebu.transfer.models import ImportKind, MappingPreset
    from kebu.transfer.presets import mapping_preset_save

    mapping_preset_save(
        actor=owner, name="淘宝", headers=["买家称呼", "买家手机"], mapping={0: "name", 1: "phone"}
    )
    mapping_preset_save(
        actor=owner,
        name="淘宝",
        headers=["订单编号", "宝贝标题"],
        mapping={0: "order_no", 1: "title"},
        kind=ImportKind.ORDERS,
    )

    assert sorted(MappingPreset.objects.values_list("kind", "name")) == [
        ("customers", "淘宝"),
        ("orders", "淘宝"),
    ]


@pytest.mark.parametrize("name", ["import", "export"])
def test_the_sheet_commands_do_not_load_the_url_configuration_and_its_analytics_libraries(name):
    # Loading every view (the URL check) brought numpy, pandas, pyarrow and scipy, ~125 MB of the 300 MB
    # an import of a million rows may hold, into a process that never serves a page.
    from django.core.checks import Tags
    from django.core.management import load_command_class

    command = load_command_class("kebu.transfer", name)

    assert Tags.urls not in command.requires_system_checks
    assert {Tags.models, Tags.database} <= set(command.requires_system_checks)


def test_the_command_runs_as_its_user_and_gives_new_customers_the_owner_asked_for(
    merchant_sheet, owner, staff_member
):
    clerk = staff_member("sales", "xiaowang", display_name="小王")

    def owners(**options) -> set:
        call_command("import", str(merchant_sheet), stdout=io.StringIO(), **options)
        made = set(Customer.objects.values_list("owner", flat=True))
        Customer.objects.all().delete()
        return made

    assert owners() == {None}  # under no one's name: nobody's, the shared pool
    assert owners(user="laoban") == {owner.pk}  # as the boss adds them by hand
    assert owners(user="laoban", owner="nobody") == {None}
    assert owners(user="laoban", owner="xiaowang") == {clerk.pk}
    assert owners(user="xiaowang") == {clerk.pk}
    # a clerk may not give customers to others, and a name must be a staff member's
    with pytest.raises(CommandError, match="may not give customers to others"):
        call_command("import", str(merchant_sheet), user="xiaowang", owner="laoban", stdout=io.StringIO())
    with pytest.raises(CommandError, match="may not give customers to others"):
        call_command(
            "import", str(merchant_sheet), user="xiaowang", owner="nobody", dry_run=True, stdout=io.StringIO()
        )
    with pytest.raises(CommandError, match="No staff member is called 'ghost'"):
        call_command("import", str(merchant_sheet), owner="ghost", stdout=io.StringIO())
    assert not Customer.objects.exists()
