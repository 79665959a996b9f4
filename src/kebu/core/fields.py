"""Model fields for personal data stored encrypted (see :mod:`kebu.core.crypto`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull

from kebu.core import crypto


class EncryptedTextField(models.TextField):
    """Text encrypted with AES-GCM before it reaches the database, decrypted when read.

    The empty string stays empty, so "no phone" and "has a phone" remain filterable. Nothing else can
    be compared in SQL: every ciphertext differs, so equality search goes through a blind-index column
    (:func:`kebu.core.crypto.blind_index`) and ``filter(phone="…")`` is refused rather than silently
    matching nothing."""

    description = "Text stored encrypted"

    def __init__(self, *args: Any, max_length: int | None = None, **kwargs: Any) -> None:
        # max_length limits what a form accepts; the column holds the longer ciphertext.
        super().__init__(*args, max_length=max_length, **kwargs)

    @property
    def context(self) -> str:
        # Asked for each value read or written: kept, with the model it was made for (a copied field
        # may belong to another).
        kept = self.__dict__.get("_context")
        if kept is None or kept[0] is not self.model:
            kept = self.__dict__["_context"] = (self.model, crypto.context_of(self.model, self.name))
        return kept[1]

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if not value:
            return value
        return crypto.decrypt(value, context=self.context)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if not value:
            return value
        return crypto.encrypt(value, context=self.context)

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name not in {"exact", "isnull"}:
            return None
        return _EncryptedExact if lookup_name == "exact" else IsNull


class _EncryptedExact(Exact):
    def get_prep_lookup(self) -> Any:
        if self.rhs not in ("", None):
            raise FieldError(
                f"{self.lhs.target.name} is encrypted: search it through its lookup column, not by value."
            )
        return super().get_prep_lookup()


def encrypted_fields() -> list[tuple[type[models.Model], list[EncryptedTextField]]]:
    """Every model with encrypted columns, and those columns: what ``kebu keys rotate`` walks."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
        if fields:
            found.append((model, fields))
    return found
