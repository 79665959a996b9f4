"""The staff side of surveys: the builder's pages (htmx), links from the customer page and in batches
with their export, the results page and export, the customer card, and the API; who sees what."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.urls import reverse
from python_calamine import CalamineWorkbook

from kebu.customers.services import CustomerInput, customer_create
from kebu.engagement.models import Question, Survey, SurveyInvitation
from kebu.engagement.services import surveys as services
from kebu.engagement.tests.test_surveys import (
    full_answers,
    invite,
    make_survey,
    own_customer,
    question,
    without_orders,
)
from kebu.orders.tests.factories import make_order

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def service_desk(staff_member, team_east):
    """A sales colleague who may not see orders."""
    return without_orders(staff_member("sales", "service_desk", display_name="客服", team=team_east))


def answered(survey, actor, customer, **answers):
    invitation = invite(actor, survey, customer)
    services.response_submit(invitation=invitation, answers=full_answers(survey, **answers))
    return invitation


def rows_of(content: bytes) -> list[list]:
    book = CalamineWorkbook.from_filelike(io.BytesIO(content))
    return book.get_sheet_by_index(0).to_python()


# --- the builder -------------------------------------------------------------------------------------


def test_sales_staff_see_surveys_but_do_not_build_them(client_for, sales_a, manager_east):
    survey = make_survey(manager_east)
    client = client_for(sales_a)

    assert client.get(reverse("surveys:list")).status_code == 200
    assert client.get(reverse("surveys:detail", args=[survey.pk])).status_code == 200
    assert client.get(reverse("surveys:create")).status_code == 403
    assert (
        client.post(
            reverse("surveys:question-add", args=[survey.pk]), {"new-kind": "text", "new-text": "x"}
        ).status_code
        == 403
    )
    assert survey.questions.count() == 5


def test_a_manager_creates_a_survey_and_is_sent_to_add_questions(client_for, manager_east):
    client = client_for(manager_east)

    refused = client.post(reverse("surveys:create"), {"title": "", "link_valid_days": "0"})
    made = client.post(
        reverse("surveys:create"), {"title": "复购调查", "intro": "", "thanks": "", "link_valid_days": "30"}
    )

    assert refused.status_code == 400 and not Survey.objects.filter(title="").exists()
    survey = Survey.objects.get()
    assert made["Location"] == reverse("surveys:detail", args=[survey.pk]) and survey.link_valid_days == 30


def test_questions_are_added_in_place_with_htmx_and_errors_shown_there(client_for, manager_east):
    survey = services.survey_create(actor=manager_east, title="渠道调查")
    client = client_for(manager_east)
    url = reverse("surveys:question-add", args=[survey.pk])

    bad = client.post(
        url, {"new-kind": "single", "new-text": "哪里？", "new-choices": "淘宝", "new-required": "on"}, **HTMX
    )
    good = client.post(
        url,
        {"new-kind": "single", "new-text": "哪里？", "new-choices": "淘宝\n抖音", "new-required": "on"},
        **HTMX,
    )

    assert bad.status_code == 200 and "A choice question needs 2 to 20 options" in bad.content.decode()
    assert (
        good.status_code == 200
        and 'id="questions"' in good.content.decode()
        and "<html" not in good.content.decode()
    )
    assert list(survey.questions.values_list("choices", flat=True)) == [["淘宝", "抖音"]]


def test_a_question_is_edited_moved_and_removed_through_the_builder(client_for, manager_east):
    survey = make_survey(manager_east, kinds=("nps", "text"))
    client = client_for(manager_east)
    text = question(survey, "text")

    form = client.get(reverse("surveys:question-edit", args=[text.pk]), **HTMX)
    client.post(
        reverse("surveys:question-edit", args=[text.pk]),
        {f"q{text.pk}-kind": "text", f"q{text.pk}-text": "还有什么建议？", f"q{text.pk}-choices": ""},
        **HTMX,
    )
    client.post(reverse("surveys:question-move", args=[text.pk]), {"direction": "up"}, **HTMX)
    removed = client.post(reverse("surveys:question-remove", args=[question(survey, "nps").pk]), **HTMX)

    assert f'name="q{text.pk}-text"' in form.content.decode()
    assert removed.status_code == 200
    assert list(survey.questions.values_list("kind", "text", "required", "position")) == [
        ("text", "还有什么建议？", False, 0)
    ]


def test_the_builder_says_why_a_question_of_an_answered_survey_stays(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)
    answered(survey, sales_a, own_customer(sales_a))

    page = client_for(manager_east).post(
        reverse("surveys:question-remove", args=[question(survey, "text").pk]), **HTMX
    )

    assert "removing a question would orphan them" in page.content.decode()
    assert survey.questions.count() == 5


def test_a_survey_is_closed_and_reopened_from_its_page(client_for, manager_east):
    survey = make_survey(manager_east)
    client = client_for(manager_east)

    client.post(reverse("surveys:close", args=[survey.pk]))
    closed = Survey.objects.get(pk=survey.pk).is_active
    client.post(reverse("surveys:reopen", args=[survey.pk]))

    assert closed is False and Survey.objects.get(pk=survey.pk).is_active is True


def test_the_preview_shows_the_customers_page_without_a_way_to_send(client_for, manager_east):
    survey = make_survey(manager_east)

    body = client_for(manager_east).get(reverse("surveys:preview", args=[survey.pk])).content.decode()

    assert 'id="preview-note"' in body and "您对这次购物满意吗？" in body
    assert 'type="submit" disabled' in body


# --- links -------------------------------------------------------------------------------------------


def test_send_survey_from_the_customer_page_shows_the_link_and_its_qr_code(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)
    customer = own_customer(sales_a)
    client = client_for(sales_a)

    detail = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    made = client.post(
        reverse("surveys:customer_send", args=[customer.pk]), {"survey": survey.pk, "order": ""}
    )
    again = client.post(
        reverse("surveys:customer_send", args=[customer.pk]), {"survey": survey.pk, "order": ""}
    )

    assert reverse("surveys:customer_send", args=[customer.pk]) in detail
    body = made.content.decode()
    invitation = SurveyInvitation.objects.get()
    assert made.status_code == 201 and again.status_code == 200
    assert "http://testserver/surveys/r/" in body and 'data-copy="#survey-url"' in body and "<svg" in body
    assert invitation.customer == customer and invitation.created_by == sales_a
    assert "already has an open link" in again.content.decode()


def test_the_send_form_offers_the_customers_orders_by_the_shops_day(
    client_for, manager_east, sales_a, catalogue
):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    make_survey(manager_east)
    customer = own_customer(sales_a)
    # 07:00 on 1 March in Shanghai is still 28 February in UTC.
    order = make_order(
        actor=sales_a,
        customer=customer,
        store=catalogue.store,
        ordered_at=datetime(2026, 3, 1, 7, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
    )

    page = client_for(sales_a).get(reverse("surveys:customer_send", args=[customer.pk]))

    choices = dict(page.context["form"].fields["order"].choices)
    assert choices[order.pk].startswith(f"{order.order_no} · 2026-03-01 · ")


def test_the_send_form_reads_order_amounts_as_money_and_refuses_another_customers_order(
    client_for, manager_east, sales_a, catalogue
):
    survey = make_survey(manager_east)
    customer = own_customer(sales_a)
    order = make_order(actor=sales_a, customer=customer, store=catalogue.store, lines=[("CREAM-50", 6)])
    others_order = make_order(actor=sales_a, customer=own_customer(sales_a), store=catalogue.store)
    client = client_for(sales_a)
    url = reverse("surveys:customer_send", args=[customer.pk])

    choices = dict(client.get(url).context["form"].fields["order"].choices)
    refused = client.post(url, {"survey": survey.pk, "order": others_order.pk})

    assert choices[order.pk].endswith(" · ¥1,194.00")
    assert refused.context["form"].errors["order"] == ["Choose one of this customer's orders."]
    assert not SurveyInvitation.objects.exists()


def test_someone_who_may_not_see_orders_sends_links_without_any(
    client_for, manager_east, owner, service_desk, catalogue
):
    survey = make_survey(manager_east)
    customer = own_customer(service_desk)
    order = make_order(actor=owner, customer=customer, store=catalogue.store)
    client = client_for(service_desk)
    url = reverse("surveys:customer_send", args=[customer.pk])

    page = client.get(url, {"order": order.pk})
    made = client.post(url, {"survey": survey.pk, "order": order.pk})
    by_api = client.post(
        f"/api/v1/surveys/{survey.pk}/invitations/",
        {"customer": customer.pk, "order": order.pk},
        content_type="application/json",
    )

    assert page.status_code == 200 and "order" not in page.context["form"].fields
    assert order.order_no not in page.content.decode()
    assert made.status_code == 201 and order.order_no not in made.content.decode()
    assert by_api.status_code == 400 and "order" in by_api.json()
    assert list(SurveyInvitation.objects.values_list("order_id", flat=True)) == [None]


def test_someone_who_may_not_see_orders_sees_no_order_numbers_on_surveys(
    client_for, manager_east, owner, service_desk, catalogue
):
    survey = make_survey(manager_east)
    customer = own_customer(service_desk)
    order = make_order(actor=owner, customer=customer, store=catalogue.store)
    services.response_submit(
        invitation=invite(owner, survey, customer, order=order), answers=full_answers(survey)
    )
    client = client_for(service_desk)

    detail = client.get(reverse("surveys:detail", args=[survey.pk])).content.decode()
    card = client.get(reverse("surveys:customer_surveys", args=[customer.pk])).content.decode()
    answers = rows_of(client.get(reverse("surveys:results-export", args=[survey.pk])).content)
    batch = client.post(
        reverse("surveys:links", args=[survey.pk]),
        {"source": "numbers", "customer_numbers": customer.customer_no},
    )
    links = rows_of(
        client.get(
            reverse("surveys:links-export", args=[survey.pk]),
            {"batch": batch.context["batch"], "format": "xlsx"},
        ).content
    )
    from_deliveries = client.post(
        reverse("surveys:links", args=[survey.pk]), {"source": "delivered", "delivered_within_days": "7"}
    )

    assert customer.customer_no in detail and order.order_no not in detail
    assert 'value="delivered"' not in detail  # links from recent deliveries would tell who bought
    assert "订单满意度回访" in card and order.order_no not in card
    assert answers[0][:3] == ["Customer number", "Name", "Answered at"]
    assert order.order_no not in str(answers)
    assert links[0] == ["Customer number", "Name", "Link", "Expires at"]
    assert from_deliveries.status_code == 400 and SurveyInvitation.objects.count() == 2


def test_the_customer_pages_of_surveys_answer_404_for_a_colleagues_customer(
    client_for, manager_east, sales_a, sales_b
):
    survey = make_survey(manager_east)
    colleagues = own_customer(sales_b, "别人的客户")
    answered(survey, sales_b, colleagues, text="秘密意见")
    client = client_for(sales_a)

    card = client.get(reverse("surveys:customer_surveys", args=[colleagues.pk]))
    send = client.get(reverse("surveys:customer_send", args=[colleagues.pk]))
    post = client.post(reverse("surveys:customer_send", args=[colleagues.pk]), {"survey": survey.pk})

    assert card.status_code == send.status_code == post.status_code == 404
    assert SurveyInvitation.objects.count() == 1


def test_the_customer_card_shows_the_answered_surveys_scores(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)
    customer = own_customer(sales_a)
    answered(survey, sales_a, customer, nps=6, csat=4)

    body = client_for(sales_a).get(reverse("surveys:customer_surveys", args=[customer.pk])).content.decode()

    assert "订单满意度回访" in body
    assert 'NPS <span class="badge text-bg-danger">6</span>' in body
    assert 'CSAT <span class="badge text-bg-success">4</span>' in body


def test_a_batch_of_links_is_exported_with_formulas_neutralised(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)
    risky = customer_create(actor=sales_a, data=CustomerInput(name="=HYPERLINK(1)", owner=sales_a))
    plain = own_customer(sales_a, "王五")
    client = client_for(sales_a)

    page = client.post(
        reverse("surveys:links", args=[survey.pk]),
        {"source": "numbers", "customer_numbers": f"{risky.customer_no}\n{plain.customer_no}"},
    )
    batch = page.context["batch"]
    xlsx = client.get(reverse("surveys:links-export", args=[survey.pk]), {"batch": batch, "format": "xlsx"})
    csv_body = client.get(
        reverse("surveys:links-export", args=[survey.pk]), {"batch": batch, "format": "csv"}
    )

    assert page.status_code == 200 and "2 links made." in page.content.decode()
    rows = rows_of(xlsx.content)
    assert len(rows) == 3
    assert {row[1] for row in rows[1:]} == {"'=HYPERLINK(1)", "王五"}
    assert all(str(row[3]).startswith("http://testserver/surveys/r/") for row in rows[1:])
    assert "'=HYPERLINK(1)" in csv_body.content.decode("utf-8-sig")


def test_a_batch_without_customers_says_what_to_do(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)

    page = client_for(sales_a).post(
        reverse("surveys:links", args=[survey.pk]), {"source": "delivered", "delivered_within_days": ""}
    )

    assert page.status_code == 400 and "Enter the number of days." in page.content.decode()
    assert not SurveyInvitation.objects.exists()


# --- results -----------------------------------------------------------------------------------------


def test_results_count_everyone_but_list_only_the_customers_one_may_see(
    client_for, manager_east, sales_a, sales_b
):
    survey = make_survey(manager_east)
    answered(survey, sales_a, own_customer(sales_a, "甲的客户"), nps=10, text="甲客户的意见")
    answered(survey, sales_b, own_customer(sales_b, "乙的客户"), nps=0, text="乙客户的意见")

    page = client_for(sales_a).get(reverse("surveys:results", args=[survey.pk]))

    body = page.content.decode()
    assert page.status_code == 200
    assert 'id="count-answered">2<' in body
    assert f'data-nps="{question(survey, "nps").pk}">0<' in body  # one promoter, one detractor
    assert "n &lt; 30: indicative" in body
    assert "a chat app fetching the link for its preview does not count" in body
    assert "甲客户的意见" in body and "乙客户的意见" not in body and "乙的客户" not in body
    chart = json.loads(
        re.search(r'id="survey-chart-data" type="application/json">(.*?)</script>', body).group(1)
    )
    nps_chart = next(c for c in chart["charts"] if c["kind"] == "nps")
    assert nps_chart["values"][0] == 1 and nps_chart["values"][10] == 1 and len(nps_chart["values"]) == 11


def test_the_results_page_counts_in_a_few_queries(
    client_for, manager_east, sales_a, django_assert_max_num_queries
):
    survey = make_survey(manager_east)
    for i in range(6):
        answered(survey, sales_a, own_customer(sales_a, f"客户{i}"), nps=i + 4, text=f"意见{i}")
    client = client_for(sales_a)
    client.get(reverse("surveys:results", args=[survey.pk]))  # sessions, permissions cached

    with django_assert_max_num_queries(20):
        client.get(reverse("surveys:results", args=[survey.pk]))


def test_the_results_export_has_a_row_per_visible_answer(client_for, manager_east, sales_a, sales_b):
    survey = make_survey(manager_east)
    mine = own_customer(sales_a, "甲的客户")
    answered(survey, sales_a, mine, nps=8, multiple=("价格", "物流"), text="@SUM(1)")
    answered(survey, sales_b, own_customer(sales_b, "乙的客户"))

    rows = rows_of(client_for(sales_a).get(reverse("surveys:results-export", args=[survey.pk])).content)

    assert len(rows) == 2
    header, row = rows
    assert header[4:] == [q.text for q in Question.objects.filter(survey=survey).order_by("position")]
    assert row[0] == mine.customer_no and row[4] == 8 and row[7] == "价格、物流" and row[8] == "'@SUM(1)"


def test_a_question_written_like_a_formula_heads_the_results_export_as_text(
    client_for, manager_east, sales_a
):
    survey = make_survey(manager_east, kinds=("nps",))
    services.question_add(
        actor=manager_east, survey=survey, kind="text", text='=HYPERLINK("http://x")', required=False
    )
    answered_by = own_customer(sales_a)
    services.response_submit(
        invitation=invite(sales_a, survey, answered_by), answers={question(survey, "nps").pk: "9"}
    )

    rows = rows_of(client_for(sales_a).get(reverse("surveys:results-export", args=[survey.pk])).content)

    assert rows[0][-1] == '\'=HYPERLINK("http://x")'


def test_the_results_need_the_view_permission(client, django_user_model, manager_east):
    survey = make_survey(manager_east)
    nobody = django_user_model.objects.create_user(username="nobody", password="pass-nobody-123")
    client.force_login(nobody)

    assert client.get(reverse("surveys:results", args=[survey.pk])).status_code == 403
    assert client.get(reverse("surveys:results", args=[survey.pk + 1000])).status_code == 404


def test_an_invalid_date_range_is_said_and_shows_all(client_for, manager_east):
    survey = make_survey(manager_east)

    page = client_for(manager_east).get(
        reverse("surveys:results", args=[survey.pk]), {"date_from": "2026-03-02", "date_to": "2026-03-01"}
    )

    assert page.status_code == 200 and "The end comes before the start." in page.content.decode()


# --- API ---------------------------------------------------------------------------------------------


def test_the_api_lists_surveys_and_gives_one_with_its_questions_and_scores(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)
    answered(survey, sales_a, own_customer(sales_a), nps=10, csat=4)
    client = client_for(sales_a)

    listing = client.get("/api/v1/surveys/").json()
    one = client.get(f"/api/v1/surveys/{survey.pk}/").json()

    assert [s["title"] for s in listing["results"]] == ["订单满意度回访"]
    assert [q["kind"] for q in one["questions"]] == ["nps", "csat", "single", "multiple", "text"]
    assert one["results"]["nps"]["score"] == 100.0 and one["results"]["nps"]["count"] == 1
    assert one["results"]["csat"]["score"] == 100.0 and one["results"]["csat"]["average"] == 4.0
    assert client.get("/api/v1/surveys/999999/").status_code == 404


def test_the_api_pages_surveys_by_page_size_as_the_other_lists_do(client_for, manager_east, sales_a):
    for title in ("一月回访", "二月回访", "三月回访"):
        make_survey(manager_east, title=title, kinds=("nps",))
    client = client_for(sales_a)

    first = client.get("/api/v1/surveys/", {"page_size": "2"}).json()
    rest = client.get(first["next"]).json()

    assert [s["title"] for s in first["results"]] == ["三月回访", "二月回访"]
    assert [s["title"] for s in rest["results"]] == ["一月回访"] and rest["next"] is None


@pytest.mark.parametrize("asked", ["0", "-5", "abc"])
def test_the_api_refuses_a_survey_page_size_no_page_can_have_naming_it(
    client_for, manager_east, sales_a, asked
):
    make_survey(manager_east, kinds=("nps",))

    response = client_for(sales_a).get(
        "/api/v1/surveys/", {"page_size": asked}, headers={"accept-language": "en"}
    )

    assert response.status_code == 400
    assert response.json()["page_size"] == [
        "page_size must be a whole number from 1 to 200 (leave it out for 50 a page)."
    ]


def test_the_api_makes_a_customers_link_once(client_for, manager_east, sales_a):
    survey = make_survey(manager_east)
    customer = own_customer(sales_a)
    client = client_for(sales_a)
    url = f"/api/v1/surveys/{survey.pk}/invitations/"

    made = client.post(url, {"customer": customer.pk}, content_type="application/json")
    again = client.post(url, {"customer": customer.pk}, content_type="application/json")

    assert made.status_code == 201 and again.status_code == 200
    assert made.json()["url"] == again.json()["url"]
    assert made.json()["url"].startswith("http://testserver/surveys/r/")
    assert client.get(made.json()["url"]).status_code == 200


def test_the_api_refuses_a_colleagues_customer_and_a_reader(
    client_for, manager_east, sales_a, sales_b, readonly
):
    survey = make_survey(manager_east)
    colleagues = own_customer(sales_b)
    url = f"/api/v1/surveys/{survey.pk}/invitations/"

    as_colleague = client_for(sales_a).post(url, {"customer": colleagues.pk}, content_type="application/json")
    as_reader = client_for(readonly).post(url, {"customer": colleagues.pk}, content_type="application/json")
    no_survey = client_for(sales_a).post(
        "/api/v1/surveys/999999/invitations/", {"customer": colleagues.pk}, content_type="application/json"
    )

    assert as_colleague.status_code == 400 and "customer" in as_colleague.json()
    assert as_reader.status_code == 403
    assert no_survey.status_code == 404
    assert not SurveyInvitation.objects.exists()


def test_the_api_refuses_an_order_of_another_customer(client_for, manager_east, sales_a, catalogue):
    from kebu.orders.tests.factories import make_order

    survey = make_survey(manager_east)
    customer, other = own_customer(sales_a, "甲"), own_customer(sales_a, "乙")
    order = make_order(actor=sales_a, customer=other, store=catalogue.store)

    answer = client_for(sales_a).post(
        f"/api/v1/surveys/{survey.pk}/invitations/",
        {"customer": customer.pk, "order": order.pk},
        content_type="application/json",
    )

    assert answer.status_code == 400 and "order" in answer.json()
    assert not SurveyInvitation.objects.exists()
