"""Follow-ups by hand and the steps on them (done, snooze, reassign, cancel), through the services, the
today page (htmx) and the API; who may see and act; bad input refused with a clear message and nothing
written. The clock is frozen in Asia/Shanghai where the day matters."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from kebu.audit.models import AuditEntry
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.tests.factories import make_customer
from kebu.engagement.models import FollowUp, FollowUpKind, FollowUpStatus
from kebu.engagement.selectors.followups import followups_buckets, followups_due_count
from kebu.engagement.services.followups import (
    followup_cancel,
    followup_create,
    followup_done,
    followup_reassign,
    followup_snooze,
)

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 3, 10)
# 00:30 on the 10th in Shanghai is still the 9th in UTC: the shop's day is the one that counts.
EARLY = datetime(2026, 3, 10, 0, 30, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel(EARLY, tick=False):
        yield


@pytest.fixture
def customer(sales_a):
    return make_customer(actor=sales_a, name="王芳", owner=sales_a)


@pytest.fixture
def theirs(sales_b):
    """A customer of a colleague in another team: sales_a may not see it."""
    return make_customer(actor=sales_b, name="李雷", owner=sales_b)


def _followup(customer, assignee, *, due_on=TODAY, title="回访", **fields):
    return FollowUp.objects.create(customer=customer, assignee=assignee, title=title, due_on=due_on, **fields)


# --- create --------------------------------------------------------------------------------------------


def test_a_follow_up_is_created_for_the_actor_today_and_audited(sales_a, customer):
    followup = followup_create(actor=sales_a, customer=customer, title=" 问问用得怎么样 ", due_on=TODAY)
    assert (followup.title, followup.assignee, followup.kind) == (
        "问问用得怎么样",
        sales_a,
        FollowUpKind.MANUAL,
    )
    assert followup.created_by == sales_a
    assert AuditEntry.objects.filter(action="followup.create", target_id=str(followup.pk)).exists()


def test_a_follow_up_due_yesterday_in_shanghai_is_refused_and_nothing_is_written(sales_a, customer):
    # it is 9 March in UTC, 10 March in the shop: the 9th is in the past
    with pytest.raises(ValidationFailed) as caught:
        followup_create(actor=sales_a, customer=customer, title="回访", due_on=date(2026, 3, 9))
    assert "in the past" in caught.value.field_errors["due_on"][0]
    assert not FollowUp.objects.exists()


def test_an_empty_title_is_refused(sales_a, customer):
    with pytest.raises(ValidationFailed) as caught:
        followup_create(actor=sales_a, customer=customer, title="  ", due_on=TODAY)
    assert "title" in caught.value.field_errors
    assert not FollowUp.objects.exists()


def test_the_assignee_must_see_the_customer(sales_a, sales_b, customer):
    with pytest.raises(ValidationFailed) as caught:
        followup_create(actor=sales_a, customer=customer, title="回访", due_on=TODAY, assignee=sales_b)
    assert "cannot see this customer" in caught.value.field_errors["assignee"][0]
    assert not FollowUp.objects.exists()


def test_an_inactive_assignee_is_refused(sales_a, customer, staff_member):
    gone = staff_member("sales", "gone", is_active=False)
    with pytest.raises(ValidationFailed) as caught:
        followup_create(actor=sales_a, customer=customer, title="回访", due_on=TODAY, assignee=gone)
    assert "active" in caught.value.field_errors["assignee"][0]


def test_a_colleagues_customer_reads_as_not_found(sales_a, theirs):
    with pytest.raises(NotFound):
        followup_create(actor=sales_a, customer=theirs, title="回访", due_on=TODAY)


def test_read_only_staff_may_not_add_follow_ups(readonly, customer):
    with pytest.raises(Forbidden):
        followup_create(actor=readonly, customer=customer, title="回访", due_on=TODAY)


# --- done, snooze, reassign, cancel --------------------------------------------------------------------


def test_done_records_the_outcome_and_cannot_be_done_again(sales_a, customer):
    followup = _followup(customer, sales_a)
    done = followup_done(actor=sales_a, followup=followup, outcome="很满意")
    assert (done.status, done.outcome, done.done_by) == (FollowUpStatus.DONE, "很满意", sales_a)
    with pytest.raises(ValidationFailed) as caught:
        followup_done(actor=sales_a, followup=followup, outcome="again")
    assert caught.value.field_errors["status"] == ["This follow-up is already done."]
    followup.refresh_from_db()
    assert followup.outcome == "很满意"


def test_someone_neither_assignee_nor_allowed_to_change_may_not_act(readonly, sales_a, customer):
    followup = _followup(customer, sales_a)
    with pytest.raises(Forbidden):
        followup_done(actor=readonly, followup=followup)
    followup.refresh_from_db()
    assert followup.status == FollowUpStatus.OPEN


def test_a_manager_may_act_on_the_teams_follow_ups(manager_east, sales_a, customer):
    followup = _followup(customer, sales_a)
    assert followup_done(actor=manager_east, followup=followup).status == FollowUpStatus.DONE


def test_snooze_by_days_moves_an_overdue_one_from_today_and_counts(sales_a, customer):
    followup = _followup(customer, sales_a, due_on=TODAY - timedelta(days=4))
    moved = followup_snooze(actor=sales_a, followup=followup, days=3)
    assert (moved.due_on, moved.snoozed_count) == (TODAY + timedelta(days=3), 1)
    moved = followup_snooze(actor=sales_a, followup=moved, until=date(2026, 4, 1))
    assert (moved.due_on, moved.snoozed_count) == (date(2026, 4, 1), 2)
    assert AuditEntry.objects.filter(action="followup.snooze").count() == 2


def test_snooze_into_the_past_is_refused_and_changes_nothing(sales_a, customer):
    followup = _followup(customer, sales_a)
    with pytest.raises(ValidationFailed) as caught:
        followup_snooze(actor=sales_a, followup=followup, until=date(2026, 3, 9))
    assert "in the past" in caught.value.field_errors["until"][0]
    followup.refresh_from_db()
    assert (followup.due_on, followup.snoozed_count) == (TODAY, 0)


def test_reassign_needs_a_colleague_who_sees_the_customer(sales_a, sales_b, manager_east, customer):
    followup = _followup(customer, sales_a)
    with pytest.raises(ValidationFailed):
        followup_reassign(actor=sales_a, followup=followup, assignee=sales_b)
    handed = followup_reassign(actor=sales_a, followup=followup, assignee=manager_east)
    assert handed.assignee == manager_east


def test_cancel_keeps_the_reason(sales_a, customer):
    followup = followup_cancel(actor=sales_a, followup=_followup(customer, sales_a), reason="客户已回复")
    assert (followup.status, followup.outcome) == (FollowUpStatus.CANCELLED, "客户已回复")
    with pytest.raises(ValidationFailed) as caught:
        followup_done(actor=sales_a, followup=followup)
    assert caught.value.field_errors["status"] == ["This follow-up was cancelled."]


# --- the today page ------------------------------------------------------------------------------------


def test_the_buckets_split_overdue_today_and_the_next_seven_days(sales_a, customer):
    overdue = _followup(customer, sales_a, due_on=TODAY - timedelta(days=1))
    today = _followup(customer, sales_a)
    soon = _followup(customer, sales_a, due_on=TODAY + timedelta(days=7))
    _followup(customer, sales_a, due_on=TODAY + timedelta(days=8))
    _followup(customer, sales_a, status=FollowUpStatus.DONE)
    buckets = followups_buckets(user=sales_a)
    assert [list(b) for b in (buckets.overdue, buckets.due_today, buckets.upcoming)] == [
        [overdue],
        [today],
        [soon],
    ]
    assert followups_due_count(user=sales_a) == 2


def test_the_today_page_shows_the_buckets_and_the_nav_count(sales_a, customer, client_for):
    _followup(customer, sales_a, due_on=TODAY - timedelta(days=2), title="逾期的回访")
    _followup(customer, sales_a, title="今天的回访")
    client = client_for(sales_a)
    page = client.get(reverse("followups:today"))
    assert page.status_code == 200
    body = page.content.decode()
    assert "逾期的回访" in body and "今天的回访" in body
    assert body.index("逾期的回访") < body.index("今天的回访")
    badge = client.get(reverse("followups:badge"))
    assert ">2<" in badge.content.decode()


def test_done_through_the_page_answers_with_the_row(sales_a, customer, client_for):
    followup = _followup(customer, sales_a)
    response = client_for(sales_a).post(
        reverse("followups:done", args=[followup.pk]), {"outcome": "已回访"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    assert f'id="followup-{followup.pk}"' in response.content.decode()
    followup.refresh_from_db()
    assert (followup.status, followup.outcome) == (FollowUpStatus.DONE, "已回访")


def test_snooze_through_the_page_with_a_quick_button(sales_a, customer, client_for):
    followup = _followup(customer, sales_a)
    client_for(sales_a).post(
        reverse("followups:snooze", args=[followup.pk]), {"days": "7"}, headers={"HX-Request": "true"}
    )
    followup.refresh_from_db()
    assert followup.due_on == TODAY + timedelta(days=7)


def test_a_snooze_into_the_past_through_the_page_shows_the_message_in_the_row(sales_a, customer, client_for):
    followup = _followup(customer, sales_a)
    response = client_for(sales_a).post(
        reverse("followups:snooze", args=[followup.pk]),
        {"until": "2026-03-01"},
        headers={"HX-Request": "true"},
    )
    assert "in the past" in response.content.decode()
    followup.refresh_from_db()
    assert followup.due_on == TODAY


def test_reassign_through_the_page(sales_a, manager_east, customer, client_for):
    followup = _followup(customer, sales_a)
    client_for(sales_a).post(
        reverse("followups:reassign", args=[followup.pk]),
        {"assignee": manager_east.pk},
        headers={"HX-Request": "true"},
    )
    followup.refresh_from_db()
    assert followup.assignee == manager_east


def test_a_colleagues_follow_up_answers_404_on_every_step(sales_a, sales_b, theirs, client_for):
    followup = _followup(theirs, sales_b)
    client = client_for(sales_a)
    for name in ("done", "snooze", "reassign", "cancel"):
        assert client.post(reverse(f"followups:{name}", args=[followup.pk]), {"days": "1"}).status_code == 404
    assert client.get(reverse("followups:customer_followups", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("followups:create", args=[theirs.pk])).status_code == 404
    assert client.get(reverse("followup-detail", args=[followup.pk])).status_code == 404
    followup.refresh_from_db()
    assert followup.status == FollowUpStatus.OPEN


def test_a_follow_up_handed_over_is_visible_to_its_new_assignee(sales_a, sales_b, theirs, client_for):
    followup = _followup(theirs, sales_a)
    response = client_for(sales_a).post(
        reverse("followups:done", args=[followup.pk]), {"outcome": "ok"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    followup.refresh_from_db()
    assert followup.status == FollowUpStatus.DONE


def test_adding_a_follow_up_on_the_customer_page(sales_a, customer, client_for):
    client = client_for(sales_a)
    assert client.get(reverse("followups:create", args=[customer.pk])).status_code == 200
    response = client.post(
        reverse("followups:create", args=[customer.pk]),
        {"title": "送试用装", "due_on": "2026-03-12", "assignee": sales_a.pk, "note": ""},
    )
    assert response.status_code == 302
    assert FollowUp.objects.get().title == "送试用装"
    card = client.get(reverse("followups:customer_followups", args=[customer.pk]))
    assert "送试用装" in card.content.decode()


def test_adding_a_follow_up_due_in_the_past_on_the_page_says_why(sales_a, customer, client_for):
    response = client_for(sales_a).post(
        reverse("followups:create", args=[customer.pk]),
        {"title": "送试用装", "due_on": "2026-03-09", "assignee": sales_a.pk},
    )
    assert response.status_code == 400
    assert "in the past" in response.content.decode()
    assert not FollowUp.objects.exists()


def test_the_unassigned_tab_shows_the_pools_follow_ups_to_those_who_see_them(sales_a, sales_b, client_for):
    pool = make_customer(actor=sales_a, name="公海客户", owner=None)
    _followup(pool, None, title="没人认领")
    assert (
        "没人认领" in client_for(sales_b).get(reverse("followups:today") + "?tab=unassigned").content.decode()
    )


# --- the API -------------------------------------------------------------------------------------------


def test_the_api_lists_mine_creates_and_takes_steps(sales_a, customer, client_for):
    client = client_for(sales_a)
    created = client.post(
        reverse("followup-list"),
        {"customer": customer.pk, "title": "电话回访", "due_on": "2026-03-11"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert [row["id"] for row in client.get(reverse("followup-list")).json()["results"]] == [pk]
    snoozed = client.post(reverse("followup-snooze", args=[pk]), {"days": 1}, content_type="application/json")
    assert snoozed.json()["due_on"] == "2026-03-12"
    done = client.post(
        reverse("followup-done", args=[pk]), {"outcome": "好"}, content_type="application/json"
    )
    assert done.json()["status"] == "done"
    again = client.post(reverse("followup-done", args=[pk]), {}, content_type="application/json")
    assert again.status_code == 400
    assert "already done" in again.content.decode()


def test_the_api_refuses_a_due_day_in_the_past_and_writes_nothing(sales_a, customer, client_for):
    response = client_for(sales_a).post(
        reverse("followup-list"),
        {"customer": customer.pk, "title": "电话回访", "due_on": "2026-03-09"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "due_on" in response.json()
    assert not FollowUp.objects.exists()
