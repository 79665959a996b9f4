"""Contact record pages: the staff list, a customer's records, the customer page's card, logging one
(inline on the customer page, or the quick-log page reached from the customer list) and attachment
downloads. Thin: parse, call a selector or ``services.contacts``, render.

A customer or record someone may not see answers 404 before any permission is read. htmx fragments
answer 200 with the form's errors beside the fields (htmx swaps only 2xx answers); the same form sent
without JavaScript gets the quick-log page back with 400."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kebu.core.errors import KebuError, NotFound
from kebu.core.pagination import paginate
from kebu.customers.models import Customer
from kebu.engagement.attachments import attachment_get_for_actor, attachment_response
from kebu.engagement.forms.contacts import ContactFilterForm, ContactForm
from kebu.engagement.models import ContactRecord
from kebu.engagement.selectors import contacts as selectors
from kebu.engagement.services.contacts import contact_log
from kebu.engagement.views._common import can, customer_or_404, require
from kebu.orders.forms import service_errors_apply

PAGE_SIZE = 25
VIEW_CONTACT = "engagement.view_contactrecord"
ADD_CONTACT = "engagement.add_contactrecord"


def _safe_next(request: HttpRequest, value: str, default: str) -> str:
    if value and url_has_allowed_host_and_scheme(value, allowed_hosts={request.get_host()}):
        return value
    return default


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


# --- the staff list ---------------------------------------------------------------------------------------


@require_GET
@login_required
def contact_list_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_CONTACT)
    form = ContactFilterForm(request.GET or {"scope": "mine"})
    if form.is_valid():
        data = form.cleaned_data
        filters = selectors.ContactFilters(
            mine=data.get("scope") != "all",
            channel=data.get("channel") or "",
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
        )
        records = selectors.contact_list(user=request.user, filters=filters)
    else:
        records = ContactRecord.objects.none()  # an invalid filter shows nothing rather than everything
    context = {
        "form": form,
        "page": paginate(records, page=request.GET.get("page"), per_page=PAGE_SIZE),
        "query": _query_without_page(request),
    }
    template = "engagement/contacts/_results.html" if request.htmx else "engagement/contacts/list.html"
    return render(request, template, context)


# --- one customer's records -------------------------------------------------------------------------------


@require_GET
@login_required
def customer_contacts_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The customer page's "Contacts" card (an htmx fragment): the latest few and a link to the rest."""
    customer = customer_or_404(request, customer_id)
    if not can(request.user, VIEW_CONTACT):
        return HttpResponse("")  # no card for a role that may not read contacts
    context = {
        "customer": customer,
        "records": selectors.customer_contacts(
            actor=request.user, customer=customer, limit=selectors.CARD_SIZE
        ),
        "card_size": selectors.CARD_SIZE,
    }
    return render(request, "engagement/contacts/_card.html", context)


@require_GET
@login_required
def customer_contact_list_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_or_404(request, customer_id)
    require(request, VIEW_CONTACT)
    records = selectors.contact_list(
        user=request.user, filters=selectors.ContactFilters(customer_id=customer.pk)
    )
    context = {
        "customer": customer,
        "page": paginate(records, page=request.GET.get("page"), per_page=PAGE_SIZE),
        "query": _query_without_page(request),
    }
    return render(request, "engagement/contacts/customer_list.html", context)


# --- logging a contact ------------------------------------------------------------------------------------


def _log(request: HttpRequest, customer: Customer, form: ContactForm) -> ContactRecord | None:
    """The record, or None with the form carrying why not."""
    if not form.is_valid():
        return None
    try:
        return contact_log(
            actor=request.user,
            customer=customer,
            data=form.to_input(),
            files=form.cleaned_data.get("attachments") or [],
        )
    except NotFound as exc:
        raise Http404 from exc
    except KebuError as exc:
        service_errors_apply(form, exc)
        return None


def _new_form(request: HttpRequest, customer: Customer) -> ContactForm:
    return ContactForm(channel=selectors.channel_default(actor=request.user, customer=customer))


def _can_log(request: HttpRequest, customer: Customer) -> None:
    require(request, ADD_CONTACT)
    if customer.is_archived:
        raise PermissionDenied


@require_http_methods(["GET", "POST"])
@login_required
def customer_log_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The inline "Log contact" form on the customer page: GET the fragment, POST it (two clicks)."""
    customer = customer_or_404(request, customer_id)
    _can_log(request, customer)
    if request.method == "GET":
        form = _new_form(request, customer)
        return render(request, "engagement/contacts/_log_form.html", {"customer": customer, "form": form})
    form = ContactForm(request.POST, request.FILES)
    record = _log(request, customer, form)
    if record is None:
        if request.htmx:
            return render(request, "engagement/contacts/_log_form.html", {"customer": customer, "form": form})
        context = {
            "customer": customer,
            "form": form,
            "next": reverse("customers:detail", args=[customer.pk]),
        }
        return render(request, "engagement/contacts/log.html", context, status=400)
    if request.htmx:
        response = render(
            request, "engagement/contacts/_logged.html", {"customer": customer, "record": record}
        )
        # The contacts card (and a customer's contact list) reload on this event.
        response["HX-Trigger"] = "contact-logged"
        return response
    messages.success(request, _("Contact logged."))
    return HttpResponseRedirect(reverse("customers:detail", args=[customer.pk]))


@require_http_methods(["GET", "POST"])
@login_required
def contact_quick_log_view(request: HttpRequest) -> HttpResponse:
    """The quick-log page (``/contacts/new/?customer=<id>&next=<list>``), opened from a row of the
    customer list; saving goes back to where it was opened from."""
    customer = customer_or_404(request, request.GET.get("customer") or request.POST.get("customer"))
    _can_log(request, customer)
    default_next = reverse("customers:detail", args=[customer.pk])
    next_url = _safe_next(request, request.POST.get("next") or request.GET.get("next", ""), default_next)
    if request.method == "GET":
        form = _new_form(request, customer)
        return render(
            request, "engagement/contacts/log.html", {"customer": customer, "form": form, "next": next_url}
        )
    form = ContactForm(request.POST, request.FILES)
    record = _log(request, customer, form)
    if record is None:
        context = {"customer": customer, "form": form, "next": next_url}
        return render(request, "engagement/contacts/log.html", context, status=400)
    messages.success(
        request,
        _("Contact with %(name)s logged.") % {"name": customer.name or customer.customer_no},
    )
    return HttpResponseRedirect(next_url)


# --- attachments ------------------------------------------------------------------------------------------


@require_GET
@login_required
def attachment_download_view(request: HttpRequest, attachment_id: int) -> HttpResponse:
    """An attachment of a contact record or a ticket, for those who may see that record (404 else)."""
    try:
        attachment = attachment_get_for_actor(actor=request.user, attachment_id=attachment_id)
    except NotFound as exc:
        raise Http404 from exc
    return attachment_response(attachment)
