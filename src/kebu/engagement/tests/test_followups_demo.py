"""The demo follow-ups read as the reminders the shop would make itself."""

from __future__ import annotations

import random

import pytest
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.engagement.demo.followups import demo_followups
from kebu.engagement.models import FollowUp, FollowUpKind
from kebu.orders.services.credit import customer_credit_set
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def test_a_demo_credit_reminder_groups_the_amount_owed_as_the_reminder_service_does(owner, catalogue):
    # given a wholesaler owing ¥1,194.00 on credit, due in five days
    customer = make_customer(actor=owner, name="义乌小商品批发", customer_type="wholesaler", owner=owner)
    customer_credit_set(actor=owner, customer=customer, credit_limit_cny="5000.00", payment_terms_days=5)
    make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        lines=[("CREAM-50", 6)],
        payment_method="credit",
        ordered_at=timezone.now(),
    )

    # when the demo makes its follow-ups
    demo_followups(rng=random.Random(3), now=timezone.now())

    # then the credit reminder names the amount grouped by thousands, with its two places
    title = FollowUp.objects.get(kind=FollowUpKind.CREDIT_DUE).title
    assert "¥1,194.00" in title
