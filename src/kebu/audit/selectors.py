"""Reads of the audit log that the page, its export and the command share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from kebu.audit.models import AuditEntry

CUSTOMER_TYPE = "customers.customer"


@dataclass(frozen=True)
class AuditFilters:
    """What the admin narrowed the log to. Empty values mean "any"."""

    action: str = ""
    actor_id: int | None = None
    target_type: str = ""
    target: str = ""  # a target id, or a customer number such as C000123
    date_from: date | None = None  # inclusive, a day in the shop's time zone
    date_to: date | None = None  # inclusive
    ip: str = ""
    since: datetime | None = None  # an exact instant, for ``kebu audit export --since``

    def as_data(self) -> dict[str, Any]:
        """The filters that are set, as plain JSON values (recorded with an export)."""
        out: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            if value in (None, ""):
                continue
            out[name] = value.isoformat() if isinstance(value, date | datetime) else value
        return out


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def _customer_ids(number: str) -> list[str]:
    from kebu.customers.models import Customer

    candidates = {number, number.upper()}
    return [
        str(pk) for pk in Customer.objects.filter(customer_no__in=candidates).values_list("pk", flat=True)
    ]


def audit_entry_list(*, filters: AuditFilters | None = None) -> QuerySet[AuditEntry]:
    """Entries matching ``filters``, newest first (by number: the chain's order, which a clock that
    two writers read at nearly the same moment does not always give)."""
    qs = AuditEntry.objects.all()
    f = filters or AuditFilters()
    if f.action:
        qs = qs.filter(action=f.action)
    if f.actor_id is not None:
        qs = qs.filter(actor_id=f.actor_id)
    if f.target_type:
        qs = qs.filter(target_type=f.target_type)
    if f.target:
        target = f.target.strip()
        match = Q(target_id=target)
        customer_ids = _customer_ids(target)
        if customer_ids:
            match |= Q(target_type=CUSTOMER_TYPE, target_id__in=customer_ids)
        qs = qs.filter(match)
    if f.date_from:
        qs = qs.filter(at__gte=_day_start(f.date_from))
    if f.date_to:
        qs = qs.filter(at__lt=_day_start(f.date_to + timedelta(days=1)))
    if f.since:
        qs = qs.filter(at__gte=f.since)
    if f.ip:
        qs = qs.filter(ip=f.ip)
    return qs.order_by("-seq")


def audit_actor_choices() -> QuerySet[Any]:
    """Staff accounts to filter by (deleted accounts are found by their entries' names instead)."""
    return get_user_model().objects.order_by("username")


def audit_target_types() -> list[tuple[str, str]]:
    """The kinds of thing the log has entries about, with their names, for the filter's suggestions."""
    from django.apps import apps

    out = []
    for label in ("customers.customer", "accounts.user", "auth.group", "core.encryptionkey"):
        try:
            model = apps.get_model(label)
        except LookupError:
            continue
        out.append((label, str(model._meta.verbose_name)))
    return out
