"""HTML views: parse the request, call a selector or service, render. htmx requests get fragments."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.audit.services import audit_record
from kebu.core.errors import Conflict, DuplicateWarning, KebuError, NotFound
from kebu.core.phone import parse_phone
from kebu.customers import access, privacy, selectors, services
from kebu.customers.columns import columns_for, days_since, figure_cells, percent, resolve_columns, yuan
from kebu.customers.filters import FIGURE_FILTERS, shop_today
from kebu.customers.forms import CustomerFormBundle, SavedViewForm, TransferForm
from kebu.customers.models import Customer, SavedView, Stage, Tag
from kebu.orders.selectors import customer_orders, customer_purchase_totals

PAGE_SIZE = 25


def _get_customer(request: HttpRequest, customer_id: int) -> Any:
    """The customer, or 404 whether it does not exist or is not one this user may see; only then are
    permissions checked, so a 403 never tells that an id exists."""
    try:
        return selectors.customer_get_for_actor(actor=request.user, customer_id=customer_id)
    except NotFound as exc:
        raise Http404 from exc


def _require(request: HttpRequest, *perms: str) -> None:
    if not access.can(request.user, *perms):
        raise PermissionDenied


@require_GET
@login_required
def customer_list_view(request: HttpRequest) -> HttpResponse:
    qs, filterset = selectors.customer_list(user=request.user, filters=request.GET)
    if set(filterset.errors) == {"sort"}:
        # An order the list no longer has (an old bookmark or saved view) or one this role may not use:
        # the same customers in the default order, rather than no list at all.
        query = request.GET.copy()
        query.pop("sort")
        messages.info(request, _("The list cannot be sorted that way; it is shown in its default order."))
        return HttpResponseRedirect(f"{request.path}?{query.urlencode()}" if query else request.path)
    page = selectors.customer_list_page(
        qs, sort=filterset.sort_key, page=request.GET.get("page"), per_page=PAGE_SIZE
    )
    figures = selectors.purchases_visible(user=request.user)
    columns = resolve_columns(
        request.GET.get("cols", ""), custom_fields=filterset.custom_fields, figures=figures
    )
    if any(column.figure for column in columns):
        today = shop_today()
        for customer in page.object_list:
            customer.figure_cells = figure_cells(customer, today=today)
    query = request.GET.copy()
    query.pop("page", None)
    sort = request.GET.get("sort") or ""
    context = {
        "page": page,
        "filterset": filterset,
        "columns": columns,
        "all_columns": columns_for(filterset.custom_fields, figures=figures),
        "figures": figures,
        "purchase_filters_open": any(request.GET.get(name) for name in FIGURE_FILTERS),
        "query": query.urlencode(),
        "sort": sort,
        "saved_views": selectors.saved_view_list(user=request.user),
        "tags": Tag.objects.all(),
        "stages": Stage.choices,
        "owner_choices": selectors.owner_filter_choices(user=request.user),
        "assignable": selectors.assignable_users() if access.can_assign(request.user) else [],
        "save_form": SavedViewForm(initial={"query": query.urlencode()}),
        "can_change": access.can(request.user, access.CHANGE),
        "can_add": access.can(request.user, access.ADD),
        "can_assign": access.can_assign(request.user),
        "can_export": access.can(request.user, access.EXPORT),
    }
    template = "customers/_results.html" if request.htmx else "customers/list.html"
    return render(request, template, context)


def _bundle_context(bundle: CustomerFormBundle, **extra: Any) -> dict[str, Any]:
    return {"bundle": bundle, "form": bundle.form, **extra}


def _save(request: HttpRequest, bundle: CustomerFormBundle, customer: Any | None) -> HttpResponse | None:
    """Run the create or update service; on a domain error, put it on the forms and return None."""
    cd = bundle.form.cleaned_data
    try:
        if customer is None:
            customer = services.customer_create(
                actor=request.user,
                data=bundle.to_input(),
                allow_duplicate_phone=cd["allow_duplicate_phone"],
                idempotency_key=cd.get("idempotency_key") or None,
            )
            messages.success(request, _("Customer %(no)s created.") % {"no": customer.customer_no})
        else:
            customer = services.customer_update(
                actor=request.user,
                customer=customer,
                data=bundle.to_input(),
                # No version means the form was not read from this page: refuse rather than overwrite.
                expected_version=cd.get("version") or 0,
                allow_duplicate_phone=cd["allow_duplicate_phone"],
            )
            messages.success(request, _("Saved."))
    except DuplicateWarning as exc:
        bundle.duplicate_warning = True
        bundle.form.add_error(None, exc.message)
        return None
    except Conflict as exc:
        bundle.form.add_error(None, exc.message)
        return None
    except KebuError as exc:
        bundle.add_service_errors(exc)
        return None
    return redirect("customers:detail", customer_id=customer.pk)


@require_http_methods(["GET", "POST"])
@login_required
def customer_create_view(request: HttpRequest) -> HttpResponse:
    _require(request, access.ADD)
    bundle = CustomerFormBundle(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and bundle.is_valid():
        response = _save(request, bundle, None)
        if response:
            return response
    status = 400 if request.method == "POST" else 200
    return render(request, "customers/form.html", _bundle_context(bundle, creating=True), status=status)


@require_http_methods(["GET", "POST"])
@login_required
def customer_edit_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    if not access.can_edit(request.user):
        raise PermissionDenied
    bundle = CustomerFormBundle(
        request.POST if request.method == "POST" else None, user=request.user, customer=customer
    )
    if request.method == "POST" and bundle.is_valid():
        response = _save(request, bundle, customer)
        if response:
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "customers/form.html",
        _bundle_context(bundle, customer=customer, creating=False),
        status=status,
    )


HISTORY_ROWS = 20


def _orders_url(name: str, *args: Any, fallback: str, query: str = "") -> str:
    """A page of the orders app by its URL name, or its path while that app's URLs are not installed."""
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:
        url = fallback
    return f"{url}?{query}" if query else url


def _purchases_context(request: HttpRequest, customer: Customer) -> dict[str, Any]:
    """The purchases card, history and credit card of the customer page: a fixed number of queries
    (the latest orders with their store, their lines, and the totals), however many orders there are."""
    user = request.user
    orders = list(customer_orders(actor=user, customer=customer)[: HISTORY_ROWS + 1])
    totals = customer_purchase_totals(customer=customer)
    paid, refunded = totals["paid"] or 0, totals["refunded"] or 0
    for order in orders[:HISTORY_ROWS]:
        order.url = _orders_url("orders:detail", order.pk, fallback=f"/orders/{order.pk}/")
        order.lines_list = list(order.lines.all())
        order.total_display = yuan(order.total_cny)
        order.refunded_display = yuan(order.refunded_cny) if order.refunded_cny else ""
    has_credit = customer.credit_limit_cny is not None or customer.receivable_cny > 0
    return {
        "show_purchases": True,
        "history": orders[:HISTORY_ROWS],
        "history_more": len(orders) > HISTORY_ROWS,
        "history_all_url": _orders_url("orders:list", fallback="/orders/", query=f"customer={customer.pk}"),
        "purchase_totals": {
            "orders": totals["orders"],
            "paid": yuan(paid),
            "refunded": yuan(refunded),
            "net": yuan(paid - refunded),
        },
        "figures": {
            "total_spent": yuan(customer.total_spent_cny),
            "avg_order": yuan(customer.avg_order_cny),
            "days_since_last_order": days_since(customer.last_order_at),
            "days_since_first_order": days_since(customer.first_order_at),
            "refund_rate": percent(customer.refund_rate),
        },
        "credit": {
            "limit": yuan(customer.credit_limit_cny) if customer.credit_limit_cny is not None else "",
            "owed": yuan(customer.receivable_cny),
            "available": yuan(customer.credit_limit_cny - customer.receivable_cny)
            if customer.credit_limit_cny is not None
            else "",
            "over_limit": customer.credit_limit_cny is not None
            and customer.receivable_cny > customer.credit_limit_cny,
            "url": _orders_url(
                "orders:credit-customer", customer.pk, fallback=f"/orders/credit/{customer.pk}/"
            ),
        }
        if has_credit
        else None,
        "new_order_url": _orders_url(
            "orders:create", fallback="/orders/new/", query=f"customer={customer.pk}"
        )
        if user.has_perm("orders.add_order") and not customer.is_archived
        else "",
    }


@require_GET
@login_required
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    user = request.user
    can_change = access.can(user, access.CHANGE)
    can_assign = access.can_assign(user)
    pool = selectors.shared_pool_enabled()
    purchases = _purchases_context(request, customer) if selectors.purchases_visible(user=user) else {}
    context = {
        **purchases,
        "customer": customer,
        "ownership": selectors.customer_ownership_history(actor=user, customer=customer),
        "custom_fields": selectors.customer_custom_fields(customer=customer),
        "referrer_visible": selectors.customer_is_visible(user=user, customer=customer.referrer),
        "can_edit": access.can_edit(user),
        "can_change": can_change,
        "can_archive": access.can_archive(user, customer),
        "can_claim": can_change and pool and customer.owner_id is None and not customer.is_archived,
        "can_release": customer.owner_id is not None
        and (can_assign or (pool and can_change and customer.owner_id == user.pk)),
        "transfer_form": TransferForm(customer=customer) if can_assign else None,
    }
    return render(request, "customers/detail.html", context)


@require_POST
@login_required
def customer_archive_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    _require(request, access.CHANGE)
    # Someone who may change customers but not this one (a clerk, a pool customer; or theirs, released
    # since the page was loaded) is told why on the customer's page.
    try:
        services.customer_archive(actor=request.user, customer=customer)
    except KebuError as exc:
        messages.error(request, exc.message)
        return redirect("customers:detail", customer_id=customer.pk)
    messages.success(
        request, _("Customer %(no)s archived. You can restore it.") % {"no": customer.customer_no}
    )
    return redirect("customers:detail", customer_id=customer.pk)


@require_POST
@login_required
def customer_restore_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    _require(request, access.CHANGE)
    try:
        services.customer_restore(actor=request.user, customer=customer)
    except KebuError as exc:
        messages.error(request, exc.message)
        return redirect("customers:detail", customer_id=customer.pk)
    messages.success(request, _("Customer %(no)s restored.") % {"no": customer.customer_no})
    return redirect("customers:detail", customer_id=customer.pk)


def _ids(values: list[str]) -> list[int]:
    """The values that are plain decimal ids ("²".isdigit() is True, int("²") is not)."""
    return [int(v) for v in values if re.fullmatch(r"[0-9]{1,18}", v)]


def _back(request: HttpRequest) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("customers:list")
    return HttpResponseRedirect(target)


@require_POST
@login_required
def customer_bulk_view(request: HttpRequest) -> HttpResponse:
    ids = _ids(request.POST.getlist("ids"))[:1000]
    customers = list(
        selectors.customer_visible_queryset(user=request.user)
        .filter(pk__in=ids)
        .select_related("owner")
        .prefetch_related("tags")
    )
    action = request.POST.get("action", "")
    if not access.can(request.user, access.CHANGE):
        messages.error(request, _("Your role may not change customers."))
        return _back(request)
    if not customers:
        messages.warning(request, _("Select at least one customer."))
        return _back(request)
    try:
        if action in ("tag", "untag"):
            tags = list(Tag.objects.filter(pk__in=_ids(request.POST.getlist("tag"))))
            if not tags:
                messages.warning(request, _("Choose a tag."))
                return _back(request)
            changed = services.customers_bulk_tag(
                actor=request.user, customers=customers, tags=tags, remove=action == "untag"
            )
        elif action == "assign":
            # Unassigning is an explicit choice ("none"); an owner left unpicked is a mistake, not a wish
            # to clear the owner of every selected customer.
            owner_value = request.POST.get("owner", "")
            owner = None
            if owner_value != "none":
                owner_ids = _ids([owner_value])
                owner = selectors.assignable_users().filter(pk__in=owner_ids).first()
                if owner is None:
                    messages.warning(request, _("Choose an owner."))
                    return _back(request)
            changed = services.customers_bulk_assign(actor=request.user, customers=customers, owner=owner)
        elif action == "stage":
            changed = services.customers_bulk_stage(
                actor=request.user, customers=customers, stage=request.POST.get("stage", "")
            )
        else:
            messages.warning(request, _("Choose an action."))
            return _back(request)
    except KebuError as exc:
        messages.error(request, "; ".join(m for ms in exc.as_dict().values() for m in ms))
        return _back(request)
    messages.success(
        request, ngettext("%(n)d customer changed.", "%(n)d customers changed.", changed) % {"n": changed}
    )
    return _back(request)


@require_POST
@login_required
def saved_view_save(request: HttpRequest) -> HttpResponse:
    form = SavedViewForm(request.POST)
    if not form.is_valid():
        # The filters ride in a hidden field the user never sees: a list narrowed past its length must
        # not be told that the name it has is missing.
        if form.has_error("query"):
            messages.error(request, _("This view has too many filters to save: remove some and try again."))
        else:
            messages.error(request, _("Give the view a name."))
        return _back(request)
    query = QueryDict(form.cleaned_data["query"], mutable=True)
    query.pop("page", None)
    SavedView.objects.update_or_create(
        owner=request.user,
        name=form.cleaned_data["name"],
        defaults={
            "shared": form.cleaned_data["shared"],
            "query": query.urlencode(),
            "columns": [c for c in query.get("cols", "").split(",") if c],
            "ordering": query.get("sort", ""),
        },
    )
    messages.success(request, _("View “%(name)s” saved.") % {"name": form.cleaned_data["name"]})
    return HttpResponseRedirect(reverse("customers:list") + "?" + query.urlencode())


@require_POST
@login_required
def saved_view_delete(request: HttpRequest, view_id: int) -> HttpResponse:
    deleted, _rows = SavedView.objects.filter(pk=view_id, owner=request.user).delete()
    if not deleted:
        raise Http404
    messages.success(request, _("View deleted."))
    return redirect("customers:list")


@require_GET
@login_required
def phone_check_view(request: HttpRequest) -> HttpResponse:
    """Inline check while typing a phone: is it valid, and does another customer already have it?"""
    # The input keeps its formset name (phones-0-number), so take whichever number field was sent.
    # Only for someone filling in a profile: to anyone else it would only tell whether a number is known.
    if not (access.can(request.user, access.ADD) or access.can_edit(request.user)):
        raise PermissionDenied
    raw = next((v for k, v in request.GET.items() if k == "number" or k.endswith("-number")), "")[:40]
    exclude = request.GET.get("customer", "")
    context: dict[str, Any] = {"number": raw}
    if raw.strip():
        try:
            phone = parse_phone(raw)
        except KebuError as exc:
            context["error"] = exc.message
        else:
            context["phone"] = phone
            # Customers this user may not see are counted, never named or linked.
            # The customer being edited is left out only if this user may see it: an invisible id
            # must not make the "a customer you cannot see" hint disappear, tying the id to the number.
            exclude_id = next(iter(_ids([exclude])), None)
            if exclude_id is not None:
                visible = selectors.customer_visible_queryset(user=request.user).filter(pk=exclude_id)
                exclude_id = exclude_id if visible.exists() else None
            context["owners"] = selectors.phone_owners_for(
                user=request.user, e164_numbers=[phone.e164], exclude_customer_id=exclude_id
            )
    return render(request, "customers/_phone_check.html", context)


# --- ownership -------------------------------------------------------------------------------------------


def _after_ownership_change(request: HttpRequest, customer: Customer) -> HttpResponse:
    # A transfer or release can take the customer out of this user's sight: then back to the list.
    if selectors.customer_is_visible(user=request.user, customer=customer):
        return redirect("customers:detail", customer_id=customer.pk)
    return redirect("customers:list")


def _ownership_action(request: HttpRequest, customer_id: int, act: Any, done: str) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    try:
        customer = act(customer)
    except KebuError as exc:
        messages.error(request, "; ".join(m for ms in exc.as_dict().values() for m in ms))
        return redirect("customers:detail", customer_id=customer.pk)
    messages.success(request, done % {"no": customer.customer_no})
    return _after_ownership_change(request, customer)


@require_POST
@login_required
def customer_claim_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    try:
        _get_customer(request, customer_id)
    except Http404:
        # Most often a colleague claimed it a moment earlier, out of this user's sight. Still a 404, with
        # the same words for an id that was never in the pool, so nothing tells who has the customer.
        return render(request, "customers/claim_gone.html", status=404)
    return _ownership_action(
        request,
        customer_id,
        lambda c: services.customer_claim(customer=c, actor=request.user),
        _("Customer %(no)s is now yours."),
    )


@require_POST
@login_required
def customer_release_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    reason = request.POST.get("reason", "")[:1000]
    return _ownership_action(
        request,
        customer_id,
        lambda c: services.customer_release(customer=c, actor=request.user, reason=reason),
        _("Customer %(no)s is back in the shared pool."),
    )


@require_POST
@login_required
def customer_transfer_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    if not access.can_assign(request.user):
        raise PermissionDenied
    form = TransferForm(request.POST, customer=customer)
    if not form.is_valid():
        messages.error(request, _("Choose the colleague who takes the customer over."))
        return redirect("customers:detail", customer_id=customer.pk)
    return _ownership_action(
        request,
        customer_id,
        lambda c: services.customer_transfer(
            customer=c,
            to_user=form.cleaned_data["to_user"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
        ),
        _("Customer %(no)s transferred."),
    )


# --- contact details -------------------------------------------------------------------------------------


@require_POST
@login_required
def customer_reveal_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    """One masked contact detail in full, as a fragment that replaces the masked one. Audited."""
    customer = _get_customer(request, customer_id)
    policy = privacy.contact_policy(request.user)
    if not policy.can_reveal:
        raise PermissionDenied
    try:
        kind, value = privacy.contact_value(
            customer=customer, field=request.POST.get("field", ""), item=request.POST.get("item", "")
        )
    except NotFound as exc:
        raise Http404 from exc
    audit_record(
        action="customer.reveal",
        actor=request.user,
        target=customer,
        data={"field": request.POST.get("field", ""), "item": request.POST.get("item", "")},
    )
    return render(request, "customers/_revealed.html", {"kind": kind, "value": value})


# --- export ----------------------------------------------------------------------------------------------


@require_GET
@login_required
def customer_export_view(request: HttpRequest) -> HttpResponse:
    """The customer list as filtered, every column, as CSV (UTF-8 with a BOM, so Excel reads the
    Chinese), streamed: only the rows this user may see, masked as they see them on the page. The export
    page (``exports:export``) offers the columns and .xlsx."""
    _require(request, access.EXPORT)
    from kebu.transfer.exports import export_build, export_stream

    export = export_build("customers", user=request.user, filters=request.GET)
    response = StreamingHttpResponse(
        export_stream(export, user=request.user), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="customers-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response
