"""A run is recorded around every computation: a failure leaves a trace and never hides the last good
figures; too few data is an answer, not an error; the nightly hour catches up a missed night."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from kebu.insights.errors import TooFewData
from kebu.insights.models import InsightKind, InsightRun, RunStatus
from kebu.insights.selectors.runs import insight_failed_since, insight_latest
from kebu.insights.services import runs
from kebu.insights.services.runs import insight_compute, insights_compute_due

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
CALLS: list[str] = []


def computes_fine(*, run: InsightRun) -> dict:
    CALLS.append(run.kind)
    return {"answer": 42}


def computes_badly(*, run: InsightRun) -> dict:
    raise RuntimeError("disk full")


def finds_too_few(*, run: InsightRun) -> dict:
    raise TooFewData("Only 3 customers have ordered twice.")


@pytest.fixture
def computations(monkeypatch):
    """Every kind computed by one of the functions above, so the bookkeeping is tested on its own."""
    CALLS.clear()
    for kind in runs.COMPUTATIONS:
        monkeypatch.setitem(runs.COMPUTATIONS, kind, f"{__name__}.computes_fine")
    return monkeypatch


def test_a_finished_run_keeps_its_result_and_time(computations, owner):
    run = insight_compute(kind=InsightKind.SCORES, actor=owner)

    run.refresh_from_db()
    assert (run.status, run.result, run.started_by) == (RunStatus.DONE, {"answer": 42}, owner)
    assert run.finished_at is not None and run.finished_at >= run.started_at
    assert insight_latest(kind=InsightKind.SCORES) == run


def test_a_failed_run_is_recorded_and_the_last_good_one_stays_shown(computations):
    good = insight_compute(kind=InsightKind.FORECAST)
    computations.setitem(runs.COMPUTATIONS, InsightKind.FORECAST, f"{__name__}.computes_badly")

    bad = insight_compute(kind=InsightKind.FORECAST)

    assert bad.status == RunStatus.FAILED and "disk full" in bad.message
    assert insight_latest(kind=InsightKind.FORECAST) == good
    assert insight_failed_since(kind=InsightKind.FORECAST, run=good) == bad


def test_too_few_data_is_an_answer_with_its_reason(computations):
    computations.setitem(runs.COMPUTATIONS, InsightKind.SCORES, f"{__name__}.finds_too_few")

    run = insight_compute(kind=InsightKind.SCORES)

    assert (run.status, run.result) == (RunStatus.DONE, {})
    assert run.message == "Only 3 customers have ordered twice."
    assert insight_latest(kind=InsightKind.SCORES) == run


def test_nightly_runs_each_kind_once_a_day_from_its_hour(computations, owner):
    with time_machine.travel(datetime(2026, 11, 11, 1, 30, tzinfo=SHANGHAI), tick=False):
        assert insights_compute_due(hour=2) == []
    with time_machine.travel(datetime(2026, 11, 11, 2, 41, tzinfo=SHANGHAI), tick=False):
        insight_compute(kind=InsightKind.SCORES, actor=owner)  # on demand: does not count as the night's
        first = insights_compute_due(hour=2)
    with time_machine.travel(datetime(2026, 11, 11, 3, 41, tzinfo=SHANGHAI), tick=False):
        again = insights_compute_due(hour=2)

    assert sorted(run.kind for run in first) == sorted(runs.NIGHTLY_ORDER)
    assert again == []
    assert CALLS.count(InsightKind.SCORES) == 2


def test_a_night_the_server_was_off_is_caught_up_the_next_hour_it_is_on(computations):
    with time_machine.travel(datetime(2026, 11, 11, 2, 41, tzinfo=SHANGHAI), tick=False):
        insights_compute_due(hour=2)
    # off all of the 12th; back at 09:41 on the 13th
    with time_machine.travel(datetime(2026, 11, 13, 9, 41, tzinfo=SHANGHAI), tick=False):
        caught_up = insights_compute_due(hour=2)

    assert len(caught_up) == len(runs.NIGHTLY_ORDER)


def test_only_those_allowed_may_start_a_shop_wide_analysis(client_for, sales_a, analyst):
    url = reverse("insights:run", args=[InsightKind.FORECAST])

    assert client_for(sales_a).post(url, {"next": "/"}).status_code == 403
    response = client_for(analyst).post(url, {"next": "https://elsewhere.example/"})
    assert response.status_code == 302 and response.url == "/"
    assert client_for(analyst).post(reverse("insights:run", args=["nonsense"])).status_code == 404
