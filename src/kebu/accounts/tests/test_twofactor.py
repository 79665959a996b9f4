"""Two-step verification: admins must use it, others may; codes are throttled; recovery codes work once."""

from __future__ import annotations

import re
import time

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kebu.accounts import twofactor
from kebu.accounts.tests.otp_helpers import authenticator_for, login_verified, totp_code

pytestmark = pytest.mark.django_db

SETUP = reverse("accounts:two-factor-setup")
VERIFY = reverse("accounts:two-factor-verify")
STATUS = reverse("accounts:two-factor")
CUSTOMERS = reverse("customers:list")


def _password_login(client: Client, username: str, password: str, next_url: str = ""):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data)


def _recovery_codes(html: str) -> list[str]:
    return re.findall(r'<li class="col py-1 recovery-code">([a-z2-7]{4}-[a-z2-7]{4})</li>', html)


def _pending_device(user) -> TOTPDevice:
    return TOTPDevice.objects.get(user=user, confirmed=False)


def _later(seconds: float) -> time_machine.travel:
    return time_machine.travel(time.time() + seconds, tick=True)


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def _error(response) -> str | None:
    match = re.search(r'data-error="([a-z_]+)"', response.content.decode())
    return match.group(1) if match else None


def test_admins_must_use_two_step_verification_and_clerks_may(owner, clerk):
    assert twofactor.requires_two_factor(owner)
    assert not twofactor.requires_two_factor(clerk)


def test_an_admins_first_login_goes_to_set_up_and_keeps_where_they_were_going(client, owner):
    response = _password_login(client, owner.username, "pass-laoban-123", next_url="/customers/?q=zs")
    assert response.status_code == 302
    response = client.get(response.url)
    assert response.status_code == 302
    assert response.url == f"{SETUP}?next=%2Fcustomers%2F%3Fq%3Dzs"


def test_the_set_up_page_draws_the_qr_code_itself_and_shows_the_key(client, owner):
    client.force_login(owner)
    body = client.get(SETUP).content.decode()
    device = _pending_device(owner)
    assert re.search(r'<svg [^>]*class="qr-code', body)
    assert "<img" not in body  # no image service ever sees the secret
    assert twofactor.provisioning(device).secret in body
    assert 'id="setup-required"' in body  # admins are told why they cannot skip it


def test_reloading_the_set_up_page_keeps_the_same_key(client, owner):
    client.force_login(owner)
    client.get(SETUP)
    first = _pending_device(owner).key
    client.get(SETUP)
    assert _pending_device(owner).key == first
    assert TOTPDevice.objects.filter(user=owner).count() == 1


def test_a_right_code_turns_it_on_and_shows_ten_recovery_codes_once(client, owner):
    client.force_login(owner)
    client.get(SETUP + "?next=/customers/")
    device = _pending_device(owner)

    response = client.post(SETUP + "?next=/customers/", {"code": totp_code(device)})

    assert response.status_code == 200
    codes = _recovery_codes(response.content.decode())
    assert len(codes) == 10 == len(set(codes))
    assert "no-store" in response["Cache-Control"]
    device.refresh_from_db()
    assert device.confirmed
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(CUSTOMERS).status_code == 200
    assert 'href="/customers/"' in response.content.decode()


def test_a_wrong_code_leaves_it_off(client, owner):
    client.force_login(owner)
    client.get(SETUP)
    response = client.post(SETUP, {"code": _wrong(totp_code(_pending_device(owner)))})
    assert _error(response) == "two_factor_code_invalid"
    assert not twofactor.two_factor_enabled(owner)
    assert client.get(CUSTOMERS).url.startswith(SETUP)


def test_after_the_password_a_user_with_an_authenticator_must_give_a_code(client, owner):
    device = authenticator_for(owner)
    _password_login(client, owner.username, "pass-laoban-123")

    response = client.get("/customers/?q=li")
    assert response.url == f"{VERIFY}?next=%2Fcustomers%2F%3Fq%3Dli"

    wrong = client.post(response.url, {"code": _wrong(totp_code(device))})
    assert _error(wrong) == "two_factor_code_invalid"
    assert DEVICE_ID_SESSION_KEY not in client.session

    with _later(2):  # past the one-second wait a wrong code earns
        right = client.post(response.url, {"code": totp_code(device)})
        assert right.status_code == 302
        assert right.url == "/customers/?q=li"
        assert client.get(CUSTOMERS).status_code == 200


def test_a_code_cannot_be_used_twice(client, owner):
    device = authenticator_for(owner)
    code = totp_code(device)
    client.force_login(owner)
    assert client.post(VERIFY, {"code": code}).status_code == 302

    other = Client()
    other.force_login(owner)
    assert _error(other.post(VERIFY, {"code": code})) == "two_factor_code_invalid"  # seen already


def test_a_recovery_code_works_once(client, clerk):
    authenticator_for(clerk)
    codes = twofactor._recovery_codes_replace(user=clerk)
    client.force_login(clerk)

    response = client.post(VERIFY + "?method=recovery", {"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302
    assert StaticToken.objects.filter(device__user=clerk).count() == 9

    again = Client()
    again.force_login(clerk)
    refused = again.post(VERIFY + "?method=recovery", {"code": codes[3]})
    assert _error(refused) == "two_factor_code_invalid"
    assert DEVICE_ID_SESSION_KEY not in again.session


def test_guessing_is_slowed_down_and_says_so(client, clerk):
    device = authenticator_for(clerk)
    client.force_login(clerk)
    wrong = _wrong(totp_code(device))
    for _ in range(3):
        client.post(VERIFY, {"code": wrong})
        device.refresh_from_db()
        device.throttling_failure_timestamp = None  # as if the guesser waited each time
        device.save()
    client.post(VERIFY, {"code": wrong})

    response = client.post(VERIFY, {"code": totp_code(device)})

    assert _error(response) == "two_factor_throttled"
    assert DEVICE_ID_SESSION_KEY not in client.session
    with _later(9):  # the fourth wrong code in a row costs 8 seconds
        assert client.post(VERIFY, {"code": totp_code(device)}).status_code == 302


def test_throttling_is_counted_even_though_the_code_is_refused(clerk):
    device = authenticator_for(clerk)
    with pytest.raises(twofactor.TwoFactorCodeInvalid):
        twofactor.code_check(user=clerk, code=_wrong(totp_code(device)))
    device.refresh_from_db()
    assert device.throttling_failure_count == 1
    with pytest.raises(twofactor.TwoFactorThrottled):
        twofactor.code_check(user=clerk, code=totp_code(device))


def test_someone_with_an_open_session_but_no_code_cannot_add_their_own_authenticator(client, owner):
    authenticator_for(owner)
    client.force_login(owner)
    response = client.get(SETUP)
    assert response.status_code == 302
    assert response.url.startswith(VERIFY)
    assert not TOTPDevice.objects.filter(user=owner, confirmed=False).exists()


def test_moving_to_a_new_phone_needs_a_current_code_and_retires_the_old_one(owner):
    client = Client()
    old = login_verified(client, owner)
    old_codes = twofactor._recovery_codes_replace(user=owner)
    client.get(SETUP)
    new = _pending_device(owner)

    refused = client.post(SETUP, {"code": totp_code(new)})
    assert _error(refused) == "required"
    assert not TOTPDevice.objects.get(pk=new.pk).confirmed

    with _later(31):  # a new 30-second step: the new phone shows a new code
        response = client.post(SETUP, {"code": totp_code(new), "current_code": old_codes[0]})
    assert response.status_code == 200
    assert len(_recovery_codes(response.content.decode())) == 10
    assert list(TOTPDevice.objects.filter(user=owner)) == [new]
    assert not TOTPDevice.objects.filter(pk=old.pk).exists()
    assert not StaticToken.objects.filter(device__user=owner, token=old_codes[1].replace("-", "")).exists()


def test_new_recovery_codes_retire_the_old_ones(clerk):
    client = Client()
    device = login_verified(client, clerk)
    old_codes = twofactor._recovery_codes_replace(user=clerk)

    response = client.post(
        reverse("accounts:recovery-codes"), {"regenerate-code": totp_code(device), "next": STATUS}
    )

    new_codes = _recovery_codes(response.content.decode())
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    with pytest.raises(twofactor.TwoFactorCodeInvalid):
        twofactor.code_check(user=clerk, code=old_codes[0])
    assert f'href="{STATUS}"' in response.content.decode()


def test_a_clerk_may_turn_it_off_with_a_code(clerk):
    client = Client()
    device = login_verified(client, clerk)
    twofactor._recovery_codes_replace(user=clerk)

    client.post(reverse("accounts:two-factor-disable"), {"disable-code": totp_code(device)})

    assert not twofactor.two_factor_enabled(clerk)
    assert not StaticDevice.objects.filter(user=clerk).exists()
    assert client.get(CUSTOMERS).status_code == 200


def test_turning_it_off_without_a_right_code_is_refused(clerk):
    client = Client()
    login_verified(client, clerk)
    client.post(reverse("accounts:two-factor-disable"), {"disable-code": "abcd-efgh"})
    assert twofactor.two_factor_enabled(clerk)


def test_an_admin_cannot_turn_it_off(owner_client, owner):
    device = TOTPDevice.objects.get(user=owner)
    response = owner_client.post(
        reverse("accounts:two-factor-disable"), {"disable-code": totp_code(device)}, follow=True
    )
    assert twofactor.two_factor_enabled(owner)
    assert 'id="two-factor-required"' in response.content.decode()


def test_a_clerk_without_it_is_not_asked_for_a_code(clerk_client):
    assert clerk_client.get(CUSTOMERS).status_code == 200
    assert 'id="two-factor-turn-on"' in clerk_client.get(STATUS).content.decode()


def test_the_admin_site_needs_the_second_step_too(client, owner):
    authenticator_for(owner)
    client.force_login(owner)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url == f"{VERIFY}?next=%2Fadmin%2F"


def test_the_api_answers_403_until_the_second_step_is_done(client, owner):
    client.force_login(owner)
    response = client.get("/api/v1/customers/")
    assert response.status_code == 403
    assert response.json()["code"] == "two_factor_required"


def test_an_htmx_call_sends_the_browser_to_the_code_page(client, owner):
    authenticator_for(owner)
    client.force_login(owner)
    response = client.get(CUSTOMERS + "?q=zs", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"].startswith(VERIFY)


def test_logging_out_and_changing_language_need_no_code(client, owner):
    authenticator_for(owner)
    client.force_login(owner)
    assert client.post(reverse("set_language"), {"language": "en", "next": "/"}).status_code == 302
    assert client.post(reverse("logout")).url == reverse("login")
    assert "_auth_user_id" not in client.session


def test_next_never_leads_off_the_site(client, owner):
    device = authenticator_for(owner)
    client.force_login(owner)
    response = client.post(VERIFY + "?next=https://evil.example/", {"code": totp_code(device)})
    assert response.url == CUSTOMERS


def test_turning_it_on_and_off_and_using_a_recovery_code_are_in_the_audit_log(clerk):
    from kebu.audit.models import AuditEntry

    client = Client()
    client.force_login(clerk)
    client.get(SETUP)
    response = client.post(SETUP, {"code": totp_code(_pending_device(clerk))})
    codes = _recovery_codes(response.content.decode())
    assert twofactor.code_check(user=clerk, code=codes[0])
    with _later(31):
        twofactor.two_factor_disable(user=clerk, code=codes[1])

    actions = list(
        AuditEntry.objects.filter(action__startswith="auth.2fa")
        .order_by("seq")
        .values_list("action", "actor_id")
    )
    assert actions == [
        ("auth.2fa_enabled", clerk.pk),
        ("auth.2fa_recovery_code_used", clerk.pk),
        ("auth.2fa_recovery_code_used", clerk.pk),
        ("auth.2fa_disabled", clerk.pk),
    ]


def test_an_admin_locked_out_of_two_step_gets_a_one_time_code_from_the_server(client, owner, capsys):
    from django.core.management import call_command

    authenticator_for(owner)
    twofactor._recovery_codes_replace(user=owner)
    call_command("addstatictoken", owner.username)
    code = capsys.readouterr().out.strip()

    client.force_login(owner)
    assert client.post(VERIFY, {"code": code}).status_code == 302


@pytest.mark.django_db
def test_an_admin_by_role_needs_the_second_step_without_being_staff(django_user_model):
    from kebu.accounts.roles import role_assign
    from kebu.accounts.twofactor import requires_two_factor

    admin = django_user_model.objects.create_user(username="role_admin", password="x-very-long-1")
    sales = django_user_model.objects.create_user(username="role_sales", password="x-very-long-2")
    role_assign(user=admin, key="admin")
    role_assign(user=sales, key="sales")

    assert not admin.is_staff and requires_two_factor(admin)
    assert not requires_two_factor(sales)
