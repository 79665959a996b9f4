"""Every read of contact records that the pages, the API and the customer page share. A record is
visible exactly when its customer is (``engagement.access``), and only with ``view_contactrecord``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from kebu.core.errors import NotFound
from kebu.customers.models import Customer
from kebu.engagement.access import of_visible_customers
from kebu.engagement.models import Attachment, ContactRecord, Preference

VIEW_CONTACT = "engagement.view_contactrecord"
ADD_CONTACT = "engagement.add_contactrecord"
CARD_SIZE = 5


def _can(user: Any, perm: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perm(perm))


def contact_visible_queryset(*, user: Any) -> QuerySet[ContactRecord]:
    """The contact records ``user`` may see: with ``view_contactrecord``, those of visible customers."""
    if not _can(user, VIEW_CONTACT):
        return ContactRecord.objects.none()
    return of_visible_customers(ContactRecord.objects.all(), user=user)


def _with_parts(qs: QuerySet[ContactRecord]) -> QuerySet[ContactRecord]:
    return qs.select_related("customer", "created_by").prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("id"))
    )


def contact_get_for_actor(*, actor: Any, contact_id: Any) -> ContactRecord:
    """One record with its customer and attachments, or ``NotFound`` whether missing or not visible."""
    try:
        return _with_parts(contact_visible_queryset(user=actor)).get(pk=int(contact_id))
    except (ContactRecord.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


@dataclass(frozen=True)
class ContactFilters:
    mine: bool = False  # only the records the user logged
    customer_id: int | None = None
    channel: str = ""
    date_from: date | None = None  # shop days, both ends included
    date_to: date | None = None


def _day_start(day: date) -> datetime:
    """Midnight starting ``day`` in the shop's time zone: a range on the indexed column."""
    return timezone.make_aware(datetime.combine(day, time.min))


def contact_list(*, user: Any, filters: ContactFilters | None = None) -> QuerySet[ContactRecord]:
    """The records ``user`` may see, newest first, narrowed by ``filters``. Each filter walks an index:
    mine (``contact_staff``), a customer (``contact_customer``), a channel (``contact_channel``),
    otherwise the time (``contact_recent``)."""
    filters = filters or ContactFilters()
    qs = contact_visible_queryset(user=user)
    if filters.mine:
        qs = qs.filter(created_by=user)
    if filters.customer_id is not None:
        qs = qs.filter(customer_id=filters.customer_id)
    if filters.channel:
        qs = qs.filter(channel=filters.channel)
    if filters.date_from is not None:
        qs = qs.filter(occurred_at__gte=_day_start(filters.date_from))
    if filters.date_to is not None:
        qs = qs.filter(occurred_at__lt=_day_start(filters.date_to + timedelta(days=1)))
    return _with_parts(qs).order_by("-occurred_at", "-id")


def customer_contacts(
    *, actor: Any, customer: Customer, limit: int | None = CARD_SIZE
) -> list[ContactRecord]:
    """The customer's latest records (the customer page's card), for a customer the caller has
    already fetched through the visibility selector."""
    qs = _with_parts(contact_visible_queryset(user=actor).filter(customer=customer)).order_by(
        "-occurred_at", "-id"
    )
    return list(qs[:limit] if limit else qs)


def channel_default(*, actor: Any, customer: Customer) -> str:
    """The channel a new record starts with: the customer's preferred one if they told us, else the
    one ``actor`` used last (the ``contact_staff`` index), else WeChat, the usual one."""
    preferred = (
        Preference.objects.filter(customer=customer).values_list("preferred_channel", flat=True).first()
    )
    if preferred:
        return preferred
    last = (
        ContactRecord.objects.filter(created_by=actor)
        .order_by("-occurred_at")
        .values_list("channel", flat=True)
        .first()
    )
    return last or "wechat"
