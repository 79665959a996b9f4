"""The customer's answer page, `/surveys/r/<token>/`, as a phone opens it: no login, CSRF on, the
browser's language; and every way a link goes wrong: forged, expired, reused, closed, spammed."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.core import signing
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from kebu.engagement.models import Answer, SurveyInvitation, SurveyResponse
from kebu.engagement.selectors.surveys import TOKEN_SALT, invitation_token
from kebu.engagement.services import surveys as services
from kebu.engagement.tests.test_surveys import full_answers, invite, make_survey, own_customer, question
from kebu.engagement.views import survey_public

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """The rate limits count in the cache, which outlives a test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def survey(manager_east):
    return make_survey(manager_east)


@pytest.fixture
def invitation(survey, sales_a):
    return invite(sales_a, survey, own_customer(sales_a))


def url_of(invitation) -> str:
    return reverse("surveys:answer", args=[invitation_token(invitation)])


def post_data(survey, **overrides) -> dict:
    data = {f"q{qid}": value for qid, value in full_answers(survey, **overrides).items()}
    data["contact_website"] = ""
    return data


def nothing_written() -> bool:
    return not SurveyResponse.objects.exists() and not Answer.objects.exists()


def test_the_page_opens_without_a_login(invitation):
    first = Client().get(url_of(invitation))

    body = first.content.decode()
    assert first.status_code == 200
    assert "订单满意度回访" in body and "您有多大可能把本店推荐给朋友？" in body
    assert 'id="nav-surveys"' not in body and "logout" not in body  # the public page, not the staff menu
    assert first["Cache-Control"] == "private, no-store"
    assert "sessionid" not in first.cookies


def test_a_chat_apps_link_preview_does_not_count_as_opened(invitation):
    # WeChat fetches a pasted link to draw its preview card; so do link checkers.
    previewer = Client(HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 13) MicroMessenger/8.0.47 WeChat")

    previewer.get(url_of(invitation))
    previewer.head(url_of(invitation))

    invitation.refresh_from_db()
    assert invitation.opened_at is None


def test_the_first_post_of_the_page_counts_it_opened_even_with_answers_missing(invitation, survey):
    client = Client()
    missing = {**post_data(survey), f"q{question(survey, 'nps').pk}": ""}

    client.get(url_of(invitation))
    client.post(url_of(invitation), missing)
    invitation.refresh_from_db()
    first_opened = invitation.opened_at
    client.post(url_of(invitation), post_data(survey))
    invitation.refresh_from_db()

    assert first_opened is not None and invitation.opened_at == first_opened
    assert invitation.responded_at is not None and invitation.responded_at >= first_opened


def test_an_answer_at_the_first_post_counts_the_link_opened_too(invitation, survey):
    answered = Client().post(url_of(invitation), post_data(survey))

    invitation.refresh_from_db()
    assert answered.status_code == 302
    assert invitation.opened_at is not None and invitation.opened_at == invitation.responded_at


def test_a_bots_post_does_not_count_as_opened(invitation, survey):
    Client().post(url_of(invitation), {**post_data(survey), "contact_website": "http://spam.example"})

    invitation.refresh_from_db()
    assert invitation.opened_at is None


def test_an_answer_posted_with_csrf_enforced_and_no_session_is_saved(invitation, survey):
    client = Client(enforce_csrf_checks=True)
    page = client.get(url_of(invitation)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)

    refused = client.post(url_of(invitation), post_data(survey))
    assert refused.status_code == 403 and nothing_written()

    answered = client.post(url_of(invitation), {**post_data(survey), "csrfmiddlewaretoken": token})

    assert answered.status_code == 302 and answered["Location"] == url_of(invitation) + "?answered=1"
    assert SurveyResponse.objects.get().invitation_id == invitation.pk
    thanks = client.get(url_of(invitation))
    assert thanks.status_code == 200 and "谢谢您的反馈！" in thanks.content.decode()


def test_a_browsers_post_with_its_origin_passes_the_csrf_check(invitation, survey):
    # Browsers send Origin on a form post; a "no-referrer" policy on the page would make it "null",
    # which Django's CSRF check refuses (found by the browser run of this page).
    client = Client(enforce_csrf_checks=True)
    page = client.get(url_of(invitation))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    posted = client.post(
        url_of(invitation),
        {**post_data(survey), "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://testserver",
    )

    assert 'name="referrer"' not in page.content.decode()
    assert posted.status_code == 302 and SurveyResponse.objects.count() == 1


def test_the_page_speaks_the_browsers_language(invitation):
    english = Client(HTTP_ACCEPT_LANGUAGE="en").get(url_of(invitation)).content.decode()
    chinese = Client(HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9").get(url_of(invitation)).content.decode()

    assert '<html lang="en">' in english and "Send my answers" in english
    assert '<html lang="zh-hans">' in chinese


def test_the_page_has_big_score_buttons_and_no_inline_script_or_style(invitation, survey):
    body = Client().get(url_of(invitation)).content.decode()

    nps = question(survey, "nps")
    assert len(re.findall(rf'name="q{nps.pk}" id="q{nps.pk}-\d+" value="\d+"', body)) == 11
    assert 'maxlength="2000"' in body
    assert "<script" not in body and "style=" not in body


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(
            lambda token, inv, other: token[:-3] + ("A" if token[-3] != "A" else "B") + token[-2:],
            id="one-character-changed",
        ),
        pytest.param(
            lambda token, inv, other: signing.dumps(
                [inv.pk, inv.survey_id, inv.nonce], salt="another.purpose"
            ),
            id="signed-for-another-purpose",
        ),
        pytest.param(
            lambda token, inv, other: signing.dumps([inv.pk, other.pk, inv.nonce], salt=TOKEN_SALT),
            id="another-surveys-id",
        ),
        pytest.param(
            lambda token, inv, other: signing.dumps([inv.pk, inv.survey_id, "x" * 22], salt=TOKEN_SALT),
            id="another-nonce",
        ),
        pytest.param(lambda token, inv, other: "not-a-token", id="garbage"),
    ],
)
def test_a_forged_link_answers_404_and_says_only_that_it_is_not_valid(
    invitation, survey, manager_east, forge
):
    other = make_survey(manager_east, title="另一个调查")
    forged = forge(invitation_token(invitation), invitation, other)
    url = reverse("surveys:answer", args=[forged])

    page = Client().get(url)
    posted = Client().post(url, post_data(survey))

    assert page.status_code == posted.status_code == 404
    body = page.content.decode()
    assert "This link is not valid" in body or "链接无效" in body
    assert "订单满意度回访" not in body and "signature" not in body.lower()
    invitation.refresh_from_db()
    assert invitation.opened_at is None and nothing_written()


def test_a_link_to_a_deleted_invitation_is_not_valid(invitation):
    url = url_of(invitation)
    SurveyInvitation.objects.filter(pk=invitation.pk).delete()

    assert Client().get(url).status_code == 404


def test_another_surveys_valid_link_opens_its_own_survey_only(invitation, manager_east, sales_a):
    other = make_survey(manager_east, title="售后服务评价", kinds=("csat",))
    other_link = invite(sales_a, other, own_customer(sales_a, "李四"))

    body = Client().get(url_of(other_link)).content.decode()

    assert "售后服务评价" in body and "订单满意度回访" not in body


def test_an_expired_link_says_so_and_takes_no_answer(survey, sales_a):
    with time_machine.travel("2026-03-01 10:00 +0800", tick=False):
        invitation = invite(sales_a, survey, own_customer(sales_a))
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    with time_machine.travel("2026-03-15 09:59 +0800", tick=False):
        still_open = client.get(url_of(invitation))
    with time_machine.travel("2026-03-15 10:01 +0800", tick=False):
        page = client.get(url_of(invitation))
        posted = client.post(url_of(invitation), post_data(survey))

    assert still_open.status_code == 200
    assert page.status_code == posted.status_code == 410
    assert "This link has expired" in page.content.decode()
    assert nothing_written()


def test_two_submits_of_one_link_make_one_response_and_the_second_is_thanked(invitation, survey):
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    first = client.post(url_of(invitation), post_data(survey, nps=10))
    second = client.post(url_of(invitation), post_data(survey, nps=0))

    assert first.status_code == 302
    assert second.status_code == 200 and "Thank you!" in second.content.decode()
    assert SurveyResponse.objects.count() == 1
    assert Answer.objects.get(question__kind="nps").score == 10


def test_the_customer_who_just_answered_is_thanked_not_told_they_answered_already(invitation, survey):
    # The shop wrote no thank-you message of its own: the page's own words are read.
    type(survey).objects.filter(pk=survey.pk).update(thanks="")
    client = Client(HTTP_ACCEPT_LANGUAGE="en")

    thanked = client.post(url_of(invitation), post_data(survey), follow=True).content.decode()
    later = client.get(url_of(invitation)).content.decode()

    assert "Your answers have been received. Thank you!" in thanked and "already answered" not in thanked
    assert "You have already answered this survey." in later


def test_a_closed_survey_is_no_longer_accepting_answers(invitation, survey, manager_east):
    services.survey_set_active(actor=manager_east, survey=survey, is_active=False)

    posted = Client(HTTP_ACCEPT_LANGUAGE="en").post(url_of(invitation), post_data(survey))

    assert posted.status_code == 410
    assert "no longer accepting answers" in posted.content.decode()
    assert nothing_written()


def test_missing_required_answers_are_marked_next_to_their_questions(invitation, survey):
    data = post_data(survey)
    nps = question(survey, "nps")
    del data[f"q{nps.pk}"]

    page = Client(HTTP_ACCEPT_LANGUAGE="en").post(url_of(invitation), data)

    body = page.content.decode()
    assert page.status_code == 400
    marked = re.search(rf'<fieldset [^>]*id="question-{nps.pk}"(.*?)</fieldset>', body, re.S).group(0)
    assert "survey-question-invalid" in marked
    assert f'data-question="{nps.pk}">Please answer this question.</div>' in marked
    assert 'value="淘宝" checked' in body  # what was answered stays chosen
    assert nothing_written()


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("nps", "11", "Choose a score from 0 to 10."),
        ("single", "拼多多", "Choose among the options shown."),
        ("text", "长" * 2001, "Please keep the answer to 2000 characters."),
    ],
)
def test_values_out_of_range_get_a_clear_message_and_write_nothing(invitation, survey, kind, value, message):
    data = post_data(survey)
    data[f"q{question(survey, kind).pk}"] = value

    page = Client(HTTP_ACCEPT_LANGUAGE="en").post(url_of(invitation), data)

    assert page.status_code == 400 and message in page.content.decode()
    assert nothing_written()


def test_posts_beyond_the_links_rate_limit_answer_429(invitation, survey, monkeypatch):
    monkeypatch.setattr(survey_public, "POSTS_PER_MINUTE_PER_LINK", 3)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    bad = post_data(survey, nps=99)

    statuses = [client.post(url_of(invitation), bad).status_code for _ in range(4)]
    good = client.post(url_of(invitation), post_data(survey))

    assert statuses == [400, 400, 400, 429]
    assert good.status_code == 429 and good["Retry-After"] == "60"
    assert nothing_written()


def test_posts_beyond_the_addresss_rate_limit_answer_429_on_any_link(survey, sales_a, monkeypatch):
    monkeypatch.setattr(survey_public, "POSTS_PER_MINUTE_PER_IP", 2)
    links = [invite(sales_a, survey, own_customer(sales_a, f"客户{i}")) for i in range(3)]
    client = Client(REMOTE_ADDR="203.0.113.7")
    elsewhere = Client(REMOTE_ADDR="198.51.100.1")

    statuses = [client.post(url_of(link), post_data(survey)).status_code for link in links]

    assert statuses == [302, 302, 429]
    assert elsewhere.post(url_of(links[2]), post_data(survey)).status_code == 302
    assert SurveyResponse.objects.count() == 3


def test_a_filled_honeypot_is_refused_and_writes_nothing(invitation, survey):
    data = {**post_data(survey), "contact_website": "http://spam.example"}

    page = Client(HTTP_ACCEPT_LANGUAGE="en").post(url_of(invitation), data)

    assert page.status_code == 400 and "Your answer could not be taken" in page.content.decode()
    assert nothing_written()
    invitation.refresh_from_db()
    assert invitation.responded_at is None  # the customer can still answer


def test_a_staff_login_is_not_needed_nor_harmful(invitation, survey, client_for, sales_b):
    # A colleague who opens the link while logged in sees the customer's page, not a 404 of theirs.
    page = client_for(sales_b).get(url_of(invitation))

    assert page.status_code == 200
