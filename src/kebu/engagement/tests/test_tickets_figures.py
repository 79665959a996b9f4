"""The service figures on a small set worked out by hand: response and resolution times (nearest-rank
median and p90), the share within the SLA (a reopened ticket measured against the time it was first
due), open and overdue per assignee, complaint rates per product and per carrier (orders with a
complaint, never above 100 %) with the minimum-orders threshold.

Times are set on the rows directly: the figures only read them, and the services that write them are
tested in test_tickets_services.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import Ticket
from kebu.engagement.selectors.tickets import percentile, ticket_figures
from kebu.engagement.services.tickets import TicketInput, ticket_open, ticket_transition
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2025, 3, 31, 12, 0, tzinfo=SHANGHAI)
MARCH = {"date_from": date(2025, 3, 1), "date_to": date(2025, 3, 31)}


def at(day: int, hour: int = 9, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, 0, tzinfo=SHANGHAI)


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)


def ticket(actor, customer, *, opened, responded_h=None, resolved_h=None, status="closed", **fields):
    """A quality ticket (4 h to answer, 48 h to resolve) with its times set by hand."""
    made = ticket_open(
        actor=actor,
        customer=customer,
        data=TicketInput(category="quality", subject=fields.pop("subject", "问题"), **fields),
    )
    Ticket.objects.filter(pk=made.pk).update(
        status=status,
        opened_at=opened,
        first_response_due_at=opened + timedelta(hours=4),
        due_at=opened + timedelta(hours=48),
        first_due_at=opened + timedelta(hours=48),
        first_responded_at=opened + timedelta(hours=responded_h) if responded_h is not None else None,
        resolved_at=opened + timedelta(hours=resolved_h) if resolved_h is not None else None,
    )
    return made


def test_percentiles_are_nearest_rank_values():
    values = [Decimal(v) for v in (1, 2, 3, 10)]

    assert percentile(values, Decimal("0.5")) == 2
    assert percentile(values, Decimal("0.9")) == 10
    assert percentile([], Decimal("0.5")) is None


def test_response_and_resolution_times_over_a_hand_counted_month(sales_a, customer):
    ticket(sales_a, customer, opened=at(1), responded_h=1, resolved_h=20)  # A: in time, in time
    ticket(sales_a, customer, opened=at(2), responded_h=2, resolved_h=30)  # B: in time, in time
    ticket(sales_a, customer, opened=at(3), responded_h=3, resolved_h=60)  # C: in time, resolved late
    ticket(sales_a, customer, opened=at(4), responded_h=10, status="in_progress")  # D: late, overdue now
    ticket(sales_a, customer, opened=at(31, 11), status="new", subject="新的")  # E: nothing due yet
    ticket(sales_a, customer, opened=at(27, 9, month=2), responded_h=100, resolved_h=200)  # F: February
    Ticket.objects.filter(subject="新的").update(assignee=None)

    figures = ticket_figures(**MARCH, now=NOW)

    assert figures.opened == 5
    # first responses 1, 2, 3, 10 h: median the 2nd value, p90 the 4th
    assert (
        figures.first_response.count,
        figures.first_response.median_hours,
        figures.first_response.p90_hours,
    ) == (
        4,
        Decimal("2.00"),
        Decimal("10.00"),
    )
    # resolutions 20, 30, 60 h: median the 2nd value, p90 the 3rd
    assert (figures.resolution.count, figures.resolution.median_hours, figures.resolution.p90_hours) == (
        3,
        Decimal("30.00"),
        Decimal("60.00"),
    )
    # A, B, C answered within 4 h; D not; E not due yet
    assert (figures.first_response_sla.within, figures.first_response_sla.due) == (3, 4)
    assert figures.first_response_sla.percent == Decimal("75.0")
    # A, B resolved within 48 h; C late; D past due and open
    assert (figures.resolution_sla.within, figures.resolution_sla.due) == (2, 4)
    assert figures.resolution_sla.percent == Decimal("50.0")
    # now: D open and overdue (sales_a), E open (nobody)
    assert [(row["user"], row["open"], row["overdue"]) for row in figures.per_assignee] == [
        (sales_a, 1, 1),
        (None, 1, 0),
    ]


def test_a_late_ticket_reopened_and_then_resolved_quickly_still_missed_its_sla(sales_a, customer):
    def step(made, to_status, **fields):
        made.refresh_from_db()
        return ticket_transition(
            actor=sales_a, ticket=made, to_status=to_status, expected_version=made.version, **fields
        )

    # given: opened on the 3rd, due in 48 h, resolved only on the 6th (72 h: late)
    with time_machine.travel(at(3), tick=False) as clock:
        made = ticket_open(
            actor=sales_a, customer=customer, data=TicketInput(category="quality", subject="漏液")
        )
        clock.shift(timedelta(hours=72))
        step(made, "resolved", resolution="补发", result="resend")
        # when: reopened on the 10th and resolved an hour later
        clock.shift(timedelta(days=4))
        reopened = step(made, "in_progress", note="补发的也漏")
        clock.shift(timedelta(hours=1))
        step(made, "resolved", resolution="退款", result="refund")

    figures = ticket_figures(**MARCH, now=NOW)

    # then: the queue works to the new due time, the figures to the first one
    assert reopened.due_at == at(12)
    assert Ticket.objects.get(pk=made.pk).first_due_at == at(5)
    # resolution time runs from opening to the last resolution: 7 days and 1 hour
    assert (figures.resolution.count, figures.resolution.median_hours) == (1, Decimal("169.00"))
    assert (figures.resolution_sla.within, figures.resolution_sla.due) == (0, 1)


def test_complaint_rates_per_product_and_per_carrier_count_only_products_with_enough_orders(
    sales_a, customer, catalogue
):
    def order(day, lines, carrier="", month=3):
        return make_order(
            actor=sales_a,
            customer=customer,
            store=catalogue.store,
            lines=[(code, 1) for code in lines],
            status="shipped" if carrier else "paid",
            carrier=carrier,
            ordered_at=at(day, month=month),
        )

    o1 = order(1, ["CREAM-50"], "顺丰")
    o2 = order(2, ["CREAM-50", "TONER-100"], "顺丰")
    o3 = order(3, ["CREAM-50"], "中通")
    o4 = order(4, ["TEA-250"], "中通")
    order(5, ["TONER-100"])
    o6 = order(20, ["CREAM-50"], "顺丰", month=2)  # before the range

    def complaint(on, line_codes=(), kind="complaint"):
        lines = [line.pk for line in on.lines.all() if line.sku_code in line_codes]
        data = TicketInput(category="quality", subject="投诉", kind=kind, order=on, line_ids=lines)
        return ticket_open(actor=sales_a, customer=customer, data=data)

    complaint(o1, ["CREAM-50"])
    complaint(o1)  # a second complaint about o1 (the delivery): still one order with a complaint
    complaint(o4, ["TEA-250"])
    complaint(o2, ["CREAM-50"], kind="request")  # a question, not a complaint
    complaint(o6, ["CREAM-50"])  # on an order outside the range
    complaint(o3)  # about the delivery: no line named, so about o3's one product, cream

    figures = ticket_figures(**MARCH, min_orders=2, now=NOW)

    # cream in o1, o2, o3, with complaints about o1 and o3: 2 of 3; toner in o2, o5 (none); tea in o4
    # only: under the threshold
    assert [(r.label, r.orders, r.complaints, r.percent) for r in figures.per_product] == [
        ("玻尿酸面霜", 3, 2, Decimal("66.7")),
        ("爽肤水", 2, 0, Decimal("0.0")),
    ]
    # 中通 shipped o3, o4, both complained about: 2 of 2; 顺丰 o1, o2 in March: o1 (two complaints,
    # one order) of 2, o2's ticket being a request
    assert [(r.label, r.orders, r.complaints, r.percent) for r in figures.per_carrier] == [
        ("中通", 2, 2, Decimal("100.0")),
        ("顺丰", 2, 1, Decimal("50.0")),
    ]

    with_one_order = ticket_figures(**MARCH, min_orders=1, now=NOW)
    assert [r.label for r in with_one_order.per_product] == ["明前龙井", "玻尿酸面霜", "爽肤水"]


def test_a_complaint_naming_no_line_is_about_every_product_of_its_order_and_one_naming_lines_only_theirs(
    sales_a, customer, catalogue
):
    def order(day):
        return make_order(
            actor=sales_a,
            customer=customer,
            store=catalogue.store,
            lines=[("CREAM-50", 1), ("TONER-100", 1)],
            ordered_at=at(day),
        )

    def complaint(on, line_codes=()):
        lines = [line.pk for line in on.lines.all() if line.sku_code in line_codes]
        data = TicketInput(category="quality", subject="投诉", order=on, line_ids=lines)
        return ticket_open(actor=sales_a, customer=customer, data=data)

    whole, toner_only, untouched = order(1), order(2), order(3)
    complaint(whole)  # no line named: about the cream and the toner
    complaint(toner_only, ["TONER-100"])

    figures = ticket_figures(**MARCH, min_orders=1, now=NOW)

    # three orders each; cream complained about in one (whole), toner in two (whole, toner_only)
    assert untouched.pk and [(r.label, r.orders, r.complaints) for r in figures.per_product] == [
        ("爽肤水", 3, 2),
        ("玻尿酸面霜", 3, 1),
    ]


def test_the_figures_page_needs_the_view_all_tickets_permission(client_for, sales_a, manager_east, analyst):
    url = reverse("tickets:figures")

    assert client_for(sales_a).get(url).status_code == 403
    assert (
        client_for(manager_east).get(url, {"date_from": "2025-03-01", "date_to": "2025-03-31"}).status_code
        == 200
    )
    page = client_for(analyst).get(url)
    assert page.status_code == 200 and 'id="figures-products"' in page.content.decode()
