"""Surveys through their services: the builder's rules, personal links one by one and in batches, the
customer's answer written whole or not at all, and NPS and CSAT by their standard definitions."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.utils import timezone

from kebu.audit.models import AuditEntry
from kebu.core.errors import ValidationFailed
from kebu.customers.services import CustomerInput, customer_archive, customer_create
from kebu.engagement.models import Answer, Question, Survey, SurveyInvitation, SurveyResponse
from kebu.engagement.selectors.surveys import csat_summary, nps_summary, survey_results
from kebu.engagement.services import surveys as services
from kebu.orders.models import OrderStatus
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

SHANGHAI = "Asia/Shanghai"


# --- helpers, shared with the page tests -------------------------------------------------------------


def own_customer(user, name: str = "张三"):
    return customer_create(actor=user, data=CustomerInput(name=name, owner=user))


def make_survey(
    actor, *, title: str = "订单满意度回访", kinds=("nps", "csat", "single", "multiple", "text")
) -> Survey:
    survey = services.survey_create(actor=actor, title=title, intro="耽误您一分钟", thanks="谢谢您的反馈！")
    texts = {
        "nps": ("您有多大可能把本店推荐给朋友？", []),
        "csat": ("您对这次购物满意吗？", []),
        "single": ("您从哪里知道我们？", ["淘宝", "抖音", "朋友推荐"]),
        "multiple": ("您看重什么？", ["价格", "质量", "物流", "服务"]),
        "text": ("还有什么想对我们说的？", []),
    }
    for kind in kinds:
        text, choices = texts[kind]
        services.question_add(
            actor=actor,
            survey=survey,
            kind=kind,
            text=text,
            required=kind in ("nps", "csat", "single"),
            choices=choices,
        )
    return survey


def question(survey: Survey, kind: str) -> Question:
    return survey.questions.get(kind=kind)


def full_answers(survey: Survey, *, nps=9, csat=5, single="淘宝", multiple=("质量",), text="很好") -> dict:
    return {
        question(survey, "nps").pk: str(nps),
        question(survey, "csat").pk: str(csat),
        question(survey, "single").pk: single,
        question(survey, "multiple").pk: list(multiple),
        question(survey, "text").pk: text,
    }


def invite(actor, survey, customer, **kwargs) -> SurveyInvitation:
    return services.invitation_create(actor=actor, survey=survey, customer=customer, **kwargs)[0]


def delivered(actor, catalogue, customer, *, days_ago: float, at=None):
    """An order ``customer`` received ``days_ago`` days ago (or ``at``), ordered a day before."""
    moment = (at or timezone.now() - timedelta(days=days_ago)).replace(microsecond=0)
    return make_order(
        actor=actor,
        customer=customer,
        store=catalogue.store,
        status=OrderStatus.DELIVERED,
        ordered_at=moment - timedelta(days=1),
        shipped_at=moment,
    )


def without_orders(user):
    """``user`` as an admin who trimmed their role of orders leaves them: customers and surveys, no
    purchases (the role's other permissions kept on the user)."""
    kept = list(Permission.objects.filter(group__user=user).exclude(content_type__app_label="orders"))
    user.groups.clear()
    user.user_permissions.set(kept)
    return type(user).objects.get(pk=user.pk)


@pytest.fixture
def service_desk(staff_member, team_east):
    """A sales colleague who may not see orders."""
    return without_orders(staff_member("sales", "service_desk", display_name="客服", team=team_east))


class OrderReads:
    """The SELECTs on the orders table while it is active, with the depth of atomic blocks of each."""

    def __init__(self) -> None:
        self.depths: list[int] = []
        self.sql: list[str] = []
        self.params: list = []

    def __call__(self, execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("SELECT") and 'FROM "orders_order"' in sql:
            self.depths.append(len(connection.atomic_blocks))
            self.sql.append(sql)
            self.params.append(params)
        return execute(sql, params, many, context)


# --- the builder -------------------------------------------------------------------------------------


def test_a_survey_needs_a_title_and_links_valid_for_1_to_365_days(manager_east):
    with pytest.raises(ValidationFailed) as caught:
        services.survey_create(actor=manager_east, title="  ", link_valid_days=0)

    assert set(caught.value.field_errors) == {"title", "link_valid_days"}
    assert "Links are valid for 1 to 365 days." in caught.value.field_errors["link_valid_days"]
    assert not Survey.objects.exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["只有一个"], "A choice question needs 2 to 20 options, one per line."),
        ([f"选项{i}" for i in range(21)], "A choice question needs 2 to 20 options, one per line."),
        (["淘宝", "  ", "淘宝"], "Each option may appear only once."),
    ],
)
def test_a_choice_question_needs_2_to_20_distinct_options(manager_east, options, message):
    survey = services.survey_create(actor=manager_east, title="渠道调查")

    with pytest.raises(ValidationFailed) as caught:
        services.question_add(
            actor=manager_east, survey=survey, kind="single", text="哪里？", choices=options
        )

    assert message in caught.value.field_errors["choices"]
    assert not survey.questions.exists()


def test_options_are_cleaned_of_blank_lines_and_spaces(manager_east):
    survey = services.survey_create(actor=manager_east, title="渠道调查")

    added = services.question_add(
        actor=manager_east, survey=survey, kind="multiple", text="哪里？", choices="淘宝\n\n  抖音 \n"
    )

    assert added.choices == ["淘宝", "抖音"]


def test_questions_are_added_at_the_end_and_move_one_place_at_a_time(manager_east):
    survey = make_survey(manager_east, kinds=("nps", "csat", "text"))
    nps, _csat, text = survey.questions.order_by("position")

    services.question_move(actor=manager_east, question=text, direction="up")
    services.question_move(actor=manager_east, question=nps, direction="up")  # first already: stays

    assert list(survey.questions.order_by("position").values_list("kind", flat=True)) == [
        "nps",
        "text",
        "csat",
    ]
    assert list(survey.questions.order_by("position").values_list("position", flat=True)) == [0, 1, 2]


def test_a_question_is_removed_and_the_rest_renumbered(manager_east):
    survey = make_survey(manager_east, kinds=("nps", "csat", "text"))

    services.question_remove(actor=manager_east, question=question(survey, "csat"))

    assert list(survey.questions.values_list("kind", "position")) == [("nps", 0), ("text", 1)]
    assert AuditEntry.objects.filter(action="survey.question_remove").count() == 1


def test_a_survey_with_answers_keeps_its_questions_and_their_types(manager_east, sales_a):
    survey = make_survey(manager_east)
    services.response_submit(
        invitation=invite(sales_a, survey, own_customer(sales_a)), answers=full_answers(survey)
    )
    single = question(survey, "single")

    with pytest.raises(ValidationFailed, match="removing a question would orphan them"):
        services.question_remove(actor=manager_east, question=single)
    with pytest.raises(ValidationFailed) as retyped:
        services.question_update(
            actor=manager_east,
            question=single,
            kind="multiple",
            text=single.text,
            required=True,
            choices=single.choices,
        )
    with pytest.raises(ValidationFailed) as renamed:
        services.question_update(
            actor=manager_east,
            question=single,
            kind="single",
            text=single.text,
            required=True,
            choices=["天猫", "抖音", "朋友推荐"],
        )
    with pytest.raises(ValidationFailed) as two_gone:
        services.question_update(
            actor=manager_east,
            question=single,
            kind="single",
            text=single.text,
            required=True,
            choices=["淘宝", "小红书"],
        )
    with pytest.raises(ValidationFailed) as required_new:
        services.question_add(
            actor=manager_east, survey=survey, kind="csat", text="物流满意吗？", required=True
        )

    assert "changing the question's type would orphan them" in retyped.value.field_errors["kind"][0]
    assert "淘宝" in renamed.value.field_errors["choices"][0]
    assert "(抖音, 朋友推荐)" in two_gone.value.field_errors["choices"][0]  # listed as English lists
    assert "must be optional" in required_new.value.field_errors["required"][0]
    single.refresh_from_db()
    assert (single.kind, single.choices, survey.questions.count()) == (
        "single",
        ["淘宝", "抖音", "朋友推荐"],
        5,
    )

    # What stays allowed: a better wording, one more option, an optional new question.
    services.question_update(
        actor=manager_east,
        question=single,
        kind="single",
        text="您是从哪里知道我们的？",
        required=True,
        choices=["淘宝", "抖音", "朋友推荐", "小红书"],
    )
    services.question_add(actor=manager_east, survey=survey, kind="csat", text="物流满意吗？", required=False)
    single.refresh_from_db()
    assert single.text == "您是从哪里知道我们的？" and single.choices[-1] == "小红书"
    assert survey.questions.count() == 6


def test_a_survey_is_closed_and_reopened_with_an_audit_entry(manager_east):
    survey = make_survey(manager_east)

    services.survey_set_active(actor=manager_east, survey=survey, is_active=False)
    assert Survey.objects.get(pk=survey.pk).is_active is False
    services.survey_set_active(actor=manager_east, survey=survey, is_active=True)

    assert Survey.objects.get(pk=survey.pk).is_active is True
    assert list(
        AuditEntry.objects.filter(target_id=str(survey.pk), action__in=["survey.close", "survey.reopen"])
        .order_by("seq")
        .values_list("action", flat=True)
    ) == ["survey.close", "survey.reopen"]


# --- links -------------------------------------------------------------------------------------------


def test_a_link_expires_after_the_surveys_days(manager_east, sales_a):
    survey = make_survey(manager_east)
    with time_machine.travel(datetime(2026, 3, 1, 10, 0, tzinfo=ZoneInfo(SHANGHAI)), tick=False):
        invitation = invite(sales_a, survey, own_customer(sales_a))

    assert invitation.expires_at - invitation.created_at == timedelta(days=14)
    assert len(invitation.nonce) >= 20


def test_asking_again_gives_back_the_open_link_and_a_new_one_once_it_expired(manager_east, sales_a):
    survey = make_survey(manager_east)
    customer = own_customer(sales_a)

    first, created = services.invitation_create(actor=sales_a, survey=survey, customer=customer)
    again, created_again = services.invitation_create(actor=sales_a, survey=survey, customer=customer)
    with time_machine.travel(timezone.now() + timedelta(days=15)):
        later, created_later = services.invitation_create(actor=sales_a, survey=survey, customer=customer)

    assert (created, created_again, created_later) == (True, False, True)
    assert again.pk == first.pk and later.pk != first.pk


def test_no_link_for_an_archived_customer_or_a_closed_survey(manager_east, sales_a):
    survey = make_survey(manager_east)
    archived = own_customer(sales_a, "已归档")
    customer_archive(actor=sales_a, customer=archived)
    archived.refresh_from_db()

    with pytest.raises(ValidationFailed) as caught:
        services.invitation_create(actor=sales_a, survey=survey, customer=archived)
    services.survey_set_active(actor=manager_east, survey=survey, is_active=False)
    with pytest.raises(services.SurveyClosed):
        services.invitation_create(actor=sales_a, survey=survey, customer=own_customer(sales_a))

    assert "archived" in caught.value.field_errors["customer"][0]
    assert not SurveyInvitation.objects.exists()


def test_a_survey_without_questions_sends_no_links(manager_east, sales_a):
    survey = services.survey_create(actor=manager_east, title="空的")

    with pytest.raises(ValidationFailed, match="Add a question"):
        services.invitation_create(actor=sales_a, survey=survey, customer=own_customer(sales_a))


def test_a_batch_refuses_archived_unknown_and_colleagues_customers_and_keeps_open_links(
    manager_east, sales_a, sales_b
):
    survey = make_survey(manager_east)
    mine, invited, archived = (
        own_customer(sales_a, "甲"),
        own_customer(sales_a, "乙"),
        own_customer(sales_a, "丙"),
    )
    customer_archive(actor=sales_a, customer=archived)
    colleagues = own_customer(sales_b, "别人的")
    kept = invite(sales_a, survey, invited)

    result = services.invitations_create_batch(
        actor=sales_a,
        survey=survey,
        customer_numbers=f"{mine.customer_no}, {invited.customer_no}\n{archived.customer_no}\n"
        f"{colleagues.customer_no}\nC999999\n{mine.customer_no.lower()}",
    )

    assert [inv.customer_id for inv in result.created] == [mine.pk]
    assert result.already_open == 1
    assert result.archived == [archived.customer_no]
    assert result.not_found == [colleagues.customer_no, "C999999"]
    assert set(SurveyInvitation.objects.values_list("customer_id", flat=True)) == {mine.pk, kept.customer_id}
    assert AuditEntry.objects.get(action="survey.invite_batch").data["created"] == 1


def test_a_batch_of_recent_deliveries_links_each_customer_to_their_latest_order(
    manager_east, sales_a, catalogue
):
    survey = make_survey(manager_east)
    recent, old = own_customer(sales_a, "最近收货"), own_customer(sales_a, "很久以前")
    now = timezone.now()
    make_order(
        actor=sales_a,
        customer=recent,
        store=catalogue.store,
        status=OrderStatus.DELIVERED,
        ordered_at=now - timedelta(days=6),
        shipped_at=now - timedelta(days=5),
    )
    latest = make_order(
        actor=sales_a,
        customer=recent,
        store=catalogue.store,
        status=OrderStatus.DELIVERED,
        ordered_at=now - timedelta(days=3),
        shipped_at=now - timedelta(days=2),
    )
    make_order(
        actor=sales_a,
        customer=old,
        store=catalogue.store,
        status=OrderStatus.DELIVERED,
        ordered_at=now - timedelta(days=40),
        shipped_at=now - timedelta(days=30),
    )

    result = services.invitations_create_batch(actor=sales_a, survey=survey, delivered_within_days=7)
    again = services.invitations_create_batch(actor=sales_a, survey=survey, delivered_within_days=7)

    assert [(inv.customer_id, inv.order_id) for inv in result.created] == [(recent.pk, latest.pk)]
    assert (len(again.created), again.already_open) == (0, 1)


def test_recent_deliveries_are_read_before_the_transaction_that_writes_the_links(
    manager_east, sales_a, catalogue
):
    # On SQLite a transaction holds the write lock from its start: a long read must not happen in it.
    survey = make_survey(manager_east)
    delivered(sales_a, catalogue, own_customer(sales_a), days_ago=2)
    depth_of_the_call = len(connection.atomic_blocks)
    reads = OrderReads()

    with connection.execute_wrapper(reads):
        result = services.invitations_create_batch(actor=sales_a, survey=survey, delivered_within_days=7)

    assert len(result.created) == 1
    assert reads.depths and set(reads.depths) == {depth_of_the_call}


def test_recent_deliveries_stop_being_read_past_the_batch_limit(
    manager_east, sales_a, catalogue, monkeypatch
):
    monkeypatch.setattr(services, "MAX_BATCH", 2)
    monkeypatch.setattr(services, "CANDIDATE_PAGE", 2, raising=False)
    survey = make_survey(manager_east)
    for index in range(8):
        delivered(sales_a, catalogue, own_customer(sales_a, f"收货{index}"), days_ago=1 + index / 10)
    reads = OrderReads()

    with connection.execute_wrapper(reads), pytest.raises(ValidationFailed) as caught:
        services.invitations_create_batch(actor=sales_a, survey=survey, delivered_within_days=7)

    assert caught.value.field_errors == {"delivered_within_days": ["At most 2 customers at a time."]}
    assert not SurveyInvitation.objects.exists()
    # The third customer is on the second page of two orders: the other six are never read.
    assert len(reads.sql) == 2 and all("LIMIT 2" in sql for sql in reads.sql)


def test_recent_deliveries_are_read_along_the_delivery_index_without_a_sort(
    manager_east, sales_a, catalogue, monkeypatch
):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL plans by its statistics, which a small test database does not have")
    monkeypatch.setattr(services, "CANDIDATE_PAGE", 1, raising=False)
    survey = make_survey(manager_east)
    for index in range(2):
        delivered(sales_a, catalogue, own_customer(sales_a, f"收货{index}"), days_ago=1 + index)
    reads = OrderReads()

    with connection.execute_wrapper(reads):
        services.invitations_create_batch(actor=sales_a, survey=survey, delivered_within_days=7)

    with connection.cursor() as cursor:
        for sql, params in zip(reads.sql[:2], reads.params[:2], strict=True):
            cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
            plan = " / ".join(row[3] for row in cursor.fetchall())
            assert "USING INDEX order_delivered" in plan and "TEMP B-TREE" not in plan, plan


def test_recent_deliveries_are_read_page_by_page_without_losing_orders_of_the_same_moment(
    manager_east, sales_a, catalogue, monkeypatch
):
    monkeypatch.setattr(services, "MAX_BATCH", 3)
    monkeypatch.setattr(services, "CANDIDATE_PAGE", 2, raising=False)
    survey = make_survey(manager_east)
    first, second, third = (own_customer(sales_a, name) for name in ("甲", "乙", "丙"))
    moment = timezone.now().replace(microsecond=0) - timedelta(days=2)
    latest_of_first = delivered(sales_a, catalogue, first, days_ago=1)
    of_second = delivered(sales_a, catalogue, second, days_ago=0, at=moment)
    of_third = delivered(sales_a, catalogue, third, days_ago=0, at=moment)  # the same second
    delivered(sales_a, catalogue, first, days_ago=3)

    result = services.invitations_create_batch(actor=sales_a, survey=survey, delivered_within_days=7)

    assert {(inv.customer_id, inv.order_id) for inv in result.created} == {
        (first.pk, latest_of_first.pk),
        (second.pk, of_second.pk),
        (third.pk, of_third.pk),
    }


def test_someone_who_may_not_see_orders_makes_no_links_from_deliveries(
    manager_east, owner, service_desk, catalogue
):
    survey = make_survey(manager_east)
    delivered(owner, catalogue, own_customer(service_desk), days_ago=2)

    result = services.invitations_create_batch(actor=service_desk, survey=survey, delivered_within_days=7)

    assert result.created == [] and not SurveyInvitation.objects.exists()


def test_a_batch_needs_customers(manager_east, sales_a):
    survey = make_survey(manager_east)

    with pytest.raises(ValidationFailed) as caught:
        services.invitations_create_batch(actor=sales_a, survey=survey, customer_numbers=" \n ,")

    assert "customer_numbers" in caught.value.field_errors
    assert not SurveyInvitation.objects.exists()


# --- the customer's answer ---------------------------------------------------------------------------


def test_an_answer_is_written_whole_with_the_options_in_the_questions_order(manager_east, sales_a):
    survey = make_survey(manager_east)
    invitation = invite(sales_a, survey, own_customer(sales_a))

    response = services.response_submit(
        invitation=invitation, answers=full_answers(survey, multiple=("服务", "价格"), text="  包装很用心  ")
    )

    invitation.refresh_from_db()
    assert invitation.responded_at == response.submitted_at
    answers = {a.question.kind: a for a in response.answers.select_related("question")}
    assert (answers["nps"].score, answers["csat"].score) == (9, 5)
    assert answers["single"].choices == ["淘宝"]
    assert answers["multiple"].choices == ["价格", "服务"]
    assert answers["text"].text == "包装很用心"
    entry = AuditEntry.objects.get(action="survey.respond")
    assert entry.actor_id is None and entry.data["answers"] == 5


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("nps", "11", "Choose a score from 0 to 10."),
        ("nps", "-1", "Choose a score from 0 to 10."),
        ("nps", "٣", "Choose a score from 0 to 10."),
        ("csat", "0", "Choose a score from 1 to 5."),
        ("single", "拼多多", "Choose among the options shown."),
        ("multiple", ["价格", "价格"], "Choose among the options shown."),
        ("text", "好" * 2001, "Please keep the answer to 2000 characters."),
    ],
)
def test_answers_out_of_range_are_refused_and_nothing_is_written(manager_east, sales_a, kind, value, message):
    survey = make_survey(manager_east)
    invitation = invite(sales_a, survey, own_customer(sales_a))
    answers = full_answers(survey)
    answers[question(survey, kind).pk] = value

    with pytest.raises(ValidationFailed) as caught:
        services.response_submit(invitation=invitation, answers=answers)

    assert caught.value.field_errors == {f"q{question(survey, kind).pk}": [message]}
    invitation.refresh_from_db()
    assert invitation.responded_at is None
    assert not SurveyResponse.objects.exists() and not Answer.objects.exists()


def test_required_questions_left_empty_are_each_named(manager_east, sales_a):
    survey = make_survey(manager_east)
    invitation = invite(sales_a, survey, own_customer(sales_a))

    with pytest.raises(ValidationFailed) as caught:
        services.response_submit(invitation=invitation, answers={question(survey, "text").pk: "只写了意见"})

    required = {f"q{question(survey, kind).pk}" for kind in ("nps", "csat", "single")}
    assert set(caught.value.field_errors) == required
    assert not SurveyResponse.objects.exists()


def test_a_second_submit_of_the_same_link_is_refused_and_writes_nothing(manager_east, sales_a):
    survey = make_survey(manager_east)
    invitation = invite(sales_a, survey, own_customer(sales_a))
    services.response_submit(invitation=invitation, answers=full_answers(survey, nps=10))

    with pytest.raises(services.AlreadyAnswered):
        services.response_submit(invitation=invitation, answers=full_answers(survey, nps=0))

    assert SurveyResponse.objects.count() == 1
    assert list(Answer.objects.filter(question__kind="nps").values_list("score", flat=True)) == [10]


def test_the_unique_invitation_refuses_a_second_response_even_past_the_claim(manager_east, sales_a):
    # A response written behind the claim's back (a row restored from a backup, a hand edit): the
    # database's unique invitation is the last word, and the second answer rolls back whole.
    survey = make_survey(manager_east)
    invitation = invite(sales_a, survey, own_customer(sales_a))
    SurveyResponse.objects.create(invitation=invitation, survey=survey, customer_id=invitation.customer_id)

    with pytest.raises(services.AlreadyAnswered):
        services.response_submit(invitation=invitation, answers=full_answers(survey))

    invitation.refresh_from_db()
    assert invitation.responded_at is None
    assert not Answer.objects.exists()


def test_an_expired_link_takes_no_answer(manager_east, sales_a):
    survey = make_survey(manager_east)
    with time_machine.travel("2026-03-01 10:00 +0800", tick=False):
        invitation = invite(sales_a, survey, own_customer(sales_a))
    with time_machine.travel("2026-03-15 10:00 +0800", tick=False), pytest.raises(services.LinkExpired):
        services.response_submit(invitation=invitation, answers=full_answers(survey))

    assert not SurveyResponse.objects.exists()


def test_a_closed_survey_takes_no_answer(manager_east, sales_a):
    survey = make_survey(manager_east)
    invitation = invite(sales_a, survey, own_customer(sales_a))
    services.survey_set_active(actor=manager_east, survey=survey, is_active=False)

    with pytest.raises(services.SurveyClosed):
        services.response_submit(invitation=invitation, answers=full_answers(survey))

    assert not SurveyResponse.objects.exists()


# --- results -----------------------------------------------------------------------------------------


def test_nps_is_promoters_less_detractors_by_hand():
    # 10 answers: promoters 10, 10, 9, 9, 9 (5 = 50 %); passives 8, 7 (20 %); detractors 6, 3, 0 (30 %).
    summary = nps_summary({10: 2, 9: 3, 8: 1, 7: 1, 6: 1, 3: 1, 0: 1})

    assert (summary.count, summary.promoters_pct, summary.passives_pct, summary.detractors_pct) == (
        10,
        50.0,
        20.0,
        30.0,
    )
    assert summary.nps == 20.0
    assert summary.indicative


def test_csat_is_the_share_of_4_and_5_with_the_average_beside_it():
    summary = csat_summary({5: 2, 4: 1, 3: 1, 1: 1})  # 5, 5, 4, 3, 1

    assert summary.csat_pct == 60.0
    assert summary.average == 3.6


def test_no_answers_give_no_score_rather_than_zero():
    assert nps_summary({}).nps is None and csat_summary({}).csat_pct is None


def test_results_are_counted_per_question_from_the_answers(manager_east, sales_a):
    survey = make_survey(manager_east)
    scores = [
        (10, 5, "淘宝", ["价格"]),
        (9, 4, "抖音", ["价格", "质量"]),
        (6, 2, "淘宝", ["质量"]),
        (0, 1, "淘宝", []),
    ]
    for index, (nps, csat, single, multiple) in enumerate(scores):
        invitation = invite(sales_a, survey, own_customer(sales_a, f"客户{index}"))
        services.response_submit(
            invitation=invitation,
            answers=full_answers(survey, nps=nps, csat=csat, single=single, multiple=multiple),
        )
    invite(sales_a, survey, own_customer(sales_a, "没回答"))

    results = survey_results(survey=survey)

    by_kind = {item.question.kind: item for item in results.questions}
    assert (results.sent, results.answered, results.response_rate) == (5, 4, 80.0)
    assert by_kind["nps"].score.nps == 0.0  # 2 promoters, 2 detractors
    assert by_kind["csat"].score.csat_pct == 50.0 and by_kind["csat"].score.average == 3.0
    assert by_kind["single"].choices == [("淘宝", 3), ("抖音", 1), ("朋友推荐", 0)]
    assert by_kind["multiple"].choices == [("价格", 2), ("质量", 2), ("物流", 0), ("服务", 0)]
    assert by_kind["multiple"].answered == 3  # the one who chose nothing (optional) wrote no answer


def test_results_are_filtered_by_the_shops_days(manager_east, sales_a, settings):
    settings.TIME_ZONE = SHANGHAI
    survey = make_survey(manager_east, kinds=("nps",))
    # 2026-03-01 23:30 in Shanghai is still 1 March there, though 15:30 UTC.
    for moment, score in (("2026-03-01 23:30 +0800", 10), ("2026-03-02 00:30 +0800", 0)):
        with time_machine.travel(moment, tick=False):
            invitation = invite(sales_a, survey, own_customer(sales_a, moment))
            services.response_submit(invitation=invitation, answers={question(survey, "nps").pk: str(score)})

    first = survey_results(survey=survey, date_from=date(2026, 3, 1), date_to=date(2026, 3, 1))

    assert first.sent == 1 and first.questions[0].score.distribution[10] == 1
    assert first.questions[0].score.count == 1


def test_the_demo_sends_links_about_delivered_orders_and_runs_once(sales_a, catalogue):
    import random

    from kebu.engagement.demo.surveys import demo_surveys

    now = timezone.now()
    for index in range(16):
        make_order(
            actor=sales_a,
            customer=own_customer(sales_a, f"演示{index}"),
            store=catalogue.store,
            status=OrderStatus.DELIVERED,
            ordered_at=now - timedelta(days=12),
            shipped_at=now - timedelta(days=10),
        )

    made = demo_surveys(rng=random.Random(7), now=now)

    links = SurveyInvitation.objects.all()
    assert made > 0 and links.count() == 5  # one customer in three
    assert all(link.order.customer_id == link.customer_id for link in links)
    assert SurveyResponse.objects.count() == links.filter(responded_at__isnull=False).count()
    assert demo_surveys(rng=random.Random(7), now=now) == 0


def test_one_open_link_per_customer_survey_and_order(manager_east, sales_a, catalogue):
    survey = make_survey(manager_east)
    customer = own_customer(sales_a)
    first, second = (make_order(actor=sales_a, customer=customer, store=catalogue.store) for _ in range(2))

    about_first = invite(sales_a, survey, customer, order=first)
    about_second = invite(sales_a, survey, customer, order=second)
    without_order = invite(sales_a, survey, customer)

    assert len({about_first.pk, about_second.pk, without_order.pk}) == 3
    assert invite(sales_a, survey, customer, order=first).pk == about_first.pk
    assert invite(sales_a, survey, customer).pk == without_order.pk
