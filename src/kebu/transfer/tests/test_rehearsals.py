"""The dry run (the import pages' check, ``kebu import --dry-run``) rehearses the import: it reports what
the import would refuse, including what only writing finds, and leaves the database as it found it."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import transaction
from django.urls import reverse

from kebu.audit.models import AuditHead
from kebu.audit.services import audit_verify
from kebu.core.jobs import job_run
from kebu.core.models import Sequence, ShopSettings
from kebu.customers.models import Customer
from kebu.customers.services import CustomerInput, PhoneInput, customer_create
from kebu.orders.models import Order, Sku
from kebu.orders.services.credit import customer_credit_set
from kebu.transfer.customers import customer_file_check
from kebu.transfer.imports import customer_import_start, import_rejected_rows
from kebu.transfer.models import Import, ImportKind, ImportMode
from kebu.transfer.orders import order_file_check
from kebu.transfer.products import product_file_check
from kebu.transfer.tests.test_views_kinds import chosen, token_of, upload_file

pytestmark = pytest.mark.django_db

TAOBAO = (Path(__file__).parent / "samples" / "taobao_orders.csv").read_bytes()


def database_state() -> dict[str, Any]:
    """What a dry run must leave as it found it: every table's rows counted, the customers' figures and
    the orders' states, the numbering sequences (customer and order numbers), the audit log's head, and
    whether the log's chain holds."""
    rows = {
        model._meta.label: model._base_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy
    }
    return {
        "rows": rows,
        "customers": list(
            Customer.objects.order_by("pk").values_list(
                "pk", "customer_no", "version", "order_count", "total_spent_cny", "receivable_cny", "stage"
            )
        ),
        "orders": list(Order.objects.order_by("pk").values_list("pk", "status", "version", "paid_cny")),
        "sequences": list(Sequence.objects.order_by("name").values_list("name", "value")),
        "audit_head": list(AuditHead.objects.values_list("seq", "hash")),
        "audit_chain_holds": audit_verify().ok,
    }


def run_import(owner, data: bytes, *, kind: str, mode: str, store=None) -> Import:
    with transaction.atomic():
        run = customer_import_start(
            actor=owner, data=data, file_name="导入.csv", kind=kind, mode=mode, store=store, enqueue=False
        )
    job_run(run.job_id)
    run.refresh_from_db()
    return run


def refused(run: Import) -> dict[int, list[str]]:
    return {row: [p.reason for p in problems] for row, _cells, problems in import_rejected_rows(run)}


def checked_bad(check) -> dict[int, list[str]]:
    return {row: [p.reason for p in problems] for row, _cells, problems in check.bad}


def _paid_before_ordered() -> bytes:
    """The Taobao export, its third order (row 4) paid before it was ordered: every cell reads, and only
    the order services refuse it, when it is written."""
    return TAOBAO.decode().replace("2024-02-01 20:01:00", "2024-01-31 20:01:00").encode()


# --- orders ------------------------------------------------------------------------------------------


def test_the_dry_run_reports_an_order_only_writing_refuses_and_leaves_the_database_as_it_was(owner, shop):
    # given: the export imported once (its buyers and orders are in), then a newer one that moves an
    # order on, brings a new buyer, and has an order paid before it was ordered
    run_import(owner, TAOBAO, kind=ImportKind.ORDERS, mode=ImportMode.GOOD_ROWS, store=shop.store)
    header, *lines = _paid_before_ordered().decode().splitlines()
    newer = "\n".join(
        [
            header,
            lines[0],
            lines[1].replace("等待卖家发货", "卖家已发货").replace("89.50,,,,0", "89.50,顺丰,SF200,,0"),
            lines[2].replace("2024010512347", "2024010512349"),  # a new order, paid before ordered
            lines[3],
            "2024010512350,tb_new,59.00,交易成功,,赵新,浙江省 杭州市 西湖区 文三路9号,13655556666,"
            "2024-02-05 10:00:00,2024-02-05 10:01:00,洗面奶,1,,59.00,,,,0",
        ]
    ).encode()
    before = database_state()

    # when
    check = order_file_check(newer, store=shop.store, actor=owner)

    # then: the order is reported on its row, as the import itself refuses it, and nothing is left
    assert list(checked_bad(check)) == [4] and check.good == 4
    assert database_state() == before
    run = run_import(owner, newer, kind=ImportKind.ORDERS, mode=ImportMode.ALL_OR_NOTHING, store=shop.store)
    assert run.refused and refused(run) == checked_bad(check)


def test_the_dry_run_sees_credit_an_earlier_batch_took(owner, shop, settings):
    # given: a wholesaler with ¥300 of credit, a shop that refuses credit beyond the limit, and a file
    # with two orders of ¥199 on credit for her, one order a batch
    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    ShopSettings.objects.update_or_create(pk=1, defaults={"credit_over_limit": "block"})
    wholesaler = customer_create(
        actor=owner, data=CustomerInput(name="义乌批发", phones=[PhoneInput(number="13900001111")])
    )
    customer_credit_set(actor=owner, customer=wholesaler, credit_limit_cny="300.00", payment_terms_days=30)
    header = (
        "订单编号,收货人姓名,联系手机,订单创建时间,订单付款时间,订单状态,支付方式,商家编码,宝贝总数量,价格"
    )
    data = "\n".join(
        [
            header,
            "C1,义乌批发,13900001111,2024-03-01 10:00:00,2024-03-01 10:00:00,交易成功,赊账,CREAM-50,1,199.00",
            "C2,义乌批发,13900001111,2024-03-02 10:00:00,2024-03-02 10:00:00,交易成功,赊账,CREAM-50,1,199.00",
        ]
    ).encode()
    before = database_state()

    # when
    check = order_file_check(data, store=shop.store, actor=owner)

    # then: the second order is the one that passes the limit, as all or nothing finds when it writes it
    assert list(checked_bad(check)) == [3] and check.good == 1
    assert database_state() == before
    run = run_import(owner, data, kind=ImportKind.ORDERS, mode=ImportMode.ALL_OR_NOTHING, store=shop.store)
    assert run.refused and refused(run) == checked_bad(check)
    assert not Order.objects.exists()


def test_the_command_dry_run_reports_an_order_only_writing_refuses(owner, shop, tmp_path):
    path = tmp_path / "ExportOrderList.csv"
    path.write_bytes(_paid_before_ordered())
    out = io.StringIO()
    before = database_state()

    call_command("import", str(path), kind="orders", store=shop.store.name, dry_run=True, stdout=out)

    assert "3 rows ready, 1 row with problems" in out.getvalue()
    # on the cell that says it: the payment time, not the row as a whole
    assert (
        "row 4, 订单付款时间: '2024-01-31 20:01:00': Payment cannot come before the order." in out.getvalue()
    )
    assert database_state() == before


@pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")
def test_the_pages_check_reports_an_order_only_writing_refuses_and_writes_nothing(
    owner_client, shop, django_capture_on_commit_callbacks
):
    token = token_of(
        upload_file(owner_client, _paid_before_ordered(), kind=ImportKind.ORDERS, store=shop.store)
    )
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())
    before = database_state()

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.ALL_OR_NOTHING, "store": shop.store.pk, "action": "check"},
        )

    check = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">3<', check) and re.search(r'data-count="bad">1<', check)
    assert re.findall(r'<tr><td class="text-secondary">(\d+)</td>', check) == ["4"]
    after = database_state()
    after["rows"]["core.Job"] -= 1  # the check's own job
    assert after == before


# --- customers ---------------------------------------------------------------------------------------


def test_the_dry_run_reports_the_row_that_would_give_a_customer_an_eleventh_phone(owner):
    # given: a customer with nine phones, and two rows of a sheet that each add one for her number
    customer = customer_create(
        actor=owner,
        data=CustomerInput(name="张三", phones=[PhoneInput(number=f"1381234560{i}") for i in range(9)]),
    )
    data = (
        f"客户编号,姓名,手机号\n{customer.customer_no},张三,13900000001\n{customer.customer_no},张三,13900000002\n"
    ).encode()
    before = database_state()

    check = customer_file_check(data, actor=owner)

    assert list(checked_bad(check)) == [3] and check.good == 1
    assert database_state() == before
    run = run_import(owner, data, kind=ImportKind.CUSTOMERS, mode=ImportMode.GOOD_ROWS)
    assert (run.updated, run.rejected) == (1, 1) and refused(run) == checked_bad(check)


def test_the_dry_run_reports_an_owner_the_importers_role_may_not_assign(owner, clerk):
    data = "姓名,手机号,负责人\n李四,13812345678,laoban\n".encode()

    check = customer_file_check(data, actor=clerk)

    assert list(checked_bad(check)) == [2] and check.good == 0
    assert customer_file_check(data, actor=owner).good == 1
    assert not Customer.objects.exists()


# --- products ----------------------------------------------------------------------------------------

PRODUCTS_HEADER = "商品名称,类目,品牌,SKU编码,颜色,规格,价格,成本,使用周期,在售\n"


def test_the_dry_run_reports_a_category_deeper_than_the_catalogue_takes(owner):
    data = (PRODUCTS_HEADER + "紫砂壶,茶具/壶/宜兴/紫砂/朱泥,,POT-1,,,680.00,,,是\n").encode()
    before = database_state()

    check = product_file_check(data, actor=owner)

    assert list(checked_bad(check)) == [2]
    assert database_state() == before
    run = run_import(owner, data, kind=ImportKind.PRODUCTS, mode=ImportMode.GOOD_ROWS)
    assert refused(run) == checked_bad(check)


def test_the_dry_run_takes_a_sku_an_earlier_row_adds_as_the_import_does(owner):
    # given: a new SKU, and a later row giving the same code only its new price
    data = (PRODUCTS_HEADER + "紫砂壶,茶具,,POT-1,,,680.00,,,是\n,,,POT-1,,,650.00,,,\n").encode()

    check = product_file_check(data, actor=owner)

    assert (check.good, check.bad) == (2, [])
    run = run_import(owner, data, kind=ImportKind.PRODUCTS, mode=ImportMode.GOOD_ROWS)
    assert (run.created, run.updated, run.rejected) == (1, 1, 0)
    assert Sku.objects.get(code="POT-1").price_cny == Decimal("650.00")


def test_a_stretch_ends_once_it_has_been_open_its_time_and_the_next_takes_the_rows_after(
    owner, settings, monkeypatch
):
    # given: batches of one row, stretches that may stay open no time at all (a product sheet, some 5 ms
    # a row, takes 5 s for a thousand), and three rows, the second filed five levels deep
    from kebu.transfer import rehearsals
    from kebu.transfer.imports import import_mapping
    from kebu.transfer.readers import table_read

    settings.KEBU = {**settings.KEBU, "IMPORT_BATCH_ROWS": 1}
    monkeypatch.setattr(rehearsals, "STRETCH_SECONDS", 0)
    data = (
        PRODUCTS_HEADER
        + "紫砂壶,茶具,,POT-1,,,680.00,,,是\n"
        + "朱泥壶,茶具/壶/宜兴/紫砂/朱泥,,POT-2,,,880.00,,,是\n"
        + "紫砂壶,茶具,,POT-3,,,720.00,,,是\n"
    ).encode()
    table = table_read(data)
    before = database_state()

    # when
    stretches = list(
        rehearsals.import_rehearse(
            table.rows,
            kind=ImportKind.PRODUCTS,
            actor=owner,
            headers=table.headers,
            mapping=import_mapping(table.headers, kind=ImportKind.PRODUCTS),
        )
    )

    # then: a stretch a batch, every row rehearsed once, the bad one found, and nothing left
    assert [stretch.rows for stretch in stretches] == [1, 1, 1]
    bad = [[found[0] for found, _rows in stretch.found if found[2]] for stretch in stretches]
    assert bad == [[], [3], []]
    assert database_state() == before
