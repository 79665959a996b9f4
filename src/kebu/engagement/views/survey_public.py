"""The page a customer answers a survey on: ``/surveys/r/<token>/``, without a login.

Nothing here needs a session: the signed token names the invitation, Django's CSRF cookie protects the
form (it works without a login), and the language follows the browser (LocaleMiddleware). A link that
is not valid answers 404 with a plain message that says nothing about why; an expired link, a closed
survey and a link answered already each get their own short page. Posts are rate-limited per client
address and per link through the cache (local memory on one box, Redis when configured), so a spammed
link or a bot costs a cache increment, not a database write.

Fetching the page notes nothing: a link pasted into a chat is fetched by the app for its preview. The
link counts as opened when the page is first posted, answers complete or not (see
``services.surveys.invitation_open`` for why not a User-Agent list or a script's beacon)."""

from __future__ import annotations

from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from kebu.audit.context import client_ip
from kebu.core.errors import Conflict, NotFound, ValidationFailed
from kebu.engagement.forms.surveys import HONEYPOT_FIELD, answers_from_post, honeypot_filled
from kebu.engagement.models import Question, Survey, SurveyInvitation
from kebu.engagement.selectors import surveys as selectors
from kebu.engagement.services import surveys as services
from kebu.engagement.services.surveys import TEXT_ANSWER_MAX

# Posts per minute. Per address it is generous: mobile carriers put many phones behind one address.
POSTS_PER_MINUTE_PER_IP = 30
POSTS_PER_MINUTE_PER_LINK = 6
WINDOW_SECONDS = 60
ANSWERED_PARAM = "answered"


def _too_many(key: str, limit: int) -> bool:
    """Count one more post under ``key`` in the current minute; True beyond ``limit``."""
    cache.add(key, 0, timeout=WINDOW_SECONDS)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS)
        count = 1
    return count > limit


def _rate_limited(request: HttpRequest, invitation_key: str) -> bool:
    ip = client_ip(request) or "unknown"
    # Both counters move on every post, so a flood from one address also fills the link's.
    by_ip = _too_many(f"kebu:survey-post:ip:{ip}", POSTS_PER_MINUTE_PER_IP)
    by_link = _too_many(f"kebu:survey-post:link:{invitation_key}", POSTS_PER_MINUTE_PER_LINK)
    return by_ip or by_link


def _message(
    request: HttpRequest, *, title: str, message: str, icon: str, status: int, survey: Survey | None = None
) -> HttpResponse:
    response = render(
        request,
        "engagement/surveys/public_message.html",
        {"title": title, "message": message, "icon": icon, "survey": survey},
        status=status,
    )
    # A personal link's pages are nobody else's: never cached on the way.
    response["Cache-Control"] = "private, no-store"
    return response


def _not_valid(request: HttpRequest) -> HttpResponse:
    return _message(
        request,
        title=_("This link is not valid"),
        message=_("Please check that the whole link was copied, or ask the shop for a new one."),
        icon="bi-link-45deg",
        status=404,
    )


def _state_page(request: HttpRequest, invitation: SurveyInvitation, error: Exception) -> HttpResponse:
    survey = invitation.survey
    if isinstance(error, services.AlreadyAnswered):
        # Right after the answer (the redirect's ?answered=1) the customer is thanked for it; "already
        # answered" is for one who opens the link again later.
        just_answered = request.method == "GET" and request.GET.get(ANSWERED_PARAM) == "1"
        default = (
            _("Your answers have been received. Thank you!")
            if just_answered
            else _("You have already answered this survey. Thank you!")
        )
        return _message(
            request,
            title=_("Thank you!"),
            message=survey.thanks or default,
            icon="bi-heart",
            status=200,
            survey=survey,
        )
    if isinstance(error, services.LinkExpired):
        return _message(
            request,
            title=_("This link has expired"),
            message=_("Thank you for your interest. The time to answer this survey has passed."),
            icon="bi-hourglass-bottom",
            status=410,
            survey=survey,
        )
    return _message(
        request,
        title=_("This survey is closed"),
        message=_("This survey is no longer accepting answers. Thank you for your interest."),
        icon="bi-lock",
        status=410,
        survey=survey,
    )


def answer_page_context(
    survey: Survey,
    questions: list[Question],
    *,
    posted: dict[int, Any] | None = None,
    errors: dict[str, list[Any]] | None = None,
    preview: bool = False,
) -> dict[str, Any]:
    """What the answer page shows: each question with what was posted and its messages."""
    posted = posted or {}
    errors = errors or {}
    items = []
    for question in questions:
        value = posted.get(question.pk)
        chosen = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
        items.append(
            {
                "question": question,
                "name": f"q{question.pk}",
                "chosen": [str(v) for v in chosen],
                "text": value if isinstance(value, str) else "",
                "errors": [str(m) for m in errors.get(f"q{question.pk}", [])],
            }
        )
    return {
        "survey": survey,
        "items": items,
        "nps_scale": [str(n) for n in range(0, 11)],
        "csat_scale": [
            ("1", "bi-emoji-angry"),
            ("2", "bi-emoji-frown"),
            ("3", "bi-emoji-neutral"),
            ("4", "bi-emoji-smile"),
            ("5", "bi-emoji-laughing"),
        ],
        "text_max": TEXT_ANSWER_MAX,
        "honeypot": HONEYPOT_FIELD,
        "preview": preview,
        "has_errors": bool(errors),
    }


@require_http_methods(["GET", "POST"])
def survey_answer_view(request: HttpRequest, token: str) -> HttpResponse:
    try:
        invitation = selectors.invitation_get_by_token(token=token)
    except NotFound:
        if request.method == "POST" and _rate_limited(request, "invalid"):
            return _too_many_page(request)
        return _not_valid(request)
    if request.method == "POST" and _rate_limited(request, str(invitation.pk)):
        return _too_many_page(request)
    try:
        services.invitation_state_check(invitation)
    except Conflict as exc:
        return _state_page(request, invitation, exc)
    survey = invitation.survey
    questions = selectors.survey_questions(survey)
    if request.method == "GET":
        response = render(request, "engagement/surveys/answer.html", answer_page_context(survey, questions))
        response["Cache-Control"] = "private, no-store"
        return response
    if honeypot_filled(request.POST):
        return _message(
            request,
            title=_("Your answer could not be taken"),
            message=_("Please reload the page and answer again."),
            icon="bi-exclamation-circle",
            status=400,
            survey=survey,
        )
    posted = answers_from_post(questions, request.POST)
    try:
        services.response_submit(invitation=invitation, answers=posted)
    except Conflict as exc:
        invitation.refresh_from_db()
        return _state_page(request, invitation, exc)
    except ValidationFailed as exc:
        services.invitation_open(invitation=invitation)
        context = answer_page_context(survey, questions, posted=posted, errors=exc.field_errors)
        response = render(request, "engagement/surveys/answer.html", context, status=400)
        response["Cache-Control"] = "private, no-store"
        return response
    # Post/redirect/get: a reload or the back button then shows the thanks, never a second post.
    return redirect(f"{reverse('surveys:answer', args=[token])}?{ANSWERED_PARAM}=1")


def _too_many_page(request: HttpRequest) -> HttpResponse:
    response = _message(
        request,
        title=_("Too many attempts"),
        message=_("Please wait a minute and try again."),
        icon="bi-stopwatch",
        status=429,
    )
    response["Retry-After"] = str(WINDOW_SECONDS)
    return response
