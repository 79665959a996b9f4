"""The demo tickets and reviews keep what the services guarantee: numbers unique and from the sequence,
due times after opening, no time in the future, lines of the ticket's own order, reviews of products
in the reviewed order, ratings 1 to 5."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from kebu.customers.tests.factories import make_customer
from kebu.engagement.demo.feedback import demo_feedback
from kebu.engagement.demo.tickets import demo_tickets
from kebu.engagement.models import Feedback, Ticket, TicketEvent
from kebu.engagement.services.tickets import TicketInput, ticket_open
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 30, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_demo_tickets_and_reviews_hold_the_services_rules(sales_a, catalogue):
    customer = make_customer(actor=sales_a, name="王芳", phone="13812345678", owner=sales_a)
    for day in range(40):
        make_order(
            actor=sales_a,
            customer=customer,
            store=catalogue.store,
            lines=[("CREAM-50", 1), ("TEA-250", 1)],
            status="completed",
            ordered_at=NOW - timedelta(days=day, hours=3),
        )
    ticket_open(actor=sales_a, customer=customer, data=TicketInput(category="other", subject="已有的"))

    made = demo_tickets(rng=random.Random(7), now=NOW) + demo_feedback(rng=random.Random(8), now=NOW)

    tickets = list(Ticket.objects.exclude(subject="已有的"))
    assert tickets and made >= len(tickets)
    numbers = [t.number for t in Ticket.objects.all()]
    assert len(set(numbers)) == len(numbers) and "T000001" in numbers
    for ticket in tickets:
        assert ticket.opened_at <= ticket.first_response_due_at <= ticket.due_at
        assert all(
            moment is None or moment <= NOW
            for moment in (ticket.opened_at, ticket.first_responded_at, ticket.resolved_at, ticket.closed_at)
        )
        assert all(line.order_id == ticket.order_id for line in ticket.lines.all())
        assert TicketEvent.objects.filter(ticket=ticket, kind="opened").exists()
        if ticket.status in ("resolved", "closed"):
            assert ticket.resolution and ticket.result and ticket.resolved_at
    for review in Feedback.objects.select_related("order"):
        assert 1 <= review.rating <= 5 and review.reviewed_at <= NOW
        assert review.product_id in set(review.order.lines.values_list("product_id", flat=True))
