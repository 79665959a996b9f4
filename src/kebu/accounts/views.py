"""Two-step verification pages, the password change (all under /account/) and the lockout page after
too many wrong passwords."""

from __future__ import annotations

import math
from datetime import timedelta

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Max
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from kebu.accounts import twofactor
from kebu.accounts.forms import CodeForm, PasswordChangeForm, SetupForm, VerifyForm
from kebu.accounts.middleware import two_factor_step
from kebu.core.errors import KebuError


def _next_url(request: HttpRequest) -> str:
    """Where to go once done: ``?next=`` (or a posted ``next``) when it stays on this site."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _form_error(form: VerifyForm | SetupForm, exc: KebuError) -> None:
    # The error's code travels with it, so pages (and tests) can tell "wrong" from "wait" in any language.
    fields = exc.field_errors or {"code": [exc.message]}
    for field, errors in fields.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, ValidationError(error, code=exc.code))


def _show_recovery_codes(request: HttpRequest, codes: list[str], *, first_time: bool) -> HttpResponse:
    # Rendered in the answer to the POST rather than kept for a later page: the codes are never stored
    # anywhere readable, in the session or elsewhere. Every view here is never_cache (no-store).
    codes_text = "\n".join(codes)
    heading = _("Kebu recovery codes for %(user)s. Each code works once.") % {
        "user": request.user.get_username()
    }
    return render(
        request,
        "accounts/recovery_codes.html",
        {
            "codes": codes,
            "codes_text": codes_text,
            "download_text": f"{heading}\n\n{codes_text}\n",
            "first_time": first_time,
            "next": _next_url(request),
        },
    )


@two_factor_step("verify")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The second step after the password: a code from the authenticator app, or a recovery code."""
    if request.user.is_verified() or not twofactor.two_factor_enabled(request.user):
        return HttpResponseRedirect(_next_url(request))
    recovery = request.GET.get("method") == "recovery"
    form = VerifyForm(request.POST or None, recovery=recovery)
    if request.method == "POST" and form.is_valid():
        try:
            device = twofactor.code_check(user=request.user, code=form.cleaned_data["code"])
        except KebuError as exc:
            _form_error(form, exc)
        else:
            otp_login(request, device)
            if isinstance(device, StaticDevice):
                left = twofactor.recovery_codes_remaining(request.user)
                messages.warning(
                    request,
                    _(
                        "You logged in with a recovery code; %(left)s are left. If your phone is lost, "
                        "set up the authenticator app again under Two-step verification."
                    )
                    % {"left": left},
                )
            return HttpResponseRedirect(_next_url(request))
    return render(
        request,
        "accounts/verify.html",
        {"form": form, "recovery": recovery, "next": request.GET.get("next", "")},
    )


@two_factor_step("setup")
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def setup(request: HttpRequest) -> HttpResponse:
    """Add an authenticator app: scan (or type) the key, prove it works with a code, get recovery codes.

    Also the way to move to a new phone; then a code from the current device is asked as well."""
    replacing = twofactor.two_factor_enabled(request.user)
    device = twofactor.authenticator_pending(user=request.user)
    form = SetupForm(request.POST or None, replacing=replacing)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = twofactor.authenticator_confirm(
                user=request.user,
                code=form.cleaned_data["code"],
                current_code=form.cleaned_data.get("current_code", ""),
            )
        except KebuError as exc:
            _form_error(form, exc)
        else:
            otp_login(request, device)
            return _show_recovery_codes(request, codes, first_time=not replacing)
    return render(
        request,
        "accounts/setup.html",
        {
            "form": form,
            "provisioning": twofactor.provisioning(device),
            "replacing": replacing,
            "required": twofactor.requires_two_factor(request.user),
            "next": request.GET.get("next", ""),
        },
    )


@never_cache
@login_required
@require_http_methods(["GET"])
def status(request: HttpRequest) -> HttpResponse:
    """Whether two-step verification is on, and what can be changed about it."""
    user = request.user
    return render(
        request,
        "accounts/two_factor.html",
        {
            "enabled": twofactor.two_factor_enabled(user),
            "required": twofactor.requires_two_factor(user),
            "authenticator": twofactor.authenticator_get(user),
            "codes_left": twofactor.recovery_codes_remaining(user),
            "code_count": twofactor.RECOVERY_CODE_COUNT,
            "used_recovery_code": isinstance(getattr(user, "otp_device", None), StaticDevice),
            "regenerate_form": CodeForm(prefix="regenerate"),
            "disable_form": CodeForm(prefix="disable"),
        },
    )


@never_cache
@login_required
@require_POST
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes, for a current code."""
    form = CodeForm(request.POST, prefix="regenerate")
    if form.is_valid():
        try:
            codes = twofactor.recovery_codes_regenerate(user=request.user, code=form.cleaned_data["code"])
        except KebuError as exc:
            messages.error(request, exc.message)
        else:
            return _show_recovery_codes(request, codes, first_time=False)
    else:
        messages.error(request, _("Enter a code to make new recovery codes."))
    return redirect("accounts:two-factor")


@never_cache
@login_required
@require_POST
def disable(request: HttpRequest) -> HttpResponse:
    """Turn two-step verification off, for a current code; admins cannot."""
    form = CodeForm(request.POST, prefix="disable")
    if form.is_valid():
        try:
            twofactor.two_factor_disable(user=request.user, code=form.cleaned_data["code"])
        except KebuError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Two-step verification is off."))
    else:
        messages.error(request, _("Enter a code to turn two-step verification off."))
    return redirect("accounts:two-factor")


class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change: checks the old password and the password rules, then keeps this
    session (with a new key) and ends every other session of the user."""

    form_class = PasswordChangeForm
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("customers:list")

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed. Other devices are logged out."))
        return response


def locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' lockout page (``AXES_LOCKOUT_CALLABLE``), saying how long the lock lasts (the
    setting ``KEBU_LOGIN_LOCKOUT_MINUTES``, as axes reads it) and when it ends: the last failure on this
    username and address plus that time. With axes' default, a try during the lock is a failure too and
    starts the wait again, so the page says so."""
    cool_off = get_cool_off(request)
    context: dict[str, object] = {
        "lock_minutes": None,
        "lock_ends_at": None,
        "retry_restarts": bool(settings.AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT),
    }
    if cool_off:
        context["lock_minutes"] = max(1, math.ceil(cool_off.total_seconds() / 60))
        last = AccessAttempt.objects.filter(
            username=get_client_username(request, credentials),
            ip_address=getattr(request, "axes_ip_address", None),
        ).aggregate(last=Max("attempt_time"))["last"]
        # Without a row (another axes handler), this failure is the last one.
        ends = (last or request.axes_attempt_time) + cool_off  # type: ignore[attr-defined]
        # Shown to the minute, rounded up: "until 10:25" must not be refused at 10:24:30.
        whole = ends.replace(second=0, microsecond=0)
        context["lock_ends_at"] = whole if whole == ends else whole + timedelta(minutes=1)
    return render(request, "registration/locked_out.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)
