"""Login policy applied to every request: two-step verification, how long a login lasts, and the
Permissions-Policy header."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import resolve_url
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from kebu.accounts.twofactor import requires_two_factor, two_factor_enabled

# Pages anyone logged in may reach before the second step: leaving, changing the language, health.
ALWAYS_ALLOWED_URL_NAMES = frozenset({"logout", "set_language", "healthz"})
# Views mark themselves with ``two_factor_step``: "verify" answers a code, "setup" adds the first device.
STEP_ATTRIBUTE = "two_factor_step"

LOGIN_AT_SESSION_KEY = "kebu_login_at"
SEEN_AT_SESSION_KEY = "kebu_seen_at"
# An active session has its expiry pushed forward at most this often: saving it on every request
# (SESSION_SAVE_EVERY_REQUEST) would add a database write to every page and every htmx call.
SESSION_REFRESH_SECONDS = 60


def two_factor_step(step: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a view as the "verify" or the "setup" step, reachable before the second step is done."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        setattr(view, STEP_ATTRIBUTE, step)
        return view

    return decorator


def _step_url(request: HttpRequest, name: str) -> str:
    url = resolve_url(name)
    if request.method == "GET":
        url += "?" + urlencode({"next": request.get_full_path()})
    return url


class TwoFactorMiddleware:
    """A logged-in user who has two-step verification must pass it before anything else; one who must
    have it (see ``requires_two_factor``) and has not set it up is sent to set it up. The admin site
    and the API are covered like every other page. Goes after django-otp's ``OTPMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        match = request.resolver_match
        if match is not None and match.url_name in ALWAYS_ALLOWED_URL_NAMES:
            return None
        step = getattr(view_func, STEP_ATTRIBUTE, None)
        if two_factor_enabled(user):
            if step == "verify":
                return None
            return self._refuse(
                request,
                "accounts:two-factor-verify",
                _("Enter the code from your authenticator app first."),
            )
        if requires_two_factor(user):
            if step == "setup":
                return None
            return self._refuse(
                request, "accounts:two-factor-setup", _("Set up two-step verification first.")
            )
        return None

    @staticmethod
    def _refuse(request: HttpRequest, step_url_name: str, message: str) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            return JsonResponse({"detail": message, "code": "two_factor_required"}, status=403)
        url = _step_url(request, step_url_name)
        if request.headers.get("HX-Request"):
            if urlsplit(request.headers.get("HX-Current-URL", "")).path == resolve_url(step_url_name):
                # A fragment the step page itself loads (the menu's follow-up count): sending the
                # browser to the step again would reload it, and a set-up page with a new secret.
                return HttpResponse(status=204)
            # An htmx call would swap the whole verify page into a table cell: send the browser there.
            response = HttpResponse(status=204)
            response["HX-Redirect"] = url
            return response
        return HttpResponseRedirect(url)


class SessionLimitsMiddleware:
    """How long a login lasts: it ends after ``SESSION_COOKIE_AGE`` seconds without a request (the
    session's expiry moves forward while the user works), and in any case ``SESSION_ABSOLUTE_AGE``
    seconds after logging in, however busy. Goes after the message middleware, to say why."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        now = int(time.time())
        session = request.session
        if request.user.is_authenticated:
            login_at = session.get(LOGIN_AT_SESSION_KEY)
            if login_at is not None and now - login_at > settings.SESSION_ABSOLUTE_AGE:
                logout(request)
                hours = round(settings.SESSION_ABSOLUTE_AGE / 3600)
                messages.info(
                    request,
                    _("For safety, a login lasts at most %(hours)s hours. Please log in again.")
                    % {"hours": hours},
                )
        response = self.get_response(request)
        # After the view: a login that has just happened is seen here, in the request that made it.
        if request.user.is_authenticated:
            if session.get(LOGIN_AT_SESSION_KEY) is None:
                session[LOGIN_AT_SESSION_KEY] = now
            if now - session.get(SEEN_AT_SESSION_KEY, 0) >= SESSION_REFRESH_SECONDS:
                session[SEEN_AT_SESSION_KEY] = now  # a modified session is saved with a fresh expiry
        return response


class PermissionsPolicyMiddleware:
    """Tell browsers that Kebu's pages never use the camera, microphone, location, payments and the
    like, so an injected script or frame cannot ask for them either."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response
