"""Who sees which insight. Every check reads a permission (kebu.accounts.roles), never a role's name.

- ``view_insights``: the dashboard and the scores, over the customers the user may see (a sales clerk's
  dashboard sums their own customers' orders; the segments page counts and lists only theirs).
- ``view_shop_insights``: analyses over the whole shop that cannot be narrowed to some customers without
  changing their meaning (forecast, baskets, cohorts, clusters).
- ``run_insights``: start a computation now rather than waiting for the night."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied

from kebu.insights.models import InsightKind

VIEW = "insights.view_insights"
VIEW_SHOP = "insights.view_shop_insights"
RUN = "insights.run_insights"

SHOP_KINDS = frozenset({InsightKind.FORECAST, InsightKind.BASKETS, InsightKind.COHORTS, InsightKind.CLUSTERS})


def can(user: Any, *perms: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perms(perms))


def can_view(user: Any, kind: str) -> bool:
    return can(user, VIEW, VIEW_SHOP) if kind in SHOP_KINDS else can(user, VIEW)


def can_run(user: Any, kind: str) -> bool:
    return can_view(user, kind) and can(user, RUN)


def require_view(user: Any, kind: str) -> None:
    if not can_view(user, kind):
        raise PermissionDenied
