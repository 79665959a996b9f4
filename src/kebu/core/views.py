import sys

from django.contrib.auth.decorators import login_required
from django.db import OperationalError, connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, HttpResponseServerError, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.templatetags.static import static
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from kebu.core import divisions

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
