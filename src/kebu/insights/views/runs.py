"""Starting an analysis from its page, rather than waiting for the night."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kebu.insights import access
from kebu.insights.models import InsightKind
from kebu.insights.selectors.runs import insight_running


@login_required
@require_POST
def insight_run_view(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in InsightKind.values:
        raise Http404
    if not access.can_run(request.user, kind):
        raise PermissionDenied
    if insight_running(kind=kind) is not None:
        messages.info(request, _("This analysis is being computed; the page shows it when it is done."))
    else:
        from kebu.insights.tasks import insight_compute_now

        actor_id = request.user.pk
        transaction.on_commit(lambda: insight_compute_now(kind, actor_id))
        messages.success(request, _("The analysis has started. Reload the page in a minute to see it."))
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = "/"
    return redirect(back)
