"""One timeline per customer: orders, after-sales, contacts, tickets, feedback, survey answers, follow-ups
done and profile changes, newest first.

It is read from the records themselves, not from a second table every service would have to keep in step:
an imported or demo-loaded order is on the timeline without anyone writing an event for it, and nothing
can drift. Each source answers "the newest N of this customer before the cursor" from an index that
leads with the customer and the time, and the pages merge those short lists, so a page costs one small
query per source however long the history is (bench/timeline.py measures it at 10,000 events).

The cursor is the last entry shown: (time, source rank, id). Entries sort by that triple, newest first,
so entries with the same time (an import writes many in one second) page without gaps or repeats.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from kebu.customers.models import Customer, CustomerEvent
from kebu.engagement.models import ContactRecord, Feedback, FollowUp, FollowUpStatus, SurveyResponse, Ticket
from kebu.orders.models import AfterSale, Order


@dataclass(frozen=True)
class Source:
    kind: str
    label: Any
    rank: int  # breaks ties between sources at the same time; higher shows first
    time_field: str
    permission: str
    rows: Callable[[Customer], QuerySet[Any]]


def _orders(customer: Customer) -> QuerySet[Order]:
    return Order.objects.filter(customer=customer).select_related("store")


def _aftersales(customer: Customer) -> QuerySet[AfterSale]:
    return AfterSale.objects.filter(customer=customer).select_related("order")


def _contacts(customer: Customer) -> QuerySet[ContactRecord]:
    return (
        ContactRecord.objects.filter(customer=customer)
        .select_related("created_by")
        .prefetch_related("attachments")
    )


def _tickets(customer: Customer) -> QuerySet[Ticket]:
    return Ticket.objects.filter(customer=customer).select_related("assignee", "order")


def _feedback(customer: Customer) -> QuerySet[Feedback]:
    return Feedback.objects.filter(customer=customer).select_related("product", "order")


def _surveys(customer: Customer) -> QuerySet[SurveyResponse]:
    return SurveyResponse.objects.filter(customer=customer).select_related("survey")


def _followups(customer: Customer) -> QuerySet[FollowUp]:
    return FollowUp.objects.filter(customer=customer, status=FollowUpStatus.DONE).select_related("done_by")


def _profile(customer: Customer) -> QuerySet[CustomerEvent]:
    return CustomerEvent.objects.filter(customer=customer).select_related("actor")


SOURCES: tuple[Source, ...] = (
    Source("order", _("Orders"), 8, "ordered_at", "orders.view_order", _orders),
    Source("aftersale", _("Returns and refunds"), 7, "requested_at", "orders.view_aftersale", _aftersales),
    Source("contact", _("Contacts"), 6, "occurred_at", "engagement.view_contactrecord", _contacts),
    Source("ticket", _("Tickets"), 5, "opened_at", "engagement.view_ticket", _tickets),
    Source("feedback", _("Feedback"), 4, "reviewed_at", "engagement.view_feedback", _feedback),
    Source("survey", _("Surveys"), 3, "submitted_at", "engagement.view_survey", _surveys),
    Source("followup", _("Follow-ups"), 2, "done_at", "engagement.view_followup", _followups),
    Source("profile", _("Profile changes"), 1, "created_at", "customers.view_customer", _profile),
)
SOURCES_BY_KIND = {source.kind: source for source in SOURCES}


@dataclass(frozen=True)
class Cursor:
    at: datetime
    rank: int
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}~{self.rank}~{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """The cursor from a page's "more" link, or None when there is none or it was tampered with."""
        if not raw:
            return None
        try:
            at_text, rank, pk = raw.split("~")
            at = parse_datetime(at_text)
            if at is None or at.tzinfo is None:
                return None
            return cls(at=at, rank=int(rank), id=int(pk))
        except ValueError:
            return None


@dataclass(frozen=True)
class Entry:
    kind: str
    at: datetime
    obj: Any
    rank: int

    @property
    def cursor(self) -> Cursor:
        return Cursor(at=self.at, rank=self.rank, id=self.obj.pk)

    @property
    def template(self) -> str:
        return f"engagement/timeline/_{self.kind}.html"


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    next_cursor: Cursor | None
    kinds: list[Source]  # the sources this user may see, for the filter
    selected: list[str]


def timeline_sources(*, user: Any) -> list[Source]:
    """The sources ``user`` may see. The customer is already visible to them (the caller fetched it
    through ``customer_get_for_actor``); each kind of record needs its own view permission."""
    return [source for source in SOURCES if user.has_perm(source.permission)]


def _before(source: Source, cursor: Cursor) -> Q:
    """Rows of ``source`` that sort after ``cursor`` (older, or as old with a lower rank or id)."""
    at = source.time_field
    if source.rank < cursor.rank:
        return Q(**{f"{at}__lte": cursor.at})
    if source.rank > cursor.rank:
        return Q(**{f"{at}__lt": cursor.at})
    return Q(**{f"{at}__lt": cursor.at}) | Q(**{at: cursor.at, "pk__lt": cursor.id})


def customer_timeline(
    *,
    actor: Any,
    customer: Customer,
    kinds: Iterable[str] | None = None,
    cursor: Cursor | None = None,
    limit: int = 30,
) -> TimelinePage:
    """One page of ``customer``'s timeline for ``actor``, newest first, from ``cursor`` on, of the
    ``kinds`` asked for (all the actor may see when none or none known). One query per source."""
    allowed = timeline_sources(user=actor)
    wanted = [source for source in allowed if kinds and source.kind in set(kinds)] or allowed
    streams: list[Sequence[Entry]] = []
    for source in wanted:
        rows = source.rows(customer).filter(**{f"{source.time_field}__isnull": False})
        if cursor is not None:
            rows = rows.filter(_before(source, cursor))
        rows = rows.order_by(f"-{source.time_field}", "-pk")[: limit + 1]
        streams.append(
            [
                Entry(kind=source.kind, at=getattr(row, source.time_field), obj=row, rank=source.rank)
                for row in rows
            ]
        )
    merged = list(heapq.merge(*streams, key=lambda e: (e.at, e.rank, e.obj.pk), reverse=True))
    page = merged[:limit]
    next_cursor = page[-1].cursor if len(merged) > limit else None
    selected = [source.kind for source in wanted] if len(wanted) < len(allowed) else []
    return TimelinePage(entries=page, next_cursor=next_cursor, kinds=allowed, selected=selected)
