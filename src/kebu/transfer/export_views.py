"""Export pages: choose format and columns for the list as filtered, download it at once when small, or
follow a background job to its download link when large; and the blank import templates."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from kebu.core.errors import Forbidden, KebuError
from kebu.core.models import Job
from kebu.customers import access
from kebu.transfer.exports import (
    FORMATS,
    KINDS,
    export_build,
    export_file,
    export_start,
    export_stream,
    export_write,
    template_build,
)
from kebu.transfer.views import IMPORT_PERMISSION, KIND_PERMISSIONS

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
_TITLES = {
    "customers": lambda: _("Export customers"),
    "orders": lambda: _("Export orders"),
    "products": lambda: _("Export products"),
}
_BACK = {"customers": "customers:list", "orders": "orders:list", "products": "orders:products"}


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise Http404
    return kind


def _file_name(kind: str, file_format: str) -> str:
    return f"{kind}-{timezone.localtime().strftime('%Y%m%d-%H%M')}.{file_format}"


@require_http_methods(["GET", "POST"])
@login_required
def export_view(request: HttpRequest, kind: str) -> HttpResponse:
    """GET: the options (format, columns) for the list as filtered by the query string. POST: the file
    itself when it is small, else a job and a page that follows it."""
    kind = _kind(kind)
    filters = request.GET.copy()
    filters.pop("page", None)
    try:
        export = export_build(kind, user=request.user, filters=filters)
    except Forbidden as exc:
        raise PermissionDenied from exc
    except KebuError as exc:
        return render(request, "exports/options.html", {"kind": kind, "error": exc.message}, status=400)
    problem = ""
    if request.method == "POST":
        file_format = request.POST.get("format", "xlsx")
        chosen = request.POST.getlist("columns")
        try:
            if not chosen:
                raise KebuError(_("Choose at least one column."))
            export = export_build(kind, user=request.user, filters=filters, columns=chosen)
            if file_format not in FORMATS:
                raise KebuError(_("Choose Excel or CSV."))
            if export.count() > settings.KEBU["EXPORT_INLINE_ROWS"]:
                job = export_start(
                    user=request.user, kind=kind, filters=filters, columns=chosen, file_format=file_format
                )
                return redirect("exports:job", job_id=job.pk)
            return _download(request, export, kind=kind, file_format=file_format)
        except Forbidden as exc:
            raise PermissionDenied from exc
        except KebuError as exc:
            problem = str(exc.message)
    context = {
        "kind": kind,
        "title": _TITLES[kind](),
        "columns": export.columns,
        "count": export.count(),
        "inline_rows": settings.KEBU["EXPORT_INLINE_ROWS"],
        "query": filters.urlencode(),
        "back": reverse(_BACK[kind]) + (f"?{filters.urlencode()}" if filters else ""),
        "error": problem,
        "chosen": set(request.POST.getlist("columns")) if request.method == "POST" else None,
        "format": request.POST.get("format", "xlsx"),
    }
    return render(request, "exports/options.html", context, status=400 if problem else 200)


def _download(request: HttpRequest, export: Any, *, kind: str, file_format: str) -> HttpResponse:
    name = _file_name(kind, file_format)
    if file_format == "csv":
        response: HttpResponse = StreamingHttpResponse(
            export_stream(export, user=request.user), content_type=CONTENT_TYPES["csv"]
        )
    else:
        handle = tempfile.NamedTemporaryFile(suffix=".xlsx", dir=settings.DATA_DIR)  # noqa: SIM115
        export_write(export, Path(handle.name), file_format="xlsx", user=request.user)
        response = FileResponse(open(handle.name, "rb"), content_type=CONTENT_TYPES["xlsx"])  # noqa: SIM115
        handle.close()  # the open response keeps the data; the name is gone at once
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _own_job(request: HttpRequest, job_id: int) -> Job:
    """An export job of this user's; anyone else's, or none, is not found."""
    job = Job.objects.filter(pk=job_id, kind="transfer.export", created_by=request.user).first()
    if job is None:
        raise Http404
    return job


@require_GET
@login_required
def export_job_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own_job(request, job_id)
    kind = job.payload.get("kind")
    back = reverse(_BACK[kind]) if kind in _BACK else ""
    context = {"job": job, "ready": export_file(job) is not None, "kind": kind, "back": back}
    template = "exports/_job.html" if request.htmx else "exports/job.html"
    return render(request, template, context)


@require_GET
@login_required
def export_download_view(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _own_job(request, job_id)
    if not access.can(request.user, access.EXPORT):  # a role changed since the export was asked for
        raise PermissionDenied
    path = export_file(job)
    if path is None:
        raise Http404
    response = FileResponse(
        path.open("rb"), content_type=CONTENT_TYPES[job.payload["format"]], as_attachment=True
    )
    response["Content-Disposition"] = f'attachment; filename="{job.payload["file_name"]}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@login_required
def template_view(request: HttpRequest, kind: str) -> HttpResponse:
    """A blank import template: the columns the import reads, dropdowns and an example row."""
    kind = _kind(kind)
    # Offered to whoever may import that kind, as on the upload page.
    needed = [IMPORT_PERMISSION, KIND_PERMISSIONS.get(kind, IMPORT_PERMISSION)]
    if not request.user.has_perms(needed):
        raise PermissionDenied
    handle = tempfile.NamedTemporaryFile(suffix=".xlsx", dir=settings.DATA_DIR)  # noqa: SIM115
    export_write(template_build(kind), Path(handle.name), file_format="xlsx", user=request.user)
    response = FileResponse(open(handle.name, "rb"), content_type=CONTENT_TYPES["xlsx"])  # noqa: SIM115
    handle.close()
    response["Content-Disposition"] = f'attachment; filename="{kind}-template.xlsx"'
    return response
