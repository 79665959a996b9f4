"""Phone numbers: one parser for forms, API, import and search, so a number is stored one way only."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _

from kebu.core.errors import ValidationFailed

# What people put between a number's digits; taken out, it leaves the number as typed.
PHONE_SEPARATORS = re.compile(r"[\s\-()（）.·—_/]+")


@dataclass(frozen=True)
class Phone:
    e164: str  # "+8613812345678": the stored, normalised form
    # The national significant number: what a merchant types and what the last-4 index is cut from.
    # Kept from the one parse, since an import parses a phone for each of a million rows.
    digits: str

    @property
    def national(self) -> str:
        """ "138 1234 5678" or "010 1234 5678": for display."""
        return phonenumbers.format_number(
            phonenumbers.parse(self.e164), phonenumbers.PhoneNumberFormat.NATIONAL
        )

    @property
    def last4(self) -> str:
        return self.digits[-4:]

    @property
    def is_mobile(self) -> bool:
        kind = phonenumbers.number_type(phonenumbers.parse(self.e164))
        return kind in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )


def clean_digits(raw: str) -> str:
    """Full-width digits to ASCII, separators removed; ``+`` kept only in front."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    text = PHONE_SEPARATORS.sub("", text)
    return text


# A mainland mobile, bare or after +86 / 0086: most of the phones in a Chinese sheet. One that
# phonenumbers' own CN patterns call a valid mobile is stored without a full parse and format (~7% of an
# import's time); any other number takes the full path below. A test holds the two equal.
_CN_MOBILE_TYPED = re.compile(r"(\+86|0086)?(1\d{10})")
_CN = phonenumbers.PhoneMetadata.metadata_for_region("CN")
_CN_VALID = re.compile(_CN.general_desc.national_number_pattern)
_CN_MOBILE = re.compile(_CN.mobile.national_number_pattern)


def mobile_national(text: str) -> str:
    """The 11 digits of a mainland mobile as ``clean_digits`` leaves it, bare or after +86 / 0086; else
    "". What rows writing one number differently have alike, without parsing it."""
    typed = _CN_MOBILE_TYPED.fullmatch(text)
    return typed[2] if typed else ""


def parse_phone(raw: str, *, region: str | None = None) -> Phone:
    """Parse what a person typed (+86, spaces, dashes, full-width digits) or raise ``ValidationFailed``."""
    region = region or settings.KEBU["PHONE_REGION"]
    text = clean_digits(raw)
    typed = _CN_MOBILE_TYPED.fullmatch(text)
    if typed and (typed[1] or region == "CN"):
        national = typed[2]
        if _CN_VALID.fullmatch(national) and _CN_MOBILE.fullmatch(national):
            return Phone(e164="+86" + national, digits=national)
    return _parse_in_full(raw, text, region)


def phone_as_kept(raw: str) -> str:
    """A phone someone else wrote down (an order's receiver, from a sheet, a form or the API) as Kebu keeps
    it: normalised as the customers' own phones are when it parses, else as written, only trimmed. So
    one receiver is stored one way however the sheet spaced it, and what is no number Kebu can read (a
    marketplace's masked 138****8000, an extension) is not lost."""
    text = (raw or "").strip()
    if not text:
        return ""
    try:
        return parse_phone(text).e164
    except ValidationFailed:
        return text


def _parse_in_full(raw: str, text: str, region: str) -> Phone:
    if not text:
        raise ValidationFailed(_("Enter a phone number."))
    if not re.fullmatch(r"\+?\d{3,20}", text):
        raise ValidationFailed(_("“%(value)s” is not a phone number: use digits only.") % {"value": raw[:40]})
    if text.startswith("0086"):
        text = "+86" + text[4:]
    national = text[3:] if text.startswith("+86") else text
    # China's mobile numbers are 11 digits starting with 13-19; say so plainly rather than "invalid".
    # (Not any leading 1: "+86 10 …" is a Beijing landline, whose area code is 010.)
    chinese = text.startswith("+86") or (region == "CN" and not text.startswith("+"))
    if chinese and re.match(r"1[3-9]", national) and len(national) != 11:
        raise ValidationFailed(
            _("A mobile number has 11 digits; “%(value)s” has %(count)d.")
            % {"value": raw[:40], "count": len(national)}
        )
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(_("“%(value)s” is not a phone number.") % {"value": raw[:40]}) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationFailed(_("“%(value)s” is not a valid phone number.") % {"value": raw[:40]})
    return Phone(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        digits=str(number.national_number),
    )


def looks_like_phone_fragment(query: str) -> str | None:
    """The digits of a search box entry that is only digits (and separators), else ``None``."""
    text = clean_digits(query)
    if text.startswith("+"):
        text = text[1:]
    return text if text.isdigit() else None
