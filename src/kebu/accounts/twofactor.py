"""Two-step verification: an authenticator app (TOTP) plus ten one-time recovery codes.

Who must use it is decided in one place, :func:`requires_two_factor`; ``TwoFactorMiddleware`` enforces
it on every page. Codes are checked against one device at a time, inside a transaction that locks the
device row, so that django-otp's throttling (1, 2, 4, 8 … seconds after each wrong code) and the
single use of recovery codes hold even for two requests at once."""

from __future__ import annotations

import math
import re
from base64 import b32encode
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from kebu.audit.services import audit_record
from kebu.core.errors import KebuError

if TYPE_CHECKING:
    from kebu.accounts.models import User

DeviceT = TypeVar("DeviceT", bound=Device)

RECOVERY_CODE_COUNT = 10
AUTHENTICATOR_NAME = "authenticator"
RECOVERY_NAME = "recovery"
_TOTP_SHAPE = re.compile(r"^\d{6}$")


class TwoFactorCodeInvalid(KebuError):
    """The code is wrong, already used, or for another account."""

    code = "two_factor_code_invalid"


class TwoFactorThrottled(KebuError):
    """Too many wrong codes in a row: the device refuses codes for a while."""

    code = "two_factor_throttled"

    def __init__(self, *, wait_seconds: int):
        super().__init__(
            _("Too many wrong codes. Wait %(seconds)s seconds, then try again.") % {"seconds": wait_seconds}
        )
        self.wait_seconds = wait_seconds


class TwoFactorRequired(KebuError):
    """The user's role needs two-step verification, so it cannot be turned off."""

    code = "two_factor_required"


@dataclass(frozen=True)
class Provisioning:
    """What the set-up page shows for a new authenticator: a QR code, or the same key to type in."""

    qr_svg: str
    secret: str
    issuer: str
    account: str
    url: str  # otpauth://…, which opens the authenticator app when tapped on the phone itself


def requires_two_factor(user: User) -> bool:
    """Whether this account may not work without two-step verification.

    Admins can read every customer and change the shop's settings, so a stolen password alone must not
    be enough for them. An admin is known by what they may do, not by a flag: the admin site, the audit
    log, or every customer with contact details (whatever role grants it)."""
    return bool(
        user.is_superuser
        or user.is_staff
        or user.has_perm("audit.view_auditentry")
        or (user.has_perm("customers.view_all_customers") and user.has_perm("customers.view_contact"))
    )


def two_factor_enabled(user: User) -> bool:
    """Whether the user has a confirmed authenticator or recovery codes.

    One query (the middleware asks on every page for users not yet verified), where django-otp's
    ``user_has_device`` asks each device table in turn."""
    if not user.is_authenticated:
        return False
    return (
        get_user_model()
        ._default_manager.filter(pk=user.pk)
        .filter(Q(totpdevice__confirmed=True) | Q(staticdevice__confirmed=True))
        .exists()
    )


def authenticator_get(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def recovery_codes_remaining(user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def normalize_code(raw: str) -> str:
    """Codes are typed by hand: spaces and dashes do not matter, nor does case."""
    return re.sub(r"[\s\-]", "", raw or "").lower()


def format_recovery_code(token: str) -> str:
    return f"{token[:4]}-{token[4:]}" if len(token) == 8 else token


def authenticator_pending(*, user: User) -> TOTPDevice:
    """The not-yet-confirmed authenticator shown on the set-up page.

    Reused while it waits, so that reloading the page does not change the QR code the user may have
    scanned already."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return device


def provisioning(device: TOTPDevice) -> Provisioning:
    """The QR code (inline SVG, drawn here: no image service sees the secret) and the same key as text."""
    import qrcode
    from qrcode.image.svg import SvgPathImage

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=13, border=3)
    qr.add_data(device.config_url)
    image = qr.make_image(
        image_factory=SvgPathImage,
        **{"class": "qr-code", "role": "img", "aria-label": str(_("QR code for your authenticator app"))},
    )
    secret = b32encode(device.bin_key).decode()
    return Provisioning(
        qr_svg=image.to_string(encoding="unicode"),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        issuer=getattr(settings, "OTP_TOTP_ISSUER", ""),
        account=device.user.get_username(),
        url=device.config_url,
    )


def _throttle_wait_seconds(device: Device) -> int | None:
    allowed, data = device.verify_is_allowed()
    if allowed:
        return None
    locked_until = (data or {}).get("locked_until")
    if locked_until is None:
        return 1
    return max(1, math.ceil((locked_until - timezone.now()).total_seconds()))


def _check(device_cls: type[DeviceT], *, user: User, code: str, confirmed: bool = True) -> DeviceT:
    """Check one code against the user's device of that kind; raise unless it is accepted.

    The device row is locked for the check. The wrong-code count is committed before the error is
    raised: raising inside the transaction would roll it back and let guessing go on unthrottled."""
    wait: int | None = None
    with transaction.atomic():
        device = (
            device_cls.objects.select_for_update()
            .filter(user=user, confirmed=confirmed)
            .order_by("-pk")
            .first()
        )
        if device is not None:
            wait = _throttle_wait_seconds(device)
            if wait is None and device.verify_token(code):
                if isinstance(device, StaticDevice):
                    audit_record(
                        action="auth.2fa_recovery_code_used",
                        actor=user,
                        target=user,
                        data={"left": StaticToken.objects.filter(device=device).count()},
                    )
                return device
    if wait is not None:
        raise TwoFactorThrottled(wait_seconds=wait)
    raise TwoFactorCodeInvalid(_("That code is not right, or it has been used already."))


def code_check(*, user: User, code: str) -> Device:
    """Accept a current authenticator code or an unused recovery code; return the device that did.

    Six digits are an authenticator code, anything else a recovery code, which is used up here."""
    code = normalize_code(code)
    if not code:
        raise TwoFactorCodeInvalid(_("Enter a code."))
    device_cls: type[Device] = TOTPDevice if _TOTP_SHAPE.match(code) else StaticDevice
    return _check(device_cls, user=user, code=code)


def authenticator_confirm(*, user: User, code: str, current_code: str = "") -> tuple[TOTPDevice, list[str]]:
    """Turn on the pending authenticator once it has produced a right code; return it with a fresh set
    of recovery codes (the only time they are readable).

    A user who already has two-step verification must also give a current code (from the old
    authenticator, or a recovery code), so that someone holding an open session cannot swap in an
    authenticator of their own."""
    # The new code first: a wrong one must not use up the recovery code given as the current code.
    device = _check(TOTPDevice, user=user, code=normalize_code(code), confirmed=False)
    if two_factor_enabled(user):
        if not normalize_code(current_code):
            message = _("Enter a code from your current authenticator app, or a recovery code.")
            raise TwoFactorCodeInvalid(message, field_errors={"current_code": [message]})
        try:
            code_check(user=user, code=current_code)
        except TwoFactorCodeInvalid as exc:
            raise TwoFactorCodeInvalid(exc.message, field_errors={"current_code": [exc.message]}) from exc
    with transaction.atomic():
        replaced = TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()[0]
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        device.confirmed = True
        codes = _recovery_codes_replace(user=user)
        audit_record(action="auth.2fa_enabled", actor=user, target=user, data={"new_phone": bool(replaced)})
    return device, codes


def recovery_codes_regenerate(*, user: User, code: str) -> list[str]:
    """New recovery codes for a current code; the old ones stop working at once."""
    code_check(user=user, code=code)
    with transaction.atomic():
        codes = _recovery_codes_replace(user=user)
        audit_record(action="auth.2fa_recovery_codes_renewed", actor=user, target=user)
    return codes


def _recovery_codes_replace(*, user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    tokens: set[str] = set()
    while len(tokens) < RECOVERY_CODE_COUNT:
        tokens.add(StaticToken.random_token())
    StaticToken.objects.bulk_create(StaticToken(device=device, token=token) for token in sorted(tokens))
    return [format_recovery_code(token) for token in sorted(tokens)]


def two_factor_disable(*, user: User, code: str) -> None:
    """Remove the authenticator and the recovery codes, for a current code; refused for admins."""
    if requires_two_factor(user):
        raise TwoFactorRequired(
            _("Your account can change the shop's settings, so two-step verification must stay on.")
        )
    code_check(user=user, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        audit_record(action="auth.2fa_disabled", actor=user, target=user)
