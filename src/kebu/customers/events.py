"""Timeline events of a customer. Every service writes through here, in its own transaction, so the
timeline and the audit log are fed from one place: each event is also an audit entry, written last
(the audit log serialises its writers until commit)."""

from __future__ import annotations

from typing import Any

from kebu.audit.services import audit_record
from kebu.customers.models import Customer, CustomerEvent


def _event(
    *, customer: Customer, actor: Any, kind: str, audit_action: str, data: dict[str, Any] | None = None
) -> CustomerEvent:
    """``data`` holds no plain contact details: the services mask them before they get here."""
    event, audit = _event_unsaved(
        customer=customer, actor=actor, kind=kind, audit_action=audit_action, data=data
    )
    event.save()
    audit_record(**audit)
    return event


def _event_unsaved(
    *, customer: Customer, actor: Any, kind: str, audit_action: str, data: dict[str, Any] | None = None
) -> tuple[CustomerEvent, dict[str, Any]]:
    """The event, not saved, and its audit record as ``audit_record``'s arguments."""
    event = CustomerEvent(customer=customer, actor=actor, kind=kind, data=data or {})
    extra = {k: v for k, v in (data or {}).items() if k != "changes"}
    audit = {
        "action": audit_action,
        "actor": actor,
        "target": customer,
        "changes": (data or {}).get("changes"),
        "data": {"kind": kind, **extra},
    }
    return event, audit


def customer_created_event(*, customer: Customer, actor: Any) -> CustomerEvent:
    return _event(customer=customer, actor=actor, kind="customer.created", audit_action="customer.create")


def customer_updated_event(*, customer: Customer, actor: Any, changes: dict[str, list[Any]]) -> CustomerEvent:
    """``changes`` maps a field to ``[before, after]`` as display strings."""
    return _event(
        customer=customer,
        actor=actor,
        kind="customer.updated",
        audit_action="customer.update",
        data={"changes": changes},
    )


def customer_archived_event(*, customer: Customer, actor: Any) -> CustomerEvent:
    return _event(customer=customer, actor=actor, kind="customer.archived", audit_action="customer.archive")


def customer_restored_event(*, customer: Customer, actor: Any) -> CustomerEvent:
    return _event(customer=customer, actor=actor, kind="customer.restored", audit_action="customer.restore")


CLAIMED, RELEASED, TRANSFERRED = "customer.claimed", "customer.released", "customer.transferred"
OWNER_EVENT_KINDS = (CLAIMED, RELEASED, TRANSFERRED)


def _person(user: Any) -> dict[str, Any] | None:
    # The name is kept as it was, so the history still reads right after a colleague is renamed or leaves.
    return None if user is None else {"id": user.pk, "name": str(user)}


def customer_owner_changed_event(
    *,
    customer: Customer,
    actor: Any,
    kind: str,
    from_user: Any,
    to_user: Any,
    reason: str = "",
    import_id: int | None = None,
    undo: bool = False,
) -> CustomerEvent:
    """A claim from the shared pool, a release to it, or a transfer (also a bulk assignment, and a
    sheet's owner column: ``import_id``, or that import's ``undo``). It goes to the timeline and, as
    ``customer.assign``, to the audit log."""
    event, audit = customer_owner_changed_unsaved(
        customer=customer,
        actor=actor,
        kind=kind,
        from_user=from_user,
        to_user=to_user,
        reason=reason,
        import_id=import_id,
        undo=undo,
    )
    event.save()
    audit_record(**audit)
    return event


def customer_owner_changed_unsaved(
    *,
    customer: Customer,
    actor: Any,
    kind: str,
    from_user: Any,
    to_user: Any,
    reason: str = "",
    import_id: int | None = None,
    undo: bool = False,
) -> tuple[CustomerEvent, dict[str, Any]]:
    """:func:`customer_owner_changed_event` for a caller that saves many together: the event, not saved,
    and its audit record as ``audit_record``'s arguments."""
    if kind not in OWNER_EVENT_KINDS:
        raise ValueError(kind)
    data: dict[str, Any] = {"from": _person(from_user), "to": _person(to_user), "reason": reason}
    if import_id is not None:
        data["import"] = import_id
        data["undo"] = undo
    return _event_unsaved(
        customer=customer, actor=actor, kind=kind, audit_action="customer.assign", data=data
    )


def customer_stage_changed_event(*, customer: Customer, actor: Any, before: str, after: str) -> CustomerEvent:
    """The lifecycle stage moved by the shop's rules, as an order or refund changed the figures."""
    return _event(customer=customer, actor=actor, **_stage_changed(before, after))


def customer_stage_changed_unsaved(
    *, customer: Customer, actor: Any, before: str, after: str
) -> tuple[CustomerEvent, dict[str, Any]]:
    """:func:`customer_stage_changed_event` for a caller that saves many together: the event, not saved,
    and its audit record as ``audit_record``'s arguments."""
    return _event_unsaved(customer=customer, actor=actor, **_stage_changed(before, after))


def customer_stage_put_back_event(
    *, customer: Customer, actor: Any, before: str, after: str, import_id: int
) -> CustomerEvent:
    """An import undone put back the lifecycle stage its orders had moved."""
    return _event(
        customer=customer,
        actor=actor,
        kind="customer.import_undone",
        audit_action="customer.stage",
        data={"import": import_id, "from": before, "to": after, "auto": False},
    )


def _stage_changed(before: str, after: str) -> dict[str, Any]:
    return {
        "kind": "customer.stage_changed",
        "audit_action": "customer.stage",
        "data": {"from": before, "to": after, "auto": True},
    }
