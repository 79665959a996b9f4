"""Timeline events of a customer. Every service writes through here, in its own transaction, so the
timeline (and, with the trust work, the audit log) is fed from one place."""

from __future__ import annotations

from typing import Any

from kebu.customers.models import Customer, CustomerEvent


def _event(*, customer: Customer, actor: Any, kind: str, data: dict[str, Any] | None = None) -> CustomerEvent:
    return CustomerEvent.objects.create(customer=customer, actor=actor, kind=kind, data=data or {})


def customer_created_event(*, customer: Customer, actor: Any) -> CustomerEvent:
    return _event(customer=customer, actor=actor, kind="customer.created")


def customer_updated_event(*, customer: Customer, actor: Any, changes: dict[str, list[Any]]) -> CustomerEvent:
    """``changes`` maps a field to ``[before, after]`` as display strings."""
    return _event(customer=customer, actor=actor, kind="customer.updated", data={"changes": changes})


def customer_archived_event(*, customer: Customer, actor: Any) -> CustomerEvent:
    return _event(customer=customer, actor=actor, kind="customer.archived")


def customer_restored_event(*, customer: Customer, actor: Any) -> CustomerEvent:
    return _event(customer=customer, actor=actor, kind="customer.restored")
