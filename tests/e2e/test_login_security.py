"""Logging in, as a merchant's browser sees it: wrong passwords lock the account, admins set up and then
use two-step verification (an authenticator code, or a recovery code that works once), and no page
breaks the Content-Security-Policy."""

from __future__ import annotations

import re
import time
from base64 import b32decode

import pytest
from django.conf import settings
from django.test import Client
from django_otp.oath import TOTP
from playwright.sync_api import expect

from kebu.accounts.tests.otp_helpers import login_verified
from kebu.customers.tests.factories import make_customer
from tests.e2e.conftest import screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

OWNER_PASSWORD = "pass-laoban-123"


class Phone:
    """The authenticator app: the key read off the set-up page, a code for each new 30-second step."""

    def __init__(self, secret: str):
        self.key = b32decode(secret.replace(" ", ""))
        self.last_step = -1

    def code(self) -> str:
        # A code is accepted once: after one was used, show the next step's (the server allows ±1 step).
        step = max(int(time.time()) // 30, self.last_step + 1)
        self.last_step = step
        return self._at(step)

    def wrong_code(self) -> str:
        step = max(int(time.time()) // 30, self.last_step + 1)
        return f"{(int(self._at(step)) + 1) % 1_000_000:06d}"

    def _at(self, step: int) -> str:
        totp = TOTP(self.key)
        totp.time = step * 30
        return f"{totp.token():06d}"


def _log_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")


def _log_out(page, base_url: str) -> None:
    page.click("#user-menu button")
    page.click("#logout")
    page.wait_for_url(f"{base_url}/login/")


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(page, live_server, clerk):
    for attempt in range(5):
        _log_in(page, live_server.url, clerk.username, f"wrong-password-{attempt}")
        if attempt < 4:
            expect(page.locator(".alert-danger")).to_be_visible()
    expect(page.locator("#locked-out")).to_be_visible()
    screenshot(page, "login-locked-out")

    _log_in(page, live_server.url, clerk.username, "pass-xiaowang-123")
    expect(page.locator("#locked-out")).to_be_visible()
    page.goto(f"{live_server.url}/customers/")
    expect(page).to_have_url(re.compile(r"/login/\?next="))


def test_an_admin_sets_up_two_step_verification_then_needs_a_code_or_a_recovery_code(
    page, live_server, owner
):
    base = live_server.url

    # given an admin logging in for the first time: sent to set up two-step verification
    _log_in(page, base, owner.username, OWNER_PASSWORD)
    page.wait_for_url(re.compile(r"/account/2fa/setup/"))
    expect(page.locator("#setup-required")).to_be_visible()
    expect(page.locator("#setup-qr svg")).to_be_visible()
    screenshot(page, "two-factor-setup")

    # when the phone reads the key and the admin types its code
    phone = Phone(page.inner_text("#totp-secret"))
    page.fill("#id_code", phone.code())
    page.click("#setup-confirm")

    # then it is on, and the ten recovery codes are shown once
    expect(page.locator("#two-factor-on")).to_be_visible()
    codes = [c.strip() for c in page.locator(".recovery-code").all_inner_texts()]
    assert len(codes) == 10
    screenshot(page, "two-factor-recovery-codes")
    page.click("#recovery-codes-done")
    page.wait_for_url(f"{base}/customers/")
    _log_out(page, base)

    # next login: the password is not enough, a wrong code is refused, the right one lets them in
    _log_in(page, base, owner.username, OWNER_PASSWORD)
    page.wait_for_url(re.compile(r"/account/2fa/verify/"))
    page.fill("#id_code", phone.wrong_code())
    page.click("#verify-submit")
    expect(page.locator("[data-error=two_factor_code_invalid]")).to_be_visible()
    screenshot(page, "two-factor-verify-wrong-code")
    page.goto(f"{base}/customers/")
    expect(page).to_have_url(re.compile(r"/account/2fa/verify/"))
    time.sleep(1.2)  # a wrong code costs a one-second wait before the next try
    page.fill("#id_code", phone.code())
    page.click("#verify-submit")
    page.wait_for_url(f"{base}/customers/")
    _log_out(page, base)

    # a lost phone: a recovery code lets them in once
    _log_in(page, base, owner.username, OWNER_PASSWORD)
    page.wait_for_url(re.compile(r"/account/2fa/verify/"))
    page.click("#use-recovery-code")
    page.fill("#id_code", codes[0])
    page.click("#verify-submit")
    page.wait_for_url(f"{base}/customers/")
    expect(page.locator(".alert-warning")).to_be_visible()  # "you used a recovery code; N left"
    _log_out(page, base)

    _log_in(page, base, owner.username, OWNER_PASSWORD)
    page.wait_for_url(re.compile(r"/account/2fa/verify/"))
    page.click("#use-recovery-code")
    page.fill("#id_code", codes[0])
    page.click("#verify-submit")
    expect(page.locator("[data-error=two_factor_code_invalid]")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/account/2fa/verify/"))
    screenshot(page, "two-factor-recovery-code-used-twice")


def test_pages_keep_to_the_content_security_policy(page, live_server, owner, clerk):
    """No inline script or style anywhere: the browser reports no CSP violation and no script error."""
    customer = make_customer(actor=owner, name="王小明", phone="13900001111")
    client = Client()
    login_verified(client, owner)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    problems: list[str] = []

    def console(msg) -> None:
        if msg.type != "error":
            return
        if "https://cdn.redoc.ly/" in msg.text:
            return  # ReDoc fetches its own logo from its CDN: refused on purpose, nothing leaves the shop
        problems.append(f"{page.url}: {msg.text}")

    page.on("console", console)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: {exc}"))
    page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.url}: {r.status}"))

    checks = [
        ("/customers/", "#customer-table"),
        ("/customers/new/", "#customer-form"),
        (f"/customers/{customer.pk}/", "h1"),
        ("/account/2fa/", "#two-factor-status"),
        ("/admin/", "#content"),
        ("/api/docs/", ".swagger-ui .info"),
        ("/api/redoc/", "redoc h1"),
    ]
    for path, ready in checks:
        response = page.goto(f"{live_server.url}{path}")
        assert response is not None and response.ok, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        # ReDoc draws the whole API in the browser: seconds on a 2-core machine running both suites at once.
        # This test is about the policy, not speed (measured in bench/).
        expect(page.locator(ready).first).to_be_visible(timeout=30_000)
        # Pages load fragments after the first paint (the customer page's cards, the menu badge); leaving
        # before they answer aborts them, which the browser logs as errors that are not the page's own.
        page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/customers/")
    page.fill("input[name=q]", "13900001111")  # an htmx swap, and its loading indicator
    expect(page.locator("#customer-table tbody tr")).to_have_count(1)

    assert not problems, "\n".join(problems)
