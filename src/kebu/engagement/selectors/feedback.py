"""Every read of feedback and reviews. A review is seen exactly when its customer is
(``engagement.access.of_visible_customers``), and nothing without ``engagement.view_feedback``; the
averages per product are taken over the reviews the reader may see, so they never count a review of a
customer hidden from them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Avg, Count, QuerySet

from kebu.core.errors import NotFound
from kebu.customers.models import Customer
from kebu.engagement.access import of_visible_customers
from kebu.engagement.models import Feedback

VIEW_FEEDBACK = "engagement.view_feedback"


def feedback_visible_queryset(*, user: Any) -> QuerySet[Feedback]:
    if not (getattr(user, "is_authenticated", False) and user.is_active and user.has_perm(VIEW_FEEDBACK)):
        return Feedback.objects.none()
    return of_visible_customers(Feedback.objects.all(), user=user)


def feedback_get_for_actor(*, actor: Any, feedback_id: Any) -> Feedback:
    try:
        return (
            feedback_visible_queryset(user=actor)
            .select_related("customer", "order", "product", "store", "created_by")
            .get(pk=int(feedback_id))
        )
    except (Feedback.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def feedback_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet[Feedback]:
    """Reviews ``user`` may see, newest first, by ``customer``, ``product``, ``order`` (ids) or ``rating``.
    Each filter reads an index: feedback_customer, feedback_product, the order's foreign key index,
    and feedback_reviewed for the plain list (a rating filter narrows one of those)."""
    filters = filters or {}
    qs = feedback_visible_queryset(user=user).select_related("customer", "order", "product", "store")
    for key in ("customer", "product", "order"):
        if filters.get(key):
            qs = qs.filter(**{f"{key}_id": getattr(filters[key], "pk", filters[key])})
    if filters.get("rating"):
        qs = qs.filter(rating=filters["rating"])
    return qs.order_by("-reviewed_at", "-id")


def product_ratings(*, user: Any, product_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The reviews count and average rating of each of ``product_ids``, over every review of it ``user``
    may see, most reviewed first: one query grouped over those few products (feedback_product index).
    A list page asks for its own products only; grouping every visible review on each page and filter
    would grow with the table."""
    wanted = {pk for pk in product_ids if pk is not None}
    if not wanted:
        return []
    rows = (
        feedback_visible_queryset(user=user)
        .filter(product_id__in=wanted)
        .values("product", "product__name")
        .annotate(reviews=Count("id"), average=Avg("rating"))
        .order_by("-reviews", "product")
    )
    return [dict(row) for row in rows]


def product_rating(*, user: Any, product_id: int) -> dict[str, Any]:
    """The reviews of one product ``user`` may see: how many and their average."""
    return (
        feedback_visible_queryset(user=user)
        .filter(product_id=product_id)
        .aggregate(reviews=Count("id"), average=Avg("rating"))
    )


def customer_feedback(*, actor: Any, customer: Customer, limit: int = 5) -> list[Feedback]:
    """A customer's latest reviews, newest first."""
    return list(feedback_list(user=actor, filters={"customer": customer.pk})[:limit])
