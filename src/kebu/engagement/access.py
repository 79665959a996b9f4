"""Who may see which service records. A contact record, ticket, follow-up, piece of feedback or survey
answer is visible exactly when its customer is (``customers.selectors.customer_visible_queryset``), so
the customer rule stays the one rule. Two additions: a ticket or follow-up assigned to someone is
visible to them, so work handed over can be done; and ``engagement.view_all_tickets`` shows every
ticket (the service lead's queue and figures)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

from kebu.customers.selectors import customer_visible_queryset

M = TypeVar("M", bound=Model)

VIEW_ALL_TICKETS = "engagement.view_all_tickets"


def of_visible_customers(qs: QuerySet[M], *, user: Any) -> QuerySet[M]:
    """``qs`` narrowed to the records whose customer ``user`` may see (a subquery: no join)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_superuser:
        return qs
    return qs.filter(customer__in=customer_visible_queryset(user=user).values("pk"))


def of_visible_customers_or_assigned(qs: QuerySet[M], *, user: Any) -> QuerySet[M]:
    """For records with an ``assignee`` (tickets, follow-ups): the visible customers' and the user's own."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return qs.none()
    if user.is_superuser:
        return qs
    return qs.filter(Q(customer__in=customer_visible_queryset(user=user).values("pk")) | Q(assignee=user))
