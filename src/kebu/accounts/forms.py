from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import forms as auth_forms
from django.utils.translation import gettext_lazy as _

from kebu.core.forms import KebuForm


def _code_field(label: Any, *, required: bool = True, numeric: bool = True) -> forms.CharField:
    attrs = {"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}
    if numeric:
        attrs.update({"inputmode": "numeric", "pattern": r"[0-9 ]*", "maxlength": "7"})
    return forms.CharField(label=label, max_length=20, required=required, widget=forms.TextInput(attrs=attrs))


class CodeForm(KebuForm):
    """A code from the authenticator app, or one of the recovery codes."""

    code = _code_field(_("Code"), numeric=False)


class VerifyForm(KebuForm):
    code = _code_field(_("6-digit code"))

    def __init__(self, *args: Any, recovery: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if recovery:
            self.fields["code"] = _code_field(_("Recovery code"), numeric=False)
            self.fields["code"].widget.attrs["class"] = "form-control form-control-lg font-monospace"
            self.fields["code"].widget.attrs["placeholder"] = "xxxx-xxxx"
        else:
            self.fields["code"].widget.attrs["class"] = "form-control form-control-lg font-monospace"
            self.fields["code"].widget.attrs["placeholder"] = "123456"
        self.fields["code"].widget.attrs["autofocus"] = True


class SetupForm(KebuForm):
    code = _code_field(_("6-digit code from the app"))
    current_code = _code_field(
        _("Code from your current authenticator app, or a recovery code"), required=False, numeric=False
    )

    def __init__(self, *args: Any, replacing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs["class"] += " form-control-lg font-monospace"
        if replacing:
            self.fields["current_code"].required = True
        else:
            del self.fields["current_code"]


class PasswordChangeForm(KebuForm, auth_forms.PasswordChangeForm):
    """Django's password change (old password, new one twice, the shop's password rules) in the UI kit."""
