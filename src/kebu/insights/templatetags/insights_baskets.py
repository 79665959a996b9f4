"""Frequently bought together on other pages, rendered with them (no request of its own):
``{% product_bought_together product %}`` on the product page and ``{% customer_recommendations customer %}``
on the customer page. Each renders nothing for a user who may not see it. ``|basket_percent`` writes a
share (0.0042) as a percentage ("0.42%")."""

from __future__ import annotations

from typing import Any

from django import template

from kebu.insights.views.baskets import customer_card_context, product_card_context

register = template.Library()


@register.inclusion_tag("insights/baskets/_product_card.html", takes_context=True)
def product_bought_together(context: template.Context, product: Any) -> dict[str, Any]:
    return {"request": context.get("request"), **product_card_context(context["request"].user, product)}


@register.inclusion_tag("insights/baskets/_customer_card.html", takes_context=True)
def customer_recommendations(context: template.Context, customer: Any) -> dict[str, Any]:
    return {"request": context.get("request"), **customer_card_context(context["request"].user, customer)}


@register.filter
def basket_percent(value: Any) -> str:
    """A share as a percentage: whole numbers from 10%, one decimal from 1%, two below (supports are
    often a fraction of a percent)."""
    if value is None or value == "":
        return ""
    percent = float(value) * 100
    places = 0 if percent >= 10 else 1 if percent >= 1 else 2
    return f"{percent:.{places}f}%"
