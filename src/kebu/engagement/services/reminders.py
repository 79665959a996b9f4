"""Turning the follow-up plans into follow-ups, day by day (the periodic task calls this every hour).

For each day from the one after the last :class:`ReminderDay` up to today, and each active plan, the
follow-ups due that day are made, each with a ``key`` naming its plan and cause
(``after_delivery:<plan>:<order>``, ``repurchase:<plan>:<line>``, ``birthday:<plan>:<customer>:<year>``
(``L<year>`` for a lunar year), ``date_field:<plan>:<customer>:<date>``,
``credit_due:<plan>:<order>:<due date>``). The plan is in the key so that two plans of one kind ("call 3
days after delivery", "ask for a review after 15") both remind; the due date is in the credit key so an
extended due date reminds again. Keys that exist already are skipped and the insert ignores a conflict
too, so a repeat, a restart or two workers at once make each follow-up once. Each day is one
transaction that ends by recording its ``ReminderDay``: a crash mid-day leaves that day to be redone.

How far back: on the first run only today is made (an install, or a shop importing years of orders,
should not start with a wall of overdue calls about deliveries long past); after downtime the missed
days are made, up to :data:`CATCH_UP_DAYS` back (a machine off for a season is told in the log, and what
was due before that is left: those calls are no longer worth making).

Every query is set-based per day and plan, over an index where there is one: birthdays are equality
lookups of the exact dates of birth that fall on the day (one per birth year, ~120, on the
``cust_birthday`` index), so no month/day column is needed; lunar birthdays the same, with the solar
dates of that lunar month/day in each birth year. Deliveries are a range of ``orders.delivered_at``
(index ``order_delivered``); a date custom field is a JSON key and cannot be indexed portably."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import CharField, Exists, F, Max, OuterRef, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kebu.core import lunar
from kebu.customers.models import Customer, CustomField, CustomFieldType
from kebu.engagement.models import FollowUp, FollowUpKind, FollowUpPlan, Preference, ReminderDay
from kebu.engagement.titles import reminder_title
from kebu.orders.models import Order, OrderLine, OrderStatus, Product

logger = logging.getLogger(__name__)

CATCH_UP_DAYS = 31
# A delivery recorded late (a weekly marketplace import, a carrier's late scan) still gets its call if
# it is at most this many days late; the unique key keeps the calls already made from being made again.
LATE_DAYS = 7
# A repurchase reminder for a purchase meant to last more than two years is not worth a call.
REPURCHASE_HORIZON_DAYS = 730
# At most this many (quantity, purchase day) pairs per query: SQLite limits an expression's depth.
_TERMS_PER_QUERY = 60
_KEYS_PER_QUERY = 500
# A repurchase counts paid orders that are not cancelled or refunded in full.
_BOUGHT = (OrderStatus.PAID, OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED)
BIRTH_YEARS_BACK = 121


@dataclass
class _Candidate:
    key: str
    customer_id: int
    owner_id: int | None
    # What the title is written from, in the reader's language when shown (kebu.engagement.titles).
    parts: dict[str, Any]
    order_id: int | None = None


def reminders_generate(*, today: date | None = None) -> int:
    """Make the follow-ups of every day not done yet, up to ``today`` (the shop's day by default), and
    return how many were made. Safe to run any number of times, at once or after a crash: each day is
    done once (its ``ReminderDay``), each follow-up made once (its unique ``key``)."""
    today = today or timezone.localdate()
    last = ReminderDay.objects.aggregate(last=Max("day"))["last"]
    start = today if last is None else last + timedelta(days=1)
    if start < today - timedelta(days=CATCH_UP_DAYS):
        logger.warning(
            "Reminders: not run since %s; making the last %d days only (from %s).",
            last,
            CATCH_UP_DAYS,
            today - timedelta(days=CATCH_UP_DAYS),
        )
        start = today - timedelta(days=CATCH_UP_DAYS)
    made = 0
    day = start
    while day <= today:
        made += _day_generate(day)
        day += timedelta(days=1)
    return made


def _day_generate(day: date) -> int:
    """One day in one transaction: its follow-ups, then its ``ReminderDay`` (the last write, so another
    worker that did the same day meanwhile makes this one roll back whole)."""
    try:
        with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
            context = _Context()
            made = 0
            for plan in FollowUpPlan.objects.filter(is_active=True).select_related("assignee").order_by("id"):
                made += _insert(plan, day, _GENERATORS.get(plan.kind, _nothing)(plan, day), context)
            ReminderDay.objects.create(day=day, created=made)
    except IntegrityError:
        logger.info("Reminders for %s were made by another worker.", day)
        return 0
    if made:
        logger.info("Reminders for %s: %d follow-ups.", day, made)
    return made


class _Context:
    """What every plan of a day shares: the active staff."""

    def __init__(self) -> None:
        self.active_users = set(
            get_user_model()._default_manager.filter(is_active=True).values_list("pk", flat=True)
        )


def _insert(plan: FollowUpPlan, day: date, candidates: Iterable[_Candidate], context: _Context) -> int:
    rows = {c.key: c for c in candidates}
    if not rows:
        return 0
    keys = list(rows)
    existing: set[str] = set()
    for chunk in _chunks(keys, _KEYS_PER_QUERY):
        existing.update(k for k in FollowUp.objects.filter(key__in=chunk).values_list("key", flat=True) if k)
    new = [rows[k] for k in keys if k not in existing]
    if not new:
        return 0
    quiet: set[int] = set()
    for chunk in _chunks(sorted({c.customer_id for c in new}), _KEYS_PER_QUERY):
        quiet.update(
            Preference.objects.filter(customer_id__in=chunk, do_not_disturb=True).values_list(
                "customer_id", flat=True
            )
        )
    plan_assignee = plan.assignee_id if plan.assignee_id in context.active_users else None
    # Marked, not left out: the follow-up is the shop's own to-do (a gift, an entry in a book, a credit
    # that is due, which a do-not-disturb customer still hears about), and the one who opens it sees why
    # not to call. Leaving it out would hide the day's work and the reason both.
    quiet_note = _(
        "Do not disturb: the customer asked not to be called or messaged except about an open order."
    )
    objects = [
        FollowUp(
            customer_id=c.customer_id,
            kind=plan.kind,
            plan=plan,
            key=c.key,
            title=(reminder_title(c.parts) or c.parts.get("plan", ""))[:200],
            title_parts=c.parts,
            note=quiet_note if c.customer_id in quiet else "",
            due_on=day,
            assignee_id=plan_assignee or (c.owner_id if c.owner_id in context.active_users else None),
            order_id=c.order_id,
        )
        for c in new
    ]
    FollowUp.objects.bulk_create(objects, batch_size=500, ignore_conflicts=True)
    # What is there now, not what was sent: a row another worker made meanwhile was skipped.
    keys_sent = [o.key for o in objects]
    return sum(
        FollowUp.objects.filter(plan=plan, due_on=day, key__in=chunk).count()
        for chunk in _chunks(keys_sent, _KEYS_PER_QUERY)
    )


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """The shop's day as an aware [start, end) range."""
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


# --- one generator per plan kind ---------------------------------------------------------------------


def _after_delivery(plan: FollowUpPlan, day: date) -> Iterator[_Candidate]:
    """Orders delivered ``days`` before ``day``, or up to ``LATE_DAYS`` earlier and not called about yet
    (recorded after their day was done)."""
    start, _end = _day_bounds(day - timedelta(days=plan.days + LATE_DAYS))
    _start, end = _day_bounds(day - timedelta(days=plan.days))
    orders = (
        Order.objects.filter(
            delivered_at__gte=start, delivered_at__lt=end, customer__archived_at__isnull=True
        )
        .exclude(status=OrderStatus.CANCELLED)
        .values_list("pk", "order_no", "customer_id", "customer__owner_id")
    )
    for pk, order_no, customer_id, owner_id in orders.iterator(chunk_size=2000):
        yield _Candidate(
            key=f"after_delivery:{plan.pk}:{pk}",
            customer_id=customer_id,
            owner_id=owner_id,
            parts={"kind": "after_delivery", "plan": plan.name, "no": order_no},
            order_id=pk,
        )


def _repurchase(plan: FollowUpPlan, day: date) -> Iterator[_Candidate]:
    """Lines whose quantity × the product's usage cycle, counted from the order day, runs out ``days``
    after ``day``, of customers who have not bought that product since."""
    runs_out = day + timedelta(days=plan.days)
    cycles = sorted(
        {
            days
            for days in Product.objects.filter(usage_cycle_days__gt=0).values_list(
                "usage_cycle_days", flat=True
            )
            if days
        }
    )
    later = OrderLine.objects.filter(
        customer_id=OuterRef("customer_id"),
        product_id=OuterRef("product_id"),
        order__status__in=_BOUGHT,
        order__ordered_at__gt=OuterRef("order__ordered_at"),
    )
    for cycle in cycles:
        terms = []
        for quantity in range(1, REPURCHASE_HORIZON_DAYS // cycle + 1):
            start, end = _day_bounds(runs_out - timedelta(days=quantity * cycle))
            terms.append(Q(kept=quantity, order__ordered_at__gte=start, order__ordered_at__lt=end))
        for chunk in _chunks(terms, _TERMS_PER_QUERY):
            condition = Q()
            for term in chunk:
                condition |= term
            lines = (
                # What lasts is what was kept: 3 bought and 1 returned run out after two cycles.
                OrderLine.objects.alias(kept=F("quantity") - F("returned_quantity"))
                .filter(condition)
                .filter(
                    product__usage_cycle_days=cycle,
                    order__status__in=_BOUGHT,
                    customer__archived_at__isnull=True,
                )
                .exclude(Exists(later))
                .values_list("pk", "order_id", "title", "customer_id", "customer__owner_id")
            )
            for pk, order_id, title, customer_id, owner_id in lines.iterator(chunk_size=2000):
                yield _Candidate(
                    key=f"repurchase:{plan.pk}:{pk}",
                    customer_id=customer_id,
                    owner_id=owner_id,
                    parts={
                        "kind": "repurchase",
                        "plan": plan.name,
                        "item": title[:80],
                        "day": runs_out.isoformat(),
                    },
                    order_id=order_id,
                )


def _birthday(plan: FollowUpPlan, day: date) -> Iterator[_Candidate]:
    """Solar birthdays on ``day + days`` (29 February on 28 February in other years), and lunar ones
    whose lunar month and day fall then (see ``kebu.core.lunar`` for the 30th and leap-month rule)."""
    birthday = day + timedelta(days=plan.days)
    years = range(birthday.year - BIRTH_YEARS_BACK, birthday.year + 1)
    solar_dates = [
        date(y, birthday.month, birthday.day) for y in years if _valid(y, birthday.month, birthday.day)
    ]
    if birthday.month == 2 and birthday.day == 28 and not _valid(birthday.year, 2, 29):
        solar_dates += [date(y, 2, 29) for y in years if _valid(y, 2, 29)]
    customers = Customer.objects.filter(
        archived_at__isnull=True, birthday_is_lunar=False, birthday__in=solar_dates
    ).values_list("pk", "owner_id")
    for pk, owner_id in customers.iterator(chunk_size=2000):
        yield _Candidate(
            key=f"birthday:{plan.pk}:{pk}:{birthday.year}",
            customer_id=pk,
            owner_id=owner_id,
            parts={"kind": "birthday", "plan": plan.name, "day": birthday.isoformat()},
        )
    if not lunar.MIN_SOLAR <= birthday < lunar.MAX_SOLAR:
        return
    lunar_year = lunar.lunar_from_solar(birthday).year
    for month, lunar_day in lunar.lunar_birthdays_on(birthday):
        # A lunar birth date can be in the solar year after its lunar year: one more year back.
        dates = lunar.solar_dates_of(month=month, day=lunar_day, years=range(years.start - 1, years.stop))
        lunar_parts = [lunar_year, month, lunar_day, False]
        customers = Customer.objects.filter(
            archived_at__isnull=True, birthday_is_lunar=True, birthday__in=dates
        ).values_list("pk", "owner_id")
        for pk, owner_id in customers.iterator(chunk_size=2000):
            yield _Candidate(
                key=f"birthday:{plan.pk}:{pk}:L{lunar_year}",
                customer_id=pk,
                owner_id=owner_id,
                parts={
                    "kind": "birthday",
                    "plan": plan.name,
                    "lunar": lunar_parts,
                    "day": birthday.isoformat(),
                },
            )


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _date_field(plan: FollowUpPlan, day: date) -> Iterator[_Candidate]:
    target = day + timedelta(days=plan.days)
    field = CustomField.objects.filter(
        key=plan.custom_field, field_type=CustomFieldType.DATE, is_active=True
    ).first()
    if field is None:
        logger.warning(
            "Follow-up plan %s names no active date custom field (%r).", plan.pk, plan.custom_field
        )
        return
    customers = (
        Customer.objects.filter(archived_at__isnull=True)
        .alias(value=Cast(KeyTextTransform(field.key, "custom"), output_field=CharField()))
        .filter(value=target.isoformat())
        .values_list("pk", "owner_id")
    )
    for pk, owner_id in customers.iterator(chunk_size=2000):
        yield _Candidate(
            key=f"date_field:{plan.pk}:{pk}:{target.isoformat()}",
            customer_id=pk,
            owner_id=owner_id,
            parts={"kind": "date_field", "plan": plan.name, "field": field.label, "day": target.isoformat()},
        )


def _credit_due(plan: FollowUpPlan, day: date) -> Iterator[_Candidate]:
    """Credit due ``days`` after ``day``, or sooner and not reminded of yet (an order on credit taken
    today and due tomorrow still gets its reminder)."""
    target = day + timedelta(days=plan.days)
    orders = (
        Order.objects.filter(
            credit_outstanding_cny__gt=0,
            credit_due_date__gte=day,
            credit_due_date__lte=target,
            customer__archived_at__isnull=True,
        )
        .exclude(status=OrderStatus.CANCELLED)
        .values_list(
            "pk", "order_no", "credit_outstanding_cny", "credit_due_date", "customer_id", "customer__owner_id"
        )
    )
    for pk, order_no, owed, due, customer_id, owner_id in orders.iterator(chunk_size=2000):
        assert due is not None  # filtered on above
        yield _Candidate(
            key=f"credit_due:{plan.pk}:{pk}:{due.isoformat()}",
            customer_id=customer_id,
            owner_id=owner_id,
            parts={
                "kind": "credit_due",
                "plan": plan.name,
                "no": order_no,
                "owed": str(owed),
                "day": due.isoformat(),
            },
            order_id=pk,
        )


def _nothing(plan: FollowUpPlan, day: date) -> Iterator[_Candidate]:
    """Kinds no plan generates (by hand, a conversation's next step, a ticket's due time)."""
    return iter(())


_GENERATORS: dict[str, Callable[[FollowUpPlan, date], Iterator[_Candidate]]] = {
    FollowUpKind.AFTER_DELIVERY: _after_delivery,
    FollowUpKind.REPURCHASE: _repurchase,
    FollowUpKind.BIRTHDAY: _birthday,
    FollowUpKind.DATE_FIELD: _date_field,
    FollowUpKind.CREDIT_DUE: _credit_due,
    FollowUpKind.MANUAL: _nothing,
    FollowUpKind.NEXT_STEP: _nothing,
    FollowUpKind.TICKET: _nothing,
}
