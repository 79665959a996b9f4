"""Credit for wholesale customers (赊账): the limit and terms, and payments received (回款).

An order taken on credit (``PaymentMethod.CREDIT``, see ``orders.order_pay``) owes its amount until its
due date; a payment received settles the oldest debts first (by due date), and a refund cancels what is
still owed on its own order. What a customer owes in all is ``Customer.receivable_cny``, kept with the
other figures."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Conflict, ValidationFailed
from kebu.customers.columns import grouped
from kebu.customers.models import Customer
from kebu.orders.models import CreditPayment, Order, PaymentMethod
from kebu.orders.services.metrics import FiguresChange, customer_figures_apply, customer_lock
from kebu.orders.services.orders import _errors_add, _moment, money_parse

ZERO = Decimal("0.00")


@transaction.atomic
def customer_credit_set(
    *, actor: Any, customer: Customer, credit_limit_cny: Any, payment_terms_days: Any
) -> Customer:
    """Give a customer a credit line (or take it away with ``None``) and their payment terms."""
    errors: dict[str, list[Any]] = {}
    limit = money_parse(credit_limit_cny, errors=errors, key="credit_limit_cny", allow_none=True)
    try:
        terms = int(payment_terms_days)
    except (TypeError, ValueError):
        terms = -1
    if not 0 <= terms <= 365:
        _errors_add(errors, "payment_terms_days", _("Enter between 0 and 365 days."))
    if errors:
        raise ValidationFailed(_("The credit terms were not saved."), field_errors=errors)
    before = (customer.credit_limit_cny, customer.payment_terms_days)
    Customer.objects.filter(pk=customer.pk).update(credit_limit_cny=limit, payment_terms_days=terms)
    customer.credit_limit_cny, customer.payment_terms_days = limit, terms
    audit_record(
        action="credit.change",
        actor=actor,
        target=customer,
        changes={
            "credit_limit_cny": [
                None if before[0] is None else str(before[0]),
                None if limit is None else str(limit),
            ],
            "payment_terms_days": [before[1], terms],
        },
    )
    return customer


# How a customer on credit pays what they owe: not on credit again, nor cash on delivery or Huabei, which
# are ways a buyer pays for an order, not ways a debt comes in.
REPAYMENT_METHODS = [
    PaymentMethod.BANK_TRANSFER,
    PaymentMethod.WECHAT,
    PaymentMethod.ALIPAY,
    PaymentMethod.BANK_CARD,
    PaymentMethod.CASH,
    PaymentMethod.OTHER,
]


@transaction.atomic
def credit_payment_record(
    *,
    actor: Any,
    customer: Customer,
    amount_cny: Any,
    method: str,
    received_at: datetime | None = None,
    note: str = "",
) -> CreditPayment:
    """Record money a credit customer paid and settle their oldest debts with it. More than they owe is
    refused (a prepayment is not a debt settled; record it when the order comes)."""
    errors: dict[str, list[Any]] = {}
    amount = money_parse(amount_cny, errors=errors, key="amount_cny")
    if amount <= 0 and "amount_cny" not in errors:
        _errors_add(errors, "amount_cny", _("Enter the amount received."))
    if method not in REPAYMENT_METHODS:
        _errors_add(errors, "method", _("Choose how the money came in."))
    moment = _moment(received_at, errors=errors, key="received_at", now=timezone.now())
    locked = customer_lock(customer_id=customer.pk)
    owed = locked.receivable_cny
    if amount > owed and "amount_cny" not in errors:
        _errors_add(
            errors,
            "amount_cny",
            _("%(name)s owes ¥%(owed)s; that is less than this payment.")
            % {
                "name": customer.display_name,
                "owed": grouped(owed),
            },
        )
    if errors:
        raise ValidationFailed(_("The payment was not recorded."), field_errors=errors)
    payment = CreditPayment.objects.create(
        customer=customer,
        amount_cny=amount,
        method=method,
        received_at=moment,
        note=note.strip()[:200],
        created_by=actor,
    )
    left = amount
    debts = Order.objects.filter(customer=customer, credit_outstanding_cny__gt=0).order_by(
        "credit_due_date", "id"
    )
    for order in debts:
        if left <= 0:
            break
        settled = min(left, order.credit_outstanding_cny)
        if not Order.objects.filter(pk=order.pk, version=order.version).update(
            credit_outstanding_cny=order.credit_outstanding_cny - settled, version=F("version") + 1
        ):
            raise Conflict(_("An order of this customer changed just now. Try again."))
        left -= settled
    customer_figures_apply(
        customer_id=customer.pk, change=FiguresChange(receivable_cny=-amount), actor=actor, locked=locked
    )
    audit_record(
        action="credit.payment",
        actor=actor,
        target=customer,
        data={"amount": str(amount), "method": method, "payment": payment.pk},
    )
    return payment
