"""Lookup keys: the only way personal data is searched.

The display columns are encrypted (:mod:`kebu.core.fields`), so equality search stores and queries
keyed HMAC digests of a normalised value instead: equal inputs meet in an index, and someone holding
only the database cannot test a guessed phone number against it (as they could against a plain hash:
there are only about 10^10 mobile numbers)."""

from __future__ import annotations

from kebu.core.crypto import blind_index
from kebu.core.text import fold


def phone_lookup(e164: str) -> str:
    return blind_index("phone", e164)


def phone_last4_lookup(digits: str) -> str:
    # Ten thousand possible values: the key is what keeps the column from being a lookup table.
    return blind_index("phone-last4", digits[-4:])


def text_lookup(value: str) -> str:
    """Emails and social handles: equal when they differ only in case, width or surrounding space."""
    return blind_index("text", fold(value))
