"""Contact records (沟通记录): one conversation with a customer, what was said, and what to do next.

A record is a log: written once, never edited or deleted through Kebu (a correction is a new record),
so what the shop knew on a day stays as it was. A next step with a due date is also a follow-up
(``FollowUp(kind=NEXT_STEP)``) assigned to whoever logged it, so it shows on their today page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.core.forms import EARLIEST_DATE, LATEST_DATE
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_is_visible
from kebu.engagement.attachments import (
    attachment_audit,
    attachment_store,
    attachments_check,
    files_removed_on_error,
)
from kebu.engagement.models import (
    ContactChannel,
    ContactRecord,
    Direction,
    FollowUp,
    FollowUpKind,
    Ticket,
)

ADD_CONTACT = "engagement.add_contactrecord"
ADD_FOLLOWUP = "engagement.add_followup"
SUMMARY_MAX = 4000
NEXT_STEP_MAX = 200  # ContactRecord.next_step and FollowUp.title
# A phone's clock a few minutes ahead of the server's must not make "just now" a time in the future.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class ContactInput:
    channel: str
    summary: str
    direction: str = Direction.OUTBOUND
    occurred_at: datetime | None = None  # now when left out
    next_step: str = ""
    next_step_due: date | None = None
    ticket: Ticket | None = None  # the ticket this conversation was about, of the same customer


def _add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


def _clean(
    data: ContactInput, *, customer: Customer, errors: dict[str, list[Any]]
) -> tuple[str, str, datetime]:
    if customer.archived_at is not None:
        _add(errors, "customer", _("This customer is archived: restore them before logging a contact."))
    if data.channel not in ContactChannel.values:
        _add(errors, "channel", _("Choose how you were in touch (phone, WeChat, …)."))
    if data.direction not in Direction.values:
        _add(errors, "direction", _("Choose who got in touch: the customer or the shop."))
    summary = (data.summary or "").strip()
    if not summary:
        _add(errors, "summary", _("Write what was said."))
    elif len(summary) > SUMMARY_MAX:
        _add(
            errors,
            "summary",
            _("The summary has %(count)d characters; at most %(max)d fit.")
            % {"count": len(summary), "max": SUMMARY_MAX},
        )
    now = timezone.now()
    occurred_at = data.occurred_at or now
    if timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at)
    if occurred_at > now + CLOCK_SKEW:
        _add(errors, "occurred_at", _("The time is in the future; enter when the conversation took place."))
    elif occurred_at.date() < EARLIEST_DATE:
        _add(errors, "occurred_at", _("Enter a time after %(first)s.") % {"first": EARLIEST_DATE})
    next_step = (data.next_step or "").strip()
    if len(next_step) > NEXT_STEP_MAX:
        _add(
            errors,
            "next_step",
            _("The next step has %(count)d characters; at most %(max)d fit.")
            % {"count": len(next_step), "max": NEXT_STEP_MAX},
        )
    due = data.next_step_due
    if due is not None:
        if not next_step:
            _add(errors, "next_step", _("Say what the next step is, or clear its due date."))
        if due < timezone.localdate():
            _add(
                errors,
                "next_step_due",
                _("The due date %(day)s has passed; choose today or a later day.") % {"day": due.isoformat()},
            )
        elif due > LATEST_DATE:
            _add(errors, "next_step_due", _("Enter a due date before %(last)s.") % {"last": LATEST_DATE})
    if data.ticket is not None and data.ticket.customer_id != customer.pk:
        _add(errors, "ticket", _("That ticket is another customer's."))
    return summary, next_step, occurred_at


@transaction.atomic(durable=True)
def contact_log(
    *, actor: Any, customer: Customer, data: ContactInput, files: Sequence[Any] = ()
) -> ContactRecord:
    """Log a conversation with ``customer``, its attachments and its next step, all or nothing.

    Guarantees: the actor may see the customer (else ``NotFound``) and has ``add_contactrecord``
    (else ``Forbidden``); the customer is not archived; the summary is 1–4000 characters; the time is
    not in the future (five minutes of clock skew allowed); a due date has a next step and is today or
    later, and only for an actor who has ``add_followup`` (it becomes their follow-up); at most five
    attachments, each a picture or PDF by its bytes and within the size limit. Every problem is
    reported at once in ``ValidationFailed.field_errors`` and then nothing is written: no record, no
    follow-up, no file. A next step with a due date creates exactly one
    ``FollowUp(kind=NEXT_STEP)`` assigned to the actor. Audited as ``contact.create``."""
    if not customer_is_visible(user=actor, customer=customer):
        raise NotFound()
    if not (getattr(actor, "is_active", False) and actor.has_perm(ADD_CONTACT)):
        raise Forbidden(_("Your role may not log contacts."))
    errors: dict[str, list[Any]] = {}
    summary, next_step, occurred_at = _clean(data, customer=customer, errors=errors)
    if data.next_step_due is not None and not actor.has_perm(ADD_FOLLOWUP):
        _add(
            errors,
            "next_step_due",
            _("Your role may not add follow-ups: clear the due date to keep the next step on the record."),
        )
    checked = []
    try:
        checked = attachments_check(list(files))
    except ValidationFailed as exc:
        for key, messages in exc.field_errors.items():
            for message in messages:
                _add(errors, key, message)
    if errors:
        raise ValidationFailed(
            _("The contact was not saved; correct the marked fields."), field_errors=errors
        )

    with files_removed_on_error():
        record = ContactRecord.objects.create(
            customer=customer,
            channel=data.channel,
            direction=data.direction,
            occurred_at=occurred_at,
            summary=summary,
            next_step=next_step,
            next_step_due=data.next_step_due,
            ticket=data.ticket,
            created_by=actor,
        )
        attachments = [
            attachment_store(upload=item.upload, checked=item, actor=actor, contact=record)
            for item in checked
        ]
        followup = None
        if next_step and data.next_step_due is not None:
            followup = FollowUp.objects.create(
                customer=customer,
                kind=FollowUpKind.NEXT_STEP,
                contact=record,
                assignee=actor,
                due_on=data.next_step_due,
                title=next_step,
                created_by=actor,
            )
        # The summary stays out of the log: it is the customer's words, kept encrypted on the record.
        audit_record(
            action="contact.create",
            actor=actor,
            target=record,
            data={
                "customer": customer.customer_no,
                "channel": record.channel,
                "direction": record.direction,
                "occurred_at": record.occurred_at,
                "next_step_due": record.next_step_due,
                "followup": followup.pk if followup else None,
                "attachments": attachment_audit(attachments),
            },
        )
    return record
