"""`/api/v1/tickets/`: list with filters, open, read with history, and the transition step with the
version read; a colleague's ticket answers 404 on every verb."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Ticket
from kebu.engagement.services.tickets import TicketInput, ticket_open
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def send(client, method, url, data=None, **headers):
    body = json.dumps(data) if data is not None else None
    return getattr(client, method)(url, data=body, content_type="application/json", headers=headers)


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)


@pytest.fixture
def b_customer(sales_b):
    return make_customer(actor=sales_b, name="李雷", phone="13900001111", owner=sales_b)


@pytest.fixture
def a_client(client_for, sales_a):
    return client_for(sales_a)


def open_ticket(actor, customer, **fields) -> Ticket:
    data = TicketInput(
        category=fields.pop("category", "quality"), subject=fields.pop("subject", "面霜结块"), **fields
    )
    return ticket_open(actor=actor, customer=customer, data=data)


def test_a_ticket_is_opened_through_the_api_without_taking_its_creator_from_the_body(
    a_client, sales_a, sales_b, customer, catalogue
):
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 1)])

    response = send(
        a_client,
        "post",
        "/api/v1/tickets/",
        {
            "customer": customer.pk,
            "category": "logistics",
            "subject": "快递丢件",
            "order": order.pk,
            "lines": [order.lines.get().pk],
            "created_by": sales_b.pk,
            "status": "closed",
        },
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["number"], body["status"], body["order_no"], body["assignee"]) == (
        "T000001",
        "new",
        order.order_no,
        sales_a.pk,
    )
    assert [e["kind"] for e in body["events"]] == ["opened"]
    assert response["Location"].endswith(f"/api/v1/tickets/{body['id']}/")
    assert Ticket.objects.get().created_by == sales_a


def test_a_ticket_opened_through_the_api_is_linked_to_the_after_sales_it_names(
    a_client, sales_a, customer, catalogue
):
    from kebu.orders.services.aftersales import aftersale_request

    order = make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 1)])
    refund = aftersale_request(actor=sales_a, order=order, kind="refund", reason="price", amount_cny="20")

    response = send(
        a_client,
        "post",
        "/api/v1/tickets/",
        {
            "customer": customer.pk,
            "category": "price",
            "subject": "退款还没到账",
            "order": order.pk,
            "aftersales": [refund.pk],
        },
    )

    assert response.status_code == 201, response.json()
    assert response.json()["aftersales"] == [refund.pk]
    assert [e["kind"] for e in response.json()["events"]] == ["opened", "linked"]


def test_an_order_of_another_customer_is_refused_by_the_api(a_client, sales_a, customer, catalogue):
    other = make_customer(actor=sales_a, name="另一个", phone="13700001111", owner=sales_a)
    foreign = make_order(actor=sales_a, customer=other, store=catalogue.store)

    response = send(
        a_client,
        "post",
        "/api/v1/tickets/",
        {"customer": customer.pk, "category": "quality", "subject": "x", "order": foreign.pk},
    )

    assert response.status_code == 400 and "order" in response.json()
    assert not Ticket.objects.exists()


def test_a_colleagues_customer_cannot_be_given_a_ticket(a_client, b_customer):
    response = send(
        a_client,
        "post",
        "/api/v1/tickets/",
        {"customer": b_customer.pk, "category": "quality", "subject": "x"},
    )

    assert response.status_code == 400 and "customer" in response.json()


def test_the_list_filters_by_status_and_overdue(a_client, sales_a, customer):
    with time_machine.travel(datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI), tick=False):
        late = open_ticket(sales_a, customer, category="attitude", subject="态度")
        open_ticket(sales_a, customer, category="price", subject="价格")
    with time_machine.travel(datetime(2025, 3, 4, 10, 0, tzinfo=SHANGHAI), tick=False):
        overdue = a_client.get("/api/v1/tickets/", {"overdue": "true"}).json()
        new = a_client.get("/api/v1/tickets/", {"status": "new", "category": "price"}).json()
        wrong = a_client.get("/api/v1/tickets/", {"status": "lost"})

    assert [t["id"] for t in overdue["results"]] == [late.pk] and overdue["results"][0]["is_overdue"]
    assert [t["subject"] for t in new["results"]] == ["价格"]
    assert wrong.status_code == 400 and "status" in wrong.json()


def test_the_transition_step_needs_the_version_and_refuses_a_stale_one(a_client, sales_a, customer):
    ticket = open_ticket(sales_a, customer)
    url = f"/api/v1/tickets/{ticket.pk}/transition/"

    missing = send(a_client, "post", url, {"to_status": "in_progress"})
    started = send(
        a_client, "post", url, {"to_status": "in_progress", "note": "处理中"}, **{"If-Match": '"1"'}
    )
    stale = send(a_client, "post", url, {"to_status": "waiting", "version": 1})
    refused = send(a_client, "post", url, {"to_status": "resolved", "version": 2})
    resolved = send(
        a_client,
        "post",
        url,
        {"to_status": "resolved", "version": 2, "resolution": "退款", "result": "refund"},
    )
    closed = send(a_client, "post", url, {"to_status": "closed", "version": 3, "satisfaction": 4})

    assert missing.status_code == 400 and "version" in missing.json()
    assert started.status_code == 200 and started["ETag"] == '"2"'
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    assert refused.status_code == 400 and set(refused.json()) >= {"resolution", "result"}
    assert resolved.status_code == 200
    assert closed.status_code == 200 and closed.json()["satisfaction"] == 4
    history = a_client.get(f"/api/v1/tickets/{ticket.pk}/").json()["events"]
    assert [(e["kind"], e["to_value"]) for e in history] == [
        ("opened", "new"),
        ("status", "in_progress"),
        ("status", "resolved"),
        ("status", "closed"),
    ]


def test_a_colleagues_ticket_answers_404_on_every_verb(a_client, sales_b, b_customer):
    theirs = open_ticket(sales_b, b_customer)

    assert a_client.get(f"/api/v1/tickets/{theirs.pk}/").status_code == 404
    for step in ("transition", "assign", "note"):
        response = send(
            a_client,
            "post",
            f"/api/v1/tickets/{theirs.pk}/{step}/",
            {"to_status": "in_progress", "version": 1, "note": "x", "assignee": None},
        )
        assert response.status_code == 404, step
    assert a_client.get("/api/v1/tickets/").json()["results"] == []
    theirs.refresh_from_db()
    assert theirs.version == 1


def test_someone_without_change_permission_gets_403_before_any_lookup(
    client_for, readonly, sales_a, customer
):
    ticket = open_ticket(sales_a, customer)
    reader = client_for(readonly)

    assert reader.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200
    assert (
        send(
            reader,
            "post",
            f"/api/v1/tickets/{ticket.pk}/transition/",
            {"to_status": "in_progress", "version": 1},
        ).status_code
        == 403
    )
    assert (
        send(
            reader,
            "post",
            "/api/v1/tickets/",
            {"customer": customer.pk, "category": "quality", "subject": "x"},
        ).status_code
        == 403
    )


def test_a_note_through_the_api_is_the_first_response(a_client, sales_a, customer):
    with time_machine.travel(datetime(2025, 3, 3, 9, 0, tzinfo=SHANGHAI), tick=False) as clock:
        ticket = open_ticket(sales_a, customer)
        clock.shift(timedelta(minutes=5))
        response = send(a_client, "post", f"/api/v1/tickets/{ticket.pk}/note/", {"note": "已回复"})

    assert response.status_code == 201
    assert response.json()["first_responded_at"].startswith("2025-03-03T09:05")
