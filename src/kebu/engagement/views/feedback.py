"""Pages of feedback and reviews: the list with the average rating of the products it shows, a new review
for a customer, and the rating card of the product page. Thin: parse, call a selector or service,
render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kebu.core.errors import KebuError
from kebu.core.pagination import paginate
from kebu.customers.selectors import purchases_visible
from kebu.engagement.forms.feedback import FeedbackFilterForm, FeedbackForm
from kebu.engagement.models import Feedback
from kebu.engagement.selectors import feedback as selectors
from kebu.engagement.services.feedback import feedback_add
from kebu.engagement.views._common import customer_or_404, require
from kebu.orders.models import OrderLine, Product
from kebu.orders.selectors import order_visible_queryset

PAGE_SIZE = 25
VIEW_FEEDBACK = "engagement.view_feedback"
ADD_FEEDBACK = "engagement.add_feedback"


@require_GET
@login_required
def feedback_list_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_FEEDBACK)
    form = FeedbackFilterForm(request.GET)
    reviews = (
        selectors.feedback_list(user=request.user, filters=form.cleaned_data)
        if form.is_valid()
        else Feedback.objects.none()
    )
    page = paginate(reviews, page=request.GET.get("page"), per_page=PAGE_SIZE)
    product = None
    if form.is_valid() and form.cleaned_data.get("product"):
        product = Product.objects.filter(pk=form.cleaned_data["product"]).first()
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "product": product,
        "ratings": selectors.product_ratings(
            user=request.user, product_ids=[review.product_id for review in page.object_list]
        ),
    }
    return render(request, "engagement/feedback/list.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def feedback_create_view(request: HttpRequest) -> HttpResponse:
    require(request, VIEW_FEEDBACK, ADD_FEEDBACK)
    if not request.GET.get("customer"):
        raise Http404
    customer = customer_or_404(request, request.GET["customer"])
    orders = {
        o.pk: o
        for o in order_visible_queryset(user=request.user)
        .filter(customer=customer)
        .select_related("store")
        .order_by("-ordered_at", "-id")[:50]
    }
    # What the customer bought is offered only to those who may see their purchases; the others pick
    # from the catalogue.
    if purchases_visible(user=request.user):
        bought = OrderLine.objects.filter(customer=customer, product__isnull=False).values("product")
        products_qs = Product.objects.filter(pk__in=bought)
    else:
        products_qs = Product.objects.filter(is_active=True)
    products = {p.pk: p for p in products_qs.order_by("name")[:200]}
    initial: dict[str, Any] = {}
    if str(request.GET.get("order", "")).isdigit() and int(request.GET["order"]) in orders:
        initial["order"] = int(request.GET["order"])
    form = FeedbackForm(
        request.POST if request.method == "POST" else None,
        orders=list(orders.values()),
        products=list(products.values()),
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        try:
            feedback_add(
                actor=request.user,
                customer=customer,
                order=orders.get(cd["order"]) if cd["order"] else None,
                product=products.get(cd["product"]) if cd["product"] else None,
                rating=cd["rating"],
                comment=cd["comment"],
                reviewed_at=cd["reviewed_at"],
            )
        except KebuError as exc:
            for key, texts in exc.as_dict().items():
                for text in texts:
                    form.add_error(key if key in form.fields else None, text)
        else:
            messages.success(request, _("Feedback saved."))
            return redirect("customers:detail", customer_id=customer.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request, "engagement/feedback/form.html", {"form": form, "customer": customer}, status=status
    )


@require_GET
@login_required
def product_rating_view(request: HttpRequest, product_id: int) -> HttpResponse:
    """The rating card of the product page (loaded by htmx): the reviews the user may see."""
    require(request, VIEW_FEEDBACK)
    product = Product.objects.filter(pk=product_id).first()
    if product is None:
        raise Http404
    summary = selectors.product_rating(user=request.user, product_id=product.pk)
    latest = list(selectors.feedback_list(user=request.user, filters={"product": product.pk})[:3])
    return render(
        request,
        "engagement/feedback/_product_card.html",
        {"product": product, "summary": summary, "latest": latest},
    )
