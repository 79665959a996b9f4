"""Every read of surveys: the list, one survey, its links, the results (NPS, CSAT, distributions) and a
customer's answers; and the one place a link's token is read back.

Surveys and questions are the shop's, not a customer's: anyone with ``engagement.view_survey`` sees
them all, and the counts on the results page are over every link sent. What names a customer (the links,
the answers one by one, the text answers, the export) starts from ``access.of_visible_customers``.

The results are computed in the database: answers are counted grouped by question and score (or by the
set of options chosen), so a survey with 100,000 answers reads a few dozen rows, never every answer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core import signing
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from kebu.core.errors import NotFound
from kebu.engagement.access import of_visible_customers
from kebu.engagement.models import (
    Answer,
    Question,
    QuestionKind,
    Survey,
    SurveyInvitation,
    SurveyResponse,
)

# The purpose a link's token is signed for: a value Django signed for anything else never reads as one.
TOKEN_SALT = "kebu.engagement.survey-invitation"  # noqa: S105  (a salt, not a secret)
# Below this many answers a score is shown as indicative: a handful of customers is not a measure.
INDICATIVE_BELOW = 30
SCORE_KINDS = (QuestionKind.NPS, QuestionKind.CSAT)
CHOICE_KINDS = (QuestionKind.SINGLE, QuestionKind.MULTIPLE)


# --- tokens ------------------------------------------------------------------------------------------


def invitation_token(invitation: SurveyInvitation) -> str:
    """The token in a link's URL: the invitation's id, its survey and its nonce, signed (not encrypted:
    it only names the row; the nonce makes an old link of a re-created row useless)."""
    return signing.dumps(
        [invitation.pk, invitation.survey_id, invitation.nonce], salt=TOKEN_SALT, compress=False
    )


def invitation_get_by_token(*, token: str) -> SurveyInvitation:
    """The invitation a token names, with its survey and questions; ``NotFound`` for a token that was
    altered, signed for another purpose, pairs an invitation with another survey or another nonce, or
    names a row that no longer exists. One error for all: the page never says which."""
    try:
        value = signing.loads(str(token)[:300], salt=TOKEN_SALT)
        invitation_id, survey_id, nonce = value
        invitation_id, survey_id = int(invitation_id), int(survey_id)
    except (signing.BadSignature, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc
    invitation = (
        SurveyInvitation.objects.select_related("survey", "customer")
        .filter(pk=invitation_id, survey_id=survey_id, nonce=str(nonce))
        .first()
    )
    if invitation is None:
        raise NotFound()
    return invitation


# --- surveys -----------------------------------------------------------------------------------------


def _count_of(model: Any) -> Any:
    rows = model.objects.filter(survey=OuterRef("pk")).order_by().values("survey").annotate(n=Count("pk"))
    return Coalesce(Subquery(rows.values("n")[:1]), 0)


def survey_list() -> QuerySet[Survey]:
    """Every survey, newest first, with its questions, links and answers counted (one subquery each,
    over the indexes that lead with the survey)."""
    return Survey.objects.annotate(
        question_count=_count_of(Question),
        sent_count=_count_of(SurveyInvitation),
        answered_count=_count_of(SurveyResponse),
    ).order_by("-created_at", "-id")


def survey_get_for_actor(*, actor: Any, survey_id: Any) -> Survey:
    """One survey, or ``NotFound`` (surveys are the shop's: no row of it is hidden from a colleague)."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise NotFound()
    try:
        return Survey.objects.select_related("created_by").get(pk=int(survey_id))
    except (Survey.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def question_get_for_actor(*, actor: Any, question_id: Any) -> Question:
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise NotFound()
    try:
        return Question.objects.select_related("survey").get(pk=int(question_id))
    except (Question.DoesNotExist, ValueError, TypeError, OverflowError) as exc:
        raise NotFound() from exc


def survey_questions(survey: Survey) -> list[Question]:
    return list(survey.questions.order_by("position", "id"))


def survey_has_responses(survey: Survey) -> bool:
    return SurveyResponse.objects.filter(survey=survey).exists()


def surveys_open_for_links() -> QuerySet[Survey]:
    """Surveys a link may be made for: accepting answers and with at least one question."""
    return (
        Survey.objects.filter(is_active=True)
        .filter(Exists(Question.objects.filter(survey=OuterRef("pk"))))
        .order_by("-created_at", "-id")
    )


# --- links -------------------------------------------------------------------------------------------


def invitation_list(*, actor: Any, survey: Survey) -> QuerySet[SurveyInvitation]:
    """The survey's links to customers ``actor`` may see, newest first (index ``invitation_survey``)."""
    return (
        of_visible_customers(SurveyInvitation.objects.filter(survey=survey), user=actor)
        .select_related("customer", "order")
        .order_by("-created_at", "-id")
    )


def invitation_batch(*, actor: Any, survey: Survey, created_at: datetime) -> QuerySet[SurveyInvitation]:
    """The links one bulk request made: they share their ``created_at`` to the microsecond and maker."""
    return invitation_list(actor=actor, survey=survey).filter(created_at=created_at, created_by=actor)


def invitation_open_exists(
    *, survey: Survey, customer_id: int, order_id: int | None
) -> SurveyInvitation | None:
    """The customer's link to this survey (about this order) that is neither answered nor expired."""
    about = Q(order__isnull=True) if order_id is None else Q(order_id=order_id)
    return (
        SurveyInvitation.objects.filter(
            about,
            survey=survey,
            customer_id=customer_id,
            responded_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        .order_by("-created_at")
        .first()
    )


# --- results -----------------------------------------------------------------------------------------


@dataclass
class ScoreSummary:
    """A score question's figures. ``distribution`` maps every possible score to its count."""

    kind: str
    count: int
    distribution: dict[int, int]
    # NPS: the shares in per cent and the score (−100 … 100).
    promoters_pct: float | None = None
    passives_pct: float | None = None
    detractors_pct: float | None = None
    nps: float | None = None
    # CSAT: the share of 4 and 5 in per cent, and the mean.
    csat_pct: float | None = None
    average: float | None = None

    @property
    def indicative(self) -> bool:
        return 0 < self.count < INDICATIVE_BELOW


def nps_summary(distribution: dict[int, int]) -> ScoreSummary:
    """Net Promoter Score by its standard definition: the share of promoters (9–10) less the share of
    detractors (0–6), in points from −100 to 100; passives (7–8) count only in the total."""
    counts = {score: distribution.get(score, 0) for score in range(0, 11)}
    total = sum(counts.values())
    summary = ScoreSummary(kind=QuestionKind.NPS, count=total, distribution=counts)
    if total:
        promoters = counts[9] + counts[10]
        detractors = sum(counts[s] for s in range(0, 7))
        passives = total - promoters - detractors
        summary.promoters_pct = round(100 * promoters / total, 1)
        summary.passives_pct = round(100 * passives / total, 1)
        summary.detractors_pct = round(100 * detractors / total, 1)
        summary.nps = round(100 * (promoters - detractors) / total, 1)
        summary.average = round(sum(s * n for s, n in counts.items()) / total, 2)
    return summary


def csat_summary(distribution: dict[int, int]) -> ScoreSummary:
    """Customer Satisfaction by its standard definition: the share of satisfied answers (4 and 5 on the
    1–5 scale) in per cent; the mean is shown beside it."""
    counts = {score: distribution.get(score, 0) for score in range(1, 6)}
    total = sum(counts.values())
    summary = ScoreSummary(kind=QuestionKind.CSAT, count=total, distribution=counts)
    if total:
        summary.csat_pct = round(100 * (counts[4] + counts[5]) / total, 1)
        summary.average = round(sum(s * n for s, n in counts.items()) / total, 2)
    return summary


@dataclass
class QuestionResult:
    question: Question
    score: ScoreSummary | None = None
    choices: list[tuple[str, int]] = field(default_factory=list)  # (option, times chosen)
    answered: int = 0


@dataclass
class SurveyResults:
    survey: Survey
    sent: int
    opened: int
    answered: int
    questions: list[QuestionResult]

    @property
    def response_rate(self) -> float | None:
        return round(100 * self.answered / self.sent, 1) if self.sent else None

    @property
    def open_rate(self) -> float | None:
        return round(100 * self.opened / self.sent, 1) if self.sent else None


def _moment_range(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    """The shop's days ``date_from`` … ``date_to`` (both included) as aware moments [start, end)."""
    zone = timezone.get_current_timezone()
    start = datetime.combine(date_from, time.min, tzinfo=zone) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone) if date_to else None
    return start, end


def _in_range(prefix: str, start: datetime | None, end: datetime | None) -> Q:
    condition = Q()
    if start is not None:
        condition &= Q(**{f"{prefix}__gte": start})
    if end is not None:
        condition &= Q(**{f"{prefix}__lt": end})
    return condition


def survey_results(
    *, survey: Survey, date_from: date | None = None, date_to: date | None = None
) -> SurveyResults:
    """The survey's figures over every link: links sent (made) in the range, how many of them were
    opened and answered, and per question the answers submitted in the range. Four grouped queries."""
    start, end = _moment_range(date_from, date_to)
    links = SurveyInvitation.objects.filter(Q(survey=survey) & _in_range("created_at", start, end))
    counts = links.aggregate(
        sent=Count("id"),
        opened=Count("id", filter=Q(opened_at__isnull=False)),
        answered=Count("id", filter=Q(responded_at__isnull=False)),
    )
    questions = survey_questions(survey)
    answers = Answer.objects.filter(
        Q(response__survey=survey) & _in_range("response__submitted_at", start, end)
    )
    scores: dict[int, dict[int, int]] = {}
    for row in (
        answers.filter(question__kind__in=SCORE_KINDS, score__isnull=False)
        .values("question_id", "score")
        .annotate(n=Count("id"))
        .order_by()
    ):
        scores.setdefault(row["question_id"], {})[int(row["score"] or 0)] = row["n"]
    # Options are stored in the question's order, so equal sets group together; a multiple-choice
    # question has few distinct sets, each counted once here and split into its options below.
    chosen: dict[int, Counter[str]] = {}
    for choice_row in (
        answers.filter(question__kind__in=CHOICE_KINDS)
        .values("question_id", "choices")
        .annotate(n=Count("id"))
        .order_by()
    ):
        tally = chosen.setdefault(choice_row["question_id"], Counter())
        for option in choice_row["choices"] or []:
            tally[str(option)] += choice_row["n"]
    # An answer row is written only for a question that was answered (services.surveys).
    answered_per_question = dict(answers.values_list("question_id").annotate(n=Count("id")).order_by())
    results = []
    for question in questions:
        result = QuestionResult(question=question, answered=answered_per_question.get(question.pk, 0))
        if question.kind == QuestionKind.NPS:
            result.score = nps_summary(scores.get(question.pk, {}))
        elif question.kind == QuestionKind.CSAT:
            result.score = csat_summary(scores.get(question.pk, {}))
        elif question.kind in CHOICE_KINDS:
            tally = chosen.get(question.pk, Counter())
            offered = [str(option) for option in question.choices]
            # Options as offered now, then any an older answer holds that were renamed since.
            result.choices = [(option, tally.get(option, 0)) for option in offered] + [
                (option, n) for option, n in tally.items() if option not in offered
            ]
        results.append(result)
    return SurveyResults(
        survey=survey,
        sent=counts["sent"],
        opened=counts["opened"],
        answered=counts["answered"],
        questions=results,
    )


def survey_headline(survey: Survey) -> dict[str, Any]:
    """The survey's first NPS and first CSAT figure over all its answers (for the API and the list)."""
    results = survey_results(survey=survey)
    headline: dict[str, Any] = {"sent": results.sent, "answered": results.answered, "nps": None, "csat": None}
    for item in results.questions:
        if item.score is None:
            continue
        if item.score.kind == QuestionKind.NPS and headline["nps"] is None:
            headline["nps"] = {
                "question": item.question.pk,
                "score": item.score.nps,
                "count": item.score.count,
            }
        if item.score.kind == QuestionKind.CSAT and headline["csat"] is None:
            headline["csat"] = {
                "question": item.question.pk,
                "score": item.score.csat_pct,
                "average": item.score.average,
                "count": item.score.count,
            }
    return headline


def text_answer_list(
    *, actor: Any, survey: Survey, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[Answer]:
    """The written answers of customers ``actor`` may see, newest first."""
    start, end = _moment_range(date_from, date_to)
    responses = of_visible_customers(
        SurveyResponse.objects.filter(Q(survey=survey) & _in_range("submitted_at", start, end)), user=actor
    )
    return (
        Answer.objects.filter(response__in=responses.values("pk"), question__kind=QuestionKind.TEXT)
        .exclude(text="")
        .select_related("question", "response__customer")
        .order_by("-response__submitted_at", "-response_id", "question__position")
    )


def response_list(
    *, actor: Any, survey: Survey, date_from: date | None = None, date_to: date | None = None
) -> QuerySet[SurveyResponse]:
    """The answers one by one, of customers ``actor`` may see (index ``response_survey``)."""
    start, end = _moment_range(date_from, date_to)
    return (
        of_visible_customers(
            SurveyResponse.objects.filter(Q(survey=survey) & _in_range("submitted_at", start, end)),
            user=actor,
        )
        .select_related("customer", "invitation__order")
        .prefetch_related(Prefetch("answers", queryset=Answer.objects.select_related("question")))
        .order_by("-submitted_at", "-id")
    )


def customer_survey_responses(*, actor: Any, customer: Any, limit: int = 10) -> list[SurveyResponse]:
    """The customer's answered surveys, newest first, with their score answers (NPS, CSAT)."""
    responses = of_visible_customers(SurveyResponse.objects.filter(customer=customer), user=actor)
    return list(
        responses.select_related("survey", "invitation__order")
        .prefetch_related(
            Prefetch(
                "answers",
                queryset=Answer.objects.filter(question__kind__in=SCORE_KINDS)
                .select_related("question")
                .order_by("question__position", "question_id"),
                to_attr="scores",
            )
        )
        .order_by("-submitted_at", "-id")[:limit]
    )


def customer_open_invitations(*, actor: Any, customer: Any, limit: int = 5) -> list[SurveyInvitation]:
    """The customer's links still waiting for an answer (index ``invitation_customer``)."""
    qs = of_visible_customers(
        SurveyInvitation.objects.filter(
            customer=customer, responded_at__isnull=True, expires_at__gt=timezone.now()
        ),
        user=actor,
    )
    return list(qs.select_related("survey").order_by("-created_at", "-id")[:limit])
