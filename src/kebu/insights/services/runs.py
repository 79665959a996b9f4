"""Running an analysis: the run row is written before and after the work, outside its transactions, so a
failed or killed computation leaves a trace and the previous finished run stays the one shown.

Each kind's computation is a service ``(*, run) -> dict`` in its own module; what it returns is stored as
the run's result (JSON the kind's page reads), and what it writes to its own tables it writes itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.utils import timezone
from django.utils.module_loading import import_string

from kebu.insights.errors import TooFewData
from kebu.insights.messages import message_stored
from kebu.insights.models import InsightKind, InsightRun, RunStatus

logger = logging.getLogger(__name__)

# kind -> the service that computes it. Dotted paths, so this module imports none of the heavy ones.
COMPUTATIONS: dict[str, str] = {
    InsightKind.DASHBOARD: "kebu.insights.services.dashboard.dashboard_rebuild",
    InsightKind.SCORES: "kebu.insights.services.scores.scores_compute",
    InsightKind.FORECAST: "kebu.insights.services.forecast.forecast_compute",
    InsightKind.BASKETS: "kebu.insights.services.baskets.baskets_compute",
    InsightKind.COHORTS: "kebu.insights.services.cohorts.cohorts_compute",
    InsightKind.CLUSTERS: "kebu.insights.services.clusters.clusters_compute",
}
# The nightly order (none reads another's result; the dashboard first, the page read most).
NIGHTLY_ORDER: tuple[str, ...] = tuple(COMPUTATIONS)


def insight_compute(
    *, kind: str, actor: Any | None = None, params: dict[str, Any] | None = None
) -> InsightRun:
    """Compute ``kind`` now and record the run. Never raises for the computation's own failure: the run is
    marked failed with the error, logged, and returned (a nightly loop goes on to the next kind)."""
    if kind not in COMPUTATIONS:
        raise ValueError(f"unknown analysis {kind!r}")
    run = InsightRun.objects.create(kind=kind, started_by=actor, params=params or {})
    compute: Callable[..., dict[str, Any]] = import_string(COMPUTATIONS[kind])
    try:
        result = compute(run=run)
    except TooFewData as exc:
        run.status, run.result = RunStatus.DONE, {}
        run.message_parts = exc.parts
        run.message = (message_stored(exc.parts) or str(exc.message))[:500]
    except Exception as exc:
        logger.exception("insights: %s failed", kind)
        run.status = RunStatus.FAILED
        run.message_parts = {"key": "failed", "error": str(exc)[:400]}
        run.message = message_stored(run.message_parts)[:500]
    else:
        run.status, run.result = RunStatus.DONE, result
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "result", "message", "message_parts", "finished_at", "params"])
    return run


def insights_compute_due(*, hour: int, now: Any = None) -> list[InsightRun]:
    """The nightly work: from ``hour`` of the shop's day on, compute every kind not yet started today.
    Called every hour, so a night the server was off is caught up at the next hour it is on."""
    now = timezone.localtime(now)
    if now.hour < hour:
        return []
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    started_today = set(
        InsightRun.objects.filter(started_at__gte=day_start, started_by__isnull=True).values_list(
            "kind", flat=True
        )
    )
    return [insight_compute(kind=kind) for kind in NIGHTLY_ORDER if kind not in started_today]
