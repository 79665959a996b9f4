"""Every read of customers that a view, the API or an export shares. Visibility is applied first."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import QueryDict

from kebu.core.errors import NotFound
from kebu.customers.filters import CustomerFilterSet
from kebu.customers.models import Customer, CustomerEvent, CustomerPhone, SavedView, Tag


def customer_visible_queryset(*, user: Any) -> QuerySet[Customer]:
    """The customers ``user`` may see. Every read starts here, so a visibility rule lives in one place.

    For now every active staff member sees every customer; team and owner scoping is the trust work."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return Customer.objects.none()
    return Customer.objects.all()


def customer_list(
    *, user: Any, filters: dict[str, Any] | None = None
) -> tuple[QuerySet[Customer], CustomerFilterSet]:
    """The customer list for ``user`` with ``filters`` (a query dict) applied, ready to paginate.

    Empty parameters (``?stage=&tag=``, as a form sends them) mean "any". A filter that is still invalid
    (an unknown tag id) gives no rows and ``filterset.errors`` says why: never a silently unfiltered list."""
    filterset = CustomerFilterSet(_without_blanks(filters), queryset=customer_visible_queryset(user=user))
    qs = filterset.qs if filterset.is_valid() else Customer.objects.none()
    qs = qs.select_related("owner", "source").prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
    )
    return qs, filterset


def _without_blanks(filters: Any) -> QueryDict:
    data = QueryDict(mutable=True)
    if filters is None:
        return data
    pairs = filters.lists() if isinstance(filters, QueryDict) else filters.items()
    for key, values in pairs:
        kept = [v for v in (values if isinstance(values, list | tuple) else [values]) if v not in ("", None)]
        if kept:
            data.setlist(key, kept)
    return data


def customer_get_for_actor(*, actor: Any, customer_id: Any) -> Customer:
    """One customer with its profile parts, or ``NotFound`` whether it is missing or not visible."""
    try:
        return (
            customer_visible_queryset(user=actor)
            .select_related("owner", "source", "referrer", "created_by", "updated_by")
            .prefetch_related(
                Prefetch("phones", queryset=CustomerPhone.objects.order_by("position", "id")),
                "addresses",
                "socials",
                "consents",
                Prefetch("tags", queryset=Tag.objects.order_by("name")),
            )
            .get(pk=int(customer_id))
        )
    except (Customer.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound() from exc


def customer_timeline(*, actor: Any, customer: Customer, limit: int = 50) -> list[CustomerEvent]:
    return list(customer.events.select_related("actor").order_by("-created_at", "-id")[:limit])


def saved_view_list(*, user: Any) -> QuerySet[SavedView]:
    """The user's own saved views and those colleagues shared."""
    from django.db.models import Q

    return SavedView.objects.filter(Q(owner=user) | Q(shared=True)).select_related("owner").order_by("name")


def customer_custom_fields(*, customer: Customer) -> list[tuple[str, str]]:
    """(label, key) of each active custom field, in the admin's order, for display."""
    from kebu.customers.models import CustomField

    return [(d.label, d.key) for d in CustomField.objects.filter(is_active=True)]
