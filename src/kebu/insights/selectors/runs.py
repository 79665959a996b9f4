"""The latest run of each analysis, which its page shows with the time it was computed."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kebu.insights.models import InsightRun, RunStatus

# A run still "running" after this long was killed with its worker; the page offers to start another.
RUN_STALE_AFTER = timedelta(hours=2)


def insight_latest(*, kind: str) -> InsightRun | None:
    """The last run of ``kind`` that finished, with figures or with a "too few data" message."""
    return InsightRun.objects.filter(kind=kind, status=RunStatus.DONE).order_by("-finished_at", "-id").first()


def insight_running(*, kind: str) -> InsightRun | None:
    """A run of ``kind`` under way now, if any (one started in the last two hours and not finished)."""
    since = timezone.now() - RUN_STALE_AFTER
    return InsightRun.objects.filter(kind=kind, status=RunStatus.RUNNING, started_at__gte=since).first()


def insight_failed_since(*, kind: str, run: InsightRun | None) -> InsightRun | None:
    """The last failed run of ``kind`` after the finished ``run`` shown, so the page can say the figures
    are older than they should be, and why."""
    failed = InsightRun.objects.filter(kind=kind, status=RunStatus.FAILED)
    if run is not None and run.finished_at is not None:
        failed = failed.filter(started_at__gt=run.finished_at)
    return failed.order_by("-started_at").first()
