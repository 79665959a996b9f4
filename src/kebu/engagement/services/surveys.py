"""Surveys (满意度调查): the builder, personal links, and the customer's answer.

- A survey is a title, an introduction, a thank-you and a few questions: NPS (0–10), CSAT (1–5), one
  choice, several choices, text. Once a survey has answers its questions cannot be removed and their
  type cannot change (the answers would lose their meaning); texts may be edited, options added, and
  new questions added as optional ones.
- A link (``SurveyInvitation``) is made for one customer, optionally about an order or a ticket. Its URL
  carries a signed token (``selectors.surveys.invitation_token``); it expires after the survey's
  ``link_valid_days``. A customer has at most one open link (not answered, not expired) per survey and
  order: asking again gives that link back.
- An answer is written whole or not at all. The invitation is claimed with a conditional UPDATE
  (``responded_at IS NULL``) and the response is unique per invitation, so a second submit of the same
  link (double tap, back button, two tabs, two servers) writes nothing more.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Exists, Max, OuterRef, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Conflict, ValidationFailed
from kebu.core.text import list_join
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_visible_queryset, purchases_visible
from kebu.engagement.models import (
    Answer,
    Question,
    QuestionKind,
    Survey,
    SurveyInvitation,
    SurveyResponse,
    Ticket,
)
from kebu.engagement.selectors.surveys import CHOICE_KINDS, invitation_open_exists, survey_has_responses
from kebu.orders.models import Order, OrderStatus

MAX_QUESTIONS = 30
MIN_OPTIONS, MAX_OPTIONS = 2, 20
OPTION_MAX_LENGTH = 100
TEXT_ANSWER_MAX = 2000
MAX_BATCH = 5000
# Orders read per query when looking for the customers of recent deliveries.
CANDIDATE_PAGE = 2000
SCORE_RANGES: dict[str, tuple[int, int]] = {QuestionKind.NPS: (0, 10), QuestionKind.CSAT: (1, 5)}


class SurveyClosed(Conflict):
    """The survey no longer accepts answers (or new links)."""

    code = "survey_closed"


class LinkExpired(Conflict):
    code = "link_expired"


class AlreadyAnswered(Conflict):
    code = "already_answered"


def _add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


# --- surveys -----------------------------------------------------------------------------------------


def _survey_clean(title: str, intro: str, thanks: str, link_valid_days: Any) -> tuple[str, str, str, int]:
    errors: dict[str, list[Any]] = {}
    title, intro, thanks = (title or "").strip(), (intro or "").strip(), (thanks or "").strip()
    if not title:
        _add(errors, "title", _("Give the survey a title."))
    elif len(title) > 120:
        _add(errors, "title", _("The title can be at most 120 characters."))
    if len(intro) > 1000:
        _add(errors, "intro", _("The introduction can be at most 1000 characters."))
    if len(thanks) > 300:
        _add(errors, "thanks", _("The thank-you message can be at most 300 characters."))
    try:
        days = int(link_valid_days)
    except (TypeError, ValueError):
        days = 0
    if not 1 <= days <= 365:
        _add(errors, "link_valid_days", _("Links are valid for 1 to 365 days."))
    if errors:
        raise ValidationFailed(_("The survey was not saved; correct the marked fields."), field_errors=errors)
    return title, intro, thanks, days


@transaction.atomic
def survey_create(
    *, actor: Any, title: str, intro: str = "", thanks: str = "", link_valid_days: Any = 14
) -> Survey:
    """A new survey, accepting answers, without questions yet."""
    title, intro, thanks, days = _survey_clean(title, intro, thanks, link_valid_days)
    survey = Survey.objects.create(
        title=title, intro=intro, thanks=thanks, link_valid_days=days, created_by=actor
    )
    audit_record(action="survey.create", actor=actor, target=survey, data={"title": title})
    return survey


@transaction.atomic
def survey_update(
    *, actor: Any, survey: Survey, title: str, intro: str, thanks: str, link_valid_days: Any
) -> Survey:
    """Change the survey's texts and how long new links stay valid (links made already keep theirs)."""
    title, intro, thanks, days = _survey_clean(title, intro, thanks, link_valid_days)
    before = Survey.objects.get(pk=survey.pk)
    Survey.objects.filter(pk=survey.pk).update(title=title, intro=intro, thanks=thanks, link_valid_days=days)
    survey.refresh_from_db()
    changes = {
        name: [getattr(before, name), getattr(survey, name)]
        for name in ("title", "intro", "thanks", "link_valid_days")
        if getattr(before, name) != getattr(survey, name)
    }
    audit_record(action="survey.update", actor=actor, target=survey, changes=changes)
    return survey


@transaction.atomic
def survey_set_active(*, actor: Any, survey: Survey, is_active: bool) -> Survey:
    """Close a survey (its links stop taking answers, none can be made) or reopen it."""
    Survey.objects.filter(pk=survey.pk).update(is_active=bool(is_active))
    survey.refresh_from_db()
    audit_record(action="survey.reopen" if is_active else "survey.close", actor=actor, target=survey)
    return survey


# --- questions ---------------------------------------------------------------------------------------


def _options_clean(kind: str, choices: Any, errors: dict[str, list[Any]]) -> list[str]:
    if kind not in CHOICE_KINDS:
        return []
    if isinstance(choices, str):
        choices = choices.splitlines()
    options = [str(option).strip() for option in (choices or [])]
    options = [option for option in options if option]
    if len(options) < MIN_OPTIONS or len(options) > MAX_OPTIONS:
        _add(
            errors,
            "choices",
            _("A choice question needs %(min)d to %(max)d options, one per line.")
            % {"min": MIN_OPTIONS, "max": MAX_OPTIONS},
        )
    if len({option.casefold() for option in options}) != len(options):
        _add(errors, "choices", _("Each option may appear only once."))
    if any(len(option) > OPTION_MAX_LENGTH for option in options):
        _add(
            errors, "choices", _("An option can be at most %(max)d characters.") % {"max": OPTION_MAX_LENGTH}
        )
    return options


def _question_clean(kind: str, text: str, choices: Any) -> tuple[str, list[str]]:
    errors: dict[str, list[Any]] = {}
    text = (text or "").strip()
    if kind not in QuestionKind.values:
        _add(errors, "kind", _("Choose the type of question."))
    if not text:
        _add(errors, "text", _("Write the question."))
    elif len(text) > 300:
        _add(errors, "text", _("The question can be at most 300 characters."))
    options = _options_clean(kind, choices, errors)
    if errors:
        raise ValidationFailed(
            _("The question was not saved; correct the marked fields."), field_errors=errors
        )
    return text, options


@transaction.atomic
def question_add(
    *, actor: Any, survey: Survey, kind: str, text: str, required: bool = True, choices: Any = ()
) -> Question:
    """Add a question at the end. A survey that has answers takes only optional new questions: the
    customers who answered already were never asked it."""
    text, options = _question_clean(kind, text, choices)
    count = survey.questions.count()
    if count >= MAX_QUESTIONS:
        raise ValidationFailed(
            _("A survey can have at most %(max)d questions: keep it short.") % {"max": MAX_QUESTIONS}
        )
    if required and survey_has_responses(survey):
        message = _(
            "This survey has answers already: a new question must be optional, since those who answered "
            "were not asked it."
        )
        raise ValidationFailed(message, field_errors={"required": [message]})
    last = survey.questions.aggregate(last=Max("position"))["last"]
    question = Question.objects.create(
        survey=survey,
        position=0 if last is None else last + 1,
        kind=kind,
        text=text,
        required=bool(required),
        choices=options,
    )
    audit_record(
        action="survey.question_add", actor=actor, target=survey, data={"question": question.pk, "kind": kind}
    )
    return question


@transaction.atomic
def question_update(
    *, actor: Any, question: Question, kind: str, text: str, required: bool, choices: Any = ()
) -> Question:
    """Edit a question. Once the survey has answers, its type stays and its options may only be added
    to (an answer keeps the text of the option chosen: renaming or removing one would orphan it)."""
    question = Question.objects.select_related("survey").get(pk=question.pk)
    text, options = _question_clean(kind, text, choices)
    if survey_has_responses(question.survey):
        errors: dict[str, list[Any]] = {}
        if kind != question.kind:
            _add(
                errors,
                "kind",
                _(
                    "This survey has answers: changing the question's type would orphan them. "
                    "Add a new question instead."
                ),
            )
        missing = [option for option in question.choices if option not in options]
        if kind in CHOICE_KINDS and kind == question.kind and missing:
            _add(
                errors,
                "choices",
                _("This survey has answers: options cannot be removed or renamed (%(options)s), only added.")
                % {"options": list_join(missing)},
            )
        if errors:
            raise ValidationFailed(_("The question was not saved."), field_errors=errors)
    before = {
        "kind": question.kind,
        "text": question.text,
        "required": question.required,
        "choices": question.choices,
    }
    Question.objects.filter(pk=question.pk).update(
        kind=kind, text=text, required=bool(required), choices=options
    )
    question.refresh_from_db()
    after = {
        "kind": question.kind,
        "text": question.text,
        "required": question.required,
        "choices": question.choices,
    }
    audit_record(
        action="survey.question_update",
        actor=actor,
        target=question.survey,
        changes={k: [before[k], after[k]] for k in before if before[k] != after[k]},
        data={"question": question.pk},
    )
    return question


@transaction.atomic
def question_remove(*, actor: Any, question: Question) -> None:
    """Remove a question from a survey nobody has answered yet."""
    survey = question.survey
    if survey_has_responses(survey):
        raise ValidationFailed(
            _(
                "This survey has answers: removing a question would orphan them. Close the survey and "
                "make a new one, or leave the question in."
            )
        )
    question_id = question.pk
    question.delete()
    _renumber(survey)
    audit_record(action="survey.question_remove", actor=actor, target=survey, data={"question": question_id})


def _renumber(survey: Survey, order: Sequence[int] | None = None) -> None:
    ids = (
        list(order)
        if order is not None
        else list(survey.questions.order_by("position", "id").values_list("pk", flat=True))
    )
    for position, question_id in enumerate(ids):
        Question.objects.filter(pk=question_id).exclude(position=position).update(position=position)


@transaction.atomic
def question_move(*, actor: Any, question: Question, direction: str) -> Question:
    """Move a question one place up or down (at the ends it stays where it is)."""
    if direction not in ("up", "down"):
        raise ValidationFailed(
            _("Move a question up or down."), field_errors={"direction": [_("Up or down.")]}
        )
    survey = question.survey
    ids = list(survey.questions.order_by("position", "id").values_list("pk", flat=True))
    index = ids.index(question.pk)
    target = index - 1 if direction == "up" else index + 1
    if 0 <= target < len(ids):
        ids[index], ids[target] = ids[target], ids[index]
        _renumber(survey, ids)
        audit_record(
            action="survey.question_move",
            actor=actor,
            target=survey,
            data={"question": question.pk, "direction": direction},
        )
    question.refresh_from_db()
    return question


# --- links -------------------------------------------------------------------------------------------


def _new_invitation(
    *, actor: Any, survey: Survey, customer_id: int, order_id: int | None, ticket_id: int | None, now: Any
) -> SurveyInvitation:
    return SurveyInvitation(
        survey=survey,
        customer_id=customer_id,
        order_id=order_id,
        ticket_id=ticket_id,
        nonce=secrets.token_urlsafe(16),
        created_at=now,
        expires_at=now + timedelta(days=survey.link_valid_days),
        created_by=actor,
    )


def _survey_takes_links(survey: Survey) -> None:
    survey = Survey.objects.get(pk=survey.pk)
    if not survey.is_active:
        raise SurveyClosed(_("This survey is closed: reopen it to send links."))
    if not survey.questions.exists():
        raise ValidationFailed(_("Add a question to the survey before sending it."))


@transaction.atomic
def invitation_create(
    *,
    actor: Any,
    survey: Survey,
    customer: Customer,
    order: Order | None = None,
    ticket: Ticket | None = None,
) -> tuple[SurveyInvitation, bool]:
    """A personal link for ``customer`` (whom the caller has checked ``actor`` may see), and whether it
    is new: an open link to the same survey about the same order is given back instead of a second one.
    Refused for an archived customer, a closed survey, and an order or ticket of someone else."""
    _survey_takes_links(survey)
    errors: dict[str, list[Any]] = {}
    if customer.archived_at is not None:
        _add(errors, "customer", _("This customer is archived: restore the customer to send a survey."))
    if order is not None and order.customer_id != customer.pk:
        _add(errors, "order", _("Choose one of this customer's orders."))
    if ticket is not None and ticket.customer_id != customer.pk:
        _add(errors, "ticket", _("Choose one of this customer's tickets."))
    if errors:
        raise ValidationFailed(_("No link was made."), field_errors=errors)
    existing = invitation_open_exists(
        survey=survey, customer_id=customer.pk, order_id=order.pk if order else None
    )
    if existing is not None:
        return existing, False
    invitation = _new_invitation(
        actor=actor,
        survey=survey,
        customer_id=customer.pk,
        order_id=order.pk if order else None,
        ticket_id=ticket.pk if ticket else None,
        now=timezone.now(),
    )
    invitation.save()
    audit_record(
        action="survey.invite",
        actor=actor,
        target=invitation,
        data={"survey": survey.pk, "customer": customer.customer_no, "order": order.pk if order else None},
    )
    return invitation, True


@dataclass
class BatchResult:
    created: list[SurveyInvitation] = field(default_factory=list)
    created_at: Any = None
    already_open: int = 0
    archived: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


def _numbers_clean(text: str | Iterable[str]) -> list[str]:
    raw = (
        text.replace(",", "\n").replace("，", "\n").replace(";", "\n").split()
        if isinstance(text, str)
        else text
    )
    seen: dict[str, None] = {}
    for item in raw:
        number = str(item).strip().upper()
        if number:
            seen.setdefault(number[:20], None)
    return list(seen)


def _delivered_orders(*, actor: Any, days: int) -> dict[int, int] | None:
    """Per visible, unarchived customer, the order they received most recently in the last ``days``
    days (of the orders ``actor`` may see); None as soon as that is more than ``MAX_BATCH`` customers.

    Read newest delivery first along the partial index ``order_delivered`` in pages with a LIMIT, and
    stopped at the ``MAX_BATCH + 1``-th customer, so a shop with millions of orders is not scanned in a
    web request. Pages rather than ``.iterator()``: on PostgreSQL outside a transaction a server-side
    cursor is declared WITH HOLD, which computes the whole result before the first row. Every delivered
    or completed order has ``delivered_at`` (the order services set it for both), so it alone bounds
    the read."""
    # The orders' own rule (``order_visible_queryset``): none without ``orders.view_order``, else those
    # of the customers one may see. Someone who may not see orders must not learn who received one.
    if not purchases_visible(user=actor):
        return {}
    since = timezone.now() - timedelta(days=days)
    # The customer is checked by a correlated EXISTS (a primary-key lookup per order), and the status
    # here in Python: an IN over the customers or the statuses would let the planner pick
    # ``order_customer`` or ``order_status`` and read every order to sort them (SQLite does, without
    # ANALYZE statistics). Each page is one range of ``order_delivered``, read in its order.
    customers = customer_visible_queryset(user=actor).filter(
        pk=OuterRef("customer_id"), archived_at__isnull=True
    )
    rows = (
        Order.objects.filter(delivered_at__gte=since)
        .filter(Exists(customers))
        .order_by("-delivered_at", "-id")
        .values_list("delivered_at", "pk", "customer_id", "status")
    )
    received = {OrderStatus.DELIVERED, OrderStatus.COMPLETED}
    latest: dict[int, int] = {}
    page = rows
    while True:
        chunk = list(page[:CANDIDATE_PAGE])
        for _delivered_at, order_id, customer_id, status in chunk:
            if status not in received:
                continue
            latest.setdefault(customer_id, order_id)
            if len(latest) > MAX_BATCH:
                return None
        if len(chunk) < CANDIDATE_PAGE:
            return latest
        last_at, last_id = chunk[-1][0], chunk[-1][1]
        page = rows.filter(delivered_at__lte=last_at).exclude(delivered_at=last_at, pk__gte=last_id)


def _numbered_customers(
    *, actor: Any, numbers: list[str], result: BatchResult
) -> list[tuple[int, int | None]]:
    """The visible, unarchived customers among ``numbers``; the others noted in ``result``."""
    found = {
        number: (pk, archived_at)
        for number, pk, archived_at in customer_visible_queryset(user=actor)
        .filter(customer_no__in=numbers)
        .values_list("customer_no", "pk", "archived_at")
    }
    wanted: list[tuple[int, int | None]] = []
    for number in numbers:
        if number not in found:
            result.not_found.append(number)
        elif found[number][1] is not None:
            result.archived.append(number)
        else:
            wanted.append((found[number][0], None))
    return wanted


def invitations_create_batch(
    *,
    actor: Any,
    survey: Survey,
    customer_numbers: str | Iterable[str] = "",
    delivered_within_days: int | None = None,
) -> BatchResult:
    """Links for many customers at once: those whose numbers are given, or those among the customers
    ``actor`` may see who received an order in the last ``delivered_within_days`` days (the link is
    then about the order received last). Numbers of customers ``actor`` may not see read as not found;
    archived customers are refused; a customer who has an open link already keeps it; more than
    ``MAX_BATCH`` customers are refused whole. The links made share one ``created_at``, which names the
    batch for its export.

    The customers are read before the transaction, which then only writes: on SQLite a transaction
    holds the write lock from its start, and the read can be long. A customer archived in between may
    still get a link, as if the batch had been made a moment earlier."""
    _survey_takes_links(survey)
    result = BatchResult()
    if delivered_within_days is not None:
        days = int(delivered_within_days)
        if not 1 <= days <= 365:
            message = _("Choose 1 to 365 days.")
            raise ValidationFailed(message, field_errors={"delivered_within_days": [message]})
        delivered = _delivered_orders(actor=actor, days=days)
        if delivered is None:
            message = _("At most %(max)d customers at a time.") % {"max": MAX_BATCH}
            raise ValidationFailed(message, field_errors={"delivered_within_days": [message]})
        wanted: list[tuple[int, int | None]] = list(delivered.items())
    else:
        numbers = _numbers_clean(customer_numbers)
        if not numbers:
            message = _("Paste customer numbers, one per line, or choose recent orders.")
            raise ValidationFailed(message, field_errors={"customer_numbers": [message]})
        if len(numbers) > MAX_BATCH:
            message = _("At most %(max)d customers at a time.") % {"max": MAX_BATCH}
            raise ValidationFailed(message, field_errors={"customer_numbers": [message]})
        wanted = _numbered_customers(actor=actor, numbers=numbers, result=result)
    return _invitations_write(
        actor=actor, survey=survey, wanted=wanted, result=result, delivered_within_days=delivered_within_days
    )


@transaction.atomic
def _invitations_write(
    *,
    actor: Any,
    survey: Survey,
    wanted: list[tuple[int, int | None]],
    result: BatchResult,
    delivered_within_days: int | None,
) -> BatchResult:
    _survey_takes_links(survey)
    result.created_at = timezone.now()
    open_keys = set(
        SurveyInvitation.objects.filter(
            survey=survey,
            customer_id__in=[customer_id for customer_id, _order in wanted],
            responded_at__isnull=True,
            expires_at__gt=result.created_at,
        ).values_list("customer_id", "order_id")
    )
    fresh = []
    for customer_id, order_id in wanted:
        if (customer_id, order_id) in open_keys:
            result.already_open += 1
            continue
        fresh.append(
            _new_invitation(
                actor=actor,
                survey=survey,
                customer_id=customer_id,
                order_id=order_id,
                ticket_id=None,
                now=result.created_at,
            )
        )
    result.created = SurveyInvitation.objects.bulk_create(fresh, batch_size=500)
    audit_record(
        action="survey.invite_batch",
        actor=actor,
        target=survey,
        data={
            "created": len(result.created),
            "already_open": result.already_open,
            "archived": len(result.archived),
            "not_found": len(result.not_found),
            "delivered_within_days": delivered_within_days,
        },
    )
    return result


# --- the customer's side -----------------------------------------------------------------------------


def invitation_open(*, invitation: SurveyInvitation) -> None:
    """Note that a person opened the link: called when the page is first posted (answers complete or
    not), never when it is only fetched. Chat apps fetch a pasted link to draw its preview (WeChat
    does), and so do link checkers; a fetch is not a person. Telling them apart by User-Agent is a list
    that is never complete, and a beacon from the page's script counts any previewer that runs scripts
    and misses a phone that does not; a post carries the page's CSRF token, which a preview never sends
    back. The cost: someone who opens the link and leaves without sending anything is not counted. An
    answer notes it too (``response_submit``), so every answered link is an opened one. One
    conditional UPDATE, not audited: it is the customer looking, not anyone changing anything."""
    if invitation.opened_at is None:
        now = timezone.now()
        SurveyInvitation.objects.filter(pk=invitation.pk, opened_at__isnull=True).update(opened_at=now)
        invitation.opened_at = now


def invitation_state_check(invitation: SurveyInvitation) -> None:
    """Whether the link can take an answer now: ``AlreadyAnswered``, ``LinkExpired`` or ``SurveyClosed``
    if not (in that order: a customer who answered is thanked even after the link or survey closed)."""
    if invitation.responded_at is not None:
        raise AlreadyAnswered(_("You have already answered this survey. Thank you!"))
    if invitation.expires_at <= timezone.now():
        raise LinkExpired(_("This link has expired."))
    if not invitation.survey.is_active:
        raise SurveyClosed(_("This survey is no longer accepting answers."))


def _answer_clean(question: Question, raw: Any, errors: dict[str, list[Any]]) -> Answer | None:
    """The answer to ``question`` from what was posted (a string, or a list for several choices), or
    None when it was left empty. Messages go under ``q<id>``."""
    key = f"q{question.pk}"
    values = [str(v) for v in raw] if isinstance(raw, list | tuple) else ([] if raw is None else [str(raw)])
    values = [v.strip() for v in values if v is not None and str(v).strip()]
    if question.kind == QuestionKind.TEXT:
        text = (str(raw[0]) if isinstance(raw, list | tuple) and raw else str(raw or "")).strip()
        if len(text) > TEXT_ANSWER_MAX:
            _add(errors, key, _("Please keep the answer to %(max)d characters.") % {"max": TEXT_ANSWER_MAX})
            return None
        if not text:
            if question.required:
                _add(errors, key, _("Please answer this question."))
            return None
        return Answer(question=question, text=text.replace("\x00", ""))
    if not values:
        if question.required:
            _add(errors, key, _("Please answer this question."))
        return None
    if question.kind in SCORE_RANGES:
        low, high = SCORE_RANGES[question.kind]
        if (
            len(values) != 1
            or not values[0].isascii()
            or not values[0].isdigit()
            or not low <= int(values[0]) <= high
        ):
            _add(errors, key, _("Choose a score from %(low)d to %(high)d.") % {"low": low, "high": high})
            return None
        return Answer(question=question, score=int(values[0]))
    offered = [str(option) for option in question.choices]
    if any(value not in offered for value in values) or len(set(values)) != len(values):
        _add(errors, key, _("Choose among the options shown."))
        return None
    if question.kind == QuestionKind.SINGLE and len(values) != 1:
        _add(errors, key, _("Choose one option."))
        return None
    # Stored in the question's order, so that equal sets are equal values (the results group them).
    return Answer(question=question, choices=[option for option in offered if option in values])


@transaction.atomic
def response_submit(*, invitation: SurveyInvitation, answers: Mapping[int, Any]) -> SurveyResponse:
    """The customer's answer to the link, written whole or not at all. ``answers`` maps a question id to
    what was posted. Refused, writing nothing: a link answered already (``AlreadyAnswered``, also when
    two submits race), expired (``LinkExpired``), a closed survey (``SurveyClosed``), and answers that are
    missing where required or out of range (``ValidationFailed`` with a message per ``q<id>``)."""
    invitation = SurveyInvitation.objects.select_related("survey").get(pk=invitation.pk)
    invitation_state_check(invitation)
    errors: dict[str, list[Any]] = {}
    rows = []
    for question in invitation.survey.questions.order_by("position", "id"):
        answer = _answer_clean(question, answers.get(question.pk), errors)
        if answer is not None:
            rows.append(answer)
    if errors:
        raise ValidationFailed(_("Some answers need another look."), field_errors=errors)
    now = timezone.now()
    # The claim: of two submits at once, one updates the row and the other finds it answered.
    claimed = SurveyInvitation.objects.filter(pk=invitation.pk, responded_at__isnull=True).update(
        responded_at=now, opened_at=Coalesce("opened_at", Value(now))
    )
    if not claimed:
        raise AlreadyAnswered(_("You have already answered this survey. Thank you!"))
    try:
        with transaction.atomic():
            response = SurveyResponse.objects.create(
                invitation=invitation,
                survey_id=invitation.survey_id,
                customer_id=invitation.customer_id,
                submitted_at=now,
            )
    except IntegrityError as exc:  # the unique invitation: the database's word on "one answer"
        raise AlreadyAnswered(_("You have already answered this survey. Thank you!")) from exc
    for row in rows:
        row.response = response
    Answer.objects.bulk_create(rows)
    audit_record(
        action="survey.respond",
        actor=None,
        target=response,
        data={"survey": invitation.survey_id, "invitation": invitation.pk, "answers": len(rows)},
    )
    return response
