from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kebu.audit.models import AuditAction
from kebu.audit.selectors import AuditFilters, audit_actor_choices
from kebu.core.forms import KebuForm


def _action_choices() -> list[tuple[str, Any]]:
    return [("", _("Any action")), *AuditAction.choices]


class AuditFilterForm(KebuForm):
    """The audit page's filters, read from the query string. Every field may be left empty."""

    action = forms.ChoiceField(label=_("Action"), required=False, choices=_action_choices)
    actor = forms.ModelChoiceField(
        label=_("Actor"), queryset=audit_actor_choices(), required=False, empty_label=_("Anyone")
    )
    target_type = forms.CharField(label=_("Target type"), required=False, max_length=100)
    target = forms.CharField(
        label=_("Target id or customer number"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": _("Target id or customer number")}),
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ip = forms.GenericIPAddressField(
        label=_("IP address"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("IP address")}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget.attrs.setdefault("aria-label", field.label)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return cleaned

    def to_filters(self) -> AuditFilters:
        cd = self.cleaned_data
        actor = cd.get("actor")
        return AuditFilters(
            action=cd.get("action") or "",
            actor_id=actor.pk if actor is not None else None,
            target_type=(cd.get("target_type") or "").strip(),
            target=(cd.get("target") or "").strip(),
            date_from=cd.get("date_from"),
            date_to=cd.get("date_to"),
            ip=cd.get("ip") or "",
        )
