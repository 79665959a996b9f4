"""What every insights page gives its freshness line (``insights/_freshness.html``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from kebu.insights import access
from kebu.insights.selectors.runs import insight_failed_since, insight_latest, insight_running


def freshness(request: HttpRequest, kind: str) -> dict[str, Any]:
    """The latest finished run of ``kind`` (its ``result`` is what the page draws), and what to say
    about it."""
    run = insight_latest(kind=kind)
    return {
        "kind": kind,
        "run": run,
        "failed": insight_failed_since(kind=kind, run=run),
        "running": insight_running(kind=kind),
        "can_run": access.can_run(request.user, kind),
    }
