"""Follow-ups (回访) by hand, and what is done with any follow-up: done, snooze, reassign, cancel.

Who may act on a follow-up: its assignee, or anyone with ``engagement.change_followup`` who sees its
customer (a manager for the team's, anyone for the shared pool's and the unassigned ones). A step is one
conditional UPDATE on an open follow-up, so two people clicking "done" at once make one done and one clear
"already done". Dates are the shop's days (``timezone.localdate()``, Asia/Shanghai by default)."""

from __future__ import annotations

import logging
import smtplib
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_visible_queryset
from kebu.engagement.models import (
    DigestSent,
    DigestSubscription,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
)

ADD_FOLLOWUP = "engagement.add_followup"
CHANGE_FOLLOWUP = "engagement.change_followup"
VIEW_FOLLOWUP = "engagement.view_followup"
TITLE_MAX = 200
NOTE_MAX = 2000
OUTCOME_MAX = 500
SNOOZE_MAX_DAYS = 365

logger = logging.getLogger(__name__)


def _active(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active)


def user_sees_customer(*, user: Any, customer_id: int) -> bool:
    """Whether ``user`` (active) may see the customer: the one rule of ``customers.selectors``."""
    return _active(user) and customer_visible_queryset(user=user).filter(pk=customer_id).exists()


def followup_may_act(*, actor: Any, followup: FollowUp) -> bool:
    """The assignee, or someone who may change follow-ups and sees the customer."""
    if not _active(actor):
        return False
    if followup.assignee_id is not None and followup.assignee_id == actor.pk:
        return True
    return actor.has_perm(CHANGE_FOLLOWUP) and user_sees_customer(
        user=actor, customer_id=followup.customer_id
    )


def _require_may_act(actor: Any, followup: FollowUp) -> None:
    if not followup_may_act(actor=actor, followup=followup):
        raise Forbidden(_("Only the assignee, or a colleague who may change follow-ups, can do this."))


def _assignee_clean(assignee: Any, customer_id: int, errors: dict[str, list[Any]]) -> None:
    if assignee is None:
        return
    if not getattr(assignee, "is_active", False):
        errors.setdefault("assignee", []).append(_("Choose an active colleague."))
    elif not user_sees_customer(user=assignee, customer_id=customer_id):
        errors.setdefault("assignee", []).append(
            _("%(name)s cannot see this customer; choose a colleague who can.") % {"name": assignee}
        )


def _open_again_error(followup: FollowUp) -> ValidationFailed:
    fresh = FollowUp.objects.filter(pk=followup.pk).values_list("status", flat=True).first()
    if fresh == FollowUpStatus.DONE:
        message = _("This follow-up is already done.")
    elif fresh == FollowUpStatus.CANCELLED:
        message = _("This follow-up was cancelled.")
    else:
        message = _("This follow-up was changed by someone else just now. Reload and try again.")
    return ValidationFailed(message, field_errors={"status": [message]})


def _step(followup: FollowUp, **values: Any) -> FollowUp:
    """Update an open follow-up, or explain why it is not open any more."""
    if not FollowUp.objects.filter(pk=followup.pk, status=FollowUpStatus.OPEN).update(**values):
        raise _open_again_error(followup)
    return FollowUp.objects.select_related("customer", "assignee").get(pk=followup.pk)


@transaction.atomic
def followup_create(
    *,
    actor: Any,
    customer: Customer,
    title: str,
    due_on: date | None,
    assignee: Any = None,
    note: str = "",
) -> FollowUp:
    """A follow-up by hand for a customer the actor sees, due today or later (the shop's day), for an
    active colleague who sees the customer (the actor when none is named). Nothing is written unless
    every field is right."""
    if not _active(actor) or not user_sees_customer(user=actor, customer_id=customer.pk):
        raise NotFound()
    if not actor.has_perm(ADD_FOLLOWUP):
        raise Forbidden(_("You may not add follow-ups."))
    errors: dict[str, list[Any]] = {}
    title = (title or "").strip()
    note = (note or "").strip()
    if not title:
        errors["title"] = [_("Say what is to be done.")]
    elif len(title) > TITLE_MAX:
        errors["title"] = [_("What to do has at most %(n)d characters.") % {"n": TITLE_MAX}]
    if len(note) > NOTE_MAX:
        errors["note"] = [_("A note has at most %(n)d characters.") % {"n": NOTE_MAX}]
    today = timezone.localdate()
    if due_on is None:
        errors["due_on"] = [_("Choose the day it is due.")]
    elif due_on < today:
        errors["due_on"] = [
            _("The due day %(day)s is in the past; choose today (%(today)s) or later.")
            % {"day": due_on.isoformat(), "today": today.isoformat()}
        ]
    elif due_on > today + timedelta(days=3 * 366):
        errors["due_on"] = [_("Choose a day within three years.")]
    if customer.archived_at is not None:
        errors["customer"] = [_("This customer is archived; restore it first.")]
    assignee = actor if assignee is None else assignee
    _assignee_clean(assignee, customer.pk, errors)
    if errors or due_on is None:
        raise ValidationFailed(
            _("The follow-up was not saved; correct the marked fields."), field_errors=errors
        )
    followup = FollowUp.objects.create(
        customer=customer,
        kind=FollowUpKind.MANUAL,
        title=title,
        note=note,
        due_on=due_on,
        assignee=assignee,
        created_by=actor,
    )
    audit_record(
        action="followup.create",
        actor=actor,
        target=followup,
        data={"customer": customer.customer_no, "due_on": due_on, "assignee": str(assignee)},
    )
    return followup


@transaction.atomic
def followup_done(*, actor: Any, followup: FollowUp, outcome: str = "") -> FollowUp:
    """Mark an open follow-up done, with what came of it. A done or cancelled one stays as it was."""
    _require_may_act(actor, followup)
    outcome = (outcome or "").strip()
    if len(outcome) > OUTCOME_MAX:
        message = _("The outcome has at most %(n)d characters.") % {"n": OUTCOME_MAX}
        raise ValidationFailed(message, field_errors={"outcome": [message]})
    followup = _step(
        followup, status=FollowUpStatus.DONE, outcome=outcome, done_at=timezone.now(), done_by=actor
    )
    audit_record(action="followup.done", actor=actor, target=followup, data={"outcome": outcome[:100]})
    return followup


@transaction.atomic
def followup_snooze(
    *, actor: Any, followup: FollowUp, days: int | None = None, until: date | None = None
) -> FollowUp:
    """Move an open follow-up later: by ``days`` from its due day (from today when it is overdue), or to
    the day ``until``, never into the past. Counts the snoozes."""
    _require_may_act(actor, followup)
    today = timezone.localdate()
    if (days is None) == (until is None):
        message = _("Choose how long to snooze, or a day.")
        raise ValidationFailed(message, field_errors={"until": [message]})
    if days is not None:
        if not 1 <= int(days) <= SNOOZE_MAX_DAYS:
            message = _("Snooze 1 to %(n)d days.") % {"n": SNOOZE_MAX_DAYS}
            raise ValidationFailed(message, field_errors={"days": [message]})
        until = max(followup.due_on, today) + timedelta(days=int(days))
    assert until is not None
    if until < today:
        message = _("%(day)s is in the past; choose today (%(today)s) or later.") % {
            "day": until.isoformat(),
            "today": today.isoformat(),
        }
        raise ValidationFailed(message, field_errors={"until": [message]})
    if until > today + timedelta(days=SNOOZE_MAX_DAYS):
        message = _("Choose a day within a year.")
        raise ValidationFailed(message, field_errors={"until": [message]})
    before = followup.due_on
    followup = _step(followup, due_on=until, snoozed_count=F("snoozed_count") + 1)
    audit_record(
        action="followup.snooze",
        actor=actor,
        target=followup,
        changes={"due_on": [before, until]},
    )
    return followup


@transaction.atomic
def followup_reassign(*, actor: Any, followup: FollowUp, assignee: Any) -> FollowUp:
    """Hand an open follow-up to an active colleague who sees its customer."""
    _require_may_act(actor, followup)
    errors: dict[str, list[Any]] = {}
    if assignee is None:
        errors["assignee"] = [_("Choose a colleague.")]
    else:
        _assignee_clean(assignee, followup.customer_id, errors)
    if errors:
        raise ValidationFailed(_("The follow-up was not handed over."), field_errors=errors)
    before = followup.assignee
    followup = _step(followup, assignee=assignee)
    audit_record(
        action="followup.reassign",
        actor=actor,
        target=followup,
        changes={"assignee": [str(before) if before else "", str(assignee)]},
    )
    return followup


@transaction.atomic
def followup_cancel(*, actor: Any, followup: FollowUp, reason: str = "") -> FollowUp:
    """Drop an open follow-up that no longer needs doing (the reason is kept as its outcome)."""
    _require_may_act(actor, followup)
    reason = (reason or "").strip()[:OUTCOME_MAX]
    followup = _step(
        followup, status=FollowUpStatus.CANCELLED, outcome=reason, done_at=timezone.now(), done_by=actor
    )
    audit_record(action="followup.cancel", actor=actor, target=followup, data={"reason": reason[:100]})
    return followup


@transaction.atomic
def digest_subscribe(*, actor: Any, enabled: bool, language: str = "zh-hans") -> DigestSubscription | None:
    """Switch the actor's daily email of follow-ups on (in ``language``) or off. It goes to the email
    address of their account, so one is needed."""
    if not _active(actor):
        raise Forbidden(_("Log in first."))
    if not enabled:
        deleted, _rows = DigestSubscription.objects.filter(user=actor).delete()
        if deleted:
            audit_record(action="followup.digest_off", actor=actor, target=actor)
        return None
    if not (actor.email or "").strip():
        message = _("Your account has no email address; ask an admin to add one.")
        raise ValidationFailed(message, field_errors={"enabled": [message]})
    codes = {code for code, _name in settings.LANGUAGES}
    language = language if language in codes else "zh-hans"
    subscription, _created = DigestSubscription.objects.update_or_create(
        user=actor, defaults={"language": language}
    )
    audit_record(action="followup.digest_on", actor=actor, target=actor, data={"language": language})
    return subscription


def digests_send(*, today: date | None = None) -> int:
    """Email each subscribed, active staff member with an address their overdue and today's open
    follow-ups, in their language, text and HTML; return how many mails went out. Nothing is sent
    without an SMTP host (``KEBU_SMTP_HOST``) or to someone with nothing due.

    At most one digest per person per day: the (person, day) row is committed under a unique constraint
    before the mail is handed to the server, so a second run, or a worker restarted mid-way, finds it and
    sends nothing. A mail the server refuses gives its row back, so a later run that day tries again."""
    from kebu.engagement.selectors.followups import digest_followups

    if not settings.EMAIL_HOST:
        return 0
    today = today or timezone.localdate()
    sent = 0
    subscriptions = (
        DigestSubscription.objects.filter(user__is_active=True).select_related("user").order_by("pk")
    )
    for subscription in subscriptions.iterator(chunk_size=200):
        user = subscription.user
        if not (user.email or "").strip():
            continue
        items = digest_followups(user=user, today=today)
        if not items:
            continue
        try:
            with transaction.atomic():
                record = DigestSent.objects.create(user=user, day=today, followups=len(items))
        except IntegrityError:
            continue  # sent already today
        try:
            _digest_mail(subscription, items, today).send()
        except (OSError, smtplib.SMTPException):
            logger.exception("The follow-up digest for user %s was not sent.", user.pk)
            DigestSent.objects.filter(pk=record.pk).delete()
            continue
        sent += 1
    return sent


def _digest_mail(
    subscription: DigestSubscription, items: list[FollowUp], today: date
) -> EmailMultiAlternatives:
    with translation.override(subscription.language):
        overdue = [f for f in items if f.due_on < today]
        due_today = [f for f in items if f.due_on == today]
        context = {
            "user": subscription.user,
            "today": today,
            "overdue": overdue,
            "due_today": due_today,
            "base_url": settings.KEBU["BASE_URL"],
        }
        subject = _("Kebu: %(n)d follow-ups for %(day)s") % {"n": len(items), "day": today.isoformat()}
        text = render_to_string("engagement/followups/digest_email.txt", context)
        html = render_to_string("engagement/followups/digest_email.html", context)
    mail = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.DEFAULT_FROM_EMAIL, to=[subscription.user.email]
    )
    mail.attach_alternative(html, "text/html")
    return mail
