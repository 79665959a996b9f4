"""Tickets and complaints (工单/投诉): open, assign, move along the status flow, note, link after-sales.

The flow (``TRANSITIONS``)::

    new ──► in_progress ◄──► waiting
     │           │              │
     └───────────┴──► resolved ◄┘ ──► closed
                         │              │
                         └── reopen ◄───┘  (back to in_progress, within REOPEN_WINDOW_DAYS of closing)

Every step writes a ``TicketEvent`` (the ticket's history) and an audit entry in the same transaction.
Concurrent edits are refused with ``Conflict`` by a version-checked ``UPDATE … WHERE version = v``:
``select_for_update`` does nothing on SQLite, and the version check works the same on both databases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NoReturn

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kebu.core.services import sequence_next
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_is_visible
from kebu.engagement.models import (
    SlaPolicy,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketKind,
    TicketPriority,
    TicketResult,
    TicketStatus,
)
from kebu.orders.models import AfterSale, AfterSaleKind, Order, OrderLine
from kebu.orders.selectors import aftersale_visible_queryset
from kebu.orders.services import aftersales as aftersale_services

TICKET_NO_SEQUENCE = "ticket_no"
# The hours a category gets when the shop deleted its service level: the model's own defaults.
FALLBACK_FIRST_RESPONSE_HOURS = 4
FALLBACK_RESOLUTION_HOURS = 48
# A closed ticket may be reopened for this long. Later, the customer's problem is a new one: it gets its
# own ticket and SLA, and the old ticket's figures (resolution time, satisfaction) stay as they were.
REOPEN_WINDOW_DAYS = 30
ADD_TICKETS = "engagement.add_ticket"
WORK_TICKETS = "engagement.change_ticket"

S = TicketStatus
TRANSITIONS: dict[str, tuple[str, ...]] = {
    S.NEW: (S.IN_PROGRESS, S.WAITING, S.RESOLVED),
    S.IN_PROGRESS: (S.WAITING, S.RESOLVED),
    S.WAITING: (S.IN_PROGRESS, S.RESOLVED),
    S.RESOLVED: (S.CLOSED, S.IN_PROGRESS),  # back to in_progress is a reopen
    S.CLOSED: (S.IN_PROGRESS,),  # a reopen
}


@dataclass
class TicketInput:
    category: str
    subject: str
    kind: str = TicketKind.COMPLAINT
    priority: str = TicketPriority.NORMAL
    description: str = ""
    order: Order | None = None
    line_ids: Sequence[Any] = field(default_factory=list)
    # None: the customer's owner if they work tickets, else the one opening it.
    assignee: Any = None
    # After-sales of ``order`` the complaint is about (a refund in progress): linked as it opens.
    aftersale_ids: Sequence[Any] = field(default_factory=list)


def _add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


def _label(user: Any) -> str:
    """How a person is named in a ticket's history: kept as text, so it survives the account."""
    return str(user)[:40] if user is not None else ""


def _can_work(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.has_perm(WORK_TICKETS))


def sla_hours(category: str) -> tuple[int, int]:
    """(first response, resolution) hours for ``category``: the shop's policy, else the defaults."""
    policy = SlaPolicy.objects.filter(category=category).first()
    if policy is None:
        return FALLBACK_FIRST_RESPONSE_HOURS, FALLBACK_RESOLUTION_HOURS
    return policy.first_response_hours, policy.resolution_hours


def ticket_no_format(number: int) -> str:
    return f"T{number:06d}"


def ticket_no_next() -> str:
    """The next free ticket number. The sequence row is taken with one UPDATE inside the caller's
    transaction (PostgreSQL's row lock, SQLite's IMMEDIATE write lock), so two tickets opened at once get
    two numbers; a number already taken (an imported ticket) is skipped."""
    while True:
        candidate = ticket_no_format(sequence_next(name=TICKET_NO_SEQUENCE))
        if not Ticket.objects.filter(number=candidate).exists():
            return candidate


def _aftersales_clean(
    actor: Any, order: Order | None, aftersale_ids: Sequence[Any], errors: dict[str, list[Any]]
) -> list[AfterSale]:
    """The after-sales of ``aftersale_ids``, each of ``order`` and one ``actor`` may see; one they may not
    is refused as one of another order, so that no id can be probed."""
    if not aftersale_ids:
        return []
    if order is None:
        _add(errors, "aftersales", _("Choose the order first; the after-sales must be of that order."))
        return []
    try:
        wanted = [int(raw) for raw in aftersale_ids]
    except (TypeError, ValueError):
        _add(errors, "aftersales", _("An after-sale id must be a whole number."))
        return []
    visible = aftersale_visible_queryset(user=actor).filter(order=order, pk__in=wanted)
    found = {a.pk: a for a in visible}
    if len(found) != len(set(wanted)):
        _add(errors, "aftersales", _("Every after-sale must be of order %(no)s.") % {"no": order.order_no})
        return []
    return [found[pk] for pk in dict.fromkeys(wanted)]


def _lines_clean(
    order: Order | None, line_ids: Sequence[Any], errors: dict[str, list[Any]]
) -> list[OrderLine]:
    if not line_ids:
        return []
    if order is None:
        _add(errors, "lines", _("Choose the order first; the lines must be of that order."))
        return []
    wanted: list[int] = []
    for raw in line_ids:
        try:
            wanted.append(int(raw))
        except (TypeError, ValueError):
            _add(errors, "lines", _("A line id must be a whole number."))
            return []
    found = {line.pk: line for line in OrderLine.objects.filter(order=order, pk__in=wanted)}
    if len(found) != len(set(wanted)):
        _add(errors, "lines", _("Every line must be a line of order %(no)s.") % {"no": order.order_no})
        return []
    return [found[pk] for pk in dict.fromkeys(wanted)]


@transaction.atomic
def ticket_open(*, actor: Any, customer: Customer, data: TicketInput) -> Ticket:
    """Open a ticket for ``customer``.

    Guarantees: the actor may see the customer (else ``NotFound``) and has ``add_ticket`` (else
    ``Forbidden``); the customer is not archived; a unique number ``T000123`` even when two are opened at
    once; the first-response and resolution due times from the category's service level (``SlaPolicy``,
    or 4 h / 48 h when the shop has none), the resolution one kept unmoved as ``first_due_at`` for the
    figures; the order, if any, is this customer's and the lines are of that order, as are the
    after-sales it is linked to (``ticket_aftersale_link``, each with its own event and audit entry); an
    assignee who may work tickets (by default the customer's owner, else ``actor``); an "opened" history
    event and an audit entry. Nothing is written when anything is refused."""
    if not customer_is_visible(user=actor, customer=customer):
        raise NotFound()
    if not (getattr(actor, "is_active", False) and actor.has_perm(ADD_TICKETS)):
        raise Forbidden(_("Your role may not open tickets."))
    errors: dict[str, list[Any]] = {}
    if customer.archived_at is not None:
        _add(errors, "customer", _("This customer is archived: restore it first."))
    if data.kind not in TicketKind.values:
        _add(errors, "kind", _("Choose complaint or request."))
    if data.category not in TicketCategory.values:
        _add(errors, "category", _("Choose a category."))
    if data.priority not in TicketPriority.values:
        _add(errors, "priority", _("Choose a priority."))
    subject = (data.subject or "").strip()
    if not subject:
        _add(errors, "subject", _("Enter a subject: what is the ticket about?"))
    elif len(subject) > 120:
        _add(errors, "subject", _("The subject has at most 120 characters."))
    description = (data.description or "").strip()
    if len(description) > 4000:
        _add(errors, "description", _("The description has at most 4000 characters."))
    order = data.order
    if order is not None and order.customer_id != customer.pk:
        _add(errors, "order", _("Order %(no)s is not this customer's.") % {"no": order.order_no})
        order = None
    lines = _lines_clean(order, data.line_ids, errors) if "order" not in errors else []
    aftersales = _aftersales_clean(actor, order, data.aftersale_ids, errors) if "order" not in errors else []
    assignee = data.assignee
    if assignee is not None and not _can_work(assignee):
        _add(errors, "assignee", _("%(name)s cannot work on tickets.") % {"name": assignee})
    if errors:
        raise ValidationFailed(
            _("The ticket was not opened; correct the marked fields."), field_errors=errors
        )
    if assignee is None:
        assignee = customer.owner if _can_work(customer.owner) else actor

    now = timezone.now()
    first_hours, resolve_hours = sla_hours(data.category)
    due_at = now + timedelta(hours=resolve_hours)
    ticket = Ticket.objects.create(
        number=ticket_no_next(),
        customer=customer,
        kind=data.kind,
        category=data.category,
        priority=data.priority,
        subject=subject,
        description=description,
        order=order,
        assignee=assignee,
        opened_at=now,
        first_response_due_at=now + timedelta(hours=first_hours),
        due_at=due_at,
        first_due_at=due_at,
        created_at=now,
        updated_at=now,
        created_by=actor,
    )
    if lines:
        ticket.lines.set(lines)
    TicketEvent.objects.create(
        ticket=ticket, kind="opened", to_value=TicketStatus.NEW, actor=actor, created_at=now
    )
    audit_record(
        action="ticket.open",
        actor=actor,
        target=ticket,
        data={
            "number": ticket.number,
            "customer": customer.customer_no,
            "category": ticket.category,
            "order": order.order_no if order else "",
            "assignee": _label(assignee),
        },
    )
    for aftersale in aftersales:
        ticket_aftersale_link(actor=actor, ticket=ticket, aftersale=aftersale)
    return ticket


def _fresh(ticket: Ticket, expected_version: int) -> Ticket:
    fresh = Ticket.objects.get(pk=ticket.pk)
    if fresh.version != expected_version:
        raise Conflict(_("Someone else changed this ticket just now. Reload it and try again."))
    return fresh


def _save(fresh: Ticket, expected_version: int, **values: Any) -> Ticket:
    """Write ``values`` only if nobody changed the ticket since ``expected_version`` was read."""
    updated = Ticket.objects.filter(pk=fresh.pk, version=expected_version).update(
        version=F("version") + 1, updated_at=timezone.now(), **values
    )
    if not updated:
        raise Conflict(_("Someone else changed this ticket just now. Reload it and try again."))
    return Ticket.objects.select_related("customer", "assignee", "order").get(pk=fresh.pk)


def _refuse(key: str, message: Any) -> NoReturn:
    raise ValidationFailed(message, field_errors={key: [message]})


@transaction.atomic
def ticket_transition(
    *,
    actor: Any,
    ticket: Ticket,
    to_status: str,
    note: str = "",
    resolution: str = "",
    result: str = "",
    satisfaction: int | None = None,
    expected_version: int,
) -> Ticket:
    """Move ``ticket`` one step along the flow (``TRANSITIONS``).

    Guarantees: only the steps of the flow are taken; resolving needs a resolution text and a result;
    a satisfaction score (1–5) is taken only when closing, and is optional there; going back to
    ``in_progress`` from resolved or closed is a reopen (``reopened_count`` + 1, resolution, result,
    satisfaction and the resolved/closed times cleared, a fresh working resolution due time from the
    policy, while ``first_due_at``, which the SLA figures read, stays as it was),
    and a ticket closed more than ``REOPEN_WINDOW_DAYS`` ago is not reopened; the first step out of
    ``new`` is the first response, if none was recorded; a history event and an audit entry; a stale
    ``expected_version`` raises ``Conflict`` and changes nothing."""
    fresh = _fresh(ticket, expected_version)
    current = fresh.status
    if to_status not in TicketStatus.values:
        _refuse("to_status", _("Choose a status."))
    if to_status not in TRANSITIONS[current]:
        _refuse(
            "to_status",
            _("A ticket that is “%(current)s” cannot go to “%(to)s”.")
            % {"current": TicketStatus(current).label, "to": TicketStatus(to_status).label},
        )
    note = (note or "").strip()
    resolution = (resolution or "").strip()
    if len(note) > 4000:
        _refuse("note", _("The note has at most 4000 characters."))
    if satisfaction not in (None, "") and to_status != TicketStatus.CLOSED:
        _refuse("satisfaction", _("Customer satisfaction is recorded when the ticket is closed."))
    now = timezone.now()
    values: dict[str, Any] = {"status": to_status}
    reopen = current in (TicketStatus.RESOLVED, TicketStatus.CLOSED) and to_status == TicketStatus.IN_PROGRESS

    if to_status == TicketStatus.RESOLVED:
        errors: dict[str, list[Any]] = {}
        if not resolution:
            _add(errors, "resolution", _("Say how the ticket was resolved."))
        elif len(resolution) > 4000:
            _add(errors, "resolution", _("The resolution has at most 4000 characters."))
        if result not in TicketResult.values:
            _add(errors, "result", _("Choose the result."))
        if errors:
            raise ValidationFailed(
                _("The ticket was not resolved; correct the marked fields."), field_errors=errors
            )
        values.update(resolution=resolution, result=result, resolved_at=now)
    elif to_status == TicketStatus.CLOSED:
        if satisfaction not in (None, ""):
            try:
                score = int(satisfaction)
            except (TypeError, ValueError):
                score = 0
            if not 1 <= score <= 5:
                _refuse("satisfaction", _("Customer satisfaction is a score from 1 to 5."))
            values["satisfaction"] = score
        values["closed_at"] = now
    elif reopen:
        if (
            current == TicketStatus.CLOSED
            and fresh.closed_at
            and now - fresh.closed_at > timedelta(days=REOPEN_WINDOW_DAYS)
        ):
            _refuse(
                "to_status",
                _("This ticket was closed more than %(days)d days ago; open a new ticket instead.")
                % {"days": REOPEN_WINDOW_DAYS},
            )
        _first, resolve_hours = sla_hours(fresh.category)
        values.update(
            reopened_count=F("reopened_count") + 1,
            resolved_at=None,
            closed_at=None,
            resolution="",
            result="",
            satisfaction=None,
            due_at=now + timedelta(hours=resolve_hours),
        )
    if fresh.first_responded_at is None and current == TicketStatus.NEW:
        values["first_responded_at"] = now

    saved = _save(fresh, expected_version, **values)
    event_note = note or (resolution if to_status == TicketStatus.RESOLVED else "")
    TicketEvent.objects.create(
        ticket=saved,
        kind="reopened" if reopen else "status",
        from_value=current,
        to_value=to_status,
        note=event_note,
        actor=actor,
        created_at=now,
    )
    data: dict[str, Any] = {"from": current, "to": to_status}
    if to_status == TicketStatus.RESOLVED:
        data["result"] = result
    if "satisfaction" in values:
        data["satisfaction"] = values["satisfaction"]
    audit_record(
        action="ticket.reopen" if reopen else "ticket.transition", actor=actor, target=saved, data=data
    )
    return saved


@transaction.atomic
def ticket_assign(*, actor: Any, ticket: Ticket, assignee: Any, expected_version: int) -> Ticket:
    """Hand ``ticket`` to ``assignee`` (``None``: nobody, back to the unassigned queue).

    Guarantees: the assignee is active and may work tickets; a closed ticket is not reassigned; a
    history event and an audit entry; a stale ``expected_version`` raises ``Conflict``."""
    fresh = _fresh(ticket, expected_version)
    if assignee is not None and not _can_work(assignee):
        _refuse("assignee", _("%(name)s cannot work on tickets.") % {"name": assignee})
    if fresh.status == TicketStatus.CLOSED:
        _refuse("assignee", _("A closed ticket is not reassigned; reopen it first."))
    previous = fresh.assignee
    if (previous.pk if previous else None) == (assignee.pk if assignee else None):
        return Ticket.objects.select_related("customer", "assignee", "order").get(pk=fresh.pk)
    saved = _save(fresh, expected_version, assignee=assignee)
    TicketEvent.objects.create(
        ticket=saved, kind="assigned", from_value=_label(previous), to_value=_label(assignee), actor=actor
    )
    audit_record(
        action="ticket.assign",
        actor=actor,
        target=saved,
        changes={"assignee": [_label(previous), _label(assignee)]},
    )
    return saved


@transaction.atomic
def ticket_note_add(*, actor: Any, ticket: Ticket, note: str) -> TicketEvent:
    """Add a staff note or reply to ``ticket``'s history.

    Guarantees: the note is not empty and at most 4000 characters; the first note on a ticket without a
    first response is its first response (a conditional UPDATE, so two notes at once record one time);
    an audit entry. A note does not need the ticket's version: it changes nothing anyone else edits."""
    text = (note or "").strip()
    if not text:
        _refuse("note", _("Write the note."))
    if len(text) > 4000:
        _refuse("note", _("The note has at most 4000 characters."))
    now = timezone.now()
    event = TicketEvent.objects.create(ticket=ticket, kind="note", note=text, actor=actor, created_at=now)
    Ticket.objects.filter(pk=ticket.pk, first_responded_at__isnull=True).update(first_responded_at=now)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=now)
    audit_record(action="ticket.note", actor=actor, target=ticket, data={"length": len(text)})
    return event


@transaction.atomic
def ticket_aftersale_link(*, actor: Any, ticket: Ticket, aftersale: AfterSale) -> Ticket:
    """Link a return or refund raised from ``ticket`` to it: the ticket lists its after-sales and the
    after-sale its tickets (``AfterSale.tickets``).

    Guarantees: the after-sale is the same customer's, and of the ticket's order when the ticket names
    one; linking twice links once (and writes no second event); a history event and an audit entry."""
    if aftersale.customer_id != ticket.customer_id or (
        ticket.order_id is not None and aftersale.order_id != ticket.order_id
    ):
        _refuse("aftersale", _("The after-sale is not of this ticket's customer and order."))
    if ticket.aftersales.filter(pk=aftersale.pk).exists():
        return ticket
    ticket.aftersales.add(aftersale)
    TicketEvent.objects.create(ticket=ticket, kind="linked", to_value=f"#{aftersale.pk}", actor=actor)
    Ticket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    audit_record(
        action="ticket.aftersale_link",
        actor=actor,
        target=ticket,
        data={"aftersale": aftersale.pk, "kind": aftersale.kind},
    )
    return ticket


@transaction.atomic(durable=True)
def ticket_aftersale_raise(
    *,
    actor: Any,
    ticket: Ticket,
    order: Order,
    kind: str,
    reason: str,
    reason_detail: str = "",
    amount_cny: Any = None,
    lines: Sequence[aftersale_services.AfterSaleLineInput] = (),
    complete_now: bool = False,
) -> AfterSale:
    """Raise a return or refund on ``order`` from ``ticket`` and link the two, all or nothing.

    Guarantees: the actor may work tickets (``change_ticket``), else ``Forbidden`` before anything is
    written; the after-sale is made by the orders services (``aftersale_request``, or ``order_refund``, a
    refund completed at once, when ``complete_now`` and the kind is a refund), which join this
    transaction, and linked by ``ticket_aftersale_link``; a refused after-sale or link leaves neither
    behind (no after-sale, no money reserved on the order, no link). Whether the actor may raise or
    complete after-sales is the caller's check, as for the orders services themselves."""
    if not _can_work(actor):
        raise Forbidden(
            _("Your role may not work on tickets, so an after-sale cannot be raised from this one.")
        )
    if complete_now and kind == AfterSaleKind.REFUND:
        aftersale = aftersale_services.order_refund(
            actor=actor,
            order=order,
            amount_cny=amount_cny,
            reason=reason,
            reason_detail=reason_detail,
            lines=lines,
        )
    else:
        aftersale = aftersale_services.aftersale_request(
            actor=actor,
            order=order,
            kind=kind,
            reason=reason,
            reason_detail=reason_detail,
            amount_cny=amount_cny,
            lines=lines,
        )
    ticket_aftersale_link(actor=actor, ticket=ticket, aftersale=aftersale)
    return aftersale
