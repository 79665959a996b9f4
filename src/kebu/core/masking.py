"""Masked forms of contact details, for people who may not see them in full.

Each keeps just enough to tell two values apart on the phone with the customer (the usual
``138****5678``) and never enough to contact the person."""

from __future__ import annotations

import re

MASK = "****"


def mask_phone(value: str) -> str:
    """``+8613812345678`` → ``138****5678``; short or foreign numbers keep their last 4 only."""
    digits = "".join(ch for ch in value if ch.isdigit())
    if not digits:
        return ""
    if value.startswith("+86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) == 11:
        return f"{digits[:3]}{MASK}{digits[-4:]}"
    return f"{MASK}{digits[-4:]}" if len(digits) > 4 else MASK


def mask_email(value: str) -> str:
    """``zhang.san@qq.com`` → ``z***@qq.com``."""
    local, at, domain = value.partition("@")
    if not at:
        return mask_text(value)
    return f"{local[:1]}***@{domain}"


def mask_text(value: str) -> str:
    """A handle or an account: first and last character, ``w***9``; short values hide entirely."""
    value = value.strip()
    if len(value) <= 2:
        return "***" if value else ""
    return f"{value[0]}***{value[-1]}"


def mask_address(detail: str) -> str:
    """A street address hides entirely; province, city and district stay visible beside it."""
    return MASK if detail else ""


MASKERS = {
    "phone": mask_phone,
    "email": mask_email,
    "social": mask_text,
    "address": mask_address,
    "text": mask_address,
}


def mask(kind: str, value: str | None) -> str:
    return MASKERS[kind](value or "")


# What each masker above gives, and nothing a real value of its kind looks like: a phone, an email or an
# account with stars in it is not one a customer has.
_MASKED = {
    "phone": re.compile(r"(?:\d{3})?\*{4}\d{4}|\*{4}"),
    "email": re.compile(r"[^@]?\*{3}@.*|.\*{3}.|\*{3}", re.DOTALL),
    "social": re.compile(r".\*{3}.|\*{3}", re.DOTALL),
    "address": re.compile(re.escape(MASK)),
    "text": re.compile(re.escape(MASK)),
}


def is_masked(kind: str, value: str) -> bool:
    """Whether ``value`` is what ``mask(kind, …)`` gives: a sheet exported by someone who sees contact
    details masked holds them so, and a masked value imported over the real one would replace it."""
    return bool(value) and _MASKED[kind].fullmatch(value) is not None
