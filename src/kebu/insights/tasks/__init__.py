"""Insights run nightly and on demand. Tasks call a service and hold no logic of their own.

The nightly task runs every hour and computes each analysis not yet started that day once the shop's
day has reached ``KEBU["INSIGHTS_HOUR"]`` (02:00 by default): Huey's crontab reads UTC and a worker may be
off at the chosen time, so the day's run is caught up at the first hour the worker is on."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from huey import crontab
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task, lock_task

from kebu.insights.services.runs import insight_compute, insights_compute_due

INSIGHTS_HOUR = int(settings.KEBU["INSIGHTS_HOUR"])


@db_periodic_task(crontab(minute="41"))
@lock_task("insights-nightly")
def insights_compute_nightly() -> int:
    return len(insights_compute_due(hour=INSIGHTS_HOUR))


@db_task()
def insight_compute_now(kind: str, actor_id: Any = None) -> None:
    """One analysis, started from its page. Two clicks never run it twice at once: the second waits out
    nothing and is dropped, since the first one's result is what it asked for."""
    from django.contrib.auth import get_user_model

    actor = get_user_model()._default_manager.filter(pk=actor_id).first() if actor_id else None
    with HUEY.lock_task(f"insight-{kind}"):
        insight_compute(kind=kind, actor=actor)


@db_periodic_task(crontab(minute="*/5"))
@lock_task("insights-dashboard-refresh")
def dashboard_refresh_often() -> None:
    """Bring the dashboard's tables up to the orders of the last minutes (only the days that changed);
    when only a rebuild can (never built, orders deleted by an undone import), rebuild."""
    from kebu.insights.models import InsightKind
    from kebu.insights.services.dashboard import dashboard_refresh

    if dashboard_refresh().needs_rebuild:
        insight_compute(kind=InsightKind.DASHBOARD)
