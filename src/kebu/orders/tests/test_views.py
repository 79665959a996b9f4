"""The order pages as a clerk uses them: list, detail, a new order, each step of its life, after-sales,
credit and the catalogue; who sees what (404 for a colleague's customer, contact details masked)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone, translation

from kebu.customers.models import Customer
from kebu.customers.services import AddressInput
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import (
    AfterSale,
    AfterSaleStatus,
    CreditPayment,
    Order,
    OrderStatus,
    Product,
    Sku,
    Store,
)
from kebu.orders.services.aftersales import AfterSaleLineInput, aftersale_request, order_refund
from kebu.orders.services.credit import credit_payment_record, customer_credit_set
from kebu.orders.services.orders import LineInput, OrderInput, order_create, order_ship
from kebu.orders.services.products import ProductInput, SkuInput, product_create
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


def _customer(owner, name="张三", **fields) -> Customer:
    return make_customer(
        actor=owner,
        name=name,
        owner=owner,
        addresses=[
            AddressInput(
                province="浙江省",
                city="杭州市",
                district="西湖区",
                detail="文三路 90 号",
                receiver=name,
                receiver_phone=PHONE,
                is_default=True,
            )
        ],
        **fields,
    )


def _form(customer, *, lines=None, **overrides):
    """The POST a browser sends for the new-order form; ``lines`` are dicts of a row's fields."""
    rows = lines if lines is not None else [{"sku_code": "CREAM-50", "quantity": "2"}]
    data = {
        "customer_no": customer.customer_no,
        "store": "",
        "order_no": "",
        "status": "paid",
        "ordered_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "shipping_cny": "",
        "discount_cny": "",
        "coupon_code": "",
        "coupon_cny": "",
        "payment_method": "alipay",
        "delivery_method": "express",
        "idempotency_key": "",
        "lines-TOTAL_FORMS": str(len(rows)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "1",
        "lines-MAX_NUM_FORMS": "100",
    }
    for index, row in enumerate(rows):
        for key in ("sku_code", "title", "quantity", "unit_price_cny", "discount_cny"):
            data[f"lines-{index}-{key}"] = row.get(key, "")
    data.update(overrides)
    return data


@pytest.fixture
def a_client(client_for, sales_a):
    return client_for(sales_a)


@pytest.fixture
def a_customer(sales_a):
    return _customer(sales_a, name="甲客户")


@pytest.fixture
def b_customer(sales_b):
    return _customer(sales_b, name="乙客户")


@pytest.fixture
def a_order(owner, catalogue, a_customer):
    return make_order(
        actor=owner,
        customer=a_customer,
        store=catalogue.store,
        lines=[("CREAM-50", 1), ("TEA-250", 2)],
        shipping_cny="10",
        receiver_phone=PHONE,
        receiver_name="甲客户",
        ship_province="浙江省",
        ship_city="杭州市",
        ship_district="西湖区",
        ship_address="文三路 90 号",
        buyer_message="请周末送达",
        seller_notes="老客户，送小样",
    )


@pytest.fixture
def a_shipped(owner, a_order):
    """``a_order`` shipped: its goods went out, so they may come back (a return, an exchange)."""
    return order_ship(actor=owner, order=a_order, carrier="顺丰速运", tracking_no="SF1234567890")


# --- list -------------------------------------------------------------------------------------------------


def test_list_shows_own_customers_orders_with_status_and_amounts(
    a_client, owner, catalogue, a_order, b_customer
):
    b_order = make_order(actor=owner, customer=b_customer, store=catalogue.store, order_no="B-ONLY")
    page = a_client.get(reverse("orders:list")).content.decode()
    assert a_order.order_no in page
    assert "甲客户" in page
    assert "¥465.00" in page  # 199 + 2 × 128 + 10 shipping
    assert 'data-status="paid"' in page
    assert b_order.order_no not in page


def test_list_filters_by_number_customer_status_store_and_dates(a_client, owner, catalogue, sales_a):
    first = _customer(sales_a, name="王小明")
    second = _customer(sales_a, name="李小红")
    old = make_order(
        actor=owner,
        customer=first,
        store=catalogue.store,
        order_no="TB1001",
        ordered_at=timezone.now() - timedelta(days=40),
    )
    pending = make_order(
        actor=owner, customer=second, store=catalogue.store, order_no="TB1002", status=OrderStatus.PENDING
    )
    url = reverse("orders:list")

    def numbers(**params):
        html = a_client.get(url, params).content.decode()
        return set(re.findall(r"TB100\d", html))

    assert numbers() == {"TB1001", "TB1002"}
    assert numbers(q="TB1002") == {"TB1002"}
    assert numbers(q="王小明") == {"TB1001"}
    assert numbers(q=second.customer_no) == {"TB1002"}
    assert numbers(customer=first.pk) == {"TB1001"}
    assert numbers(status="pending") == {"TB1002"}
    assert numbers(store=catalogue.store.pk) == {"TB1001", "TB1002"}
    day = timezone.localdate() - timedelta(days=10)
    assert numbers(date_from=day.isoformat()) == {"TB1002"}
    assert numbers(date_to=day.isoformat()) == {"TB1001"}
    html = a_client.get(url, {"sort": "time"}).content.decode()
    assert html.index(old.order_no) < html.index(pending.order_no)
    bad = a_client.get(url, {"date_from": "not-a-date"})
    assert bad.status_code == 200 and 'id="filter-errors"' in bad.content.decode()
    assert "TB100" not in bad.content.decode().split('id="order-table"')[1]


def test_the_date_filters_are_labelled_on_the_page(a_client):
    html = a_client.get(reverse("orders:list"), {"date_from": "2025-01-01"}, HTTP_ACCEPT_LANGUAGE="en")
    html = html.content.decode()

    # each date box has a label a merchant sees and a screen reader reads: "Ordered from … until …"
    labels = dict(re.findall(r'<label class="input-group-text" for="(id_date_\w+)">([^<]+)</label>', html))
    assert labels == {"id_date_from": "Ordered from", "id_date_to": "until"}
    inputs = _inputs(html)
    assert (inputs["date_from"]["id"], inputs["date_from"]["value"]) == ("id_date_from", "2025-01-01")
    assert inputs["date_to"]["id"] == "id_date_to"


def test_list_filters_by_a_former_colleagues_customers_and_says_they_left(
    client_for, admin_member, owner, catalogue, staff_member, a_customer
):
    # given: 王芳 sold to her customer, then left the shop (switched off) before it was handed over
    wangfang = staff_member("sales", "a_wangfang", display_name="王芳")
    theirs = make_order(actor=owner, customer=_customer(wangfang, name="王芳的客户"), store=catalogue.store)
    make_order(actor=owner, customer=a_customer, store=catalogue.store, order_no="A-OTHER")
    wangfang.is_active = False
    wangfang.save(update_fields=["is_active"])
    client = client_for(admin_member)

    # when: the owner filter is opened, and her orders asked for (the dashboard links figures so too)
    page = client.get(reverse("orders:list"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    filtered = client.get(reverse("orders:list"), {"owner": wangfang.pk}).content.decode()

    # then: she is offered after the current colleagues, marked, and her customer's orders are listed
    owner_select = page[page.index('name="owner"') :]
    owners = re.findall(r"<option[^>]*>([^<]*)</option>", owner_select[: owner_select.index("</select>")])
    assert owners[-1] == "王芳 (deactivated)"
    assert "销售甲" in owners[2:-1]
    assert theirs.order_no in filtered and "A-OTHER" not in filtered


def test_list_query_count_stays_flat_with_many_orders(
    a_client, owner, catalogue, sales_a, django_assert_max_num_queries
):
    customers = [_customer(sales_a, name=f"客户{i}") for i in range(5)]
    for i in range(30):
        make_order(actor=owner, customer=customers[i % 5], store=catalogue.store)
    a_client.get(reverse("orders:list"))  # warm the session and permission caches of this client
    # session, user, 2FA check, permissions (2), shop settings, count, rows, the store, platform and owner
    # filters' options, and the shop settings again for the owners' (whose customers the user sees)
    with django_assert_max_num_queries(12):
        response = a_client.get(reverse("orders:list"))
    assert response.content.decode().count('data-status="paid"') == 25


def test_list_is_forbidden_without_the_orders_permission(client_for, staff_member):
    nobody = staff_member(None, "nobody")
    assert client_for(nobody).get(reverse("orders:list")).status_code == 403


def test_list_answers_a_fragment_to_htmx(a_client, a_order):
    response = a_client.get(reverse("orders:list"), {"q": a_order.order_no}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html and a_order.order_no in html


# --- detail -----------------------------------------------------------------------------------------------


def test_detail_shows_lines_amounts_shipping_and_notes_in_full_to_the_clerk(a_client, a_order):
    html = a_client.get(reverse("orders:detail", args=[a_order.pk])).content.decode()
    for text in ("玻尿酸面霜", "明前龙井", "CREAM-50", "¥256.00", "¥465.00", "¥10.00"):
        assert text in html, text
    assert "138 1234 5678" in html  # as people read it
    assert "文三路 90 号" in html
    assert "请周末送达" in html
    assert "老客户，送小样" in html
    assert 'id="details-form"' in html


@pytest.mark.parametrize("persona", ["analyst", "readonly"])
def test_contact_details_of_an_order_are_masked_for_analyst_and_readonly(
    request, client_for, persona, a_order
):
    user = request.getfixturevalue(persona)
    response = client_for(user).get(reverse("orders:detail", args=[a_order.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "138****5678" in html
    assert "12345678" not in html and "1234 5678" not in html
    assert "文三路" not in html
    assert "请周末送达" not in html
    assert "老客户" not in html
    assert 'id="details-form"' not in html
    assert "浙江省杭州市西湖区" in html  # province, city and district stay visible
    # and they cannot change the order at all
    assert 'id="ship-toggle"' not in html


# --- correcting an order's details ------------------------------------------------------------------------

DETAILS = (
    "carrier",
    "tracking_no",
    "payment_method",
    "receiver_name",
    "receiver_phone",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_address",
    "buyer_message",
    "seller_notes",
)


def _details(order, **changes):
    """The POST of the details form as the page fills it, with ``changes`` typed over it. Without the
    delivery method unless typed over: a page from before it was offered, whose POST keeps the order's."""
    return {"version": order.version, **{name: getattr(order, name) for name in DETAILS}, **changes}


def _post_details(client, order, data):
    return client.post(reverse("orders:details", args=[order.pk]), data, HTTP_ACCEPT_LANGUAGE="en")


def _unchanged(order) -> tuple:
    before = {name: getattr(order, name) for name in DETAILS}
    order.refresh_from_db()
    return before == {name: getattr(order, name) for name in DETAILS}, order.version


@pytest.fixture
def masked_clerk(staff_member):
    """A clerk whose role may change orders but sees contact details masked (a shop's own role)."""
    from django.contrib.auth.models import Permission

    user = staff_member("analyst", "masked_clerk")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="change_order")
    )
    return user


def test_the_details_form_is_filled_with_the_orders_details(a_client, a_order):
    html = a_client.get(reverse("orders:detail", args=[a_order.pk])).content.decode()

    form = html[html.index('id="details-form"') : html.index("</form>", html.index('id="details-form"'))]
    assert 'id="details-toggle"' in html
    for value in ('value="138 1234 5678"', "文三路 90 号", "请周末送达", "老客户，送小样", "甲客户"):
        assert value in form, value
    for province, city, district in (("浙江省", "杭州市", "西湖区"),):
        assert f'<option value="{province}" selected>' in form
        assert f'<option value="{city}" selected>' in form
        assert f'<option value="{district}" selected>' in form
    assert '<option value="alipay" selected>' in form and 'value="credit"' not in form
    # the notes are changed in this one form, not in a second one beside them
    assert 'id="notes-form"' not in html


@pytest.mark.parametrize("status", ["pending", "paid", "shipped"])
def test_the_order_page_gives_each_element_its_own_id_and_each_label_a_field(
    a_client, owner, a_customer, catalogue, status
):
    order = make_order(
        actor=owner, customer=a_customer, store=catalogue.store, lines=[("CREAM-50", 1)], status=status
    )

    html = a_client.get(reverse("orders:detail", args=[order.pk])).content.decode()

    ids = re.findall(r'\sid="([^"]+)"', html)
    assert sorted({i for i in ids if ids.count(i) > 1}) == []
    assert set(re.findall(r'<label[^>]*\sfor="([^"]+)"', html)) <= set(ids)


@pytest.mark.parametrize(
    "changes",
    [
        {"carrier": "顺丰速运"},
        {"tracking_no": "SF1234567890"},
        {"payment_method": "wechat"},
        {"delivery_method": "pickup"},
        {"receiver_name": "甲的家人"},
        {"receiver_phone": "13900001111"},
        {
            "ship_province": "江苏省",
            "ship_city": "南京市",
            "ship_district": "玄武区",
            "ship_address": "中山路 1 号",
        },
        {"buyer_message": "改送公司"},
        {"seller_notes": "地址已核对"},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_each_detail_is_corrected_and_the_audit_names_what_changed(a_client, a_order, a_customer, changes):
    from kebu.audit.models import AuditEntry

    a_customer.refresh_from_db()
    figures = (a_customer.total_spent_cny, a_customer.order_count)

    response = _post_details(a_client, a_order, _details(a_order, **changes))

    assert response.status_code == 302
    a_order.refresh_from_db()
    as_stored = {"13900001111": "+8613900001111"}  # a phone is kept normalised, as the customer's are
    assert {name: getattr(a_order, name) for name in changes} == {
        name: as_stored.get(value, value) for name, value in changes.items()
    }
    assert a_order.version == 2
    audit = AuditEntry.objects.get(action="order.update")
    # the names of the fields, only those that changed, never their values (contact details)
    assert audit.data == {"fields": sorted(changes)}
    a_customer.refresh_from_db()
    assert (a_customer.total_spent_cny, a_customer.order_count) == figures


def test_a_shipped_orders_tracking_number_is_corrected(a_client, owner, a_order):
    from kebu.orders.services.orders import order_ship

    shipped = order_ship(actor=owner, order=a_order, carrier="中通快递", tracking_no="ZT0000000000")

    response = _post_details(a_client, shipped, _details(shipped, tracking_no="ZT1234567890"))

    assert response.status_code == 302
    shipped.refresh_from_db()
    assert (shipped.status, shipped.tracking_no) == (OrderStatus.SHIPPED, "ZT1234567890")


def test_roles_that_may_not_change_orders_neither_see_nor_post_the_details_form(
    request, client_for, analyst, a_order
):
    client = client_for(analyst)

    html = client.get(reverse("orders:detail", args=[a_order.pk])).content.decode()
    response = _post_details(client, a_order, _details(a_order, tracking_no="X1", seller_notes="x"))

    assert 'id="details-toggle"' not in html and 'id="details-form"' not in html
    assert response.status_code == 403
    assert _unchanged(a_order) == (True, 1)


def test_someone_who_sees_contact_details_masked_is_offered_only_the_others(
    client_for, masked_clerk, a_order
):
    client = client_for(masked_clerk)

    html = client.get(reverse("orders:detail", args=[a_order.pk])).content.decode()

    form = html[html.index('id="details-form"') : html.index("</form>", html.index('id="details-form"'))]
    for name in ("carrier", "tracking_no", "receiver_name", "payment_method", "delivery_method"):
        assert f'name="{name}"' in form, name
    for name in ("receiver_phone", "ship_province", "ship_address", "buyer_message", "seller_notes"):
        assert f'name="{name}"' not in form, name
    assert 'id="details-masked"' in form
    # nothing of what is masked is on the page in full, in the form or anywhere else
    for value in ("12345678", "文三路", "请周末送达", "老客户"):
        assert value not in html, value


def test_contact_details_posted_by_someone_who_sees_them_masked_are_not_written(
    client_for, masked_clerk, a_order
):
    from kebu.audit.models import AuditEntry

    # a POST carrying the masked values as the page showed them, and a new tracking number
    data = _details(
        a_order,
        tracking_no="SF1234567890",
        receiver_phone="138****5678",
        ship_address="****",
        seller_notes="****",
        buyer_message="",
    )

    response = _post_details(client_for(masked_clerk), a_order, data)

    assert response.status_code == 302
    a_order.refresh_from_db()
    assert a_order.tracking_no == "SF1234567890"
    assert (a_order.receiver_phone, a_order.ship_address, a_order.seller_notes, a_order.buyer_message) == (
        "+86" + PHONE,
        "文三路 90 号",
        "老客户，送小样",
        "请周末送达",
    )
    assert AuditEntry.objects.get(action="order.update").data == {"fields": ["tracking_no"]}


def test_a_stale_version_asks_to_reload_and_writes_nothing(a_client, owner, a_order):
    from kebu.orders.services.orders import order_details_update

    # given the page read at version 1, then a colleague changed the notes
    page = _details(a_order, tracking_no="SF1234567890")
    order_details_update(actor=owner, order=a_order, changes={"seller_notes": "同事改的"})

    response = _post_details(a_client, a_order, page)

    assert response.status_code == 409
    html = response.content.decode()
    assert 'id="conflict"' in html and 'id="details-panel"' in html
    a_order.refresh_from_db()
    assert (a_order.tracking_no, a_order.seller_notes, a_order.version) == ("", "同事改的", 2)


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"receiver_phone": "12345"}, "receiver_phone", "12345"),
        ({"receiver_phone": "1381234567"}, "receiver_phone", "11 digits"),
        ({"ship_province": "火星省"}, "ship_province", "province"),
        ({"ship_city": "南京市"}, "ship_city", "浙江省"),
        ({"ship_district": "玄武区"}, "ship_district", "杭州市"),
        ({"payment_method": "credit"}, "payment_method", ""),
        ({"tracking_no": "X" * 41}, "tracking_no", "40"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_detail_is_named_beside_its_field_and_nothing_is_written(
    a_client, a_order, changes, field, said
):
    from kebu.audit.models import AuditEntry

    # the bad field and a good one in the same form: neither is written
    response = _post_details(a_client, a_order, _details(a_order, seller_notes="新备注", **changes))

    assert response.status_code == 400
    html = response.content.decode()
    errors = re.findall(rf'data-field="{field}">([^<]*)<', html)
    assert errors and said in errors[0], errors
    assert 'id="details-panel"' in html and "collapse show" in html
    assert _unchanged(a_order) == (True, 1)
    assert not AuditEntry.objects.filter(action="order.update").exists()


def test_the_payment_method_is_not_offered_before_the_order_is_paid(a_client, owner, catalogue, a_customer):
    pending = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)

    html = a_client.get(reverse("orders:detail", args=[pending.pk])).content.decode()
    response = _post_details(a_client, pending, _details(pending, payment_method="cash", carrier="顺丰速运"))

    form = html[html.index('id="details-form"') : html.index("</form>", html.index('id="details-form"'))]
    assert 'name="payment_method"' not in form
    assert response.status_code == 302
    pending.refresh_from_db()
    assert (pending.payment_method, pending.carrier) == ("", "顺丰速运")


# --- a new order ------------------------------------------------------------------------------------------


def test_new_order_with_two_lines_moves_the_customers_total(a_client, catalogue, a_customer, sales_a):
    response = a_client.post(
        reverse("orders:create"),
        _form(
            a_customer,
            lines=[
                {"sku_code": "CREAM-50", "quantity": "2", "discount_cny": "18"},
                {"title": "手写贺卡", "quantity": "1", "unit_price_cny": "5.5"},
            ],
            shipping_cny="12",
            store=str(catalogue.store.pk),
        ),
    )
    order = Order.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("orders:detail", args=[order.pk])
    assert order.created_by == sales_a
    assert [(line.title, line.quantity, line.amount_cny) for line in order.lines.all()] == [
        ("玻尿酸面霜", 2, Decimal("380.00")),
        ("手写贺卡", 1, Decimal("5.50")),
    ]
    assert order.total_cny == Decimal("397.50")
    # The address left empty is the customer's default one.
    assert (order.ship_city, order.receiver_phone) == ("杭州市", "+8613812345678")
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == Decimal("397.50")
    assert a_customer.order_count == 1


def test_new_order_from_the_customer_page_has_the_customer_filled_in(a_client, a_customer):
    html = a_client.get(reverse("orders:create"), {"customer": a_customer.pk}).content.decode()
    assert f'value="{a_customer.customer_no}"' in html
    assert 'id="customer-summary"' in html
    assert 'id="default-address"' in html


def test_new_order_from_the_customer_page_reads_their_addresses_once(a_client, a_customer):
    url = reverse("orders:create")
    a_client.get(url)  # the session's first page does its own once-only reads

    with CaptureQueriesContext(connection) as queries:
        html = a_client.get(url, {"customer": a_customer.pk}).content.decode()

    assert 'id="default-address"' in html and "文三路 90 号" in html
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "customers_address"' in q["sql"]]
    assert len(reads) == 1, reads


def test_a_new_orders_address_is_filled_in_from_a_default_address_with_its_region_alone(
    a_client, sales_a, a_customer, catalogue
):
    english = {"accept-language": "en"}
    # A whole default address fills in nothing: left empty, the order takes it.
    html = a_client.get(
        reverse("orders:create"), {"customer": a_customer.pk}, headers=english
    ).content.decode()
    assert "Left empty, the customer's default address is used:" in html
    assert not re.search(r'<option value="浙江省" selected>', html)

    # given: a customer the merchant knows as 广东省 深圳市, no street
    customer = make_customer(
        actor=sales_a,
        name="丙客户",
        owner=sales_a,
        addresses=[
            AddressInput(
                province="广东省", city="深圳市", receiver="丙", receiver_phone=PHONE, is_default=True
            )
        ],
    )

    # when: a new order from their page
    html = a_client.get(reverse("orders:create"), {"customer": customer.pk}, headers=english).content.decode()

    # then: what there is is filled in, and the merchant is asked for the street
    assert re.search(r'<option value="广东省" selected>', html)
    assert re.search(r'<option value="深圳市" selected>', html)
    assert 'name="receiver_name"' in html and 'value="丙"' in html
    assert 'value="138 1234 5678"' in html
    assert "its region and receiver are filled in below. Add the street." in html
    street = re.search(r'<input[^>]*name="ship_address"[^>]*>', html)
    assert street is not None and "value=" not in street.group(0)
    # and the street typed, the order has the whole address
    form = _form(
        customer,
        store=str(catalogue.store.pk),
        receiver_name="丙",
        receiver_phone="+8613812345678",
        ship_province="广东省",
        ship_city="深圳市",
        ship_district="",
        ship_address="科技园 8 号",
    )
    assert a_client.post(reverse("orders:create"), form).status_code == 302
    order = Order.objects.get()
    assert (order.ship_province, order.ship_city, order.ship_address) == ("广东省", "深圳市", "科技园 8 号")
    assert (order.receiver_name, order.receiver_phone) == ("丙", "+8613812345678")


def test_a_new_order_moved_to_another_customer_leaves_the_first_ones_filled_in_address_behind(
    a_client, sales_a, a_customer, catalogue
):
    # given a new order opened from 丙's page, whose default address (a region alone) filled in "Ship to"
    customer = make_customer(
        actor=sales_a,
        name="丙客户",
        owner=sales_a,
        addresses=[AddressInput(province="广东省", city="深圳市", receiver="丙", is_default=True)],
    )
    html = a_client.get(reverse("orders:create"), {"customer": customer.pk}).content.decode()
    assert f'name="ship_to_for" value="{customer.pk}"' in html

    # when the merchant types another customer's number instead and saves, "Ship to" as it was filled in
    filled_in = {"receiver_name": "丙", "ship_province": "广东省", "ship_city": "深圳市", "ship_district": ""}
    form = _form(a_customer, store=str(catalogue.store.pk), ship_to_for=str(customer.pk), **filled_in)
    assert a_client.post(reverse("orders:create"), form).status_code == 302

    # then the order goes to that customer's own default address, not to 丙's city
    order = Order.objects.get()
    assert (order.customer, order.ship_province, order.ship_city) == (a_customer, "浙江省", "杭州市")
    assert order.receiver_name != "丙"


def test_new_order_for_a_colleagues_customer_is_404_or_refused(a_client, catalogue, b_customer):
    assert a_client.get(reverse("orders:create"), {"customer": b_customer.pk}).status_code == 404
    response = a_client.post(reverse("orders:create"), _form(b_customer, store=str(catalogue.store.pk)))
    assert response.status_code == 400
    assert 'data-field="customer_no"' in response.content.decode()
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("rows", "overrides", "field", "message"),
    [
        (
            [{"sku_code": "CREAM-50", "quantity": "1"}, {}, {"sku_code": "TEA-250", "quantity": "0"}],
            {},
            "lines-2-quantity",
            None,
        ),
        ([{"sku_code": "NOPE-1", "quantity": "1"}], {}, "lines-0-sku_code", "NOPE-1"),
        (
            [{"sku_code": "CREAM-50", "quantity": "1"}],
            {"ordered_at": (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")},
            "ordered_at",
            None,
        ),
        ([{"title": "散装茶", "quantity": "1"}], {}, "lines-0-unit_price_cny", None),
    ],
    ids=["zero-quantity-on-the-third-row", "unknown-sku", "future-date", "free-text-without-price"],
)
def test_bad_input_is_shown_beside_the_field_and_nothing_is_written(
    a_client, catalogue, a_customer, rows, overrides, field, message
):
    response = a_client.post(
        reverse("orders:create"), _form(a_customer, lines=rows, store=str(catalogue.store.pk), **overrides)
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert f'data-field="{field}"' in html, html[html.find("invalid-feedback") - 300 :][:600]
    if message:
        assert message in html
    assert not Order.objects.exists()
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == 0


def _inputs(html: str) -> dict[str, dict[str, str]]:
    """Each named <input> of a page: its attributes, by name."""

    class Inputs(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.found: dict[str, dict[str, str]] = {}

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            named = {key: value or "" for key, value in attrs}
            if tag == "input" and "name" in named:
                self.found[named["name"]] = named

    parser = Inputs()
    parser.feed(html)
    return parser.found


def test_a_refused_new_order_shows_each_lines_sku_name_and_price_again(a_client, catalogue, a_customer):
    # given lines as a merchant leaves them: a SKU picked from the list (its price filled in), a code
    # typed without picking (no price), an item described by hand, and a SKU at a price of their own
    lines = [
        {"sku_code": "CREAM-50", "quantity": "2", "unit_price_cny": "199.00"},
        {"sku_code": "TEA-250", "quantity": "1"},
        {"title": "手工香皂", "quantity": "3", "unit_price_cny": "15"},
        {"sku_code": "TONER-100", "title": "爽肤水（赠品）", "quantity": "1", "unit_price_cny": "0"},
    ]
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")

    # when another field is wrong
    response = a_client.post(
        reverse("orders:create"),
        _form(a_customer, lines=lines, ordered_at=future, store=str(catalogue.store.pk)),
    )

    # then the form comes back with every line as it was chosen: each SKU's product name where the
    # title was left to it, its price where the price was, and a price from the SKU still the SKU's
    assert response.status_code == 400
    inputs = _inputs(response.content.decode())
    assert inputs["lines-0-sku_code"]["value"] == "CREAM-50"
    assert inputs["lines-0-title"]["placeholder"] == "玻尿酸面霜"
    assert (inputs["lines-0-unit_price_cny"]["value"], inputs["lines-0-unit_price_cny"]["data-auto"]) == (
        "199.00",
        "1",
    )
    assert inputs["lines-1-title"]["placeholder"] == "明前龙井"
    assert inputs["lines-1-unit_price_cny"]["placeholder"] == "128.00"
    assert inputs["lines-2-title"]["value"] == "手工香皂"
    assert (inputs["lines-2-unit_price_cny"]["value"], inputs["lines-2-quantity"]["value"]) == ("15", "3")
    assert "data-auto" not in inputs["lines-2-unit_price_cny"]
    # a price typed by hand is never replaced by the next SKU picked, as one from the SKU would be
    toner_title, toner_price = inputs["lines-3-title"], inputs["lines-3-unit_price_cny"]
    assert (toner_title["value"], toner_title["placeholder"]) == ("爽肤水（赠品）", "爽肤水")
    assert toner_price["value"] == "0" and "data-auto" not in toner_price
    assert not Order.objects.exists()


def test_a_paid_order_typed_in_says_how_it_was_paid(a_client, catalogue, a_customer):
    # given a new order marked paid, its payment method left at "—"
    data = _form(a_customer, status="paid", payment_method="", store=str(catalogue.store.pk))

    # when it is saved, it is refused on that field, saying what to do
    response = a_client.post(reverse("orders:create"), data, HTTP_ACCEPT_LANGUAGE="en")

    html = response.content.decode()
    assert response.status_code == 400
    assert re.findall(r'data-field="payment_method">([^<]*)<', html) == ["Choose how the order was paid."]
    assert not Order.objects.exists()
    # then, with the method chosen, it is saved; an order awaiting payment needs none yet
    a_client.post(reverse("orders:create"), {**data, "payment_method": "wechat"})
    a_client.post(
        reverse("orders:create"), {**data, "status": "pending", "order_no": "P-1", "idempotency_key": "k-2"}
    )
    assert sorted(Order.objects.values_list("status", "payment_method")) == [
        ("paid", "wechat"),
        ("pending", ""),
    ]


def test_paying_an_order_asks_how_it_was_paid_and_chooses_nothing_for_the_merchant(
    a_client, owner, catalogue, a_customer
):
    pending = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    page = a_client.get(reverse("orders:detail", args=[pending.pk])).content.decode()
    form = page[page.index('id="pay-form"') : page.index("</form>", page.index('id="pay-form"'))]
    # the list opens on "—", not on the first method
    assert re.search(r'<option value="" selected>—</option>', form)

    response = a_client.post(
        reverse("orders:pay", args=[pending.pk]),
        {"version": pending.version, "payment_method": ""},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert re.findall(r'data-field="payment_method">([^<]*)<', html) == ["Choose how the order was paid."]
    pending.refresh_from_db()
    assert (pending.status, pending.payment_method) == ("pending", "")


def test_paying_an_order_taken_with_a_method_offers_that_method(a_client, owner, catalogue, a_customer):
    # an order taken cash on delivery, awaiting its money
    cod = order_create(
        actor=owner,
        data=OrderInput(
            customer=a_customer,
            store=catalogue.store,
            lines=[LineInput(sku_code="TEA-250")],
            status=OrderStatus.PENDING,
            payment_method="cod",
        ),
    )
    page = a_client.get(reverse("orders:detail", args=[cod.pk])).content.decode()
    form = page[page.index('id="pay-form"') : page.index("</form>", page.index('id="pay-form"'))]
    assert re.search(r'<option value="cod" selected>', form)


def test_duplicate_order_number_in_the_same_store_is_refused(a_client, owner, catalogue, a_customer):
    make_order(actor=owner, customer=a_customer, store=catalogue.store, order_no="TB-42")
    response = a_client.post(
        reverse("orders:create"), _form(a_customer, order_no="TB-42", store=str(catalogue.store.pk))
    )
    assert response.status_code == 400
    assert 'data-field="order_no"' in response.content.decode()
    assert Order.objects.count() == 1


def test_a_store_deactivated_since_the_form_was_shown_is_refused_saying_it_is_closed(
    a_client, owner, catalogue, a_customer
):
    from kebu.orders.services.stores import store_closed_message, store_update

    # given: the form shown with the store chosen, then the store deactivated by someone else
    store_update(actor=owner, store=catalogue.store, is_active=False)

    # when: the form is posted as it was
    response = a_client.post(reverse("orders:create"), _form(a_customer, store=str(catalogue.store.pk)))

    # then: refused on the store, saying it is closed and where to turn it back on, not "not a choice"
    html = response.content.decode()
    assert response.status_code == 400
    assert 'data-field="store"' in html and store_closed_message(catalogue.store) in html
    assert not Order.objects.exists()


def test_a_double_clicked_submit_creates_one_order(a_client, catalogue, a_customer):
    data = _form(a_customer, idempotency_key="k-1", store=str(catalogue.store.pk))
    first = a_client.post(reverse("orders:create"), data)
    second = a_client.post(reverse("orders:create"), data)
    assert Order.objects.count() == 1
    assert first["Location"] == second["Location"]


def test_sku_search_offers_skus_with_their_price(a_client, catalogue):
    html = a_client.get(reverse("orders:sku-search"), {"lines-0-sku_code": "CRE"}).content.decode()
    assert 'value="CREAM-50"' in html and 'data-price="199.00"' in html
    assert "TEA-250" not in html


def test_sku_search_writes_a_price_grouped_by_thousands(a_client, owner, catalogue):
    product_create(
        actor=owner,
        data=ProductInput(name="紫砂壶", skus=[SkuInput(code="POT-1", price_cny="1280.00")]),
    )

    html = a_client.get(reverse("orders:sku-search"), {"lines-0-sku_code": "POT"}).content.decode()

    # the price the form fills in stays a number; the one the clerk reads is grouped
    assert 'data-price="1280.00"' in html and "¥1,280.00</option>" in html


def test_customer_search_offers_only_visible_customers(a_client, a_customer, b_customer):
    search = reverse("orders:customer-search")
    html = a_client.get(search, {"customer_no": "甲"}).content.decode()
    assert a_customer.customer_no in html
    assert b_customer.customer_no not in a_client.get(search, {"customer_no": "乙"}).content.decode()
    assert b_customer.customer_no not in a_client.get(search, {"customer_no": "C0"}).content.decode()


# --- the life of an order ---------------------------------------------------------------------------------


def test_pay_ship_deliver_complete(a_client, owner, catalogue, a_customer):
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    page = a_client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'id="pay-form"' in page and 'id="ship-form"' not in page

    response = a_client.post(
        reverse("orders:pay", args=[order.pk]), {"version": order.version, "payment_method": "wechat"}
    )
    assert response.status_code == 302
    order.refresh_from_db()
    assert (order.status, order.paid_cny, order.payment_method) == ("paid", Decimal("199.00"), "wechat")
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == Decimal("199.00")

    page = a_client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert '<datalist id="carriers">' in page and "顺丰速运" in page and "极兔速递" in page
    missing = a_client.post(reverse("orders:ship", args=[order.pk]), {"version": order.version})
    assert missing.status_code == 400
    html = missing.content.decode()
    assert 'data-field="carrier"' in html and 'data-field="tracking_no"' in html
    assert 'collapse show" id="ship-panel"' in html

    a_client.post(
        reverse("orders:ship", args=[order.pk]),
        {"version": order.version, "carrier": "顺丰速运", "tracking_no": "SF123"},
    )
    order.refresh_from_db()
    assert (order.status, order.carrier, order.tracking_no) == ("shipped", "顺丰速运", "SF123")
    a_client.post(reverse("orders:deliver", args=[order.pk]), {"version": order.version})
    order.refresh_from_db()
    assert order.status == "delivered"
    a_client.post(reverse("orders:complete", args=[order.pk]), {"version": order.version})
    order.refresh_from_db()
    assert order.status == "completed"


def test_a_stale_page_is_told_to_reload(a_client, owner, catalogue, a_customer):
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    stale = order.version
    a_client.post(reverse("orders:pay", args=[order.pk]), {"version": stale, "payment_method": "cash"})
    response = a_client.post(reverse("orders:cancel", args=[order.pk]), {"version": stale})
    # The order is paid by now: cancelling is refused by its status, not silently applied.
    assert response.status_code == 400
    order.refresh_from_db()
    assert order.status == "paid"

    other = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    response = a_client.post(
        reverse("orders:pay", args=[other.pk]), {"version": other.version + 1, "payment_method": "cash"}
    )
    assert response.status_code == 409
    assert 'id="conflict"' in response.content.decode()
    other.refresh_from_db()
    assert other.status == "pending"


@pytest.mark.parametrize(
    ("moved", "step", "message"),
    [
        (
            ("cancel", {}),
            ("pay", {"payment_method": "cash"}),
            "This order was cancelled; it cannot be paid. Create a new order instead.",
        ),
        (
            ("pay", {"payment_method": "cash"}),
            ("cancel", {}),
            "This order is paid: refund it instead (after-sales); refunded in full, it closes.",
        ),
        (
            ("cancel", {}),
            ("ship", {"carrier": "顺丰速运", "tracking_no": "SF123"}),
            "Only a paid order can be shipped.",
        ),
    ],
    ids=["paying-a-cancelled-order", "cancelling-a-paid-order", "shipping-a-cancelled-order"],
)
def test_a_step_refused_because_the_order_moved_on_meanwhile_says_why(
    a_client, owner, catalogue, a_customer, moved, step, message
):
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    # given: the order moved on in another tab, so the panel of this page's step is no longer drawn
    action, data = moved
    a_client.post(reverse(f"orders:{action}", args=[order.pk]), {"version": order.version, **data})
    order.refresh_from_db()

    # when: the step is sent from the page as it was
    action, data = step
    response = a_client.post(reverse(f"orders:{action}", args=[order.pk]), {"version": order.version, **data})

    # then: refused, and the page says why rather than showing the order as if nothing happened
    assert response.status_code == 400
    with translation.override("zh-hans"):
        expected = translation.gettext(message)
    assert expected in unescape(response.content.decode())


def test_cancel_a_pending_order_and_a_paid_one_is_refused(a_client, owner, catalogue, a_customer):
    pending = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    response = a_client.post(reverse("orders:cancel", args=[pending.pk]), {"version": pending.version})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == "cancelled"

    paid = make_order(actor=owner, customer=a_customer, store=catalogue.store)
    response = a_client.post(reverse("orders:cancel", args=[paid.pk]), {"version": paid.version})
    assert response.status_code == 400
    assert 'id="cancel-panel"' not in response.content.decode()  # a paid order offers no cancelling
    paid.refresh_from_db()
    assert paid.status == "paid"


def test_read_only_roles_cannot_act_on_an_order(client_for, readonly, owner, catalogue, a_customer):
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)
    response = client_for(readonly).post(
        reverse("orders:pay", args=[order.pk]), {"version": order.version, "payment_method": "cash"}
    )
    assert response.status_code == 403
    order.refresh_from_db()
    assert order.status == "pending"


# --- credit -----------------------------------------------------------------------------------------------


def test_paying_on_credit_beyond_the_limit_warns_then_goes_through_when_confirmed(
    client_for, manager_east, owner, catalogue, sales_a
):
    customer = _customer(sales_a, name="批发客户")
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="100", payment_terms_days=30)
    order = make_order(actor=owner, customer=customer, store=catalogue.store, status=OrderStatus.PENDING)
    client = client_for(manager_east)
    url = reverse("orders:pay", args=[order.pk])

    warned = client.post(url, {"version": order.version, "payment_method": "credit"})
    html = warned.content.decode()
    assert warned.status_code == 400
    assert 'id="credit-warning"' in html and 'name="allow_over_credit_limit"' in html
    order.refresh_from_db()
    assert order.status == "pending"

    confirmed = client.post(
        url, {"version": order.version, "payment_method": "credit", "allow_over_credit_limit": "on"}
    )
    assert confirmed.status_code == 302
    customer.refresh_from_db()
    assert customer.receivable_cny == Decimal("199.00")


def _wholesaler(owner_of, admin):
    """批发客户, ``owner_of``'s, buying on credit: ¥5,000 of it, 30 days to pay."""
    customer = _customer(owner_of, name="批发客户")
    customer_credit_set(actor=admin, customer=customer, credit_limit_cny="5000", payment_terms_days=30)
    return customer


def test_an_order_on_credit_says_what_was_taken_on_credit_not_that_it_was_paid(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: ¥199.00 taken on credit, nothing received yet
    customer = _wholesaler(sales_a, owner)
    order = make_order(actor=owner, customer=customer, store=catalogue.store, payment_method="credit")

    html = (
        client_for(manager_east)
        .get(reverse("orders:detail", args=[order.pk]), headers={"accept-language": "en"})
        .content.decode()
    )

    amounts = html[html.index('id="order-amounts"') :]
    amounts = amounts[: amounts.index("</dl>")]
    assert re.search(r">Taken on credit</dt><dd[^>]*>¥199\.00<", amounts)
    assert ">Paid</dt>" not in amounts


def test_a_new_order_part_paid_now_puts_only_the_rest_on_credit_and_says_so(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: a wholesaler with ¥1,000 of credit; 2 creams (¥398.00), ¥100.00 paid at the counter
    customer = _customer(sales_a, name="批发客户")
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="1000", payment_terms_days=30)
    client = client_for(manager_east)
    form = _form(customer, payment_method="credit", paid_now_cny="100.00", store=str(catalogue.store.pk))

    response = client.post(reverse("orders:create"), form)

    assert response.status_code == 302
    order = Order.objects.get()
    assert (order.paid_cny, order.credit_taken_cny, order.credit_outstanding_cny) == (
        Decimal("398.00"),
        Decimal("298.00"),
        Decimal("298.00"),
    )
    customer.refresh_from_db()
    assert (customer.total_spent_cny, customer.receivable_cny) == (Decimal("398.00"), Decimal("298.00"))
    html = client.get(response["Location"], headers={"accept-language": "en"}).content.decode()
    amounts = html[html.index('id="order-amounts"') :]
    amounts = amounts[: amounts.index("</dl>")]
    assert re.search(r">Paid at the time</dt><dd[^>]*>¥100\.00<", amounts)
    assert re.search(r">Taken on credit</dt><dd[^>]*>¥298\.00<", amounts)
    assert re.search(r">Still owed \(credit\)</dt><dd[^>]*>¥298\.00<", amounts)


def test_paying_part_now_and_the_rest_on_credit_from_the_order_page(
    client_for, manager_east, owner, catalogue, sales_a
):
    customer = _customer(sales_a, name="批发客户")
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="100", payment_terms_days=30)
    order = make_order(actor=owner, customer=customer, store=catalogue.store, status=OrderStatus.PENDING)
    client = client_for(manager_east)
    url = reverse("orders:pay", args=[order.pk])
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert 'name="paid_now_cny"' in page[page.index('id="pay-form"') :]

    # ¥199.00 due, ¥100.00 of credit: ¥99.00 paid now leaves ¥100.00 on credit, within the limit
    response = client.post(url, {"version": order.version, "payment_method": "credit", "paid_now_cny": "99"})

    assert response.status_code == 302
    order.refresh_from_db()
    customer.refresh_from_db()
    assert (order.status, order.credit_outstanding_cny) == ("paid", Decimal("100.00"))
    assert (customer.total_spent_cny, customer.receivable_cny) == (Decimal("199.00"), Decimal("100.00"))


def test_paid_now_with_a_method_other_than_credit_is_refused_on_its_field(
    client_for, manager_east, owner, catalogue, sales_a
):
    customer = _customer(sales_a, name="批发客户")
    order = make_order(actor=owner, customer=customer, store=catalogue.store, status=OrderStatus.PENDING)

    response = client_for(manager_east).post(
        reverse("orders:pay", args=[order.pk]),
        {"version": order.version, "payment_method": "cash", "paid_now_cny": "99"},
        headers={"accept-language": "en"},
    )

    assert response.status_code == 400
    assert (
        'data-field="paid_now_cny">Only an order on credit is paid in part now' in response.content.decode()
    )
    order.refresh_from_db()
    assert order.status == "pending"


def test_a_refund_beyond_what_is_owed_on_credit_says_what_to_pay_back_to_the_customer(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: 2 teas (¥256.00) on credit, ¥100.00 paid since: ¥156.00 still owed on the order
    customer = _wholesaler(sales_a, owner)
    order = make_order(
        actor=owner, customer=customer, store=catalogue.store, payment_method="credit", lines=[("TEA-250", 2)]
    )
    credit_payment_record(actor=owner, customer=customer, amount_cny="100.00", method="bank_transfer")
    client = client_for(manager_east)
    english = {"accept-language": "en"}
    form = client.get(reverse("orders:aftersale-create", args=[order.pk]), headers=english).content.decode()
    assert "¥156.00 is still owed on this order (credit): a refund clears that first" in form
    said = "¥156.00 clears what is owed on this order; ¥44.00 to pay back to the customer."

    # when: ¥200.00 refunded at once
    response = client.post(
        reverse("orders:aftersale-create", args=[order.pk]),
        {"kind": "refund", "reason": "quality", "amount_cny": "200.00", "complete_now": "on"},
        headers=english,
    )

    # then: the confirmation and the completed after-sale on the order page both say where the money goes
    assert response.status_code == 302
    page = client.get(response["Location"], headers=english).content.decode()
    aftersale = AfterSale.objects.get()
    assert f"Refunded ¥200.00. {said}" in page  # the message
    item = page[page.index(f'id="aftersale-{aftersale.pk}"') :]
    assert f'data-credit-split="{aftersale.pk}">{said}<' in item[: item.index("</li>")]


def test_completing_a_refund_on_credit_asks_and_then_says_what_to_pay_back(
    client_for, manager_east, owner, catalogue, sales_a
):
    customer = _wholesaler(sales_a, owner)
    order = make_order(
        actor=owner, customer=customer, store=catalogue.store, payment_method="credit", lines=[("TEA-250", 2)]
    )
    aftersale = aftersale_request(actor=owner, order=order, kind="refund", reason="price", amount_cny="56.00")
    client = client_for(manager_east)
    english = {"accept-language": "en"}
    said = "¥56.00 clears what is owed on this order; nothing to pay back to the customer."

    page = client.get(reverse("orders:detail", args=[order.pk]), headers=english).content.decode()
    assert f'data-confirm="Refund ¥56.00 and complete this after-sale? {said}"' in page

    response = client.post(
        reverse("orders:aftersale-complete", args=[aftersale.pk]),
        {"version": aftersale.version},
        headers=english,
    )
    assert response.status_code == 302
    page = client.get(response["Location"], headers=english).content.decode()
    assert f"After-sale #{aftersale.pk} completed. {said}" in page


def test_open_refunds_on_credit_are_previewed_in_the_order_requested_against_what_the_earlier_leave_owed(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: 2 teas (¥256.00) on credit, ¥106.00 paid at the time: ¥150.00 owed; two ¥100.00 refunds open
    customer = _wholesaler(sales_a, owner)
    order = make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        payment_method="credit",
        lines=[("TEA-250", 2)],
        paid_now_cny="106.00",
    )
    first = aftersale_request(actor=owner, order=order, kind="refund", reason="price", amount_cny="100.00")
    second = aftersale_request(actor=owner, order=order, kind="refund", reason="price", amount_cny="100.00")
    english = {"accept-language": "en"}

    # when: the order page is read
    page = client_for(manager_east).get(reverse("orders:detail", args=[order.pk]), headers=english)
    page = page.content.decode()

    # then: the first clears ¥100.00 of what is owed, the second the ¥50.00 left, and ¥50.00 goes back
    def item(aftersale):
        start = page.index(f'id="aftersale-{aftersale.pk}"')
        return page[start : page.index("</li>", start)]

    all_owed = "¥100.00 clears what is owed on this order; nothing to pay back to the customer."
    rest_owed = "¥50.00 clears what is owed on this order; ¥50.00 to pay back to the customer."
    assert f'data-credit-split="{first.pk}">{all_owed}<' in item(first)
    assert f'data-credit-split="{second.pk}">{rest_owed}<' in item(second)
    # completing the second first would clear ¥100.00 of the ¥150.00: its confirmation says what it does
    assert f'data-confirm="Refund ¥100.00 and complete this after-sale? {all_owed}"' in item(second)


def test_an_order_on_credit_reads_on_credit_with_what_it_owes_in_the_list_and_on_its_page(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: 2 teas (¥256.00) on credit, ¥100.00 paid at the time: ¥156.00 owed; its status stays paid
    customer = _wholesaler(sales_a, owner)
    order = make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        payment_method="credit",
        lines=[("TEA-250", 2)],
        paid_now_cny="100.00",
    )
    assert order.status == OrderStatus.PAID
    client = client_for(manager_east)
    english = {"accept-language": "en"}
    badge = re.compile(
        r'data-status="paid"[^>]*>On credit</span> <span[^>]*data-owed="156\.00">Owes ¥156\.00<'
    )

    listed = client.get(reverse("orders:list"), headers=english).content.decode()
    page = client.get(reverse("orders:detail", args=[order.pk]), headers=english).content.decode()

    assert badge.search(listed) and badge.search(page)
    info = page[page.index('id="order-info"') :]
    info = info[: info.index("</dl>")]
    assert ">Taken on credit at</dt>" in info and ">Paid at</dt>" not in info
    # settled, it was paid after all
    credit_payment_record(actor=owner, customer=customer, amount_cny="156.00", method="bank_transfer")
    listed = client.get(reverse("orders:list"), headers=english).content.decode()
    assert re.search(r'data-status="paid"[^>]*>Paid</span>\s*</td>', listed) and "data-owed" not in listed


def test_the_order_lists_paid_column_says_what_of_it_went_on_credit(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: 2 teas (¥256.00) on credit with ¥100.00 paid at the time, and a tea paid in full
    customer = _wholesaler(sales_a, owner)
    on_credit = make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        payment_method="credit",
        lines=[("TEA-250", 2)],
        paid_now_cny="100.00",
    )
    paid = make_order(actor=owner, customer=customer, store=catalogue.store, lines=[("TEA-250", 1)])

    listed = client_for(manager_east).get(reverse("orders:list"), headers={"accept-language": "en"})
    listed = listed.content.decode()

    # then: the order on credit's ¥256.00 paid says ¥156.00 of it went on credit; the other says nothing
    def row(order):
        start = listed.index(f">{order.order_no}</a>")
        return listed[start : listed.index("</tr>", start)]

    taken = re.compile(
        r'>¥256\.00<div class="small text-secondary" data-credit-taken="156\.00">'
        r"of which on credit ¥156\.00</div></td>"
    )
    assert taken.search(row(on_credit))
    assert "data-credit-taken" not in row(paid)


def test_credit_page_terms_and_a_payment_settle_the_debt(client_for, manager_east, owner, catalogue, sales_a):
    customer = _customer(sales_a, name="批发客户")
    client = client_for(manager_east)
    response = client.post(
        reverse("orders:credit-terms", args=[customer.pk]),
        {"credit_limit_cny": "5000", "payment_terms_days": "0"},
    )
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.credit_limit_cny == Decimal("5000.00")
    order = make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        payment_method="credit",
        ordered_at=timezone.now() - timedelta(days=3),
        paid_at=timezone.now() - timedelta(days=3),
    )
    overdue = client.get(reverse("orders:credit-overdue")).content.decode()
    assert "批发客户" in overdue and "¥199.00" in overdue

    page = client.get(reverse("orders:credit-customer", args=[customer.pk])).content.decode()
    assert order.order_no in page and 'id="credit-payment-form"' in page

    too_much = client.post(
        reverse("orders:credit-payment", args=[customer.pk]), {"amount_cny": "500", "method": "bank_transfer"}
    )
    assert too_much.status_code == 400 and 'data-field="amount_cny"' in too_much.content.decode()
    assert not CreditPayment.objects.exists()

    paid = client.post(
        reverse("orders:credit-payment", args=[customer.pk]), {"amount_cny": "199", "method": "bank_transfer"}
    )
    assert paid.status_code == 302
    customer.refresh_from_db()
    order.refresh_from_db()
    assert customer.receivable_cny == 0 and order.credit_outstanding_cny == 0
    assert "批发客户" not in client.get(reverse("orders:credit-overdue")).content.decode()


def test_the_overdue_list_says_whose_customer_and_what_they_owe_in_all(
    client_for, manager_east, owner, catalogue, sales_a
):
    customer = _customer(sales_a, name="批发客户")
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="5000", payment_terms_days=0)
    for days_ago in (3, 0):  # one past due, one due today
        make_order(
            actor=owner,
            customer=customer,
            store=catalogue.store,
            payment_method="credit",
            ordered_at=timezone.now() - timedelta(days=days_ago),
            paid_at=timezone.now() - timedelta(days=days_ago),
        )

    page = client_for(manager_east).get(reverse("orders:credit-overdue")).content.decode()

    row = page[page.index("批发客户") : page.index("</tr>", page.index("批发客户"))]
    assert "¥199.00" in row and "¥398.00" in row  # past due, and owed in all
    assert str(sales_a) in row


def test_sales_may_read_credit_but_not_set_terms_or_record_payments(a_client, a_customer):
    page = a_client.get(reverse("orders:credit-customer", args=[a_customer.pk])).content.decode()
    assert 'id="credit-terms-form"' not in page and 'id="credit-payment-form"' not in page
    terms = a_client.post(
        reverse("orders:credit-terms", args=[a_customer.pk]),
        {"credit_limit_cny": "5000", "payment_terms_days": "30"},
    )
    assert terms.status_code == 403
    a_customer.refresh_from_db()
    assert a_customer.credit_limit_cny is None


def test_a_credit_page_past_the_limit_says_so_and_writes_the_excess_as_money(
    client_for, manager_east, owner, catalogue, sales_a
):
    # given: ¥1,990.00 owed on credit, then the limit lowered to ¥1,000.00
    customer = _wholesaler(sales_a, owner)
    make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 10)],
        payment_method="credit",
    )
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="1000", payment_terms_days=30)

    url = reverse("orders:credit-customer", args=[customer.pk])
    page = client_for(manager_east).get(url).content.decode()

    # then: the sign before the ¥, as the customer page and the order pages write money, and the warning
    summary = page[page.index('id="credit-summary"') : page.index('id="credit-orders"')]
    assert "-¥990.00" in summary and "¥-990.00" not in summary
    assert 'id="credit-over-limit"' in summary


# --- after-sales ------------------------------------------------------------------------------------------


def test_the_after_sale_form_writes_what_was_paid_grouped_by_thousands(
    a_client, owner, catalogue, a_customer
):
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, lines=[("CREAM-50", 10)])

    page = a_client.get(reverse("orders:aftersale-create", args=[order.pk])).content.decode()

    hint = page[page.index('id="aftersale-paid"') :][:200]
    assert hint.count("¥1,990.00") == 2 and "¥1990.00" not in hint


def test_the_order_page_writes_a_line_s_refund_grouped_by_thousands(a_client, owner, catalogue, a_customer):
    # given: ten creams (¥1,990.00) refunded in full
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, lines=[("CREAM-50", 10)])
    order_refund(actor=owner, order=order, amount_cny="1990.00", reason="quality")

    page = a_client.get(reverse("orders:detail", args=[order.pk]), headers={"accept-language": "en"})

    # then: the line says what came back as the order's totals say it
    html = page.content.decode()
    assert "¥1,990.00 refunded" in html and "¥1990.00" not in html


def test_completing_a_refund_asks_about_the_amount_grouped_by_thousands(
    a_client, owner, catalogue, a_customer
):
    order = make_order(actor=owner, customer=a_customer, store=catalogue.store, lines=[("CREAM-50", 10)])
    aftersale_request(actor=owner, order=order, kind="refund", reason="quality", amount_cny="1990.00")

    html = a_client.get(reverse("orders:detail", args=[order.pk])).content.decode()

    confirm = re.search(r'data-confirm="([^"]*)"', html[html.index('data-action="complete"') - 600 :])
    assert confirm and "¥1,990.00" in unescape(confirm.group(1))


NOT_SHIPPED = (
    "This order has not been shipped: only a refund without return is possible. If it went out, mark it "
    "shipped first."
)


def _kinds_offered(html: str) -> list[str]:
    select = re.search(r'<select name="kind"[^>]*>(.*?)</select>', html, re.S)
    assert select, "no type to choose"
    return re.findall(r'<option value="(\w+)"', select.group(1))


def test_the_after_sale_form_of_an_order_not_shipped_offers_refund_only_and_says_why(
    a_client, owner, a_order
):
    url = reverse("orders:aftersale-create", args=[a_order.pk])

    before = a_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    order_ship(actor=owner, order=a_order, carrier="顺丰速运", tracking_no="SF1234567890")
    after = a_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert _kinds_offered(before) == ["refund"]
    assert NOT_SHIPPED in before
    assert _kinds_offered(after) == ["refund", "return", "exchange"]
    assert NOT_SHIPPED not in after


@pytest.mark.parametrize("kind", ["return", "exchange"])
def test_a_return_or_exchange_sent_for_an_order_not_shipped_is_refused_beside_the_type(
    a_client, a_order, kind
):
    # given a page opened for it before, or sent by hand: the order is paid, nothing went out
    line = a_order.lines.get(sku_code="CREAM-50")
    response = a_client.post(
        reverse("orders:aftersale-create", args=[a_order.pk]),
        {"kind": kind, "reason": "size", f"line_{line.pk}_quantity": "1"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert f'<div class="invalid-feedback d-block" data-field="kind">{NOT_SHIPPED}</div>' in html
    assert html.count(NOT_SHIPPED) == 1  # the error, not the help beside it again
    assert not AfterSale.objects.exists()


def test_paying_nothing_of_an_amount_due_is_refused_beside_the_amount(a_client, owner, catalogue, a_customer):
    pending = make_order(actor=owner, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)

    response = a_client.post(
        reverse("orders:pay", args=[pending.pk]),
        {"version": pending.version, "payment_method": "wechat", "paid_cny": "0"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'data-field="paid_cny">¥0 paid on an order of ¥199.00: enter the amount received', html)
    pending.refresh_from_db()
    assert (pending.status, pending.paid_cny) == (OrderStatus.PENDING, 0)
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == 0


def test_refund_now_lowers_the_customers_total(a_client, a_order, a_customer):
    line = a_order.lines.get(sku_code="TEA-250")
    response = a_client.post(
        reverse("orders:aftersale-create", args=[a_order.pk]),
        {
            "kind": "refund",
            "reason": "quality",
            "reason_detail": "茶叶受潮",
            f"line_{line.pk}_quantity": "1",
            "complete_now": "on",
        },
    )
    assert response.status_code == 302
    aftersale = AfterSale.objects.get()
    assert (aftersale.status, aftersale.amount_cny) == ("completed", Decimal("128.00"))
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == Decimal("337.00")
    html = a_client.get(reverse("orders:detail", args=[a_order.pk])).content.decode()
    assert f'id="aftersale-{aftersale.pk}"' in html and "¥128.00" in html


def test_a_return_goes_through_approve_receive_complete(a_client, a_shipped):
    line = a_shipped.lines.get(sku_code="CREAM-50")
    a_client.post(
        reverse("orders:aftersale-create", args=[a_shipped.pk]),
        {"kind": "return", "reason": "size", f"line_{line.pk}_quantity": "1"},
    )
    aftersale = AfterSale.objects.get()
    assert aftersale.status == "requested" and aftersale.amount_cny == Decimal("199.00")
    for action, status in (("approve", "approved"), ("receive", "received"), ("complete", "completed")):
        response = a_client.post(
            reverse(f"orders:aftersale-{action}", args=[aftersale.pk]),
            {"version": aftersale.version, "return_tracking_no": "YT999"},
        )
        assert response.status_code == 302, (action, response.content.decode()[:2000])
        aftersale.refresh_from_db()
        assert aftersale.status == status
    line.refresh_from_db()
    assert line.returned_quantity == 1
    assert aftersale.return_tracking_no == "YT999"


def test_an_exchange_is_completed_with_what_was_sent_back_shown_on_the_order(a_client, a_shipped):
    line = a_shipped.lines.get(sku_code="CREAM-50")
    a_client.post(
        reverse("orders:aftersale-create", args=[a_shipped.pk]),
        {"kind": "exchange", "reason": "size", f"line_{line.pk}_quantity": "1"},
    )
    aftersale = AfterSale.objects.get()
    for action in ("approve", "receive"):
        a_client.post(
            reverse(f"orders:aftersale-{action}", args=[aftersale.pk]), {"version": aftersale.version}
        )
        aftersale.refresh_from_db()
    page = a_client.get(reverse("orders:detail", args=[a_shipped.pk])).content.decode()
    assert f'data-replacement-form="{aftersale.pk}"' in page

    response = a_client.post(
        reverse("orders:aftersale-complete", args=[aftersale.pk]),
        {
            "version": aftersale.version,
            "replacement_sku_code": "CREAM-50",
            "replacement_item": "玻尿酸面霜 50g（新批次）",
            "replacement_carrier": "中通快递",
            "replacement_tracking_no": "ZT777",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    aftersale.refresh_from_db()
    assert (aftersale.status, aftersale.replacement_sku.code, aftersale.replacement_tracking_no) == (
        "completed",
        "CREAM-50",
        "ZT777",
    )
    page = a_client.get(reverse("orders:detail", args=[a_shipped.pk])).content.decode()
    shown = page[page.index(f'data-replacement="{aftersale.pk}"') :]
    shown = shown[: shown.index("</div>")]
    assert (
        "玻尿酸面霜 50g（新批次）" in shown
        and "CREAM-50" in shown
        and "中通快递" in shown
        and "ZT777" in shown
    )


def test_a_replacement_sku_no_one_has_is_told_beside_the_exchange(a_client, owner, a_shipped):
    line = a_shipped.lines.get(sku_code="CREAM-50")
    aftersale = aftersale_request(
        actor=owner, order=a_shipped, kind="exchange", reason="size", lines=[AfterSaleLineInput(line.pk, 1)]
    )
    from kebu.orders.services.aftersales import aftersale_approve, aftersale_receive

    aftersale = aftersale_receive(actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=aftersale))

    response = a_client.post(
        reverse("orders:aftersale-complete", args=[aftersale.pk]),
        {"version": aftersale.version, "replacement_sku_code": "NOPE-1", "replacement_tracking_no": "ZT1"},
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert f'data-aftersale-errors="{aftersale.pk}"' in page and "NOPE-1" in page
    assert 'value="ZT1"' in page  # what was typed is still there to correct
    assert AfterSale.objects.get(pk=aftersale.pk).status == "received"


def _exchange_sent(owner, order, **replacement: str) -> AfterSale:
    """A completed exchange of one cream of ``order`` that sent ``replacement``."""
    from kebu.orders.services.aftersales import (
        ReplacementInput,
        aftersale_approve,
        aftersale_complete,
        aftersale_receive,
    )

    line = order.lines.get(sku_code="CREAM-50")
    aftersale = aftersale_request(
        actor=owner, order=order, kind="exchange", reason="size", lines=[AfterSaleLineInput(line.pk, 1)]
    )
    aftersale = aftersale_receive(actor=owner, aftersale=aftersale_approve(actor=owner, aftersale=aftersale))
    return aftersale_complete(actor=owner, aftersale=aftersale, replacement=ReplacementInput(**replacement))


def _replacement_post(aftersale, **fields: str) -> dict[str, object]:
    """The correction form as the page sends it: every box, as it stands, with ``fields`` typed over."""
    sku = aftersale.replacement_sku
    return {
        "version": aftersale.version,
        "replacement_sku_code": sku.code if sku else "",
        "replacement_item": aftersale.replacement_item,
        "replacement_carrier": aftersale.replacement_carrier,
        "replacement_tracking_no": aftersale.replacement_tracking_no,
        **fields,
    }


def test_a_completed_exchanges_mistyped_tracking_number_is_corrected_on_the_order_page(
    a_client, owner, a_shipped
):
    sent = _exchange_sent(owner, a_shipped, sku_code="TONER-100", carrier="顺丰速运", tracking_no="SF12345")

    # the page offers the correction, filled in with what was recorded
    page = a_client.get(reverse("orders:detail", args=[a_shipped.pk])).content.decode()
    form = page[page.index(f'data-replacement-correct="{sent.pk}"') :]
    form = form[: form.index("</details>")]
    assert 'value="SF12345"' in form and 'value="TONER-100"' in form and 'value="顺丰速运"' in form

    response = a_client.post(
        reverse("orders:aftersale-replacement", args=[sent.pk]),
        _replacement_post(sent, replacement_carrier="中通快递", replacement_tracking_no="ZT54321"),
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    sent.refresh_from_db()
    assert (sent.replacement_sku.code, sent.replacement_carrier, sent.replacement_tracking_no) == (
        "TONER-100",
        "中通快递",
        "ZT54321",
    )
    page = a_client.get(response["Location"]).content.decode()
    shown = page[page.index(f'data-replacement="{sent.pk}"') :]
    assert "ZT54321" in shown[: shown.index("</div>")]


def test_a_replacement_correction_naming_no_sku_is_told_beside_the_exchange_and_kept_to_correct(
    a_client, owner, a_shipped
):
    sent = _exchange_sent(owner, a_shipped, sku_code="TONER-100", tracking_no="SF1")

    response = a_client.post(
        reverse("orders:aftersale-replacement", args=[sent.pk]),
        _replacement_post(sent, replacement_sku_code="NOPE-1", replacement_tracking_no="SF2"),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert f'data-aftersale-errors="{sent.pk}"' in page and "NOPE-1" in page
    assert f'data-replacement-correct="{sent.pk}" open' in page
    assert 'value="SF2"' in page  # what was typed is still there to correct
    sent.refresh_from_db()
    assert (sent.replacement_sku.code, sent.replacement_tracking_no) == ("TONER-100", "SF1")


def test_a_replacement_is_corrected_only_by_who_may_complete_an_exchange(
    client_for, readonly, owner, a_shipped
):
    sent = _exchange_sent(owner, a_shipped, tracking_no="SF1")
    client = client_for(readonly)

    page = client.get(reverse("orders:detail", args=[a_shipped.pk])).content.decode()
    response = client.post(
        reverse("orders:aftersale-replacement", args=[sent.pk]),
        _replacement_post(sent, replacement_tracking_no="SF2"),
    )

    assert f'data-replacement="{sent.pk}"' in page and "data-replacement-correct" not in page
    assert response.status_code == 403
    sent.refresh_from_db()
    assert sent.replacement_tracking_no == "SF1"


def test_a_refund_offers_no_replacement_to_correct(a_client, owner, a_order):
    from kebu.orders.services.aftersales import aftersale_complete

    refund = aftersale_request(actor=owner, order=a_order, kind="refund", reason="price", amount_cny="5")
    aftersale_complete(actor=owner, aftersale=refund)
    refund.refresh_from_db()

    page = a_client.get(reverse("orders:detail", args=[a_order.pk])).content.decode()
    response = a_client.post(
        reverse("orders:aftersale-replacement", args=[refund.pk]),
        _replacement_post(refund, replacement_tracking_no="SF2"),
    )

    assert "data-replacement-correct" not in page
    assert response.status_code == 400
    assert f'data-aftersale-errors="{refund.pk}"' in response.content.decode()
    refund.refresh_from_db()
    assert refund.replacement_tracking_no == ""


def test_reject_needs_a_reason_shown_beside_it(a_client, owner, a_order):
    aftersale = aftersale_request(actor=owner, order=a_order, kind="refund", reason="price", amount_cny="20")
    url = reverse("orders:aftersale-reject", args=[aftersale.pk])
    response = a_client.post(url, {"version": aftersale.version, "resolution_note": ""})
    assert response.status_code == 400
    assert f'data-aftersale-errors="{aftersale.pk}"' in response.content.decode()
    response = a_client.post(url, {"version": aftersale.version, "resolution_note": "已补发优惠券"})
    assert response.status_code == 302
    aftersale.refresh_from_db()
    assert aftersale.status == AfterSaleStatus.REJECTED


def test_aftersale_form_errors_go_on_the_right_line(a_client, a_shipped):
    line = a_shipped.lines.get(sku_code="TEA-250")
    response = a_client.post(
        reverse("orders:aftersale-create", args=[a_shipped.pk]),
        {
            "kind": "return",
            "reason": "size",
            f"line_{line.pk}_quantity": "1",
            f"line_{line.pk}_amount": "999",
        },
    )
    assert response.status_code == 400
    assert f'data-field="line_{line.pk}_amount"' in response.content.decode()
    assert not AfterSale.objects.exists()


@pytest.mark.parametrize(
    ("kind", "shown", "hidden"), [("exchange", "exchange", "refund"), ("return", "refund", "exchange")]
)
def test_the_amounts_help_fits_the_kind_an_exchange_moving_no_money(a_client, a_shipped, kind, shown, hidden):
    # given a request sent back to be corrected (no line chosen), as the page shows it again
    response = a_client.post(
        reverse("orders:aftersale-create", args=[a_shipped.pk]),
        {"kind": kind, "reason": "size"},
        HTTP_ACCEPT_LANGUAGE="en",
    )

    assert response.status_code == 400
    html = response.content.decode()
    helps = dict(re.findall(r'<div class="form-text" id="amount-help-(\w+)"([^>]*)>', html))
    assert "hidden" not in helps[shown] and "hidden" in helps[hidden]
    assert "An exchange moves no money: there is no refund to enter." in html
    assert "Empty: the lines&#x27; share of what was paid." in html


def test_a_line_refund_typed_without_its_quantity_is_asked_for_the_quantity_not_dropped(a_client, a_order):
    line = a_order.lines.get(sku_code="TEA-250")
    # given: ¥30 typed in the tea line's refund, its quantity left empty, and ¥20 as the whole refund
    response = a_client.post(
        reverse("orders:aftersale-create", args=[a_order.pk]),
        {"kind": "refund", "reason": "price", "amount_cny": "20", f"line_{line.pk}_amount": "30"},
    )

    # then: refused beside the line's quantity, rather than a ¥20 refund that forgets the ¥30
    assert response.status_code == 400
    assert f'data-field="line_{line.pk}_quantity"' in response.content.decode()
    assert not AfterSale.objects.exists()


def test_aftersale_list_puts_open_requests_first_and_filters(a_client, owner, a_shipped):
    done = aftersale_request(actor=owner, order=a_shipped, kind="refund", reason="price", amount_cny="5")
    waiting = aftersale_request(
        actor=owner,
        order=a_shipped,
        kind="return",
        reason="size",
        lines=[AfterSaleLineInput(line_id=a_shipped.lines.first().pk, quantity=1)],
    )
    from kebu.orders.services.aftersales import aftersale_complete

    aftersale_complete(actor=owner, aftersale=done)
    html = a_client.get(reverse("orders:aftersales")).content.decode()
    assert f"#{waiting.pk}<" in html and f"#{done.pk}<" not in html
    html = a_client.get(reverse("orders:aftersales"), {"status": "all"}).content.decode()
    assert f"#{waiting.pk}<" in html and f"#{done.pk}<" in html


def test_aftersale_list_shows_what_a_completed_exchange_sent_without_a_query_per_row(
    a_client, owner, a_shipped
):
    # given one exchange done, which sent a toner by SF, and another still on its way back
    sent = _exchange_sent(owner, a_shipped, sku_code="TONER-100", carrier="顺丰速运", tracking_no="SF1234567")
    tea = a_shipped.lines.get(sku_code="TEA-250")
    waiting = aftersale_request(
        actor=owner, order=a_shipped, kind="exchange", reason="size", lines=[AfterSaleLineInput(tea.pk, 1)]
    )
    url = reverse("orders:aftersales")
    a_client.get(url)  # the session's first page does its own once-only reads

    with CaptureQueriesContext(connection) as one:
        html = a_client.get(url, {"status": "all"}).content.decode()

    # then the list says what went out, beside the exchange done only
    shown = html[html.index(f'data-replacement-sent="{sent.pk}"') :]
    shown = shown[: shown.index("</td>")]
    assert all(text in shown for text in ("爽肤水 100ml", "TONER-100", "顺丰速运", "SF1234567")), shown
    assert f'data-replacement-sent="{waiting.pk}"' not in html
    # and more exchanges done cost no more queries
    for _ in range(2):
        _exchange_sent(owner, a_shipped, sku_code="CREAM-50", tracking_no="ZT1")
    with CaptureQueriesContext(connection) as three:
        html = a_client.get(url, {"status": "all"}).content.decode()
    assert html.count("data-replacement-sent=") == 3
    assert len(three.captured_queries) == len(one.captured_queries)


def test_aftersale_list_totals_what_the_filtered_list_refunded_and_has_yet_to(a_client, owner, a_order):
    from kebu.orders.services.aftersales import aftersale_complete, aftersale_reject

    # given ¥5 and ¥7.50 refunded, ¥30 asked and waiting, and ¥100 asked and refused
    for amount in ("5", "7.50"):
        aftersale_complete(
            actor=owner,
            aftersale=aftersale_request(
                actor=owner, order=a_order, kind="refund", reason="price", amount_cny=amount
            ),
        )
    aftersale_request(actor=owner, order=a_order, kind="refund", reason="price", amount_cny="30")
    refused = aftersale_request(actor=owner, order=a_order, kind="refund", reason="quality", amount_cny="100")
    aftersale_reject(actor=owner, aftersale=refused, resolution_note="超过售后期")
    url = reverse("orders:aftersales")

    def totals(**filters) -> dict[str, str]:
        html = a_client.get(url, filters, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        return dict(re.findall(r'data-total="(\w+)">([^<]+)<', html))

    # then each list says what it comes to, a refusal counting for nothing
    assert totals(status="all") == {"refunded": "Refunded: ¥12.50", "awaiting": "Awaiting refund: ¥30.00"}
    assert totals() == {"awaiting": "Awaiting refund: ¥30.00"}
    assert totals(status="completed") == {"refunded": "Refunded: ¥12.50"}
    assert totals(status="rejected") == {"refunded": "Refunded: ¥0.00"}
    assert totals(status="all", kind="return") == {"refunded": "Refunded: ¥0.00"}


def test_aftersale_list_totals_take_one_query_however_many_rows(a_client, owner, a_order):
    aftersale_request(actor=owner, order=a_order, kind="refund", reason="price", amount_cny="5")
    a_client.get(reverse("orders:aftersales"))
    with CaptureQueriesContext(connection) as queries:
        a_client.get(reverse("orders:aftersales"), {"status": "all"})
    sums = [q["sql"] for q in queries.captured_queries if "SUM(" in q["sql"].upper()]
    assert len(sums) == 1, sums


# --- the catalogue ----------------------------------------------------------------------------------------


def _product_form(**overrides):
    data = {
        "name": "桂花乌龙",
        "category": "",
        "brand_name": "山里",
        "usage_cycle_days": "30",
        "description": "",
        "is_active": "on",
        "skus-TOTAL_FORMS": "2",
        "skus-INITIAL_FORMS": "0",
        "skus-MIN_NUM_FORMS": "1",
        "skus-MAX_NUM_FORMS": "50",
        "skus-0-code": "OOLONG-100",
        "skus-0-price_cny": "68",
        "skus-0-is_active": "on",
        "skus-1-code": "OOLONG-250",
        "skus-1-price_cny": "150",
        "skus-1-spec": "250g",
        "skus-1-is_active": "on",
    }
    data.update(overrides)
    return data


def test_manager_creates_and_edits_a_product_with_skus(client_for, manager_east, catalogue):
    client = client_for(manager_east)
    response = client.post(reverse("orders:product-create"), _product_form(category=str(catalogue.tea.pk)))
    assert response.status_code == 302
    product = Product.objects.get(name="桂花乌龙")
    assert sorted(product.skus.values_list("code", "price_cny")) == [
        ("OOLONG-100", Decimal("68.00")),
        ("OOLONG-250", Decimal("150.00")),
    ]
    listing = client.get(reverse("orders:products"), {"category": catalogue.tea.pk}).content.decode()
    assert "桂花乌龙" in listing and "明前龙井" in listing and "玻尿酸面霜" not in listing

    edit = client.get(reverse("orders:product-edit", args=[product.pk])).content.decode()
    assert 'value="OOLONG-250"' in edit
    assert 'name="version" value="1"' in edit
    response = client.post(
        reverse("orders:product-edit", args=[product.pk]),
        _product_form(**{"skus-TOTAL_FORMS": "1", "skus-0-price_cny": "72", "version": "1"}),
    )
    assert response.status_code == 302
    assert Sku.objects.get(code="OOLONG-100").price_cny == Decimal("72.00")
    assert Sku.objects.get(code="OOLONG-250").is_active is False
    product.refresh_from_db()
    assert product.version == 2


def test_the_second_of_two_edits_of_a_product_is_refused_and_shown_what_was_saved(client_for, manager_east):
    # given: two colleagues opened the same product's page at version 1, and the first saved a new price
    client = client_for(manager_east)
    client.post(reverse("orders:product-create"), _product_form())
    product = Product.objects.get(name="桂花乌龙")
    url = reverse("orders:product-edit", args=[product.pk])
    first = client.post(url, _product_form(**{"skus-0-price_cny": "72", "version": "1"}))
    assert first.status_code == 302

    # when: the second saves what their page had, with a usage cycle of their own
    second = client.post(
        url,
        _product_form(usage_cycle_days="45", is_active="", **{"version": "1"}),
        headers={"accept-language": "en"},
    )

    # then: refused, told so with the price as it is saved now, and nothing of theirs written
    assert second.status_code == 409
    page = unescape(second.content.decode())
    assert "Someone else saved this product while you were editing. Reload to see their changes." in page
    saved_now = page[page.index('id="saved-now"') :]
    assert "OOLONG-100" in saved_now and "¥72.00" in saved_now and "usage cycle 30 days" in saved_now
    product.refresh_from_db()
    assert (product.usage_cycle_days, product.is_active, product.version) == (30, True, 2)
    assert Sku.objects.get(code="OOLONG-100").price_cny == Decimal("72.00")


def test_a_product_form_posted_without_its_version_overwrites_nothing(client_for, manager_east, catalogue):
    product = catalogue.cream_sku.product
    form = _product_form(name="玻尿酸面霜", **{"skus-TOTAL_FORMS": "1", "skus-0-code": "CREAM-50"})

    response = client_for(manager_east).post(reverse("orders:product-edit", args=[product.pk]), form)

    assert response.status_code == 409
    assert Sku.objects.get(code="CREAM-50").price_cny == Decimal("199.00")
    product.refresh_from_db()
    assert (product.usage_cycle_days, product.version) == (60, 1)


def test_a_taken_sku_code_is_shown_on_its_row(client_for, manager_east, catalogue):
    response = client_for(manager_east).post(
        reverse("orders:product-create"), _product_form(**{"skus-1-code": "TEA-250"})
    )
    assert response.status_code == 400
    assert 'data-field="skus-1-code"' in response.content.decode()
    assert not Product.objects.filter(name="桂花乌龙").exists()


def test_sales_may_list_products_but_not_change_the_catalogue(a_client, catalogue):
    assert "玻尿酸面霜" in a_client.get(reverse("orders:products")).content.decode()
    assert a_client.post(reverse("orders:product-create"), _product_form()).status_code == 403
    assert a_client.post(reverse("orders:categories"), {"name": "酒水"}).status_code == 403


def test_categories_are_added_under_a_parent(client_for, manager_east, catalogue):
    client = client_for(manager_east)
    response = client.post(reverse("orders:categories"), {"name": "乳液", "parent": catalogue.skincare.pk})
    assert response.status_code == 302
    assert "护肤 › 乳液" in client.get(reverse("orders:categories")).content.decode()
    duplicate = client.post(reverse("orders:categories"), {"name": "乳液", "parent": catalogue.skincare.pk})
    assert duplicate.status_code == 400 and 'data-field="name"' in duplicate.content.decode()


# --- every URL with an id ---------------------------------------------------------------------------------

# Ids under orders/ that do not lead to a customer: the catalogue and the stores are the shop's, not a
# customer's.
NOT_CUSTOMER_IDS = {
    "orders:product-edit",
    "orders:store-edit",
    "orders:category-edit",
    "orders:category-delete",
}


def _patterns(resolver, prefix="", namespace=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            child = f"{namespace}:{entry.namespace}" if entry.namespace and namespace else entry.namespace
            yield from _patterns(entry, prefix + str(entry.pattern), child or namespace)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace, entry


def test_every_orders_url_with_an_id_answers_404_for_a_colleagues_customer(
    a_client, owner, catalogue, b_customer
):
    pending = make_order(actor=owner, customer=b_customer, store=catalogue.store, status=OrderStatus.PENDING)
    paid = make_order(actor=owner, customer=b_customer, store=catalogue.store, seller_notes="乙的备注")
    aftersale = aftersale_request(actor=owner, order=paid, kind="refund", reason="price", amount_cny="10")
    ids = {"order_id": pending.pk, "aftersale_id": aftersale.pk, "customer_id": b_customer.pk}
    seen = set()
    for route, namespace, pattern in _patterns(get_resolver()):
        if not route.startswith("orders/") or namespace != "orders":
            continue
        params = set(re.findall(r"<(?:\w+:)?(\w+)>", route))
        name = f"orders:{pattern.name}"
        if not params or name in NOT_CUSTOMER_IDS:
            continue
        assert params <= ids.keys(), (name, params)
        for order_id in (pending.pk, paid.pk) if "order_id" in params else (None,):
            kwargs = {p: (order_id if p == "order_id" else ids[p]) for p in params}
            url = reverse(name, kwargs=kwargs)
            for method in ("get", "post"):
                response = getattr(a_client, method)(
                    url, {"version": 1, "payment_method": "cash", "resolution_note": "x", "seller_notes": "x"}
                )
                assert response.status_code in (404, 405), (name, method, response.status_code)
            seen.add(name)
    assert {
        "orders:detail",
        "orders:pay",
        "orders:ship",
        "orders:cancel",
        "orders:details",
        "orders:aftersale-create",
        "orders:aftersale-approve",
        "orders:aftersale-reject",
        "orders:credit-customer",
        "orders:credit-payment",
        "orders:credit-terms",
    } <= seen
    pending.refresh_from_db()
    paid.refresh_from_db()
    aftersale.refresh_from_db()
    assert (pending.status, paid.seller_notes, aftersale.status) == ("pending", "乙的备注", "requested")


def test_extreme_dates_in_the_list_filter_are_an_error_not_a_500(a_client):
    for params in ({"date_from": "0001-01-01"}, {"date_to": "9999-12-31"}):
        response = a_client.get(reverse("orders:list"), params)
        assert response.status_code == 200 and 'id="filter-errors"' in response.content.decode()


def test_the_list_filters_by_sales_statuses_platform_and_the_customers_owner(
    a_client, owner, catalogue, sales_a
):
    pdd = Store.objects.create(name="拼多多店", platform="pinduoduo")
    mine = make_customer(actor=owner, name="甲", owner=sales_a)
    pooled = make_customer(actor=owner, name="公海", owner=None)
    paid = make_order(actor=owner, customer=mine, store=pdd)
    make_order(actor=owner, customer=mine, store=pdd, status=OrderStatus.PENDING)
    in_pool = make_order(actor=owner, customer=pooled, store=catalogue.store)

    def listed(query: str) -> set[str]:
        page = a_client.get(reverse("orders:list") + "?" + query).context["page"]
        return {order.order_no for order in page.object_list}

    assert listed(f"status=counted&platform=pinduoduo&owner={sales_a.pk}") == {paid.order_no}
    assert listed("status=counted&owner=null") == {in_pool.order_no}
    assert len(listed("platform=pinduoduo")) == 2


def test_the_order_list_from_a_customers_page_says_whose_orders_it_shows(a_client, a_customer, b_customer):
    url = reverse("orders:list")

    mine = a_client.get(url, {"customer": a_customer.pk, "status": "paid"}).content.decode()
    not_mine = a_client.get(url, {"customer": b_customer.pk}).content.decode()

    assert 'id="orders-of-customer"' in mine and "甲客户" in mine and a_customer.customer_no in mine
    assert f'href="{url}?status=paid"' in mine  # every customer's, the other filters kept
    # a customer the clerk may not see is not named
    assert 'id="orders-of-customer"' not in not_mine and "乙客户" not in not_mine
