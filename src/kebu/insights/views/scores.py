"""The segments pages (客户分群): the eight RFM segments with their meaning and action, a segment's
customers with each cell explained, the "high value, at risk" list that makes follow-ups, and the
scoring settings. Thin: parse, call a selector or service, render.

Everything listed goes through ``selectors.scores``: a sales clerk counts and sees their own customers,
scored against the shop's cut points."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods

from kebu.core.errors import Forbidden, KebuError
from kebu.core.pagination import paginate
from kebu.insights import access
from kebu.insights.forms.scores import ScoreSettingsForm
from kebu.insights.messages import message_shown
from kebu.insights.models import InsightKind
from kebu.insights.models.scores import SEGMENT_TEXT, ChurnRisk, ScoreSettings, Segment, ValueTier
from kebu.insights.selectors import scores as selectors
from kebu.insights.services.scores import at_risk_followups_create, score_settings_update
from kebu.insights.views._common import freshness

KIND = InsightKind.SCORES
PAGE_SIZE = 50
CHANGE_SETTINGS = "insights.change_scoresettings"
ADD_FOLLOWUP = "engagement.add_followup"


def _choice(request: HttpRequest, name: str, choices: list[str]) -> str:
    value = request.GET.get(name, "")
    return value if value in choices else ""


def _rows(scores: list[Any]) -> list[Any]:
    """What each listed customer shows beyond its fields: the cell explained, the churn in words."""
    for score in scores:
        score.explained = selectors.cell_explanations(score)
        score.churn_text = selectors.churn_explanation(score)
    return scores


def _base(request: HttpRequest) -> dict[str, Any]:
    access.require_view(request.user, KIND)
    context = freshness(request, KIND)
    run = context["run"]
    result = run.result if run is not None else {}
    clv_summary = result.get("clv") or {}
    context.update(
        result=result,
        clv_reason=message_shown(clv_summary.get("reason_parts"), clv_summary.get("reason", "")),
        can_change_settings=access.can(request.user, CHANGE_SETTINGS),
    )
    return context


@login_required
@require_GET
def segments_view(request: HttpRequest) -> HttpResponse:
    context = _base(request)
    summary = selectors.segment_summary(user=request.user, result=context["result"])
    context.update(
        summary=summary,
        tiers=[(t.value, t.label, summary.tiers.get(t.value, 0)) for t in ValueTier],
        churn_levels=[(c.value, c.label, summary.churn.get(c.value, 0)) for c in ChurnRisk],
        thresholds=context["result"].get("thresholds"),
    )
    return render(request, "insights/scores/segments.html", context)


@login_required
@require_GET
def customers_view(request: HttpRequest, segment: str = "") -> HttpResponse:
    if segment and segment not in Segment.values:
        raise Http404
    context = _base(request)
    tier = _choice(request, "tier", ValueTier.values)
    churn = _choice(request, "churn", ChurnRisk.values)
    qs = selectors.segment_scores(user=request.user, segment=segment or None, tier=tier, churn=churn)
    page = paginate(qs, page=request.GET.get("page"), per_page=PAGE_SIZE)
    _rows(page.object_list)
    query = request.GET.copy()
    query.pop("page", None)
    context.update(
        segment=Segment(segment) if segment else None,
        segment_text=SEGMENT_TEXT.get(segment),
        tier=tier,
        churn=churn,
        tiers=ValueTier.choices,
        churn_levels=ChurnRisk.choices,
        page=page,
        query=query.urlencode(),
    )
    return render(request, "insights/scores/customers.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def at_risk_view(request: HttpRequest) -> HttpResponse:
    context = _base(request)
    if request.method == "POST":
        try:
            made = at_risk_followups_create(actor=request.user, customer_ids=request.POST.getlist("customer"))
        except Forbidden as exc:
            raise PermissionDenied from exc
        _made_messages(request, made)
        back = request.POST.get("page", "1")
        return redirect(f"{reverse('insights:segments_at_risk')}?page={int(back) if back.isdigit() else 1}")
    page = paginate(
        selectors.at_risk_scores(user=request.user), page=request.GET.get("page"), per_page=PAGE_SIZE
    )
    _rows(page.object_list)
    context.update(page=page, query="", can_follow_up=access.can(request.user, ADD_FOLLOWUP))
    return render(request, "insights/scores/at_risk.html", context)


def _made_messages(request: HttpRequest, made: Any) -> None:
    if made.created:
        messages.success(
            request,
            ngettext(
                "%(n)d follow-up added for today.", "%(n)d follow-ups added for today.", len(made.created)
            )
            % {"n": len(made.created)},
        )
    if made.already_open:
        messages.info(
            request,
            ngettext(
                "%(n)d customer already has an open follow-up for this; none added.",
                "%(n)d customers already have an open follow-up for this; none added.",
                made.already_open,
            )
            % {"n": made.already_open},
        )
    if made.not_allowed:
        messages.warning(
            request,
            ngettext(
                "%(n)d customer is not on your list any more; nothing added for them.",
                "%(n)d customers are not on your list any more; nothing added for them.",
                made.not_allowed,
            )
            % {"n": made.not_allowed},
        )
    if not (made.created or made.already_open or made.not_allowed):
        messages.info(request, _("Choose the customers to follow up first."))


@login_required
@require_http_methods(["GET", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    context = _base(request)
    if not context["can_change_settings"]:
        raise PermissionDenied
    row = ScoreSettings.read()
    form = ScoreSettingsForm(request.POST or None, instance=row)
    if request.method == "POST" and form.is_valid():
        try:
            score_settings_update(actor=request.user, data=form.cleaned_data)
        except KebuError as exc:
            for key, errors in exc.as_dict().items():
                for error in errors:
                    form.add_error(key if key in form.fields else None, error)
        else:
            messages.success(request, _("Scoring settings saved. They apply from the next computation."))
            return redirect("insights:segments_settings")
    context.update(form=form)
    return render(request, "insights/scores/settings.html", context)
