"""Exports: what the files hold and how they are laid out, who may export what, the large-export job,
and the round trip: a customer export imported again changes nothing."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from kebu.audit.models import AuditEntry
from kebu.core.errors import Forbidden, ValidationFailed
from kebu.core.jobs import job_run
from kebu.core.phone import parse_phone
from kebu.customers.models import Customer, CustomField, CustomFieldType, SocialKind, Stage
from kebu.customers.services import AddressInput, CustomerInput, PhoneInput, SocialInput, customer_create
from kebu.customers.tests.factories import CustomFieldFactory
from kebu.orders.models import Order, OrderStatus
from kebu.orders.tests.factories import make_catalogue
from kebu.transfer.cells import formula_risk, unquoted
from kebu.transfer.customers import customer_file_check, customer_headers_match
from kebu.transfer.exports import (
    csv_write,
    export_build,
    export_write,
    exports_dir,
    exports_purge,
    safe_cell,
    template_build,
)
from kebu.transfer.imports import customer_import_start
from kebu.transfer.models import ImportKind
from kebu.transfer.orders import order_file_check
from kebu.transfer.readers import table_read
from kebu.transfer.workbook import column_letter

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales(staff_member):
    return staff_member("sales", "sales_a", display_name="销售甲")


@pytest.fixture
def analyst(staff_member):
    from django.contrib.auth.models import Permission

    user = staff_member("analyst", "analyst", display_name="分析师")
    user.user_permissions.add(Permission.objects.get(codename="export_customer"))
    return user


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add(actor, name: str, phone: str, **fields) -> Customer:
    return customer_create(
        actor=actor, data=CustomerInput(name=name, phones=[PhoneInput(number=phone)], **fields)
    )


def exported(kind: str, *, user, file_format: str = "xlsx", filters: str = "", tmp_path: Path) -> tuple:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"out.{file_format}"
    rows = export_write(
        export_build(kind, user=user, filters=QueryDict(filters)), path, file_format=file_format, user=user
    )
    table = table_read(path.read_bytes())
    return rows, table.headers, [cells for _number, cells in table.rows], path


def import_counts(owner, data: bytes) -> tuple[int, int, int, int]:
    from kebu.core.jobs import job_run as run_job

    with transaction.atomic():
        run = customer_import_start(actor=owner, data=data, file_name="back.xlsx", enqueue=False)
    run_job(run.job_id)
    run.refresh_from_db()
    return run.created, run.updated, run.unchanged, run.rejected


# --- the safe cell ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x", '  =HYPERLINK("x")', "\u3000=x", "\n=x", "\u00a0=x"],
)
def test_a_formula_cell_is_neutralised_and_comes_back_on_import(text):
    assert formula_risk(text)
    assert safe_cell(text).startswith("'")
    assert unquoted(safe_cell(text)) == text


@pytest.mark.parametrize("text", ["+86 138 1234 5678", "-5", "12.50", "王小明", "it's", "'quoted"])
def test_numbers_and_plain_text_are_left_alone(text):
    assert safe_cell(text) == text


@given(st.text(max_size=30))
def test_safe_cell_never_leaves_a_formula_and_loses_nothing(text):
    out = safe_cell(text)
    head = out.lstrip(" \u3000\u00a0\n\v\f")
    runs = head.startswith(("=", "+", "-", "@", "\t", "\r", "\0"))
    assert not runs or re.fullmatch(r"[+-]?[0-9][0-9 .]*", head)  # a plain number runs nothing
    assert unquoted(out) == text


# --- files -----------------------------------------------------------------------------------------------


def test_the_xlsx_has_typed_values_a_frozen_filtered_header_and_dropdowns(owner, tmp_path):
    customer = add(
        owner, '=HYPERLINK("http://x")', "13812345678", birthday=date(1990, 5, 20), stage=Stage.NEW
    )
    Customer.objects.filter(pk=customer.pk).update(total_spent_cny=Decimal("1234.50"), order_count=3)
    rows, headers, cells, path = exported("customers", user=owner, tmp_path=tmp_path)
    assert rows == 1
    row = dict(zip(headers, cells[0], strict=True))
    assert row["Name"] == '\'=HYPERLINK("http://x")'  # neutralised, as in CSV
    assert row["Phone"] == "138 1234 5678"
    assert row["Birthday"] == date(1990, 5, 20) or str(row["Birthday"]).startswith("1990-05-20")
    assert row["Total spent"] == 1234.5 and row["Orders"] == 3
    assert row["Stage"] == "New customer" or row["Stage"] == str(Stage.NEW.label)
    with zipfile.ZipFile(path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
        styles = book.read("xl/styles.xml").decode()
    assert '<pane ySplit="1"' in sheet and "<autoFilter" in sheet
    assert sheet.count("<dataValidation ") >= 4  # gender, type, stage, source
    assert "<f>" not in sheet  # no cell is a formula
    assert re.search(r'formatCode="#,##0\.00"', styles)


def test_a_large_export_written_by_a_child_process_holds_the_same(owner, tmp_path, monkeypatch):
    from kebu.transfer import exports, workbook

    add(owner, "=cmd|' /C calc'!A0", "13812345678", birthday=date(1990, 5, 20), stage=Stage.NEW)
    add(owner, "李四", "13912345678", email="li@example.com")
    _rows, headers, here, _path = exported("customers", user=owner, tmp_path=tmp_path / "here")
    started = []
    real = workbook._write_in_child
    monkeypatch.setattr(exports, "CHILD_ROWS", 1)
    monkeypatch.setattr(workbook, "_write_in_child", lambda *a, **k: started.append(1) or real(*a, **k))
    rows, child_headers, child, _path = exported("customers", user=owner, tmp_path=tmp_path / "child")
    assert started and rows == 2
    assert (child_headers, child) == (headers, here)


def test_every_gender_an_export_holds_is_in_its_dropdown(owner, tmp_path):
    # given: one customer whose gender is not known (exported as 未知) and one who is a man
    from kebu.customers.models import Gender

    add(owner, "王小明", "13812345678")
    add(owner, "李四", "13912345678", gender=Gender.MALE)

    # when: exported in Chinese
    with translation.override("zh-hans"):
        export = export_build("customers", user=owner)
        _rows, headers, cells, _path = exported("customers", user=owner, tmp_path=tmp_path)

    # then: Excel's dropdown takes the file's own values, 未知 as well
    [gender] = [c for c in export.columns if c.key == "gender"]
    given = {row[headers.index("性别")] for row in cells}
    assert given == {"未知", "男"} and given <= set(gender.choices), gender.choices


def test_a_source_turned_off_since_is_in_the_exports_dropdown_but_not_the_templates(owner, tmp_path):
    # given: a customer who came from a source the admin has since turned off, and one renamed
    from kebu.customers.models import SourceChannel

    retired = SourceChannel.objects.create(name="旧微店", is_active=False)
    SourceChannel.objects.create(name="快手小店", position=99)
    add(owner, "王小明", "13812345678", source=retired)

    # when: the customers are exported, and a blank template is downloaded
    export = export_build("customers", user=owner)
    _rows, headers, cells, _path = exported("customers", user=owner, tmp_path=tmp_path)

    # then: the export's dropdown takes the file's own source, after the shop's others; the template
    # offers only those in use
    [source] = [c for c in export.columns if c.key == "source"]
    assert cells[0][headers.index("Source")] == "旧微店"
    assert source.choices[-2:] == ("快手小店", "旧微店")
    [offered] = [c.choices for c in template_build("customers").columns if c.key == "source"]
    assert "快手小店" in offered and "旧微店" not in offered


def test_csv_has_a_bom_and_neutralises_formulas(owner, tmp_path):
    add(owner, "@SUM(1)", "13812345678")
    path = tmp_path / "out.csv"
    export_write(export_build("customers", user=owner), path, file_format="csv", user=owner)
    raw = path.read_bytes()
    assert raw.startswith("\ufeff".encode())
    assert "'@SUM(1)" in raw.decode("utf-8-sig")


def test_a_csvs_long_numbers_open_in_excel_as_written_and_import_back_unchanged(owner, tmp_path):
    """Excel opening a CSV takes 4000000039997013258 for a number and rounds it to 4000000039997010000,
    shows a 中通 tracking number as 7.81E+14 and drops a card number's leading zero; written as ="…" it
    shows each as written."""
    from kebu.orders.tests.factories import make_catalogue, make_order

    # given: a 19-digit order number, a 15-digit tracking number and a card number with a leading zero
    CustomFieldFactory(key="card_no", label="会员卡号", field_type=CustomFieldType.TEXT)
    customer = add(owner, "王小明", "13812345678", custom={"card_no": "0012345"})
    shop = make_catalogue(actor=owner)
    make_order(
        actor=owner,
        customer=customer,
        store=shop.store,
        order_no="4000000039997013258",
        carrier="中通快递",
        tracking_no="781312345678901",
    )

    # when: both are exported as CSV
    orders_csv, customers_csv = tmp_path / "orders.csv", tmp_path / "customers.csv"
    export_write(export_build("orders", user=owner), orders_csv, file_format="csv", user=owner)
    export_write(export_build("customers", user=owner), customers_csv, file_format="csv", user=owner)

    # then: each is the text itself to a spreadsheet, and read back as written
    orders_text, customers_text = orders_csv.read_text("utf-8-sig"), customers_csv.read_text("utf-8-sig")
    assert '"=""4000000039997013258"""' in orders_text and '"=""781312345678901"""' in orders_text
    assert '"=""0012345"""' in customers_text
    assert "138 1234 5678" in customers_text  # a phone with its spaces is text already
    table = table_read(orders_csv.read_bytes())
    row = dict(zip(table.headers, next(iter(table.rows))[1], strict=True))
    assert (row["Order number"], row["Tracking number"]) == ("4000000039997013258", "781312345678901")
    assert order_import_counts(owner, orders_csv) == (0, 0, 1, 0)
    assert import_counts(owner, customers_csv.read_bytes()) == (0, 0, 1, 0)


def test_chosen_columns_in_the_chosen_order_and_an_unknown_one_refused(owner, tmp_path):
    add(owner, "王小明", "13812345678")
    export = export_build("customers", user=owner, columns=["phone", "name"])
    out = io.StringIO()
    csv_write(export, out)
    assert out.getvalue().splitlines()[:2] == ["\ufeffPhone,Name", "138 1234 5678,王小明"]
    with pytest.raises(ValidationFailed, match="nickname"):
        export_build("customers", user=owner, columns=["name", "nickname"])


def test_filters_are_the_list_pages(owner, tmp_path):
    add(owner, "新客甲", "13812345678", stage=Stage.NEW)
    add(owner, "潜在乙", "13912345678", stage=Stage.LEAD)
    rows, headers, cells, _path = exported("customers", user=owner, filters="stage=new", tmp_path=tmp_path)
    assert rows == 1 and cells[0][headers.index("Name")] == "新客甲"
    with pytest.raises(ValidationFailed):
        export_build("customers", user=owner, filters=QueryDict("tag=999999"))


def test_a_crash_half_way_leaves_the_previous_file_and_no_partial(owner, tmp_path, monkeypatch):
    add(owner, "王小明", "13812345678")
    path = tmp_path / "customers.xlsx"
    path.write_bytes(b"the export of yesterday")
    export = export_build("customers", user=owner)

    def broken(customer):
        raise RuntimeError("disk full")

    export.columns[1] = export.columns[1].__class__("name", "Name", broken)
    with pytest.raises(RuntimeError):
        export_write(export, path, file_format="xlsx", user=owner)
    assert path.read_bytes() == b"the export of yesterday"
    assert [p.name for p in tmp_path.iterdir()] == ["customers.xlsx"]
    assert not AuditEntry.objects.filter(action="customer.export").exists()


# --- who sees what ---------------------------------------------------------------------------------------


def test_an_export_is_what_the_user_sees_masked_as_they_see_it_and_audited(owner, analyst, sales, tmp_path):
    add(owner, "王小明", "13812345678", email="xm@example.com", owner=sales)
    _rows, headers, cells, _path = exported("customers", user=analyst, tmp_path=tmp_path)
    row = dict(zip(headers, cells[0], strict=True))
    assert row["Phone"] == "138****5678" and "xm@example.com" not in str(row.values())
    entry = AuditEntry.objects.get(action="customer.export")
    assert entry.data["rows"] == 1 and entry.data["masked"] is True and entry.data["format"] == "xlsx"


@pytest.mark.parametrize(
    ("file_format", "columns"),
    [
        ("xlsx", ""),
        ("csv", ""),
        # without the phone, which no longer refuses the row: each masked value would have been taken
        ("xlsx", "customer_no,name,email,wechat,province,city,district,address,notes"),
    ],
)
def test_an_export_masked_for_an_analyst_imported_by_the_owner_changes_nothing(
    owner, analyst, tmp_path, file_format, columns
):
    """The analyst sends the manager their list; imported, its z***@qq.com, x***g and **** would have
    replaced the customer's email, WeChat, street and notes."""
    # given: a customer with every contact detail
    customer = add(
        owner,
        "王小明",
        "13812345678",
        email="xiaoming@qq.com",
        notes="晚上八点后联系",
        socials=[SocialInput(kind=SocialKind.WECHAT, handle="wxid_xiaoming")],
        addresses=[AddressInput(province="浙江省", city="杭州市", district="西湖区", detail="文三路 100 号")],
    )
    path = tmp_path / f"analyst.{file_format}"
    export = export_build("customers", user=analyst, columns=[c for c in columns.split(",") if c])
    export_write(export, path, file_format=file_format, user=analyst)
    table = table_read(path.read_bytes())
    row = dict(zip(table.headers, next(iter(table.rows))[1], strict=True))
    assert (row["Email"], row["WeChat ID"], row["Notes"], row["Address"]) == (
        "x***@qq.com",
        "w***g",
        "****",
        "****",
    )
    version = customer.version

    # when: the owner imports the analyst's file
    counts = import_counts(owner, path.read_bytes())

    # then: nothing changed, nothing was added
    assert counts == (0, 0, 1, 0)
    customer.refresh_from_db()
    assert customer.version == version
    assert (customer.email, customer.notes) == ("xiaoming@qq.com", "晚上八点后联系")
    assert [p.number for p in customer.phones.all()] == ["+8613812345678"]
    assert [a.detail for a in customer.addresses.all()] == ["文三路 100 号"]
    assert [s.handle for s in customer.socials.all()] == ["wxid_xiaoming"]


def test_a_colleagues_customers_are_not_in_a_sales_export(owner, sales, staff_member, tmp_path):
    from django.contrib.auth.models import Permission

    from kebu.core.models import ShopSettings

    other = staff_member("sales", "sales_b")
    sales.user_permissions.add(Permission.objects.get(codename="export_customer"))
    settings_ = ShopSettings.current()
    settings_.shared_pool_enabled = False
    settings_.save()
    add(owner, "甲的客户", "13812345678", owner=sales)
    add(owner, "乙的客户", "13912345678", owner=other)
    _rows, headers, cells, _path = exported("customers", user=sales, tmp_path=tmp_path)
    assert [c[headers.index("Name")] for c in cells] == ["甲的客户"]


def test_without_the_export_permission_nothing_is_exported(sales):
    with pytest.raises(Forbidden):
        export_build("customers", user=sales)
    assert client_for(sales).get(reverse("exports:export", args=["customers"])).status_code == 403


# --- orders and products ---------------------------------------------------------------------------------


def test_orders_export_a_row_per_line_and_products_a_row_per_sku(owner, tmp_path):
    from kebu.orders.tests.factories import make_catalogue, make_order

    shop = make_catalogue(actor=owner)
    customer = add(owner, "王小明", "13812345678")
    order = make_order(
        actor=owner, customer=customer, store=shop.store, lines=[("CREAM-50", 2), ("TEA-250", 1)]
    )
    rows, headers, cells, _path = exported("orders", user=owner, tmp_path=tmp_path)
    assert rows == 2
    assert {c[headers.index("Order number")] for c in cells} == {order.order_no}
    assert sum(c[headers.index("Line amount")] for c in cells) == pytest.approx(float(order.goods_cny))
    rows, headers, cells, _path = exported("products", user=owner, file_format="csv", tmp_path=tmp_path)
    assert rows == 3 and {c[headers.index("SKU code")] for c in cells} == {"CREAM-50", "TONER-100", "TEA-250"}


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_an_orders_steps_are_exported_at_their_times_and_read_back_as_them(owner, tmp_path, file_format):
    """To the second, as marketplaces give them: a CSV export moved to another Kebu keeps them."""
    from kebu.orders.models import OrderStatus
    from kebu.orders.tests.factories import make_catalogue, make_order
    from kebu.transfer.orders import order_headers_match

    shop = make_catalogue(actor=owner)
    ordered = datetime(2024, 11, 11, 0, 5, 17, tzinfo=timezone.get_current_timezone())
    steps = {"shipped_at": 1, "delivered_at": 3, "completed_at": 10}
    times = {key: ordered + timedelta(days=days) for key, days in steps.items()}
    make_order(
        actor=owner,
        customer=add(owner, "王小明", "13812345678"),
        store=shop.store,
        status=OrderStatus.COMPLETED,
        ordered_at=ordered,
        **times,
    )

    _rows, headers, [cells], _path = exported(
        "orders", user=owner, file_format=file_format, tmp_path=tmp_path
    )

    mapping = order_headers_match(headers)
    read_back = {
        mapping[i]: cells[i] if isinstance(cells[i], datetime) else datetime.fromisoformat(cells[i])
        for i in mapping
        if mapping[i] in steps
    }
    assert read_back == {key: moment.replace(tzinfo=None) for key, moment in times.items()}


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_an_order_on_credit_is_exported_with_what_went_on_credit_and_what_is_still_owed(
    owner, tmp_path, file_format
):
    """A bookkeeper's receivables: a wholesaler paid ¥56.00 of ¥256.00 at the counter, ¥200.00 went on
    their account, of which they have paid ¥50.00 back since. Written as money, as the amount paid."""
    from kebu.customers.tests.factories import make_customer
    from kebu.orders.services.credit import credit_payment_record, customer_credit_set
    from kebu.orders.tests.factories import make_order

    # given: that order on credit, and an order paid in full by another customer
    shop = make_catalogue(actor=owner)
    wholesaler = customer_credit_set(
        actor=owner,
        customer=make_customer(actor=owner, name="义乌小商品批发", customer_type="wholesaler"),
        credit_limit_cny="1000.00",
        payment_terms_days=30,
    )
    on_credit = make_order(
        actor=owner,
        customer=wholesaler,
        store=shop.store,
        lines=[("TEA-250", 2)],
        payment_method="credit",
        paid_now_cny="56.00",
    )
    credit_payment_record(actor=owner, customer=wholesaler, amount_cny="50.00", method="bank_transfer")
    paid = make_order(actor=owner, customer=add(owner, "王小明", "13812345678"), store=shop.store)

    # when: the orders are exported
    _rows, headers, cells, path = exported("orders", user=owner, file_format=file_format, tmp_path=tmp_path)

    # then: each order says what went on credit and what is still owed, as money
    by_order = {row[headers.index("Order number")]: row for row in cells}
    credit = [headers.index("Taken on credit"), headers.index("Still owed (credit)")]
    figures = {number: tuple(Decimal(str(row[i])) for i in credit) for number, row in by_order.items()}
    assert figures == {
        on_credit.order_no: (Decimal("200.00"), Decimal("150.00")),
        paid.order_no: (Decimal("0.00"), Decimal("0.00")),
    }
    if file_format == "xlsx":
        formats = number_formats(path, 2)
        assert formats["Taken on credit"] == formats["Still owed (credit)"] == formats["Amount paid"]
        assert formats["Amount paid"] == "#,##0.00"
    else:
        text = path.read_text("utf-8-sig")
        assert ",200.00,150.00," in text

    # and the file imported again changes nothing, without a note on any order: the columns are Kebu's
    # own, not read back
    stored = Order.objects.order_by("pk").values_list("pk", "version", "credit_outstanding_cny")
    before = list(stored)
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=path.read_bytes(), file_name=path.name, kind=ImportKind.ORDERS, enqueue=False
        )
    job_run(run.job_id)
    run.refresh_from_db()
    assert (run.created, run.updated, run.unchanged, run.rejected, run.noted) == (0, 0, 2, 0, 0)
    assert list(stored.all()) == before


# --- template --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_template_reads_back_column_for_column_and_its_example_imports(language, tmp_path):
    CustomFieldFactory(key="shoe_size", label="鞋码", field_type=CustomFieldType.TEXT)
    with translation.override(language):
        path = tmp_path / "template.xlsx"
        export = template_build("customers")
        export_write(export, path, file_format="xlsx", user=None)
        table = table_read(path.read_bytes())
        mapping = customer_headers_match(table.headers, list(CustomField.objects.all()))
        assert [mapping.get(i) for i in range(len(table.headers))] == [c.key for c in export.columns], (
            table.headers
        )
        check = customer_file_check(path.read_bytes())
    assert check.good == 1 and not check.bad


@pytest.mark.parametrize(("language", "offered"), [("en", ("Yes", "No")), ("zh-hans", ("是", "否"))])
def test_a_yes_no_custom_field_is_a_dropdown_of_what_the_export_writes(language, offered, owner, tmp_path):
    CustomFieldFactory(key="sample", label="要小样", field_type=CustomFieldType.BOOL)
    add(owner, "王小明", "13812345678", custom={"sample": True})

    with translation.override(language):
        template = template_build("customers")
        export = export_build("customers", user=owner)
        path = tmp_path / "out.xlsx"
        export_write(export, path, file_format="xlsx", user=owner)

    for columns in (template.columns, export.columns):
        [column] = [c for c in columns if c.key == "cf_sample"]
        assert column.choices == offered
    headers, rows = table_read(path.read_bytes()).headers, list(table_read(path.read_bytes()).rows)
    assert rows[0][1][headers.index("要小样")] == offered[0]
    with zipfile.ZipFile(path) as book:
        sheet = book.read("xl/worksheets/sheet1.xml").decode()
    letter = column_letter(headers.index("要小样"))
    assert f'sqref="{letter}2:{letter}1048576"' in sheet


def test_the_customer_template_imported_as_downloaded_changes_none_of_the_shops_customers(owner, tmp_path):
    # given: a shop's 123rd customer, under the number Kebu gave them
    from kebu.customers.services import customer_no_format
    from kebu.customers.tests.factories import make_customer

    existing = make_customer(actor=owner, name="雷建平", phone="13700001234", notes="老客户")
    Customer.objects.filter(pk=existing.pk).update(customer_no=customer_no_format(123))
    path = tmp_path / "customers-template.xlsx"
    export_write(template_build("customers"), path, file_format="xlsx", user=None)

    # when: the template is imported with its example row left in
    created, updated, unchanged, rejected = import_counts(owner, path.read_bytes())

    # then: the example is a new customer of its own, and the shop's customer is as they were
    assert (created, updated, unchanged, rejected) == (1, 0, 0, 0)
    existing.refresh_from_db()
    assert (existing.name, existing.notes) == ("雷建平", "老客户")


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_BUILTIN_FORMATS = {0: "General", 49: "@"}


def number_formats(path: Path, row: int) -> dict[str, str]:
    """Each header's number format on ``row`` of the first sheet, as Excel gives a cell one: its own
    style, else (a cell not written, which a merchant types into) its column's, else General."""
    from xml.etree import ElementTree

    with zipfile.ZipFile(path) as book:
        styles = ElementTree.fromstring(book.read("xl/styles.xml"))  # noqa: S314 (our own output)
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))  # noqa: S314
    codes = {int(f.get("numFmtId")): f.get("formatCode") for f in styles.iter(f"{_MAIN}numFmt")}
    xfs = [int(xf.get("numFmtId")) for xf in styles.find(f"{_MAIN}cellXfs")]

    def code(style: str | None) -> str:
        format_id = xfs[int(style or 0)]
        return codes.get(format_id) or _BUILTIN_FORMATS.get(format_id, str(format_id))

    by_column = {}
    for col in sheet.iter(f"{_MAIN}col"):
        for index in range(int(col.get("min")), int(col.get("max")) + 1):
            by_column[index] = col.get("style")
    rows = {int(r.get("r")): r for r in sheet.iter(f"{_MAIN}row")}
    headers = [c.findtext(f"{_MAIN}is/{_MAIN}t") for c in rows[1]]
    cells = {c.get("r").rstrip("0123456789"): c for c in rows[row]} if row in rows else {}
    formats = {}
    for index, header in enumerate(headers, start=1):
        cell = cells.get(column_letter(index - 1))
        formats[header] = code(cell.get("s") if cell is not None else by_column.get(index))
    return formats


@pytest.mark.parametrize(
    ("kind", "codes"),
    [
        (
            "customers",
            {"Customer number", "Phone", "WeChat ID", "QQ", "Wangwang", "Douyin ID", "Xiaohongshu ID"},
        ),
        ("orders", {"Order number", "Customer number", "SKU code", "Tracking number", "Receiver phone"}),
        ("products", {"SKU code"}),
    ],
)
def test_the_templates_identifier_columns_are_text_so_excel_keeps_what_is_typed_into_them(
    kind, codes, tmp_path
):
    # given: a blank template, downloaded in English
    path = tmp_path / f"{kind}-template.xlsx"
    with translation.override("en"):
        export_write(template_build(kind), path, file_format="xlsx", user=None)

    # then: its identifier columns are text (@) on the example row and on the rows a merchant types into,
    # so Excel keeps a 19-digit order number, SKU 00123 and a phone as typed; the others are not
    for row in (2, 3, 500):
        formats = number_formats(path, row)
        assert {header for header, code in formats.items() if code == "@"} == codes, (row, formats)


def test_the_exports_identifier_cells_are_text_as_the_templates(owner, tmp_path):
    add(owner, "王小明", "13812345678")
    with translation.override("en"):
        path = exported("customers", user=owner, tmp_path=tmp_path)[3]
    formats = number_formats(path, 2)
    assert (formats["Customer number"], formats["Phone"], formats["Name"]) == ("@", "@", "General")


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_order_export_reads_back_column_for_column_but_the_amounts_kebu_works_out(language, owner):
    from kebu.transfer.orders import order_headers_match

    with translation.override(language):
        columns = export_build("orders", user=owner).columns
        headers = [str(column.label) for column in columns]
    # the receiver's phone is what an order sheet calls its phone; line amounts and the order's total are
    # worked out again from the lines, shipping and discounts; what went on credit and is still owed are
    # not read (what is owed moves with the customer's payments, which no sheet holds)
    read_as = {"receiver_phone": "phone", "line_amount": None, "total": None}
    read_as |= {"credit_taken": None, "credit_owed": None}
    mapping = order_headers_match(headers)
    assert [mapping.get(index) for index in range(len(headers))] == [
        read_as.get(column.key, column.key) for column in columns
    ], headers


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_order_template_as_downloaded_imports_one_paid_order(language, owner, tmp_path):
    make_catalogue(actor=owner)
    path = tmp_path / "orders-template.xlsx"
    with translation.override(language):
        export_write(template_build("orders"), path, file_format="xlsx", user=None)
        check = order_file_check(path.read_bytes())
        with transaction.atomic():
            run = customer_import_start(
                actor=owner,
                data=path.read_bytes(),
                file_name=path.name,
                kind=ImportKind.ORDERS,
                enqueue=False,
            )
        job_run(run.job_id)

    assert (check.good, check.bad) == (1, []), check.bad
    # every column is read back but the amounts Kebu works out from the others; the amount refunded too
    keys = [column.key for column in template_build("orders").columns]
    assert [key for index, key in enumerate(keys) if index not in check.mapping] == ["line_amount", "total"]
    assert check.mapping[keys.index("refunded")] == "refunded"
    run.refresh_from_db()
    order = Order.objects.get()
    assert (run.created, run.rejected) == (1, 0)
    assert (order.status, order.paid_cny, order.lines.get().title) == (
        OrderStatus.PAID,
        Decimal("398.00"),
        "玻尿酸面霜 50ml",
    )


def test_each_blank_template_is_offered_to_who_may_import_that_kind(owner_client, staff_member):
    page = owner_client.get(reverse("transfer:new")).content.decode()
    links = re.findall(r'href="(/exports/\w+/template\.xlsx)"', page.split('id="import-templates"')[1])
    assert links == [reverse("exports:template", args=[kind]) for kind in ("customers", "orders", "products")]
    for link in links:
        response = owner_client.get(link)
        assert response.status_code == 200
        assert response["Content-Disposition"].endswith('-template.xlsx"')

    from django.contrib.auth.models import Permission

    importer = staff_member(None, "importer")  # may import customers, not products
    importer.user_permissions.add(Permission.objects.get(codename="import_customers"))
    assert client_for(importer).get(reverse("exports:template", args=["customers"])).status_code == 200
    assert client_for(importer).get(reverse("exports:template", args=["products"])).status_code == 403


# --- the round trip --------------------------------------------------------------------------------------

names = st.text(
    alphabet=st.sampled_from(list("王李张小明华丽，。-=+@ 'abcXYZ0123")), min_size=1, max_size=12
).filter(lambda s: s.strip())
notes = st.text(alphabet=st.sampled_from(list("每月初补货，提前一周微信提醒。\n=+- ab1")), max_size=40)
# A customer's addresses, the default first: none, one with its street, a region alone (down to the
# province, the city or the district; a municipality's city is the list's 市辖区), or a region alone as the
# default beside a street in it.
ADDRESS_SHAPES = {
    "none": [],
    "street": [("浙江省", "杭州市", "西湖区", "文三路{index}号")],
    "region": [("广东省", "深圳市", "", "")],
    "district": [("广东省", "深圳市", "南山区", "")],
    "province": [("广东省", "", "", "")],
    "municipality": [("北京市", "市辖区", "", "")],
    "region and street": [("广东省", "深圳市", "", ""), ("广东省", "深圳市", "南山区", "科技园{index}号")],
}


@hypothesis_settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    people=st.lists(
        st.tuples(
            names,
            notes,
            st.sampled_from(list(ADDRESS_SHAPES)),
            st.sampled_from(list(Stage.values)),
            st.booleans(),
            st.lists(st.sampled_from(["VIP", "老客", "批发"]), unique=True, max_size=2),
            st.sampled_from([None, "微信", "淘宝"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=5,
    ),
    file_format=st.sampled_from(["xlsx", "csv"]),
)
@example(  # every shape of address at least once
    people=[("王", "", shape, "new", False, [], None, True) for shape in ADDRESS_SHAPES], file_format="xlsx"
)
def test_exporting_then_importing_changes_nothing(owner, tmp_path, people, file_format):
    from kebu.customers.models import SourceChannel, Tag

    Customer.objects.all().delete()
    for index, (name, note, addresses, stage, with_social, tags, source, owned) in enumerate(people):
        customer_create(
            actor=owner,
            data=CustomerInput(
                name=name.strip(),
                notes=note.strip(),
                stage=stage,
                phones=[PhoneInput(number=f"1380000{index:04d}")],
                addresses=[
                    AddressInput(
                        province=province,
                        city=city,
                        district=district,
                        detail=detail.format(index=index),
                        is_default=position == 0,
                    )
                    for position, (province, city, district, detail) in enumerate(ADDRESS_SHAPES[addresses])
                ],
                socials=[SocialInput(kind=SocialKind.WECHAT, handle=f"wx_{index}")] if with_social else [],
                tags=[Tag.objects.get_or_create(name=tag)[0] for tag in tags],
                source=SourceChannel.objects.get_or_create(name=source)[0] if source else None,
                owner=owner if owned else None,
            ),
        )
    before = list(Customer.objects.order_by("pk").values_list("pk", "version"))
    path = tmp_path / f"round.{file_format}"
    export_write(export_build("customers", user=owner), path, file_format=file_format, user=owner)
    assert import_counts(owner, path.read_bytes()) == (0, 0, len(people), 0)
    assert list(Customer.objects.order_by("pk").values_list("pk", "version")) == before


@pytest.mark.parametrize("file_format", ["xlsx", "csv"])
def test_a_tag_whose_name_holds_a_list_separator_comes_back_as_itself(owner, tmp_path, file_format):
    """The export joins a customer's tags with 、 and the import splits a tags cell at 、 , ，; ; a tag
    named 高客单、复购 would have come back as two new tags, 高客单 and 复购."""
    from kebu.customers.models import Tag

    # given: a customer with a tag whose name holds a separator, and a plain one
    joined, plain = Tag.objects.create(name="高客单、复购"), Tag.objects.create(name="宝妈")
    customer = add(owner, "王小明", "13812345678", tags=[joined, plain])
    path = tmp_path / f"tags.{file_format}"
    export_write(export_build("customers", user=owner), path, file_format=file_format, user=owner)

    # when: the export is imported again
    counts = import_counts(owner, path.read_bytes())

    # then: nothing changed, and no tag was made
    assert counts == (0, 0, 1, 0)
    assert sorted(customer.tags.values_list("name", flat=True)) == ["宝妈", "高客单、复购"]
    assert Tag.objects.count() == 2


def test_a_multiple_choice_whose_choice_holds_a_list_separator_comes_back_as_itself(owner, tmp_path):
    """Split at its 、, 混合性（T区油、两颊干） would be two choices the field does not have, and the row
    refused."""
    # given: a multiple-choice field with such a choice, and a customer who has it and another
    CustomFieldFactory(
        key="skin",
        label="肤质",
        field_type=CustomFieldType.MULTI,
        choices=["干性", "混合性（T区油、两颊干）", "敏感"],
    )
    customer = add(owner, "王小明", "13812345678", custom={"skin": ["混合性（T区油、两颊干）", "敏感"]})
    path = tmp_path / "skin.xlsx"
    export_write(export_build("customers", user=owner), path, file_format="xlsx", user=owner)

    # when: the export is imported again
    counts = import_counts(owner, path.read_bytes())

    # then: nothing changed
    assert counts == (0, 0, 1, 0)
    customer.refresh_from_db()
    assert customer.custom["skin"] == ["混合性（T区油、两颊干）", "敏感"]


def order_import_counts(owner, path: Path) -> tuple[int, int, int, int]:
    from kebu.transfer.models import ImportKind

    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=path.read_bytes(), file_name=path.name, kind=ImportKind.ORDERS, enqueue=False
        )
    job_run(run.job_id)
    run.refresh_from_db()
    return run.created, run.updated, run.unchanged, run.rejected


@hypothesis_settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    orders=st.lists(
        st.tuples(
            st.sampled_from(["天猫店", "抖音店"]),
            st.sampled_from(["1001", "1002", "1003"]),  # the same numbers in both stores
            st.sampled_from(["pending", "paid", "shipped", "completed", "cancelled"]),
            st.lists(
                st.tuples(st.sampled_from(["CREAM-50", "TEA-250"]), st.integers(1, 3)), min_size=1, max_size=2
            ),
            notes,
            notes,
            st.booleans(),
            st.integers(0, 2),  # the hour it was ordered: orders of one time come one under the other
            st.sampled_from(["express", "freight", "same_city", "pickup", "none"]),
            # refunded, when paid: nothing, in part, in full, or one unit of its first line (a returned
            # item), which the order's other lines, of another category, keep out of; or units of its
            # first line returned (退货退款, the goods back), then 10.00 more refunded of the order (a
            # price difference, spread over its lines: one not returned refunded too)
            st.sampled_from(["", "10.00", "all", "line", "return", "return+10.00"]),
            st.integers(1, 3),  # the units returned, at most the line's
            # who the parcel went to: the buyer, someone else (a gift), or no one it names: the buyer's
            # phone alone, or nothing at all (an order the buyer took away, as the demo's customers
            # without an address have), the buyer known by the customer number and name alone
            st.sampled_from(["buyer", "someone else", "phone", "nobody"]),
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda order: order[:2],
    ),
    file_format=st.sampled_from(["xlsx", "csv"]),
)
@example(
    orders=[
        (
            "天猫店",
            "1001",
            "paid",
            [("CREAM-50", 1), ("TEA-250", 1)],
            "",
            "",
            False,
            0,
            "express",
            "line",
            1,
            "nobody",
        ),
        (
            "抖音店",
            "1001",
            "completed",
            [("TEA-250", 1), ("CREAM-50", 1)],
            "",
            "",
            True,
            1,
            "none",
            "10.00",
            1,
            "someone else",
        ),
        ("天猫店", "1002", "pending", [("TEA-250", 2)], "", "", True, 2, "express", "", 1, "nobody"),
    ],
    file_format="csv",
)
@example(
    orders=[
        (
            "天猫店",
            "1001",
            "shipped",
            [("CREAM-50", 3), ("TEA-250", 1)],
            "",
            "",
            False,
            0,
            "express",
            "return",
            2,
            "phone",
        ),
        (
            "抖音店",
            "1002",
            "completed",
            [("TEA-250", 2), ("CREAM-50", 1)],
            "",
            "",
            True,
            1,
            "none",
            "return+10.00",
            1,
            "buyer",
        ),
        ("抖音店", "1003", "completed", [("TEA-250", 1)], "", "", True, 2, "none", "return", 1, "nobody"),
    ],
    file_format="xlsx",
)
def test_exporting_orders_of_two_stores_then_importing_them_changes_nothing_and_makes_them_again(
    owner, tmp_path, orders, file_format
):
    from kebu.orders.models import AfterSale, AfterSaleKind, CustomerCategorySpend, Order, OrderLine, Store
    from kebu.orders.reports import sales_summary
    from kebu.orders.services.aftersales import (
        AfterSaleLineInput,
        aftersale_approve,
        aftersale_complete,
        aftersale_receive,
        aftersale_request,
        order_refund,
    )
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_catalogue, make_order

    AfterSale.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    if not Store.objects.filter(name="抖音店").exists():
        make_catalogue(actor=owner)
        Store.objects.update(name="天猫店")
        Store.objects.create(name="抖音店", platform="douyin")
    buyers = [add(owner, "王小明", "13812345678"), add(owner, "李华", "13900001111")]
    ordered = datetime(2024, 11, 11, 9, tzinfo=timezone.get_current_timezone())
    for index, drawn in enumerate(orders):
        (
            store,
            number,
            status,
            lines,
            seller_notes,
            message,
            with_address,
            hour,
            delivery,
            refund,
            units,
            to,
        ) = drawn
        buyer = buyers[index % 2]
        shipped = status in ("shipped", "completed")
        order = make_order(
            actor=owner,
            customer=buyer,
            store=Store.objects.get(name=store),
            order_no=number,
            status=status,
            lines=lines,
            ordered_at=ordered + timedelta(hours=hour),
            seller_notes=seller_notes,
            buyer_message=message,
            carrier="中通快递" if shipped else "",
            tracking_no=f"ZT{index}" if shipped else "",
            receiver_name={"buyer": buyer.name, "someone else": "张三"}.get(to, ""),
            receiver_phone=buyer.primary_phone if to == "phone" else "",
            ship_province="浙江省" if with_address else "",
            ship_city="杭州市" if with_address else "",
            ship_district="西湖区" if with_address else "",
            ship_address=f"文三路{index}号" if with_address else "",
            delivery_method=delivery,
        )
        first = order.lines.order_by("position").first()
        if refund.startswith("return") and not shipped:
            refund = "line"  # nothing went out to come back: before shipping, refund only
        if status in ("pending", "cancelled"):
            pass
        elif refund == "line":
            returned = [AfterSaleLineInput(line_id=first.pk, quantity=1)]
            order_refund(actor=owner, order=order, amount_cny=None, reason="other", lines=returned)
        elif refund.startswith("return"):
            returned = [AfterSaleLineInput(line_id=first.pk, quantity=min(units, first.quantity))]
            aftersale = aftersale_request(
                actor=owner, order=order, kind=AfterSaleKind.RETURN, reason="quality", lines=returned
            )
            aftersale = aftersale_approve(actor=owner, aftersale=aftersale)
            aftersale = aftersale_receive(actor=owner, aftersale=aftersale)
            aftersale_complete(actor=owner, aftersale=aftersale)
            order.refresh_from_db()
            if refund.endswith("+10.00") and order.paid_cny - order.refunded_cny >= 10:
                order_refund(actor=owner, order=order, amount_cny="10.00", reason="price")
        elif refund:
            amount = order.paid_cny if refund == "all" else refund
            order_refund(actor=owner, order=order, amount_cny=amount, reason="other")
    before = list(Order.objects.order_by("pk").values_list("pk", "store__name", "order_no", "version"))
    customers = list(Customer.objects.order_by("pk").values_list("pk", "version"))
    path = tmp_path / f"orders.{file_format}"
    export = export_build("orders", user=owner)
    export_write(export, path, file_format=file_format, user=owner)
    # as a marketplace's sheet says it: how many of each line came back (退货数量), not what of each was
    # refunded
    unsplit = tmp_path / f"unsplit.{file_format}"
    keys = [column.key for column in export.columns if column.key != "line_refunded"]
    export_write(
        export_build("orders", user=owner, columns=keys), unsplit, file_format=file_format, user=owner
    )

    assert order_import_counts(owner, path) == (0, 0, len(orders), 0)
    assert (
        list(Order.objects.order_by("pk").values_list("pk", "store__name", "order_no", "version")) == before
    )
    assert list(Customer.objects.order_by("pk").values_list("pk", "version")) == customers

    # and into a shop without them (another Kebu, the same stores), each order comes back as it went,
    # paid and refunded as it was, sent to whom and where it was (or to no one), each line refunded and
    # returned as it was, and each buyer's figures with it, named as they were (not as the receiver of a
    # gift), their spend per category and top category too, and the units sold net of those returned
    # (the buyers of the orders: the export has no other; stages only ever go up: left out)
    kept = ("store__name", "order_no", "status", "delivery_method", "carrier", "tracking_no", "seller_notes")
    kept += ("paid_cny", "refunded_cny")
    made = sorted(Order.objects.values_list(*kept))

    def sent_to() -> list[tuple]:
        # the receiver's phone as Kebu reads it: a sheet's is kept as it is written (138 1234 5678)
        sent = ("store__name", "order_no", "receiver_name", "receiver_phone", "ship_city", "ship_address")
        rows = Order.objects.values_list(*sent)
        return sorted((*row[:3], parse_phone(row[3]).e164 if row[3] else "", *row[4:]) for row in rows)

    sent_made = sent_to()
    line_kept = ("order__store__name", "order__order_no", "position", "amount_cny", "refunded_cny")
    line_kept += ("returned_quantity",)
    lines_made = sorted(OrderLine.objects.values_list(*line_kept))
    november = {"user": owner, "date_from": date(2024, 11, 1), "date_to": date(2024, 11, 30)}
    summary = sales_summary(**november)
    sold_made = (summary.total, summary.category_totals, summary.category_total)
    figures = ("name", *(name for name in FIGURE_FIELDS if name != "stage"))
    buyers = Customer.objects.filter(pk__in=Order.objects.values("customer_id"))
    buyers_made = sorted(buyers.values_list(*figures))
    spend = ("customer__name", "category__name", "spent_cny")
    spend_made = sorted(CustomerCategorySpend.objects.values_list(*spend))
    AfterSale.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    assert order_import_counts(owner, path) == (len(orders), 0, 0, 0)
    assert sorted(Order.objects.values_list(*kept)) == made
    assert sent_to() == sent_made
    assert sorted(OrderLine.objects.values_list(*line_kept)) == lines_made
    assert sorted(CustomerCategorySpend.objects.values_list(*spend)) == spend_made
    assert sorted(buyers.values_list(*figures)) == buyers_made
    summary = sales_summary(**november)
    assert (summary.total, summary.category_totals, summary.category_total) == sold_made

    # and without what was refunded of each line, each order comes back paid, refunded and returned as it
    # went, its refund on its lines: only what passes their money (the shipping) is left on the order,
    # so that the spend per category adds up to the total spent as it did
    AfterSale.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()
    assert order_import_counts(owner, unsplit) == (len(orders), 0, 0, 0)
    assert sorted(Order.objects.values_list(*kept)) == made
    assert sent_to() == sent_made
    returns = ("order__store__name", "order__order_no", "position", "amount_cny", "returned_quantity")
    assert sorted(OrderLine.objects.values_list(*returns)) == sorted(row[:4] + row[5:] for row in lines_made)
    for order in Order.objects.prefetch_related("lines"):
        lines = list(order.lines.all())
        on_lines = sum(line.refunded_cny for line in lines)
        assert on_lines == min(order.refunded_cny, sum(line.amount_cny for line in lines)), order.order_no


# --- pages, job and command ------------------------------------------------------------------------------


def test_the_export_page_offers_columns_and_a_small_export_downloads_at_once(owner, owner_client):
    add(owner, "王小明", "13812345678")
    page = owner_client.get(reverse("exports:export", args=["customers"]))
    assert page.status_code == 200 and b'value="phone"' in page.content
    response = owner_client.post(
        reverse("exports:export", args=["customers"]), {"format": "xlsx", "columns": ["name", "phone"]}
    )
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.xlsx"')
    table = table_read(b"".join(response.streaming_content))
    assert table.headers == ["姓名", "电话"]  # the page speaks the shop's language


def test_a_large_export_runs_as_a_job_whose_file_only_its_owner_downloads(
    owner, owner_client, analyst, settings
):
    settings.KEBU = {**settings.KEBU, "EXPORT_INLINE_ROWS": 1}
    add(owner, "王小明", "13812345678")
    add(owner, "李小华", "13912345678")
    response = owner_client.post(
        reverse("exports:export", args=["customers"]), {"format": "csv", "columns": ["name"]}
    )
    assert response.status_code == 302
    job_id = int(response["Location"].rstrip("/").split("/")[-1])
    job_run(job_id)  # what the worker does (the test queue ran it already; a second run is a no-op)
    page = owner_client.get(response["Location"])
    assert b"export-download" in page.content
    download = owner_client.get(reverse("exports:download", args=[job_id]))
    text = b"".join(download.streaming_content).decode("utf-8-sig")
    assert text.splitlines() == ["姓名", "王小明", "李小华"]  # in the language of who asked
    assert client_for(analyst).get(reverse("exports:download", args=[job_id])).status_code == 404


def test_old_export_files_are_purged(tmp_path):
    import os
    import time

    old = exports_dir() / "old.xlsx"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 9 * 86400,) * 2)
    new = exports_dir() / "new.xlsx"
    new.write_bytes(b"x")
    assert exports_purge(older_than=timedelta(days=7)) == 1
    assert not old.exists() and new.exists()
    new.unlink()


def test_the_command_exports_with_filters_and_columns(owner, tmp_path):
    add(owner, "新客甲", "13812345678", stage=Stage.NEW)
    add(owner, "潜在乙", "13912345678", stage=Stage.LEAD)
    out = io.StringIO()
    target = tmp_path / "new.csv"
    call_command(
        "export", "customers", output=str(target), filter="stage=new", columns="name,stage", stdout=out
    )
    assert f"Wrote {target} (1 row, 2 columns)." in out.getvalue()
    assert target.read_text("utf-8-sig").splitlines()[1].startswith("新客甲,")
    with pytest.raises(CommandError, match="Unknown column"):
        call_command("export", "customers", output=str(tmp_path / "x.xlsx"), columns="nope")
    call_command("export", "customers", output=str(tmp_path / "t.xlsx"), template=True, stdout=out)
    assert table_read((tmp_path / "t.xlsx").read_bytes()).rows  # the example row


@pytest.mark.parametrize(
    ("kind", "typo", "known"),
    [("customers", "stag=lead", "stage"), ("orders", "staus=paid", "status"), ("products", "qq=霜", "q")],
)
def test_the_command_refuses_a_filter_the_list_does_not_have_and_names_the_known_ones(
    owner, tmp_path, kind, typo, known
):
    # given: a filter misspelt, which left out would export every record
    add(owner, "潜在乙", "13912345678", stage=Stage.LEAD)
    target = tmp_path / "out.csv"

    # when / then: refused, naming the key and listing the filters there are; no file written
    refused = r"Unknown filter\(s\): " + typo.split("=")[0] + r"\. Filters: "
    with pytest.raises(CommandError, match=refused) as exc:
        call_command("export", kind, output=str(target), filter=typo, stdout=io.StringIO())
    assert known in str(exc.value).split("Filters: ")[1].split(", ")
    assert not target.exists()


def test_the_export_page_refuses_an_unknown_filter_but_takes_the_lists_page_and_columns(owner, owner_client):
    add(owner, "新客甲", "13812345678", stage=Stage.NEW)
    url = reverse("exports:export", args=["customers"])

    refused = owner_client.get(url + "?stag=lead")
    taken = owner_client.get(url + "?stage=new&page=2&cols=name,phone&sort=-created_at")

    assert refused.status_code == 400 and "stag" in refused.content.decode()
    assert taken.status_code == 200, taken.content.decode()[:500]
    orders = owner_client.get(reverse("exports:export", args=["orders"]) + "?status=paid&page=3")
    assert orders.status_code == 200


def test_a_background_export_speaks_the_language_of_who_asked_not_the_workers(owner):
    from kebu.transfer.exports import export_file, export_start

    add(owner, "王小明", "13812345678")
    with translation.override("en"):
        job = export_start(
            user=owner, kind="customers", filters=QueryDict(), columns=["name"], file_format="csv"
        )
    with translation.override("zh-hans"):  # a worker started with the shop's default language
        job_run(job.pk)
    job.refresh_from_db()
    assert export_file(job).read_text("utf-8-sig").splitlines() == ["Name", "王小明"]


def test_cost_is_exported_only_to_those_who_may_change_products(owner, staff_member, tmp_path):
    from django.contrib.auth.models import Permission

    from kebu.orders.tests.factories import make_catalogue

    make_catalogue(actor=owner)
    clerk = staff_member("sales", "seller")
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["export_customer", "view_product"]))
    _rows, headers, _cells, _path = exported("products", user=owner, tmp_path=tmp_path)
    assert "Cost" in headers
    _rows, headers, _cells, _path = exported("products", user=clerk, tmp_path=tmp_path)
    assert "Cost" not in headers and "Price" in headers


def test_a_background_export_forgets_what_was_searched_for(owner):
    from kebu.core.models import Job
    from kebu.transfer.exports import export_start

    add(owner, "王小明", "13812345678")
    job = export_start(
        user=owner,
        kind="customers",
        filters=QueryDict("q=13812345678&stage=lead"),
        columns=["name"],
        file_format="csv",
    )
    job_run(job.pk)
    assert Job.objects.get(pk=job.pk).payload["filters"] == "stage=lead"


def test_a_finished_export_is_not_handed_to_someone_whose_role_lost_the_export_right(analyst):
    from django.contrib.auth.models import Permission

    from kebu.transfer.exports import export_start

    job = export_start(
        user=analyst, kind="customers", filters=QueryDict(), columns=["name"], file_format="csv"
    )
    job_run(job.pk)
    client = client_for(analyst)
    assert client.get(reverse("exports:download", args=[job.pk])).status_code == 200
    analyst.user_permissions.remove(Permission.objects.get(codename="export_customer"))

    assert client_for(analyst).get(reverse("exports:download", args=[job.pk])).status_code == 403
