"""Credit risk for customers with a credit line, from their history on credit: a worse history scores a
higher risk, each score lists its reasons, and customers without a credit line have none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kebu.customers.tests.factories import make_customer
from kebu.insights.models.scores import CustomerScore
from kebu.insights.selectors.scores import credit_reason_texts
from kebu.insights.tests.scores_shop import scores_run
from kebu.orders.services.credit import credit_payment_record, customer_credit_set
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db


def _wholesaler(owner, name: str):
    customer = make_customer(actor=owner, name=name, customer_type="wholesaler")
    return customer_credit_set(
        actor=owner, customer=customer, credit_limit_cny="1000.00", payment_terms_days=30
    )


def _on_credit(owner, catalogue, customer, *, days_ago: int, lines=None):
    """An order on credit ``days_ago`` days ago, due 30 days after."""
    return make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        lines=lines or [("TEA-250", 2)],  # ¥256.00
        payment_method="credit",
        ordered_at=timezone.now() - timedelta(days=days_ago),
    )


def _pay(owner, customer, amount: str, *, days_ago: int) -> None:
    credit_payment_record(
        actor=owner,
        customer=customer,
        amount_cny=amount,
        method="bank_transfer",
        received_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def credit_shop(owner, catalogue):
    """Four wholesalers, each with orders 90 and 60 days ago (due 60 and 30 days ago), and a retail buyer."""
    prompt, late, overdue, both = (_wholesaler(owner, n) for n in ("准时", "迟付", "逾期", "又迟又欠"))
    for customer in (prompt, late, overdue, both):
        _on_credit(owner, catalogue, customer, days_ago=90)
        _on_credit(owner, catalogue, customer, days_ago=60)
    _pay(owner, prompt, "256.00", days_ago=65)  # each paid before it was due
    _pay(owner, prompt, "256.00", days_ago=35)
    _pay(owner, late, "256.00", days_ago=50)  # the first 10 days late
    _pay(owner, late, "256.00", days_ago=5)  # the second 25 days late
    _pay(owner, overdue, "256.00", days_ago=61)  # the first on time; the second still owed, 30 days overdue
    _pay(owner, both, "256.00", days_ago=20)  # the first 40 days late; the second owed, 30 days overdue
    retail = make_customer(actor=owner, name="散客")
    make_order(actor=owner, customer=retail, store=catalogue.store, lines=[("TEA-250", 1)])
    return {"prompt": prompt, "late": late, "overdue": overdue, "both": both, "retail": retail}


def _score(customer) -> CustomerScore:
    return CustomerScore.objects.get(customer=customer)


def test_a_worse_credit_history_scores_a_higher_risk(credit_shop):
    scores_run()

    risk = {name: _score(c).credit_score for name, c in credit_shop.items()}
    assert risk["prompt"] == 0
    assert 0 < risk["late"] < risk["overdue"] < risk["both"] <= 100


def test_customers_without_a_credit_line_have_no_credit_risk(credit_shop):
    scores_run()

    retail = _score(credit_shop["retail"])
    assert (retail.credit_score, retail.credit_reasons) == (None, None)


def test_the_credit_risk_lists_its_reasons(credit_shop):
    scores_run()

    assert credit_reason_texts(_score(credit_shop["prompt"]).credit_reasons) == [
        "2 orders on credit paid off, all on time"
    ]
    assert credit_reason_texts(_score(credit_shop["late"]).credit_reasons) == [
        "2 of 2 orders on credit paid late, 18 days late on average"
    ]
    assert credit_reason_texts(_score(credit_shop["both"]).credit_reasons) == [
        "¥256.00 overdue on 1 order, 30 days past due",
        "1 of 1 orders on credit paid late, 40 days late on average",
    ]


def test_owing_close_to_or_beyond_the_limit_adds_to_the_risk(owner, catalogue):
    near, beyond = _wholesaler(owner, "快到额度"), _wholesaler(owner, "超额度")
    for customer in (near, beyond):
        _on_credit(owner, catalogue, customer, days_ago=5, lines=[("CREAM-50", 4)])  # ¥796.00, not yet due
    customer_credit_set(actor=owner, customer=near, credit_limit_cny="990.00", payment_terms_days=30)
    customer_credit_set(actor=owner, customer=beyond, credit_limit_cny="700.00", payment_terms_days=30)

    scores_run()

    assert (_score(near).credit_score, _score(beyond).credit_score) == (5, 10)
    assert credit_reason_texts(_score(beyond).credit_reasons) == [
        "owes ¥796.00, more than the credit limit of ¥700.00"
    ]


def test_what_was_paid_at_the_counter_is_not_waited_for_from_the_customers_payments(owner, catalogue):
    # given: ¥156.00 of the first order paid at the time, only ¥100.00 of it on credit, each debt paid
    # before it was due
    customer = _wholesaler(owner, "部分付款")
    make_order(
        actor=owner,
        customer=customer,
        store=catalogue.store,
        lines=[("TEA-250", 2)],  # ¥256.00
        payment_method="credit",
        paid_now_cny="156.00",
        ordered_at=timezone.now() - timedelta(days=90),
    )
    _on_credit(owner, catalogue, customer, days_ago=60)
    _pay(owner, customer, "100.00", days_ago=65)
    _pay(owner, customer, "256.00", days_ago=35)

    scores_run()

    assert _score(customer).credit_score == 0
    reasons = credit_reason_texts(_score(customer).credit_reasons)
    assert reasons == ["2 orders on credit paid off, all on time"]
