"""A run's message is one row read by colleagues in two languages: each reads it in their own, whoever
pressed "compute now" and whatever the shop's language was that night. A run made before runs kept
what their message is made of still shows the text it was stored with."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from kebu.customers.tests.factories import make_customer
from kebu.insights.models import InsightKind, InsightRun, RunStatus
from kebu.insights.services import runs
from kebu.insights.services.runs import insight_compute
from kebu.insights.tests.test_forecast_pages import sell_weekly
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db
SHOP = timezone.get_default_timezone()


def page(client, url: str, language: str) -> str:
    return client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()


@pytest.mark.parametrize(
    ("language", "said", "not_said"),
    [
        ("en", "No customer has a paid order yet; scores need at least one.", "还没有客户"),
        ("zh-hans", "还没有客户有已付款订单；评分至少需要一笔。", "No customer has"),
    ],
)
def test_a_runs_message_reads_in_each_readers_language(
    settings, client_for, analyst, language, said, not_said
):
    # given the scores computed in Chinese, by a shop that runs in Chinese, before any order was paid
    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        run = insight_compute(kind=InsightKind.SCORES)
    assert run.message == "还没有客户有已付款订单；评分至少需要一笔。"

    # when a colleague reads the segments page in their language
    html = page(client_for(analyst), reverse("insights:segments"), language)

    # then the message is written in it
    assert said in html
    assert not_said not in html


def computes_badly(*, run: InsightRun) -> dict:
    raise RuntimeError("disk full")


@pytest.mark.parametrize(
    ("language", "said"), [("en", "The computation failed: disk full"), ("zh-hans", "计算失败：disk full")]
)
def test_a_failed_runs_message_reads_in_each_language_with_the_error_as_it_was(monkeypatch, language, said):
    monkeypatch.setitem(runs.COMPUTATIONS, InsightKind.FORECAST, f"{__name__}.computes_badly")
    with translation.override("zh-hans" if language == "en" else "en"):
        run = insight_compute(kind=InsightKind.FORECAST)
    assert run.status == RunStatus.FAILED

    with translation.override(language):
        assert InsightRun.objects.get(pk=run.pk).shown_message == said


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "A monthly forecast needs at least 10 complete months; the shop has 4 so far."),
        ("zh-hans", "按月预测至少需要 10 个完整月；店铺目前只有 4 个。"),
    ],
)
def test_a_forecast_views_message_reads_in_each_readers_language(
    settings, owner, catalogue, client_for, analyst, language, said
):
    # given twenty weeks of sales, enough for a weekly forecast, too few for a monthly one, computed in
    # Chinese
    settings.LANGUAGE_CODE = "zh-hans"
    sell_weekly(owner, catalogue, first=date(2024, 11, 6), count=20)
    with time_machine.travel(datetime(2025, 4, 16, 3, tzinfo=SHOP), tick=False):
        with translation.override("zh-hans"):
            insight_compute(kind=InsightKind.FORECAST)

        html = page(client_for(analyst), reverse("insights:forecast") + "?period=month", language)

    assert said in html


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "Purchase patterns need at least 50 customers with orders; there is 1."),
        ("zh-hans", "估算购买规律至少需要 50 位有订单的客户；目前只有 1 位。"),
    ],
)
def test_why_there_is_no_lifetime_value_reads_in_each_readers_language(
    settings, owner, catalogue, client_for, analyst, language, said
):
    settings.LANGUAGE_CODE = "zh-hans"
    buyer = make_customer(actor=owner, name="头一位")
    make_order(actor=owner, customer=buyer, store=catalogue.store, lines=[("TEA-250", 1)])
    with translation.override("zh-hans"):
        insight_compute(kind=InsightKind.SCORES)

    html = page(client_for(analyst), reverse("insights:segments"), language)

    assert said in html


def test_a_run_stored_before_runs_kept_their_parts_shows_its_message_as_it_was():
    run = InsightRun.objects.create(
        kind=InsightKind.SCORES, status=RunStatus.DONE, message="还没有客户有已付款订单；评分至少需要一笔。"
    )

    with translation.override("en"):
        assert run.shown_message == "还没有客户有已付款订单；评分至少需要一笔。"
