"""The orders API's promises: orders with lines, payments and the other steps, and after-sales through the
services; one error shape naming the field, and nothing written on an error; another clerk's order or
refund answers 404 on every route; contact details masked for roles that may not see them; a cursor
that walks every order once; a bounded number of queries; a valid schema."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.core.masking import mask
from kebu.core.models import ShopSettings
from kebu.customers.tests.factories import make_customer
from kebu.orders.models import AfterSale, AfterSaleStatus, Order, OrderLine, OrderStatus, Product, Sku, Store
from kebu.orders.services.aftersales import (
    AfterSaleLineInput,
    ReplacementInput,
    aftersale_approve,
    aftersale_complete,
    aftersale_receive,
    aftersale_request,
)
from kebu.orders.services.credit import customer_credit_set
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

ORDERS = "/api/v1/orders/"
REFUNDS = "/api/v1/refunds/"
PRODUCTS = "/api/v1/products/"
PHONE = "13812345678"
STREET = "科技园路 1 号 3 栋"


def send(client, method: str, url: str, data: Any = None, **headers: str):
    body = json.dumps(data) if data is not None else None
    return getattr(client, method)(url, data=body, content_type="application/json", headers=headers)


def order_url(order_id: int, step: str = "") -> str:
    return f"{ORDERS}{order_id}/" + (f"{step}/" if step else "")


def refund_url(refund_id: int, step: str = "") -> str:
    return f"{REFUNDS}{refund_id}/" + (f"{step}/" if step else "")


@pytest.fixture
def a_client(sales_a, client_for):
    return client_for(sales_a)


@pytest.fixture
def b_client(sales_b, client_for):
    return client_for(sales_b)


@pytest.fixture
def a_customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="李雷", owner=sales_b)


@pytest.fixture
def b_order(sales_b, catalogue, b_customer):
    """Staff B's paid order, 2 × cream: ¥398.00, with a receiver phone, address, message and notes."""
    return make_order(
        actor=sales_b,
        customer=b_customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2)],
        receiver_name="李雷",
        receiver_phone=PHONE,
        ship_province="广东省",
        ship_city="深圳市",
        ship_address=STREET,
        buyer_message="周末送货，电话 13812345678",
        seller_notes="老客户，送小样",
    )


@pytest.fixture
def b_refund(sales_b, b_order):
    return aftersale_request(
        actor=sales_b, order=b_order, kind="refund", reason="quality", amount_cny="50.00"
    )


def order_payload(customer, catalogue, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "customer": customer.pk,
        "store": catalogue.store.pk,
        "status": "paid",
        "payment_method": "wechat",
        "shipping_cny": "12.00",
        "lines": [
            {"sku_code": "CREAM-50", "quantity": 2},
            {"title": "手写贺卡", "quantity": 1, "unit_price_cny": "5.50", "discount_cny": "0.50"},
        ],
    }
    data.update(overrides)
    return data


def _nothing_written(customer, *, orders_before: int = 0) -> None:
    assert Order.objects.count() == orders_before
    assert OrderLine.objects.filter(order__customer=customer).count() == orders_before and not (
        AuditEntry.objects.filter(action="order.create").count() > orders_before
    )
    customer.refresh_from_db()
    assert customer.order_count == orders_before


# --- orders: create -----------------------------------------------------------------------------------


def test_create_with_lines_answers_the_order_and_moves_the_customers_total_spent(
    a_client, sales_a, catalogue, a_customer
):
    response = send(a_client, "post", ORDERS, order_payload(a_customer, catalogue))

    assert response.status_code == 201, response.json()
    body = response.json()
    order = Order.objects.get()
    assert body["id"] == order.pk and body["status"] == "paid"
    assert (body["goods_cny"], body["shipping_cny"], body["total_cny"], body["paid_cny"]) == (
        "403.00",
        "12.00",
        "415.00",
        "415.00",
    )
    assert [(line["title"], line["quantity"], line["amount_cny"]) for line in body["lines"]] == [
        ("玻尿酸面霜", 2, "398.00"),
        ("手写贺卡", 1, "5.00"),
    ]
    assert body["lines"][0]["sku_code"] == "CREAM-50" and body["lines"][0]["unit_price_cny"] == "199.00"
    assert body["customer"] == a_customer.pk and body["customer_no"] == a_customer.customer_no
    assert body["created_by"] == sales_a.pk and body["version"] == 1
    assert body["aftersales"] == [] and body["refundable_cny"] == "415.00"
    assert response["Location"].endswith(order_url(order.pk))
    assert response["ETag"] == '"1"'
    a_customer.refresh_from_db()
    assert (a_customer.total_spent_cny, a_customer.order_count) == (Decimal("415.00"), 1)


def test_an_order_awaiting_payment_does_not_count_yet(a_client, catalogue, a_customer):
    response = send(a_client, "post", ORDERS, order_payload(a_customer, catalogue, status="pending"))

    assert response.status_code == 201, response.json()
    assert response.json()["paid_cny"] == "0.00" and response.json()["paid_at"] is None
    a_customer.refresh_from_db()
    assert (a_customer.total_spent_cny, a_customer.order_count) == (Decimal("0.00"), 0)


def test_read_only_fields_in_the_input_are_ignored(a_client, sales_a, owner, catalogue, a_customer):
    payload = order_payload(
        a_customer,
        catalogue,
        created_by=owner.pk,
        version=9,
        refunded_cny="100.00",
        refund_reserved_cny="100.00",
        credit_outstanding_cny="9.00",
        goods_cny="1.00",
        total_cny="1.00",
    )

    response = send(a_client, "post", ORDERS, payload)

    assert response.status_code == 201, response.json()
    order = Order.objects.get()
    assert (order.created_by, order.version) == (sales_a, 1)
    assert (order.refunded_cny, order.refund_reserved_cny, order.credit_outstanding_cny) == (0, 0, 0)
    assert (order.goods_cny, order.total_cny) == (Decimal("403.00"), Decimal("415.00"))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": [{"sku_code": "CREAM-50", "quantity": 0}]}, "lines.0.quantity"),
        ({"lines": [{"title": "赠品", "quantity": 1, "unit_price_cny": "-1.00"}]}, "lines.0.unit_price_cny"),
        ({"lines": [{"sku_code": "CREAM-50"}, {"sku_code": "NOPE-1", "quantity": 1}]}, "lines.1.sku_code"),
        ({"lines": [{"sku_code": "CREAM-50", "discount_cny": "1.005"}]}, "lines.0.discount_cny"),
        ({"lines": []}, "lines"),
        ({"ordered_at": (timezone.now() + timedelta(days=2)).isoformat()}, "ordered_at"),
        ({"status": "closed"}, "status"),
        ({"store": 99999}, "store"),
        ({"payment_method": "bitcoin"}, "payment_method"),
        ({"shipping_cny": "abc"}, "shipping_cny"),
    ],
)
def test_bad_input_answers_400_naming_the_field_and_writes_nothing(
    a_client, catalogue, a_customer, change, field
):
    response = send(a_client, "post", ORDERS, order_payload(a_customer, catalogue, **change))

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert field in body, body
    _nothing_written(a_customer)


def test_an_order_in_a_deactivated_store_is_refused_on_the_store_field_and_writes_nothing(
    a_client, owner, catalogue, a_customer
):
    from kebu.orders.services.stores import store_closed_message, store_update

    closed = Store.objects.create(name="旧店", platform="pinduoduo")
    store_update(actor=owner, store=closed, is_active=False)

    response = send(a_client, "post", ORDERS, order_payload(a_customer, catalogue, store=closed.pk))

    assert response.status_code == 400
    assert response.json() == {"store": [store_closed_message(closed)], "code": "invalid"}
    assert "旧店" in response.json()["store"][0]
    _nothing_written(a_customer)


def test_a_duplicate_order_number_in_the_same_store_is_refused_and_writes_nothing(
    a_client, sales_a, catalogue, a_customer
):
    make_order(actor=sales_a, customer=a_customer, store=catalogue.store, order_no="TB20240101")
    other_store = Store.objects.create(name="拼多多店", platform="pinduoduo")

    same_store = send(a_client, "post", ORDERS, order_payload(a_customer, catalogue, order_no="TB20240101"))
    elsewhere = send(
        a_client,
        "post",
        ORDERS,
        order_payload(a_customer, catalogue, order_no="TB20240101", store=other_store.pk),
    )

    assert same_store.status_code == 400 and "order_no" in same_store.json()
    assert elsewhere.status_code == 201, elsewhere.json()
    assert Order.objects.filter(order_no="TB20240101").count() == 2
    a_customer.refresh_from_db()
    assert a_customer.order_count == 2


def test_an_invisible_or_unknown_customer_is_a_400_that_does_not_reveal_which(
    a_client, catalogue, b_customer
):
    invisible = send(a_client, "post", ORDERS, order_payload(b_customer, catalogue))
    missing_payload = {**order_payload(b_customer, catalogue), "customer": b_customer.pk + 1000}
    missing = send(a_client, "post", ORDERS, missing_payload)

    assert invisible.status_code == missing.status_code == 400
    assert list(invisible.json()) == list(missing.json()) == ["customer", "code"]
    # The same message, but for the id that was sent back.
    assert invisible.json()["customer"][0].replace(str(b_customer.pk), "#") == missing.json()["customer"][
        0
    ].replace(str(b_customer.pk + 1000), "#")
    assert b_customer.name not in invisible.content.decode()
    assert not Order.objects.exists()


def test_the_same_idempotency_key_creates_one_order(a_client, catalogue, a_customer):
    payload = order_payload(a_customer, catalogue)

    first = send(a_client, "post", ORDERS, payload, Idempotency_Key="form-7f3a")
    second = send(a_client, "post", ORDERS, payload, Idempotency_Key="form-7f3a")
    reused = send(a_client, "post", ORDERS, {**payload, "shipping_cny": "0.00"}, Idempotency_Key="form-7f3a")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert reused.status_code == 409 and reused.json()["code"] == "conflict"
    a_customer.refresh_from_db()
    assert (Order.objects.count(), a_customer.order_count) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[" * 50_000 + "]" * 50_000,
        "[]",
        '"text"',
        '{"customer": "1; DROP TABLE", "store": [], "lines": "many"}',
        '{"customer": 99999999999999999999999, "store": 1, "lines": [{}]}',
        '{"customer": 1.5, "store": {"id": 1}, "lines": [[1, 2]]}',
        '{"customer": null, "store": null, "lines": [{"quantity": "1e400", "unit_price_cny": "NaN"}]}',
        '{"customer": true, "lines": [{"quantity": 99999999999999999999999, "unit_price_cny": 1e308}]}',
    ],
)
def test_junk_bodies_answer_400_and_write_nothing(a_client, catalogue, a_customer, body):
    response = a_client.post(ORDERS, data=body, content_type="application/json")

    assert response.status_code == 400
    assert not Order.objects.exists()


def test_an_unknown_sku_among_huge_numbers_does_not_crash(a_client, catalogue, a_customer):
    payload = order_payload(
        a_customer, catalogue, lines=[{"sku_code": "X" * 64, "quantity": 10**30, "unit_price_cny": "1.00"}]
    )

    response = send(a_client, "post", ORDERS, payload)

    assert response.status_code == 400
    assert {"lines.0.sku_code", "lines.0.quantity"} <= set(response.json())


# --- orders: the steps --------------------------------------------------------------------------------


@pytest.fixture
def pending(sales_a, catalogue, a_customer):
    return make_order(
        actor=sales_a,
        customer=a_customer,
        store=catalogue.store,
        status=OrderStatus.PENDING,
        lines=[("TEA-250", 1)],
    )


def test_pay_ship_deliver_complete_walk_the_order_through_with_its_version(a_client, pending, a_customer):
    paid = send(a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay", "version": 1})
    shipped = send(
        a_client,
        "post",
        order_url(pending.pk, "ship"),
        {"carrier": "顺丰", "tracking_no": "SF1234567890"},
        If_Match=paid["ETag"],
    )
    delivered = send(a_client, "post", order_url(pending.pk, "deliver"), {"version": 3})
    completed = send(a_client, "post", order_url(pending.pk, "complete"), {"version": 4})

    for response in (paid, shipped, delivered, completed):
        assert response.status_code == 200, response.json()
    assert paid.json()["status"] == "paid" and paid.json()["paid_cny"] == "128.00"
    assert shipped.json()["tracking_no"] == "SF1234567890"
    assert delivered.json()["status"] == "delivered"
    assert completed.json()["status"] == "completed" and completed.json()["version"] == 5
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == Decimal("128.00")


def test_the_marketplace_times_of_each_step_are_kept(a_client, catalogue, a_customer):
    # A completed marketplace order entered afterwards, with its own times (签收时间, 完成时间).
    times = {
        "ordered_at": "2026-11-20T10:00:00+08:00",
        "shipped_at": "2026-11-21T09:00:00+08:00",
        "delivered_at": "2026-11-23T15:30:00+08:00",
        "completed_at": "2026-11-30T08:00:00+08:00",
    }
    created = send(
        a_client, "post", ORDERS, order_payload(a_customer, catalogue, status="completed", **times)
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    for key, value in times.items():
        assert datetime.fromisoformat(body[key]) == datetime.fromisoformat(value), key
    # Signed for before it was shipped: refused, naming the field, nothing written.
    early = {**times, "order_no": "TB-2", "delivered_at": "2026-11-20T12:00:00+08:00"}
    refused = send(
        a_client, "post", ORDERS, order_payload(a_customer, catalogue, status="completed", **early)
    )
    assert refused.status_code == 400 and "delivered_at" in refused.json()
    assert Order.objects.count() == 1


def test_deliver_and_complete_take_their_moment(a_client, sales_a, catalogue, a_customer):
    start = timezone.now().replace(microsecond=0) - timedelta(days=10)  # kept to the second
    order = make_order(
        actor=sales_a,
        customer=a_customer,
        store=catalogue.store,
        status=OrderStatus.PENDING,
        lines=[("TEA-250", 1)],
        ordered_at=start,
    )
    at = {"paid": start + timedelta(hours=1), "shipped": start + timedelta(days=1)}
    at |= {"delivered": at["shipped"] + timedelta(hours=30), "completed": start + timedelta(days=9)}
    pay = {"payment_method": "alipay", "paid_at": at["paid"].isoformat(), "version": 1}
    send(a_client, "post", order_url(order.pk, "pay"), pay)
    ship = {"carrier": "顺丰", "tracking_no": "SF1", "shipped_at": at["shipped"].isoformat(), "version": 2}
    send(a_client, "post", order_url(order.pk, "ship"), ship)

    delivered = send(
        a_client,
        "post",
        order_url(order.pk, "deliver"),
        {"version": 3, "delivered_at": at["delivered"].isoformat()},
    )
    completed = send(
        a_client,
        "post",
        order_url(order.pk, "complete"),
        {"version": 4, "completed_at": at["completed"].isoformat()},
    )

    assert delivered.status_code == 200 and completed.status_code == 200, (delivered.json(), completed.json())
    order.refresh_from_db()
    assert (order.delivered_at, order.completed_at) == (at["delivered"], at["completed"])


def test_a_step_without_a_version_is_refused_and_a_stale_one_answers_409(a_client, pending):
    missing = send(a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay"})
    contradicting = send(
        a_client,
        "post",
        order_url(pending.pk, "pay"),
        {"payment_method": "alipay", "version": 1},
        If_Match='"2"',
    )
    first = send(a_client, "post", order_url(pending.pk, "cancel"), {"version": 1, "reason": "不要了"})
    stale = send(a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay", "version": 1})

    assert missing.status_code == 400 and "version" in missing.json()
    assert contradicting.status_code == 400 and "version" in contradicting.json()
    assert first.status_code == 200 and first.json()["status"] == "cancelled"
    # The order is cancelled now: paying it is refused on its status, whichever version is sent.
    assert stale.status_code == 400 and "status" in stale.json()


def test_a_stale_version_answers_409_and_changes_nothing(a_client, pending):
    send(a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay", "version": 1})

    stale = send(
        a_client,
        "post",
        order_url(pending.pk, "ship"),
        {"carrier": "顺丰", "tracking_no": "SF1", "version": 1},
    )

    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    pending.refresh_from_db()
    assert (pending.status, pending.version, pending.tracking_no) == ("paid", 2, "")


def test_paying_a_cancelled_order_is_400_naming_the_status_and_writes_nothing(a_client, pending, a_customer):
    send(a_client, "post", order_url(pending.pk, "cancel"), {"version": 1})

    response = send(
        a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay", "version": 2}
    )

    assert response.status_code == 400 and "status" in response.json()
    pending.refresh_from_db()
    assert (pending.status, pending.paid_cny, pending.version) == ("cancelled", 0, 2)
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == 0
    assert not AuditEntry.objects.filter(action="order.pay").exists()


def test_shipping_a_parcel_needs_carrier_and_tracking_number(a_client, pending):
    send(a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay", "version": 1})

    response = send(a_client, "post", order_url(pending.pk, "ship"), {"version": 2})

    assert response.status_code == 400
    assert {"carrier", "tracking_no"} <= set(response.json())


# --- orders: correcting the details ------------------------------------------------------------------


def _details(client, order, data, **headers):
    return send(client, "post", order_url(order.pk, "details"), data, HTTP_ACCEPT_LANGUAGE="en", **headers)


def test_details_sent_are_corrected_the_others_kept_and_the_audit_names_them(b_client, b_order, b_customer):
    b_customer.refresh_from_db()
    figures = (b_customer.total_spent_cny, b_customer.order_count)
    version = b_order.version
    changes = {
        "carrier": "顺丰速运",
        "tracking_no": "SF1234567890",
        "payment_method": "wechat",
        "delivery_method": "same_city",
        "receiver_phone": "13900001111",
        "ship_province": "广东省",
        "ship_city": "广州市",
        "ship_district": "天河区",
        "ship_address": "天河路 2 号",
    }

    response = _details(b_client, b_order, changes, If_Match=f'"{version}"')

    assert response.status_code == 200, response.json()
    body = response.json()
    # the phone kept normalised, as the customer's own phones are
    assert {name: body[name] for name in changes} == {**changes, "receiver_phone": "+8613900001111"}
    assert (body["seller_notes"], body["receiver_name"]) == ("老客户，送小样", "李雷")  # not sent: kept
    assert body["version"] == version + 1 and response["ETag"] == f'"{version + 1}"'
    audit = AuditEntry.objects.get(action="order.update")
    assert audit.data == {"fields": sorted(changes)}
    b_customer.refresh_from_db()
    assert (b_customer.total_spent_cny, b_customer.order_count) == figures


def test_details_need_a_version_and_a_stale_one_answers_409_writing_nothing(b_client, b_order):
    missing = _details(b_client, b_order, {"tracking_no": "SF1"})
    first = _details(b_client, b_order, {"seller_notes": "加急", "version": b_order.version})
    stale = _details(b_client, b_order, {"tracking_no": "SF2", "version": b_order.version})

    assert missing.status_code == 400 and "version" in missing.json()
    assert first.status_code == 200
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    b_order.refresh_from_db()
    assert (b_order.tracking_no, b_order.seller_notes) == ("", "加急")
    assert AuditEntry.objects.filter(action="order.update").count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"receiver_phone": "12345"}, "receiver_phone"),
        ({"ship_province": "火星省"}, "ship_province"),
        ({"ship_city": "杭州市"}, "ship_city"),
        ({"payment_method": "credit"}, "payment_method"),
        ({"payment_method": "paypal"}, "payment_method"),
        ({"delivery_method": "drone"}, "delivery_method"),
        ({"tracking_no": "X" * 41}, "tracking_no"),
    ],
)
def test_a_bad_detail_answers_400_naming_it_and_nothing_is_written(b_client, b_order, changes, field):
    response = _details(b_client, b_order, {"version": b_order.version, "carrier": "顺丰速运", **changes})

    assert response.status_code == 400
    assert set(response.json()) - {"code"} == {field}, response.json()
    version = b_order.version
    b_order.refresh_from_db()
    assert (b_order.carrier, b_order.version) == ("", version)
    assert not AuditEntry.objects.filter(action="order.update").exists()


@pytest.fixture
def masked_clerk(staff_member):
    """May change orders, sees contact details masked (a shop's own role) and every customer."""
    from django.contrib.auth.models import Permission

    user = staff_member("analyst", "masked_clerk")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="orders", codename="change_order")
    )
    return user


def test_someone_who_sees_contact_details_masked_may_not_send_them(client_for, masked_clerk, b_order):
    client = client_for(masked_clerk)
    read = client.get(order_url(b_order.pk)).json()

    # the order sent back as read, masked values and all, with a new tracking number: refused whole
    blind = _details(
        client,
        b_order,
        {
            "version": read["version"],
            "tracking_no": "SF1",
            "receiver_phone": read["receiver_phone"],
            "seller_notes": read["seller_notes"],
        },
    )
    allowed = _details(
        client, b_order, {"version": read["version"], "tracking_no": "SF1", "receiver_name": "李"}
    )

    assert blind.status_code == 403 and set(blind.json()) - {"code"} == {"receiver_phone", "seller_notes"}
    assert allowed.status_code == 200, allowed.json()
    b_order.refresh_from_db()
    assert (b_order.tracking_no, b_order.receiver_name, b_order.receiver_phone, b_order.seller_notes) == (
        "SF1",
        "李",
        "+86" + PHONE,
        "老客户，送小样",
    )


def test_a_role_that_may_not_change_orders_cannot_correct_details(client_for, analyst, b_order):
    response = _details(client_for(analyst), b_order, {"version": b_order.version, "tracking_no": "SF1"})

    assert response.status_code == 403
    b_order.refresh_from_db()
    assert b_order.tracking_no == ""


@pytest.fixture
def wholesaler(owner, sales_a):
    customer = make_customer(actor=sales_a, name="义乌批发", customer_type="wholesaler", owner=sales_a)
    return customer_credit_set(
        actor=owner, customer=customer, credit_limit_cny="100.00", payment_terms_days=30
    )


def test_credit_beyond_the_limit_answers_409_then_goes_through_when_confirmed(
    a_client, sales_a, catalogue, wholesaler
):
    order = make_order(actor=sales_a, customer=wholesaler, store=catalogue.store, status=OrderStatus.PENDING)
    url = order_url(order.pk, "pay")

    warned = send(a_client, "post", url, {"payment_method": "credit", "version": 1})
    confirmed = send(
        a_client, "post", url, {"payment_method": "credit", "version": 1, "allow_over_credit_limit": True}
    )

    assert warned.status_code == 409
    assert warned.json()["code"] == "credit_limit" and "payment_method" in warned.json()
    assert confirmed.status_code == 200, confirmed.json()
    assert confirmed.json()["credit_outstanding_cny"] == "199.00"
    wholesaler.refresh_from_db()
    assert wholesaler.receivable_cny == Decimal("199.00")


@pytest.mark.parametrize(
    ("method", "said"),
    [
        ("alipay", "¥0 paid on an order of ¥128.00: enter the amount received"),
        ("credit", "On credit the amount is what the customer owes for this order: it cannot be ¥0"),
    ],
)
def test_paying_nothing_of_an_amount_due_answers_400_on_the_amount_and_writes_nothing(
    a_client, sales_a, catalogue, wholesaler, method, said
):
    order = make_order(
        actor=sales_a,
        customer=wholesaler,
        store=catalogue.store,
        status=OrderStatus.PENDING,
        lines=[("TEA-250", 1)],
    )

    response = send(
        a_client,
        "post",
        order_url(order.pk, "pay"),
        {"payment_method": method, "paid_cny": "0.00", "version": 1},
        Accept_Language="en",
    )

    assert response.status_code == 400
    assert list(response.json()["paid_cny"]) and response.json()["paid_cny"][0].startswith(said), (
        response.json()
    )
    order.refresh_from_db()
    assert (order.status, order.version) == (OrderStatus.PENDING, 1)
    wholesaler.refresh_from_db()
    assert (wholesaler.receivable_cny, wholesaler.total_spent_cny) == (0, 0)


def test_an_order_part_paid_now_owes_the_rest_on_credit_created_or_paid(
    a_client, sales_a, catalogue, wholesaler
):
    # given: ¥100.00 of credit, and the shop refuses to go beyond it
    shop = ShopSettings.current()
    shop.credit_over_limit = "block"
    shop.save()

    # ¥415.00 due, ¥315.00 paid at the counter: ¥100.00 on credit
    created = send(
        a_client,
        "post",
        ORDERS,
        order_payload(wholesaler, catalogue, payment_method="credit", paid_now_cny="315.00"),
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["paid_cny"], body["credit_taken_cny"], body["credit_outstanding_cny"]) == (
        "415.00",
        "100.00",
        "100.00",
    )
    # ¥128.00 due, on credit with nothing left of the limit: paid in full now it would be no credit at all
    pending = make_order(
        actor=sales_a,
        customer=wholesaler,
        store=catalogue.store,
        status=OrderStatus.PENDING,
        lines=[("TEA-250", 1)],
    )
    url = order_url(pending.pk, "pay")
    refused = send(
        a_client, "post", url, {"payment_method": "credit", "paid_now_cny": "127.99", "version": 1}
    )
    assert refused.status_code == 400 and refused.json()["code"] == "credit_limit_blocked"
    customer_credit_set(actor=sales_a, customer=wholesaler, credit_limit_cny="100.01", payment_terms_days=30)
    paid = send(a_client, "post", url, {"payment_method": "credit", "paid_now_cny": "127.99", "version": 1})
    assert paid.status_code == 200, paid.json()
    assert (paid.json()["credit_taken_cny"], paid.json()["credit_outstanding_cny"]) == ("0.01", "0.01")
    wholesaler.refresh_from_db()
    assert (wholesaler.total_spent_cny, wholesaler.receivable_cny) == (Decimal("543.00"), Decimal("100.01"))


def test_credit_beyond_the_limit_is_a_400_when_the_shop_blocks_it(a_client, catalogue, wholesaler):
    shop = ShopSettings.current()
    shop.credit_over_limit = "block"
    shop.save()
    payload = order_payload(wholesaler, catalogue, payment_method="credit", allow_over_credit_limit=True)

    response = send(a_client, "post", ORDERS, payload)

    assert response.status_code == 400
    assert response.json()["code"] == "credit_limit_blocked" and "payment_method" in response.json()
    assert not Order.objects.exists()


# --- orders: list, filters, cursor, queries -----------------------------------------------------------


def test_filters_come_from_the_query_string(a_client, sales_a, catalogue, a_customer):
    other = make_customer(actor=sales_a, name="张伟", owner=sales_a)
    shop = Store.objects.create(name="抖音小店", platform="douyin")
    now = timezone.now()
    old = make_order(
        actor=sales_a, customer=a_customer, store=catalogue.store, ordered_at=now - timedelta(days=40)
    )
    pending = make_order(
        actor=sales_a, customer=a_customer, store=shop, status=OrderStatus.PENDING, order_no="DY-1"
    )
    theirs = make_order(actor=sales_a, customer=other, store=catalogue.store)

    def ids(query: str) -> list[int]:
        response = a_client.get(f"{ORDERS}?{query}")
        assert response.status_code == 200, response.json()
        return [o["id"] for o in response.json()["results"]]

    assert ids("") == [theirs.pk, pending.pk, old.pk]
    assert ids(f"customer={other.pk}") == [theirs.pk]
    assert ids(f"customer_no={a_customer.customer_no}") == [pending.pk, old.pk]
    assert ids(f"store={shop.pk}") == [pending.pk]
    assert ids("status=pending") == [pending.pk]
    assert ids("status=pending&status=paid") == [theirs.pk, pending.pk, old.pk]
    day = timezone.localdate(now - timedelta(days=40))
    assert ids(f"ordered_before={day.isoformat()}") == [old.pk]
    assert ids(f"ordered_after={(day + timedelta(days=1)).isoformat()}") == [theirs.pk, pending.pk]
    assert ids("order_no=DY-1") == [pending.pk]
    assert ids("customer=&status=") == [theirs.pk, pending.pk, old.pk]


def test_an_invalid_filter_answers_400_naming_it(a_client):
    response = a_client.get(f"{ORDERS}?status=lost&ordered_after=yesterday&customer=abc&store=1e99")

    assert response.status_code == 400
    body = response.json()
    assert {"status", "ordered_after", "customer", "store", "code"} <= set(body)


def test_a_huge_id_in_a_filter_or_the_path_answers_400_or_404_not_500(a_client):
    assert a_client.get(f"{ORDERS}?customer={10**30}").status_code == 400
    assert a_client.get(order_url(10**30)).status_code == 404
    assert send(a_client, "post", order_url(10**30, "pay"), {"payment_method": "cash"}).status_code == 404
    assert a_client.get(refund_url(10**30)).status_code == 404
    assert a_client.get(f"{PRODUCTS}{10**30}/").status_code == 404


def test_another_clerks_orders_are_not_listed(a_client, b_client, b_order, sales_a, catalogue, a_customer):
    mine = make_order(actor=sales_a, customer=a_customer, store=catalogue.store)

    assert [o["id"] for o in a_client.get(ORDERS).json()["results"]] == [mine.pk]
    assert [o["id"] for o in a_client.get(f"{ORDERS}?customer={b_order.customer_id}").json()["results"]] == []
    assert [o["id"] for o in b_client.get(ORDERS).json()["results"]] == [b_order.pk]


def _walk(client, url: str) -> tuple[list[int], int]:
    ids: list[int] = []
    pages = 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids.extend(row["id"] for row in body["results"])
        pages += 1
        url = body["next"]
    return ids, pages


@pytest.fixture
def many_orders(sales_a, catalogue, a_customer):
    """30 orders, ten of them at the very same moment: the cursor must break ties on id."""
    now = timezone.now().replace(microsecond=0)
    orders = [
        make_order(
            actor=sales_a,
            customer=a_customer,
            store=catalogue.store,
            ordered_at=now - timedelta(hours=1 if i < 10 else i),
            lines=[("CREAM-50", 1), ("TEA-250", 2)],
        )
        for i in range(30)
    ]
    return orders


def test_the_cursor_walks_every_order_once_newest_first(a_client, many_orders):
    ids, pages = _walk(a_client, f"{ORDERS}?page_size=7")

    assert pages == 5
    assert len(ids) == len(set(ids)) == 30
    expected = Order.objects.order_by("-ordered_at", "-id").values_list("id", flat=True)
    assert ids == list(expected)
    last = a_client.get(f"{ORDERS}?page_size=7").json()
    while last["next"]:
        last = a_client.get(last["next"]).json()
    back = a_client.get(last["previous"]).json()
    assert [row["id"] for row in back["results"]] == ids[21:28]


def test_a_new_order_between_pages_does_not_repeat_or_skip_rows(
    a_client, sales_a, catalogue, a_customer, many_orders
):
    first = a_client.get(f"{ORDERS}?page_size=10").json()
    make_order(actor=sales_a, customer=a_customer, store=catalogue.store)  # the newest: before page one

    rest, _pages = _walk(a_client, first["next"])

    seen = [row["id"] for row in first["results"]] + rest
    assert len(seen) == len(set(seen)) == 30


def test_the_order_list_reads_a_bounded_number_of_queries(
    a_client, sales_a, catalogue, a_customer, django_assert_max_num_queries
):
    for _ in range(3):
        make_order(actor=sales_a, customer=a_customer, store=catalogue.store, lines=[("CREAM-50", 1)])
    a_client.get(ORDERS)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        a_client.get(ORDERS)
    for _ in range(25):
        make_order(
            actor=sales_a, customer=a_customer, store=catalogue.store, lines=[("CREAM-50", 1), ("TEA-250", 1)]
        )

    with django_assert_max_num_queries(len(few)):
        response = a_client.get(ORDERS)

    assert len(response.json()["results"]) == 28
    assert len(few) <= 8


def test_one_order_reads_the_same_queries_however_many_lines_and_refunds_it_has(
    a_client, sales_a, catalogue, a_customer
):
    small = make_order(actor=sales_a, customer=a_customer, store=catalogue.store, lines=[("TEA-250", 1)])
    big = make_order(
        actor=sales_a,
        customer=a_customer,
        store=catalogue.store,
        lines=[("CREAM-50", 3), ("TEA-250", 2), ("TONER-100", 1)],
        status=OrderStatus.SHIPPED,
    )
    for line in big.lines.all():
        aftersale_request(
            actor=sales_a, order=big, kind="return", reason="size", lines=[_line_input(line.pk)]
        )
    a_client.get(order_url(small.pk))
    with CaptureQueriesContext(connection) as one_line:
        a_client.get(order_url(small.pk))

    with CaptureQueriesContext(connection) as many:
        body = a_client.get(order_url(big.pk)).json()

    assert (len(body["lines"]), len(body["aftersales"])) == (3, 3)
    assert len(many) == len(one_line)


def test_the_refund_and_product_lists_read_a_bounded_number_of_queries(
    a_client, sales_a, catalogue, a_customer, django_assert_max_num_queries
):
    def refunds(count: int) -> None:
        for _ in range(count):
            order = make_order(
                actor=sales_a, customer=a_customer, store=catalogue.store, status=OrderStatus.SHIPPED
            )
            line = order.lines.get()
            aftersale_request(
                actor=sales_a, order=order, kind="return", reason="size", lines=[_line_input(line.pk)]
            )

    refunds(2)
    a_client.get(REFUNDS)
    a_client.get(PRODUCTS)
    with CaptureQueriesContext(connection) as few_refunds:
        a_client.get(REFUNDS)
    with CaptureQueriesContext(connection) as few_products:
        a_client.get(PRODUCTS)
    refunds(10)

    with django_assert_max_num_queries(len(few_refunds)):
        assert len(a_client.get(REFUNDS).json()["results"]) == 12
    with django_assert_max_num_queries(len(few_products)):
        assert len(a_client.get(PRODUCTS).json()["results"]) == 3


def _line_input(line_id: int, quantity: int = 1):
    from kebu.orders.services.aftersales import AfterSaleLineInput

    return AfterSaleLineInput(line_id=line_id, quantity=quantity)


# --- masking and roles --------------------------------------------------------------------------------


def test_an_analyst_sees_contact_details_masked_on_the_list_and_the_order(analyst, client_for, b_order):
    client = client_for(analyst)

    row = client.get(ORDERS).json()["results"][0]
    detail = client.get(order_url(b_order.pk)).json()

    for body in (row, detail):
        assert body["receiver_phone"] == mask("phone", PHONE) != PHONE
        assert body["ship_address"] == mask("address", STREET) != STREET
        assert body["buyer_message"] == mask("text", b_order.buyer_message)
        assert body["seller_notes"] == mask("text", b_order.seller_notes)
        assert body["receiver_name"] == "李雷" and body["ship_city"] == "深圳市"
    everything = json.dumps([row, detail], ensure_ascii=False)
    assert PHONE not in everything and STREET not in everything and "送小样" not in everything


def test_the_clerk_who_owns_the_customer_sees_them_in_full(b_client, b_order):
    body = b_client.get(order_url(b_order.pk)).json()

    assert (body["receiver_phone"], body["ship_address"], body["seller_notes"]) == (
        "+86" + PHONE,
        STREET,
        "老客户，送小样",
    )


@pytest.mark.parametrize("role", ["readonly", "analyst"])
def test_read_only_roles_read_but_cannot_create_or_take_steps(
    role, request, client_for, catalogue, b_customer, b_order, b_refund
):
    client = client_for(request.getfixturevalue(role))

    assert client.get(ORDERS).status_code == 200
    assert client.get(order_url(b_order.pk)).status_code == 200
    assert client.get(refund_url(b_refund.pk)).status_code == 200
    assert send(client, "post", ORDERS, order_payload(b_customer, catalogue)).status_code == 403
    assert send(client, "post", order_url(b_order.pk, "ship"), {"version": 1}).status_code == 403
    refund = {"order": b_order.pk, "kind": "refund", "reason": "quality", "amount_cny": "1.00"}
    assert send(client, "post", REFUNDS, refund).status_code == 403
    assert send(client, "post", refund_url(b_refund.pk, "cancel"), {"version": 1}).status_code == 403
    assert Order.objects.count() == 1 and AfterSale.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "url"), [("get", ORDERS), ("post", ORDERS), ("get", REFUNDS), ("get", PRODUCTS)]
)
def test_anonymous_requests_are_refused(client, method, url):
    response = send(client, method, url, {} if method == "post" else None)

    assert response.status_code in (401, 403)


# --- 404 for what is not yours, on every route -------------------------------------------------------


def _patterns(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _object_urls(basename: str, object_id: int) -> dict[str, str]:
    """Every API route of ``basename`` that takes an id, filled in with ``object_id``."""
    found = {}
    for route, pattern in _patterns(get_resolver()):
        name = pattern.name or ""
        if "api/v1" not in route or not name.startswith(f"{basename}-"):
            continue
        params = set(re.findall(r"\(\?P<(\w+)>", route)) | set(re.findall(r"<(?:\w+:)?(\w+)>", route))
        if "pk" in params:
            found[name] = reverse(name, kwargs={"pk": object_id})
    return found


def test_every_order_and_refund_route_answers_404_for_another_clerks_order(a_client, b_order, b_refund):
    order_urls = _object_urls("order", b_order.pk)
    refund_urls = _object_urls("refund", b_refund.pk)
    # The walk finds the known ways in, so it would find a new one too.
    assert set(order_urls) == {
        f"order-{n}" for n in ("detail", "pay", "ship", "deliver", "complete", "cancel", "details")
    }
    assert set(refund_urls) == {
        f"refund-{n}" for n in ("detail", "approve", "receive", "complete", "replacement", "reject", "cancel")
    }
    audit_before = AuditEntry.objects.count()
    body = {
        "version": 1,
        "payment_method": "cash",
        "carrier": "x",
        "tracking_no": "x",
        "resolution_note": "x",
    }

    for name, url in {**order_urls, **refund_urls}.items():
        statuses = {}
        for method in ("get", "post", "put", "patch", "delete"):
            response = send(a_client, method, url, None if method == "get" else body, If_Match='"1"')
            statuses[method] = response.status_code
            assert "李雷" not in response.content.decode(), (name, method)
        # 404 wherever the view answers the method at all (405: the view does not take it).
        assert set(statuses.values()) <= {404, 405}, (name, url, statuses)
        assert 404 in statuses.values(), (name, url, statuses)

    b_order.refresh_from_db()
    b_refund.refresh_from_db()
    assert (b_order.status, b_order.version) == ("paid", 2)  # 2: the refund's reservation
    assert (b_refund.status, b_refund.version) == ("requested", 1)
    assert AuditEntry.objects.count() == audit_before


def test_another_clerks_order_cannot_be_named_for_a_refund(a_client, b_order):
    invisible = send(a_client, "post", REFUNDS, {"order": b_order.pk, "kind": "refund", "reason": "quality"})
    missing = send(
        a_client, "post", REFUNDS, {"order": b_order.pk + 999, "kind": "refund", "reason": "quality"}
    )

    assert invisible.status_code == missing.status_code == 400
    assert "order" in invisible.json() and "order" in missing.json()
    assert not AfterSale.objects.exists()


def test_another_clerks_refunds_are_not_listed(a_client, b_client, b_refund):
    assert a_client.get(REFUNDS).json()["results"] == []
    assert a_client.get(f"{REFUNDS}?order={b_refund.order_id}").json()["results"] == []
    assert [r["id"] for r in b_client.get(REFUNDS).json()["results"]] == [b_refund.pk]


# --- refunds ------------------------------------------------------------------------------------------


@pytest.fixture
def a_order(sales_a, catalogue, a_customer):
    """2 × cream + 1 tea + ¥10.00 shipping = ¥536.00 paid, and shipped: goods that may come back."""
    return make_order(
        actor=sales_a,
        customer=a_customer,
        store=catalogue.store,
        lines=[("CREAM-50", 2), ("TEA-250", 1)],
        shipping_cny="10.00",
        status=OrderStatus.SHIPPED,
    )


def test_an_exchange_completed_through_the_api_records_what_was_sent_back(a_client, sales_a, a_order):
    from kebu.orders.services.aftersales import AfterSaleLineInput, aftersale_approve, aftersale_receive

    cream = a_order.lines.get(sku_code="CREAM-50")
    exchange = aftersale_request(
        actor=sales_a, order=a_order, kind="exchange", reason="size", lines=[AfterSaleLineInput(cream.pk, 1)]
    )
    aftersale_receive(actor=sales_a, aftersale=aftersale_approve(actor=sales_a, aftersale=exchange))

    completed = send(
        a_client,
        "post",
        refund_url(exchange.pk, "complete"),
        {
            "version": 3,
            "replacement_sku_code": "CREAM-50",
            "replacement_carrier": "顺丰速运",
            "replacement_tracking_no": "SF42",
        },
    )

    assert completed.status_code == 200, completed.json()
    body = send(a_client, "get", refund_url(exchange.pk)).json()
    assert {key: body[key] for key in body if key.startswith("replacement_")} == {
        "replacement_sku": Sku.objects.get(code="CREAM-50").pk,
        "replacement_sku_code": "CREAM-50",
        "replacement_item": "玻尿酸面霜 50g",
        "replacement_carrier": "顺丰速运",
        "replacement_tracking_no": "SF42",
    }
    refused = send(
        a_client,
        "post",
        refund_url(
            aftersale_request(actor=sales_a, order=a_order, kind="refund", reason="price", amount_cny="5").pk,
            "complete",
        ),
        {"version": 1, "replacement_tracking_no": "SF43"},
    )
    assert refused.status_code == 400 and "replacement_tracking_no" in json.dumps(refused.json())


def _completed_exchange(actor, order, replacement: ReplacementInput | None = None):
    """The order's cream exchanged, approved, received and completed (sending ``replacement``)."""
    cream = order.lines.get(sku_code="CREAM-50")
    exchange = aftersale_request(
        actor=actor, order=order, kind="exchange", reason="size", lines=[AfterSaleLineInput(cream.pk, 1)]
    )
    received = aftersale_receive(actor=actor, aftersale=aftersale_approve(actor=actor, aftersale=exchange))
    return aftersale_complete(actor=actor, aftersale=received, replacement=replacement)


def test_a_completed_exchanges_replacement_is_corrected_through_the_api_a_field_left_out_kept(
    a_client, sales_a, a_order
):
    exchange = _completed_exchange(
        sales_a, a_order, ReplacementInput(sku_code="CREAM-50", carrier="顺丰速运", tracking_no="SF42")
    )

    corrected = send(
        a_client,
        "post",
        refund_url(exchange.pk, "replacement"),
        {"replacement_carrier": "中通快递", "replacement_tracking_no": "ZT42"},
        **{"If-Match": f'"{exchange.version}"'},
    )

    assert corrected.status_code == 200, corrected.json()
    body = corrected.json()
    assert {key: body[key] for key in body if key.startswith("replacement_")} == {
        "replacement_sku": Sku.objects.get(code="CREAM-50").pk,
        "replacement_sku_code": "CREAM-50",
        "replacement_item": "玻尿酸面霜 50g",
        "replacement_carrier": "中通快递",
        "replacement_tracking_no": "ZT42",
    }
    assert (body["version"], body["amount_cny"]) == (exchange.version + 1, "0.00")
    assert AuditEntry.objects.filter(action="aftersale.replacement", actor=sales_a).count() == 1
    # the same again from the version first read: someone changed it since
    stale = send(
        a_client,
        "post",
        refund_url(exchange.pk, "replacement"),
        {"version": exchange.version, "replacement_tracking_no": "ZT43"},
    )
    assert stale.status_code == 409
    unknown = send(
        a_client,
        "post",
        refund_url(exchange.pk, "replacement"),
        {"version": exchange.version + 1, "replacement_sku_code": "NOPE-1"},
    )
    assert unknown.status_code == 400 and "replacement_sku_code" in json.dumps(unknown.json())
    assert AfterSale.objects.get(pk=exchange.pk).replacement_tracking_no == "ZT42"


def test_a_refund_or_an_open_exchange_has_no_replacement_to_correct_through_the_api(
    a_client, sales_a, a_order
):
    refund = aftersale_request(actor=sales_a, order=a_order, kind="refund", reason="price", amount_cny="5")
    cream = a_order.lines.get(sku_code="CREAM-50")
    exchange = aftersale_request(
        actor=sales_a, order=a_order, kind="exchange", reason="size", lines=[AfterSaleLineInput(cream.pk, 1)]
    )

    for aftersale, field in ((refund, "kind"), (exchange, "status")):
        refused = send(
            a_client,
            "post",
            refund_url(aftersale.pk, "replacement"),
            {"version": aftersale.version, "replacement_tracking_no": "SF1"},
        )
        assert refused.status_code == 400 and field in json.dumps(refused.json()), refused.json()
        assert AfterSale.objects.get(pk=aftersale.pk).replacement_tracking_no == ""


@pytest.mark.parametrize("role", ["readonly", "analyst"])
def test_roles_that_cannot_complete_an_after_sale_cannot_correct_a_replacement(
    client_for, request, role, sales_a, a_order
):
    exchange = _completed_exchange(sales_a, a_order)

    response = send(
        client_for(request.getfixturevalue(role)),
        "post",
        refund_url(exchange.pk, "replacement"),
        {"version": exchange.version, "replacement_tracking_no": "SF1"},
    )

    assert response.status_code == 403
    assert AfterSale.objects.get(pk=exchange.pk).replacement_tracking_no == ""


def test_a_refund_is_reserved_then_completed_and_the_customers_total_moves(
    a_client, sales_a, a_order, a_customer
):
    cream = a_order.lines.get(sku_code="CREAM-50")

    created = send(
        a_client,
        "post",
        REFUNDS,
        {
            "order": a_order.pk,
            "kind": "refund",
            "reason": "quality",
            "reason_detail": "瓶子漏了",
            "lines": [{"line_id": cream.pk, "quantity": 1, "amount_cny": "199.00"}],
            "customer": 12345,
            "created_by": 12345,
            "status": "completed",
            "version": 7,
        },
    )
    refund_id = created.json()["id"]
    order_after_request = send(a_client, "get", order_url(a_order.pk)).json()
    completed = send(
        a_client, "post", refund_url(refund_id, "complete"), {"version": 1, "resolution_note": "已退"}
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["status"], body["amount_cny"], body["version"]) == ("requested", "199.00", 1)
    assert body["customer"] == a_customer.pk and body["created_by"] == sales_a.pk
    assert body["lines"] == [
        {
            "id": body["lines"][0]["id"],
            "line_id": cream.pk,
            "title": "玻尿酸面霜",
            "sku_code": "CREAM-50",
            "quantity": 1,
            "amount_cny": "199.00",
        }
    ]
    assert created["Location"].endswith(refund_url(refund_id))
    assert order_after_request["refund_reserved_cny"] == "199.00"
    assert order_after_request["refundable_cny"] == "337.00"
    assert order_after_request["aftersales"][0]["id"] == refund_id
    assert completed.status_code == 200, completed.json()
    assert completed.json()["status"] == "completed" and completed.json()["resolution_note"] == "已退"
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == Decimal("337.00")
    order = send(a_client, "get", order_url(a_order.pk)).json()
    assert order["refunded_cny"] == "199.00" and order["lines"][0]["refunded_cny"] == "199.00"


def test_a_return_is_approved_received_and_completed(a_client, a_order, a_customer):
    tea = a_order.lines.get(sku_code="TEA-250")
    refund = send(
        a_client,
        "post",
        REFUNDS,
        {"order": a_order.pk, "kind": "return", "reason": "size", "lines": [{"line_id": tea.pk}]},
    ).json()
    url = refund_url(refund["id"], "{}")

    approved = send(a_client, "post", url.format("approve"), {"version": 1})
    received = send(a_client, "post", url.format("receive"), {"return_tracking_no": "YT9"}, If_Match='"2"')
    completed = send(a_client, "post", url.format("complete"), {"version": 3})

    assert refund["amount_cny"] == "128.00"
    assert [r.status_code for r in (approved, received, completed)] == [200, 200, 200]
    assert received.json()["return_tracking_no"] == "YT9"
    assert completed.json()["status"] == "completed"
    a_customer.refresh_from_db()
    assert a_customer.total_spent_cny == Decimal("408.00")
    assert OrderLine.objects.get(pk=tea.pk).returned_quantity == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "refund", "reason": "quality", "amount_cny": "536.01"}, "amount_cny"),
        ({"kind": "refund", "reason": "quality", "amount_cny": "-5.00"}, "amount_cny"),
        (
            {"kind": "return", "reason": "quality", "lines": [{"line_id": "CREAM", "quantity": 3}]},
            "lines.0.line_id",
        ),
        ({"kind": "return", "reason": "quality", "lines": "all"}, "lines"),
        ({"kind": "return", "reason": "quality"}, "lines"),
        ({"kind": "refund", "reason": "because"}, "reason"),
        ({"kind": "gift", "reason": "quality"}, "kind"),
    ],
)
def test_a_bad_refund_answers_400_naming_the_field_and_writes_nothing(
    a_client, a_order, a_customer, payload, field
):
    response = send(a_client, "post", REFUNDS, {"order": a_order.pk, **payload})

    assert response.status_code == 400
    assert any(key.split(".non_field_errors")[0] == field for key in response.json()), response.json()
    assert not AfterSale.objects.exists()
    a_order.refresh_from_db()
    assert (a_order.refund_reserved_cny, a_order.version) == (0, 1)


@pytest.mark.parametrize("kind", ["return", "exchange"])
def test_a_return_or_exchange_of_an_order_not_shipped_answers_400_on_the_kind(a_client, pending, kind):
    paid = send(a_client, "post", order_url(pending.pk, "pay"), {"payment_method": "alipay", "version": 1})
    tea = pending.lines.get()
    payload = {
        "order": pending.pk,
        "kind": kind,
        "reason": "size",
        "lines": [{"line_id": tea.pk, "quantity": 1}],
    }

    refused = send(a_client, "post", REFUNDS, payload, Accept_Language="en")
    refunded = send(a_client, "post", REFUNDS, {**payload, "kind": "refund"})

    assert (paid.status_code, refused.status_code, refunded.status_code) == (200, 400, 201)
    assert refused.json()["kind"] == [
        "This order has not been shipped: only a refund without return is possible. If it went out, mark it "
        "shipped first."
    ]
    assert list(AfterSale.objects.values_list("kind", flat=True)) == ["refund"]


def test_a_refund_above_what_is_left_of_a_line_names_the_line(a_client, a_order):
    tea = a_order.lines.get(sku_code="TEA-250")
    lines = [{"line_id": tea.pk, "quantity": 1, "amount_cny": "128.01"}]

    response = send(
        a_client,
        "post",
        REFUNDS,
        {"order": a_order.pk, "kind": "refund", "reason": "quality", "lines": lines},
    )

    assert response.status_code == 400 and "lines.0.amount_cny" in response.json()
    assert not AfterSale.objects.exists()


def test_a_second_refund_is_measured_against_what_is_left(a_client, a_order):
    first = send(
        a_client,
        "post",
        REFUNDS,
        {"order": a_order.pk, "kind": "refund", "reason": "price", "amount_cny": "500.00"},
    )
    second = send(
        a_client,
        "post",
        REFUNDS,
        {"order": a_order.pk, "kind": "refund", "reason": "price", "amount_cny": "40.00"},
    )

    assert first.status_code == 201
    assert second.status_code == 400 and "36.00" in second.json()["amount_cny"][0]
    assert AfterSale.objects.count() == 1


def test_rejecting_needs_a_reason_and_releases_the_reservation(a_client, a_order):
    refund = send(
        a_client,
        "post",
        REFUNDS,
        {"order": a_order.pk, "kind": "refund", "reason": "quality", "amount_cny": "50.00"},
    ).json()

    without = send(a_client, "post", refund_url(refund["id"], "reject"), {"version": 1})
    rejected = send(
        a_client,
        "post",
        refund_url(refund["id"], "reject"),
        {"version": 1, "resolution_note": "已超过售后期"},
    )
    again = send(a_client, "post", refund_url(refund["id"], "cancel"), {"version": 2})

    assert without.status_code == 400 and "resolution_note" in without.json()
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert again.status_code == 400 and "status" in again.json()
    a_order.refresh_from_db()
    assert a_order.refund_reserved_cny == 0


def test_a_withdrawn_refund_releases_the_reservation(a_client, a_order):
    refund = send(
        a_client,
        "post",
        REFUNDS,
        {"order": a_order.pk, "kind": "refund", "reason": "quality", "amount_cny": "50.00"},
    ).json()

    response = send(a_client, "post", refund_url(refund["id"], "cancel"), {"version": 1})

    assert response.status_code == 200 and response.json()["status"] == AfterSaleStatus.CANCELLED
    a_order.refresh_from_db()
    assert a_order.refund_reserved_cny == 0


def test_the_same_idempotency_key_opens_one_refund(a_client, a_order):
    payload = {"order": a_order.pk, "kind": "refund", "reason": "quality", "amount_cny": "50.00"}

    first = send(a_client, "post", REFUNDS, payload, Idempotency_Key="refund-1")
    second = send(a_client, "post", REFUNDS, payload, Idempotency_Key="refund-1")

    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    a_order.refresh_from_db()
    assert a_order.refund_reserved_cny == Decimal("50.00")


def test_refund_filters(a_client, sales_a, catalogue, a_customer, a_order):
    other = make_order(
        actor=sales_a, customer=a_customer, store=catalogue.store, status=OrderStatus.DELIVERED
    )
    money = aftersale_request(actor=sales_a, order=a_order, kind="refund", reason="price", amount_cny="10.00")
    goods = aftersale_request(
        actor=sales_a, order=other, kind="exchange", reason="size", lines=[_line_input(other.lines.get().pk)]
    )

    def ids(query: str) -> list[int]:
        response = a_client.get(f"{REFUNDS}?{query}")
        assert response.status_code == 200, response.json()
        return [r["id"] for r in response.json()["results"]]

    assert ids("") == [goods.pk, money.pk]
    assert ids(f"order={a_order.pk}") == [money.pk]
    assert ids(f"customer={a_customer.pk}") == [goods.pk, money.pk]
    assert ids("kind=exchange") == [goods.pk]
    assert ids("status=requested&kind=refund") == [money.pk]
    assert a_client.get(f"{REFUNDS}?kind=gift").status_code == 400


# --- products -----------------------------------------------------------------------------------------


def product_payload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "氨基酸洁面",
        "brand_name": "润百颜",
        "usage_cycle_days": 45,
        "skus": [
            {"code": "CLEAN-100", "price_cny": "69.00", "cost_cny": "20.00", "spec": "100ml"},
            {"code": "CLEAN-200", "price_cny": "119.00", "spec": "200ml"},
        ],
    }
    data.update(overrides)
    return data


def test_a_manager_creates_a_product_with_its_skus(manager_east, client_for, catalogue):
    client = client_for(manager_east)

    response = send(client, "post", PRODUCTS, product_payload(category=catalogue.cream.pk))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["category_path"] == "护肤 › 面霜" and body["brand_name"] == "润百颜"
    assert [(s["code"], s["price_cny"], s["cost_cny"]) for s in body["skus"]] == [
        ("CLEAN-100", "69.00", "20.00"),
        ("CLEAN-200", "119.00", None),
    ]
    assert response["Location"].endswith(f"{PRODUCTS}{body['id']}/")


def test_an_update_matches_skus_by_code_and_takes_a_dropped_one_off_sale(manager_east, client_for, catalogue):
    client = client_for(manager_east)
    created = send(client, "post", PRODUCTS, product_payload()).json()

    replaced = send(
        client,
        "put",
        f"{PRODUCTS}{created['id']}/",
        product_payload(
            name="氨基酸洁面乳",
            skus=[{"code": "CLEAN-100", "price_cny": "59.00"}],
            version=created["version"],
        ),
    )
    patched = send(
        client,
        "patch",
        f"{PRODUCTS}{created['id']}/",
        {"is_active": False, "version": replaced.json()["version"]},
    )

    assert replaced.status_code == 200, replaced.json()
    skus = {s["code"]: (s["price_cny"], s["is_active"]) for s in replaced.json()["skus"]}
    assert skus == {"CLEAN-100": ("59.00", True), "CLEAN-200": ("119.00", False)}
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert patched.json()["name"] == "氨基酸洁面乳" and len(patched.json()["skus"]) == 2


def _stale_product(client) -> tuple[dict[str, Any], str]:
    """A product as one client read it, and its URL, after a colleague changed its price meanwhile."""
    created = send(client, "post", PRODUCTS, product_payload()).json()
    url = f"{PRODUCTS}{created['id']}/"
    moved = send(
        client,
        "patch",
        url,
        {
            "skus": [{"code": "CLEAN-100", "price_cny": "79.00"}, created["skus"][1]],
            "version": created["version"],
        },
    )
    assert moved.status_code == 200, moved.json()
    return created, url


@pytest.mark.parametrize("method", ["put", "patch"])
def test_a_product_write_from_a_stale_version_answers_409_and_changes_nothing(
    manager_east, client_for, catalogue, method
):
    client = client_for(manager_east)
    stale, url = _stale_product(client)

    response = send(
        client, method, url, {**product_payload(usage_cycle_days=30), "version": stale["version"]}
    )

    assert response.status_code == 409 and response.json()["code"] == "conflict", response.json()
    product = Product.objects.get(pk=stale["id"])
    assert (product.usage_cycle_days, product.version) == (45, stale["version"] + 1)
    assert Sku.objects.get(code="CLEAN-100").price_cny == Decimal("79.00")


def test_a_stale_if_match_answers_409_and_a_product_write_without_a_version_400(
    manager_east, client_for, catalogue
):
    client = client_for(manager_east)
    stale, url = _stale_product(client)

    by_header = send(client, "patch", url, {"is_active": False}, **{"If-Match": f'"{stale["version"]}"'})
    without = send(client, "patch", url, {"is_active": False})

    assert by_header.status_code == 409 and by_header.json()["code"] == "conflict"
    assert without.status_code == 400 and "version" in without.json()
    assert Product.objects.get(pk=stale["id"]).is_active is True


def test_a_product_write_from_the_version_read_saves_and_moves_the_version_on(
    manager_east, client_for, catalogue
):
    client = client_for(manager_east)
    created = send(client, "post", PRODUCTS, product_payload()).json()
    url = f"{PRODUCTS}{created['id']}/"
    read = client.get(url)

    response = send(client, "patch", url, {"usage_cycle_days": 30}, **{"If-Match": read["ETag"]})

    assert created["version"] == 1 and read["ETag"] == '"1"'
    assert response.status_code == 200, response.json()
    assert (response.json()["usage_cycle_days"], response.json()["version"]) == (30, 2)
    assert response["ETag"] == '"2"'


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"skus": [{"code": "X-1", "price_cny": "-1.00"}]}, "skus.0.price_cny"),
        ({"skus": [{"code": "CREAM-50", "price_cny": "1.00"}]}, "skus.0.code"),
        ({"skus": []}, "skus"),
        ({"name": ""}, "name"),
        ({"usage_cycle_days": 0}, "usage_cycle_days"),
        ({"category": 99999}, "category"),
    ],
)
def test_a_bad_product_answers_400_naming_the_field(manager_east, client_for, catalogue, change, field):
    client = client_for(manager_east)

    response = send(client, "post", PRODUCTS, product_payload(**change))

    assert response.status_code == 400 and field in response.json(), response.json()
    assert Product.objects.count() == 3 and not Sku.objects.filter(code="X-1").exists()


def test_sales_staff_read_the_catalogue_but_cannot_change_it(a_client, catalogue):
    product = catalogue.cream_sku.product

    assert a_client.get(f"{PRODUCTS}{product.pk}/").status_code == 200
    assert send(a_client, "post", PRODUCTS, product_payload()).status_code == 403
    assert send(a_client, "patch", f"{PRODUCTS}{product.pk}/", {"name": "改名"}).status_code == 403
    assert send(a_client, "patch", f"{PRODUCTS}{product.pk + 999}/", {"name": "改名"}).status_code == 404
    product.refresh_from_db()
    assert product.name == "玻尿酸面霜"


def test_product_filters(a_client, catalogue):
    def names(query: str) -> list[str]:
        response = a_client.get(f"{PRODUCTS}?{query}")
        assert response.status_code == 200, response.json()
        return [p["name"] for p in response.json()["results"]]

    Product.objects.filter(name="爽肤水").update(is_active=False)

    assert names("") == ["明前龙井", "爽肤水", "玻尿酸面霜"]
    assert names(f"category={catalogue.skincare.pk}") == ["爽肤水", "玻尿酸面霜"]  # 面霜 is under 护肤
    assert names(f"category={catalogue.cream.pk}") == ["玻尿酸面霜"]
    assert names(f"brand={catalogue.cream_sku.product.brand_id}") == ["玻尿酸面霜"]
    assert names("active=true") == ["明前龙井", "玻尿酸面霜"]
    assert names("active=false") == ["爽肤水"]
    assert names("search=tea") == ["明前龙井"]  # by SKU code
    assert names("search=龙井") == ["明前龙井"]
    assert a_client.get(f"{PRODUCTS}?category=99999").status_code == 400


def test_the_cost_of_a_sku_is_for_those_who_keep_the_catalogue(a_client, manager_east, client_for, catalogue):
    def costs(client) -> set:
        return {s["cost_cny"] for p in client.get(PRODUCTS).json()["results"] for s in p["skus"]}

    assert costs(a_client) == {None}
    assert "80.00" in costs(client_for(manager_east))


# --- schema -------------------------------------------------------------------------------------------


def test_the_schema_documents_the_order_endpoints_and_stays_valid(a_client):
    from drf_spectacular.validation import validate_schema

    response = a_client.get("/api/schema/", headers={"Accept": "application/vnd.oai.openapi+json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    validate_schema(schema)
    paths = schema["paths"]
    for path in (
        "/api/v1/products/",
        "/api/v1/products/{id}/",
        "/api/v1/orders/",
        "/api/v1/orders/{id}/",
        "/api/v1/refunds/",
        "/api/v1/refunds/{id}/",
    ):
        assert path in paths, path
    for step in ("pay", "ship", "deliver", "complete", "cancel", "details"):
        assert f"/api/v1/orders/{{id}}/{step}/" in paths
    for step in ("approve", "receive", "complete", "replacement", "reject", "cancel"):
        assert f"/api/v1/refunds/{{id}}/{step}/" in paths
    order_params = {p["name"] for p in paths["/api/v1/orders/"]["get"]["parameters"]}
    assert {
        "customer",
        "customer_no",
        "store",
        "status",
        "ordered_after",
        "ordered_before",
        "order_no",
    } <= order_params
    assert {"cursor", "page_size"} <= order_params
    assert {"category", "brand", "active", "search"} <= {
        p["name"] for p in paths["/api/v1/products/"]["get"]["parameters"]
    }
    assert {"order", "customer", "status", "kind"} <= {
        p["name"] for p in paths["/api/v1/refunds/"]["get"]["parameters"]
    }
    assert "Idempotency-Key" in {p["name"] for p in paths["/api/v1/orders/"]["post"]["parameters"]}
    assert {"200", "400", "404", "409"} <= set(paths["/api/v1/orders/{id}/pay/"]["post"]["responses"])
    ours = [
        (path, method, op)
        for path, item in paths.items()
        if path.startswith(("/api/v1/products/", "/api/v1/orders/", "/api/v1/refunds/"))
        for method, op in item.items()
    ]
    details = paths["/api/v1/orders/{id}/details/"]["post"]
    assert {"200", "400", "403", "404", "409"} <= set(details["responses"])
    assert "If-Match" in {p["name"] for p in details["parameters"]}
    body = details["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"tracking_no", "receiver_phone", "ship_province", "payment_method", "version"} <= set(
        schema["components"]["schemas"][body]["properties"]
    )
    for method in ("put", "patch"):
        product_write = paths["/api/v1/products/{id}/"][method]
        assert "409" in product_write["responses"]
        assert "If-Match" in {p["name"] for p in product_write["parameters"]}
    assert len(ours) == 23
    assert [(path, method) for path, method, op in ours if not op.get("summary")] == []


def test_extreme_dates_and_odd_versions_are_a_400_not_a_500(a_client, sales_a, catalogue, a_customer):
    order = make_order(actor=sales_a, customer=a_customer, store=catalogue.store, status=OrderStatus.PENDING)

    assert a_client.get(f"{ORDERS}?ordered_before=9999-12-31").status_code == 400
    assert a_client.get(f"{ORDERS}?ordered_after=0001-01-01").status_code == 400
    response = send(a_client, "post", order_url(order.pk, "cancel"), {}, **{"If-Match": '"²"'})
    assert response.status_code == 400
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING
