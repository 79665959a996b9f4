"""Password rules that Django has, said in words its translations know."""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.utils.translation import ngettext


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's length rule. Django 5.2.19 reworded its message (``%d`` where it had
    ``%(min_length)d``) and its zh-Hans catalogue has only the old words, so a Chinese page said
    "This password is too short" in English; this says the old words, which both catalogues translate."""

    def get_error_message(self) -> str:
        return ngettext(
            "This password is too short. It must contain at least %(min_length)d character.",
            "This password is too short. It must contain at least %(min_length)d characters.",
            self.min_length,
        ) % {"min_length": self.min_length}
