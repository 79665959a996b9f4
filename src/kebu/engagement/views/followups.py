"""The today page (今日回访), a customer's follow-up card, adding a follow-up, and the steps on one
(done, snooze, reassign, cancel) by htmx: parse, call a selector or service, render.

A follow-up or customer the user may not see answers 404 before any permission is read. A step posted by
htmx answers with the row as it now is (or the row with the service's message), so the list changes in
place; without htmx it redirects back with a message."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, gettext_lazy, pgettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.core.errors import Forbidden, KebuError, NotFound
from kebu.core.pagination import paginate
from kebu.customers.selectors import customer_visible_queryset
from kebu.engagement.forms.followups import (
    CancelForm,
    DigestForm,
    DoneForm,
    FollowUpForm,
    ReassignForm,
    SnoozeForm,
    service_errors_apply,
)
from kebu.engagement.models import DigestSubscription, FollowUp, FollowUpStatus
from kebu.engagement.selectors import followups as selectors
from kebu.engagement.services import followups as services
from kebu.engagement.views._common import can, customer_or_404, require

VIEW = "engagement.view_followup"
ADD = "engagement.add_followup"
CHANGE = "engagement.change_followup"
PAGE_SIZE = 25
SECTION_SIZE = 20
TABS = ("mine", "overdue", "today", "upcoming", "unassigned", "done")
SNOOZE_CHOICES = ((1, gettext_lazy("1 day")), (3, gettext_lazy("3 days")), (7, gettext_lazy("1 week")))


def _followup(request: HttpRequest, followup_id: int) -> FollowUp:
    try:
        return selectors.followup_get_for_actor(actor=request.user, followup_id=followup_id)
    except NotFound as exc:
        raise Http404 from exc


def _link(name: str, pk: int | None) -> str:
    """A link to another area's page, or none while that page does not exist."""
    if pk is None:
        return ""
    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return ""


def _decorate(user: Any, rows: list[FollowUp]) -> list[FollowUp]:
    """What each row shows beyond its fields: whether the user may act on it, may open its customer (a
    follow-up handed over is visible to its assignee, its customer perhaps not), and its links."""
    customer_ids = {f.customer_id for f in rows}
    seen = (
        set(customer_visible_queryset(user=user).filter(pk__in=customer_ids).values_list("pk", flat=True))
        if customer_ids
        else set()
    )
    may_change = can(user, CHANGE)
    today = timezone.localdate()
    for f in rows:
        f.overdue_days = (  # type: ignore[attr-defined]
            (today - f.due_on).days if f.status == FollowUpStatus.OPEN and f.due_on < today else 0
        )
        f.customer_visible = f.customer_id in seen  # type: ignore[attr-defined]
        f.can_act = f.status == FollowUpStatus.OPEN and (  # type: ignore[attr-defined]
            f.assignee_id == user.pk or (may_change and f.customer_id in seen)
        )
        f.customer_url = _link("customers:detail", f.customer_id) if f.customer_id in seen else ""  # type: ignore[attr-defined]
        f.order_url = _link("orders:detail", f.order_id) if f.customer_id in seen else ""  # type: ignore[attr-defined]
        f.ticket_url = _link("tickets:detail", f.ticket_id)  # type: ignore[attr-defined]
    return rows


def _row_context(request: HttpRequest, followup: FollowUp, **extra: Any) -> dict[str, Any]:
    return {
        "f": _decorate(request.user, [followup])[0],
        "assignees": selectors.followup_assignees(),
        "snooze_choices": SNOOZE_CHOICES,
        "today": timezone.localdate(),
        **extra,
    }


@login_required
@require_GET
def today_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW)
    user = request.user
    tab = request.GET.get("tab", "mine")
    tab = tab if tab in TABS else "mine"
    today = timezone.localdate()
    buckets = selectors.followups_buckets(user=user, today=today)
    counts = {
        "overdue": buckets.overdue.count(),
        "today": buckets.due_today.count(),
        "upcoming": buckets.upcoming.count(),
    }
    context: dict[str, Any] = {
        "tab": tab,
        "today": today,
        "counts": counts,
        "assignees": selectors.followup_assignees(),
        "snooze_choices": SNOOZE_CHOICES,
        "subscribed": DigestSubscription.objects.filter(user=user).exists(),
        "digest_form": DigestForm(),
    }
    if tab == "mine":
        sections = []
        for key, label, qs in (
            ("overdue", pgettext("follow-ups", "Overdue"), buckets.overdue),
            ("today", _("Today"), buckets.due_today),
            ("upcoming", _("Next 7 days"), buckets.upcoming),
        ):
            sections.append({"key": key, "label": label, "rows": _decorate(user, list(qs[:SECTION_SIZE]))})
        context["sections"] = sections
        context["section_size"] = SECTION_SIZE
    else:
        qs = {
            "overdue": buckets.overdue,
            "today": buckets.due_today,
            "upcoming": buckets.upcoming,
            "unassigned": selectors.followups_unassigned(user=user),
            "done": selectors.followups_done(user=user),
        }[tab]
        page = paginate(qs, page=request.GET.get("page"), per_page=PAGE_SIZE)
        context["page"] = page
        context["rows"] = _decorate(user, list(page.object_list))
        context["query"] = f"tab={tab}"
    return render(request, "engagement/followups/today.html", context)


@login_required
@require_GET
def badge_view(request: HttpRequest) -> HttpResponse:
    """The nav's count of follow-ups due today or overdue, loaded by htmx after the page."""
    count = selectors.followups_due_count(user=request.user) if can(request.user, VIEW) else 0
    return render(request, "engagement/followups/_badge.html", {"count": count})


@login_required
@require_GET
def customer_card_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_or_404(request, customer_id)
    if not can(request.user, VIEW):
        return HttpResponse("")
    rows = _decorate(request.user, selectors.customer_followups(actor=request.user, customer_id=customer.pk))
    return render(
        request,
        "engagement/followups/_customer_card.html",
        {
            "customer": customer,
            "rows": rows,
            "can_add": can(request.user, ADD) and customer.archived_at is None,
            "assignees": selectors.followup_assignees(),
            "snooze_choices": SNOOZE_CHOICES,
            "today": timezone.localdate(),
            "compact": True,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def create_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_or_404(request, customer_id)
    require(request, ADD)
    assignees = selectors.followup_assignees()
    if request.method == "POST":
        form = FollowUpForm(request.POST, assignees=assignees)
        if form.is_valid():
            try:
                services.followup_create(
                    actor=request.user,
                    customer=customer,
                    title=form.cleaned_data["title"],
                    due_on=form.cleaned_data["due_on"],
                    assignee=form.cleaned_data["assignee"],
                    note=form.cleaned_data["note"],
                )
            except Forbidden as exc:
                raise PermissionDenied from exc
            except KebuError as exc:
                service_errors_apply(form, exc)
            else:
                messages.success(request, _("Follow-up added."))
                return redirect("customers:detail", customer.pk)
        status = 400
    else:
        form = FollowUpForm(
            initial={"due_on": timezone.localdate(), "assignee": request.user.pk}, assignees=assignees
        )
        status = 200
    return render(
        request,
        "engagement/followups/form.html",
        {"form": form, "customer": customer, "today": timezone.localdate()},
        status=status,
    )


def _step(
    request: HttpRequest, followup_id: int, form_class: type, act: Any, done_message: str
) -> HttpResponse:
    """Run one step on a follow-up from a posted form; answer with the row (htmx) or a redirect."""
    followup = _followup(request, followup_id)
    kwargs: dict[str, Any] = {}
    if form_class is ReassignForm:
        kwargs["assignees"] = selectors.followup_assignees()
    form = form_class(request.POST, **kwargs)
    error = ""
    if form.is_valid():
        try:
            followup = act(followup, form.cleaned_data)
        except Forbidden as exc:
            raise PermissionDenied from exc
        except KebuError as exc:
            error = "; ".join(m for ms in exc.as_dict().values() for m in ms)
    else:
        error = "; ".join(str(m) for ms in form.errors.values() for m in ms)
    if request.htmx:
        followup = _followup(request, followup.pk)
        context = _row_context(
            request,
            followup,
            error=error,
            notice="" if error else done_message,
            compact=request.POST.get("compact"),
        )
        return render(request, "engagement/followups/_row.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done_message)
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("followups:today")
    return redirect(target)


@login_required
@require_POST
def done_view(request: HttpRequest, followup_id: int) -> HttpResponse:
    return _step(
        request,
        followup_id,
        DoneForm,
        lambda f, cd: services.followup_done(actor=request.user, followup=f, outcome=cd["outcome"]),
        _("Done."),
    )


@login_required
@require_POST
def snooze_view(request: HttpRequest, followup_id: int) -> HttpResponse:
    return _step(
        request,
        followup_id,
        SnoozeForm,
        lambda f, cd: services.followup_snooze(
            actor=request.user, followup=f, days=cd["days"], until=cd["until"]
        ),
        _("Snoozed."),
    )


@login_required
@require_POST
def reassign_view(request: HttpRequest, followup_id: int) -> HttpResponse:
    return _step(
        request,
        followup_id,
        ReassignForm,
        lambda f, cd: services.followup_reassign(actor=request.user, followup=f, assignee=cd["assignee"]),
        _("Handed over."),
    )


@login_required
@require_POST
def cancel_view(request: HttpRequest, followup_id: int) -> HttpResponse:
    return _step(
        request,
        followup_id,
        CancelForm,
        lambda f, cd: services.followup_cancel(actor=request.user, followup=f, reason=cd["reason"]),
        _("Cancelled."),
    )


@login_required
@require_POST
def digest_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW)
    form = DigestForm(request.POST)
    if form.is_valid():
        try:
            services.digest_subscribe(
                actor=request.user, enabled=form.cleaned_data["enabled"], language=get_language() or "zh-hans"
            )
        except KebuError as exc:
            messages.error(request, "; ".join(m for ms in exc.as_dict().values() for m in ms))
        else:
            if form.cleaned_data["enabled"]:
                messages.success(request, _("You will get an email of your follow-ups each morning."))
            else:
                messages.success(request, _("No more follow-up emails."))
    return redirect("followups:today")
