"""The customer timeline's fragment: the next page ("more") or the same timeline filtered by kind."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from kebu.core.errors import NotFound
from kebu.customers.selectors import customer_get_for_actor
from kebu.engagement.selectors.timeline import Cursor, customer_timeline


@require_GET
@login_required
def timeline_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    try:
        customer = customer_get_for_actor(actor=request.user, customer_id=customer_id)
    except NotFound as exc:
        raise Http404 from exc
    page = customer_timeline(
        actor=request.user,
        customer=customer,
        kinds=request.GET.getlist("kind"),
        cursor=Cursor.decode(request.GET.get("before")),
    )
    template = (
        "engagement/timeline/_entries.html" if request.GET.get("before") else "engagement/timeline/_card.html"
    )
    return render(request, template, {"customer": customer, "page": page})
