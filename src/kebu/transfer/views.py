"""The import pages: upload a customer, order, product or review sheet, say which column is which field (or
take a saved preset), check every row without writing, import, follow the job, fetch the rows to fix,
undo; and the history.

Only staff holding ``transfer.import_customers`` reach them; anyone else gets 404, as for a page that
does not exist. Products and orders are catalogue and sales work, reviews service work: their sheets are
offered only to staff who may also add products (``orders.add_product``), orders (``orders.add_order``)
or feedback (``engagement.add_feedback``), and a draft of a kind the user may not import is not found.
Adding a customer (``customers.add_customer``) is asked of each row that would add one, not of the page:
a re-import that only updates customers needs none (``imports._Allowed``).
Between the upload and the import the file is a draft (``drafts.import_draft_keep``): its token lives in
the uploader's session, so nobody else can name it, and it has no job, so it never runs."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from functools import wraps
from math import ceil
from pathlib import Path
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kebu.core.errors import KebuError, NotFound
from kebu.core.models import Job
from kebu.core.pagination import paginate
from kebu.customers import access
from kebu.customers.models import CustomField
from kebu.customers.privacy import contact_policy
from kebu.orders.models import Store
from kebu.transfer.aside import aside_kept_text
from kebu.transfer.cells import normalized
from kebu.transfer.changes import CHANGES_SHOWN, import_changes, import_changes_listed
from kebu.transfer.corrections import CORRECTIONS_KEPT, import_corrections
from kebu.transfer.customers import Problem, customer_headers_match
from kebu.transfer.drafts import (
    CHECK_JOB_KIND,
    import_check_changes,
    import_check_corrections,
    import_check_problems,
    import_check_result,
    import_draft_check_start,
    import_draft_drop,
    import_draft_keep,
    import_draft_preview,
    import_draft_sheet,
    import_from_draft,
    import_mapping_check,
)
from kebu.transfer.exports import KINDS as EXPORT_KINDS
from kebu.transfer.forms import (
    KIND_LABELS,
    STORE_KINDS,
    MappingForm,
    UploadForm,
    import_max_bytes,
    kind_field_choices,
)
from kebu.transfer.imports import (
    BY_IMPORTER,
    IMPORT_PERMISSION,
    KIND_PERMISSIONS,
    import_cancel,
    import_notes,
    import_refusal_text,
    import_rejected_rows,
    import_undo,
)
from kebu.transfer.models import Import, ImportKind, ImportRowAction, MappingPreset
from kebu.transfer.orders import order_headers_match
from kebu.transfer.presets import mapping_preset_apply, mapping_preset_for, mapping_preset_save
from kebu.transfer.products import product_headers_match
from kebu.transfer.readers import Counted
from kebu.transfer.report import report_audit, report_write
from kebu.transfer.reviews import review_headers_match

# Who may see every import, not only their own (the admin role has it).
SEE_ALL_PERMISSION = "transfer.view_import"
DRAFTS_SESSION_KEY = "kebu_import_drafts"
DRAFTS_KEPT = 5  # a session's drafts beyond this many are deleted, oldest first
PREVIEW_ROWS = 10
SAMPLE_VALUES = 3
HISTORY_PAGE = 25
PROBLEMS_PAGE = 50
NOTED_SHOWN = 200  # rows imported with notes, listed on the import's page
PROBLEMS_SHOWN = 2000  # the page shows this many of a check's problems; the report has them all
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def importer_required(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in and holding the import permission; anyone else is told the page does not exist."""

    @wraps(view)
    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(IMPORT_PERMISSION):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapped


def _kinds_allowed(user: Any) -> list[str]:
    """The kinds of sheet this importer may import, customers first."""
    return [
        kind
        for kind in (ImportKind.CUSTOMERS, ImportKind.ORDERS, ImportKind.PRODUCTS, ImportKind.REVIEWS)
        if kind not in KIND_PERMISSIONS or user.has_perm(KIND_PERMISSIONS[kind])
    ]


def _htmx(request: HttpRequest) -> bool:
    """An htmx poll, answered with the fragment it swaps (django-htmx sets ``request.htmx``)."""
    return bool(getattr(request, "htmx", False))


def _imports_visible(user: Any) -> QuerySet[Import]:
    """The imports this user may see: all with ``transfer.view_import``, else their own."""
    qs = Import.objects.select_related("job", "created_by").order_by("-pk")
    return qs if user.has_perm(SEE_ALL_PERMISSION) else qs.filter(created_by=user)


def _get_import(request: HttpRequest, import_id: int) -> Import:
    run = _imports_visible(request.user).filter(pk=import_id).first()
    if run is None:
        raise Http404
    return run


# --- the session's drafts ---------------------------------------------------------------------------


def _drafts(request: HttpRequest) -> dict[str, dict[str, Any]]:
    return dict(request.session.get(DRAFTS_SESSION_KEY, {}))


def _draft(request: HttpRequest, token: str) -> dict[str, Any]:
    """The session's draft, 404 when there is none, or when it holds a kind of sheet the user may not
    import (any more)."""
    draft = _drafts(request).get(token)
    if draft is None:
        raise Http404
    draft.setdefault("kind", ImportKind.CUSTOMERS)  # drafts uploaded before there were kinds
    draft.setdefault("store", None)
    draft.setdefault("owner", request.user.pk)  # the new customers' owner (id, None: the pool)
    if draft["kind"] not in _kinds_allowed(request.user):
        raise Http404
    return draft


def _draft_store(draft: dict[str, Any]) -> Store | None:
    """The store the draft's orders were sold in, if one was chosen (and still exists)."""
    if draft.get("store") is None:
        return None
    return Store.objects.filter(pk=draft["store"]).first()


def _draft_keep(request: HttpRequest, token: str, draft: dict[str, Any]) -> None:
    drafts = _drafts(request)
    drafts[token] = draft
    for old in sorted(drafts, key=lambda t: drafts[t]["at"])[:-DRAFTS_KEPT]:
        import_draft_drop(old)
        del drafts[old]
    request.session[DRAFTS_SESSION_KEY] = drafts


def _draft_forget(request: HttpRequest, token: str) -> None:
    drafts = _drafts(request)
    drafts.pop(token, None)
    request.session[DRAFTS_SESSION_KEY] = drafts


def _draft_gone(request: HttpRequest, token: str, exc: KebuError) -> HttpResponse:
    _draft_forget(request, token)
    messages.error(request, str(exc.message))
    return redirect("transfer:new")


def _drafts_listed(request: HttpRequest) -> list[dict[str, Any]]:
    drafts = _drafts(request)
    return [
        {
            "token": token,
            "kind_label": KIND_LABELS.get(drafts[token].get("kind", ImportKind.CUSTOMERS)),
            **drafts[token],
        }
        for token in sorted(drafts, key=lambda t: drafts[t]["at"], reverse=True)
    ]


# --- history and upload -----------------------------------------------------------------------------


@require_GET
@importer_required
def import_list_view(request: HttpRequest) -> HttpResponse:
    page = paginate(_imports_visible(request.user), page=request.GET.get("page"), per_page=HISTORY_PAGE)
    return render(
        request,
        "transfer/list.html",
        {"page": page, "drafts": _drafts_listed(request)},
    )


@require_http_methods(["GET", "POST"])
@importer_required
def import_new_view(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None, kinds=_kinds_allowed(request.user))
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            draft = import_draft_keep(data=upload.read())
        except KebuError as exc:  # FileRefused: not a spreadsheet, damaged, empty, no rows …
            form.add_error("file", exc.message)
        else:
            _draft_keep(
                request,
                draft.token,
                {
                    "file_name": Path(upload.name or "").name[:255],
                    "size": draft.size,
                    "sheet": draft.sheet,
                    "sheets": draft.sheets,
                    "headers": draft.headers,
                    "kind": form.cleaned_data["kind"],
                    "store": store.pk if (store := form.cleaned_data["store"]) is not None else None,
                    "mode": form.cleaned_data["mode"],
                    "mapping": None,
                    "preset": None,
                    "check": None,
                    "at": time.time(),
                },
            )
            return redirect("transfer:draft", token=draft.token)
    return render(
        request,
        "transfer/new.html",
        {
            "form": form,
            "kinds": _kinds_allowed(request.user),
            "template_kinds": [kind for kind in _kinds_allowed(request.user) if kind in EXPORT_KINDS],
            "max_mb": import_max_bytes() // (1024 * 1024),
            "drafts": _drafts_listed(request),
        },
        status=400 if request.method == "POST" else 200,
    )


# --- columns, presets, check and start --------------------------------------------------------------


def _mapping_problems(draft: dict[str, Any], mapping: dict[int, str]) -> list[str]:
    try:
        import_mapping_check(
            kind=draft["kind"], headers=draft["headers"], mapping=mapping, store=_draft_store(draft)
        )
    except KebuError as exc:
        return [str(exc.message)]
    return []


def _headers_guess(kind: str, headers: list[str], definitions: list[CustomField]) -> dict[int, str]:
    if kind == ImportKind.PRODUCTS:
        return product_headers_match(headers)
    if kind == ImportKind.ORDERS:
        return order_headers_match(headers)
    if kind == ImportKind.REVIEWS:
        return review_headers_match(headers)
    return customer_headers_match(headers, definitions)


@require_http_methods(["GET", "POST"])
@importer_required
def import_draft_view(request: HttpRequest, token: str) -> HttpResponse:
    draft = _draft(request, token)
    sheet = request.GET.get("sheet")
    if request.method == "GET" and sheet is not None and sheet != draft["sheet"]:
        return _draft_sheet_choose(request, token, draft, sheet)
    headers: list[str] = draft["headers"]
    kind: str = draft["kind"]
    definitions = list(CustomField.objects.filter(is_active=True)) if kind == ImportKind.CUSTOMERS else []
    choices = kind_field_choices(kind, definitions)
    keys = {key for key, _label in choices}
    presets = list(MappingPreset.objects.filter(kind=kind))
    guessed = _headers_guess(kind, headers, definitions)
    problems: list[str] = []

    owner_choice = access.can_assign(request.user)
    if request.method == "POST":
        data = request.POST
        if "owner" not in data:  # posted by a page without the choice: the draft's stands
            data = data.copy()
            data["owner"] = "" if draft["owner"] is None else str(draft["owner"])
        form = MappingForm(data, headers=headers, choices=choices, kind=kind, owner_choice=owner_choice)
        if form.is_valid():
            response = _draft_act(request, token, draft, form)
            if response is not None:
                return response
        mapping = form.mapping() if form.is_valid() else {}
        status = 400
    else:
        mapping, draft["preset"] = _mapping_shown(request, draft, presets, guessed, keys)
        _draft_keep(request, token, draft)
        initial: dict[str, Any] = {f"col_{index}": key for index, key in mapping.items()}
        initial["mode"] = draft["mode"]
        initial["store"] = draft["store"]
        initial["owner"] = draft["owner"]
        form = MappingForm(
            initial=initial, headers=headers, choices=choices, kind=kind, owner_choice=owner_choice
        )
        problems = _mapping_problems(draft, mapping)
        status = 200
    try:
        preview = import_draft_preview(token, sheet=draft["sheet"], rows=PREVIEW_ROWS)
    except NotFound as exc:
        return _draft_gone(request, token, exc)
    except KebuError as exc:
        preview = []
        problems.append(str(exc.message))
    rows = [(number, [normalized(cell) for cell in cells]) for number, cells in preview]
    samples = [[cells[i] for _n, cells in rows if cells[i]][:SAMPLE_VALUES] for i in range(len(headers))]
    context = {
        "token": token,
        "draft": draft,
        "form": form,
        **_columns_shown([(*column, samples[column[0]]) for column in form.columns]),
        "rows": rows,
        "problems": problems,
        "presets": presets,
        "preset_id": draft.get("preset"),
        "mapped": len(mapping),
        "kind_label": KIND_LABELS[kind],
    }
    return render(request, "transfer/draft.html", context, status=status)


def _draft_sheet_choose(request: HttpRequest, token: str, draft: dict[str, Any], sheet: str) -> HttpResponse:
    """Read the draft's workbook from its sheet ``sheet`` instead (one it has): its columns are chosen
    afresh, as for a new upload. The first sheet with rows was read on upload; a workbook with the
    customers on two sheets had the second left out without a word."""
    if sheet in draft.get("sheets", []):
        try:
            headers = import_draft_sheet(token, sheet=sheet)
        except NotFound as exc:
            return _draft_gone(request, token, exc)
        except KebuError as exc:  # FileRefused: the sheet is empty, or has a header without rows
            reason = {"sheet": sheet, "reason": exc.message}
            messages.error(request, _("Sheet “%(sheet)s”: %(reason)s") % reason)
        else:
            draft.update(sheet=sheet, headers=headers, mapping=None, preset=None, check=None)
            _draft_keep(request, token, draft)
    return redirect("transfer:draft", token=token)


# A sheet with more columns than this left out shows those folded away below the ones it imports: a
# 300-column export put the import button 12,000 px down the page.
SKIPPED_COLUMNS_SHOWN = 12


def _columns_shown(columns: list[tuple[int, str, Any, list[str]]]) -> dict[str, Any]:
    """The mapping page's columns (index, header, bound field, sample values): all of them in the sheet's
    order, and, when more than ``SKIPPED_COLUMNS_SHOWN`` are left out, those apart (``skipped``); a
    column with an error is never folded away."""
    skipped = [c for c in columns if not c[2].value() and not c[2].errors]
    if len(skipped) <= SKIPPED_COLUMNS_SHOWN:
        return {"columns": columns, "fed": columns, "skipped": []}
    return {"columns": columns, "fed": [c for c in columns if c not in skipped], "skipped": skipped}


def _mapping_shown(
    request: HttpRequest,
    draft: dict[str, Any],
    presets: list[MappingPreset],
    guessed: dict[int, str],
    keys: set[str],
) -> tuple[dict[int, str], int | None]:
    """The mapping the page offers, and the preset it came from: the preset asked for, else the columns
    last submitted, else the preset saved from a file with this very header, else the guess."""
    headers = draft["headers"]
    asked = request.GET.get("preset")
    if asked is not None:
        preset = next((p for p in presets if str(p.pk) == asked), None)
        if preset is not None:
            return mapping_preset_apply(preset, headers, keys=keys, guessed=guessed), preset.pk
        return {index: key for index, key in guessed.items() if key in keys}, None
    if draft.get("mapping") is not None:
        return {int(index): key for index, key in draft["mapping"].items()}, draft.get("preset")
    preset = mapping_preset_for(headers, kind=draft["kind"])
    if preset is not None:
        return mapping_preset_apply(preset, headers, keys=keys, guessed=guessed), preset.pk
    return {index: key for index, key in guessed.items() if key in keys}, None


def _draft_act(
    request: HttpRequest, token: str, draft: dict[str, Any], form: MappingForm
) -> HttpResponse | None:
    """Save the columns as a preset, check the rows, or start the import; None to show the form again
    with what went wrong on it."""
    mapping = form.mapping()
    draft["mapping"] = {str(index): key for index, key in mapping.items()}
    draft["mode"] = form.cleaned_data["mode"]
    if draft["kind"] in STORE_KINDS:
        chosen = form.cleaned_data.get("store")
        draft["store"] = chosen.pk if chosen is not None else None
    owner = BY_IMPORTER
    if "owner" in form.fields:
        owner = form.cleaned_data.get("owner")
        draft["owner"] = owner.pk if owner is not None else None
    _draft_keep(request, token, draft)
    kind, store = draft["kind"], _draft_store(draft)
    action = request.POST.get("action")
    try:
        if action == "save_preset":
            preset, created = mapping_preset_save(
                actor=request.user,
                name=form.cleaned_data["preset_name"],
                headers=draft["headers"],
                mapping=mapping,
                kind=kind,
            )
            draft["preset"] = preset.pk
            _draft_keep(request, token, draft)
            text = _("Preset “%(name)s” saved.") if created else _("Preset “%(name)s” replaced.")
            messages.success(request, text % {"name": preset.name})
            return redirect("transfer:draft", token=token)
        if action == "check":
            import_mapping_check(kind=kind, headers=draft["headers"], mapping=mapping, store=store)
            job = import_draft_check_start(
                actor=request.user, token=token, sheet=draft["sheet"], mapping=mapping, kind=kind, store=store
            )
            draft["check"] = job.pk
            _draft_keep(request, token, draft)
            return redirect("transfer:check", token=token, job_id=job.pk)
        if action == "import":
            run = import_from_draft(
                actor=request.user,
                token=token,
                file_name=draft["file_name"],
                sheet=draft["sheet"],
                mode=draft["mode"],
                mapping=mapping,
                kind=kind,
                store=store,
                owner=owner,
            )
            _draft_forget(request, token)
            return redirect("transfer:detail", import_id=run.pk)
    except NotFound as exc:
        return _draft_gone(request, token, exc)
    except KebuError as exc:
        for field, errors in exc.field_errors.items():
            for error in errors:
                form.add_error(field if field in form.fields else None, str(error))
        if not exc.field_errors:
            form.add_error(None, str(exc.message))
        return None
    form.add_error(None, _("Choose what to do: check, import or save the preset."))
    return None


@require_POST
@importer_required
def import_draft_drop_view(request: HttpRequest, token: str) -> HttpResponse:
    _draft(request, token)
    import_draft_drop(token)
    _draft_forget(request, token)
    messages.info(request, _("The upload was discarded."))
    return redirect("transfer:new")


def _check_job(request: HttpRequest, token: str, job_id: int) -> tuple[dict[str, Any], Job]:
    """The draft's latest check, 404 for any other job."""
    draft = _draft(request, token)
    job = Job.objects.filter(pk=job_id, kind=CHECK_JOB_KIND).first()
    if job is None or draft.get("check") != job.pk or job.payload.get("draft") != token:
        raise Http404
    return draft, job


@require_GET
@importer_required
def import_check_view(request: HttpRequest, token: str, job_id: int) -> HttpResponse:
    draft, job = _check_job(request, token, job_id)
    result = import_check_result(job)
    context: dict[str, Any] = {"token": token, "draft": draft, "job": job, "result": result}
    if result is not None:
        shown = min(result.problems, PROBLEMS_SHOWN)
        pages = max(1, ceil(shown / PROBLEMS_PAGE))
        try:
            number = min(max(1, int(request.GET.get("page", 1))), pages)
        except ValueError:
            number = 1
        start = (number - 1) * PROBLEMS_PAGE
        context.update(
            problems=import_check_problems(result, start=start, stop=min(start + PROBLEMS_PAGE, shown)),
            page_number=number,
            pages=pages,
            capped=result.problems > shown,
            shown=shown,
            good=result.rows - result.bad,
            corrections=import_check_corrections(result, limit=CORRECTIONS_KEPT),
            changes=import_check_changes(result, limit=CHANGES_SHOWN, user=request.user),
        )
    template = "transfer/_check.html" if _htmx(request) else "transfer/check.html"
    return render(request, template, context)


@require_GET
@importer_required
def import_check_report_view(request: HttpRequest, token: str, job_id: int) -> HttpResponseBase:
    draft, job = _check_job(request, token, job_id)
    result = import_check_result(job)
    if result is None or result.report is None:
        raise Http404
    handle = result.report.open("rb")
    report_audit(
        actor=request.user,
        file_name=draft["file_name"],
        kind=job.payload.get("kind") or ImportKind.CUSTOMERS,
        rows_to_fix=result.bad,
        corrected=result.corrected,
        changed=result.changed,
        # The check wrote its "Changed" sheet as the one who asked for it may see customers.
        masked=contact_policy(job.created_by).masked,
    )
    return FileResponse(
        handle,
        as_attachment=True,
        filename=_report_name(draft["file_name"], to_fix=result.bad > 0, checked=True),
        content_type=XLSX,
    )


def _report_name(file_name: str, *, to_fix: bool, checked: bool = False) -> str:
    """The report's file name, saying what it holds: rows to fix when some were rejected, else (the
    corrected cells, the customers changed) a report of the import, or of its check."""
    name = {"name": Path(file_name).stem or "import"}
    if to_fix:
        return _("%(name)s - rows to fix.xlsx") % name
    return (_("%(name)s - check report.xlsx") if checked else _("%(name)s - import report.xlsx")) % name


# --- an import --------------------------------------------------------------------------------------


def _status_context(request: HttpRequest, run: Import) -> dict[str, Any]:
    job = run.job
    context: dict[str, Any] = {
        "run": run,
        "job": job,
        "finished": job.is_finished,
        "can_undo": job.is_finished and run.undone_at is None and (run.created or run.updated) > 0,
        "store": Store.objects.filter(pk=run.options["store"]).first() if run.options.get("store") else None,
        "kept_aside": aside_kept_text(run),
    }
    if job.is_finished and run.refused:
        context["refusal"] = import_refusal_text(run)
    if job.is_finished and run.noted:
        # Rows imported without some cells, or left with a note: the first ones here, all in the journal.
        context["notes"] = import_notes(run, limit=NOTED_SHOWN)
    if job.is_finished and run.corrected:
        context["corrections"] = import_corrections(run)
    if job.is_finished and run.kind == ImportKind.CUSTOMERS and run.updated:
        # What the updates changed, on the customers this reader may see: the first ones here, all in
        # the report.
        changes = list(import_changes(run, user=request.user, limit=CHANGES_SHOWN))
        total = len(changes)
        if total == CHANGES_SHOWN:
            total = import_changes_listed(run, user=request.user).count()
        context.update(changes=changes, changes_total=total, changes_unlisted=max(0, run.updated - total))
    if job.is_finished and run.rejected:
        rejected = run.journal.filter(action=ImportRowAction.REJECTED).order_by("row")
        page = paginate(rejected, page=request.GET.get("page"), per_page=PROBLEMS_PAGE)
        context["page"] = page
        # Each on the row its cell is on: an order's problem on its second line is on that line's row.
        context["problems"] = [
            Problem(*problem) for entry in page.object_list for problem in entry.rejection_read()[1]
        ]
    return context


@require_GET
@importer_required
def import_detail_view(request: HttpRequest, import_id: int) -> HttpResponse:
    run = _get_import(request, import_id)
    template = "transfer/_status.html" if _htmx(request) else "transfer/detail.html"
    return render(request, template, _status_context(request, run))


@require_POST
@importer_required
def import_cancel_view(request: HttpRequest, import_id: int) -> HttpResponse:
    run = _get_import(request, import_id)
    if not run.job.is_finished:
        import_cancel(run=run)
        messages.info(request, _("The import stops after the batch it is in; what is done so far stays."))
    return redirect("transfer:detail", import_id=run.pk)


@require_POST
@importer_required
def import_undo_view(request: HttpRequest, import_id: int) -> HttpResponse:
    run = _get_import(request, import_id)
    try:
        run = import_undo(actor=request.user, run=run)
    except KebuError as exc:  # Conflict: its message names what would be lost
        messages.error(request, str(exc.message))
    else:
        messages.success(request, " ".join(filter(None, [_("The import was undone."), aside_kept_text(run)])))
    return redirect("transfer:detail", import_id=run.pk)


@require_GET
@importer_required
def import_rejected_view(request: HttpRequest, import_id: int) -> HttpResponseBase:
    run = _get_import(request, import_id)
    updated = run.kind == ImportKind.CUSTOMERS and run.updated
    if not run.job.is_finished or not (run.rejected or run.corrected or updated):
        raise Http404
    try:
        rows = import_rejected_rows(run)
    except FileNotFoundError as exc:
        raise Http404 from exc
    out = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    changes = Counted(import_changes(run, user=request.user))
    written = report_write(
        out,
        headers=run.headers,
        rows=rows,
        corrections=import_corrections(run),
        corrected=run.corrected,
        changes=changes,
    )
    report_audit(
        actor=request.user,
        run=run,
        rows_to_fix=written,
        corrected=run.corrected,
        changed=changes.count,
        masked=contact_policy(request.user).masked,
    )
    out.seek(0)
    return FileResponse(
        out,
        as_attachment=True,
        filename=_report_name(run.file_name, to_fix=run.rejected > 0),
        content_type=XLSX,
    )
