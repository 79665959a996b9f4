"""Pages of tickets and complaints: the queues, one ticket with its history and steps, a new ticket, the
figures, and the tickets card of the customer page. Thin: parse, call a selector or service, render.

A ticket or customer someone may not see answers 404 before any permission is read, so a 403 never
tells that an id exists. A refused step renders the ticket page again with the form and its errors
(400), or with a request to reload when someone else changed the ticket meanwhile (409)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.core.errors import Conflict, KebuError, NotFound
from kebu.core.pagination import paginate
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_by_number_for_actor, customer_get_for_actor, customer_is_visible
from kebu.engagement.access import VIEW_ALL_TICKETS
from kebu.engagement.forms.tickets import (
    FiguresForm,
    TicketAssignForm,
    TicketFilterForm,
    TicketForm,
    TicketNoteForm,
    TicketTransitionForm,
)
from kebu.engagement.models import OPEN_TICKET_STATUSES, Ticket, TicketStatus
from kebu.engagement.selectors import feedback as feedback_selectors
from kebu.engagement.selectors import tickets as selectors
from kebu.engagement.services import tickets as services
from kebu.engagement.views._common import can, customer_or_404, require
from kebu.orders.models import COUNTED_STATUSES, Order, OrderStatus
from kebu.orders.selectors import order_get_for_actor, order_open_aftersales, order_visible_queryset

PAGE_SIZE = 25
VIEW_TICKET = "engagement.view_ticket"
ADD_TICKET = "engagement.add_ticket"
CHANGE_TICKET = "engagement.change_ticket"
ADD_AFTERSALE = "orders.add_aftersale"


def _ticket(request: HttpRequest, ticket_id: int) -> Ticket:
    try:
        return selectors.ticket_get_for_actor(actor=request.user, ticket_id=ticket_id)
    except NotFound as exc:
        raise Http404 from exc


def _errors_apply(form: Any, error: KebuError, rename: dict[str, str] | None = None) -> None:
    for key, texts in error.as_dict().items():
        name = (rename or {}).get(key, key)
        for text in texts:
            form.add_error(name if name in form.fields else None, text)


# --- the queues --------------------------------------------------------------------------------------------


@require_GET
@login_required
def ticket_list_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_TICKET)
    form = TicketFilterForm(request.GET)
    valid = form.is_valid()
    default_tab = "mine" if can(request.user, CHANGE_TICKET) else "open"
    tab = (form.cleaned_data.get("tab") if valid else "") or default_tab
    now = timezone.now()
    tickets = (
        selectors.ticket_list(user=request.user, tab=tab, filters=form.cleaned_data, now=now)
        if valid
        else Ticket.objects.none()  # an invalid filter shows nothing rather than everything
    )
    page = paginate(tickets, page=request.GET.get("page"), per_page=PAGE_SIZE)
    for ticket in page.object_list:
        ticket.overdue = ticket.status in OPEN_TICKET_STATUSES and ticket.due_at < now
        ticket.response_late = ticket.first_responded_at is None and ticket.first_response_due_at < now
    query = request.GET.copy()
    query.pop("page", None)
    filters = query.copy()
    filters.pop("tab", None)
    context = {
        "form": form,
        "tab": tab,
        "tabs": [
            ("mine", _("My queue")),
            ("unassigned", _("Unassigned")),
            ("open", _("All open")),
            ("overdue", pgettext("ticket queue", "Overdue")),
            ("all", _("All tickets")),
        ],
        "counts": selectors.ticket_tab_counts(user=request.user, now=now),
        "page": page,
        "query": query.urlencode(),
        "filters": filters.urlencode(),
        "can_figures": can(request.user, VIEW_ALL_TICKETS),
    }
    return render(request, "engagement/tickets/list.html", context)


# --- one ticket --------------------------------------------------------------------------------------------


def _steps(ticket: Ticket) -> list[tuple[str, str]]:
    """The steps the ticket may take now, as (status, button label)."""
    labels = {
        TicketStatus.IN_PROGRESS: _("Reopen")
        if ticket.status in (TicketStatus.RESOLVED, TicketStatus.CLOSED)
        else _("Start working"),
        TicketStatus.WAITING: _("Wait for the customer"),
        TicketStatus.RESOLVED: _("Resolve"),
        TicketStatus.CLOSED: _("Close"),
    }
    return [(status, labels[status]) for status in services.TRANSITIONS[ticket.status]]


def _detail_context(request: HttpRequest, ticket: Ticket, **forms: Any) -> dict[str, Any]:
    user = request.user
    version = {"version": ticket.version}
    order = ticket.order
    can_change = can(user, CHANGE_TICKET)
    now = timezone.now()
    # Someone who sees the ticket (its assignee, the service lead) may not see its customer or order.
    customer_visible = customer_is_visible(user=user, customer=ticket.customer)
    context = {
        "ticket": ticket,
        "customer_visible": customer_visible,
        "events": selectors.ticket_history(ticket=ticket),
        "lines": list(ticket.lines.all()),
        "aftersales": list(ticket.aftersales.all()),
        "overdue": ticket.status in OPEN_TICKET_STATUSES and ticket.due_at < now,
        "response_late": ticket.first_responded_at is None and ticket.first_response_due_at < now,
        "can_change": can_change,
        "steps": _steps(ticket) if can_change else [],
        "can_aftersale": can_change
        and customer_visible
        and can(user, ADD_AFTERSALE)
        and order is not None
        and order.status in COUNTED_STATUSES
        and order.status != OrderStatus.CLOSED,
        "transition_form": TicketTransitionForm(initial=version),
        "assign_form": TicketAssignForm(initial={**version, "assignee": ticket.assignee_id}),
        "note_form": TicketNoteForm(),
        "open_step": "",
        "reopen_days": services.REOPEN_WINDOW_DAYS,
    }
    context.update(forms)
    # The step that failed shows its form with the errors; the others start empty.
    context["step_forms"] = [
        (
            status,
            label,
            context["transition_form"]
            if status == context["open_step"]
            else TicketTransitionForm(initial=version),
        )
        for status, label in context["steps"]
    ]
    return context


@require_GET
@login_required
def ticket_detail_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    return render(request, "engagement/tickets/detail.html", _detail_context(request, ticket))


def _ticket_action(
    request: HttpRequest,
    ticket_id: int,
    *,
    form: Any,
    name: str,
    act: Callable[[Ticket, dict[str, Any]], Any],
    done: str,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    ticket = _ticket(request, ticket_id)
    require(request, CHANGE_TICKET)
    status = 400
    context: dict[str, Any] = dict(extra or {})
    if form.is_valid():
        try:
            act(ticket, form.cleaned_data)
        except Conflict as exc:
            form.add_error(None, exc.message)
            status, context["conflict"] = 409, True
        except KebuError as exc:
            _errors_apply(form, exc, rename={"to_status": "__all__"})
        else:
            messages.success(request, done % {"no": ticket.number})
            return redirect("tickets:detail", ticket_id=ticket.pk)
    elif "version" in form.errors:
        status, context["conflict"] = 409, True
    ticket = _ticket(request, ticket_id)
    context = _detail_context(request, ticket, **{f"{name}_form": form, **context})
    return render(request, "engagement/tickets/detail.html", context, status=status)


@require_POST
@login_required
def ticket_transition_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    form = TicketTransitionForm(request.POST)

    def act(ticket: Ticket, cd: dict[str, Any]) -> Any:
        return services.ticket_transition(
            actor=request.user,
            ticket=ticket,
            to_status=cd["to_status"],
            note=cd["note"],
            resolution=cd["resolution"],
            result=cd["result"],
            satisfaction=cd["satisfaction"],
            expected_version=cd["version"],
        )

    return _ticket_action(
        request,
        ticket_id,
        form=form,
        name="transition",
        act=act,
        done=_("Ticket %(no)s updated."),
        extra={"open_step": request.POST.get("to_status", "")},
    )


@require_POST
@login_required
def ticket_assign_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    form = TicketAssignForm(request.POST)

    def act(ticket: Ticket, cd: dict[str, Any]) -> Any:
        return services.ticket_assign(
            actor=request.user, ticket=ticket, assignee=cd["assignee"], expected_version=cd["version"]
        )

    return _ticket_action(
        request, ticket_id, form=form, name="assign", act=act, done=_("Ticket %(no)s reassigned.")
    )


@require_POST
@login_required
def ticket_note_view(request: HttpRequest, ticket_id: int) -> HttpResponse:
    form = TicketNoteForm(request.POST)

    def act(ticket: Ticket, cd: dict[str, Any]) -> Any:
        return services.ticket_note_add(actor=request.user, ticket=ticket, note=cd["note"])

    return _ticket_action(
        request, ticket_id, form=form, name="note", act=act, done=_("Note added to %(no)s.")
    )


# --- a new ticket ------------------------------------------------------------------------------------------


def _start(request: HttpRequest) -> tuple[Customer | None, Order | None]:
    """The customer (and order) the new ticket is for, from ``?order=``, ``?customer=`` or
    ``?customer_no=``; 404 for one the user may not see."""
    params = request.GET
    try:
        if params.get("order") and not params.get("customer"):
            order = order_get_for_actor(actor=request.user, order_id=params["order"])
            return order.customer, order
        if params.get("customer"):
            return customer_get_for_actor(actor=request.user, customer_id=params["customer"]), None
        if params.get("customer_no"):
            return customer_by_number_for_actor(actor=request.user, customer_no=params["customer_no"]), None
    except NotFound as exc:
        raise Http404 from exc
    return None, None


@require_http_methods(["GET", "POST"])
@login_required
def ticket_create_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_TICKET, ADD_TICKET)
    customer, order = _start(request)
    if customer is None:
        return render(
            request, "engagement/tickets/start.html", {"customer_no": request.GET.get("customer_no", "")}
        )
    orders = list(
        order_visible_queryset(user=request.user)
        .filter(customer=customer)
        .order_by("-ordered_at", "-id")[:50]
    )
    by_id = {o.pk: o for o in orders}
    if order is not None:
        by_id.setdefault(order.pk, order)
    chosen = request.POST.get("order") if request.method == "POST" else request.GET.get("order")
    lines_order = by_id.get(int(chosen)) if chosen and str(chosen).isdigit() else None
    if lines_order is None and chosen and str(chosen).isdigit():
        lines_order = (
            order_visible_queryset(user=request.user).filter(customer=customer, pk=int(chosen)).first()
        )
        if lines_order is not None:
            by_id[lines_order.pk] = lines_order
    open_aftersales = order_open_aftersales(actor=request.user, order=lines_order) if lines_order else []
    initial = {
        "order": lines_order.pk if lines_order else None,
        "aftersales": [aftersale.pk for aftersale in open_aftersales],
    }
    form = TicketForm(
        request.POST if request.method == "POST" else None,
        orders=sorted(by_id.values(), key=lambda o: (o.ordered_at, o.pk), reverse=True),
        lines_order=lines_order,
        open_aftersales=open_aftersales,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        try:
            ticket = services.ticket_open(
                actor=request.user,
                customer=customer,
                data=services.TicketInput(
                    kind=cd["kind"],
                    category=cd["category"],
                    priority=cd["priority"],
                    subject=cd["subject"],
                    description=cd["description"],
                    order=by_id.get(cd["order"]) if cd["order"] else None,
                    line_ids=cd["lines"],
                    assignee=cd["assignee"],
                    aftersale_ids=cd["aftersales"],
                ),
            )
        except KebuError as exc:
            _errors_apply(form, exc)
        else:
            messages.success(request, _("Ticket %(no)s opened.") % {"no": ticket.number})
            return redirect("tickets:detail", ticket_id=ticket.pk)
    context = {"form": form, "customer": customer, "lines_order": lines_order}
    status = 400 if request.method == "POST" else 200
    return render(request, "engagement/tickets/form.html", context, status=status)


# --- the figures -------------------------------------------------------------------------------------------


@require_GET
@login_required
def ticket_figures_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_TICKET, VIEW_ALL_TICKETS)
    form = FiguresForm(request.GET or None)
    date_from, date_to, min_orders = form.range()
    figures = selectors.ticket_figures(date_from=date_from, date_to=date_to, min_orders=min_orders)
    if not form.is_bound:
        form = FiguresForm(initial={"date_from": date_from, "date_to": date_to, "min_orders": min_orders})
    return render(request, "engagement/tickets/figures.html", {"form": form, "figures": figures})


# --- the customer page's card ------------------------------------------------------------------------------


@require_GET
@login_required
def customer_tickets_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The "Tickets and reviews" card of the customer page (loaded by htmx)."""
    customer = customer_or_404(request, customer_id)
    show_tickets = can(request.user, VIEW_TICKET)
    show_feedback = can(request.user, feedback_selectors.VIEW_FEEDBACK)
    if not (show_tickets or show_feedback):
        return HttpResponse("")
    now = timezone.now()
    tickets = selectors.customer_tickets(actor=request.user, customer=customer) if show_tickets else {}
    for ticket in tickets.get("open", []):
        ticket.overdue = ticket.due_at < now
    context = {
        "customer": customer,
        "show_tickets": show_tickets,
        "show_feedback": show_feedback,
        "tickets": tickets,
        "reviews": feedback_selectors.customer_feedback(actor=request.user, customer=customer)
        if show_feedback
        else [],
        "can_add_ticket": can(request.user, ADD_TICKET),
        "can_add_feedback": can(request.user, "engagement.add_feedback"),
    }
    return render(request, "engagement/tickets/_customer_card.html", context)
