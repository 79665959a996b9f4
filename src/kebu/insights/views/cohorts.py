"""The cohort retention page (复购留存): what the last finished run computed, as a heat-coloured table.
Colours come from classes in a static stylesheet (the CSP refuses style attributes)."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kebu.insights import access
from kebu.insights.models import InsightKind
from kebu.insights.views._common import freshness

KIND = InsightKind.COHORTS
HEAT_STEPS = 10


def heat_class(pct: float | None) -> str:
    """``heat-0`` (none came back) to ``heat-9`` (nearly all did), ``heat-full`` for 100%; the first
    month is always full, so it gets a class of its own that does not drown the rest."""
    if pct is None:
        return ""
    if pct >= 100:
        return "heat-full"
    return f"heat-{min(HEAT_STEPS - 1, int(pct // HEAT_STEPS))}"


def _cohort_row(cohort: dict[str, Any]) -> dict[str, Any]:
    first = date.fromisoformat(cohort["month"])
    last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
    return {
        "label": first.strftime("%Y-%m"),
        "size": cohort["size"],
        # The customers' list filtered to this cohort: the list applies the viewer's own visibility.
        "query": f"first_order_after={first.isoformat()}&first_order_before={last.isoformat()}",
        "cells": [
            None if cell is None else {**cell, "heat": heat_class(cell["pct"]) if cohort["size"] else ""}
            for cell in cohort["cells"]
        ],
    }


@login_required
@require_GET
def cohorts_view(request: HttpRequest) -> HttpResponse:
    access.require_view(request.user, KIND)
    context = freshness(request, KIND)
    result = context["run"].result if context["run"] is not None else {}
    if result.get("cohorts"):
        context.update(
            months=range(result["months"]),
            rows=[_cohort_row(cohort) for cohort in result["cohorts"]],
            average=[
                None if cell is None else {**cell, "heat": heat_class(cell["pct"])}
                for cell in result["average"]
            ],
            customers=result["customers"],
        )
    return render(request, "insights/cohorts/page.html", context)
