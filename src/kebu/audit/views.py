"""The audit log's page and its CSV export, for staff holding the ``audit.view_auditentry`` permission."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required, permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kebu.audit import display, selectors, services
from kebu.audit.forms import AuditFilterForm
from kebu.audit.models import AuditEntry
from kebu.core.pagination import paginate

PAGE_SIZE = 50
VIEW_PERMISSION = "audit.view_auditentry"


def _filter_form(request: HttpRequest) -> AuditFilterForm:
    return AuditFilterForm({key: value for key, value in request.GET.items() if key != "page"})


@require_GET
@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
def audit_list_view(request: HttpRequest) -> HttpResponse:
    form = _filter_form(request)
    # An invalid filter (a malformed date or address) shows nothing, never a silently unfiltered log.
    qs = (
        selectors.audit_entry_list(filters=form.to_filters())
        if form.is_valid()
        else AuditEntry.objects.none()
    )
    page = paginate(qs, page=request.GET.get("page"), per_page=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/list.html",
        {
            "form": form,
            "page": page,
            # in words, read together: the filters' owners, tags … of all the page's exports at once
            "rows": display.entries_text(page.object_list),
            "query": query.urlencode(),
            "target_types": selectors.audit_target_types(),
        },
        status=200 if form.is_valid() else 400,
    )


@require_GET
@login_required
@permission_required(VIEW_PERMISSION, raise_exception=True)
def audit_export_view(request: HttpRequest) -> HttpResponseBase:
    form = _filter_form(request)
    if not form.is_valid():
        return audit_list_view(request)
    export = services.audit_export(actor=request.user, filters=form.to_filters())
    response = StreamingHttpResponse(export.lines, content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="kebu-audit-{stamp}.csv"'
    response["X-Kebu-Rows"] = str(export.rows)
    return response
