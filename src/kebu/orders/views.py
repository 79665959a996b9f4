"""HTML views for orders, after-sales, credit and the catalogue: parse, call a selector or service, render.

An order, after-sale or customer someone may not see answers 404 before any permission is read, so a 403
never tells that an id exists. A failed action renders the order page again with the posted form and its
errors beside the fields (400), or, when someone else changed the order meanwhile, a request to reload
(409)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.core.errors import Conflict, KebuError, NotFound
from kebu.core.pagination import paginate
from kebu.customers import selectors as customer_selectors
from kebu.customers.columns import grouped, yuan
from kebu.customers.filters import customer_search
from kebu.customers.models import Address, Customer
from kebu.customers.privacy import contact_policy
from kebu.engagement.selectors.tickets import ticket_aftersale_initial, ticket_for_aftersale
from kebu.engagement.services.tickets import ticket_aftersale_raise
from kebu.orders import selectors
from kebu.orders.forms import (
    CARRIERS,
    AfterSaleActionForm,
    AfterSaleFilterForm,
    AfterSaleForm,
    CancelForm,
    CategoryForm,
    CategoryRenameForm,
    CreditPaymentForm,
    CreditTermsForm,
    OrderDetailsForm,
    OrderFilterForm,
    OrderFormBundle,
    PayForm,
    ProductFilterForm,
    ProductFormBundle,
    ShipForm,
    StoreEditForm,
    StoreForm,
    VersionForm,
    service_errors_apply,
    ship_to_initial,
)
from kebu.orders.models import (
    COUNTED_STATUSES,
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleStatus,
    Category,
    Order,
    OrderStatus,
    Product,
    Store,
)
from kebu.orders.services import aftersales as aftersale_services
from kebu.orders.services import credit as credit_services
from kebu.orders.services import orders as order_services
from kebu.orders.services import products as product_services
from kebu.orders.services import stores as store_services

PAGE_SIZE = 25

VIEW_ORDER = "orders.view_order"
ADD_ORDER = "orders.add_order"
CHANGE_ORDER = "orders.change_order"
VIEW_AFTERSALE = "orders.view_aftersale"
ADD_AFTERSALE = "orders.add_aftersale"
CHANGE_AFTERSALE = "orders.change_aftersale"
VIEW_PRODUCT = "orders.view_product"
ADD_PRODUCT = "orders.add_product"
CHANGE_PRODUCT = "orders.change_product"
MANAGE_CREDIT = "orders.manage_credit"
ADD_STORE = "orders.add_store"
CHANGE_STORE = "orders.change_store"
ADD_CREDITPAYMENT = "orders.add_creditpayment"


def _can(user: Any, *perms: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perms(perms))


def _require(request: HttpRequest, *perms: str) -> None:
    if not _can(request.user, *perms):
        raise PermissionDenied


def _order(request: HttpRequest, order_id: int) -> Order:
    try:
        return selectors.order_get_for_actor(actor=request.user, order_id=order_id)
    except NotFound as exc:
        raise Http404 from exc


def _aftersale(request: HttpRequest, aftersale_id: int) -> AfterSale:
    try:
        return selectors.aftersale_get_for_actor(actor=request.user, aftersale_id=aftersale_id)
    except NotFound as exc:
        raise Http404 from exc


def _customer(request: HttpRequest, customer_id: Any) -> Customer:
    try:
        return customer_selectors.customer_get_for_actor(actor=request.user, customer_id=customer_id)
    except NotFound as exc:
        raise Http404 from exc


def _messages_of(error: KebuError) -> str:
    return "; ".join(m for ms in error.as_dict().values() for m in ms)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# --- the order list ----------------------------------------------------------------------------------------


@require_GET
@login_required
def order_list_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_ORDER)
    form = OrderFilterForm(request.GET, user=request.user)
    orders = (
        selectors.order_list(user=request.user, filters=form.cleaned_data)
        if form.is_valid()
        else Order.objects.none()  # an invalid filter shows nothing rather than everything
    )
    page = paginate(orders, page=request.GET.get("page"), per_page=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    # Come from a customer's page (?customer=): say whose orders these are, and how to see everyone's.
    only_of = None
    if form.is_valid() and form.cleaned_data.get("customer"):
        try:
            only_of = customer_selectors.customer_get_for_actor(
                actor=request.user, customer_id=form.cleaned_data["customer"]
            )
        except NotFound:
            only_of = None  # the list is empty for it; nothing to name
    everyone = request.GET.copy()
    everyone.pop("customer", None)
    everyone.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "can_add": _can(request.user, ADD_ORDER),
        "only_of": only_of,
        "everyone_query": everyone.urlencode(),
    }
    template = "orders/_results.html" if request.htmx else "orders/list.html"
    return render(request, template, context)


# --- one order ---------------------------------------------------------------------------------------------


def refund_credit_split_note(cleared_cny: Decimal, paid_back_cny: Decimal) -> str:
    """What a refund does with the money on an order on credit (``refund_credit_split``), in the words a
    merchant acts on: the part that clears what is owed, and what to pay back to the customer in cash or
    by transfer. Empty when it clears nothing owed: a refund like any other."""
    if not cleared_cny:
        return ""
    amounts = {"cleared": grouped(cleared_cny), "back": grouped(paid_back_cny)}
    if not paid_back_cny:
        return (
            _("¥%(cleared)s clears what is owed on this order; nothing to pay back to the customer.")
            % amounts
        )
    return (
        _("¥%(cleared)s clears what is owed on this order; ¥%(back)s to pay back to the customer.") % amounts
    )


def _detail_context(request: HttpRequest, order: Order, **forms: Any) -> dict[str, Any]:
    user = request.user
    policy = contact_policy(user)
    can_change = _can(user, CHANGE_ORDER)
    aftersales: list[AfterSale] = []
    if _can(user, VIEW_AFTERSALE):
        aftersales = list(
            order.aftersales.select_related("created_by", "replacement_sku").prefetch_related(
                Prefetch("lines", queryset=AfterSaleLine.objects.select_related("line")), "tickets"
            )
        )
    failed = forms.pop("aftersale_form", None)
    for aftersale in aftersales:
        aftersale.action_form = (
            failed[1]
            if failed and failed[0] == aftersale.pk
            else AfterSaleActionForm(initial=AfterSaleActionForm.initial_for(aftersale))
        )
        # On credit, where the refund's money goes: as recorded once it completed; a rejected or
        # withdrawn one moves none.
        aftersale.credit_split_note = ""
        if aftersale.status == AfterSaleStatus.COMPLETED:
            split = (aftersale.credit_cleared_cny, aftersale.paid_back_cny)
            aftersale.credit_split_note = refund_credit_split_note(*split)
    # The open ones as they would go were they completed in the order they were requested: each clears
    # what the earlier ones leave owed, so two of ¥100.00 against ¥150.00 owed do not both say nothing
    # goes back.
    still_open = sorted((a for a in aftersales if a.is_open), key=lambda a: (a.requested_at, a.pk))
    splits = aftersale_services.refunds_credit_split(
        order=order, amounts_cny=[a.amount_cny for a in still_open]
    )
    for aftersale, split in zip(still_open, splits, strict=True):
        aftersale.credit_split_note = refund_credit_split_note(*split)
        # Completing one asks about what completing it does now, the earlier ones still open.
        now = aftersale_services.refund_credit_split(order=order, amount_cny=aftersale.amount_cny)
        aftersale.credit_complete_note = refund_credit_split_note(*now)
    version = {"version": order.version}
    pending = order.status == OrderStatus.PENDING
    context = {
        "order": order,
        "customer": order.customer,
        "lines": list(order.lines.all()),
        "refund_pending": order.refund_reserved_cny - order.refunded_cny,
        "aftersales": aftersales,
        "policy": policy,
        "carriers": CARRIERS,
        "can_change": can_change,
        "can_pay": can_change and pending,
        "can_ship": can_change and order.status == OrderStatus.PAID,
        "can_deliver": can_change and order.status == OrderStatus.SHIPPED,
        "can_complete": can_change and order.status in (OrderStatus.SHIPPED, OrderStatus.DELIVERED),
        "can_cancel": can_change and pending,
        "can_aftersale": _can(user, ADD_AFTERSALE)
        and order.status in COUNTED_STATUSES
        and order.status != OrderStatus.CLOSED,
        "can_handle_aftersale": _can(user, CHANGE_AFTERSALE),
        # Any status: a tracking number or an address may be wrong whatever the order's step.
        "can_edit_details": can_change,
        "pay_form": PayForm(initial=version, order=order),
        "ship_form": ShipForm(
            initial={**version, "carrier": order.carrier, "tracking_no": order.tracking_no}
        ),
        "cancel_form": CancelForm(initial=version),
        "status_form": VersionForm(initial=version),
        "details_form": _details_form_class(user)(order=order),
        "open_panel": "",
    }
    context.update(forms)
    return context


@require_GET
@login_required
def order_detail_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request, order_id)
    return render(request, "orders/detail.html", _detail_context(request, order))


def _details_form_class(user: Any) -> Callable[..., OrderDetailsForm]:
    """The details form with the fields ``user`` may change (contact details only if they see them)."""
    return partial(OrderDetailsForm, fields=order_services.order_detail_fields_for(actor=user))


# The flag that draws each step's panel on the order page. A step sent from a page opened before the
# order moved on (paid, shipped or cancelled in another tab) is refused, and its panel is not drawn any
# more: why it was refused is said at the top of the page instead, or the page would say nothing.
ACTION_PANELS = {"pay": "can_pay", "ship": "can_ship", "cancel": "can_cancel", "details": "can_edit_details"}


def _order_action(
    request: HttpRequest,
    order_id: int,
    *,
    form_class: Callable[..., Form],
    name: str,
    act: Callable[[Order, dict[str, Any]], Any],
    done: str,
    extra_perms: tuple[str, ...] = (),
    needs_order: bool = False,
) -> HttpResponse:
    """One action on an order: a POSTed form, a service call, back to the order page."""
    order = _order(request, order_id)
    _require(request, CHANGE_ORDER, *extra_perms)
    form = form_class(request.POST, order=order) if needs_order else form_class(request.POST)
    status = 400
    extra: dict[str, Any] = {}
    if form.is_valid():
        try:
            act(order, form.cleaned_data)
        except Conflict as exc:
            form.add_error(None, exc.message)
            status, extra["conflict"] = 409, True
        except order_services.CreditLimitExceeded as exc:
            service_errors_apply(form, exc)
            extra["credit_warning"] = not exc.blocking
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            messages.success(request, done % {"no": order.order_no})
            return redirect("orders:detail", order_id=order.pk)
    elif "version" in form.errors:
        status, extra["conflict"] = 409, True
    order = _order(request, order_id)
    context = _detail_context(request, order, **{f"{name}_form": form, "open_panel": name, **extra})
    if name in ACTION_PANELS and not context[ACTION_PANELS[name]] and not extra.get("conflict"):
        context["refused_form"] = form
    return render(request, "orders/detail.html", context, status=status)


@require_POST
@login_required
def order_pay_view(request: HttpRequest, order_id: int) -> HttpResponse:
    def act(order: Order, cd: dict[str, Any]) -> Any:
        return order_services.order_pay(
            actor=request.user,
            order=order,
            payment_method=cd["payment_method"],
            paid_cny=cd["paid_cny"] or None,
            paid_now_cny=cd["paid_now_cny"] or None,
            paid_at=cd["paid_at"],
            expected_version=cd["version"],
            allow_over_credit_limit=cd["allow_over_credit_limit"],
        )

    return _order_action(
        request,
        order_id,
        form_class=PayForm,
        name="pay",
        act=act,
        done=_("Order %(no)s paid."),
        needs_order=True,
    )


@require_POST
@login_required
def order_ship_view(request: HttpRequest, order_id: int) -> HttpResponse:
    def act(order: Order, cd: dict[str, Any]) -> Any:
        return order_services.order_ship(
            actor=request.user,
            order=order,
            carrier=cd["carrier"],
            tracking_no=cd["tracking_no"],
            expected_version=cd["version"],
        )

    return _order_action(
        request, order_id, form_class=ShipForm, name="ship", act=act, done=_("Order %(no)s marked shipped.")
    )


@require_POST
@login_required
def order_deliver_view(request: HttpRequest, order_id: int) -> HttpResponse:
    def act(order: Order, cd: dict[str, Any]) -> Any:
        return order_services.order_deliver(actor=request.user, order=order, expected_version=cd["version"])

    return _order_action(
        request,
        order_id,
        form_class=VersionForm,
        name="status",
        act=act,
        done=_("Order %(no)s marked delivered."),
    )


@require_POST
@login_required
def order_complete_view(request: HttpRequest, order_id: int) -> HttpResponse:
    def act(order: Order, cd: dict[str, Any]) -> Any:
        return order_services.order_complete(actor=request.user, order=order, expected_version=cd["version"])

    return _order_action(
        request, order_id, form_class=VersionForm, name="status", act=act, done=_("Order %(no)s completed.")
    )


@require_POST
@login_required
def order_cancel_view(request: HttpRequest, order_id: int) -> HttpResponse:
    def act(order: Order, cd: dict[str, Any]) -> Any:
        return order_services.order_cancel(
            actor=request.user, order=order, reason=cd["reason"], expected_version=cd["version"]
        )

    return _order_action(
        request, order_id, form_class=CancelForm, name="cancel", act=act, done=_("Order %(no)s cancelled.")
    )


@require_POST
@login_required
def order_details_view(request: HttpRequest, order_id: int) -> HttpResponse:
    """Correct an order's details; its lines and amounts change through an after-sale instead."""

    def act(order: Order, cd: dict[str, Any]) -> Any:
        # The form holds only the fields this person was offered: a masked one, or the payment method
        # of an order awaiting payment, is never sent, whatever the POST carries.
        changes = {name: value for name, value in cd.items() if name != "version"}
        return order_services.order_details_update(
            actor=request.user, order=order, changes=changes, expected_version=cd["version"]
        )

    return _order_action(
        request,
        order_id,
        form_class=_details_form_class(request.user),
        name="details",
        act=act,
        done=_("Details of order %(no)s saved."),
        needs_order=True,
    )


# --- a new order -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def order_create_view(request: HttpRequest) -> HttpResponse:
    _require(request, ADD_ORDER)
    customer: Customer | None = None
    # The customer's ship-to address (``ship_to_address``), read once: it fills in "Ship to" and is the
    # page's "left empty, this address is used".
    address: Address | None = None
    initial: dict[str, Any] = {}
    # Whose region-only address filled in "Ship to" (``ship_to_initial``), carried through the POST.
    filled_for = request.POST.get("ship_to_for", "") if request.method == "POST" else ""
    if request.method == "GET" and request.GET.get("customer"):
        customer = _customer(request, request.GET["customer"])
        address = order_services.ship_to_address(customer)
        initial["customer_no"] = customer.customer_no
        initial |= _ship_to_filled(request, customer, address=address)
        filled_for = str(customer.pk) if initial.keys() - {"customer_no"} else ""
    data = _ship_to_unfilled(request, request.POST, filled_for) if request.method == "POST" else None
    bundle = OrderFormBundle(data, user=request.user, initial=initial)
    if request.method == "POST" and bundle.is_valid():
        cd = bundle.form.cleaned_data
        try:
            order = order_services.order_create(
                actor=request.user,
                data=bundle.to_input(),
                allow_over_credit_limit=cd["allow_over_credit_limit"],
                idempotency_key=cd["idempotency_key"] or None,
            )
        except order_services.CreditLimitExceeded as exc:
            bundle.credit_warning = not exc.blocking
            bundle.add_service_errors(exc)
        except Conflict as exc:
            bundle.form.add_error(None, exc.message)
        except KebuError as exc:
            bundle.add_service_errors(exc)
        else:
            messages.success(request, _("Order %(no)s created.") % {"no": order.order_no})
            return redirect("orders:detail", order_id=order.pk)
    chosen = bundle.form.customer()  # a POST's; a GET's form is not bound
    if chosen is not None:
        customer, address = chosen, order_services.ship_to_address(chosen)
    context = {
        "bundle": bundle,
        "form": bundle.form,
        "customer": customer,
        "default_address": address,
        "ship_to_for": filled_for,
        "ship_to_filled_in": bool(filled_for) and customer is not None and str(customer.pk) == filled_for,
    }
    return render(request, "orders/form.html", context, status=400 if request.method == "POST" else 200)


def _ship_to_filled(request: HttpRequest, customer: Customer, *, address: Address | None) -> dict[str, str]:
    return ship_to_initial(
        customer=customer, address=address, contacts_shown=contact_policy(request.user).can_see
    )


def _ship_to_unfilled(request: HttpRequest, data: QueryDict, filled_for: str) -> QueryDict:
    """The new order as posted, less the "Ship to" values filled in from customer ``filled_for``'s
    address when the order's customer number now names someone else: left, the first customer's
    receiver and region would go on the other's order instead of the other's own default address."""
    if not filled_for.isdigit():
        return data
    try:
        first = customer_selectors.customer_get_for_actor(actor=request.user, customer_id=int(filled_for))
    except NotFound:
        return data
    if data.get("customer_no", "").strip().upper() == first.customer_no:
        return data
    data = data.copy()
    for name, value in _ship_to_filled(request, first, address=order_services.ship_to_address(first)).items():
        if data.get(name, "").strip() == value:
            data[name] = ""
    return data


@require_GET
@login_required
def sku_search_view(request: HttpRequest) -> HttpResponse:
    """<option>s for the SKU datalist of the order form, from whichever line's code box asked."""
    if not (_can(request.user, ADD_ORDER) or _can(request.user, VIEW_PRODUCT)):
        raise PermissionDenied
    query = next((v for k, v in request.GET.items() if k == "q" or k.endswith("sku_code")), "")[:64]
    return render(request, "orders/_sku_options.html", {"skus": selectors.sku_search(query=query)})


@require_GET
@login_required
def customer_search_view(request: HttpRequest) -> HttpResponse:
    """<option>s for the customer picker: customers this user may see, by number, name or pinyin."""
    _require(request, ADD_ORDER)
    query = next((v for k, v in request.GET.items() if k in ("q", "customer_no")), "")[:100]
    customers: list[Customer] = []
    if query.strip():
        visible = customer_selectors.customer_visible_queryset(user=request.user).filter(
            archived_at__isnull=True
        )
        customers = list(
            customer_search(visible, query, by_contact=contact_policy(request.user).can_see).order_by(
                "customer_no"
            )[:10]
        )
    return render(request, "orders/_customer_options.html", {"customers": customers})


# --- after-sales -------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def aftersale_create_view(request: HttpRequest, order_id: int) -> HttpResponse:
    order = _order(request, order_id)
    _require(request, ADD_AFTERSALE)
    try:  # raised from a ticket (?ticket=<id>): prefilled from it, and linked to it as it is created
        ticket = ticket_for_aftersale(actor=request.user, ticket_id=request.GET.get("ticket"), order=order)
    except NotFound as exc:
        raise Http404 from exc
    initial = ticket_aftersale_initial(ticket=ticket) if ticket else None
    form = AfterSaleForm(request.POST if request.method == "POST" else None, order=order, initial=initial)
    can_complete = _can(request.user, CHANGE_AFTERSALE)
    if request.method == "POST" and form.is_valid():
        cd = form.cleaned_data
        chosen = form.chosen_lines()
        refund_now = cd["kind"] == AfterSaleKind.REFUND and request.POST.get("complete_now") and can_complete
        try:
            if ticket is not None:
                aftersale = ticket_aftersale_raise(
                    actor=request.user,
                    ticket=ticket,
                    order=order,
                    kind=cd["kind"],
                    reason=cd["reason"],
                    reason_detail=cd["reason_detail"],
                    amount_cny=cd["amount_cny"] or None,
                    lines=chosen,
                    complete_now=bool(refund_now),
                )
            elif refund_now:
                aftersale = aftersale_services.order_refund(
                    actor=request.user,
                    order=order,
                    amount_cny=cd["amount_cny"] or None,
                    reason=cd["reason"],
                    reason_detail=cd["reason_detail"],
                    lines=chosen,
                )
            else:
                aftersale = aftersale_services.aftersale_request(
                    actor=request.user,
                    order=order,
                    kind=cd["kind"],
                    reason=cd["reason"],
                    reason_detail=cd["reason_detail"],
                    amount_cny=cd["amount_cny"] or None,
                    lines=chosen,
                )
        except KebuError as exc:
            form.add_service_errors(exc, chosen)
        else:
            done = _("Refunded ¥%(amount)s.") if refund_now else _("After-sale #%(id)s requested.")
            done %= {"amount": grouped(aftersale.amount_cny), "id": aftersale.pk}
            if refund_now:
                note = refund_credit_split_note(aftersale.credit_cleared_cny, aftersale.paid_back_cny)
                done = f"{done} {note}".strip()
            messages.success(request, done)
            return HttpResponseRedirect(reverse("orders:detail", args=[order.pk]) + "#aftersales")
    context = {"order": order, "form": form, "can_complete": can_complete}
    return render(
        request, "orders/aftersale_form.html", context, status=400 if request.method == "POST" else 200
    )


def _aftersale_act(
    action: str, actor: Any, aftersale: AfterSale, form: AfterSaleActionForm
) -> tuple[AfterSale, str]:
    """Run one step of an after-sale; the message to show when it went through."""
    cd = form.cleaned_data
    version = cd["version"]
    replacement = form.replacement()
    if action == "approve":
        done = aftersale_services.aftersale_approve(
            actor=actor, aftersale=aftersale, expected_version=version
        )
        return done, _("After-sale #%(id)s approved: the customer sends the goods back.") % {"id": done.pk}
    if action == "receive":
        done = aftersale_services.aftersale_receive(
            actor=actor,
            aftersale=aftersale,
            return_tracking_no=cd["return_tracking_no"],
            expected_version=version,
        )
        return done, _("After-sale #%(id)s: return received.") % {"id": done.pk}
    if action == "complete":
        done = aftersale_services.aftersale_complete(
            actor=actor,
            aftersale=aftersale,
            resolution_note=cd["resolution_note"],
            replacement=replacement,
            expected_version=version,
        )
        message = _("After-sale #%(id)s completed.") % {"id": done.pk}
        note = refund_credit_split_note(done.credit_cleared_cny, done.paid_back_cny)
        return done, f"{message} {note}".strip()
    if action == "replacement":
        done = aftersale_services.aftersale_replacement_update(
            actor=actor, aftersale=aftersale, changes=form.replacement_changes(), expected_version=version
        )
        return done, _("After-sale #%(id)s: what was sent is corrected.") % {"id": done.pk}
    if action == "reject":
        done = aftersale_services.aftersale_reject(
            actor=actor, aftersale=aftersale, resolution_note=cd["resolution_note"], expected_version=version
        )
        return done, _("After-sale #%(id)s rejected.") % {"id": done.pk}
    done = aftersale_services.aftersale_cancel(actor=actor, aftersale=aftersale, expected_version=version)
    return done, _("After-sale #%(id)s withdrawn.") % {"id": done.pk}


# ``replacement``: correct what a completed exchange sent, with the permission that completes it.
AFTERSALE_ACTIONS = ("approve", "receive", "complete", "reject", "withdraw", "replacement")


@require_POST
@login_required
def aftersale_action_view(request: HttpRequest, aftersale_id: int, action: str) -> HttpResponse:
    aftersale = _aftersale(request, aftersale_id)
    _require(request, CHANGE_AFTERSALE)
    if action not in AFTERSALE_ACTIONS:
        raise Http404
    form = AfterSaleActionForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            _done, message = _aftersale_act(action, request.user, aftersale, form)
        except Conflict as exc:
            form.add_error(None, exc.message)
            status = 409
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            messages.success(request, message)
            default = reverse("orders:detail", args=[aftersale.order_id]) + f"#aftersale-{aftersale.pk}"
            return HttpResponseRedirect(_safe_next(request, default))
    elif "version" in form.errors:
        status = 409
    order = _order(request, aftersale.order_id)
    context = _detail_context(request, order, aftersale_form=(aftersale.pk, form))
    return render(request, "orders/detail.html", context, status=status)


@require_GET
@login_required
def aftersale_list_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_AFTERSALE)
    form = AfterSaleFilterForm(request.GET)
    aftersales = selectors.aftersale_list(
        user=request.user, filters=form.cleaned_data if form.is_valid() else None
    )
    page = paginate(aftersales, page=request.GET.get("page"), per_page=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        # Of the whole filtered list, not the page. A credit order's refund is in it too: it lowered what the
        # customer owes instead of going back through a payment platform.
        "totals": selectors.aftersale_refund_totals(aftersales),
    }
    return render(request, "orders/aftersale_list.html", context)


# --- credit ------------------------------------------------------------------------------------------------


@require_GET
@login_required
def credit_overdue_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_ORDER)
    rows = selectors.credit_overdue_list(user=request.user)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    total = sum((r["overdue_cny"] for r in rows), start=0)
    return render(request, "orders/credit_overdue.html", {"page": page, "total": total, "count": len(rows)})


def _credit_context(request: HttpRequest, customer: Customer, **forms: Any) -> dict[str, Any]:
    user = request.user
    today = timezone.localdate()
    outstanding = list(
        selectors.order_visible_queryset(user=user)
        .filter(customer=customer, credit_outstanding_cny__gt=0)
        .select_related("store")
        .order_by("credit_due_date", "id")
    )
    for order in outstanding:
        order.days_overdue = (today - order.credit_due_date).days if order.credit_due_date else 0
    limit = customer.credit_limit_cny
    context = {
        "customer": customer,
        "outstanding": outstanding,
        "payments": list(selectors.credit_payments(actor=user, customer=customer)[:50]),
        # Written as the customer page writes it (-¥990.00), not ¥-990.00, and flagged past the limit.
        "available": None if limit is None else yuan(limit - customer.receivable_cny),
        "over_limit": limit is not None and customer.receivable_cny > limit,
        "can_record": _can(user, ADD_CREDITPAYMENT),
        "can_manage": _can(user, MANAGE_CREDIT),
        "payment_form": CreditPaymentForm(),
        "terms_form": CreditTermsForm(
            initial={
                "credit_limit_cny": "" if limit is None else limit,
                "payment_terms_days": customer.payment_terms_days,
            }
        ),
    }
    context.update(forms)
    return context


@require_GET
@login_required
def credit_customer_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _customer(request, customer_id)
    _require(request, VIEW_ORDER)
    return render(request, "orders/credit_customer.html", _credit_context(request, customer))


@require_POST
@login_required
def credit_payment_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _customer(request, customer_id)
    _require(request, VIEW_ORDER, ADD_CREDITPAYMENT)
    form = CreditPaymentForm(request.POST)
    if form.is_valid():
        cd = form.cleaned_data
        try:
            payment = credit_services.credit_payment_record(
                actor=request.user,
                customer=customer,
                amount_cny=cd["amount_cny"],
                method=cd["method"],
                received_at=cd["received_at"],
                note=cd["note"],
            )
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            messages.success(
                request, _("Payment of ¥%(amount)s recorded.") % {"amount": grouped(payment.amount_cny)}
            )
            return redirect("orders:credit-customer", customer_id=customer.pk)
    customer = _customer(request, customer_id)
    context = _credit_context(request, customer, payment_form=form)
    return render(request, "orders/credit_customer.html", context, status=400)


@require_POST
@login_required
def credit_terms_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _customer(request, customer_id)
    _require(request, VIEW_ORDER, MANAGE_CREDIT)
    form = CreditTermsForm(request.POST)
    if form.is_valid():
        cd = form.cleaned_data
        try:
            credit_services.customer_credit_set(
                actor=request.user,
                customer=customer,
                credit_limit_cny=cd["credit_limit_cny"] or None,
                payment_terms_days=cd["payment_terms_days"],
            )
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            messages.success(request, _("Credit terms saved."))
            return redirect("orders:credit-customer", customer_id=customer.pk)
    context = _credit_context(request, customer, terms_form=form)
    return render(request, "orders/credit_customer.html", context, status=400)


# --- the catalogue -----------------------------------------------------------------------------------------


@require_GET
@login_required
def product_list_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_PRODUCT)
    form = ProductFilterForm(request.GET)
    qs = selectors.product_search(filters=form.cleaned_data) if form.is_valid() else Product.objects.none()
    page = paginate(qs, page=request.GET.get("page"), per_page=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "can_add": _can(request.user, ADD_PRODUCT),
        "can_change": _can(request.user, CHANGE_PRODUCT),
    }
    return render(request, "orders/product_list.html", context)


def _product_save(
    request: HttpRequest, bundle: ProductFormBundle, product: Product | None
) -> HttpResponse | None:
    try:
        if product is None:
            product = product_services.product_create(actor=request.user, data=bundle.to_input())
            messages.success(request, _("Product “%(name)s” created.") % {"name": product.name})
        else:
            product = product_services.product_update(
                actor=request.user,
                product=product,
                data=bundle.to_input(),
                # No version means the form was not read from this page: refuse rather than overwrite.
                expected_version=bundle.form.cleaned_data.get("version") or 0,
            )
            messages.success(request, _("Product “%(name)s” saved.") % {"name": product.name})
    except Conflict as exc:
        # The form keeps what was typed and the version it was read at, so saving again is refused
        # again; what the colleague saved is shown beside it, to be compared before reloading.
        bundle.form.add_error(None, exc.message)
        # (None if an undo of the import that made it took it away meanwhile)
        saved = selectors.product_list().filter(pk=product.pk) if product is not None else None
        bundle.saved_now = saved.first() if saved is not None else None
        return None
    except KebuError as exc:
        bundle.add_service_errors(exc)
        return None
    return redirect("orders:products")


@require_http_methods(["GET", "POST"])
@login_required
def product_create_view(request: HttpRequest) -> HttpResponse:
    _require(request, VIEW_PRODUCT, ADD_PRODUCT)
    bundle = ProductFormBundle(request.POST if request.method == "POST" else None)
    if request.method == "POST" and bundle.is_valid():
        response = _product_save(request, bundle, None)
        if response:
            return response
    status = 400 if request.method == "POST" else 200
    return render(request, "orders/product_form.html", {"bundle": bundle, "form": bundle.form}, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def product_edit_view(request: HttpRequest, product_id: int) -> HttpResponse:
    _require(request, VIEW_PRODUCT)
    product = Product.objects.select_related("brand").prefetch_related("skus").filter(pk=product_id).first()
    if product is None:
        raise Http404
    _require(request, CHANGE_PRODUCT)
    bundle = ProductFormBundle(request.POST if request.method == "POST" else None, product=product)
    if request.method == "POST" and bundle.is_valid():
        response = _product_save(request, bundle, product)
        if response:
            return response
    # 409 as for an order someone changed meanwhile: the page asks for a reload, not a correction.
    status = (409 if bundle.saved_now else 400) if request.method == "POST" else 200
    context = {"bundle": bundle, "form": bundle.form, "product": product}
    return render(request, "orders/product_form.html", context, status=status)


@require_http_methods(["GET", "POST"])
@login_required
def category_list_view(request: HttpRequest) -> HttpResponse:
    """The category tree and a form to add to it. Adding is catalogue work: it takes ``add_product``."""
    _require(request, VIEW_PRODUCT)
    can_add = _can(request.user, ADD_PRODUCT)
    form = CategoryForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied
        if form.is_valid():
            try:
                category = product_services.category_create(
                    actor=request.user, name=form.cleaned_data["name"], parent=form.cleaned_data["parent"]
                )
            except KebuError as exc:
                service_errors_apply(form, exc)
            else:
                messages.success(request, _("Category “%(path)s” added.") % {"path": category.path})
                return redirect("orders:categories")
    context = {
        "form": form,
        "categories": selectors.category_list(),
        "can_add": can_add,
        "can_change": _can(request.user, CHANGE_PRODUCT),
    }
    return render(request, "orders/categories.html", context, status=400 if request.method == "POST" else 200)


def _category_for_change(request: HttpRequest, category_id: int) -> Category:
    _require(request, VIEW_PRODUCT)
    category = Category.objects.filter(pk=category_id).first()
    if category is None:
        raise Http404
    # Renaming and deleting are both ``change_product``, as changing a product is: the manager role has
    # it and not ``delete_product``, and a delete only ever removes a category nothing uses.
    _require(request, CHANGE_PRODUCT)
    return category


@require_http_methods(["GET", "POST"])
@login_required
def category_edit_view(request: HttpRequest, category_id: int) -> HttpResponse:
    """Rename a category; the categories below it follow. There is no moving it: see ``category_rename``."""
    category = _category_for_change(request, category_id)
    data = request.POST if request.method == "POST" else None
    form = CategoryRenameForm(data, initial={"name": category.name})
    if request.method == "POST" and form.is_valid():
        try:
            category = product_services.category_rename(
                actor=request.user, category=category, name=form.cleaned_data["name"]
            )
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            messages.success(request, _("Category renamed to “%(path)s”.") % {"path": category.path})
            return redirect("orders:categories")
    status = 400 if request.method == "POST" else 200
    return render(request, "orders/category_form.html", {"form": form, "category": category}, status=status)


@require_POST
@login_required
def category_delete_view(request: HttpRequest, category_id: int) -> HttpResponse:
    """Delete a category made by mistake; the service refuses, saying why, while anything still uses it."""
    category = _category_for_change(request, category_id)
    try:
        product_services.category_delete(actor=request.user, category=category)
    except KebuError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Category “%(path)s” deleted.") % {"path": category.path})
    return redirect("orders:categories")


# --- stores ------------------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def store_list_view(request: HttpRequest) -> HttpResponse:
    """The shop's stores and a form to add one. Whoever may see orders sees the stores (every order page
    names them); adding takes ``add_store``, changing ``change_store``."""
    _require(request, VIEW_ORDER)
    can_add = _can(request.user, ADD_STORE)
    form = StoreForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        if not can_add:
            raise PermissionDenied
        if form.is_valid():
            try:
                store = store_services.store_create(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    platform=form.cleaned_data["platform"],
                    position=form.cleaned_data["position"] or 0,
                )
            except KebuError as exc:
                service_errors_apply(form, exc)
            else:
                messages.success(request, _("Store “%(name)s” added.") % {"name": store.name})
                return redirect("orders:stores")
    context = {
        "form": form,
        "stores": selectors.store_list(user=request.user),
        "can_add": can_add,
        "can_change": _can(request.user, CHANGE_STORE),
    }
    return render(request, "orders/stores.html", context, status=400 if request.method == "POST" else 200)


@require_http_methods(["GET", "POST"])
@login_required
def store_edit_view(request: HttpRequest, store_id: int) -> HttpResponse:
    """Rename a store, move it, change its platform, or take it out of use (never delete it: its orders
    refer to it)."""
    _require(request, VIEW_ORDER)
    store = Store.objects.filter(pk=store_id).first()
    if store is None:
        raise Http404
    _require(request, CHANGE_STORE)
    initial = {
        "name": store.name,
        "platform": store.platform,
        "position": store.position,
        "is_active": store.is_active,
    }
    form = StoreEditForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            store = store_services.store_update(
                actor=request.user,
                store=store,
                name=form.cleaned_data["name"],
                platform=form.cleaned_data["platform"],
                position=form.cleaned_data["position"] or 0,
                is_active=form.cleaned_data["is_active"],
            )
        except KebuError as exc:
            service_errors_apply(form, exc)
        else:
            messages.success(request, _("Store “%(name)s” saved.") % {"name": store.name})
            return redirect("orders:stores")
    status = 400 if request.method == "POST" else 200
    return render(request, "orders/store_form.html", {"form": form, "store": store}, status=status)
