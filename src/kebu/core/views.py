import sys
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.templatetags.static import static
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods

from kebu.core import divisions
from kebu.core.errors import Conflict, KebuError
from kebu.core.forms import SHOP_SETTINGS_GROUPS, ShopSettingsForm
from kebu.core.models import SHOP_SETTINGS_FIELDS, ShopSettings
from kebu.core.services import shop_settings_update

# What a page answering "busy" asks the browser (Retry-After) and the merchant to wait.
BUSY_RETRY_SECONDS = 30
# SQLite's words when a write waited its whole busy timeout for another writer (SQLITE_BUSY), or met a
# table another connection of a shared cache holds (SQLITE_LOCKED).
_BUSY = ("database is locked", "database table is locked")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})


@require_GET
def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """Pages that do not name their icon (the Django admin, the API docs) get Kebu's, not a 404."""
    return HttpResponseRedirect(static("kebu/favicon.svg"))


@require_GET
@login_required
def division_options(request: HttpRequest) -> HttpResponse:
    """<option>s for a dependent select: cities of ?province=, or districts of ?province=&city=."""
    province = request.GET.get("province", "")
    city = request.GET.get("city", "")
    level = request.GET.get("level", "city")
    names = divisions.districts(province, city) if level == "district" else divisions.cities(province)
    return render(
        request, "core/_options.html", {"names": names, "selected": request.GET.get("selected", "")}
    )


CHANGE_SHOP_SETTINGS = "core.change_shopsettings"


@require_http_methods(["GET", "POST"])
@login_required
def shop_settings_view(request: HttpRequest) -> HttpResponse:
    """The shop settings (店铺设置) on a page of the app, for whoever may change them (the admin role
    by default; a shop may give the permission to others). Saved by the service the admin uses too. A
    form older than a colleague's save is answered 409 with the settings as they are now, and beside
    each field what this person had entered, so nothing is undone unseen and nothing typed is lost."""
    if not request.user.has_perm(CHANGE_SHOP_SETTINGS):
        raise PermissionDenied
    if request.method == "GET":
        return _shop_settings_page(request, ShopSettingsForm(instance=ShopSettings.current()))
    form = ShopSettingsForm(request.POST, instance=ShopSettings.current())
    if not form.is_valid():
        if "updated_at" in form.errors:
            return _shop_settings_stale(request, form, form.errors["updated_at"][0])
        return _shop_settings_page(request, form, status=400)
    data = {name: form.cleaned_data[name] for name in SHOP_SETTINGS_FIELDS}
    try:
        saved = shop_settings_update(
            actor=request.user, data=data, expected_updated_at=form.cleaned_data["updated_at"]
        )
    except Conflict as exc:
        return _shop_settings_stale(request, form, exc.message)
    except KebuError as exc:
        for name, errors in exc.as_dict().items():
            for error in errors:
                form.add_error(name if name in form.fields else None, error)
        return _shop_settings_page(request, form, status=400)
    messages.success(request, _("Shop settings saved.") if saved.changes else _("Nothing was changed."))
    for reply in saved.replies:
        messages.info(request, reply)
    return redirect("shop-settings")


def _shop_settings_page(
    request: HttpRequest,
    form: ShopSettingsForm,
    *,
    status: int = 200,
    stale: str = "",
    entered: dict[str, str] | None = None,
) -> HttpResponse:
    entered = entered or {}
    groups = [
        (title, [(form[name], entered.get(name, "")) for name in names])
        for title, names in SHOP_SETTINGS_GROUPS
    ]
    context = {"form": form, "groups": groups, "stale": stale, "row": form.instance}
    return render(request, "core/shop_settings.html", context, status=status)


def _shop_settings_stale(request: HttpRequest, sent: ShopSettingsForm, message: Any) -> HttpResponse:
    """The settings as they are now, each field the sender had set otherwise noted with their value."""
    fresh = ShopSettingsForm(instance=ShopSettings.current())
    entered = {}
    for name in SHOP_SETTINGS_FIELDS:
        if name in sent.cleaned_data and sent.cleaned_data[name] != getattr(fresh.instance, name):
            entered[name] = _shown(fresh.fields[name], sent.cleaned_data[name])
    return _shop_settings_page(request, fresh, status=409, stale=str(message), entered=entered)


def _shown(field: forms.Field, value: Any) -> str:
    """A value as the form offers it: a switch on or off, a choice by its label, a number localised."""
    if isinstance(field, forms.BooleanField):
        return pgettext("setting", "on") if value else pgettext("setting", "off")
    if isinstance(field, forms.ChoiceField):
        return str(dict(field.choices).get(value, value))
    return str(formats.localize(value))


def database_busy(error: BaseException | None) -> bool:
    """Whether ``error`` is the database refusing to wait any longer for another writer: SQLite holds one
    writer at a time, and a long transaction (an import's undo, a figures rebuild) can outlast a save's
    20-second wait. Nothing of the refused request was written."""
    return isinstance(error, OperationalError) and str(error).startswith(_BUSY)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: the page for an error no view handled, in the merchant's language. Django calls it
    while handling the exception, so ``sys.exc_info()`` is that exception: the database being busy is
    told as such (503, try again shortly), as JSON to the API. Rendered without the request's context,
    whose processors may need the database that just failed."""
    error = sys.exc_info()[1]
    if database_busy(error):
        if request.path.startswith("/api/"):
            body = {
                "detail": _("The database is busy with a long piece of work. Try again in a few seconds."),
                "code": "busy",
            }
            response: HttpResponse = JsonResponse(body, status=503)
        else:
            page = loader.get_template("errors/busy.html").render({"wait": BUSY_RETRY_SECONDS})
            response = HttpResponse(page, status=503)
        response["Retry-After"] = str(BUSY_RETRY_SECONDS)
        return response
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": _("Something went wrong on the server."), "code": "error"}, status=500)
    return HttpResponseServerError(loader.get_template("500.html").render())
