"""`/api/v1/contacts/` and `/api/v1/preferences/<customer_id>/`: list, create and read, who sees what,
and a contact record that cannot be changed or deleted."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile

from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Attachment, ContactRecord, FollowUp, Preference
from kebu.engagement.services.contacts import ContactInput, contact_log
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 10, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
CONTACTS = "/api/v1/contacts/"


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def a_customer(sales_a):
    return make_customer(actor=sales_a, name="张三", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="王乙乙", owner=sales_b)


@pytest.fixture
def a_client(client_for, sales_a):
    return client_for(sales_a)


def _post_json(client, url, body, method="post"):
    return getattr(client, method)(url, json.dumps(body), content_type="application/json")


def _log(actor, customer, summary="咨询"):
    return contact_log(actor=actor, customer=customer, data=ContactInput(channel="wechat", summary=summary))


def test_the_list_is_filtered_by_customer_and_leaves_out_colleagues_customers(
    a_client, sales_a, sales_b, a_customer, b_customer
):
    other = make_customer(actor=sales_a, name="李四", owner=sales_a)
    mine = _log(sales_a, a_customer, "甲的")
    _log(sales_a, other, "另一个客户的")
    _log(sales_b, b_customer, "乙的")

    everything = a_client.get(CONTACTS).json()["results"]
    one = a_client.get(CONTACTS, {"customer": a_customer.pk}).json()["results"]

    assert {row["summary"] for row in everything} == {"甲的", "另一个客户的"}
    assert [row["id"] for row in one] == [mine.pk]
    assert one[0]["customer_no"] == a_customer.customer_no


def test_creating_a_contact_with_a_next_step_answers_201_and_makes_the_follow_up(
    a_client, sales_a, a_customer
):
    response = _post_json(
        a_client,
        CONTACTS,
        {
            "customer": a_customer.pk,
            "channel": "phone",
            "direction": "in",
            "summary": "客户来电问物流",
            "next_step": "查单号后回电",
            "next_step_due": "2025-06-11",
            "created_by": 999,  # never bound from input
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    record = ContactRecord.objects.get(pk=body["id"])
    assert (record.created_by, record.direction, body["occurred_at"][:16]) == (
        sales_a,
        "in",
        "2025-06-10T09:30",
    )
    assert FollowUp.objects.get().contact == record


def test_creating_with_files_takes_multipart(a_client, a_customer):
    response = a_client.post(
        CONTACTS,
        {
            "customer": a_customer.pk,
            "channel": "wechat",
            "summary": "发来截图",
            "attachments": [SimpleUploadedFile("截图.png", PNG)],
        },
    )

    assert response.status_code == 201, response.json()
    [attachment] = response.json()["attachments"]
    assert (attachment["name"], attachment["content_type"]) == ("截图.png", "image/png")
    assert attachment["url"].endswith(f"/contacts/attachments/{attachment['id']}/")


def test_a_bad_file_through_the_api_is_refused_and_nothing_is_written(a_client, a_customer):
    response = a_client.post(
        CONTACTS,
        {
            "customer": a_customer.pk,
            "channel": "wechat",
            "summary": "x",
            "attachments": [SimpleUploadedFile("photo.jpg", b"PK\x03\x04zip")],
        },
    )

    assert response.status_code == 400
    assert "“photo.jpg”" in response.json()["attachments"][0]
    assert not ContactRecord.objects.exists() and not Attachment.objects.exists()


def test_a_due_date_in_the_past_answers_400_naming_the_field(a_client, a_customer):
    response = _post_json(
        a_client,
        CONTACTS,
        {
            "customer": a_customer.pk,
            "channel": "sms",
            "summary": "x",
            "next_step": "y",
            "next_step_due": "2025-06-01",
        },
    )

    assert response.status_code == 400
    assert set(response.json()) == {"next_step_due", "code"}
    assert not ContactRecord.objects.exists()


def test_a_colleagues_customer_reads_as_missing(a_client, sales_b, b_customer):
    record = _log(sales_b, b_customer)

    created = _post_json(a_client, CONTACTS, {"customer": b_customer.pk, "channel": "sms", "summary": "x"})
    read = a_client.get(f"{CONTACTS}{record.pk}/")

    assert created.status_code == 400
    assert "customer" in created.json()
    assert read.status_code == 404
    assert ContactRecord.objects.count() == 1


def test_a_contact_record_is_a_log_that_cannot_be_changed_or_deleted(a_client, sales_a, a_customer):
    record = _log(sales_a, a_customer, "原话")

    for method in ("put", "patch", "delete"):
        assert _post_json(a_client, f"{CONTACTS}{record.pk}/", {"summary": "改"}, method).status_code == 405

    record.refresh_from_db()
    assert record.summary == "原话"


def test_a_read_only_user_may_read_but_not_create(client_for, readonly, sales_a, a_customer):
    _log(sales_a, a_customer)
    client = client_for(readonly)

    assert len(client.get(CONTACTS).json()["results"]) == 1
    created = _post_json(client, CONTACTS, {"customer": a_customer.pk, "channel": "sms", "summary": "x"})
    assert created.status_code == 403
    assert ContactRecord.objects.count() == 1


# --- preferences -------------------------------------------------------------------------------------------


def test_preferences_are_read_and_replaced_with_the_inferred_part_read_only(
    a_client, owner, sales_a, a_customer, catalogue
):
    for _ in range(2):
        make_order(actor=owner, customer=a_customer, store=catalogue.store, lines=[("TEA-250", 1)])
    url = f"/api/v1/preferences/{a_customer.pk}/"

    empty = a_client.get(url).json()
    put = _post_json(
        a_client,
        url,
        {
            "categories": [catalogue.tea.pk],
            "colours": ["藏青", " 米白 "],
            "preferred_channel": "wechat",
            "contact_from": "19:00",
            "contact_until": "21:30",
            "inferred": {"order_count": 99},
        },
        "put",
    )

    assert (empty["colours"], empty["inferred"]["order_count"]) == ([], 2)
    assert put.status_code == 200, put.json()
    body = put.json()
    assert body["categories"] == [{"id": catalogue.tea.pk, "name": "茶叶"}]
    assert (body["colours"], body["contact_from"]) == (["藏青", "米白"], "19:00:00")
    assert body["inferred"]["order_count"] == 2
    assert body["inferred"]["categories"][0]["label"] == "茶叶"
    assert Preference.objects.get(customer=a_customer).updated_by == sales_a
    assert body["updated_at"].endswith("+08:00")  # the shop's time zone, as the rest of the API


def test_preferences_refuse_half_contact_hours_with_400(a_client, a_customer):
    response = _post_json(a_client, f"/api/v1/preferences/{a_customer.pk}/", {"contact_from": "09:00"}, "put")

    assert response.status_code == 400
    assert "contact_until" in response.json()
    assert not Preference.objects.exists()


def test_a_colleagues_customers_preferences_answer_404(a_client, b_customer):
    url = f"/api/v1/preferences/{b_customer.pk}/"

    assert a_client.get(url).status_code == 404
    assert _post_json(a_client, url, {"colours": ["红"]}, "put").status_code == 404
    assert not Preference.objects.exists()
