"""Staff pages for surveys: the list, the builder (questions added, edited, moved and removed in place
with htmx), the preview, links for one customer (from the customer page) or many (with an export),
the results with their charts and export, and the card on the customer page.

A customer someone may not see answers 404 before any permission is read; a survey itself is the
shop's, so a missing permission on it answers 403. Orders (the choice on the send form, order numbers
on the links, the exports and the customer card) are shown only to those who may see orders
(``purchases_visible``), and only the orders ``order_visible_queryset`` gives them."""

from __future__ import annotations

import csv
import io
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.audit.services import audit_record
from kebu.core.errors import KebuError, NotFound
from kebu.core.pagination import paginate
from kebu.customers.selectors import purchases_visible
from kebu.engagement.forms.surveys import BatchForm, QuestionForm, ResultsFilterForm, SendForm, SurveyForm
from kebu.engagement.models import Question, QuestionKind, Survey, SurveyInvitation
from kebu.engagement.selectors import surveys as selectors
from kebu.engagement.services import surveys as services
from kebu.engagement.views._common import can, customer_or_404, require
from kebu.engagement.views.survey_public import answer_page_context
from kebu.orders.selectors import order_visible_queryset
from kebu.transfer.cells import safe_cell
from kebu.transfer.downloads import ExportAudit, Sheet, xlsx_response

VIEW_SURVEY = "engagement.view_survey"
ADD_SURVEY = "engagement.add_survey"
CHANGE_SURVEY = "engagement.change_survey"
ADD_INVITATION = "engagement.add_surveyinvitation"
PAGE_SIZE = 25
RECENT_ORDERS = 20


def _survey(request: HttpRequest, survey_id: Any) -> Survey:
    try:
        return selectors.survey_get_for_actor(actor=request.user, survey_id=survey_id)
    except NotFound as exc:
        raise Http404 from exc


def _question(request: HttpRequest, question_id: Any) -> Question:
    try:
        return selectors.question_get_for_actor(actor=request.user, question_id=question_id)
    except NotFound as exc:
        raise Http404 from exc


def _apply_errors(form: Any, error: KebuError) -> None:
    for key, texts in error.as_dict().items():
        for text in texts:
            form.add_error(key if key in form.fields else None, text)


def link_url(request: HttpRequest, invitation: SurveyInvitation) -> str:
    """The link's full address, as the customer will open it."""
    return request.build_absolute_uri(
        reverse("surveys:answer", args=[selectors.invitation_token(invitation)])
    )


def _qr_svg(text: str) -> str:
    """A QR code as inline SVG (drawn here, as the two-step set-up page does: no service sees the link)."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=2)
    qr.add_data(text)
    image = qr.make_image(
        image_factory=SvgPathImage,
        **{"class": "qr-code", "role": "img", "aria-label": _("QR code of the link")},
    )
    return image.to_string(encoding="unicode")


# --- the list and the builder ------------------------------------------------------------------------


@require_GET
@login_required
def survey_list_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_SURVEY)
    page = paginate(selectors.survey_list(), page=request.GET.get("page"), per_page=PAGE_SIZE)
    return render(
        request,
        "engagement/surveys/list.html",
        {"page": page, "query": "", "can_add": can(request.user, ADD_SURVEY)},
    )


@require_http_methods(["GET", "POST"])
@login_required
def survey_create_view(request: HttpRequest) -> HttpResponse:
    require(request, ADD_SURVEY)
    form = SurveyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            survey = services.survey_create(actor=request.user, **form.cleaned_data)
        except KebuError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Survey created. Now add its questions."))
            return redirect("surveys:detail", survey_id=survey.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "engagement/surveys/form.html", {"form": form, "survey": None}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def survey_edit_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, CHANGE_SURVEY)
    initial = {f: getattr(survey, f) for f in ("title", "intro", "thanks", "link_valid_days")}
    form = SurveyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.survey_update(actor=request.user, survey=survey, **form.cleaned_data)
        except KebuError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, _("Survey saved."))
            return redirect("surveys:detail", survey_id=survey.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "engagement/surveys/form.html", {"form": form, "survey": survey}, status=status)


@require_POST
@login_required
def survey_active_view(request: HttpRequest, survey_id: int, active: bool) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, CHANGE_SURVEY)
    services.survey_set_active(actor=request.user, survey=survey, is_active=active)
    messages.success(
        request, _("Survey reopened.") if active else _("Survey closed: its links take no more answers.")
    )
    return redirect("surveys:detail", survey_id=survey.pk)


def _builder_context(request: HttpRequest, survey: Survey, **extra: Any) -> dict[str, Any]:
    questions = selectors.survey_questions(survey)
    has_responses = selectors.survey_has_responses(survey)
    return {
        "survey": survey,
        "questions": questions,
        "has_responses": has_responses,
        "can_change": can(request.user, CHANGE_SURVEY),
        "add_form": extra.pop("add_form", None)
        or QuestionForm(initial={"kind": QuestionKind.CSAT, "required": not has_responses}, prefix="new"),
        "editing": extra.pop("editing", None),
        **extra,
    }


@require_GET
@login_required
def survey_detail_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, VIEW_SURVEY)
    links = paginate(
        selectors.invitation_list(actor=request.user, survey=survey),
        page=request.GET.get("page"),
        per_page=PAGE_SIZE,
    )
    context = _builder_context(request, survey)
    context.update(
        {
            "links": links,
            "query": "",
            "can_invite": can(request.user, ADD_INVITATION)
            and survey.is_active
            and bool(context["questions"]),
            "batch_form": BatchForm(with_orders=purchases_visible(user=request.user)),
            "now": timezone.now(),
            "show_orders": purchases_visible(user=request.user),
        }
    )
    return render(request, "engagement/surveys/detail.html", context)


def _questions_fragment(
    request: HttpRequest, survey: Survey, status: int = 200, **extra: Any
) -> HttpResponse:
    """The builder's question list, swapped in by htmx. htmx swaps only 2xx answers, so a refused
    change comes back as 200 with its messages in place; without htmx it is a 400 (or, when it worked,
    a redirect back to the survey)."""
    if not request.htmx:
        if status == 200 and request.method == "POST":
            return redirect("surveys:detail", survey_id=survey.pk)
    else:
        status = 200
    return render(
        request,
        "engagement/surveys/_questions.html",
        _builder_context(request, survey, **extra),
        status=status,
    )


@require_POST
@login_required
def question_add_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, CHANGE_SURVEY)
    form = QuestionForm(request.POST, prefix="new")
    if form.is_valid():
        try:
            services.question_add(actor=request.user, survey=survey, **form.cleaned_data)
        except KebuError as exc:
            _apply_errors(form, exc)
        else:
            return _questions_fragment(request, survey)
    return _questions_fragment(request, survey, status=400, add_form=form)


@require_http_methods(["GET", "POST"])
@login_required
def question_edit_view(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question(request, question_id)
    require(request, CHANGE_SURVEY)
    survey = question.survey
    if request.method == "GET" and request.GET.get("cancel"):
        return _questions_fragment(request, survey)
    form = QuestionForm.for_question(question, request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.question_update(actor=request.user, question=question, **form.cleaned_data)
        except KebuError as exc:
            _apply_errors(form, exc)
        else:
            return _questions_fragment(request, survey)
    status = 400 if request.method == "POST" else 200
    return _questions_fragment(request, survey, status=status, editing=(question.pk, form))


@require_POST
@login_required
def question_move_view(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question(request, question_id)
    require(request, CHANGE_SURVEY)
    try:
        services.question_move(
            actor=request.user, question=question, direction=request.POST.get("direction", "")
        )
    except KebuError as exc:
        return _questions_fragment(request, question.survey, status=400, error=exc.message)
    return _questions_fragment(request, question.survey)


@require_POST
@login_required
def question_remove_view(request: HttpRequest, question_id: int) -> HttpResponse:
    question = _question(request, question_id)
    require(request, CHANGE_SURVEY)
    survey = question.survey
    try:
        services.question_remove(actor=request.user, question=question)
    except KebuError as exc:
        return _questions_fragment(request, survey, status=400, error=exc.message)
    return _questions_fragment(request, survey)


@require_GET
@login_required
def survey_preview_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, VIEW_SURVEY)
    context = answer_page_context(survey, selectors.survey_questions(survey), preview=True)
    return render(request, "engagement/surveys/answer.html", context)


# --- links -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def customer_send_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """From the customer page: make (or find) the customer's link and show it to copy or scan."""
    customer = customer_or_404(request, customer_id)
    require(request, ADD_INVITATION)
    surveys = selectors.surveys_open_for_links()
    orders = list(
        order_visible_queryset(user=request.user)
        .filter(customer=customer)
        .order_by("-ordered_at", "-id")[:RECENT_ORDERS]
    )
    initial: dict[str, Any] = {}
    if request.GET.get("order", "").isdigit() and any(o.pk == int(request.GET["order"]) for o in orders):
        initial["order"] = int(request.GET["order"])
    form = SendForm(
        request.POST or None,
        surveys=surveys,
        orders=orders if purchases_visible(user=request.user) else None,
        initial=initial,
    )
    context: dict[str, Any] = {"customer": customer, "form": form, "has_surveys": surveys.exists()}
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            order = next((o for o in orders if o.pk == form.cleaned_data.get("order")), None)
            try:
                invitation, created = services.invitation_create(
                    actor=request.user, survey=form.cleaned_data["survey"], customer=customer, order=order
                )
            except KebuError as exc:
                _apply_errors(form, exc)
            else:
                url = link_url(request, invitation)
                context.update(
                    {"invitation": invitation, "created": created, "url": url, "qr_svg": _qr_svg(url)}
                )
                status = 201 if created else 200
    return render(request, "engagement/surveys/send.html", context, status=status)


@require_POST
@login_required
def invitation_batch_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, ADD_INVITATION)
    form = BatchForm(request.POST, with_orders=purchases_visible(user=request.user))
    result = None
    if form.is_valid():
        cd = form.cleaned_data
        try:
            if cd["source"] == "delivered":
                result = services.invitations_create_batch(
                    actor=request.user, survey=survey, delivered_within_days=cd["delivered_within_days"]
                )
            else:
                result = services.invitations_create_batch(
                    actor=request.user, survey=survey, customer_numbers=cd["customer_numbers"]
                )
        except KebuError as exc:
            _apply_errors(form, exc)
    context = {"survey": survey, "form": form, "result": result}
    if result is not None:
        context["batch"] = result.created_at.isoformat()
        context["links"] = [
            (invitation, link_url(request, invitation))
            for invitation in selectors.invitation_batch(
                actor=request.user, survey=survey, created_at=result.created_at
            )[:50]
        ]
    return render(request, "engagement/surveys/batch.html", context, status=200 if result else 400)


def _csv(name: str, header: list[str], rows: list[list[Any]]) -> HttpResponse:
    """The links as CSV, text cells neutralised by ``safe_cell`` as in every export."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell("" if v is None else v) for v in row])
    response = HttpResponse(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.csv")
    return response


@require_GET
@login_required
def invitation_export_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    """A batch's links (customer number, name, link, expiry) to paste into messages."""
    survey = _survey(request, survey_id)
    require(request, ADD_INVITATION)
    batch = parse_datetime(request.GET.get("batch", ""))
    if batch is None or timezone.is_naive(batch):
        raise Http404
    invitations = list(selectors.invitation_batch(actor=request.user, survey=survey, created_at=batch))
    show_orders = purchases_visible(user=request.user)
    rows = [
        [
            inv.customer.customer_no,
            inv.customer.name,
            *([inv.order.order_no if inv.order else ""] if show_orders else []),
            link_url(request, inv),
            inv.expires_at,
        ]
        for inv in invitations
    ]
    file_format = "csv" if request.GET.get("format") == "csv" else "xlsx"
    audit_record(
        action="survey.links_export",
        actor=request.user,
        target=survey,
        data={"rows": len(rows), "format": file_format, "batch": batch.isoformat()},
    )
    header = [
        _("Customer number"),
        _("Name"),
        *([_("Order")] if show_orders else []),
        _("Link"),
        _("Expires at"),
    ]
    name = f"survey-{survey.pk}-links"
    if file_format == "csv":
        return _csv(name, header, rows)
    return xlsx_response(f"{name}.xlsx", [Sheet(_("Links"), header, rows)])


# --- results -----------------------------------------------------------------------------------------


def _chart_data(results: selectors.SurveyResults) -> dict[str, Any]:
    charts = []
    for item in results.questions:
        if item.score is not None:
            labels = [str(score) for score in item.score.distribution]
            charts.append(
                {
                    "id": f"chart-q{item.question.pk}",
                    "kind": item.score.kind,
                    "labels": labels,
                    "values": list(item.score.distribution.values()),
                }
            )
        elif item.choices:
            charts.append(
                {
                    "id": f"chart-q{item.question.pk}",
                    "kind": item.question.kind,
                    "labels": [option for option, _n in item.choices],
                    "values": [n for _option, n in item.choices],
                }
            )
    return {"charts": charts, "labels": {"answers": _("Answers")}}


@require_GET
@login_required
def survey_results_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    survey = _survey(request, survey_id)
    require(request, VIEW_SURVEY)
    form = ResultsFilterForm(request.GET or None)
    dates: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        dates = {"date_from": form.cleaned_data["date_from"], "date_to": form.cleaned_data["date_to"]}
    results = selectors.survey_results(survey=survey, **dates)
    texts = paginate(
        selectors.text_answer_list(actor=request.user, survey=survey, **dates),
        page=request.GET.get("page"),
        per_page=PAGE_SIZE,
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "survey": survey,
        "form": form,
        "results": results,
        "chart": _chart_data(results),
        "texts": texts,
        "page": texts,
        "query": query.urlencode(),
        "indicative_below": selectors.INDICATIVE_BELOW,
    }
    return render(request, "engagement/surveys/results.html", context)


@require_GET
@login_required
def survey_results_export_view(request: HttpRequest, survey_id: int) -> HttpResponse:
    """The answers one by one (customers the user may see), a column per question."""
    survey = _survey(request, survey_id)
    require(request, VIEW_SURVEY)
    form = ResultsFilterForm(request.GET or None)
    dates: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        dates = {"date_from": form.cleaned_data["date_from"], "date_to": form.cleaned_data["date_to"]}
    questions = selectors.survey_questions(survey)
    show_orders = purchases_visible(user=request.user)
    rows = []
    for response in selectors.response_list(actor=request.user, survey=survey, **dates).iterator(
        chunk_size=500
    ):
        by_question = {answer.question_id: answer for answer in response.answers.all()}
        row: list[Any] = [
            response.customer.customer_no,
            response.customer.name,
            *(
                [response.invitation.order.order_no if response.invitation.order else ""]
                if show_orders
                else []
            ),
            response.submitted_at,
        ]
        for question in questions:
            answer = by_question.get(question.pk)
            if answer is None:
                row.append(None)
            elif answer.score is not None:
                row.append(answer.score)
            elif answer.choices:
                row.append("、".join(str(c) for c in answer.choices))
            else:
                row.append(answer.text)
        rows.append(row)
    header = [
        _("Customer number"),
        _("Name"),
        *([_("Order")] if show_orders else []),
        _("Answered at"),
        *[q.text for q in questions],
    ]
    dates_text = {k: str(v) for k, v in dates.items()}
    audit = ExportAudit("survey.responses_export", request.user, dates_text, target=survey)
    return xlsx_response(f"survey-{survey.pk}-answers.xlsx", [Sheet(_("Answers"), header, rows)], audit=audit)


# --- the customer page's card ------------------------------------------------------------------------


@require_GET
@login_required
def customer_surveys_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_or_404(request, customer_id)
    require(request, VIEW_SURVEY)
    context = {
        "customer": customer,
        "responses": selectors.customer_survey_responses(actor=request.user, customer=customer),
        "waiting": selectors.customer_open_invitations(actor=request.user, customer=customer),
        "can_invite": can(request.user, ADD_INVITATION) and not customer.is_archived,
        "show_orders": purchases_visible(user=request.user),
    }
    return render(request, "engagement/surveys/_customer_card.html", context)
