"""Frequently bought together: the rules page (shop-wide, ``view_shop_insights``), and the two cards other
pages load with htmx: a product's "bought with" and a customer's recommendations. Who may see which is
said in ``selectors/baskets.py``; a customer the user may not see answers 404 before any permission is
read, as everywhere."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from kebu.core.errors import NotFound
from kebu.core.pagination import paginate
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_get_for_actor
from kebu.insights import access
from kebu.insights.models import InsightKind
from kebu.insights.selectors import baskets as selectors
from kebu.insights.views._common import freshness
from kebu.orders.models import Product

PAGE_SIZE = 50
KIND = InsightKind.BASKETS


class RuleFilterForm(forms.Form):
    product = forms.IntegerField(label=_("Product"), required=False, min_value=1)
    sort = forms.ChoiceField(
        label=_("Order by"),
        required=False,
        choices=[("lift", _("Lift")), ("confidence", _("Confidence")), ("orders", _("Orders"))],
    )


@require_GET
@login_required
def baskets_view(request: HttpRequest) -> HttpResponse:
    """The rules page: when they were computed and with which thresholds, how many orders and products
    went in, and the rules, sortable and narrowed to one product."""
    access.require_view(request.user, KIND)
    form = RuleFilterForm(request.GET or None)
    cleaned: dict[str, Any] = form.cleaned_data if form.is_valid() else {}
    product = None
    if cleaned.get("product"):
        product = Product.objects.filter(pk=cleaned["product"]).first()
    sort = cleaned.get("sort") or "lift"
    rules = selectors.rule_list(user=request.user, product=product, sort=sort)
    query = request.GET.copy()
    query.pop("page", None)
    context = freshness(request, KIND)
    context.update(
        {
            "result": context["run"].result if context["run"] else {},
            "page": paginate(rules, page=request.GET.get("page"), per_page=PAGE_SIZE),
            "product": product,
            "products": selectors.rule_products(user=request.user),
            "sort": sort,
            "form": form,
            "query": query.urlencode(),
        }
    )
    return render(request, "insights/baskets/page.html", context)


@require_GET
@login_required
def product_bought_together_view(request: HttpRequest, product_id: int) -> HttpResponse:
    """The product page's "bought with" card."""
    if not selectors.bought_together_visible(user=request.user):
        raise PermissionDenied
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise Http404
    return render(request, "insights/baskets/_product_card.html", product_card_context(request.user, product))


@require_GET
@login_required
def customer_recommendations_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The customer page's recommendations card."""
    try:
        customer = customer_get_for_actor(actor=request.user, customer_id=customer_id)
    except NotFound as exc:
        raise Http404 from exc
    if not selectors.recommendations_visible(user=request.user, customer=customer):
        raise PermissionDenied
    return render(
        request, "insights/baskets/_customer_card.html", customer_card_context(request.user, customer)
    )


def product_card_context(user: Any, product: Product) -> dict[str, Any]:
    """What ``_product_card.html`` shows ``user`` (nothing when ``visible`` is false)."""
    visible = selectors.bought_together_visible(user=user)
    return {
        "visible": visible,
        "product": product,
        "rules": selectors.bought_together_for_product(user=user, product=product) if visible else [],
        "show_orders": selectors.rules_visible(user=user),
        "can_open_product": access.can(user, "orders.change_product"),
    }


def customer_card_context(user: Any, customer: Customer) -> dict[str, Any]:
    """What ``_customer_card.html`` shows ``user`` (nothing when ``visible`` is false)."""
    visible = selectors.recommendations_visible(user=user, customer=customer)
    return {
        "visible": visible,
        "customer": customer,
        "recommendations": selectors.recommendations_for(user=user, customer=customer) if visible else [],
        "show_orders": selectors.rules_visible(user=user),
    }
