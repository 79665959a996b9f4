"""Importing an order sheet (a Taobao export): orders with their lines, their buyers matched or made,
the customers' figures moving with them, a re-import that adds nothing, and undo."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from kebu.core.errors import Conflict, ValidationFailed
from kebu.core.jobs import job_run
from kebu.customers.models import Customer, SocialKind
from kebu.customers.services import AddressInput, CustomerInput, PhoneInput, SocialInput, customer_create
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import Order, OrderStatus
from kebu.orders.services.orders import order_cancel
from kebu.orders.tests.factories import make_catalogue
from kebu.transfer.corrections import import_corrections
from kebu.transfer.imports import (
    customer_import_start,
    import_notes,
    import_refusal_text,
    import_rejected_rows,
    import_undo,
)
from kebu.transfer.models import Import, ImportKind, ImportMode, ImportRow
from kebu.transfer.tests.sheets import csv_rows, xlsx_with_formula_errors

pytestmark = pytest.mark.django_db

TAOBAO = (Path(__file__).parent / "samples" / "taobao_orders.csv").read_bytes()


def run_import(
    owner, data: bytes, *, store, name: str = "ExportOrderList.csv", mode: str = ImportMode.GOOD_ROWS
) -> Import:
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=data,
            file_name=name,
            kind=ImportKind.ORDERS,
            mode=mode,
            store=store,
            enqueue=False,
        )
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def counts(run: Import) -> tuple[int, int, int, int]:
    return run.created, run.updated, run.unchanged, run.rejected


def _with_problems(rows: list) -> list:
    """The rows to fix (``import_rejected_rows``, a check's ``bad``) that have problems of their own: an
    order's other lines are among them too, unmarked."""
    return [row for row in rows if row[2]]


def test_a_taobao_export_becomes_orders_with_lines_and_their_buyers(owner, shop):
    run = run_import(owner, TAOBAO, store=shop.store)

    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    ming = Customer.objects.get(name="王小明")
    # Two orders, one buyer: the 旺旺 ID tells it (the phone is masked in the export and says nothing).
    assert [s.handle for s in ming.socials.all()] == ["tb_xiaoming"] and ming.primary_phone == ""
    assert (ming.order_count, ming.total_spent_cny) == (2, Decimal("526.00"))
    first = Order.objects.get(order_no="2024010512345")
    assert (first.status, first.paid_cny, first.carrier, first.tracking_no) == (
        OrderStatus.COMPLETED,
        Decimal("398.00"),
        "中通快递",
        "ZT1234567890",
    )
    assert [(line.sku_code, line.quantity) for line in first.lines.all()] == [("CREAM-50", 2)]
    assert (first.ship_province, first.ship_city, first.buyer_message) == ("浙江省", "杭州市", "请尽快发货")
    # A SKU the catalogue does not have is kept as the line's text; an unpaid order counts for nothing.
    unpaid = Order.objects.get(order_no="2024010512348")
    assert unpaid.status == OrderStatus.PENDING and unpaid.lines.get().title.startswith("不存在的宝贝")
    assert Customer.objects.get(name="王五").order_count == 0


@pytest.mark.parametrize("written", ["+86 138-0013-8000", "１３８００１３８０００", "138 0013 8000"])
def test_the_receiver_phone_is_kept_as_the_buyers_own_phone_is_however_the_sheet_wrote_it(
    owner, shop, written
):
    run = run_import(owner, TAOBAO.replace(b"13900001111", written.encode()), store=shop.store)

    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    lihua = Customer.objects.get(name="李华")
    order = Order.objects.get(order_no="2024010512346")
    assert order.receiver_phone == lihua.primary_phone == "+8613800138000"
    # and the same sheet written the other way is the same number: nothing to update
    again = run_import(owner, TAOBAO.replace(b"13900001111", b"13800138000"), store=shop.store)
    assert counts(again) == (0, 0, 4, 0), import_notes(again, limit=10)


def test_the_same_export_again_adds_nothing(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)

    again = run_import(owner, TAOBAO, store=shop.store)

    assert counts(again) == (0, 0, 4, 0)
    assert Order.objects.count() == 4 and Customer.objects.count() == 3


def test_a_batch_of_orders_is_written_together(owner, shop):
    # One statement for the batch's orders, one for their lines and one for their audit entries: the
    # batched path, not order_create per order (which the same result would not show).
    with CaptureQueriesContext(connection) as queries:
        run = run_import(owner, TAOBAO, store=shop.store)

    assert counts(run) == (4, 0, 0, 0)
    # Django logs an executemany as "<n> times: INSERT …"; PostgreSQL is sent the rows with COPY.
    statements = [q["sql"].split(" times: ")[-1] for q in queries]
    writes = [sql.split("(")[0].split()[-1] for sql in statements if sql.startswith(("INSERT INTO", "COPY"))]
    assert writes.count('"orders_order"') == 1
    assert writes.count('"orders_orderline"') == 1


def test_a_batch_of_orders_reads_the_shop_settings_once(owner, shop):
    # Each order asks for the stage rules (and a credit order for the credit setting): one reading a
    # batch serves them all, and the stages still move by the shop's rules.
    with CaptureQueriesContext(connection) as queries:
        run = run_import(owner, TAOBAO, store=shop.store)

    assert counts(run) == (4, 0, 0, 0)
    assert len([q for q in queries if '"core_shopsettings"' in q["sql"]]) == 1
    assert Customer.objects.get(name="王小明").stage == "repeat"  # two paid orders: a repeat buyer


def test_a_buyer_with_a_known_phone_is_that_customer_and_undo_gives_back_their_figures(owner, shop):
    lihua = customer_create(
        actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")])
    )
    run = run_import(owner, TAOBAO, store=shop.store)
    lihua.refresh_from_db()
    assert (lihua.order_count, lihua.total_spent_cny) == (1, Decimal("89.50"))

    import_undo(actor=owner, run=run)

    lihua.refresh_from_db()
    assert (lihua.order_count, lihua.total_spent_cny) == (0, Decimal("0.00"))
    assert not Order.objects.exists()
    assert list(Customer.objects.values_list("name", flat=True)) == ["李华"]  # the buyers it made are gone


def test_undo_leaves_the_tags_categories_brands_and_stores_as_they_were(owner, shop):
    from kebu.customers.models import Tag
    from kebu.orders.models import Brand, Category, Store

    def side_tables() -> list[list]:
        return [sorted(m.objects.values_list("pk", flat=True)) for m in (Tag, Category, Brand, Store)]

    before = side_tables()
    run = run_import(owner, TAOBAO, store=shop.store)

    import_undo(actor=owner, run=run)

    assert side_tables() == before
    run.refresh_from_db()
    assert run.made_aside == {}  # an order sheet names only what the shop has: it makes nothing aside


def test_undo_refuses_when_an_imported_order_was_worked_on_since(owner, shop):
    run = run_import(owner, TAOBAO, store=shop.store)
    order_cancel(actor=owner, order=Order.objects.get(order_no="2024010512348"))

    with pytest.raises(Conflict, match="2024010512348"):
        import_undo(actor=owner, run=run)
    assert Order.objects.count() == 4


def test_without_a_store_every_order_is_rejected_and_says_why(owner, shop):
    run = run_import(owner, TAOBAO, store=None)

    assert counts(run) == (0, 0, 0, 4) and not Order.objects.exists()
    assert "store" in import_rejected_rows(run)[0][2][0].reason


def test_an_order_without_its_number_is_refused_and_its_lines_are_not_taken_for_another(owner, shop):
    # Two orders without numbers one under the other would read as one order of two lines, and a second
    # import could not find either again: refused, saying why.
    data = _sheet(
        ",tb_zhao,199.00,交易成功,,赵六,,13811112222,2024-01-05 10:00:00,,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
        ",tb_qian,128.00,交易成功,,钱七,,13900001111,2024-01-06 10:00:00,,明前龙井,1,TEA-250,128.00,,,,0",
        "D3,tb_qian,128.00,交易成功,,钱七,,13900001111,2024-01-07 10:00:00,,明前龙井,1,TEA-250,128.00,,,,0",
    )

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (1, 0, 0, 1)
    [(row, _cells, [problem])] = _with_problems(import_rejected_rows(run))
    assert (row, problem.column) == (2, "订单编号") and "order number" in problem.reason
    assert [row for row, _cells, _problems in import_rejected_rows(run)] == [2, 3]  # the report has both
    assert list(Order.objects.values_list("order_no", flat=True)) == ["D3"]


def test_an_order_export_in_english_imports_in_chinese_with_its_statuses_payment_and_delivery_methods(
    owner, shop, tmp_path
):
    from django.utils import translation

    from kebu.orders.tests.factories import make_order
    from kebu.transfer.exports import export_build, export_write

    # given: orders at each step, paid in several ways, exported by someone reading Kebu in English
    buyer = customer_create(
        actor=owner, data=CustomerInput(name="王小明", phones=[PhoneInput(number="13812345678")])
    )
    made = [
        ("E1", OrderStatus.PENDING, "", "pickup"),
        ("E2", OrderStatus.PAID, "wechat", "same_city"),
        ("E3", OrderStatus.SHIPPED, "alipay", "express"),
        ("E4", OrderStatus.COMPLETED, "bank_transfer", "freight"),
        ("E5", OrderStatus.PAID, "cod", "none"),
    ]
    for number, status, method, delivery in made:
        shipped = {"carrier": "顺丰", "tracking_no": f"SF{number}"} if status != OrderStatus.PAID else {}
        make_order(
            actor=owner,
            customer=buyer,
            store=shop.store,
            order_no=number,
            status=status,
            payment_method=method,
            delivery_method=delivery,
            receiver_name="王小明",
            receiver_phone="13812345678",
            **(shipped if status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED) else {}),
        )
    path = tmp_path / "orders.csv"
    with translation.override("en"):
        export_write(export_build("orders", user=owner), path, file_format="csv", user=owner)
    exported = path.read_text("utf-8-sig")
    assert "Awaiting payment" in exported and "WeChat Pay" in exported and "Pick-up" in exported
    Order.objects.all().delete()

    # when: imported by someone reading it in Chinese
    with translation.override("zh-hans"):
        run = run_import(owner, path.read_bytes(), store=shop.store)

    # then: every order is back at its step, paid and delivered as it was
    assert counts(run) == (5, 0, 0, 0), import_rejected_rows(run)
    assert (
        sorted(Order.objects.values_list("order_no", "status", "payment_method", "delivery_method")) == made
    )


@pytest.mark.parametrize("language", ["en", "zh-hans"])
@pytest.mark.parametrize("status", ["Closed", "已关闭", "closed"])
def test_kebus_own_closed_status_is_read_in_either_language_as_its_chinese_label_is(
    owner, shop, language, status
):
    from django.utils import translation

    data = (
        "订单编号,收货人姓名,联系手机,订单创建时间,订单状态,宝贝标题,价格\n"
        f"C1,赵六,13811112222,2024-01-05 10:00:00,{status},玻尿酸面霜,199.00\n"
    ).encode()

    with translation.override(language):
        run = run_import(owner, data, store=shop.store)

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.get(order_no="C1").status == OrderStatus.CANCELLED


def test_an_order_import_is_audited_as_an_order_import_with_its_kind(owner, shop):
    from kebu.audit.models import ACTION_LABELS, AuditEntry

    run = run_import(owner, TAOBAO, store=shop.store)

    entries = AuditEntry.objects.filter(target_type="transfer.import", target_id=str(run.pk)).order_by("seq")
    assert list(entries.values_list("action", flat=True)) == ["order.import", "import.finish"]
    started = entries.first()
    assert started.data["kind"] == "orders" and started.actor == owner
    assert str(ACTION_LABELS["order.import"]) == "Order import started"


def run_all_or_nothing(owner, data: bytes, *, store, on_beat=None) -> Import:
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=data,
            file_name="ExportOrderList.csv",
            kind=ImportKind.ORDERS,
            mode=ImportMode.ALL_OR_NOTHING,
            store=store,
            enqueue=False,
        )
    job_run(run.job_id, on_beat=on_beat)
    run.refresh_from_db()
    return run


def _sheet_with_two_bad_orders() -> bytes:
    header, *lines = TAOBAO.decode("utf-8").splitlines()
    return "\n".join(
        [
            header,
            *lines[:2],
            # paid before it was ordered: only the order services refuse it, when it is written
            lines[2].replace("2024-02-01 20:01:00", "2024-01-31 20:01:00"),
            lines[3].replace("2024-02-03 08:00:00", "昨天"),  # a time nobody can read: a cell's problem
        ]
    ).encode()


def test_all_or_nothing_with_a_bad_order_writes_no_order_and_lists_every_bad_one(owner, shop, settings):
    # given: four orders, one a cell refuses and one the order services refuse, in batches of one order
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}

    run = run_all_or_nothing(owner, _sheet_with_two_bad_orders(), store=shop.store)

    assert (run.refused, counts(run)) == (True, (0, 0, 0, 2))
    assert not Order.objects.exists() and not Customer.objects.exists()
    rejected = {row: [p.reason for p in problems] for row, _cells, problems in import_rejected_rows(run)}
    assert set(rejected) == {4, 5}, rejected
    assert any("昨天" in reason or "time" in reason for reason in rejected[5]), rejected[5]
    assert not ImportRow.objects.filter(run=run).exclude(action="rejected").exists()


def test_all_or_nothing_with_every_order_good_imports_them_all(owner, shop, settings):
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}

    run = run_all_or_nothing(owner, TAOBAO, store=shop.store)

    assert (run.refused, run.checked, counts(run)) == (False, True, (4, 0, 0, 0))
    assert Order.objects.count() == 4 and Customer.objects.get(name="王小明").order_count == 2


def test_all_or_nothing_refuses_an_order_met_again_whose_amounts_differ_and_moves_no_other(owner, shop):
    # given: the export imported, then a newer one moving an order on and changing another's amount
    run_import(owner, TAOBAO, store=shop.store)
    newer = _first_row_edited("398.00,交易成功", "388.00,交易成功")
    newer = newer.replace("等待卖家发货".encode(), "卖家已发货".encode())
    newer = newer.replace(b"89.50,,,,0", "89.50,顺丰,SF200,,0".encode())
    before = list(Order.objects.order_by("pk").values_list("status", "version"))

    run = run_all_or_nothing(owner, newer, store=shop.store)

    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1)), import_rejected_rows(run)
    assert list(Order.objects.order_by("pk").values_list("status", "version")) == before


def test_all_or_nothing_takes_back_what_it_wrote_when_an_order_is_refused_after_the_check(
    owner, shop, settings
):
    # given: batches of one order; once the check has passed and the first order is written, someone
    # saves an order with the number of the file's third order, and other lines
    from kebu.audit.models import AuditEntry
    from kebu.orders.services.orders import LineInput, OrderInput, order_create

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    other = customer_create(actor=owner, data=CustomerInput(name="别的店员的客户"))
    # the buyer of the file's second order, whom its batch moves up from 潜在 before the third is refused
    lihua = customer_create(
        actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")])
    )

    def meanwhile(job) -> None:
        written = Order.objects.filter(order_no="2024010512345").exists()  # not by the check: rolled back
        if written and not Order.objects.filter(order_no="2024010512347").exists():
            order_create(
                actor=owner,
                data=OrderInput(
                    customer=other,
                    store=shop.store,
                    lines=[LineInput(title="电话下单", unit_price_cny="1.00")],
                    order_no="2024010512347",
                    status=OrderStatus.PAID,
                ),
            )

    # when (the first order's time written 2024/1/5, a corrected cell)
    data = TAOBAO.decode().replace(",2024-01-05 10:20:00,", ",2024/1/5 10:20,", 1).encode()
    run = run_all_or_nothing(owner, data, store=shop.store, on_beat=meanwhile)

    # then: refused, that order listed, and nothing of the file left: only the order saved meanwhile
    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    assert (run.corrected, run.corrections) == (0, "")  # no corrected cell of rows no longer taken
    [(row, _cells, [problem])] = import_rejected_rows(run)
    assert row == 4 and "2024010512347" in problem.reason, problem.reason
    assert list(Order.objects.values_list("order_no", "customer")) == [("2024010512347", other.pk)]
    assert list(Customer.objects.order_by("pk").values_list("name", flat=True)) == ["别的店员的客户", "李华"]
    lihua.refresh_from_db()
    assert (lihua.stage, lihua.order_count) == ("lead", 0)
    undone = AuditEntry.objects.get(action="import.undo", target_id=str(run.pk))
    assert undone.data["deleted"] == 2 and undone.data["all_or_nothing"] is True


def test_all_or_nothing_that_cannot_take_back_without_losing_work_fails_saying_so(owner, shop, settings):
    # given: as above, and meanwhile someone also writes a note on the order the import wrote first
    from kebu.core.models import Job, JobStatus
    from kebu.orders.services.orders import LineInput, OrderInput, order_create, order_details_update

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    other = customer_create(actor=owner, data=CustomerInput(name="别的店员的客户"))

    def meanwhile(job) -> None:
        written = Order.objects.filter(order_no="2024010512345").exists()  # not by the check: rolled back
        if written and not Order.objects.filter(order_no="2024010512347").exists():
            first = Order.objects.get(order_no="2024010512345")
            order_details_update(actor=owner, order=first, changes={"seller_notes": "客服已回访"})
            order_create(
                actor=owner,
                data=OrderInput(
                    customer=other,
                    store=shop.store,
                    lines=[LineInput(title="电话下单", unit_price_cny="1.00")],
                    order_no="2024010512347",
                    status=OrderStatus.PAID,
                ),
            )

    # when
    run = run_all_or_nothing(owner, TAOBAO, store=shop.store, on_beat=meanwhile)

    # then: the job fails saying why, and the note is not lost with the order
    job = Job.objects.get(pk=run.job_id)
    assert job.status == JobStatus.FAILED and "row 4" in job.error and "undo the import" in job.error, (
        job.error
    )
    assert Order.objects.get(order_no="2024010512345").seller_notes == "客服已回访"
    assert not run.refused


def test_the_command_imports_orders_all_or_nothing(owner, shop, tmp_path):
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(_sheet_with_two_bad_orders())
    out = io.StringIO()

    call_command("import", str(path), kind="orders", store=shop.store.name, all_or_nothing=True, stdout=out)

    assert "0 created, 0 updated, 0 unchanged, 2 rejected" in out.getvalue()
    held = "2 orders have problems, so the other 2 good rows were not imported either (all or nothing)."
    assert f"nothing imported: {held}" in out.getvalue() and not Order.objects.exists()


def test_the_command_checks_then_imports_an_order_export_into_a_store(owner, shop, tmp_path):
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(TAOBAO)
    out = io.StringIO()
    with pytest.raises(CommandError, match="no store"):
        call_command("import", str(path), kind="orders", store="天猫旗舰店", stdout=out)

    call_command("import", str(path), kind="orders", store=shop.store.name, dry_run=True, stdout=out)
    assert "5 rows ready, 0 rows with problems" not in out.getvalue()  # 4 orders over 4 rows
    assert "4 rows ready, 0 rows with problems" in out.getvalue() and not Order.objects.exists()
    call_command("import", str(path), kind="orders", store=shop.store.name, stdout=out)
    assert "4 created" in out.getvalue() and Order.objects.count() == 4


def test_an_order_export_imports_into_a_store_added_on_the_stores_page(
    owner, shop, staff_member, client, tmp_path
):
    # given: a fresh shop has only its default store, so the guide's example is refused, saying where
    # stores are added
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(TAOBAO)
    with pytest.raises(CommandError, match=r"Add it on the Stores page \(Orders › Stores"):
        call_command("import", str(path), kind="orders", store="Tmall旗舰店", stdout=io.StringIO())

    # when: a manager adds the store on the page, and the command names it in another case
    client.force_login(staff_member("manager", "dianzhang"))
    added = client.post(
        reverse("orders:stores"), {"name": "TMALL旗舰店", "platform": "tmall", "position": "1"}
    )
    assert added.status_code == 302
    out = io.StringIO()
    call_command("import", str(path), kind="orders", store="Tmall旗舰店", stdout=out)

    # then: the orders are in that store
    assert "4 created" in out.getvalue()
    assert set(Order.objects.values_list("store__name", flat=True)) == {"TMALL旗舰店"}
    assert Order.objects.count() == 4


SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    ("sample", "platform", "orders", "lines", "first", "buyer"),
    [
        ("taobao_orders.csv", "taobao", 4, 4, ("2024010512345", OrderStatus.COMPLETED, "398.00"), "王小明"),
        ("jd_orders.csv", "jd", 2, 3, ("288002", OrderStatus.PAID, "307.00"), "李娜"),
        ("pdd_orders.csv", "pinduoduo", 4, 4, ("240305-123456789", OrderStatus.PAID, "189.00"), "赵敏"),
        ("douyin_orders.csv", "douyin", 4, 6, ("6920001", OrderStatus.COMPLETED, "398.00"), "孙丽"),
        ("youzan_orders.csv", "youzan", 2, 2, ("E20240310000001", OrderStatus.COMPLETED, "256.00"), "吴昊"),
        ("weidian_orders.csv", "weidian", 2, 2, ("WD1002", OrderStatus.SHIPPED, "95.00"), "陈晨"),
        # its Financial Status says paid, its Fulfilled at that it went out: shipped
        ("shopify_orders.csv", "shopify", 2, 3, ("#1001", OrderStatus.SHIPPED, "398.00"), "Amy Lin"),
        ("woocommerce_orders.csv", "woocommerce", 2, 2, ("3002", OrderStatus.PAID, "189.00"), "Na Li"),
    ],
)
def test_each_marketplaces_export_is_read_by_its_own_headers(
    owner, sample, platform, orders, lines, first, buyer
):
    from kebu.orders.models import OrderLine, Store

    make_catalogue(actor=owner)
    store = Store.objects.create(name=f"{platform} 店", platform=platform)
    run = run_import(owner, (SAMPLES / sample).read_bytes(), store=store)

    assert counts(run) == (orders, 0, 0, 0), import_rejected_rows(run)
    assert OrderLine.objects.filter(order__store=store).count() == lines
    order = Order.objects.get(store=store, order_no=first[0])
    assert (order.status, order.paid_cny) == (first[1], Decimal(first[2]))
    assert order.customer.name == buyer
    assert counts(run_import(owner, (SAMPLES / sample).read_bytes(), store=store)) == (0, 0, orders, 0)


@pytest.mark.parametrize(
    ("sample", "platform", "number", "written", "status"),
    [
        ("douyin_orders.csv", "douyin", "6920001", "备货中", OrderStatus.PAID),
        ("taobao_orders.csv", "taobao", "2024010512346", "买家已付款，等待卖家发货", OrderStatus.PAID),
        ("taobao_orders.csv", "taobao", "2024010512346", "卖家已发货，等待买家确认", OrderStatus.SHIPPED),
    ],
)
def test_a_status_in_the_marketplaces_own_words_is_taken(owner, sample, platform, number, written, status):
    # Douyin's 备货中 is paid and being packed; Taobao words a status in two halves. Refused as statuses
    # Kebu does not know, these orders were left out of the import.
    from kebu.orders.models import Store

    make_catalogue(actor=owner)
    store = Store.objects.create(name=f"{platform} 店", platform=platform)
    header, *lines = csv_rows((SAMPLES / sample).read_bytes())
    at = header.index("订单状态")
    at_number = header.index("主订单编号" if platform == "douyin" else "订单编号")
    for cells in lines:
        if cells[at_number] == number:
            cells[at] = written
    out = io.StringIO()
    csv.writer(out).writerows([header, *lines])

    run = run_import(owner, out.getvalue().encode(), store=store)

    assert run.rejected == 0, import_rejected_rows(run)
    assert Order.objects.get(store=store, order_no=number).status == status


def _pinduoduo_sheet(*, quantity: str, goods_total: str, paid: str) -> bytes:
    """The Pinduoduo sample with its second order bought ``quantity`` times for ``goods_total``."""
    header, first, second, *_others = (SAMPLES / "pdd_orders.csv").read_text(encoding="utf-8").splitlines()
    cells = next(csv.reader([second]))
    cells[3], cells[7], cells[8], cells[9] = goods_total, paid, paid, quantity
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return "\n".join([header, first, out.getvalue().strip()]).encode("gb18030")  # as it downloads


def test_a_pinduoduo_export_gives_its_lines_unit_prices_though_the_catalogue_has_none_of_its_skus(owner):
    # Pinduoduo's export has no unit price, only 商品总价 (unit price × quantity); a shop moving in has
    # no catalogue yet, so the price cannot come from the SKU.
    from kebu.orders.models import OrderLine, Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")

    run = run_import(owner, _pinduoduo_sheet(quantity="2", goods_total="256.00", paid="256.00"), store=store)

    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    lines = OrderLine.objects.filter(order__store=store).order_by("order__order_no")
    assert [(ln.title, ln.quantity, ln.unit_price_cny) for ln in lines] == [
        ("玻尿酸面霜 50g", 1, Decimal("199.00")),
        ("明前龙井 250g", 2, Decimal("128.00")),
    ]
    # the total of two is taken as each one's price, and said so; a total of one is its price as written
    totals = [c for c in import_corrections(run) if c.column == "商品总价(元)"]
    assert [(c.row, c.written, c.taken) for c in totals] == [(3, "256.00", "128.00")]


def _pinduoduo_orders(*orders: tuple[str, str, str]) -> bytes:
    """The Pinduoduo sample's masked buyer (钱多多, 135****4444) with an order of each (order number, order
    time, street address), as its export gives them: no buyer ID, the phone masked."""
    header, _first, second, *_others = (SAMPLES / "pdd_orders.csv").read_text(encoding="utf-8").splitlines()
    cells = next(csv.reader([second]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(next(csv.reader([header])))
    for number, at, street in orders:
        cells[1], cells[16], cells[15] = number, at, street
        writer.writerow(cells)
    return out.getvalue().encode("gb18030")


def test_a_masked_buyer_ordering_again_at_the_same_address_is_the_same_customer(owner):
    # Pinduoduo masks the buyer's phone and gives no buyer ID: the name and the parcel's address are all
    # there is. Taken for a new customer each time, a repeat buyer was never a repeat buyer.
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    # given: last week's export, in which she ordered twice
    first = run_import(
        owner,
        _pinduoduo_orders(
            ("240306-1", "2024-03-06 08:00:00", "解放大道 100 号"),
            ("240306-2", "2024-03-06 09:00:00", "解放大道 100 号"),
        ),
        store=store,
    )
    assert counts(first) == (2, 0, 0, 0), import_rejected_rows(first)

    # when: this week's gives both again and a new order of hers, at the same street written without
    # spaces, and one of another 钱多多 at another address
    later = run_import(
        owner,
        _pinduoduo_orders(
            ("240306-1", "2024-03-06 08:00:00", "解放大道 100 号"),
            ("240306-2", "2024-03-06 09:00:00", "解放大道 100 号"),
            ("240313-3", "2024-03-13 10:00:00", "解放大道100号"),
            ("240313-4", "2024-03-13 11:00:00", "中山大道 1 号"),
        ),
        store=store,
    )

    # then: her three orders are one customer's, the other 钱多多 is another customer
    assert counts(later) == (2, 0, 2, 0), import_rejected_rows(later)
    buyers = dict(Order.objects.values_list("order_no", "customer_id"))
    assert buyers["240306-1"] == buyers["240306-2"] == buyers["240313-3"] != buyers["240313-4"]
    assert Customer.objects.count() == 2
    assert Customer.objects.get(pk=buyers["240306-1"]).order_count == 3


def test_an_order_signed_for_whose_buyer_confirmed_receipt_is_completed_at_that_time(owner):
    # Pinduoduo's status stays 已签收 once the buyer confirmed receipt; its 确认收货时间 says when. Taken
    # at its status, the order was left signed for (at the shipping time) and the completion dropped.
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    header = "订单号,订单状态,订单成交时间,支付时间,发货时间,确认收货时间,收货人,手机,商品,商品总价(元),"
    header += "用户实付金额(元)"
    row = "240105-1,已签收,2024/1/5 13:05,2024/1/5 13:06,2024/1/6 10:00,2024/1/9 18:30,赵敏,"
    row += "13500003333,面霜,199,199"

    run = run_import(owner, f"{header}\n{row}\n".encode("gb18030"), store=store)

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get()
    completed = timezone.make_aware(datetime(2024, 1, 9, 18, 30))
    assert (order.status, order.completed_at) == (OrderStatus.COMPLETED, completed)
    [said] = [c for c in import_corrections(run) if c.column == "订单状态"]
    assert (said.written, "确认收货时间" in said.reason) == ("已签收", True)


def test_a_masked_buyer_is_the_customer_whose_address_was_typed_in_full_width_digits(owner):
    # The customer's page keeps an address as typed, and a Chinese keyboard in full-width mode types
    # １００; the sheet's cells are read folded (100). The same street, so the same buyer.
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    street = AddressInput(
        province="湖北省", city="武汉市", district="江汉区", detail="解放大道１００号", is_default=True
    )
    known = customer_create(actor=owner, data=CustomerInput(name="钱多多", addresses=[street]))

    run = run_import(
        owner, _pinduoduo_orders(("240306-1", "2024-03-06 08:00:00", "解放大道 100 号")), store=store
    )

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.get().customer_id == known.pk and Customer.objects.count() == 1


def test_a_masked_name_tells_no_buyer_apart_at_one_address(owner):
    # 王** at a family's address is any of them: two orders, two customers, as with nothing to match on.
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    sheet = _pinduoduo_orders(
        ("240306-1", "2024-03-06 08:00:00", "解放大道 100 号"),
        ("240306-2", "2024-03-06 09:00:00", "解放大道 100 号"),
    )

    run = run_import(owner, sheet.decode("gb18030").replace("钱多多", "钱**").encode("gb18030"), store=store)

    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    assert Customer.objects.count() == 2


def _with_masked_phones(sheet: bytes, *phones: str) -> bytes:
    """``sheet`` (``_pinduoduo_orders``) with each order's masked phone (135****4444) in turn ``phones``."""
    header, *rows = sheet.decode("gb18030").splitlines()
    rows = [row.replace("135****4444", phone) for row, phone in zip(rows, phones, strict=True)]
    return "\n".join([header, *rows, ""]).encode("gb18030")


def test_masked_phones_ending_differently_tell_two_buyers_of_one_name_at_one_street_apart(owner):
    # Two 钱多多 collecting at one campus parcel station: the name and the street are the same, the four
    # digits Pinduoduo leaves of each phone are not. Taken for one buyer, one's orders were the other's.
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    sheet = _pinduoduo_orders(
        ("240306-1", "2024-03-06 08:00:00", "解放大道 100 号"),
        ("240306-2", "2024-03-06 09:00:00", "解放大道 100 号"),
        ("240306-3", "2024-03-06 10:00:00", "解放大道 100 号"),
    )

    run = run_import(
        owner, _with_masked_phones(sheet, "135****4444", "139****1234", "135****4444"), store=store
    )

    assert counts(run) == (3, 0, 0, 0), import_rejected_rows(run)
    buyers = dict(Order.objects.values_list("order_no", "customer_id"))
    assert buyers["240306-1"] == buyers["240306-3"] != buyers["240306-2"]
    assert Customer.objects.count() == 2


def test_a_masked_phone_is_not_the_customer_at_that_street_whose_phone_ends_otherwise(owner):
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    street = AddressInput(province="湖北省", city="武汉市", district="江汉区", detail="解放大道100号")
    other = customer_create(
        actor=owner,
        data=CustomerInput(name="钱多多", phones=[PhoneInput(number="13800001111")], addresses=[street]),
    )
    sheet = _pinduoduo_orders(
        ("240306-1", "2024-03-06 08:00:00", "解放大道 100 号"),
        ("240306-2", "2024-03-06 09:00:00", "解放大道 100 号"),
    )

    run = run_import(owner, _with_masked_phones(sheet, "135****4444", "138****1111"), store=store)

    # the phone ending 1111 is hers; the one ending 4444 is someone else's, a new customer
    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    buyers = dict(Order.objects.values_list("order_no", "customer_id"))
    assert buyers["240306-2"] == other.pk != buyers["240306-1"]
    assert Customer.objects.count() == 2


def test_a_masked_street_address_tells_no_buyer_apart(owner):
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")

    run = run_import(
        owner,
        _pinduoduo_orders(
            ("240306-1", "2024-03-06 08:00:00", "****"), ("240306-2", "2024-03-06 09:00:00", "****")
        ),
        store=store,
    )

    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    assert Customer.objects.count() == 2


def test_an_item_total_that_does_not_share_out_to_the_fen_asks_for_the_unit_price(owner):
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")

    run = run_import(owner, _pinduoduo_sheet(quantity="3", goods_total="100.00", paid="100.00"), store=store)

    assert counts(run) == (1, 0, 0, 1)
    [(number, _cells, problems)] = _with_problems(import_rejected_rows(run))
    assert number == 3
    assert [(p.column, p.value) for p in problems] == [("商品总价(元)", "100.00")]
    assert "unit price" in problems[0].reason


def test_a_line_without_a_price_is_the_one_problem_named_not_an_amount_paid_beyond_nothing(owner):
    # An item the catalogue does not know, in a sheet with no price: the order's amount due cannot be
    # worked out, so the amount paid is not said to be more than ¥0.00 beside it.
    from kebu.orders.models import Store

    store = Store.objects.create(name="拼多多店", platform="pinduoduo")
    sheet = _pinduoduo_sheet(quantity="1", goods_total="128.00", paid="128.00")
    sheet = sheet.replace("商品总价(元)".encode("gb18030"), "商品原价备注".encode("gb18030"))

    run = run_import(owner, sheet, store=store)

    assert counts(run) == (0, 0, 0, 2)
    assert [[p.reason for p in problems] for _n, _c, problems in import_rejected_rows(run)] == [
        ["Enter the unit price."],
        ["Enter the unit price."],
    ]


def test_a_status_written_with_a_full_width_comma_is_read_without_a_correction_of_its_text(owner, shop):
    # Pinduoduo's 已发货，待签收: the status is taken (shipped), not the text, so there is no text of it
    # to say was changed (a "full-width letters or digits" correction of a comma).
    run = run_import(owner, (SAMPLES / "pdd_orders.csv").read_bytes(), store=shop.store)

    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.get(order_no="240306-987654321").status == OrderStatus.SHIPPED
    assert [c for c in import_corrections(run) if c.column == "订单状态"] == []


def test_a_marketplaces_delivery_column_is_read_in_its_own_words(owner):
    from kebu.orders.models import Store

    make_catalogue(actor=owner)
    store = Store.objects.create(name="有赞店", platform="youzan")

    run = run_import(owner, (SAMPLES / "youzan_orders.csv").read_bytes(), store=store)

    # 配送方式: 快递发货 is a parcel, 到店自提 a pick-up, and each is listed as taken as Kebu's word
    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    assert dict(Order.objects.filter(store=store).values_list("order_no", "delivery_method")) == {
        "E20240310000001": "express",
        "E20240311000002": "pickup",
    }
    assert [(c.row, c.column, c.written, c.taken) for c in import_corrections(run)] == [
        (2, "配送方式", "快递发货", "Express parcel"),
        (3, "配送方式", "到店自提", "Pick-up"),
    ]


def test_a_name_split_in_two_columns_is_joined_as_it_is_written(owner):
    from kebu.orders.models import Store

    make_catalogue(actor=owner)
    store = Store.objects.create(name="WooCommerce 店", platform="woocommerce")
    run_import(owner, (SAMPLES / "woocommerce_orders.csv").read_bytes(), store=store)
    # given name 慧 and family name 陈 are one Chinese name, family name first; Na + Li stays Western
    assert Order.objects.get(store=store, order_no="3001").customer.name == "陈慧"
    assert Order.objects.get(store=store, order_no="3002").receiver_name == "Na Li"


def test_an_order_the_services_refuse_is_rejected_alone_and_its_buyers_next_order_still_imports(owner, shop):
    header = TAOBAO.decode("utf-8").splitlines()[0]
    data = "\n".join(
        [
            header,
            # paid before it was ordered: refused by order_create, after its new buyer was made
            "A1,tb_zhao,199.00,交易成功,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-05 10:00:00,"
            "2024-01-04 10:00:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
            "A2,tb_zhao,199.00,交易成功,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-06 10:00:00,"
            "2024-01-06 10:01:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
        ]
    ).encode()

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (1, 0, 0, 1)
    assert list(Order.objects.values_list("order_no", flat=True)) == ["A2"]
    assert Customer.objects.get(name="赵六").order_count == 1


def test_undo_puts_back_the_stage_the_import_moved_a_known_buyer_to(owner, owner_client, shop):
    from kebu.customers.models import CustomerEvent

    lihua = customer_create(
        actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")])
    )
    run = run_import(owner, TAOBAO, store=shop.store)
    lihua.refresh_from_db()
    assert (lihua.stage, lihua.order_count) == ("new", 1)

    import_undo(actor=owner, run=run)

    lihua.refresh_from_db()
    assert (lihua.stage, lihua.order_count) == ("lead", 0)
    event = CustomerEvent.objects.filter(customer=lihua).latest("pk")
    assert (event.kind, event.actor, event.data) == (
        "customer.import_undone",
        owner,
        {"import": run.pk, "from": "new", "to": "lead", "auto": False},
    )
    page = owner_client.get(reverse("customers:detail", args=[lihua.pk])).content.decode()
    assert f"第 {run.pk} 次导入已撤销：阶段从“新客”改回“潜在客户”" in page


def test_undo_leaves_the_stage_of_a_buyer_changed_since_the_import(owner, shop):
    lihua = customer_create(
        actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")])
    )
    run = run_import(owner, TAOBAO, store=shop.store)
    Customer.objects.filter(pk=lihua.pk).update(notes="后来补的备注", version=F("version") + 1)

    import_undo(actor=owner, run=run)

    lihua.refresh_from_db()
    assert (lihua.stage, lihua.order_count) == ("new", 0)  # later work keeps the stage it left


def test_undo_keeps_a_buyer_the_import_made_when_someone_has_changed_them_since(owner, shop):
    run = run_import(owner, TAOBAO, store=shop.store)
    wang = Customer.objects.get(name="王五")
    Customer.objects.filter(pk=wang.pk).update(notes="后来补的备注", version=wang.version + 1)

    with pytest.raises(Conflict, match="2024010512348"):
        import_undo(actor=owner, run=run)
    assert Customer.objects.filter(pk=wang.pk).exists()


def test_a_buyers_phone_or_address_kebu_cannot_take_is_left_out_not_the_order(owner, owner_client, shop):
    header = TAOBAO.decode("utf-8").splitlines()[0]
    data = "\n".join(
        [
            header,
            # a marketplace's virtual number with an extension, an address without its province
            "B1,tb_sun,199.00,交易成功,,孙七,南山区科苑路15号,17012345678-1234,2024-01-05 10:00:00,"
            "2024-01-05 10:01:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
        ]
    ).encode()

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    sun = Customer.objects.get(name="孙七")
    assert sun.primary_phone == "" and not sun.addresses.exists() and sun.order_count == 1
    detail = json.loads(run.journal.get().detail)
    assert {column for column, _value, _reason in detail["left_out"]} == {"收货地址", "联系手机"}
    # and the import's page says so, with the cells and why
    run.refresh_from_db()
    assert run.noted == 1
    page = owner_client.get(reverse("transfer:detail", args=[run.pk]), HTTP_ACCEPT_LANGUAGE="en")
    page = page.content.decode()
    notes = page[page.index('id="import-notes"') :]
    assert "1 row" in notes and "17012345678-1234" in notes and "南山区科苑路15号" in notes


# A sheet as Kebu's own export names the buyer (客户编号, 客户) beside the parcel's receiver, with a buyer ID
# column as a marketplace's has: a hand-made one, or Kebu's export with a column added.
OWN = (
    "店铺,订单号,客户编号,客户,买家会员名,订单状态,下单时间,付款时间,商品,数量,单价,实付金额,"
    "收货人,收货人电话,详细地址"
)


def _own(store, number: str, *, customer_no="", customer="", account="", receiver="", phone="", address=""):
    """A row of ``OWN``: a paid order of one 199.00 cream."""
    buyer = f"{customer_no},{customer},{account}"
    paid = "已付款,2024-01-05 10:00:00,2024-01-05 10:01:00,玻尿酸面霜,1,199.00,199.00"
    return f"{store.name},{number},{buyer},{paid},{receiver},{phone},{address}"


def test_an_all_or_nothing_refusal_counts_the_good_rows_it_held_back_with_every_line_of_a_bad_order(
    owner, shop
):
    # given an order of two lines whose buyer no one is (a customer number alone), and two good orders
    data = "\n".join(
        [
            OWN,
            _own(shop.store, "K1", customer_no="C999999"),
            _own(shop.store, "K1", customer_no="C999999"),
            _own(shop.store, "K2", customer="张三", phone="13812345678"),
            _own(shop.store, "K3", customer="李四", phone="13900001111"),
        ]
    ).encode()

    run = run_all_or_nothing(owner, data, store=shop.store)

    # then the bad order is counted as one, its two lines are not among the good rows, and the good
    # orders' rows are said to be held back
    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    assert import_refusal_text(run) == (
        "1 order has problems, so the other 2 good rows were not imported either (all or nothing)."
    )


@pytest.mark.parametrize("key", ["customer number", "buyer ID"])
def test_an_order_whose_buyer_the_sheet_knows_by_a_key_alone_is_theirs_sent_to_no_one(owner, shop, key):
    # given a customer with a default address and a Taobao account
    known = customer_create(
        actor=owner,
        data=CustomerInput(
            name="王小明",
            phones=[PhoneInput(number="13812345678")],
            addresses=[
                AddressInput(
                    province="浙江省", city="杭州市", district="西湖区", detail="文三路1号", is_default=True
                )
            ],
            socials=[SocialInput(kind=SocialKind.TAOBAO, handle="tb_xiaoming")],
        ),
    )
    # when a sheet names them by it alone: no name, no receiver, no phone, no address (taken away)
    by = {"customer_no": known.customer_no} if key == "customer number" else {"account": "tb_xiaoming"}
    data = "\n".join([OWN, _own(shop.store, "K1", **by)]).encode()
    run = run_import(owner, data, store=shop.store)
    # then the order is theirs, sent to no one as the sheet says (not to their default address), and the
    # same sheet again changes nothing
    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="K1")
    assert order.customer == known and Customer.objects.count() == 1
    assert (order.receiver_name, order.receiver_phone, order.ship_province, order.ship_address) == ("",) * 4
    assert counts(run_import(owner, data, store=shop.store)) == (0, 0, 1, 0)


def test_a_new_buyer_needs_a_name_or_a_phone_and_the_report_says_which_column_to_fill_in(owner, shop):
    from kebu.transfer.customers import Problem

    # given orders whose buyers no customer has: by a customer number or a buyer ID alone, and by a
    # customer number with the receiver's name
    data = "\n".join(
        [
            OWN,
            _own(shop.store, "K1", customer_no="C999999"),
            _own(shop.store, "K2", account="tb_nobody"),
            _own(shop.store, "K3", customer_no="C888888", receiver="张三"),
        ]
    ).encode()
    run = run_import(owner, data, store=shop.store)
    # then the first two are refused on the cell of the buyer's name, each naming the columns that would
    # do, and the third makes its buyer, named by the receiver
    assert counts(run) == (1, 0, 0, 2)
    fill = "a new customer needs a name or a phone: fill in 客户, 收货人, 收货人电话."
    assert [problems for _row, _cells, problems in import_rejected_rows(run)] == [
        [Problem(2, "客户", "", f"No customer has the customer number C999999, and {fill}")],
        [Problem(3, "客户", "", f"No customer has this buyer's account or email, and {fill}")],
    ]
    assert Customer.objects.get().name == "张三"
    assert Order.objects.get().customer.customer_no == "C888888"


def test_a_new_buyer_is_named_as_the_customer_and_their_address_as_the_parcels_receiver(owner, shop):
    # given Kebu's own export of an order sent as a gift, and of one whose customer's name is blank
    data = "\n".join(
        [
            OWN,
            _own(
                shop.store,
                "K1",
                customer_no="C000100",
                customer="王小明",
                receiver="张三",
                phone="13900001111",
                address="浙江省 杭州市 西湖区 文三路1号",
            ),
            _own(shop.store, "K2", customer_no="C000200", receiver="李四", phone="13700002222"),
        ]
    ).encode()
    # when it is imported into a shop without them
    run = run_import(owner, data, store=shop.store)
    # then the buyer is the customer, their address the one the gift went to, to whom it went; the
    # receiver names a buyer whose customer's name the sheet leaves blank
    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    wang = Customer.objects.get(customer_no="C000100")
    assert wang.name == "王小明"
    assert list(wang.addresses.values_list("receiver", "detail")) == [("张三", "文三路1号")]
    assert Order.objects.get(order_no="K1").receiver_name == "张三"
    assert Customer.objects.get(customer_no="C000200").name == "李四"


def test_an_order_whose_rows_are_apart_is_refused_naming_the_rows_and_loses_no_line(owner, shop, settings):
    # given order …345 with one line at the top and another at the bottom, and a batch of one order at
    # a time, so the first line would be imported before the second is seen
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    header, first, second, *_rest = TAOBAO.decode("utf-8").splitlines()
    again = first.replace("玻尿酸面霜,2,CREAM-50,199.00", "爽肤水,1,TONER-100,89.50")
    data = "\n".join([header, first, second, again]).encode()
    # when the sheet is checked and then imported
    from kebu.transfer.orders import order_file_check

    check = order_file_check(data, store=shop.store)
    run = run_import(owner, data, store=shop.store)
    # then the split order is refused, in the check and the import alike, naming where it comes again,
    # and the other order is imported
    reasons = [p.reason for _row, _cells, problems in check.bad for p in problems]
    assert any("2024010512345" in r and "row 4" in r for r in reasons), reasons
    assert counts(run) == (1, 0, 0, 2)
    assert not Order.objects.filter(order_no="2024010512345").exists()
    assert Order.objects.filter(order_no="2024010512346").exists()


def test_an_amount_whose_formula_gives_an_error_is_the_orders_problem_not_a_blank_amount(owner, shop):
    from kebu.transfer.customers import Problem
    from kebu.transfer.orders import order_file_check

    rows = csv_rows(TAOBAO)
    rows[1][rows[0].index("买家实际支付金额")] = "#VALUE!"

    check = order_file_check(xlsx_with_formula_errors(rows), store=shop.store)

    reason = "The cell's formula gives an error (#VALUE!): fix it in the sheet and import again."
    assert [problems for _n, _cells, problems in check.bad] == [
        [Problem(2, "买家实际支付金额", "#VALUE!", reason)]
    ]


# --- a batch written together ----------------------------------------------------------------------


def _sheet(
    *rows: str,
    refunds: dict[str, str] | None = None,
    line_refunds: dict[tuple[str, str], str] | None = None,
    line_returns: dict[tuple[str, str], str] | None = None,
) -> bytes:
    """The sample's header over ``rows``; with a 退款金额 column (``_with_refunds``) when ``refunds`` is
    given, a 商品退款金额 column (``_with_line_refunds``) when ``line_refunds`` is, and a 退货数量 column
    (``_with_line_returns``) when ``line_returns`` is."""
    data = "\n".join([TAOBAO.decode("utf-8").splitlines()[0], *rows]).encode()
    data = data if refunds is None else _with_refunds(data, refunds)
    data = data if line_refunds is None else _with_line_refunds(data, line_refunds)
    return data if line_returns is None else _with_line_returns(data, line_returns)


def _with_refunds(data: bytes, refunds: dict[str, str], header: str = "退款金额") -> bytes:
    """``data`` with Taobao's 退款金额 column, filled on every row of the orders ``refunds`` names (an
    export repeats an order's fields on each of its lines), blank for the others."""
    lines = data.decode("utf-8").splitlines()
    rows = [f"{lines[0]},{header}"]
    rows += [f"{line},{refunds.get(line.split(',')[0], '')}" for line in lines[1:]]
    return "\n".join(rows).encode()


def _with_line_refunds(
    data: bytes, refunds: dict[tuple[str, str], str], header: str = "商品退款金额"
) -> bytes:
    """``data`` with a column of what was refunded of each line (Kebu's own export has one), filled on
    the rows ``refunds`` names by order number and SKU code, blank on the others."""
    lines = data.decode("utf-8").splitlines()
    code = lines[0].split(",").index("商家编码")
    rows = [f"{lines[0]},{header}"]
    rows += [f"{line},{refunds.get((line.split(',')[0], line.split(',')[code]), '')}" for line in lines[1:]]
    return "\n".join(rows).encode()


def _with_line_returns(data: bytes, returns: dict[tuple[str, str], str]) -> bytes:
    """``data`` with a 退货数量 column (Kebu's own export's Line returned; a marketplace's): how many of
    each line came back, on the rows ``returns`` names by order number and SKU code, blank on the others."""
    return _with_line_refunds(data, returns, header="退货数量")


# Buyers who come back within the batch, a new buyer whose first order is refused, a buyer known by
# phone, one without any key (a new customer each time), an order of two lines, SKUs with and without a
# category, an unpaid order, one ordered in the future, orders closed after payment (refunded in full,
# between others of their buyer's, and a new buyer's) and before it, and amounts refunded (退款金额): in
# part, in full on a shipped order, more than paid, and more than the amount due of an order whose amount
# paid is blank (known only once it is checked); what was refunded of each line (商品退款金额): one
# line of two, and more than a line; and how many of a line came back (退货数量): with what was refunded
# of each line (the other line refunded too), without it, and more than were bought; closed after
# payment with a line back and no line refunds (the rest spread over the lines), closed with only its
# lines' refunds (in full, the rest spread), every line refunded 0 beside an order refund (spread), and
# a line refund of an unpaid order (refused on its cell).
MIXED = _sheet(
    "B1,tb_zhao,199.00,交易成功,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-05 10:00:00,"
    "2024-01-04 10:00:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
    "B2,tb_zhao,199.00,交易成功,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-06 10:00:00,"
    "2024-01-06 10:01:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
    "B2C,tb_zhao,199.00,交易关闭,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-06 11:00:00,"
    "2024-01-06 11:01:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
    "B2R,tb_zhao,199.00,交易成功,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-06 11:30:00,"
    "2024-01-06 11:31:00,玻尿酸面霜,1,CREAM-50,199.00,,,,0",
    "B3C,tb_qian,128.00,交易关闭,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-06 12:00:00,"
    ",明前龙井,1,TEA-250,128.00,,,,0",
    "B3,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3L,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 10:00:00,"
    "2024-01-07 10:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3L,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 10:00:00,"
    "2024-01-07 10:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3X,tb_qian,89.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 11:00:00,"
    "2024-01-07 11:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3K,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 12:00:00,"
    "2024-01-07 12:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3K,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 12:00:00,"
    "2024-01-07 12:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3T,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 13:00:00,"
    "2024-01-07 13:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3T,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 13:00:00,"
    "2024-01-07 13:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3Y,tb_qian,89.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 14:00:00,"
    "2024-01-07 14:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3Z,tb_qian,217.50,交易关闭,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 15:00:00,"
    "2024-01-07 15:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3Z,tb_qian,217.50,交易关闭,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 15:00:00,"
    "2024-01-07 15:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3Q,tb_qian,217.50,交易关闭,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 16:00:00,"
    "2024-01-07 16:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3Q,tb_qian,217.50,交易关闭,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 16:00:00,"
    "2024-01-07 16:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3O,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 17:00:00,"
    "2024-01-07 17:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "B3O,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 17:00:00,"
    "2024-01-07 17:05:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B3P,tb_qian,89.50,等待买家付款,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 18:00:00,"
    ",爽肤水,1,TONER-100,89.50,,,,0",
    "B3R,tb_qian,217.50,卖家已发货,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-08 09:00:00,"
    "2024-01-08 09:05:00,爽肤水,1,TONER-100,89.50,顺丰,SF3,,0",
    "B3R,tb_qian,217.50,卖家已发货,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-08 09:00:00,"
    "2024-01-08 09:05:00,明前龙井,1,TEA-250,128.00,顺丰,SF3,,0",
    "B4,tb_zhao,1200.00,卖家已发货,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-02-01 20:00:00,"
    "2024-02-01 20:01:00,定制礼盒,1,,1200.00,顺丰,SF100,,0",
    "B5,,55.00,等待买家付款,,孙八,北京市朝阳区建国路1号,,2024-02-03 08:00:00,,手写商品,1,,55,,,,0",
    "B6,,66.00,交易成功,,孙八,北京市朝阳区建国路1号,,2024-02-04 08:00:00,2024-02-04 08:00:00,"
    "手写商品,1,,66,,,,0",
    "B7,tb_qian,128.00,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-03-01 09:00:00,"
    "2024-03-01 09:00:00,明前龙井,1,TEA-250,128.00,,,,0",
    "B7C,tb_zhou,217.50,交易关闭,,周九,江苏省 南京市 鼓楼区 中山路1号,13622223333,2024-03-02 09:00:00,"
    "2024-03-02 09:01:00,爽肤水,1,TONER-100,89.50,顺丰,SF7,,0",
    "B7C,tb_zhou,217.50,交易关闭,,周九,江苏省 南京市 鼓楼区 中山路1号,13622223333,2024-03-02 09:00:00,"
    "2024-03-02 09:01:00,明前龙井,1,TEA-250,128.00,顺丰,SF7,,0",
    # ordered in the future: refused
    "B8,tb_li,128.00,交易成功,,李雷,,13700002222,2099-03-01 09:00:00,2099-03-01 09:00:00,"
    "明前龙井,1,TEA-250,128.00,,,,0",
    "B9,tb_wu,128.00,交易成功,,吴十,,13700003333,2024-03-03 09:00:00,2024-03-03 09:00:00,"
    "明前龙井,1,TEA-250,128.00,,,,0",
    "B9X,tb_zhou,,交易成功,,周九,江苏省 南京市 鼓楼区 中山路1号,13622223333,2024-03-04 09:00:00,"
    "2024-03-04 09:00:00,明前龙井,1,TEA-250,128.00,,,,0",
    refunds={
        "B2C": "199.00",
        "B2R": "20.00",
        "B3K": "138.00",
        "B3T": "128.00",
        "B3Y": "89.50",
        "B3R": "217.50",
        "B3O": "100.00",
        "B9": "300.00",
        "B9X": "200.00",
    },
    line_refunds={
        ("B3L", "TEA-250"): "128.00",
        ("B3X", "TONER-100"): "90.00",
        ("B3K", "TEA-250"): "128.00",
        ("B3K", "TONER-100"): "10.00",
        ("B3Q", "TEA-250"): "128.00",
        ("B3O", "TONER-100"): "0",
        ("B3O", "TEA-250"): "0.00",
        ("B3P", "TONER-100"): "89.50",
    },
    line_returns={
        ("B3K", "TEA-250"): "1",
        ("B3T", "TEA-250"): "1",
        ("B3Y", "TONER-100"): "2",
        ("B3Z", "TEA-250"): "1",
    },
)


def _import_state(run: Import) -> dict:
    """What an import leaves, named by order and customer numbers (ids are not rolled back on
    PostgreSQL)."""
    import re

    from kebu.audit.models import AuditEntry
    from kebu.customers.models import CustomerEvent
    from kebu.orders.models import AfterSale, AfterSaleLine, CustomerCategorySpend, OrderLine
    from kebu.orders.services.metrics import FIGURE_FIELDS

    numbers = dict(Order.objects.values_list("pk", "order_no"))
    refunds = dict(AfterSale.objects.values_list("pk", "order__order_no"))  # an after-sale by its order
    named = {"order": numbers, "aftersale": refunds}
    return {
        "counts": counts(run),
        "orders": list(
            Order.objects.order_by("order_no").values_list(
                "order_no",
                "customer__customer_no",
                "status",
                "paid_cny",
                "refunded_cny",
                "ordered_at",
                "closed_at",
                "receiver_name",
                "version",
            )
        ),
        "aftersales": list(
            AfterSale.objects.order_by("order__order_no").values_list(
                "order__order_no",
                "kind",
                "status",
                "reason_detail",
                "amount_cny",
                "requested_at",
                "resolved_at",
            )
        ),
        "lines": list(
            OrderLine.objects.order_by("order__order_no", "position").values_list(
                "order__order_no",
                "customer__customer_no",
                "counted",
                "title",
                "amount_cny",
                "returned_quantity",
                "refunded_cny",
                "root_category_id",
            )
        ),
        "aftersale_lines": sorted(
            AfterSaleLine.objects.values_list(
                "aftersale__order__order_no", "line__position", "quantity", "amount_cny"
            )
        ),
        "customers": list(
            Customer.objects.order_by("customer_no").values_list(
                "customer_no", "name", "version", *FIGURE_FIELDS
            )
        ),
        "phones": sorted(Customer.objects.values_list("customer_no", "phones__number")),
        "spend": sorted(
            CustomerCategorySpend.objects.values_list("customer__customer_no", "category_id", "spent_cny")
        ),
        # Each customer's timeline, in its order (the batch makes its new buyers first, so events of
        # different customers interleave otherwise).
        "events": list(
            CustomerEvent.objects.order_by("customer__customer_no", "pk").values_list(
                "customer__customer_no", "kind", "data"
            )
        ),
        "audit": [
            (e.action, re.sub(r"#\d+", "#", e.target_repr), e.data)
            for e in AuditEntry.objects.order_by("seq")
        ],
        "journal": [
            (
                r.row,
                r.action,
                r.noted,
                r.customer.customer_no if r.customer else None,
                r.version,
                {k: named[k].get(v) if k in named else v for k, v in json.loads(r.detail).items()},
            )
            for r in run.journal.select_related("customer").order_by("row")
        ],
    }


def test_a_batch_written_together_leaves_what_its_orders_one_by_one_leave(owner, shop):
    from kebu.transfer.orders import _orders_one_by_one, _orders_together, order_groups, order_headers_match
    from kebu.transfer.orders import orders_read as read
    from kebu.transfer.readers import table_read

    customer_create(actor=owner, data=CustomerInput(name="钱七", phones=[PhoneInput(number="13900001111")]))
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=MIXED,
            file_name="orders.csv",
            kind=ImportKind.ORDERS,
            store=shop.store,
            enqueue=False,
        )
    table = table_read(MIXED)
    mapping = order_headers_match(table.headers)
    groups = list(order_groups(table.rows, mapping))

    def outcome(write) -> dict:
        run.created = run.updated = run.unchanged = run.rejected = run.noted = 0
        ImportRow.objects.bulk_create(write(run, read(run, groups, mapping=mapping)))
        return _import_state(run)

    class RolledBack(Exception):
        pass

    try:
        with transaction.atomic():
            one_by_one = outcome(_orders_one_by_one)
            raise RolledBack
    except RolledBack:
        pass
    together = outcome(_orders_together)

    assert together == one_by_one
    # B1 (paid before it was ordered), B8, B9 and B9X (refunded more than paid), B3X (its line refunded
    # more than it is), B3Y (more of its line returned than bought), B3P (unpaid, a line refunded) refused
    assert together["counts"] == (17, 0, 0, 7)
    # B1 refused, B2 made them, B2C (refunded in full: counted, nothing spent), B2R (20.00 of it
    # refunded) and B4 found them
    zhao = Customer.objects.get(name="赵六")
    assert (zhao.order_count, zhao.total_spent_cny, zhao.refund_count) == (4, Decimal("1578.00"), 2)
    assert [refund[0] for refund in together["aftersales"]] == [
        "B2C",
        "B2R",
        "B3K",
        "B3L",
        "B3O",
        "B3Q",
        "B3R",
        "B3T",
        "B3Z",
        "B7C",
    ]
    b3l = [line[-2] for line in together["lines"] if line[0] == "B3L"]
    assert b3l == [Decimal("0.00"), Decimal("128.00")]  # the tea's line, not the toner's
    # B3K's and B3T's lines, (returned, refunded): the tea came back with its money, named by the return;
    # B3K's toner was refunded 10.00 of a price difference, not returned
    lines = [(line[0], line[3], *line[-3:-1]) for line in together["lines"] if line[0] in ("B3K", "B3T")]
    assert lines == [
        ("B3K", "爽肤水", 0, Decimal("10.00")),
        ("B3K", "明前龙井", 1, Decimal("128.00")),
        ("B3T", "爽肤水", 0, Decimal("0.00")),
        ("B3T", "明前龙井", 1, Decimal("128.00")),
    ]
    # B3Z and B3Q closed: every line's money back, only the shipping (none here) left with the order;
    # B3O's 100.00 spread over its lines as if its zeros were not there (89.50 : 128.00)
    refunded: dict[str, list[Decimal]] = {}
    for line in together["lines"]:
        refunded.setdefault(line[0], []).append(line[-2])
    assert refunded["B3Z"] == refunded["B3Q"] == [Decimal("89.50"), Decimal("128.00")]
    assert refunded["B3O"] == [Decimal("41.15"), Decimal("58.85")]
    assert together["aftersale_lines"] == [
        ("B3K", 1, 1, Decimal("128.00")),
        ("B3T", 1, 1, Decimal("128.00")),
        ("B3Z", 1, 1, Decimal("128.00")),
    ]
    cells = [(p.column, p.value) for _row, _cells, found in import_rejected_rows(run) for p in found]
    assert ("商品退款金额", "89.50") in cells  # B3P's
    assert Order.objects.get(order_no="B3R").status == OrderStatus.CLOSED  # refunded in full
    # no phone nor buyer ID, but the same name at the same street address: one buyer (orders._address_key)
    assert Customer.objects.filter(name="孙八").count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_an_order_saved_meanwhile_by_someone_else_sends_the_batch_one_by_one(owner, shop, monkeypatch):
    # Another connection saves one of the sheet's orders between the batch's check and its write: the
    # write together meets the unique order number, its savepoint rolls back, and the batch goes order
    # by order, where that order is found already in. (SQLite holds its write lock for the whole batch,
    # so there nobody can.)
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite's in-memory test database cannot run two writers")
    from kebu.orders.services.orders import LineInput, OrderInput, order_create
    from kebu.transfer import orders as transfer_orders

    real = transfer_orders.orders_create_checked
    other = customer_create(actor=owner, data=CustomerInput(name="别的店员的客户"))

    def someone_else() -> None:
        try:
            order_create(
                actor=owner,
                data=OrderInput(
                    customer=other,
                    store=shop.store,
                    lines=[LineInput(title="电话下单", unit_price_cny="1.00")],
                    order_no="2024010512346",
                    status=OrderStatus.PAID,  # as the sheet has it: nothing to move on
                ),
            )
        finally:
            connections.close_all()

    def meanwhile(**kwargs):
        monkeypatch.setattr(transfer_orders, "orders_create_checked", real)
        thread = threading.Thread(target=someone_else)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive()  # it would wait for a lock the batch holds: the test would hang
        return real(**kwargs)

    monkeypatch.setattr(transfer_orders, "orders_create_checked", meanwhile)

    run = run_import(owner, TAOBAO, store=shop.store)

    # That order is found already in, with other lines than the sheet's: refused, saying so, and kept.
    assert counts(run) == (3, 0, 0, 1)
    [(_row, _cells, [problem])] = import_rejected_rows(run)
    assert "2024010512346" in problem.reason and "89.50" in problem.reason, problem.reason
    assert Order.objects.get(order_no="2024010512346").customer == other
    assert Order.objects.count() == 4 and Customer.objects.get(name="王小明").order_count == 2


def test_a_batch_with_an_order_on_credit_is_taken_order_by_order_against_the_limit(owner, shop):
    from kebu.orders.services.credit import customer_credit_set

    buyer = customer_create(
        actor=owner, data=CustomerInput(name="批发王", phones=[PhoneInput(number="13511112222")])
    )
    customer_credit_set(actor=owner, customer=buyer, credit_limit_cny="300.00", payment_terms_days=30)
    data = "\n".join(
        [
            "订单编号,收货人姓名,联系手机,订单创建时间,订单状态,宝贝标题,商家编码,宝贝总数量,价格,支付方式",
            "C1,批发王,13511112222,2024-01-05 10:00:00,交易成功,玻尿酸面霜,CREAM-50,1,199.00,赊账",
            "C2,批发王,13511112222,2024-01-06 10:00:00,已付款,明前龙井,TEA-250,1,128.00,赊账",
            "C3,新买家,13622223333,2024-01-07 10:00:00,已付款,明前龙井,TEA-250,1,128.00,支付宝",
        ]
    ).encode()

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (3, 0, 0, 0), import_rejected_rows(run)
    buyer.refresh_from_db()
    # Past the limit is allowed on import (importing is the shop's confirmation) and owed as it is.
    assert (buyer.order_count, buyer.receivable_cny) == (2, Decimal("327.00"))
    owed = Order.objects.filter(customer=buyer).values_list("credit_outstanding_cny", flat=True)
    assert sorted(owed) == [Decimal("128.00"), Decimal("199.00")]


# --- a newer export moves orders on ---------------------------------------------------------------

# The sample a week later: the unpaid order was paid, the one awaiting shipment went out, the shipped
# one was signed for and completed, and the completed one was closed (a refund, which Kebu does not take
# from a sheet).
LATER = (
    TAOBAO.decode("utf-8")
    .replace("交易成功,请尽快发货", "交易关闭,请尽快发货")
    .replace("89.50,等待卖家发货,,李华", "89.50,卖家已发货,,李华")
    .replace(
        "88号,13900001111,2024-01-06 09:00:00,2024-01-06 09:05:00,爽肤水,1,TONER-100,89.50,,,",
        "88号,13900001111,2024-01-06 09:00:00,2024-01-06 09:05:00,爽肤水,1,TONER-100,89.50,圆通速递,YT2024,",
    )
    .replace("128.00,卖家已发货,,王小明", "128.00,交易成功,,王小明")
    .replace("0,等待买家付款,,王五", "55,买家已付款,,王五")
    .replace("2024-02-03 08:00:00,,不存在的宝贝", "2024-02-03 08:00:00,2024-02-04 09:00:00,不存在的宝贝")
    .encode()
)


def test_a_newer_export_moves_the_orders_it_reports_further_along(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    wang = Customer.objects.get(name="王五")
    assert wang.order_count == 0

    later = run_import(owner, LATER, store=shop.store)

    assert counts(later) == (0, 3, 1, 0), import_rejected_rows(later)
    status = dict(Order.objects.values_list("order_no", "status"))
    assert status == {
        "2024010512345": OrderStatus.COMPLETED,  # closed in the export: a refund, left to after-sales
        "2024010512346": OrderStatus.SHIPPED,
        "2024010512347": OrderStatus.COMPLETED,
        "2024010512348": OrderStatus.PAID,
    }
    shipped = Order.objects.get(order_no="2024010512346")
    assert (shipped.carrier, shipped.tracking_no) == ("圆通速递", "YT2024")
    wang.refresh_from_db()
    assert (wang.order_count, wang.total_spent_cny) == (1, Decimal("55.00"))  # paid: it counts now
    assert Order.objects.get(order_no="2024010512348").lines.get().counted

    again = run_import(owner, LATER, store=shop.store)
    assert counts(again) == (0, 0, 4, 0)


def test_a_paid_order_the_export_reports_closed_is_left_as_it_is_with_a_note(
    owner, owner_client, shop, tmp_path
):
    run_import(owner, TAOBAO, store=shop.store)
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(LATER)
    out = io.StringIO()

    call_command("import", str(path), kind="orders", store=shop.store.name, stdout=out)

    later = Import.objects.latest("pk")
    assert (counts(later), later.noted) == ((0, 3, 1, 0), 1)
    assert Order.objects.get(order_no="2024010512345").status == OrderStatus.COMPLETED
    [note] = import_notes(later, limit=10)
    assert (note.row, note.column, note.value) == (2, "订单状态", "交易关闭")
    assert "2024010512345" in note.reason and "after-sale" in note.reason
    assert "1 with notes" in out.getvalue() and "row 2, 订单状态 “交易关闭”" in out.getvalue()
    page = owner_client.get(reverse("transfer:detail", args=[later.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans")
    page = page.content.decode()
    notes = page[page.index('id="import-notes"') :]
    assert "有备注：1 行" in notes and "交易关闭" in notes and "after-sale" in notes  # the note, as written
    # The note changed nothing, so undo has nothing of it to put back; the moves it does undo.
    assert import_undo(actor=owner, run=later).undone_at is not None
    assert Order.objects.get(order_no="2024010512345").status == OrderStatus.COMPLETED
    assert Order.objects.get(order_no="2024010512346").status == OrderStatus.PAID
    # Once the refund is recorded (refunded in full, the order closes), the export agrees: no note.
    Order.objects.filter(order_no="2024010512345").update(status=OrderStatus.CLOSED)
    agreed = run_import(owner, LATER, store=shop.store)
    assert (counts(agreed), agreed.noted) == ((0, 3, 1, 0), 0)


# The sample with the times a marketplace gives for the later steps (发货时间 and 确认收货时间 on Taobao).
def _with_times(data: bytes, times: dict[str, tuple[str, str]]) -> bytes:
    """``data`` with 发货时间 and 确认收货时间 columns, filled for the orders ``times`` names."""
    lines = data.decode("utf-8").splitlines()
    rows = [lines[0] + ",发货时间,确认收货时间"]
    rows += [line + ",{},{}".format(*times.get(line.split(",")[0], ("", ""))) for line in lines[1:]]
    return "\n".join(rows).encode()


def test_the_times_an_export_gives_for_shipping_and_completion_are_kept(owner, shop):
    data = _with_times(TAOBAO, {"2024010512345": ("2024-01-06 08:00:00", "2024-01-12 18:30:00")})

    run = run_import(owner, data, store=shop.store)

    assert counts(run)[0] == 4, import_rejected_rows(run)
    done = Order.objects.get(order_no="2024010512345")
    local = timezone.get_current_timezone()
    assert (done.shipped_at, done.completed_at) == (
        datetime(2024, 1, 6, 8, tzinfo=local),
        datetime(2024, 1, 12, 18, 30, tzinfo=local),
    )
    assert done.delivered_at == done.shipped_at  # signed for: not in the export, no later than completion


def test_a_newer_export_moves_orders_on_at_the_times_it_gives(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    later = _with_times(
        LATER,
        {
            "2024010512346": ("2024-01-07 10:00:00", ""),
            "2024010512347": ("", "2024-02-09 12:00:00"),
            "2024010512348": ("", ""),
        },
    )
    run = run_import(owner, later, store=shop.store)

    assert counts(run) == (0, 3, 1, 0), import_rejected_rows(run)
    local = timezone.get_current_timezone()
    shipped = Order.objects.get(order_no="2024010512346")
    assert shipped.shipped_at == datetime(2024, 1, 7, 10, tzinfo=local)
    completed = Order.objects.get(order_no="2024010512347")
    assert completed.completed_at == completed.delivered_at == datetime(2024, 2, 9, 12, tzinfo=local)
    assert completed.shipped_at == datetime(2024, 2, 1, 20, 1, tzinfo=local)  # as the first import left it
    paid = Order.objects.get(order_no="2024010512348")
    assert paid.paid_at == datetime(2024, 2, 4, 9, tzinfo=local)
    # A completion time before the order was shipped is refused, and says where the order stands.
    wrong = _with_times(LATER, {"2024010512347": ("", "2024-01-01 00:00:00")})
    import_undo(actor=owner, run=run)
    run = run_import(owner, wrong, store=shop.store)
    [(_row, _cells, [problem])] = import_rejected_rows(run)
    assert "2024010512347" in problem.reason and "before the shipping" in problem.reason
    assert Order.objects.get(order_no="2024010512347").status == OrderStatus.SHIPPED


def test_a_step_the_export_gives_no_time_for_is_taken_no_later_than_the_next_one(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    # Paid in Kebu, completed in the export, which gives the completion's time but not the shipping's:
    # shipped "now" would come after it was completed, and be refused.
    later = LATER.decode("utf-8").replace("89.50,卖家已发货,,李华", "89.50,交易成功,,李华").encode()

    run = run_import(
        owner, _with_times(later, {"2024010512346": ("", "2024-01-09 12:00:00")}), store=shop.store
    )

    assert counts(run) == (0, 3, 1, 0), import_rejected_rows(run)
    done = Order.objects.get(order_no="2024010512346")
    moment = datetime(2024, 1, 9, 12, tzinfo=timezone.get_current_timezone())
    assert (done.status, done.shipped_at, done.delivered_at, done.completed_at) == (
        OrderStatus.COMPLETED,
        moment,
        moment,
        moment,
    )


def test_undo_of_a_newer_export_puts_the_orders_back_as_they_were(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    fields = ["order_no", "status", "paid_cny", "paid_at", "payment_method", "shipped_at", "carrier"]
    fields += ["tracking_no", "delivered_at", "completed_at", "cancelled_at", "credit_outstanding_cny"]
    orders_before = list(Order.objects.order_by("order_no").values_list(*fields))
    figures_before = list(Customer.objects.order_by("pk").values_list("pk", "order_count", "total_spent_cny"))
    later = run_import(owner, LATER, store=shop.store)

    import_undo(actor=owner, run=later)

    assert list(Order.objects.order_by("order_no").values_list(*fields)) == orders_before
    assert (
        list(Customer.objects.order_by("pk").values_list("pk", "order_count", "total_spent_cny"))
        == figures_before
    )
    assert not Order.objects.get(order_no="2024010512348").lines.get().counted
    # the newer export paid 王五's order, which made a lead a new customer; undo makes him a lead again
    assert Customer.objects.get(name="王五").stage == "lead"


def test_undo_of_a_newer_export_refuses_when_a_moved_order_was_worked_on_since(owner, shop):
    from kebu.orders.services.orders import order_notes_update

    run_import(owner, TAOBAO, store=shop.store)
    later = run_import(owner, LATER, store=shop.store)
    order_notes_update(actor=owner, order=Order.objects.get(order_no="2024010512346"), seller_notes="加急")

    with pytest.raises(Conflict, match="2024010512346"):
        import_undo(actor=owner, run=later)
    assert Order.objects.get(order_no="2024010512346").status == OrderStatus.SHIPPED


def test_undo_of_a_newer_export_refuses_an_edit_saved_between_its_check_and_its_write(
    owner, shop, monkeypatch
):
    from kebu.orders.services.orders import order_notes_update
    from kebu.transfer import orders as order_import

    run_import(owner, TAOBAO, store=shop.store)
    later = run_import(owner, LATER, store=shop.store)
    checked = order_import.versions_changed_since

    moved = Order.objects.get(order_no="2024010512346")

    def checked_then_edited(**kwargs):
        # A colleague's save lands just after undo read the moved orders' versions (PostgreSQL reads
        # them unlocked)
        found = checked(**kwargs)
        if kwargs["model"] is Order and moved.pk in kwargs["left"]:
            order_notes_update(actor=owner, order=Order.objects.get(pk=moved.pk), seller_notes="加急")
        return found

    monkeypatch.setattr(order_import, "versions_changed_since", checked_then_edited)

    with pytest.raises(Conflict, match="2024010512346"):
        import_undo(actor=owner, run=later)

    # nothing of the undo is written (the colleague's save, made here inside the undo's own transaction,
    # goes with it; in the shop it is a transaction of its own)
    assert Order.objects.get(order_no="2024010512346").status == OrderStatus.SHIPPED
    assert Import.objects.get(pk=later.pk).undone_at is None


def test_an_export_undone_after_the_newer_export_that_moved_its_orders_can_be_undone(owner, shop):
    # given: last week's export, then this week's, which moved three of its orders on
    first = run_import(owner, TAOBAO, store=shop.store)
    later = run_import(owner, LATER, store=shop.store)

    # when: the first is undone before the later one, it names the later one to undo first
    with pytest.raises(Conflict, match=f"import #{later.pk} first"):
        import_undo(actor=owner, run=first)
    import_undo(actor=owner, run=later)
    # then: with the later one undone, its orders are as the first left them, and it can go too
    import_undo(actor=owner, run=first)

    assert not Order.objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize("payment", ["支付宝", "赊账"], ids=["written-together", "order-by-order"])
def test_an_export_undone_after_the_newer_export_that_gave_its_buyer_an_order_can_be_undone(
    owner, shop, payment
):
    # given: last week's export made 王五 with an order awaiting payment; this week's gives him a new,
    # paid order, which moves him up a stage (on credit, the batch is written order by order)
    from kebu.orders.services.credit import customer_credit_set

    first = run_import(owner, TAOBAO, store=shop.store)
    wang = Customer.objects.get(name="王五")
    customer_credit_set(actor=owner, customer=wang, credit_limit_cny="300.00", payment_terms_days=30)
    header = TAOBAO.decode().splitlines()[0] + ",付款方式"
    row = "2024010512349,tb_wang,55,买家已付款,,王五,北京市朝阳区建国路1号,13700002222,2024-02-05 08:00:00,"
    row += f"2024-02-05 08:01:00,不存在的宝贝,1,NOPE-1,55,,,,0,{payment}"
    later = run_import(owner, f"{header}\n{row}\n".encode(), store=shop.store)
    assert counts(later) == (1, 0, 0, 0), import_rejected_rows(later)

    # when: the newer one is undone, then the first
    import_undo(actor=owner, run=later)
    import_undo(actor=owner, run=first)

    # then: 王五 is as the first import left him when its undo looks (his version too), so it goes
    assert not Order.objects.exists() and not Customer.objects.exists()


def test_a_page_read_on_an_undone_exports_order_cannot_save_over_the_next_import(owner, shop):
    from kebu.orders.services.orders import order_notes_update

    # given: 王五's order read as the newer export left it (paid), the export undone and imported again
    run_import(owner, TAOBAO, store=shop.store)
    later = run_import(owner, LATER, store=shop.store)
    read = Order.objects.get(order_no="2024010512348")
    import_undo(actor=owner, run=later)
    run_import(owner, LATER, store=shop.store)

    # when / then: the page's save, with the version it read, is refused
    with pytest.raises(Conflict):
        order_notes_update(actor=owner, order=read, seller_notes="页面上写的", expected_version=read.version)
    assert Order.objects.get(order_no="2024010512348").seller_notes == ""


def test_a_page_read_on_an_undone_exports_buyer_cannot_save_over_the_next_import(owner, shop):
    from kebu.customers.services import customer_input_from, customer_update

    # given: 王五 read as the newer export left him (a new customer, his order paid), the export undone
    # (a lead again) and imported again
    run_import(owner, TAOBAO, store=shop.store)
    later = run_import(owner, LATER, store=shop.store)
    read = Customer.objects.get(name="王五")
    assert read.stage == "new"
    import_undo(actor=owner, run=later)
    run_import(owner, LATER, store=shop.store)

    # when / then: the page's save, with the version it read, is refused
    data = customer_input_from(read)
    data.notes = "页面上写的"
    with pytest.raises(Conflict):
        customer_update(actor=owner, customer=read, data=data, expected_version=read.version)
    assert Customer.objects.get(name="王五").notes == ""


def _customer_notes_import(owner, notes: str) -> Import:
    sheet = f"姓名,手机号码,备注\n李华,13900001111,{notes}\n".encode()
    with transaction.atomic():
        run = customer_import_start(actor=owner, data=sheet, file_name="客户.csv", enqueue=False)
    job_run(run.job_id)
    run.refresh_from_db()
    assert counts(run) == (0, 1, 0, 0), import_rejected_rows(run)
    return run


def test_a_customer_import_is_undone_after_the_order_import_that_moved_its_customer_on_was_undone(
    owner, shop
):
    # given: 李华's notes imported, then an export whose order moves her up a stage
    customer_create(actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")]))
    notes = _customer_notes_import(owner, "老客户")
    orders = run_import(owner, TAOBAO, store=shop.store)
    assert Customer.objects.get(name="李华").stage == "new"

    # when: the export is undone, then the notes
    import_undo(actor=owner, run=orders)
    import_undo(actor=owner, run=notes)

    # then: 李华 is as she was made
    lihua = Customer.objects.get(name="李华")
    assert (lihua.stage, lihua.notes) == ("lead", "")


def test_an_order_import_puts_the_stage_back_after_a_later_customer_import_was_undone(owner, shop):
    # given: an export moved 李华 up a stage, then a customer sheet changed her notes, undone since
    customer_create(actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")]))
    orders = run_import(owner, TAOBAO, store=shop.store)
    import_undo(actor=owner, run=_customer_notes_import(owner, "老客户"))

    # when: the export is undone
    import_undo(actor=owner, run=orders)

    # then: the stage it moved her to goes back, as if the customer sheet had never been
    assert Customer.objects.get(name="李华").stage == "lead"


def test_a_hand_edit_after_the_newer_export_was_undone_still_refuses_the_earlier_undo(owner, shop):
    from kebu.orders.services.orders import order_notes_update

    # given: the newer export undone, then one of the orders it had moved changed by hand
    first = run_import(owner, TAOBAO, store=shop.store)
    later = run_import(owner, LATER, store=shop.store)
    import_undo(actor=owner, run=later)
    order_notes_update(actor=owner, order=Order.objects.get(order_no="2024010512346"), seller_notes="加急")

    # when / then: undoing the first would lose it, and is refused
    with pytest.raises(Conflict, match="2024010512346"):
        import_undo(actor=owner, run=first)
    assert Order.objects.get(order_no="2024010512346").seller_notes == "加急"


def test_a_move_the_services_refuse_is_rejected_saying_where_the_order_stands(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    # Shipped, says the export, but an hour before the order was paid (2024-01-06 09:05).
    shipped = TAOBAO.decode("utf-8").replace("89.50,等待卖家发货,,李华", "89.50,卖家已发货,,李华").encode()
    data = _with_times(shipped, {"2024010512346": ("2024-01-06 08:00:00", "")})

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (0, 0, 3, 1)
    [(_row, _cells, [problem])] = import_rejected_rows(run)
    assert "2024010512346" in problem.reason and "“Paid”" in problem.reason
    assert Order.objects.get(order_no="2024010512346").status == OrderStatus.PAID


def test_a_shipment_an_export_reports_without_its_carrier_moves_the_order_on(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    # Shipped, says the export, its carrier and tracking number columns blank: it went all the same.
    data = TAOBAO.decode("utf-8").replace("89.50,等待卖家发货,,李华", "89.50,卖家已发货,,李华").encode()

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (0, 1, 3, 0)
    order = Order.objects.get(order_no="2024010512346")
    assert (order.status, order.carrier, order.tracking_no) == (OrderStatus.SHIPPED, "", "")


# --- one order number in two stores ----------------------------------------------------------------


def _two_stores(owner, shop):
    from kebu.orders.models import Store

    shop.store.name = "天猫店"
    shop.store.save()
    return shop.store, Store.objects.create(name="抖音店", platform="douyin")


def _store_sheet(*rows: str) -> bytes:
    header = "店铺,订单编号,收货人姓名,联系手机,订单创建时间,订单状态,宝贝标题,商家编码,宝贝总数量,价格"
    return "\n".join([header, *rows]).encode()


def test_one_order_number_in_two_stores_on_rows_one_under_the_other_is_two_orders(owner, shop):
    tmall, douyin = _two_stores(owner, shop)
    data = _store_sheet(
        "天猫店,1001,赵六,13811112222,2024-01-05 10:00:00,已付款,玻尿酸面霜,CREAM-50,1,199.00",
        # a blank store cell is the store chosen on upload
        ",1001,赵六,13811112222,2024-01-05 10:00:00,已付款,明前龙井,TEA-250,1,128.00",
        "抖音店,1001,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50",
    )

    run = run_import(owner, data, store=tmall)

    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    first, second = Order.objects.get(store=tmall), Order.objects.get(store=douyin)
    assert (first.customer.name, first.lines.count(), first.total_cny) == ("赵六", 2, Decimal("327.00"))
    assert (second.customer.name, second.lines.count(), second.total_cny) == ("钱七", 1, Decimal("179.00"))
    assert counts(run_import(owner, data, store=tmall)) == (0, 0, 2, 0)


def test_one_order_number_in_two_stores_on_rows_apart_is_two_orders(owner, shop):
    tmall, douyin = _two_stores(owner, shop)
    data = _store_sheet(
        "天猫店,1001,赵六,13811112222,2024-01-05 10:00:00,已付款,玻尿酸面霜,CREAM-50,1,199.00",
        "天猫店,1002,孙八,13700002222,2024-01-05 11:00:00,已付款,明前龙井,TEA-250,1,128.00",
        "抖音店,1001,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50",
    )

    run = run_import(owner, data, store=None)

    assert counts(run) == (3, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.get(store=tmall, order_no="1001").customer.name == "赵六"
    assert Order.objects.get(store=douyin, order_no="1001").customer.name == "钱七"


def test_a_store_named_on_an_orders_first_line_only_holds_for_its_other_lines(owner, shop):
    tmall, douyin = _two_stores(owner, shop)
    data = _store_sheet(
        "抖音店,1001,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50",
        ",1001,钱七,13900001111,2024-01-06 10:00:00,已付款,明前龙井,TEA-250,1,128.00",
        "天猫店,1002,赵六,13811112222,2024-01-05 10:00:00,已付款,玻尿酸面霜,CREAM-50,1,199.00",
    )

    run = run_import(owner, data, store=None)  # no store chosen on upload

    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.get(store=douyin, order_no="1001").lines.count() == 2
    assert Order.objects.filter(store=tmall).count() == 1


def test_an_orders_rows_apart_in_one_store_are_still_refused_beside_another_stores_order(owner, shop):
    # given order 1001 of the Tmall store on rows 2 and 4, with the Douyin store's 1001 between them
    _tmall, douyin = _two_stores(owner, shop)
    data = _store_sheet(
        "天猫店,1001,赵六,13811112222,2024-01-05 10:00:00,已付款,玻尿酸面霜,CREAM-50,1,199.00",
        "抖音店,1001,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50",
        "天猫店,1001,赵六,13811112222,2024-01-05 10:00:00,已付款,明前龙井,TEA-250,1,128.00",
    )

    run = run_import(owner, data, store=None)

    # then the Tmall order is refused, naming where it comes again; the Douyin one is in
    assert counts(run) == (1, 0, 0, 2)
    reasons = [p.reason for _row, _cells, problems in import_rejected_rows(run) for p in problems]
    assert all("1001" in r and "row 4" in r for r in reasons), reasons
    assert list(Order.objects.values_list("store__name", flat=True)) == [douyin.name]


# --- an order met again takes the sheet's changed details, never its lines or amounts ---------------

FIRST = TAOBAO.decode("utf-8").splitlines()[1]  # order …345: completed, 中通快递 ZT1234567890, notes 老客


def _first_row_edited(old: str, new: str, data: bytes = TAOBAO) -> bytes:
    header, first, *rest = data.decode("utf-8").splitlines()
    assert old in first
    return "\n".join([header, first.replace(old, new, 1), *rest]).encode()


@pytest.mark.parametrize(
    ("old", "new", "fields"),
    [
        # 订单备注 (the seller's notes), kept as written: full-width punctuation and all
        (",老客,0", ",老客，送小样,0", {"seller_notes": "老客，送小样"}),
        ("请尽快发货", "周末不收货", {"buyer_message": "周末不收货"}),  # 买家留言
        ("中通快递,ZT1234567890", "中通快递,ZT9999999999", {"tracking_no": "ZT9999999999"}),  # 物流单号
        (
            "中通快递,ZT1234567890",
            "圆通速递,YT1234567890",
            {"carrier": "圆通速递", "tracking_no": "YT1234567890"},
        ),
        (
            "浙江省 杭州市 西湖区 文三路1号",
            "浙江省 宁波市 海曙区 中山西路2号",  # 收货地址: the parcel's address goes as one
            {
                "ship_province": "浙江省",
                "ship_city": "宁波市",
                "ship_district": "海曙区",
                "ship_address": "中山西路2号",
            },
        ),
        ("138****5678", "13812345678", {"receiver_phone": "+8613812345678"}),  # unmasked since
        (",王小明,浙江省", ",王晓明,浙江省", {"receiver_name": "王晓明"}),  # 收货人姓名
    ],
)
def test_an_order_imported_again_takes_each_changed_detail_and_counts_as_updated(
    owner, shop, old, new, fields
):
    from kebu.audit.models import AuditEntry

    run_import(owner, TAOBAO, store=shop.store)
    ming = Customer.objects.get(name="王小明")
    figures = (ming.order_count, ming.total_spent_cny, ming.version)

    again = run_import(owner, _first_row_edited(old, new), store=shop.store)

    assert counts(again) == (0, 1, 3, 0), import_rejected_rows(again)
    order = Order.objects.get(order_no="2024010512345")
    assert {name: getattr(order, name) for name in fields} == fields
    assert (order.status, order.paid_cny, order.lines.get().quantity) == (
        OrderStatus.COMPLETED,
        Decimal("398.00"),
        2,
    )
    ming.refresh_from_db()
    assert (ming.order_count, ming.total_spent_cny, ming.version) == figures
    audit = AuditEntry.objects.filter(action="order.update").get()
    # the names, never the values (contact details), and the import that changed them
    assert audit.data == {"fields": sorted(fields), "import": again.pk}
    assert counts(run_import(owner, _first_row_edited(old, new), store=shop.store)) == (0, 0, 4, 0)


def test_a_detail_corrected_by_hand_is_not_put_back_by_an_older_export(owner, shop):
    from kebu.orders.services.orders import order_details_update

    run_import(owner, TAOBAO, store=shop.store)
    order = Order.objects.get(order_no="2024010512345")
    order_details_update(actor=owner, order=order, changes={"tracking_no": "ZT5555555555"})  # on its page

    again = run_import(owner, TAOBAO, store=shop.store)  # the export from before, with ZT1234567890

    assert counts(again) == (0, 0, 4, 0), import_rejected_rows(again)
    assert Order.objects.get(pk=order.pk).tracking_no == "ZT5555555555"
    [note] = import_notes(again, limit=10)
    assert "2024010512345" in note.reason and note.value == "ZT1234567890"
    # What the hand did not touch still follows the file.
    newer = _first_row_edited("请尽快发货", "周末不收货")
    assert counts(run_import(owner, newer, store=shop.store)) == (0, 1, 3, 0)
    order.refresh_from_db()
    assert (order.buyer_message, order.tracking_no) == ("周末不收货", "ZT5555555555")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (",王小明,浙江省", ",王**,浙江省"),
        ("浙江省 杭州市 西湖区 文三路1号", "浙江省 杭州市 西湖区 文三路***号"),
    ],
)
def test_a_marketplaces_masked_receiver_or_address_changes_nothing(owner, shop, old, new):
    run_import(owner, TAOBAO, store=shop.store)
    before = Order.objects.values("receiver_name", "ship_address").get(order_no="2024010512345")

    again = run_import(owner, _first_row_edited(old, new), store=shop.store)

    assert counts(again)[1] == 0, import_rejected_rows(again)
    assert Order.objects.values("receiver_name", "ship_address").get(order_no="2024010512345") == before


def test_a_payment_method_the_sheet_gives_otherwise_is_taken_for_a_paid_order(owner, shop):
    data = "\n".join(
        [
            "订单编号,收货人姓名,联系手机,订单创建时间,订单状态,宝贝标题,商家编码,宝贝总数量,价格,支付方式",
            "P1,赵六,13811112222,2024-01-05 10:00:00,交易成功,玻尿酸面霜,CREAM-50,1,199.00,支付宝",
            "P2,钱七,13900001111,2024-01-06 10:00:00,等待买家付款,明前龙井,TEA-250,1,128.00,",
        ]
    )
    run_import(owner, data.encode(), store=shop.store)

    again = run_import(owner, data.replace("199.00,支付宝", "199.00,微信").encode(), store=shop.store)

    assert counts(again) == (0, 1, 1, 0), import_rejected_rows(again)
    assert Order.objects.get(order_no="P1").payment_method == "wechat"
    # A word Kebu does not know ("other") says nothing, and credit would change what is owed: refused.
    assert counts(
        run_import(owner, data.replace("199.00,支付宝", "199.00,云闪付").encode(), store=shop.store)
    ) == (
        0,
        0,
        2,
        0,
    )
    refused = run_import(owner, data.replace("199.00,支付宝", "199.00,赊账").encode(), store=shop.store)
    assert counts(refused) == (0, 0, 1, 1)
    [(_row, _cells, [problem])] = import_rejected_rows(refused)
    assert "P1" in problem.reason and "credit" in problem.reason
    assert Order.objects.get(order_no="P1").payment_method == "wechat"


def test_a_blank_or_masked_cell_leaves_the_orders_detail_as_it_is(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    # a new carrier, blank notes and tracking number, a masked message and street address (an export by
    # someone who may not see them)
    data = _first_row_edited("中通快递,ZT1234567890,老客", "圆通速递,,")
    data = _first_row_edited("请尽快发货", "****", data)
    data = _first_row_edited("文三路1号", "****", data)

    again = run_import(owner, data, store=shop.store)

    assert counts(again) == (0, 1, 3, 0), import_rejected_rows(again)
    order = Order.objects.get(order_no="2024010512345")
    assert (
        order.carrier,
        order.seller_notes,
        order.tracking_no,
        order.buyer_message,
        order.ship_address,
    ) == (
        "圆通速递",
        "老客",
        "ZT1234567890",
        "请尽快发货",
        "文三路1号",
    )


@pytest.mark.parametrize(
    ("old", "new", "said"),
    [
        (
            "玻尿酸面霜,2,CREAM-50,199.00",
            "玻尿酸面霜,3,CREAM-50,199.00",
            "line 1, quantity: 3 in the file, 2 in Kebu",
        ),
        (
            "玻尿酸面霜,2,CREAM-50,199.00",
            "玻尿酸面霜,2,CREAM-50,189.00",
            "line 1, unit price: 189.00 in the file, 199.00",
        ),
        (
            "玻尿酸面霜,2,CREAM-50,199.00",
            "明前龙井,2,TEA-250,199.00",
            "line 1, SKU code: TEA-250 in the file, CREAM-50",
        ),
        ("老客,0", "老客,10", "shipping fee: 10.00 in the file, 0.00 in Kebu"),
        ("398.00,交易成功", "388.00,交易成功", "amount paid: 388.00 in the file, 398.00 in Kebu"),
    ],
)
def test_an_order_whose_lines_or_amounts_differ_is_not_updated_and_says_what_differs(
    owner, shop, old, new, said
):
    run_import(owner, TAOBAO, store=shop.store)
    ming = Customer.objects.get(name="王小明")
    before = (ming.order_count, ming.total_spent_cny, ming.version)
    # the amounts changed, and the notes with them: none of it is taken
    data = _first_row_edited(",老客,", ",老客，送小样,", _first_row_edited(old, new))

    again = run_import(owner, data, store=shop.store)

    assert counts(again) == (0, 0, 3, 1)
    [(row, _cells, [problem])] = import_rejected_rows(again)
    assert row == 2 and "2024010512345" in problem.reason and said in problem.reason, problem.reason
    order = Order.objects.get(order_no="2024010512345")
    assert (order.seller_notes, order.total_cny, order.lines.get().quantity) == ("老客", Decimal("398.00"), 2)
    ming.refresh_from_db()
    assert (ming.order_count, ming.total_spent_cny, ming.version) == before


def test_an_order_with_a_line_more_in_the_file_is_not_updated(owner, shop):
    run_import(owner, TAOBAO, store=shop.store)
    header, first, *rest = TAOBAO.decode("utf-8").splitlines()
    extra = first.replace("玻尿酸面霜,2,CREAM-50,199.00", "明前龙井,1,TEA-250,128.00")

    again = run_import(owner, "\n".join([header, first, extra, *rest]).encode(), store=shop.store)

    assert counts(again) == (0, 0, 3, 1)
    [(_row, _cells, [problem])] = _with_problems(import_rejected_rows(again))
    assert "order lines: 2 in the file, 1 in Kebu" in problem.reason, problem.reason


def test_an_exported_order_edited_and_imported_again_is_updated_and_undo_puts_it_back(owner, shop, tmp_path):
    from django.http import QueryDict
    from django.utils import translation

    from kebu.transfer.exports import export_build, export_write

    run_import(owner, TAOBAO, store=shop.store)
    fields = ["seller_notes", "tracking_no", "ship_address", "version"]
    before = list(Order.objects.order_by("order_no").values_list("order_no", *fields))
    path = tmp_path / "订单.csv"
    with translation.override("zh-hans"):  # the merchant's export, in Chinese
        export_write(
            export_build("orders", user=owner, filters=QueryDict()), path, file_format="csv", user=owner
        )
    header, *rows = csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig")))
    column = {name: header.index(name) for name in ("订单号", "卖家备注", "运单号", "详细地址")}
    for cells in rows:
        if cells[column["订单号"]] == '="2024010512345"':  # as Excel shows a long number whole
            cells[column["卖家备注"]] = "老客，送小样"
            cells[column["运单号"]] = "ZT9999999999"
            cells[column["详细地址"]] = "文三路9号"
    edited = io.StringIO()
    csv.writer(edited).writerows([header, *rows])

    again = run_import(owner, edited.getvalue().encode(), store=shop.store)

    assert counts(again) == (0, 1, 3, 0), import_rejected_rows(again)
    order = Order.objects.get(order_no="2024010512345")
    assert (order.seller_notes, order.tracking_no, order.ship_address) == (
        "老客，送小样",
        "ZT9999999999",
        "文三路9号",
    )
    import_undo(actor=owner, run=again)
    after = list(Order.objects.order_by("order_no").values_list("order_no", *fields[:-1]))
    assert after == [row[:-1] for row in before]


def test_undo_refuses_when_an_order_the_import_updated_was_changed_since(owner, shop):
    from kebu.orders.services.orders import order_notes_update

    run_import(owner, TAOBAO, store=shop.store)
    again = run_import(
        owner, _first_row_edited("中通快递,ZT1234567890", "中通快递,ZT9999999999"), store=shop.store
    )
    order_notes_update(actor=owner, order=Order.objects.get(order_no="2024010512345"), seller_notes="加急")

    with pytest.raises(Conflict, match="2024010512345"):
        import_undo(actor=owner, run=again)
    assert Order.objects.get(order_no="2024010512345").tracking_no == "ZT9999999999"


# --- a deactivated store ---------------------------------------------------------------------------


def _deactivated(owner, store):
    from kebu.orders.services.stores import store_update

    return store_update(actor=owner, store=store, is_active=False)


def _closed_store_refusal(store) -> str:
    from kebu.orders.services.stores import store_closed_message

    return store_closed_message(store)


def test_a_new_order_naming_a_deactivated_store_is_refused_on_its_store_cell_and_the_others_import(
    owner, shop
):
    tmall, douyin = _two_stores(owner, shop)
    _deactivated(owner, douyin)
    data = _store_sheet(
        "天猫店,1001,赵六,13811112222,2024-01-05 10:00:00,已付款,玻尿酸面霜,CREAM-50,1,199.00",
        "抖音店,1002,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50",
    )

    run = run_import(owner, data, store=None)

    assert counts(run) == (1, 0, 0, 1)
    [(row, _cells, [problem])] = import_rejected_rows(run)
    assert (row, problem.column, problem.value) == (3, "店铺", "抖音店")
    assert problem.reason == _closed_store_refusal(douyin) and "抖音店" in problem.reason
    assert list(Order.objects.values_list("store", "order_no")) == [(tmall.pk, "1001")]
    assert not Customer.objects.filter(name="钱七").exists()  # its buyer is not made either


def test_an_order_already_in_a_deactivated_store_is_still_matched_when_imported_again(owner, shop):
    # given: order 1001 of the Douyin store imported, then the store deactivated
    _tmall, douyin = _two_stores(owner, shop)
    first = "抖音店,1001,钱七,13900001111,2024-01-06 10:00:00,{status},爽肤水,TONER-100,2,89.50"
    run_import(owner, _store_sheet(first.format(status="等待买家付款")), store=None)
    _deactivated(owner, douyin)
    new = "抖音店,1002,孙八,13700002222,2024-01-07 10:00:00,已付款,明前龙井,TEA-250,1,128.00"

    # when: the store's later export reports 1001 paid, beside an order new to Kebu
    later = run_import(owner, _store_sheet(first.format(status="已付款"), new), store=None)

    # then: 1001 moves on as ever, 1002 is refused; and the same export again leaves 1001 as it is
    assert counts(later) == (0, 1, 0, 1), import_rejected_rows(later)
    assert [row for row, _c, _p in import_rejected_rows(later)] == [3]
    assert list(Order.objects.filter(store=douyin).values_list("order_no", "status")) == [
        ("1001", OrderStatus.PAID)
    ]
    again = run_import(owner, _store_sheet(first.format(status="已付款")), store=None)
    assert counts(again) == (0, 0, 1, 0)


def test_all_or_nothing_refuses_a_file_with_a_new_order_in_a_deactivated_store(owner, shop):
    _tmall, douyin = _two_stores(owner, shop)
    _deactivated(owner, douyin)
    data = _store_sheet(
        "天猫店,1001,赵六,13811112222,2024-01-05 10:00:00,已付款,玻尿酸面霜,CREAM-50,1,199.00",
        "抖音店,1002,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50",
    )

    run = run_all_or_nothing(owner, data, store=None)

    assert (run.refused, counts(run)) == (True, (0, 0, 0, 1))
    [(row, _cells, [problem])] = import_rejected_rows(run)
    assert (row, problem.column, problem.reason) == (3, "店铺", _closed_store_refusal(douyin))
    assert not Order.objects.exists()


def test_the_store_chosen_for_an_import_deactivated_before_it_runs_takes_no_new_order(owner, shop):
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=TAOBAO,
            file_name="x.csv",
            kind=ImportKind.ORDERS,
            store=shop.store,
            enqueue=False,
        )
    _deactivated(owner, shop.store)

    job_run(run.job_id)

    run.refresh_from_db()
    assert counts(run) == (0, 0, 0, 4) and not Order.objects.exists()
    reasons = {problem.reason for _row, _cells, problems in import_rejected_rows(run) for problem in problems}
    assert reasons == {_closed_store_refusal(shop.store)}


def test_the_command_refuses_a_deactivated_store_by_its_name_and_writes_nothing(owner, shop, tmp_path):
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(TAOBAO)
    _deactivated(owner, shop.store)

    for dry_run in (True, False):
        with pytest.raises(CommandError) as caught:
            call_command(
                "import",
                str(path),
                kind="orders",
                store=shop.store.name,
                dry_run=dry_run,
                stdout=io.StringIO(),
            )
        assert str(caught.value) == _closed_store_refusal(shop.store)
    assert not Import.objects.exists() and not Order.objects.exists()


def test_the_commands_check_lists_a_new_order_in_a_deactivated_store_not_one_already_in_it(
    owner, shop, tmp_path
):
    _tmall, douyin = _two_stores(owner, shop)
    first = "抖音店,1001,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50"
    run_import(owner, _store_sheet(first), store=None)
    _deactivated(owner, douyin)
    path = tmp_path / "orders.csv"
    path.write_bytes(
        _store_sheet(
            first, "抖音店,1002,孙八,13700002222,2024-01-07 10:00:00,已付款,明前龙井,TEA-250,1,128.00"
        )
    )
    out = io.StringIO()

    call_command("import", str(path), kind="orders", dry_run=True, stdout=out)

    assert f"row 3, 店铺: '抖音店': {_closed_store_refusal(douyin)}" in out.getvalue()
    assert "1 row ready, 1 row with problems" in out.getvalue()
    assert Order.objects.count() == 1


def test_a_sheet_without_a_status_gives_each_order_the_last_step_it_has_a_time_for(owner, shop):
    header = "订单编号,收货人姓名,联系手机,订单创建时间,付款时间,发货时间,签收时间,宝贝标题,商家编码,价格"
    # created, paid, shipped, delivered
    times = [
        ",,",
        "2024-01-05 11:00,,",
        "2024-01-05 11:00,2024-01-06 09:00,",
        "2024-01-05 11:00,2024-01-06 09:00,2024-01-08 15:00",
    ]
    rows = [
        f"S{n},赵六,1381111{n:04d},2024-01-05 10:00,{steps},玻尿酸面霜,CREAM-50,199.00"
        for n, steps in enumerate(times)
    ]

    run = run_import(owner, "\n".join([header, *rows]).encode(), store=shop.store)

    assert counts(run) == (4, 0, 0, 0)
    found = dict(Order.objects.values_list("order_no", "status"))
    assert found == {"S0": "pending", "S1": "paid", "S2": "shipped", "S3": "delivered"}
    shipped = Order.objects.get(order_no="S2")
    assert shipped.shipped_at is not None and shipped.paid_cny == Decimal("199.00")


def test_a_paid_order_moves_on_when_a_newer_sheet_without_status_or_carrier_gives_its_shipped_time(
    owner, shop
):
    header = "订单编号,收货人姓名,联系手机,订单创建时间,付款时间,发货时间,宝贝标题,商家编码,价格"
    row = "S1,赵六,13811110001,2024-01-05 10:00,2024-01-05 11:00,{shipped},玻尿酸面霜,CREAM-50,199.00"
    run_import(owner, "\n".join([header, row.format(shipped="")]).encode(), store=shop.store)
    assert Order.objects.get().status == "paid"

    again = run_import(
        owner, "\n".join([header, row.format(shipped="2024-01-06 09:00")]).encode(), store=shop.store
    )

    assert counts(again) == (0, 1, 0, 0)
    order = Order.objects.get()
    assert order.status == "shipped"
    assert timezone.localtime(order.shipped_at).replace(tzinfo=None) == datetime(2024, 1, 6, 9, 0)


# --- the delivery method ---------------------------------------------------------------------------------

DELIVERY_HEADER = "订单编号,收货人姓名,联系手机,订单创建时间,订单付款时间,宝贝标题,商家编码,价格,运送方式"


def delivery_sheet(*ways: str) -> bytes:
    """A paid order a row (D1, D2 …), each of another buyer, going as ``ways`` say (Taobao's 运送方式)."""
    rows = [
        f"D{n},赵六,1381111{n:04d},2024-01-05 10:00:00,2024-01-05 10:01:00,玻尿酸面霜,CREAM-50,199.00,{way}"
        for n, way in enumerate(ways, start=1)
    ]
    return "\n".join([DELIVERY_HEADER, *rows]).encode()


@pytest.mark.parametrize(
    ("written", "taken"),
    [
        ("快递", "express"),  # Kebu's labels, in either language
        ("Express parcel", "express"),
        ("物流货运", "freight"),
        ("Same-city delivery", "same_city"),
        ("自提", "pickup"),
        ("No delivery needed", "none"),
        ("EMS", "express"),  # and the marketplaces' words
        ("中通快递", "express"),
        ("物流", "freight"),
        ("同城配送", "same_city"),
        ("上门自提", "pickup"),
        ("送货到家", "same_city"),
        ("到店取货", "pickup"),
        ("无需物流", "none"),
        ("虚拟发货", "none"),
        ("local pickup", "pickup"),
        ("", "express"),  # a blank cell: a parcel, as an order entered without saying
    ],
)
def test_a_new_order_goes_as_the_sheets_delivery_method_says(owner, shop, written, taken):
    run = run_import(owner, delivery_sheet(written), store=shop.store)

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.get(order_no="D1").delivery_method == taken


def test_a_delivery_method_kebu_does_not_know_is_the_orders_problem_and_nothing_of_it_is_written(owner, shop):
    run = run_import(owner, delivery_sheet("自提", "骑手送"), store=shop.store)

    assert counts(run) == (1, 0, 0, 1)
    [(row, _cells, [problem])] = import_rejected_rows(run)
    assert (row, problem.column, problem.value) == (3, "运送方式", "骑手送")
    assert "骑手送" in problem.reason and "Pick-up" in problem.reason  # what it could have been
    assert list(Order.objects.values_list("order_no", flat=True)) == ["D1"]
    assert Customer.objects.count() == 1  # D2's buyer was not made either


def test_an_order_imported_again_takes_its_changed_delivery_method_and_undo_puts_it_back(owner, shop):
    from kebu.audit.models import AuditEntry

    run_import(owner, delivery_sheet("快递", "快递"), store=shop.store)

    again = run_import(owner, delivery_sheet("上门自提", "快递"), store=shop.store)

    assert counts(again) == (0, 1, 1, 0), import_rejected_rows(again)
    order = Order.objects.get(order_no="D1")
    assert order.delivery_method == "pickup"
    assert AuditEntry.objects.get(action="order.update").data == {
        "fields": ["delivery_method"],
        "import": again.pk,
    }
    import_undo(actor=owner, run=again)
    assert Order.objects.get(order_no="D1").delivery_method == "express"


def test_a_blank_delivery_method_leaves_an_order_met_again_as_it_goes(owner, shop):
    run_import(owner, delivery_sheet("自提"), store=shop.store)

    again = run_import(owner, delivery_sheet(""), store=shop.store)

    assert counts(again) == (0, 0, 1, 0), import_rejected_rows(again)
    assert Order.objects.get(order_no="D1").delivery_method == "pickup"


def test_a_delivery_method_corrected_by_hand_is_not_put_back_by_an_older_export(owner, shop):
    from kebu.orders.services.orders import order_details_update

    run_import(owner, delivery_sheet("快递"), store=shop.store)
    order = Order.objects.get(order_no="D1")
    order_details_update(actor=owner, order=order, changes={"delivery_method": "pickup"})  # on its page

    again = run_import(owner, delivery_sheet("快递"), store=shop.store)  # the export from before

    assert counts(again) == (0, 0, 1, 0), import_rejected_rows(again)
    assert Order.objects.get(pk=order.pk).delivery_method == "pickup"
    [note] = import_notes(again, limit=10)
    assert (note.column, note.value) == ("运送方式", "Express parcel") and "D1" in note.reason


def test_an_order_a_newer_export_ships_without_a_parcel_goes_as_it_says_before_it_is_moved_on(owner, shop):
    # given an order imported as a parcel (a sheet that did not say), paid
    run_import(owner, delivery_sheet(""), store=shop.store)
    # when the newer export says it needed no delivery, and was shipped without carrier nor tracking number
    shipped = delivery_sheet("无需物流").decode().replace("订单付款时间,", "订单付款时间,订单状态,", 1)
    shipped = shipped.replace("10:01:00,", "10:01:00,卖家已发货,", 1)

    again = run_import(owner, shipped.encode(), store=shop.store)

    # then it is moved on, as it could be by hand once its way was corrected: a parcel would want both
    assert counts(again) == (0, 1, 0, 0), import_rejected_rows(again)
    order = Order.objects.get(order_no="D1")
    assert (order.status, order.delivery_method, order.carrier) == (OrderStatus.SHIPPED, "none", "")
    import_undo(actor=owner, run=again)
    order.refresh_from_db()
    assert (order.status, order.delivery_method) == (OrderStatus.PAID, "express")


# --- an order met again changes only as its page would let the importer change it -------------------


@pytest.fixture
def order_importer(staff_member):
    """A colleague in ``role`` who may import order sheets (``transfer.import_customers`` and
    ``orders.add_order``), with the further ``permissions`` given ("app.codename")."""
    from django.contrib.auth.models import Permission

    def make(role: str, *permissions: str):
        user = staff_member(role, "daoru", display_name="导入员")
        for name in ("transfer.import_customers", "orders.add_order", *permissions):
            app_label, codename = name.split(".")
            user.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        return user

    return make


def orders_state() -> list[tuple]:
    """Every order as an import may leave it, in a comparable form."""
    return [
        (
            order.order_no,
            order.status,
            order.version,
            order.updated_at,
            order.paid_cny,
            order.carrier,
            order.tracking_no,
            order.receiver_name,
            order.receiver_phone,
            order.ship_province,
            order.ship_city,
            order.ship_district,
            order.ship_address,
            order.buyer_message,
            order.seller_notes,
        )
        for order in Order.objects.order_by("order_no")
    ]


def _second_order_shipped(data: bytes = TAOBAO) -> bytes:
    """The export of a week later: order …346, paid in Kebu, reported shipped with 顺丰 SF200."""
    text = data.decode("utf-8")
    old = "89.50,等待卖家发货,"
    assert old in text and "TONER-100,89.50,,,,0" in text
    return (
        text.replace(old, "89.50,卖家已发货,")
        .replace("TONER-100,89.50,,,,0", "TONER-100,89.50,顺丰,SF200,,0")
        .encode()
    )


def test_an_importer_who_may_not_change_orders_leaves_those_the_file_differs_from_with_a_note(
    owner, shop, order_importer
):
    from kebu.audit.models import AuditEntry

    # given the orders in Kebu, and a colleague who sees them all in full but may not change orders
    run_import(owner, TAOBAO, store=shop.store)
    before, audited = orders_state(), AuditEntry.objects.filter(target_type="orders.order").count()
    clerk = order_importer("analyst", "customers.view_contact")
    # when they import a newer export: a tracking number corrected, an order shipped since
    data = _second_order_shipped(_first_row_edited("中通快递,ZT1234567890", "中通快递,ZT9999999999"))
    again = run_import(clerk, data, store=shop.store)

    # then nothing changed, and each of the two orders says why, not a rejection: the file is right
    assert counts(again) == (0, 0, 4, 0), import_rejected_rows(again)
    assert orders_state() == before
    assert AuditEntry.objects.filter(target_type="orders.order").count() == audited
    assert again.noted == 2
    first, second = import_notes(again, limit=10)
    assert (first.row, first.column, first.value) == (2, "订单编号", "2024010512345")
    assert "may not change orders" in first.reason and "tracking number" in first.reason
    assert second.row == 3 and "may not change orders" in second.reason and "status" in second.reason
    # and an order the file says nothing new of has no note
    assert counts(run_import(clerk, TAOBAO, store=shop.store)) == (0, 0, 4, 0)
    assert Import.objects.order_by("-pk").first().noted == 0


def test_an_importer_who_sees_contact_details_masked_changes_the_others_but_never_those(
    owner, shop, order_importer
):
    from kebu.audit.models import AuditEntry

    run_import(owner, TAOBAO, store=shop.store)
    kept = Order.objects.values(
        "receiver_phone", "ship_city", "ship_address", "buyer_message", "seller_notes"
    )
    contact_before = kept.get(order_no="2024010512345")
    # a colleague who may change orders, and sees phones, addresses, messages and notes masked
    clerk = order_importer("analyst", "orders.change_order")
    data = _first_row_edited(
        "中通快递,ZT1234567890,老客", "中通快递,ZT9999999999,老客，送小样"
    )  # number, notes
    data = _first_row_edited(
        ",王小明,浙江省 杭州市 西湖区 文三路1号,138****5678",
        ",王晓明,浙江省 宁波市 海曙区 中山西路2号,13812345678",
        data,
    )
    data = _first_row_edited("请尽快发货", "周末不收货", data)

    again = run_import(clerk, data, store=shop.store)

    assert counts(again) == (0, 1, 3, 0), import_rejected_rows(again)
    order = Order.objects.get(order_no="2024010512345")
    assert (order.tracking_no, order.receiver_name) == ("ZT9999999999", "王晓明")  # theirs to change
    assert kept.get(order_no="2024010512345") == contact_before
    assert AuditEntry.objects.filter(action="order.update").get().data == {
        "fields": ["receiver_name", "tracking_no"],
        "import": again.pk,
    }
    notes = [note for note in import_notes(again, limit=10) if note.row == 2]
    assert [note.column for note in notes] == ["买家留言, 收货地址, 联系手机, 订单备注"]
    assert notes[0].value == "" and "masked" in notes[0].reason  # the values are not repeated


def test_a_masked_importer_is_told_of_the_contact_details_left_out_even_when_they_are_kebus(
    owner, shop, order_importer
):
    # A note only when the file's phone or address differs from Kebu's would tell someone who sees them
    # masked whether the number they typed is the real one.
    run_import(owner, TAOBAO, store=shop.store)
    clerk = order_importer("analyst", "orders.change_order")

    again = run_import(clerk, TAOBAO, store=shop.store)  # the very values Kebu has

    assert counts(again) == (0, 0, 4, 0) and again.noted == 4
    assert all("masked" in note.reason for note in import_notes(again, limit=10))


def test_an_order_the_importer_may_not_see_is_left_as_it_is_and_nothing_of_it_is_told(
    owner, shop, order_importer, pool_off
):
    from kebu.audit.models import AuditEntry

    # given the owner's orders, their buyers the owner's too (the shared pool switched off), but one:
    # the buyer of order …346, who is the clerk's
    run_import(owner, TAOBAO, store=shop.store)
    clerk = order_importer("sales")
    Customer.objects.filter(name="李华").update(owner=clerk)
    before = orders_state()
    # when the clerk imports an export where order …345 has another tracking number and amount paid,
    # and their own …346 was shipped
    data = _first_row_edited("中通快递,ZT1234567890", "中通快递,ZT9999999999")
    data = _second_order_shipped(_first_row_edited("398.00,交易成功", "388.00,交易成功", data))
    again = run_import(clerk, data, store=shop.store)

    # then only their own order moved on; the others are left, each with the same note
    assert counts(again) == (0, 1, 3, 0), import_rejected_rows(again)
    after = orders_state()
    assert [row for row in after if row[0] != "2024010512346"] == [
        row for row in before if row[0] != "2024010512346"
    ]
    assert Order.objects.get(order_no="2024010512346").status == OrderStatus.SHIPPED
    assert AuditEntry.objects.filter(action="order.update").count() == 0
    notes = import_notes(again, limit=10)
    assert [(note.row, note.value) for note in notes] == [
        (2, "2024010512345"),
        (4, "2024010512347"),
        (5, "2024010512348"),
    ]
    # which says the order exists, as the new-order form would, and nothing of what it holds
    assert all("not one you may see" in note.reason for note in notes)
    told = " ".join(note.reason for note in notes)
    assert "398.00" not in told and "Completed" not in told and "王小明" not in told
    assert Order.objects.count() == 4 and Customer.objects.count() == 3


# --- a new order goes only to a buyer the importer could give it to by hand ---------------------------


def _problems(run: Import) -> dict[int, list[str]]:
    return {number: [p.reason for p in found] for number, _cells, found in import_rejected_rows(run)}


@pytest.fixture(params=["together", "one_by_one"])
def either_way(request, monkeypatch):
    """A batch of orders written together, or order by order, as a batch is when writing them together
    meets a key taken meanwhile (``order_batch_import``)."""
    if request.param == "one_by_one":
        from django.db import IntegrityError

        from kebu.transfer import orders

        def taken(*args, **kwargs):
            raise IntegrityError("a key taken meanwhile")

        monkeypatch.setattr(orders, "_orders_together", taken)
    return request.param


def test_a_new_order_whose_buyer_is_a_customer_the_importer_may_not_see_is_refused_telling_nothing(
    owner, shop, order_importer, pool_off, either_way
):
    from kebu.orders.selectors import order_visible_queryset
    from kebu.transfer.orders import order_file_check

    # given 李华, the owner's customer, with the phone the buyer of order …346 gives
    hidden = make_customer(actor=owner, name="李华（VIP）", phone="13900001111", owner=owner, notes="大客户")
    clerk = order_importer("sales")
    before = (hidden.version, hidden.order_count)

    # when a clerk who may not see them checks, then imports, the export
    check = order_file_check(TAOBAO, store=shop.store, actor=clerk)
    run = run_import(clerk, TAOBAO, store=shop.store)

    # then that order is refused, as the dry run said, and 李华 has no order of it
    assert counts(run) == (3, 0, 0, 1)
    assert _problems(run) == {number: [p.reason for p in found] for number, _c, found in check.bad}
    [reason] = _problems(run)[3]
    assert "customer you cannot see" in reason
    for secret in (hidden.name, hidden.customer_no, hidden.notes, owner.username, str(owner)):
        assert secret not in reason
    hidden.refresh_from_db()
    assert (hidden.version, hidden.order_count) == before and not hidden.orders.exists()
    # the buyers it made are the clerk's: they see them, and the orders they imported
    made = Customer.objects.exclude(pk=hidden.pk)
    assert set(made.values_list("owner", flat=True)) == {clerk.pk}
    assert order_visible_queryset(user=clerk).count() == Order.objects.count() == 3
    # and undo takes it all back
    import_undo(actor=clerk, run=run)
    assert list(Customer.objects.all()) == [hidden] and not Order.objects.exists()


def test_an_order_importer_who_may_not_add_customers_imports_only_the_orders_of_buyers_in_kebu(
    owner, shop, order_importer, pool_off, either_way
):
    from kebu.transfer.orders import order_file_check

    # given a clerk who may add orders but not customers, and 李华, their own customer
    clerk = order_importer(None, "customers.view_customer", "orders.view_order")
    li = make_customer(actor=owner, name="李华", phone="13900001111", owner=clerk)

    check = order_file_check(TAOBAO, store=shop.store, actor=clerk)
    run = run_import(clerk, TAOBAO, store=shop.store)

    # then 李华's order is theirs; the orders of buyers Kebu does not have are refused, saying why
    assert counts(run) == (1, 0, 0, 3)
    said = "This order's buyer is not in Kebu yet, and your role may not add customers."
    assert _problems(run) == {2: [said], 4: [said], 5: [said]}
    assert _problems(run) == {number: [p.reason for p in found] for number, _c, found in check.bad}
    assert list(Customer.objects.all()) == [li]
    assert Order.objects.get().customer == li


def test_an_order_import_whose_chosen_owner_has_left_since_fails_at_its_start_adding_no_buyer(
    owner, shop, staff_member
):
    from kebu.core.models import JobStatus

    # given an order import queued to give the buyers it adds to 小李, who leaves before it runs
    other = staff_member("sales", "xiaoli", display_name="小李")
    with transaction.atomic():
        run = customer_import_start(
            actor=owner,
            data=TAOBAO,
            file_name="ExportOrderList.csv",
            kind=ImportKind.ORDERS,
            store=shop.store,
            enqueue=False,
            owner=other,
        )
    other.is_active = False
    other.save(update_fields=["is_active"])

    job = job_run(run.job_id)

    # then it fails, naming 小李, with no order and no buyer made
    assert job.status == JobStatus.FAILED and "小李" in job.error
    assert not Order.objects.exists() and not Customer.objects.exists()


@pytest.mark.parametrize("how", ["left", "may no longer import", "takes no orders", "deleted"])
def test_an_order_import_whose_importer_may_no_longer_import_it_fails_at_its_start_saying_so(
    shop, staff_member, no_drafts_left_over, how
):
    from kebu.core.models import JobStatus
    from kebu.transfer.tests.test_imports import (
        importer_on_the_pages,
        no_longer_importing,
        started_on_the_pages,
    )

    # given an order import started on the pages by 导入员, who may import sheets and take orders, waiting
    importer = importer_on_the_pages(staff_member)
    run = started_on_the_pages(
        importer, TAOBAO, kind=ImportKind.ORDERS, store=shop.store, file_name="ExportOrderList.csv"
    )

    # when 导入员 may no longer import it by the time it runs
    no_longer_importing(importer, how)
    job = job_run(run.job_id)

    # then it fails before reading an order, naming them and saying what to do, with no order or buyer made
    assert job.status == JobStatus.FAILED, job.error
    assert ("daoru" if how == "deleted" else "导入员") in job.error and "import the file again" in job.error
    assert not Order.objects.exists() and not Customer.objects.exists()


# --- closed after payment: refunded in full ------------------------------------------------------

# Two orders a Taobao export reports closed (交易关闭): one paid, then refunded in full (its payment time
# is there), and one closed before anyone paid (none; Taobao fills its amount all the same).
CLOSED = _sheet(
    "C1,tb_zhao,398.00,交易关闭,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-05 10:00:00,"
    "2024-01-05 10:01:00,玻尿酸面霜,2,CREAM-50,199.00,中通快递,ZT100,,0",
    "C2,tb_qian,128.00,交易关闭,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-06 09:00:00,"
    ",明前龙井,1,TEA-250,128.00,,,,0",
)


def test_an_order_closed_after_payment_is_recorded_paid_and_refunded_in_full(owner, shop):
    from kebu.orders.models import AfterSale

    run = run_import(owner, CLOSED, store=shop.store)

    assert (counts(run), run.noted) == ((2, 0, 0, 0), 1), import_rejected_rows(run)
    paid_at = datetime(2024, 1, 5, 10, 1, tzinfo=timezone.get_current_timezone())
    refunded = Order.objects.get(order_no="C1")
    assert (refunded.status, refunded.paid_cny, refunded.refunded_cny, refunded.paid_at) == (
        OrderStatus.CLOSED,
        Decimal("398.00"),
        Decimal("398.00"),
        paid_at,
    )
    assert (refunded.carrier, refunded.tracking_no, refunded.closed_at) == ("中通快递", "ZT100", paid_at)
    aftersale = AfterSale.objects.get()
    assert (aftersale.order, aftersale.kind, aftersale.status, aftersale.amount_cny, aftersale.reason) == (
        refunded,
        "refund",
        "completed",
        Decimal("398.00"),
        "other",
    )
    assert (aftersale.requested_at, aftersale.resolved_at) == (paid_at, paid_at)
    assert "ExportOrderList.csv" in aftersale.reason_detail
    zhao = Customer.objects.get(name="赵六")
    assert (zhao.order_count, zhao.total_spent_cny, zhao.refund_count, zhao.refund_rate) == (
        1,
        Decimal("0.00"),
        1,
        Decimal("1"),
    )
    # Closed before payment: cancelled as ever, nothing counted and nothing refunded.
    unpaid = Order.objects.get(order_no="C2")
    assert (unpaid.status, unpaid.paid_cny, unpaid.aftersales.exists()) == (OrderStatus.CANCELLED, 0, False)
    qian = Customer.objects.get(name="钱七")
    assert (qian.order_count, qian.refund_count) == (0, 0)
    [note] = import_notes(run, limit=10)
    assert (note.row, note.column, note.value) == (2, "订单状态", "交易关闭") and "C1" in note.reason


def test_an_order_closed_after_payment_imported_again_is_unchanged_and_refunded_once(owner, shop):
    from kebu.orders.models import AfterSale

    run_import(owner, CLOSED, store=shop.store)

    again = run_import(owner, CLOSED, store=shop.store)

    assert (counts(again), again.noted) == ((0, 0, 2, 0), 0), import_rejected_rows(again)
    assert AfterSale.objects.count() == 1
    zhao = Customer.objects.get(name="赵六")
    assert (zhao.order_count, zhao.total_spent_cny, zhao.refund_count) == (1, Decimal("0.00"), 1)


def test_undo_takes_an_order_closed_after_payment_back_with_its_refund(owner, shop):
    from kebu.orders.models import AfterSale
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_order

    # given: a customer with an order of their own, whom the sheet's closed order is matched to by phone
    zhao = customer_create(
        actor=owner, data=CustomerInput(name="赵六", phones=[PhoneInput(number="13811112222")])
    )
    own = make_order(actor=owner, customer=zhao, store=shop.store, lines=[("TEA-250", 1)])
    # The stage is left out: stages never go down, after an undo as after any refund.
    figures = [name for name in FIGURE_FIELDS if name != "stage"]
    before = Customer.objects.filter(pk=zhao.pk).values_list(*figures).get()
    run = run_import(owner, CLOSED, store=shop.store)
    zhao.refresh_from_db()
    assert (zhao.order_count, zhao.refund_count) == (2, 1)

    import_undo(actor=owner, run=run)

    assert Customer.objects.filter(pk=zhao.pk).values_list(*figures).get() == before
    assert not AfterSale.objects.exists() and list(Order.objects.all()) == [own]
    assert not Customer.objects.filter(name="钱七").exists()  # the buyer it made goes with their order


def test_undo_refuses_when_an_order_closed_after_payment_was_changed_since(owner, shop):
    from kebu.orders.services.orders import order_notes_update

    run = run_import(owner, CLOSED, store=shop.store)
    order_notes_update(actor=owner, order=Order.objects.get(order_no="C1"), seller_notes="已退款")

    with pytest.raises(Conflict, match="C1"):
        import_undo(actor=owner, run=run)
    assert Order.objects.get(order_no="C1").aftersales.count() == 1


def test_undo_refuses_when_a_ticket_was_linked_to_the_refund_it_recorded(owner, shop):
    from kebu.engagement.services.tickets import TicketInput, ticket_aftersale_link, ticket_open

    run = run_import(owner, CLOSED, store=shop.store)
    zhao = Customer.objects.get(name="赵六")
    ticket = ticket_open(actor=owner, customer=zhao, data=TicketInput(category="quality", subject="退款咨询"))
    ticket_aftersale_link(
        actor=owner, ticket=ticket, aftersale=Order.objects.get(order_no="C1").aftersales.get()
    )

    with pytest.raises(Conflict, match="C1"):
        import_undo(actor=owner, run=run)
    assert ticket.aftersales.count() == 1


def test_all_or_nothing_imports_an_order_closed_after_payment_once(owner, shop, settings):
    from kebu.orders.models import AfterSale

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}

    run = run_all_or_nothing(owner, CLOSED, store=shop.store)

    assert (run.refused, run.checked, counts(run)) == (False, True, (2, 0, 0, 0)), import_rejected_rows(run)
    assert Order.objects.get(order_no="C1").status == OrderStatus.CLOSED
    assert AfterSale.objects.count() == 1
    assert Customer.objects.get(name="赵六").refund_count == 1


@pytest.mark.parametrize(
    ("refund", "line", "status", "returned"),
    [
        ("536.00", "", OrderStatus.CLOSED, 0),  # in full: closed
        ("36.00", "", OrderStatus.COMPLETED, 0),  # in part, a price difference (差价补偿) naming no line
        # in part, the tea's line: the export says what was refunded of each line, so the refund comes
        # back on the tea's line, not spread over the cream's too
        ("128.00", "TEA-250", OrderStatus.COMPLETED, 0),
        # one of the two creams returned (退货退款), with its 199.00: the export says how many of each
        # line came back, so the cream's line comes back with one returned, out of the units sold
        ("199.00", "CREAM-50", OrderStatus.COMPLETED, 1),
    ],
)
def test_kebus_own_export_of_a_refunded_order_imports_into_an_empty_shop_as_the_same_order(
    owner, shop, tmp_path, refund, line, status, returned
):
    from django.utils import translation

    from kebu.orders.models import AfterSale, AfterSaleKind, CustomerCategorySpend, OrderLine
    from kebu.orders.services.aftersales import (
        AfterSaleLineInput,
        aftersale_approve,
        aftersale_complete,
        aftersale_receive,
        aftersale_request,
        order_refund,
    )
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_order
    from kebu.transfer.exports import export_build, export_write

    # given: an order completed, then refunded by hand, and the shop's export of it
    local = timezone.get_current_timezone()
    buyer = customer_create(
        actor=owner, data=CustomerInput(name="王小明", phones=[PhoneInput(number="13812345678")])
    )
    order = make_order(
        actor=owner,
        customer=buyer,
        store=shop.store,
        lines=[("CREAM-50", 2), ("TEA-250", 1)],
        status=OrderStatus.COMPLETED,
        ordered_at=datetime(2024, 3, 1, 9, tzinfo=local),
        paid_at=datetime(2024, 3, 1, 9, 5, tzinfo=local),
        shipped_at=datetime(2024, 3, 2, 9, tzinfo=local),
        completed_at=datetime(2024, 3, 8, 9, tzinfo=local),
        shipping_cny="10.00",
        carrier="顺丰",
        tracking_no="SF1",
        receiver_name="王小明",
        receiver_phone="13812345678",
    )
    named = [AfterSaleLineInput(line_id=ln.pk) for ln in order.lines.all() if ln.sku_code == line]
    if returned:  # asked, agreed, the goods back, the money paid
        back = aftersale_request(
            actor=owner, order=order, kind=AfterSaleKind.RETURN, reason="size", amount_cny=refund, lines=named
        )
        back = aftersale_receive(actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=back))
        aftersale_complete(actor=owner, aftersale=back)
    else:
        order_refund(actor=owner, order=order, amount_cny=refund, reason="quality", lines=named)
    fields = ["order_no", "status", "paid_cny", "refunded_cny", "paid_at", "shipped_at", "delivered_at"]
    fields += ["completed_at", "payment_method", "carrier", "tracking_no"]
    order_before = Order.objects.values_list(*fields).get()
    figures_before = Customer.objects.values_list(*FIGURE_FIELDS).get()
    lines = OrderLine.objects.order_by("position").values_list(
        "sku_code", "returned_quantity", "refunded_cny"
    )
    lines_before = list(lines.all())
    spend = CustomerCategorySpend.objects.order_by("category_id").values_list("category_id", "spent_cny")
    spend_before = list(spend.all())
    path = tmp_path / "orders.csv"
    with translation.override("zh-hans"):
        export_write(export_build("orders", user=owner), path, file_format="csv", user=owner)
    AfterSale.objects.all().delete()
    Order.objects.all().delete()
    Customer.objects.all().delete()

    # when
    with translation.override("zh-hans"):
        run = run_import(owner, path.read_bytes(), store=shop.store)

    # then: at its status again, paid and refunded as it was, and its buyer's figures are the same
    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    assert Order.objects.values_list(*fields).get() == order_before
    assert order_before[1] == status
    assert Customer.objects.values_list(*FIGURE_FIELDS).get() == figures_before
    assert list(lines.all()) == lines_before and list(spend.all()) == spend_before
    aftersale = AfterSale.objects.get()
    assert (aftersale.amount_cny, aftersale.resolved_at) == (Decimal(refund), order_before[7])
    assert aftersale.kind == (AfterSaleKind.RETURN if returned else AfterSaleKind.REFUND)
    assert lines_before[0][1] == returned  # the cream's line


# --- refunded in part: the amount refunded a sheet gives ------------------------------------------


# Order …345 (交易成功, 398.00 paid) with 50.00 given back, a price difference (差价补偿); …346 refunded 0.00.
PART_REFUNDED = _with_refunds(TAOBAO, {"2024010512345": "50.00", "2024010512346": "0.00"})


def test_an_order_the_export_reports_partly_refunded_is_recorded_with_that_refund(owner, shop):
    from kebu.orders.models import AfterSale

    run = run_import(owner, PART_REFUNDED, store=shop.store)

    assert (counts(run), run.noted) == ((4, 0, 0, 0), 1), import_rejected_rows(run)
    order = Order.objects.get(order_no="2024010512345")
    assert (order.status, order.paid_cny, order.refunded_cny) == (
        OrderStatus.COMPLETED,
        Decimal("398.00"),
        Decimal("50.00"),
    )
    aftersale = AfterSale.objects.get()
    assert (aftersale.order, aftersale.kind, aftersale.status, aftersale.amount_cny) == (
        order,
        "refund",
        "completed",
        Decimal("50.00"),
    )
    # dated at the last step the sheet gives a time for (its payment: a completed order's steps before
    # completion take it when the sheet gives none), naming no line: spread over the order's lines
    assert aftersale.resolved_at == order.completed_at == order.paid_at
    assert not aftersale.lines.exists() and sum(line.refunded_cny for line in order.lines.all()) == 50
    assert "ExportOrderList.csv" in aftersale.reason_detail
    ming = Customer.objects.get(name="王小明")
    assert (ming.order_count, ming.total_spent_cny, ming.refund_count, ming.refund_rate) == (
        2,
        Decimal("476.00"),
        1,
        Decimal("0.5"),
    )
    assert not Order.objects.get(order_no="2024010512346").aftersales.exists()  # 0.00: nothing refunded
    [note] = import_notes(run, limit=10)
    assert (note.row, note.column, note.value) == (2, "退款金额", "50.00") and "2024010512345" in note.reason


# Order L1 of 钱七: the toner (护肤) and the tea (茶叶), 217.50 paid.
TWO_CATEGORIES = _sheet(
    "L1,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,爽肤水,1,TONER-100,89.50,,,,0",
    "L1,tb_qian,217.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,明前龙井,1,TEA-250,128.00,,,,0",
)


# Without 退款金额, what its lines' refunds add up to was refunded of the order.
@pytest.mark.parametrize("order_column", [True, False])
def test_a_sheet_saying_what_was_refunded_of_each_line_has_the_refund_on_that_line_and_undo_takes_it_back(
    owner, shop, order_column
):
    from kebu.orders.models import AfterSale, CustomerCategorySpend
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_order

    # given: 钱七, with an order of her own (a cream), and a sheet whose L1 had its tea given back
    qian = customer_create(
        actor=owner, data=CustomerInput(name="钱七", phones=[PhoneInput(number="13900001111")])
    )
    own = make_order(actor=owner, customer=qian, store=shop.store, lines=[("CREAM-50", 1)])
    figures = Customer.objects.filter(pk=qian.pk).values_list(*(f for f in FIGURE_FIELDS if f != "stage"))
    spend = CustomerCategorySpend.objects.filter(customer=qian).order_by("category_id")
    spend = spend.values_list("category__name", "spent_cny")
    before = (figures.get(), list(spend.all()))
    data = _with_refunds(TWO_CATEGORIES, {"L1": "128.00"}) if order_column else TWO_CATEGORIES
    data = _with_line_refunds(data, {("L1", "TEA-250"): "128.00", ("L1", "TONER-100"): "0.00"})

    # when
    run = run_import(owner, data, store=shop.store)

    # then: the tea's line is refunded, not the toner's, and her spend per category says so
    assert (counts(run), run.noted) == ((1, 0, 0, 0), 1), import_rejected_rows(run)
    order = Order.objects.get(order_no="L1")
    assert (order.status, order.paid_cny, order.refunded_cny) == (
        OrderStatus.COMPLETED,
        Decimal("217.50"),
        Decimal("128.00"),
    )
    assert list(order.lines.order_by("position").values_list("sku_code", "refunded_cny")) == [
        ("TONER-100", Decimal("0.00")),
        ("TEA-250", Decimal("128.00")),
    ]
    assert list(spend.all()) == [("护肤", Decimal("288.50")), ("茶叶", Decimal("0.00"))]
    qian.refresh_from_db()
    assert (qian.total_spent_cny, qian.refund_count, qian.top_category) == (
        Decimal("288.50"),
        1,
        shop.skincare,
    )
    aftersale = AfterSale.objects.get()
    assert (aftersale.amount_cny, aftersale.lines.exists()) == (Decimal("128.00"), False)  # no quantity taken

    # and undo takes the order back with its refund, and her figures with it
    import_undo(actor=owner, run=run)
    assert not AfterSale.objects.exists() and list(Order.objects.all()) == [own]
    assert (figures.get(), list(spend.all())) == before


def test_a_new_order_whose_lines_alone_say_what_was_refunded_is_noted_on_the_line_refunded_cell(owner, shop):
    from django.utils import translation

    # L1's toner refunded, in a sheet without 退款金额
    data = _with_line_refunds(TWO_CATEGORIES, {("L1", "TONER-100"): "89.50"})

    with translation.override("en"):
        run = run_import(owner, data, store=shop.store)
        [note] = import_notes(run, limit=10)

    assert (counts(run), run.noted) == ((1, 0, 0, 0), 1), import_rejected_rows(run)
    assert Order.objects.get(order_no="L1").refunded_cny == Decimal("89.50")
    assert (note.row, note.column, note.value) == (2, "商品退款金额", "89.50")
    assert "L1" in note.reason and "89.50" in note.reason, note


# Each on a line's refunded cell (商品退款金额), named by its value.
@pytest.mark.parametrize(
    ("line_refunds", "order_refund", "cell", "words"),
    [
        # more than its line's 89.50
        ({("L1", "TONER-100"): "100.00"}, "100.00", "100.00", ["L1", "line 1", "100.00", "89.50"]),
        # the lines' refunds, 128.00 and 10.00, more than the order's refund: on the first of them
        (
            {("L1", "TEA-250"): "128.00", ("L1", "TONER-100"): "10.00"},
            "128.00",
            "10.00",
            ["L1", "138.00", "128.00"],
        ),
        ({("L1", "TEA-250"): "-1.00"}, "", "-1.00", ["negative"]),
        # without 退款金额: what the lines add up to, more than the 217.50 paid
        ({("L1", "TEA-250"): "128.00", ("L1", "TONER-100"): "89.51"}, "", "89.51", ["217.51", "217.50"]),
    ],
)
def test_a_line_refund_that_cannot_be_refuses_its_order_saying_why_and_nothing_of_it_is_written(
    owner, shop, line_refunds, order_refund, cell, words
):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    data = _with_refunds(TWO_CATEGORIES, {"L1": order_refund}) if order_refund else TWO_CATEGORIES

    with translation.override("en"):
        run = run_import(owner, _with_line_refunds(data, line_refunds), store=shop.store)
        [(_row, _cells, [problem])] = _with_problems(import_rejected_rows(run))

    assert counts(run) == (0, 0, 0, 1)
    assert (problem.column, problem.value) == ("商品退款金额", cell)
    assert all(word in problem.reason for word in words), problem
    assert not Order.objects.exists() and not AfterSale.objects.exists()


# Order R1 of 钱七: two teas (茶叶, 256.00) and a toner (护肤, 89.50), 10.00 shipping: 355.50 paid.
RETURNED = _sheet(
    "R1,tb_qian,355.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,明前龙井,2,TEA-250,128.00,,,,10",
    "R1,tb_qian,355.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,爽肤水,1,TONER-100,89.50,,,,10",
)


def _january_units(owner, category) -> int:
    """The units of ``category`` sold in January 2024 net of those returned (the sales summary's 件数)."""
    from datetime import date

    from kebu.orders.reports import sales_summary

    summary = sales_summary(user=owner, date_from=date(2024, 1, 1), date_to=date(2024, 1, 31))
    return summary.category_totals[category.pk].quantity


def test_a_sheet_saying_how_many_of_a_line_came_back_records_that_return_and_undo_takes_it_back(owner, shop):
    from kebu.orders.models import AfterSale, AfterSaleKind, AfterSaleStatus, CustomerCategorySpend
    from kebu.orders.services.aftersales import AfterSaleLineInput, aftersale_request
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_order

    # given: 钱七, with an order of her own (a cream), and Kebu's own export of R1, one of whose teas came
    # back (128.00), its toner refunded 20.00 of a price difference, and the shipping refunded
    qian = customer_create(
        actor=owner, data=CustomerInput(name="钱七", phones=[PhoneInput(number="13900001111")])
    )
    own = make_order(actor=owner, customer=qian, store=shop.store, lines=[("CREAM-50", 1)])
    figures = Customer.objects.filter(pk=qian.pk).values_list(*(f for f in FIGURE_FIELDS if f != "stage"))
    spend = CustomerCategorySpend.objects.filter(customer=qian).order_by("category_id")
    spend = spend.values_list("category__name", "spent_cny")
    before = (figures.get(), list(spend.all()))
    data = _with_refunds(RETURNED, {"R1": "158.00"})
    data = _with_line_refunds(data, {("R1", "TEA-250"): "128.00", ("R1", "TONER-100"): "20.00"})
    data = _with_line_returns(data, {("R1", "TEA-250"): "1", ("R1", "TONER-100"): "0"})

    # when
    run = run_import(owner, data, store=shop.store)

    # then: one tea came back, with its money, and the toner kept its 20.00 off
    assert (counts(run), run.noted) == ((1, 0, 0, 0), 1), import_rejected_rows(run)
    order = Order.objects.get(order_no="R1")
    assert (order.status, order.paid_cny, order.refunded_cny) == (
        OrderStatus.COMPLETED,
        Decimal("355.50"),
        Decimal("158.00"),
    )
    lines = order.lines.order_by("position").values_list("sku_code", "returned_quantity", "refunded_cny")
    assert list(lines) == [("TEA-250", 1, Decimal("128.00")), ("TONER-100", 0, Decimal("20.00"))]
    assert _january_units(owner, shop.tea) == 1  # two sold, one back
    assert list(spend.all()) == [("护肤", Decimal("268.50")), ("茶叶", Decimal("128.00"))]
    qian.refresh_from_db()
    assert (qian.total_spent_cny, qian.refund_count) == (Decimal("396.50"), 1)
    # a return and refund, over as the sheet says: completed at once, dated at its last step
    aftersale = AfterSale.objects.get()
    assert (aftersale.kind, aftersale.status, aftersale.amount_cny, aftersale.resolved_at) == (
        AfterSaleKind.RETURN,
        AfterSaleStatus.COMPLETED,
        Decimal("158.00"),
        order.completed_at,
    )
    assert list(aftersale.lines.values_list("line__sku_code", "quantity")) == [("TEA-250", 1)]
    # the tea that came back is not there to return again
    tea = order.lines.get(sku_code="TEA-250")
    with pytest.raises(ValidationFailed):
        aftersale_request(
            actor=owner,
            order=order,
            kind=AfterSaleKind.RETURN,
            reason="size",
            lines=[AfterSaleLineInput(tea.pk, 2)],
        )

    # and undo takes the order back with its return, and her figures with it
    import_undo(actor=owner, run=run)
    assert not AfterSale.objects.exists() and list(Order.objects.all()) == [own]
    assert (figures.get(), list(spend.all())) == before


# A marketplace's 退货数量 without what was refunded of each line: the line that came back gives back
# its price of the units returned, at most the refund; the rest goes over the lines in proportion to
# what each has left (the tea's other unit 128.00, the toner's 89.50), as a refund naming no line is.
@pytest.mark.parametrize(
    ("refunded", "tea_refunded", "toner_refunded"),
    [("138.00", "133.89", "4.11"), ("100.00", "100.00", "0.00")],
)
def test_a_marketplaces_returned_quantity_alone_takes_the_refund_from_the_line_that_came_back(
    owner, shop, refunded, tea_refunded, toner_refunded
):
    from django.utils import translation

    from kebu.orders.models import AfterSale, AfterSaleKind

    data = _with_line_returns(_with_refunds(RETURNED, {"R1": refunded}), {("R1", "TEA-250"): "1"})

    with translation.override("en"):
        run = run_import(owner, data, store=shop.store)
        [note] = import_notes(run, limit=10)

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="R1")
    lines = order.lines.order_by("position").values_list("sku_code", "returned_quantity", "refunded_cny")
    assert list(lines) == [("TEA-250", 1, Decimal(tea_refunded)), ("TONER-100", 0, Decimal(toner_refunded))]
    assert (order.refunded_cny, AfterSale.objects.get().kind) == (Decimal(refunded), AfterSaleKind.RETURN)
    assert (note.column, note.value) == ("退款金额", refunded) and "returned" in note.reason


# The same with an order discount (20.00) and a coupon (5.00): 458.50 paid, 448.50 of it for 473.50 of
# goods. The tea's line (3 × 128.00) is 363.73 of that, one tea 121.24, as an after-sale left to its
# default gives back (``line_refund_bases``), not its price of 128.00; what the refund has past it (the
# shipping) goes over what each line has left, as above.
_D1 = _sheet(
    "D1,tb_qian,458.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,明前龙井,3,TEA-250,128.00,,,,10",
    "D1,tb_qian,458.50,交易成功,,钱七,上海 上海市 浦东新区 张江路88号,13900001111,2024-01-07 09:00:00,"
    "2024-01-07 09:05:00,爽肤水,1,TONER-100,89.50,,,,10",
)
DISCOUNTED = _with_refunds(
    _with_refunds(_D1, {"D1": "20.00"}, header="订单优惠"), {"D1": "5.00"}, header="优惠券金额"
)


@pytest.mark.parametrize(
    ("refunded", "tea_refunded", "toner_refunded"),
    [("121.24", "121.24", "0.00"), ("131.24", "128.70", "2.54")],
)
def test_a_returned_quantity_alone_gives_back_the_units_share_of_what_was_paid_after_the_discounts(
    owner, shop, refunded, tea_refunded, toner_refunded
):
    from kebu.orders.services.aftersales import line_refund_bases

    data = _with_line_returns(_with_refunds(DISCOUNTED, {"D1": refunded}), {("D1", "TEA-250"): "1"})

    run = run_import(owner, data, store=shop.store)

    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="D1")
    assert (order.discount_cny, order.coupon_cny, order.paid_cny) == (
        Decimal("20.00"),
        Decimal("5.00"),
        Decimal("458.50"),
    )
    lines = order.lines.order_by("position").values_list("sku_code", "returned_quantity", "refunded_cny")
    assert list(lines) == [("TEA-250", 1, Decimal(tea_refunded)), ("TONER-100", 0, Decimal(toner_refunded))]
    # what the after-sale form proposes for the two teas still there: the rest of the line's share
    tea = order.lines.get(sku_code="TEA-250")
    assert line_refund_bases(order)[tea.pk].default(2) == Decimal("242.49")


def _refund_outcome(owner, store, data: bytes) -> tuple:
    """What importing ``data`` leaves of order R1 and its buyer: her total spent, her spend per category,
    the order's status and refund, and each line's (returned, refunded); then undone, for the next."""
    from kebu.orders.models import CustomerCategorySpend

    run = run_import(owner, data, store=store)
    assert counts(run) == (1, 0, 0, 0), import_rejected_rows(run)
    qian = Customer.objects.get(name="钱七")
    spend = CustomerCategorySpend.objects.filter(customer=qian).order_by("category__name")
    order = Order.objects.get(order_no="R1")
    lines = order.lines.order_by("position").values_list("sku_code", "returned_quantity", "refunded_cny")
    outcome = (
        qian.total_spent_cny,
        list(spend.values_list("category__name", "spent_cny")),
        order.status,
        order.refunded_cny,
        list(lines),
    )
    import_undo(actor=owner, run=run)
    return outcome


CLOSED_R1 = RETURNED.replace("交易成功".encode(), "交易关闭".encode())


def test_an_order_closed_with_a_unit_returned_and_no_line_refunds_spends_nothing_in_any_category(owner, shop):
    # given: R1 closed after payment (355.50 back), one of its two teas back (退货数量), no 商品退款金额
    returned = _with_line_returns(CLOSED_R1, {("R1", "TEA-250"): "1"})

    # when / then: everything of every line went back, as it does without 退货数量; the tea's unit back
    total, spend, status, refunded, lines = _refund_outcome(owner, shop.store, returned)
    assert (total, spend, status, refunded) == _refund_outcome(owner, shop.store, CLOSED_R1)[:4]
    assert spend == [("护肤", Decimal("0.00")), ("茶叶", Decimal("0.00"))] and total == Decimal("0.00")
    assert lines == [("TEA-250", 1, Decimal("256.00")), ("TONER-100", 0, Decimal("89.50"))]


def test_an_order_closed_whose_lines_alone_say_what_was_refunded_is_refunded_in_full(owner, shop):
    # given: R1 closed after payment, its lines' refunds leaving out the 10.00 shipping, no 退款金额
    data = _with_line_refunds(CLOSED_R1, {("R1", "TEA-250"): "256.00", ("R1", "TONER-100"): "89.50"})

    # when / then: refunded in full as the sheet without the line column is, its lines as they say
    outcome = _refund_outcome(owner, shop.store, data)
    assert outcome == _refund_outcome(owner, shop.store, CLOSED_R1)
    assert outcome[2:4] == (OrderStatus.CLOSED, Decimal("355.50"))


def test_an_order_closed_whose_lines_say_part_of_what_was_refunded_has_the_rest_spread(owner, shop):
    # the tea's line says 128.00 of its 256.00; the rest of everything paid goes over what is left
    data = _with_line_refunds(CLOSED_R1, {("R1", "TEA-250"): "128.00"})

    total, spend, _status, refunded, lines = _refund_outcome(owner, shop.store, data)

    assert (total, refunded) == (Decimal("0.00"), Decimal("355.50"))
    assert spend == [("护肤", Decimal("0.00")), ("茶叶", Decimal("0.00"))]
    assert lines == [("TEA-250", 0, Decimal("256.00")), ("TONER-100", 0, Decimal("89.50"))]


def test_line_refunds_all_zero_beside_an_order_refund_spread_it_as_a_sheet_without_them(owner, shop):
    refunded = _with_refunds(RETURNED, {"R1": "100.00"})
    zeros = _with_line_refunds(refunded, {("R1", "TEA-250"): "0", ("R1", "TONER-100"): "0.00"})

    total, spend, _status, _refunded, lines = _refund_outcome(owner, shop.store, zeros)

    assert (total, spend, lines) == itemgetter(0, 1, 4)(_refund_outcome(owner, shop.store, refunded))
    assert sum(amount for _code, _back, amount in lines) == Decimal("100.00")  # none left on the order


@pytest.mark.parametrize("status", ["等待买家付款", "交易关闭"])
def test_line_refunds_of_an_unpaid_order_refuse_it_on_the_line_refunded_cell(owner, shop, status):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    # given: R1 not paid (交易关闭 without a payment time is closed before payment), its tea refunded
    data = RETURNED.replace("交易成功".encode(), status.encode()).replace(b"2024-01-07 09:05:00", b"")
    data = _with_line_refunds(data, {("R1", "TEA-250"): "128.00"})

    with translation.override("en"):
        run = run_import(owner, data, store=shop.store)
        [(_row, _cells, [problem])] = _with_problems(import_rejected_rows(run))

    assert (problem.column, problem.value) == ("商品退款金额", "128.00")
    assert "R1" in problem.reason and "not paid" in problem.reason
    assert not Order.objects.exists() and not AfterSale.objects.exists()


@pytest.mark.parametrize(
    ("returned", "refunded", "words"),
    [
        ("3", "256.00", ["3 returned", "2 bought"]),
        ("-1", "128.00", ["negative"]),
        ("1.5", "128.00", ["whole number"]),
        ("1", "", ["R1", "nothing refunded"]),  # a return gives money back
        ("1", "0.00", ["R1", "nothing refunded"]),
    ],
)
def test_a_returned_quantity_that_cannot_be_refuses_its_order_on_its_cell_and_nothing_of_it_is_written(
    owner, shop, returned, refunded, words
):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    data = _with_refunds(RETURNED, {"R1": refunded}) if refunded else RETURNED

    with translation.override("en"):
        run = run_import(owner, _with_line_returns(data, {("R1", "TEA-250"): returned}), store=shop.store)
        [(_row, _cells, [problem])] = _with_problems(import_rejected_rows(run))

    assert counts(run) == (0, 0, 0, 1)
    assert (problem.row, problem.column, problem.value) == (2, "退货数量", returned)
    assert all(word in problem.reason for word in words), problem
    assert not Order.objects.exists() and not AfterSale.objects.exists()


def test_a_unit_back_of_an_order_closed_with_nothing_paid_after_all_is_refused_on_its_returned_cell(
    owner, shop, tmp_path, either_way
):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    # given: a free sample (0.00) closed after a payment time, its amount paid blank, one unit back: once
    # checked, nothing was due, so nothing was paid, and a return without a refund cannot be
    data = _sheet(
        "F1,tb_zhao,,交易关闭,,赵六,浙江省 杭州市 西湖区 文三路1号,13811112222,2024-01-05 10:00:00,"
        "2024-01-05 10:01:00,玻尿酸面霜试用装,1,CREAM-50,0.00,,,,0",
        line_returns={("F1", "CREAM-50"): "1"},
    )

    with translation.override("en"):
        run = run_import(owner, data, store=shop.store)
        [(_row, _cells, [problem])] = import_rejected_rows(run)

    assert (problem.row, problem.column, problem.value) == (2, "退货数量", "1")
    assert "F1" in problem.reason and "nothing refunded" in problem.reason, problem
    assert counts(run) == (0, 0, 0, 1)
    assert not Order.objects.exists() and not AfterSale.objects.exists() and not Customer.objects.exists()
    assert _marked_cells(run, tmp_path / "report.xlsx") == {"S2": problem.reason}  # 退货数量, the 19th


def test_an_order_already_in_kebu_the_sheet_says_more_came_back_of_over_its_lines_is_noted_on_a_cell(
    owner, shop
):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    # given: R1 imported refunded 128.00, nothing returned; a later sheet says a tea and the toner came back
    refunded = _with_refunds(RETURNED, {"R1": "128.00"})
    run_import(owner, refunded, store=shop.store)
    returned = _with_line_returns(refunded, {("R1", "TEA-250"): "1", ("R1", "TONER-100"): "1"})

    # when
    with translation.override("en"):
        run = run_import(owner, returned, store=shop.store)
        [note] = import_notes(run, limit=10)

    # then: the note is on the first cell that says some came back, as it stands in the file
    assert (counts(run), run.noted) == ((0, 0, 1, 0), 1), import_rejected_rows(run)
    assert (note.row, note.column, note.value) == (2, "退货数量", "1")
    assert "2 items returned in the file, 0 in Kebu" in note.reason, note
    assert not any(line.returned_quantity for line in Order.objects.get(order_no="R1").lines.all())
    assert AfterSale.objects.count() == 1


def test_an_order_already_in_kebu_the_sheet_says_more_came_back_of_is_left_with_a_note(owner, shop):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    # given: R1 imported with its tea refunded (128.00), not returned; a later sheet says it came back
    refunded = _with_line_refunds(_with_refunds(RETURNED, {"R1": "128.00"}), {("R1", "TEA-250"): "128.00"})
    run_import(owner, refunded, store=shop.store)
    order = Order.objects.get(order_no="R1")

    # when
    with translation.override("en"):
        run = run_import(owner, _with_line_returns(refunded, {("R1", "TEA-250"): "1"}), store=shop.store)
        [note] = import_notes(run, limit=10)

    # then: left as it is, with a note to record the return by hand
    assert (counts(run), run.noted) == ((0, 0, 1, 0), 1), import_rejected_rows(run)
    assert (
        (note.column, note.value) == ("退货数量", "1") and "R1" in note.reason and "after-sale" in note.reason
    )
    assert Order.objects.get(order_no="R1").version == order.version
    assert [line.returned_quantity for line in order.lines.all()] == [0, 0]
    assert AfterSale.objects.count() == 1


def test_an_amount_refunded_written_with_its_currency_is_read_as_money_and_listed_as_corrected(owner, shop):
    from kebu.transfer.orders import order_file_check

    data = _with_refunds(TAOBAO, {"2024010512345": "￥50.00元"})

    check = order_file_check(data, store=shop.store)
    run = run_import(owner, data, store=shop.store)

    assert not check.bad
    assert [(c.row, c.column, c.written, c.taken) for c in check.corrections] == [
        (2, "退款金额", "￥50.00元", "50.00")
    ]
    assert Order.objects.get(order_no="2024010512345").refunded_cny == Decimal("50.00")
    assert [(c.row, c.column, c.taken) for c in import_corrections(run)] == [(2, "退款金额", "50.00")]


def test_an_order_refunded_in_full_that_the_export_still_calls_completed_comes_in_closed(owner, shop):
    # A marketplace may keep 交易成功 on an order refunded in full after it completed; Kebu closes it.
    run = run_import(owner, _with_refunds(TAOBAO, {"2024010512345": "398.00"}), store=shop.store)

    assert (counts(run), run.noted) == ((4, 0, 0, 0), 1), import_rejected_rows(run)
    order = Order.objects.get(order_no="2024010512345")
    assert (order.status, order.refunded_cny, order.closed_at) == (
        OrderStatus.CLOSED,
        Decimal("398.00"),
        order.paid_at,
    )
    ming = Customer.objects.get(name="王小明")
    assert (ming.order_count, ming.total_spent_cny, ming.refund_count) == (2, Decimal("128.00"), 1)
    [note] = import_notes(run, limit=10)
    assert (note.column, note.value) == ("退款金额", "398.00") and "2024010512345" in note.reason


def test_an_order_closed_after_payment_whose_refunded_column_agrees_is_refunded_in_full_once(owner, shop):
    closed = TAOBAO.replace("398.00,交易成功".encode(), "398.00,交易关闭".encode())

    run = run_import(owner, _with_refunds(closed, {"2024010512345": "398.00"}), store=shop.store)

    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="2024010512345")
    assert (order.status, order.refunded_cny, order.aftersales.count()) == (
        OrderStatus.CLOSED,
        Decimal("398.00"),
        1,
    )
    [note] = import_notes(run, limit=10)
    assert (note.column, note.value) == ("订单状态", "交易关闭")


@pytest.mark.parametrize(
    ("status", "number", "refunded", "row"),
    [
        ("交易成功", "2024010512345", "400.00", 2),  # more than the 398.00 paid
        ("交易成功", "2024010512345", "-5.00", 2),  # negative
        ("交易成功", "2024010512348", "5.00", 5),  # awaiting payment: nothing paid to refund
        ("交易关闭", "2024010512345", "100.00", 2),  # closed after payment, which is refunded in full
    ],
)
def test_an_amount_refunded_that_cannot_be_is_the_problem_of_its_cell_and_nothing_of_the_order_is_written(
    owner, shop, status, number, refunded, row
):
    from kebu.orders.models import AfterSale
    from kebu.transfer.orders import order_file_check

    data = _with_refunds(
        TAOBAO.replace("398.00,交易成功".encode(), f"398.00,{status}".encode()), {number: refunded}
    )

    check = order_file_check(data, store=shop.store)
    run = run_import(owner, data, store=shop.store)

    [(bad_row, _cells, [problem])] = check.bad
    assert (bad_row, problem.column, problem.value) == (row, "退款金额", refunded), problem
    assert counts(run) == (3, 0, 0, 1)
    assert [problems for _row, _cells, problems in import_rejected_rows(run)] == [[problem]]
    assert not Order.objects.filter(order_no=number).exists() and not AfterSale.objects.exists()


def _without_column(data: bytes, header: str) -> bytes:
    """``data`` without its column ``header``."""
    rows = csv_rows(data)
    at = rows[0].index(header)
    return "\n".join(",".join(c for i, c in enumerate(cells) if i != at) for cells in rows).encode()


def _with_column(data: bytes, header: str, values: dict[str, str]) -> bytes:
    """``data`` with a last column ``header``, filled on every row of the orders ``values`` names by
    their number (a sheet's first column), blank on the others."""
    header_row, *lines = csv_rows(data)
    out = io.StringIO()
    csv.writer(out).writerows([[*header_row, header], *([*c, values.get(c[0], "")] for c in lines)])
    return out.getvalue().encode()


def _marked_cells(run: Import, path: Path) -> dict[str, str]:
    """The report of ``run``'s rejected rows, written to ``path``: its bad cells (as A1 references on
    its sheet of rows to fix) with the reasons written on them."""
    import html
    import re
    import zipfile

    from kebu.transfer.report import report_write

    report_write(str(path), headers=run.headers, rows=import_rejected_rows(run))
    with zipfile.ZipFile(path) as archive:
        comments = archive.read("xl/comments1.xml").decode()
    found = re.findall(r'<comment ref="([A-Z]+\d+)".*?<t(?:\s[^>]*)?>([^<]*)</t>', comments, re.S)
    return {cell: html.unescape(reason) for cell, reason in found}


# Without 买家实际支付金额 what was paid is the amount due (398.00), known only once the order is checked:
# an amount refunded held against it then is refused on its cell all the same.
@pytest.mark.parametrize(
    ("status", "refunded", "words"),
    [
        ("交易成功", "400.00", ["2024010512345", "400.00", "398.00"]),  # more than was paid
        ("交易关闭", "100.00", ["2024010512345", "closed", "100.00"]),  # closed after payment: in full
    ],
)
def test_an_amount_refunded_that_cannot_be_of_a_sheet_without_an_amount_paid_is_refused_on_its_cell(
    owner, shop, tmp_path, either_way, status, refunded, words
):
    from django.utils import translation

    from kebu.orders.models import AfterSale
    from kebu.transfer.orders import order_file_check

    data = TAOBAO.replace("398.00,交易成功".encode(), f"398.00,{status}".encode())
    data = _without_column(_with_refunds(data, {"2024010512345": refunded}), "买家实际支付金额")

    with translation.override("en"):
        check = order_file_check(data, store=shop.store)
        run = run_import(owner, data, store=shop.store)
        [(row, _cells, [problem])] = import_rejected_rows(run)

    assert (row, problem.column, problem.value) == (2, "退款金额", refunded)
    assert all(word in problem.reason for word in words), problem
    assert [problems for _row, _cells, problems in check.bad] == [[problem]]
    assert counts(run) == (3, 0, 0, 1)
    assert not Order.objects.filter(order_no="2024010512345").exists() and not AfterSale.objects.exists()
    # the report marks that cell, and no other: 退款金额 is the sheet's last column, its 18th (R)
    assert _marked_cells(run, tmp_path / "report.xlsx") == {"R2": problem.reason}


# A marketplace's export gives no amount paid (Shopify's Total has the tax in it, which Kebu does not
# keep): its refund column is held against the amount due once the order is checked.
@pytest.mark.parametrize(
    ("sample", "platform", "number", "header", "refunded", "row", "marked"),
    [
        # 398.00 due; marked on the report's first row to fix, in the column after the sheet's 34
        ("shopify_orders.csv", "shopify", "#1001", "Refunded Amount", "400.00", 2, "AI2"),
        # 189.00 due; the sheet's row 3 is the report's first, and the column after its 17 is R
        ("woocommerce_orders.csv", "woocommerce", "3002", "Order Refund Amount", "190.00", 3, "R2"),
    ],
)
def test_a_marketplaces_amount_refunded_above_the_amount_due_is_refused_on_its_own_column(
    owner, tmp_path, either_way, sample, platform, number, header, refunded, row, marked
):
    from django.utils import translation

    from kebu.orders.models import AfterSale, Store

    make_catalogue(actor=owner)
    store = Store.objects.create(name=f"{platform} 店", platform=platform)
    data = _with_column((SAMPLES / sample).read_bytes(), header, {number: refunded})

    with translation.override("en"):
        run = run_import(owner, data, store=store)
        [(bad_row, _cells, [problem])] = import_rejected_rows(run)

    assert (bad_row, problem.column, problem.value) == (row, header, refunded)
    assert number in problem.reason and "more than" in problem.reason, problem
    assert counts(run) == (1, 0, 0, 1)
    assert not Order.objects.filter(order_no=number).exists() and not AfterSale.objects.exists()
    assert _marked_cells(run, tmp_path / "report.xlsx") == {marked: problem.reason}


def test_the_same_export_with_a_refund_imported_again_is_unchanged_and_refunded_once(owner, shop):
    from kebu.orders.models import AfterSale

    run_import(owner, PART_REFUNDED, store=shop.store)

    again = run_import(owner, PART_REFUNDED, store=shop.store)

    assert (counts(again), again.noted) == ((0, 0, 4, 0), 0), import_rejected_rows(again)
    assert AfterSale.objects.count() == 1
    ming = Customer.objects.get(name="王小明")
    assert (ming.total_spent_cny, ming.refund_count) == (Decimal("476.00"), 1)


def test_an_export_older_than_a_refund_recorded_in_kebu_is_unchanged_and_keeps_the_refund(
    owner, shop, tmp_path
):
    from django.utils import translation

    from kebu.orders.services.aftersales import order_refund
    from kebu.transfer.exports import export_build, export_write

    # given: the shop's export (已退款 0.00 on every order), then a refund recorded on one of its orders
    run_import(owner, TAOBAO, store=shop.store)
    path = tmp_path / "订单.csv"
    with translation.override("zh-hans"):
        export_write(export_build("orders", user=owner), path, file_format="csv", user=owner)
    order = Order.objects.get(order_no="2024010512345")
    order_refund(actor=owner, order=order, amount_cny="50.00", reason="other")
    before = list(Order.objects.order_by("pk").values_list("order_no", "refunded_cny", "version"))
    figures = Customer.objects.filter(name="王小明").values_list("total_spent_cny", "refund_count", "version")
    figures_before = figures.get()

    # when: the older export is imported again
    with translation.override("zh-hans"):
        again = run_import(owner, path.read_bytes(), store=shop.store)

    # then: nothing refused, nothing noted, and the refund stays
    assert (counts(again), again.noted) == ((0, 0, 4, 0), 0), import_rejected_rows(again)
    assert list(Order.objects.order_by("pk").values_list("order_no", "refunded_cny", "version")) == before
    assert figures.get() == figures_before == (Decimal("476.00"), 1, figures_before[2])
    assert order.aftersales.count() == 1


def test_a_newer_export_showing_more_refunded_than_kebu_has_is_noted_and_refunds_nothing(owner, shop):
    from kebu.orders.models import AfterSale

    run_import(owner, TAOBAO, store=shop.store)
    ming = Customer.objects.filter(name="王小明").values_list("total_spent_cny", "refund_count", "version")
    ming_before = ming.get()
    # a week later: …345 refunded 50.00, and …346 shipped and refunded 10.00
    newer = TAOBAO.replace("89.50,等待卖家发货".encode(), "89.50,卖家已发货".encode())
    newer = newer.replace(b"89.50,,,,0", "89.50,圆通速递,YT2024,,0".encode())

    later = run_import(
        owner, _with_refunds(newer, {"2024010512345": "50.00", "2024010512346": "10.00"}), store=shop.store
    )

    assert (counts(later), later.noted) == ((0, 1, 3, 0), 2), import_rejected_rows(later)
    assert Order.objects.get(order_no="2024010512346").status == OrderStatus.SHIPPED  # moved on all the same
    assert not AfterSale.objects.exists()
    assert set(Order.objects.values_list("refunded_cny", flat=True)) == {Decimal("0.00")}
    assert ming.get() == ming_before
    notes = import_notes(later, limit=10)
    assert [(n.row, n.column, n.value) for n in notes] == [(2, "退款金额", "50.00"), (3, "退款金额", "10.00")]
    assert "2024010512345" in notes[0].reason and "after-sale" in notes[0].reason


def test_a_newer_export_whose_lines_alone_show_more_refunded_is_noted_on_the_line_refunded_cell(owner, shop):
    from django.utils import translation

    from kebu.orders.models import AfterSale

    # given: L1 imported with nothing refunded; a later sheet without 退款金额 says its toner was refunded
    run_import(owner, TWO_CATEGORIES, store=shop.store)
    later = _with_line_refunds(TWO_CATEGORIES, {("L1", "TONER-100"): "89.50"})

    # when
    with translation.override("en"):
        run = run_import(owner, later, store=shop.store)
        [note] = import_notes(run, limit=10)

    # then: left as it is, the note on the cell that says so
    assert (counts(run), run.noted) == ((0, 0, 1, 0), 1), import_rejected_rows(run)
    assert (note.row, note.column, note.value) == (2, "商品退款金额", "89.50")
    assert "L1" in note.reason and "after-sale" in note.reason, note
    assert Order.objects.get(order_no="L1").refunded_cny == 0 and not AfterSale.objects.exists()


def test_undo_takes_a_partly_refunded_order_back_with_its_refund_and_gives_back_the_buyers_figures(
    owner, shop
):
    from kebu.orders.models import AfterSale
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_order

    # given: 李华, with an order of her own, whom the sheet's …346 is matched to by phone, refunded 9.50
    lihua = customer_create(
        actor=owner, data=CustomerInput(name="李华", phones=[PhoneInput(number="13900001111")])
    )
    own = make_order(actor=owner, customer=lihua, store=shop.store, lines=[("TEA-250", 1)])
    figures = [name for name in FIGURE_FIELDS if name != "stage"]  # stages never go down
    before = Customer.objects.filter(pk=lihua.pk).values_list(*figures).get()
    run = run_import(owner, _with_refunds(TAOBAO, {"2024010512346": "9.50"}), store=shop.store)
    lihua.refresh_from_db()
    assert (lihua.order_count, lihua.total_spent_cny, lihua.refund_count) == (2, Decimal("208.00"), 1)

    import_undo(actor=owner, run=run)

    assert Customer.objects.filter(pk=lihua.pk).values_list(*figures).get() == before
    assert not AfterSale.objects.exists() and list(Order.objects.all()) == [own]


def test_all_or_nothing_imports_a_partly_refunded_order_once(owner, shop, settings):
    from kebu.orders.models import AfterSale

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}

    run = run_all_or_nothing(owner, PART_REFUNDED, store=shop.store)

    assert (run.refused, run.checked, counts(run)) == (False, True, (4, 0, 0, 0)), import_rejected_rows(run)
    assert AfterSale.objects.get().amount_cny == Decimal("50.00")
    assert Customer.objects.get(name="王小明").total_spent_cny == Decimal("476.00")


def test_a_shopify_order_partly_refunded_comes_in_paid_with_its_refunded_amount(owner):
    from kebu.orders.models import Store

    make_catalogue(actor=owner)
    store = Store.objects.create(name="Shopify 店", platform="shopify")
    header, *lines = csv_rows((SAMPLES / "shopify_orders.csv").read_bytes())
    at = header.index("Id")  # Shopify's Refunded Amount comes after Payment Method and Payment Reference
    rows = [[*header[:at], "Refunded Amount", *header[at:]]]
    for cells in lines:
        if cells[0] == "#1001":
            cells[header.index("Financial Status")] = "partially_refunded"
        rows.append([*cells[:at], "100.00" if cells[0] == "#1001" else "", *cells[at:]])
    out = io.StringIO()
    csv.writer(out).writerows(rows)

    run = run_import(owner, out.getvalue().encode(), store=store)

    assert counts(run) == (2, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="#1001")
    assert (order.status, order.paid_cny, order.refunded_cny) == (
        OrderStatus.SHIPPED,  # fulfilled (Fulfilled at), as the sample's #1001 is
        Decimal("398.00"),
        Decimal("100.00"),
    )


def _xlsx(rows: list[list[object]]) -> bytes:
    """An .xlsx of ``rows`` as Excel saves it: a number as a number cell, anything else as text."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, int | float):
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    book.close()
    return buffer.getvalue()


def test_order_numbers_a_spreadsheet_rounded_are_refused_not_read_as_one_order(owner, shop):
    # given: a Taobao export opened in Excel and saved as .xlsx: its 19-digit order numbers became number
    # cells, and two orders' numbers the same number once rounded to 15 digits
    header, *lines = csv_rows(TAOBAO)
    at = header.index("订单编号")
    rows: list[list[object]] = [header]
    for number, cells in zip((3871234567890123456, 3871234567890123499), lines[:2], strict=True):
        rows.append([*cells[:at], float(number), *cells[at + 1 :]])

    # when
    run = run_import(owner, _xlsx(rows), store=shop.store, name="ExportOrderList.xlsx")

    # then: neither order is made (as one order of both buyers' lines), and the cell says why
    assert counts(run) == (0, 0, 0, 1)
    assert not Order.objects.exists() and not Customer.objects.exists()
    [(row, _cells, [problem])] = _with_problems(import_rejected_rows(run))
    assert (row, problem.column) == (2, "订单编号")
    assert "3871234567890120000" in problem.reason


def test_an_order_number_in_e_notation_from_a_csv_saved_by_excel_is_refused(owner, shop):
    header, *lines = csv_rows(TAOBAO)
    lines[0][header.index("订单编号")] = "3.87123E+18"
    out = io.StringIO()
    csv.writer(out).writerows([header, lines[0]])

    run = run_import(owner, out.getvalue().encode(), store=shop.store)

    assert counts(run) == (0, 0, 0, 1) and not Order.objects.exists()
    [(_row, _cells, [problem])] = _with_problems(import_rejected_rows(run))
    assert "3.87123E+18" in problem.reason


# --- refunded as the after-sale status says: Pinduoduo's and Douyin's 售后状态 --------------------------


PDD = (SAMPLES / "pdd_orders.csv").read_bytes()
DOUYIN = (SAMPLES / "douyin_orders.csv").read_bytes()


def _marketplace_store(owner, platform: str):
    from kebu.orders.models import Store

    make_catalogue(actor=owner)
    return Store.objects.create(name=f"{platform} 店", platform=platform)


def _cells_set(data: bytes, number: str, column: str, value: str, *, number_column: str = "订单号") -> bytes:
    """``data`` (a CSV export) with ``column`` written ``value`` on every row of order ``number``; the
    column is added at the end when the sheet has none."""
    header, *rows = csv_rows(data)
    if column not in header:
        header.append(column)
        rows = [[*cells, ""] for cells in rows]
    for cells in rows:
        if cells[header.index(number_column)] == number:
            cells[header.index(column)] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    return out.getvalue().encode()


def test_a_pinduoduo_order_signed_for_then_refunded_comes_in_refunded_in_full_and_the_report_says_so(owner):
    from kebu.orders.models import AfterSale
    from kebu.transfer.orders import order_file_check

    # given: 240307 signed for (已签收), then refunded (售后状态 退款成功); Pinduoduo gives no amount refunded
    store = _marketplace_store(owner, "pinduoduo")

    # when
    check = order_file_check(PDD, store=store)
    run = run_import(owner, PDD, store=store)

    # then: paid, then refunded in full with an after-sale: the buyer spent nothing, one refunded order
    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="240307-246813579")
    assert (order.status, order.paid_cny, order.refunded_cny) == (
        OrderStatus.CLOSED,
        Decimal("89.50"),
        Decimal("89.50"),
    )
    aftersale = AfterSale.objects.get()
    assert (aftersale.order, aftersale.kind, aftersale.status, aftersale.amount_cny) == (
        order,
        "refund",
        "completed",
        Decimal("89.50"),
    )
    sun = Customer.objects.get(name="孙悦")
    assert (sun.order_count, sun.total_spent_cny, sun.refund_count, sun.refund_rate) == (
        1,
        Decimal("0.00"),
        1,
        Decimal("1"),
    )
    # the validation report and the import both say the refund was taken as the amount paid
    said = [(c.row, c.column, c.written, c.taken) for c in check.corrections if c.column == "售后状态"]
    assert said == [(4, "售后状态", "退款成功", "Refunded 89.50")], check.corrections
    assert [(c.row, c.taken) for c in import_corrections(run) if c.column == "售后状态"] == [
        (4, "Refunded 89.50")
    ]
    notes = [n for n in import_notes(run, limit=10) if n.value == "退款成功"]
    assert [(n.row, n.column) for n in notes] == [(4, "售后状态")]
    assert "240307-246813579" in notes[0].reason and "89.50" in notes[0].reason


@pytest.mark.parametrize("status", ["未发货，退款成功", "已发货，退款成功", "已签收，退款成功"])
def test_a_pinduoduo_order_status_saying_it_was_refunded_closes_it_paid_and_refunded_in_full(owner, status):
    # given: Pinduoduo's order status, both halves in one cell; no after-sale status beside it, and no
    # payment time (its 订单成交时间 is when the buyer paid): the words say the buyer paid
    store = _marketplace_store(owner, "pinduoduo")
    sheet = _cells_set(PDD, "240306-987654321", "订单状态", status)

    # when
    run = run_import(owner, sheet, store=store)

    # then: paid, then refunded in full, as an order Taobao reports closed after payment; not cancelled
    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="240306-987654321")
    assert (order.status, order.paid_cny, order.refunded_cny) == (
        OrderStatus.CLOSED,
        Decimal("128.00"),
        Decimal("128.00"),
    )
    buyer = order.customer
    assert (buyer.total_spent_cny, buyer.refund_count) == (Decimal("0.00"), 1)


def test_an_order_whose_after_sale_is_under_way_refunds_nothing_and_is_noted(owner):
    from kebu.orders.models import AfterSale

    store = _marketplace_store(owner, "pinduoduo")

    run = run_import(owner, PDD, store=store)

    # 240308 is 售后处理中: its buyer's spend stands until the after-sale is over
    order = Order.objects.get(order_no="240308-135792468")
    assert (order.status, order.refunded_cny) == (OrderStatus.DELIVERED, Decimal("0.00"))
    assert not AfterSale.objects.filter(order=order).exists()
    li = Customer.objects.get(name="李雷")
    assert (li.total_spent_cny, li.refund_count) == (Decimal("128.00"), 0)
    [note] = [n for n in import_notes(run, limit=10) if n.value == "售后处理中"]
    assert (note.row, note.column) == (5, "售后状态") and "240308-135792468" in note.reason
    # no after-sale either of the orders whose status says there is none (无售后或售后取消)
    assert run.noted == 2 and AfterSale.objects.count() == 1


def test_an_export_refunded_by_its_after_sale_status_imported_again_changes_nothing(owner):
    from kebu.orders.models import AfterSale

    store = _marketplace_store(owner, "pinduoduo")
    run_import(owner, PDD, store=store)
    figures = Customer.objects.values_list("name", "total_spent_cny", "refund_count", "version")
    before = sorted(figures)
    orders = sorted(Order.objects.values_list("order_no", "status", "refunded_cny", "version"))

    again = run_import(owner, PDD, store=store)

    assert (counts(again), again.noted) == ((0, 0, 4, 0), 0), import_notes(again, limit=10)
    assert AfterSale.objects.count() == 1
    assert sorted(figures) == before
    assert sorted(Order.objects.values_list("order_no", "status", "refunded_cny", "version")) == orders


def test_undo_takes_an_order_refunded_by_its_after_sale_status_back_with_its_refund(owner):
    from kebu.orders.models import AfterSale
    from kebu.orders.services.metrics import FIGURE_FIELDS
    from kebu.orders.tests.factories import make_order

    # given: 孙悦, with an order of her own, whom the sheet's refunded 240307 is matched to by phone
    store = _marketplace_store(owner, "pinduoduo")
    sun = customer_create(
        actor=owner, data=CustomerInput(name="孙悦", phones=[PhoneInput(number="13500005555")])
    )
    own = make_order(actor=owner, customer=sun, store=store, lines=[("TEA-250", 1)])
    figures = [name for name in FIGURE_FIELDS if name != "stage"]  # stages never go down
    before = Customer.objects.filter(pk=sun.pk).values_list(*figures).get()
    run = run_import(owner, PDD, store=store)
    sun.refresh_from_db()
    assert (sun.order_count, sun.total_spent_cny, sun.refund_count) == (2, Decimal("128.00"), 1)

    # when
    import_undo(actor=owner, run=run)

    # then
    assert Customer.objects.filter(pk=sun.pk).values_list(*figures).get() == before
    assert not AfterSale.objects.exists() and list(Order.objects.all()) == [own]


def test_an_amount_refunded_beside_the_after_sale_status_is_the_refund(owner):
    from kebu.orders.models import AfterSale

    # 退款成功 of a price difference: the amount says how much went back, and the order stays signed for
    store = _marketplace_store(owner, "pinduoduo")
    data = _cells_set(PDD, "240307-246813579", "退款金额(元)", "20.00")

    run = run_import(owner, data, store=store)

    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    order = Order.objects.get(order_no="240307-246813579")
    assert (order.status, order.refunded_cny) == (OrderStatus.DELIVERED, Decimal("20.00"))
    assert AfterSale.objects.get().amount_cny == Decimal("20.00")
    assert Customer.objects.get(name="孙悦").total_spent_cny == Decimal("69.50")
    assert [c for c in import_corrections(run) if c.column == "售后状态"] == []


def test_an_order_already_in_kebu_its_after_sale_status_says_was_refunded_is_noted_and_not_refunded(owner):
    from kebu.orders.models import AfterSale

    # given: last week's export, before the refund
    store = _marketplace_store(owner, "pinduoduo")
    run_import(owner, _cells_set(PDD, "240307-246813579", "售后状态", "无售后或售后取消"), store=store)
    figures = Customer.objects.filter(name="孙悦").values_list("total_spent_cny", "refund_count", "version")
    before = figures.get()

    # when: this week's says it was refunded
    later = run_import(owner, PDD, store=store)

    # then: left as it is, with a note to record the refund by hand
    assert (counts(later), later.noted) == ((0, 0, 4, 0), 1), import_rejected_rows(later)
    assert not AfterSale.objects.exists() and figures.get() == before
    [note] = import_notes(later, limit=10)
    assert (note.row, note.column, note.value) == (4, "售后状态", "退款成功")
    assert "240307-246813579" in note.reason and "after-sale" in note.reason


def test_a_douyin_order_whose_sub_orders_were_refunded_is_refunded_what_was_paid_for_them(owner):
    from kebu.orders.models import AfterSale

    # given: Douyin's row per sub-order: 6920003's one line refunded, 6920004's cream but not its tea
    store = _marketplace_store(owner, "douyin")

    run = run_import(owner, DOUYIN, store=store)

    # then: 6920003 refunded in full, closed; 6920004 refunded the cream's 199.00, completed still
    assert counts(run) == (4, 0, 0, 0), import_rejected_rows(run)
    whole = Order.objects.get(order_no="6920003")
    assert (whole.status, whole.refunded_cny) == (OrderStatus.CLOSED, Decimal("89.50"))
    part = Order.objects.get(order_no="6920004")
    assert (part.status, part.paid_cny, part.refunded_cny) == (
        OrderStatus.COMPLETED,
        Decimal("327.00"),
        Decimal("199.00"),
    )
    assert [(ln.sku_code, ln.refunded_cny) for ln in part.lines.order_by("position")] == [
        ("CREAM-50", Decimal("199.00")),
        ("TEA-250", Decimal("0.00")),
    ]
    assert AfterSale.objects.count() == 2
    zheng = Customer.objects.get(name="郑凯")
    assert (zheng.total_spent_cny, zheng.refund_count) == (Decimal("128.00"), 1)
    assert Customer.objects.get(name="孙丽").refund_count == 0  # "-": no after-sale
    said = [(c.row, c.taken) for c in import_corrections(run) if c.column == "售后状态"]
    assert said == [(5, "Refunded 89.50"), (6, "Refunded 199.00")]


def test_an_after_sale_status_kebu_does_not_know_refuses_its_order_on_its_cell(owner):
    store = _marketplace_store(owner, "pinduoduo")
    data = _cells_set(PDD, "240307-246813579", "售后状态", "退款审核中啦")

    run = run_import(owner, data, store=store)

    assert counts(run) == (3, 0, 0, 1)
    [(_row, _cells, problems)] = _with_problems(import_rejected_rows(run))
    assert [(p.column, p.value) for p in problems] == [("售后状态", "退款审核中啦")]
    assert "after-sale status" in problems[0].reason
    assert not Order.objects.filter(order_no="240307-246813579").exists()


def test_the_command_refuses_to_guess_the_kind_of_an_order_export_and_says_which_to_choose(
    owner, shop, tmp_path
):
    from django.core.management import CommandError, call_command

    # given: the shop's orders as `kebu export orders` writes them (their buyers' names and phones too)
    run_import(owner, CLOSED, store=shop.store)
    path = tmp_path / "订单.xlsx"
    call_command("export", "orders", format="xlsx", output=str(path), stdout=io.StringIO())
    before = (Customer.objects.count(), Import.objects.count())

    # when: it is imported with no --kind
    with pytest.raises(CommandError) as refused:
        call_command("import", str(path), stdout=io.StringIO())

    # then: refused, naming its order number column and both kinds; no import made, no customer touched
    # (a command speaks English: the export's headers are Kebu's English ones)
    assert "(Order number)" in str(refused.value) and "--kind orders" in str(refused.value)
    assert "--kind customers" in str(refused.value)
    assert (Customer.objects.count(), Import.objects.count()) == before
