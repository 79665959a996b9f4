"""HTML views: parse the request, call a selector or service, render. htmx requests get fragments."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.core.errors import Conflict, DuplicateWarning, KebuError, NotFound
from kebu.core.pagination import paginate
from kebu.core.phone import parse_phone
from kebu.customers import selectors, services
from kebu.customers.columns import columns_for, resolve_columns
from kebu.customers.forms import CustomerFormBundle, SavedViewForm
from kebu.customers.models import SavedView, Stage, Tag

PAGE_SIZE = 25


def _get_customer(request: HttpRequest, customer_id: int) -> Any:
    try:
        return selectors.customer_get_for_actor(actor=request.user, customer_id=customer_id)
    except NotFound as exc:
        raise Http404 from exc


@require_GET
@login_required
def customer_list_view(request: HttpRequest) -> HttpResponse:
    qs, filterset = selectors.customer_list(user=request.user, filters=request.GET)
    page = paginate(qs, page=request.GET.get("page"), per_page=PAGE_SIZE)
    columns = resolve_columns(request.GET.get("cols", ""), custom_fields=filterset.custom_fields)
    query = request.GET.copy()
    query.pop("page", None)
    sort = request.GET.get("sort") or ""
    context = {
        "page": page,
        "filterset": filterset,
        "columns": columns,
        "all_columns": columns_for(filterset.custom_fields),
        "query": query.urlencode(),
        "sort": sort,
        "saved_views": selectors.saved_view_list(user=request.user),
        "tags": Tag.objects.all(),
        "stages": Stage.choices,
        "staff": get_user_model().objects.filter(is_active=True).order_by("username"),
        "save_form": SavedViewForm(initial={"query": query.urlencode()}),
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
    bundle = CustomerFormBundle(request.POST if request.method == "POST" else None)
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
    bundle = CustomerFormBundle(request.POST if request.method == "POST" else None, customer=customer)
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


@require_GET
@login_required
def customer_detail_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    timeline = selectors.customer_timeline(actor=request.user, customer=customer)
    custom_fields = selectors.customer_custom_fields(customer=customer)
    return render(
        request,
        "customers/detail.html",
        {"customer": customer, "timeline": timeline, "custom_fields": custom_fields},
    )


@require_POST
@login_required
def customer_archive_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    services.customer_archive(actor=request.user, customer=customer)
    messages.success(
        request, _("Customer %(no)s archived. You can restore it.") % {"no": customer.customer_no}
    )
    return redirect("customers:detail", customer_id=customer.pk)


@require_POST
@login_required
def customer_restore_view(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = _get_customer(request, customer_id)
    services.customer_restore(actor=request.user, customer=customer)
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
        selectors.customer_visible_queryset(user=request.user).filter(pk__in=ids).prefetch_related("tags")
    )
    action = request.POST.get("action", "")
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
                owner = get_user_model().objects.filter(pk__in=owner_ids, is_active=True).first()
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
            context["owners"] = services.phone_owners(
                e164_numbers=[phone.e164], exclude_customer_id=next(iter(_ids([exclude])), None)
            )
    return render(request, "customers/_phone_check.html", context)
