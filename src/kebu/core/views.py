from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.views.decorators.http import require_GET

from kebu.core import divisions


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
