"""``{% customer_timeline customer %}``: the first page of a customer's timeline, rendered with the
customer page itself (so the page reads whole without JavaScript); "more" and the filter are htmx."""

from __future__ import annotations

from typing import Any

from django import template

from kebu.engagement.selectors.timeline import customer_timeline as timeline_page

register = template.Library()


@register.inclusion_tag("engagement/timeline/_card.html", takes_context=True)
def customer_timeline(context: template.Context, customer: Any) -> dict[str, Any]:
    request = context["request"]
    return {
        "request": request,
        "customer": customer,
        "page": timeline_page(actor=request.user, customer=customer),
        "perms": context.get("perms"),
    }
