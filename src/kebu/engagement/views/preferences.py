"""The customer page's "Preferences" card: what the customer told us beside what their orders suggest,
never mixed, and the htmx form that edits the first. 404 for a customer one may not see."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from kebu.core.errors import KebuError, NotFound
from kebu.customers import selectors as customer_selectors
from kebu.customers.models import Customer
from kebu.engagement.forms.preferences import PreferenceForm
from kebu.engagement.selectors.preferences import (
    MIN_ORDERS,
    preference_for_actor,
    preferences_inferred,
)
from kebu.engagement.services.preferences import preference_update
from kebu.engagement.views._common import can, customer_or_404
from kebu.orders.forms import service_errors_apply

VIEW_PREFERENCE = "engagement.view_preference"
CHANGE_PREFERENCE = "engagement.change_preference"


def _card(request: HttpRequest, customer: Customer) -> HttpResponse:
    user = request.user
    context = {
        "customer": customer,
        "preference": preference_for_actor(actor=user, customer=customer),
        # What was bought is for those who may see purchases (customers.selectors.purchases_visible).
        "inferred": preferences_inferred(customer=customer)
        if customer_selectors.purchases_visible(user=user)
        else None,
        "min_orders": MIN_ORDERS,
        "can_edit": can(user, CHANGE_PREFERENCE) and not customer.is_archived,
    }
    return render(request, "engagement/preferences/_card.html", context)


def _form_template(request: HttpRequest) -> str:
    """The form alone for htmx; a whole page (the same form) without JavaScript."""
    return "engagement/preferences/_form.html" if request.htmx else "engagement/preferences/edit.html"


@require_GET
@login_required
def customer_preferences_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_or_404(request, customer_id)
    if not can(request.user, VIEW_PREFERENCE):
        return HttpResponse("")  # no card for a role that may not read preferences
    return _card(request, customer)


@require_http_methods(["GET", "POST"])
@login_required
def customer_preferences_edit_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = customer_or_404(request, customer_id)
    if not (can(request.user, VIEW_PREFERENCE) and can(request.user, CHANGE_PREFERENCE)):
        raise PermissionDenied
    if request.method == "GET":
        preference = preference_for_actor(actor=request.user, customer=customer)
        form = PreferenceForm(initial=PreferenceForm.initial_from(preference))
        return render(request, _form_template(request), {"customer": customer, "form": form})
    form = PreferenceForm(request.POST)
    if form.is_valid():
        try:
            preference_update(actor=request.user, customer=customer, data=form.to_input())
        except NotFound as exc:
            raise Http404 from exc
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            if not request.htmx:
                return HttpResponseRedirect(reverse("customers:detail", args=[customer.pk]))
            return _card(request, customer)
    status = 200 if request.htmx else 400  # htmx swaps only 2xx answers
    return render(request, _form_template(request), {"customer": customer, "form": form}, status=status)
