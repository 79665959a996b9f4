"""The "high value, at risk" list feeds follow-ups: one per chosen customer, for their owner, never a
second while one is open, only for customers on the actor's own list."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from kebu.core.errors import Forbidden
from kebu.engagement.models import FollowUp, FollowUpStatus
from kebu.engagement.services.followups import followup_done
from kebu.insights.models import CustomerScore, Segment, ValueTier
from kebu.insights.selectors.runs import insight_latest
from kebu.insights.selectors.scores import at_risk_scores, score_churn_note, segment_summary
from kebu.insights.services.scores import at_risk_followups_create, score_settings_update
from kebu.insights.tests.scores_shop import TEA, scores_run, shop_make

pytestmark = pytest.mark.django_db

BIG = [("CREAM-50", 2)]  # ¥398.00


@pytest.fixture
def at_risk(owner, catalogue, sales_a, sales_b):
    """High tier from ¥500. 旧友 and 老客 bought every 20 days until 180 days ago (9× their interval: high
    churn risk) and spent ¥796: high value at risk; 新客 bought big but recently; 小客 lapsed but small."""
    score_settings_update(actor=owner, data={"tier_high_spent_cny": Decimal("500"), "tier_high_orders": 9})
    mine = shop_make(
        actor=sales_a,
        catalogue=catalogue,
        owner=sales_a,
        customers={
            "旧友": [(200, BIG), (180, BIG)],
            "新客": [(25, BIG), (5, BIG)],
            "小客": [(200, TEA), (180, TEA)],
        },
    )
    theirs = shop_make(
        actor=sales_b, catalogue=catalogue, owner=sales_b, customers={"老客": [(200, BIG), (180, BIG)]}
    )
    scores_run()
    return {**mine, **theirs}


def test_the_list_holds_the_valuable_customers_at_high_risk_that_one_may_see(at_risk, sales_a, owner):
    assert [s.customer.name for s in at_risk_scores(user=sales_a)] == ["旧友"]
    assert sorted(s.customer.name for s in at_risk_scores(user=owner)) == ["旧友", "老客"]


def test_the_segments_page_counts_the_list_as_it_lists_it(at_risk, sales_a, owner):
    result = insight_latest(kind="scores").result

    assert segment_summary(user=sales_a).at_risk == 1
    assert segment_summary(user=owner).at_risk == segment_summary(user=owner, result=result).at_risk == 2


def test_a_follow_up_is_made_once_per_customer_for_their_owner(at_risk, sales_a):
    first = at_risk_followups_create(actor=sales_a, customer_ids=[at_risk["旧友"].pk])
    again = at_risk_followups_create(actor=sales_a, customer_ids=[str(at_risk["旧友"].pk)])

    followup = FollowUp.objects.get()
    assert (len(first.created), len(again.created), again.already_open) == (1, 0, 1)
    assert (followup.customer, followup.assignee, followup.status) == (at_risk["旧友"], sales_a, "open")
    assert followup.key.startswith(f"at_risk:{at_risk['旧友'].pk}:")
    assert "9.0× their usual interval" in followup.note


def test_the_owner_gets_it_when_a_colleague_who_sees_the_customer_makes_it(at_risk, owner, sales_b):
    at_risk_followups_create(actor=owner, customer_ids=[at_risk["老客"].pk])

    assert FollowUp.objects.get().assignee == sales_b


def test_customers_not_on_ones_list_get_nothing(at_risk, sales_a):
    made = at_risk_followups_create(
        actor=sales_a, customer_ids=[at_risk["老客"].pk, at_risk["新客"].pk, at_risk["小客"].pk, "x"]
    )

    assert (made.created, made.not_allowed) == ([], 3)
    assert not FollowUp.objects.exists()


def test_a_done_follow_up_does_not_block_one_on_a_later_day(at_risk, sales_a):
    made = at_risk_followups_create(actor=sales_a, customer_ids=[at_risk["旧友"].pk])
    followup_done(actor=sales_a, followup=made.created[0], outcome="没接")

    with time_machine.travel(timezone.now() + timedelta(days=1), tick=False):
        again = at_risk_followups_create(actor=sales_a, customer_ids=[at_risk["旧友"].pk])

    assert len(again.created) == 1
    assert FollowUp.objects.filter(status=FollowUpStatus.OPEN).count() == 1


def test_without_the_follow_up_permission_nothing_is_made(at_risk, analyst):
    with pytest.raises(Forbidden):
        at_risk_followups_create(actor=analyst, customer_ids=[at_risk["旧友"].pk])
    assert not FollowUp.objects.exists()


def test_the_page_makes_follow_ups_for_the_ticked_customers(at_risk, sales_a, client_for):
    url = reverse("insights:segments_at_risk")
    client = client_for(sales_a)

    page = client.get(url)
    response = client.post(url, {"customer": [at_risk["旧友"].pk]}, follow=True)

    assert page.status_code == 200 and f'value="{at_risk["旧友"].pk}"' in page.content.decode()
    assert "1 follow-up added for today." in response.content.decode()
    assert FollowUp.objects.filter(customer=at_risk["旧友"]).count() == 1


def test_the_page_answers_403_to_a_post_without_the_follow_up_permission(at_risk, analyst, client_for):
    response = client_for(analyst).post(
        reverse("insights:segments_at_risk"), {"customer": [at_risk["旧友"].pk]}
    )

    assert response.status_code == 403
    assert not FollowUp.objects.exists()


def test_a_note_without_enough_history_ends_in_one_full_stop():
    score = CustomerScore(segment=Segment.GENERAL_WINBACK, tier=ValueTier.LOW, orders=1, spent_cny=Decimal(9))

    assert score_churn_note(score) == "General to win back, Low value. Not enough history to judge."


@pytest.mark.parametrize(
    ("language", "shown", "not_shown"),
    [
        ("en", "Valuable customer at risk of leaving: get in touch", "高价值客户"),
        ("zh-hans", "高价值客户有流失风险：请尽快联系", "Valuable customer"),
    ],
)
def test_the_follow_ups_title_reads_in_each_readers_language(
    at_risk, sales_a, client_for, settings, language, shown, not_shown
):
    # given the follow-up made from the list by a clerk reading in Chinese, in a shop that runs in Chinese
    settings.LANGUAGE_CODE = "zh-hans"
    with translation.override("zh-hans"):
        at_risk_followups_create(actor=sales_a, customer_ids=[at_risk["旧友"].pk])
    assert FollowUp.objects.get().title == "高价值客户有流失风险：请尽快联系"

    # when the owner reads the day's follow-ups in a language
    html = client_for(sales_a).get(reverse("followups:today"), HTTP_ACCEPT_LANGUAGE=language).content.decode()

    # then the title is written in it
    assert shown in html
    assert not_shown not in html
