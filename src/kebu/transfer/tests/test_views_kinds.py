"""The import pages for order and product sheets: what the file holds is chosen on upload (with the store
for orders), the columns are guessed in that kind's words, the check reads rows as that kind's import
would, and the import brings in orders or SKUs; only staff who may add orders or products are offered
those sheets."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from kebu.orders.models import Order, Sku
from kebu.orders.tests.factories import make_catalogue
from kebu.transfer.models import Import, ImportKind, ImportMode, MappingPreset
from kebu.transfer.views import DRAFTS_SESSION_KEY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("pages_in_english", "no_drafts_left_over")]

TAOBAO = (Path(__file__).parent / "samples" / "taobao_orders.csv").read_bytes()
PRODUCTS = (
    "商品名称,类目,品牌,SKU编码,颜色,规格,价格,成本,使用周期,在售\n"
    "玻尿酸面霜,护肤 > 面霜,润百颜,CREAM-100,,100g,299.00,120.00,60,是\n"
    "紫砂壶,茶具,,POT-1,紫色,,680.00,,,是\n"
).encode()


def upload_file(client, content: bytes, *, kind: str, store=None, name: str = "导出.csv"):
    data = io.BytesIO(content)
    data.name = name
    form = {"file": data, "mode": ImportMode.GOOD_ROWS, "kind": kind}
    if store is not None:
        form["store"] = store.pk
    return client.post(reverse("transfer:new"), form)


def token_of(response) -> str:
    match = re.search(r"/imports/draft/([0-9a-f]{32})/", response["Location"])
    assert match, getattr(response, "content", b"").decode()[:2000]
    return match.group(1)


def chosen(page: str) -> dict[str, str]:
    """The columns form as the page fills it in: ``col_<i>`` -> the field selected (blank if skipped)."""
    found = {}
    for name, select in re.findall(r'<select name="(col_\d+)".*?>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', select)
        found[name] = selected.group(1) if selected else ""
    return found


def import_id(response) -> int:
    return int(response["Location"].rstrip("/").rsplit("/", 1)[1])


@pytest.fixture
def shop(owner):
    return make_catalogue(actor=owner)


def importer_with(staff_member, *codenames: str) -> tuple[Client, Any]:
    """A colleague holding the import permission and ``codenames``, logged in."""
    user = staff_member(None, "daoru", display_name="导入员")
    for codename in ("import_customers", *codenames):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client, user


def test_a_taobao_export_uploaded_as_orders_is_guessed_checked_and_imported_as_four_orders(
    owner_client, shop, django_capture_on_commit_callbacks
):
    # given: the Taobao export, uploaded as orders sold in the shop's store
    token = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS, store=shop.store))
    draft = owner_client.session[DRAFTS_SESSION_KEY][token]
    assert (draft["kind"], draft["store"]) == (ImportKind.ORDERS, shop.store.pk)

    # the columns are guessed as an order sheet's, and the mode is offered as for the other kinds
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    mapping = chosen(page)
    assert mapping["col_0"] == "order_no"  # 订单编号
    assert mapping["col_1"] == "buyer"  # 买家会员名
    assert mapping["col_8"] == "ordered_at"  # 订单创建时间
    assert mapping["col_10"] == "title"  # 宝贝标题
    assert mapping["col_12"] == "sku_code"  # 商家编码
    assert 'value="all"' in page and 'data-problem="mapping"' not in page
    assert f'<option value="{shop.store.pk}" selected>' in page

    # when: every row is checked
    form = {**mapping, "mode": ImportMode.GOOD_ROWS, "store": shop.store.pk}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("transfer:draft", args=[token]), {**form, "action": "check"})
    assert response.status_code == 302
    check = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">4<', check) and 'id="check-clean"' in check
    assert not Order.objects.exists()

    # and imported from the check page's own form
    posted = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', check))
    assert posted["store"] == str(shop.store.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("transfer:draft", args=[token]), {**posted, "action": "import"})

    # then
    run = Import.objects.get(pk=import_id(response))
    assert (run.kind, run.options, run.created, run.rejected) == (
        ImportKind.ORDERS,
        {"store": shop.store.pk},
        4,
        0,
    )
    assert Order.objects.filter(store=shop.store).count() == 4
    detail = owner_client.get(response["Location"]).content.decode()
    assert 'data-kind="orders"' in detail and shop.store.name in detail
    history = owner_client.get(reverse("transfer:list")).content.decode()
    assert 'data-kind="orders"' in history


def test_an_amount_refunded_column_is_guessed_on_the_columns_page_and_imported(
    owner_client, shop, django_capture_on_commit_callbacks
):
    from kebu.transfer.tests.test_orders_import import PART_REFUNDED

    token = token_of(upload_file(owner_client, PART_REFUNDED, kind=ImportKind.ORDERS, store=shop.store))

    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())
    assert mapping["col_18"] == "refunded"  # 退款金额
    form = {**mapping, "mode": ImportMode.GOOD_ROWS, "store": shop.store.pk, "action": "import"}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("transfer:draft", args=[token]), form)

    assert Import.objects.get(pk=import_id(response)).created == 4
    assert Order.objects.get(order_no="2024010512345").refunded_cny == Decimal("50.00")


def test_a_product_sheet_is_imported_as_skus(owner_client, shop, django_capture_on_commit_callbacks):
    token = token_of(upload_file(owner_client, PRODUCTS, kind=ImportKind.PRODUCTS, name="商品.csv"))

    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    mapping = chosen(page)
    assert (mapping["col_0"], mapping["col_3"], mapping["col_6"]) == ("product", "sku_code", "price")
    assert "cf_" not in page  # custom fields are customers' only

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "action": "import"},
        )

    run = Import.objects.get(pk=import_id(response))
    assert (run.kind, run.created, run.rejected) == (ImportKind.PRODUCTS, 2, 0)
    assert set(Sku.objects.filter(code__in=["CREAM-100", "POT-1"]).values_list("code", flat=True)) == {
        "CREAM-100",
        "POT-1",
    }
    assert Sku.objects.get(code="CREAM-100").product == shop.cream_sku.product


def test_the_check_of_a_product_sheet_lists_the_bad_rows_and_writes_nothing(
    owner_client, shop, django_capture_on_commit_callbacks
):
    sheet = PRODUCTS + "面膜,护肤,,MASK-1,,,不要钱,,,是\n".encode()
    token = token_of(upload_file(owner_client, sheet, kind=ImportKind.PRODUCTS))
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "action": "check"},
        )

    check = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">2<', check) and re.search(r'data-count="bad">1<', check)
    assert "不要钱" in check and 'id="check-report"' in check
    assert not Sku.objects.filter(code__in=["CREAM-100", "POT-1", "MASK-1"]).exists()


def test_orders_without_a_store_or_a_store_column_are_told_to_choose_one(owner_client, shop):
    token = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS))

    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert 'data-problem="mapping"' in page and "Which store were these orders sold in?" in page

    mapping = chosen(page)
    for action in ("check", "import"):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": "", "action": action},
        )
        assert response.status_code == 400
        assert "Which store were these orders sold in?" in response.content.decode()
    assert not Import.objects.exists() and not Order.objects.exists()


def test_orders_with_a_store_chosen_on_the_columns_page_import_into_it(
    owner_client, shop, django_capture_on_commit_callbacks
):
    token = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS))
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": shop.store.pk, "action": "import"},
        )

    assert response.status_code == 302
    assert Order.objects.filter(store=shop.store).count() == 4


def test_orders_imported_all_or_nothing_from_the_pages_write_none_when_one_is_bad(
    owner_client, shop, django_capture_on_commit_callbacks
):
    # given: an order sheet whose second order has a time nobody can read, uploaded all or nothing
    lines = TAOBAO.decode().splitlines()
    sheet = "\n".join([lines[0], lines[1], lines[2].replace("2024-01-06 09:00:00", "昨天"), *lines[3:]])
    data = io.BytesIO(sheet.encode())
    data.name = "orders.csv"
    uploaded = owner_client.post(
        reverse("transfer:new"),
        {"file": data, "mode": ImportMode.ALL_OR_NOTHING, "kind": ImportKind.ORDERS, "store": shop.store.pk},
    )
    token = token_of(uploaded)
    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert re.search(r'name="mode" value="all"[^>]*checked', page), "the columns page offers the mode"

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**chosen(page), "mode": ImportMode.ALL_OR_NOTHING, "store": shop.store.pk, "action": "import"},
        )

    # then: refused, the bad order listed, no order written
    run = Import.objects.get(pk=import_id(response))
    assert (run.mode, run.refused, run.rejected, run.created) == (ImportMode.ALL_OR_NOTHING, True, 1, 0)
    assert not Order.objects.exists()
    status = owner_client.get(reverse("transfer:detail", args=[run.pk])).content.decode()
    assert "Nothing was imported" in status and "昨天" in status


def test_a_bad_order_is_listed_once_by_its_first_row(owner_client, shop, django_capture_on_commit_callbacks):
    lines = TAOBAO.decode().splitlines()
    # The first order, sold on two lines, the second without its time; and an order with a bad time.
    second_line = lines[1].replace("玻尿酸面霜,2,CREAM-50", "爽肤水,1,TONER-100")
    bad_time = lines[2].replace("2024-01-06 09:00:00", "昨天")
    sheet = "\n".join([lines[0], lines[1], second_line, bad_time, *lines[3:]]) + "\n"
    token = token_of(upload_file(owner_client, sheet.encode(), kind=ImportKind.ORDERS, store=shop.store))
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": shop.store.pk, "action": "check"},
        )

    check = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">4<', check) and re.search(r'data-count="bad">1<', check)
    rows = re.findall(r'<tr><td class="text-secondary">(\d+)</td>', check)
    assert set(rows) == {"4"} and "昨天" in check  # every problem of the order, on its first row
    assert not Order.objects.exists()


def test_a_preset_saved_for_orders_is_offered_for_order_sheets_only(owner_client, shop):
    token = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS, store=shop.store))
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())
    owner_client.post(
        reverse("transfer:draft", args=[token]),
        {
            **mapping,
            "mode": ImportMode.GOOD_ROWS,
            "store": shop.store.pk,
            "action": "save_preset",
            "preset_name": "淘宝订单",
        },
    )
    assert MappingPreset.objects.get(name="淘宝订单").kind == ImportKind.ORDERS

    again = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS, store=shop.store))
    assert "淘宝订单" in owner_client.get(reverse("transfer:draft", args=[again])).content.decode()
    as_customers = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.CUSTOMERS))
    assert "淘宝订单" not in owner_client.get(reverse("transfer:draft", args=[as_customers])).content.decode()


def test_an_importer_without_add_product_is_not_offered_product_sheets(staff_member, shop):
    client, _user = importer_with(staff_member, "add_order")

    page = client.get(reverse("transfer:new")).content.decode()
    assert 'value="customers"' in page and 'value="orders"' in page
    assert 'value="products"' not in page

    response = upload_file(client, PRODUCTS, kind=ImportKind.PRODUCTS)
    assert response.status_code == 400 and 'data-error="kind"' in response.content.decode()
    assert not client.session.get(DRAFTS_SESSION_KEY)


def test_an_importer_of_customers_only_is_offered_neither_and_a_draft_of_another_kind_is_not_found(
    staff_member, shop
):
    client, user = importer_with(staff_member, "add_order")
    # a draft kept from when the permission was held
    token = token_of(upload_file(client, TAOBAO, kind=ImportKind.ORDERS, store=shop.store))
    user.user_permissions.remove(Permission.objects.get(codename="add_order"))

    page = client.get(reverse("transfer:new")).content.decode()
    assert 'value="orders"' not in page and 'value="products"' not in page and 'id="store-choice"' not in page

    assert client.get(reverse("transfer:draft", args=[token])).status_code == 404


# --- a deactivated store ---------------------------------------------------------------------------


def _deactivate(owner, store) -> None:
    from kebu.orders.services.stores import store_update

    store_update(actor=owner, store=store, is_active=False)


def test_a_store_deactivated_since_the_upload_page_was_shown_is_refused_by_its_name(
    owner, owner_client, shop
):
    _deactivate(owner, shop.store)

    response = upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS, store=shop.store)

    assert response.status_code == 400
    page = response.content.decode()
    assert f"The store “{shop.store.name}” is deactivated" in page and "Stores page" in page
    assert not owner_client.session.get(DRAFTS_SESSION_KEY)


def test_a_draft_whose_store_was_deactivated_since_is_neither_checked_nor_imported_and_says_why(
    owner, owner_client, shop
):
    token = token_of(upload_file(owner_client, TAOBAO, kind=ImportKind.ORDERS, store=shop.store))
    _deactivate(owner, shop.store)

    page = owner_client.get(reverse("transfer:draft", args=[token])).content.decode()
    assert 'data-problem="mapping"' in page and f"The store “{shop.store.name}” is deactivated" in page
    mapping = chosen(page)
    for action in ("check", "import"):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": shop.store.pk, "action": action},
        )
        assert response.status_code == 400
        assert f"The store “{shop.store.name}” is deactivated" in response.content.decode()
    assert not Import.objects.exists() and not Order.objects.exists()


def test_the_check_lists_a_new_order_in_a_deactivated_store_not_one_already_in_it(
    owner, owner_client, shop, django_capture_on_commit_callbacks
):
    # given: an order of the shop's store imported, then the store deactivated
    header = "店铺,订单编号,收货人姓名,联系手机,订单创建时间,订单状态,宝贝标题,商家编码,宝贝总数量,价格"
    old = f"{shop.store.name},1001,钱七,13900001111,2024-01-06 10:00:00,已付款,爽肤水,TONER-100,2,89.50"
    new = f"{shop.store.name},1002,孙八,13700002222,2024-01-07 10:00:00,已付款,明前龙井,TEA-250,1,128.00"
    token = token_of(upload_file(owner_client, f"{header}\n{old}".encode(), kind=ImportKind.ORDERS))
    mapping = chosen(owner_client.get(reverse("transfer:draft", args=[token])).content.decode())
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": "", "action": "import"},
        )
    assert Order.objects.count() == 1
    _deactivate(owner, shop.store)

    # when: its export, with an order new to Kebu, is checked
    token = token_of(upload_file(owner_client, f"{header}\n{old}\n{new}".encode(), kind=ImportKind.ORDERS))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("transfer:draft", args=[token]),
            {**mapping, "mode": ImportMode.GOOD_ROWS, "store": "", "action": "check"},
        )

    # then: the new order is the one bad row, on its store's cell
    check = owner_client.get(response["Location"]).content.decode()
    assert re.search(r'data-count="good">1<', check) and re.search(r'data-count="bad">1<', check)
    assert set(re.findall(r'<tr><td class="text-secondary">(\d+)</td>', check)) == {"3"}
    assert f"The store “{shop.store.name}” is deactivated" in check
    assert Order.objects.count() == 1
