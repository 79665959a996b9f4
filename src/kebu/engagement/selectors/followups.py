"""Reading follow-ups: the today page's buckets and tabs, a customer's card, the API list, the digest.

Every read starts from ``access.of_visible_customers_or_assigned`` (a follow-up is visible when its
customer is, and to its assignee), and each list walks an index: ``followup_today`` (assignee, due_on,
open only) for one's own buckets, the unassigned tab and the nav count; ``followup_done`` (assignee,
done_at, done only) for the done tab; ``followup_customer`` for a customer's card."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils import timezone

from kebu.core.errors import NotFound
from kebu.engagement.access import of_visible_customers, of_visible_customers_or_assigned
from kebu.engagement.models import FollowUp, FollowUpStatus

VIEW_FOLLOWUP = "engagement.view_followup"
UPCOMING_DAYS = 7
_RELATED = ("customer", "assignee", "order", "ticket", "plan")


def _can_view(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perm(VIEW_FOLLOWUP))


def followup_visible_queryset(*, user: Any) -> QuerySet[FollowUp]:
    """The follow-ups ``user`` may see: of the customers they see, and those assigned to them."""
    if not _can_view(user):
        return FollowUp.objects.none()
    return of_visible_customers_or_assigned(FollowUp.objects.all(), user=user)


def followup_get_for_actor(*, actor: Any, followup_id: Any) -> FollowUp:
    """One follow-up, or ``NotFound`` whether it is missing or not visible."""
    try:
        return followup_visible_queryset(user=actor).select_related(*_RELATED).get(pk=int(followup_id))
    except (FollowUp.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def _mine_open(user: Any) -> QuerySet[FollowUp]:
    if not _can_view(user):
        return FollowUp.objects.none()
    return FollowUp.objects.filter(assignee=user, status=FollowUpStatus.OPEN)


@dataclass(frozen=True)
class Buckets:
    today: date
    overdue: QuerySet[FollowUp]
    due_today: QuerySet[FollowUp]
    upcoming: QuerySet[FollowUp]


def followups_buckets(*, user: Any, today: date | None = None) -> Buckets:
    """The user's open follow-ups: overdue, due today, due in the next seven days (each oldest first)."""
    today = today or timezone.localdate()
    mine = _mine_open(user).select_related(*_RELATED).order_by("due_on", "id")
    return Buckets(
        today=today,
        overdue=mine.filter(due_on__lt=today),
        due_today=mine.filter(due_on=today),
        upcoming=mine.filter(due_on__gt=today, due_on__lte=today + timedelta(days=UPCOMING_DAYS)),
    )


def followups_unassigned(*, user: Any) -> QuerySet[FollowUp]:
    """Open follow-ups nobody has, of the customers the user sees, oldest due first."""
    if not _can_view(user):
        return FollowUp.objects.none()
    return (
        of_visible_customers(
            FollowUp.objects.filter(assignee__isnull=True, status=FollowUpStatus.OPEN), user=user
        )
        .select_related(*_RELATED)
        .order_by("due_on", "id")
    )


def followups_done(*, user: Any) -> QuerySet[FollowUp]:
    """The user's done follow-ups, latest first."""
    if not _can_view(user):
        return FollowUp.objects.none()
    return (
        FollowUp.objects.filter(assignee=user, status=FollowUpStatus.DONE)
        .select_related(*_RELATED)
        .order_by("-done_at", "-id")
    )


def followups_due_count(*, user: Any, today: date | None = None) -> int:
    """How many open follow-ups the user has due today or overdue: one count on ``followup_today``."""
    today = today or timezone.localdate()
    return _mine_open(user).filter(due_on__lte=today).count()


def customer_followups(*, actor: Any, customer_id: int, limit: int = 10) -> list[FollowUp]:
    """A customer's open follow-ups (soonest first), then the last few done or cancelled, for the card."""
    visible = followup_visible_queryset(user=actor).filter(customer_id=customer_id).select_related(*_RELATED)
    open_ones = list(visible.filter(status=FollowUpStatus.OPEN).order_by("due_on", "id")[:limit])
    closed = list(
        visible.exclude(status=FollowUpStatus.OPEN).order_by("-due_on", "-id")[
            : max(0, limit - len(open_ones))
        ]
    )
    return open_ones + closed


def followup_list(
    *, user: Any, customer_id: int | None = None, scope: str = "mine", status: str | None = None
) -> QuerySet[FollowUp]:
    """For the API: the user's own (``mine``), the unassigned (``unassigned``), or every visible one of a
    customer (``customer_id``); optionally of one status."""
    if customer_id is not None:
        qs = followup_visible_queryset(user=user).filter(customer_id=customer_id)
    elif scope == "unassigned":
        qs = followups_unassigned(user=user)
    else:
        qs = FollowUp.objects.filter(assignee=user) if _can_view(user) else FollowUp.objects.none()
    if status:
        qs = qs.filter(status=status)
    return qs.select_related(*_RELATED).order_by("due_on", "id")


def followup_assignees() -> list[Any]:
    """Active colleagues who work on follow-ups: the reassign choices (the service checks that the one
    chosen sees the customer, and says so when not)."""
    return list(
        get_user_model()
        ._default_manager.with_perm(
            VIEW_FOLLOWUP,
            is_active=True,
            include_superusers=True,
            backend="django.contrib.auth.backends.ModelBackend",
        )
        .order_by("username")[:500]
    )


def digest_followups(*, user: Any, today: date) -> list[FollowUp]:
    """What a digest lists: the user's overdue and today's open follow-ups, oldest first."""
    return list(
        FollowUp.objects.filter(assignee=user, status=FollowUpStatus.OPEN, due_on__lte=today)
        .select_related("customer", "order")
        .order_by("due_on", "id")[:200]
    )
