"""Lookup keys: the only way personal data is searched.

Callers store and query these, never the display columns, so the trust work can make them keyed
HMAC blind indexes (and encrypt the display columns) by changing this module alone."""

from __future__ import annotations

from kebu.core.text import fold


def phone_lookup(e164: str) -> str:
    return e164


def phone_last4_lookup(digits: str) -> str:
    return digits[-4:]


def text_lookup(value: str) -> str:
    """Emails and social handles: equal when they differ only in case, width or surrounding space."""
    return fold(value)
