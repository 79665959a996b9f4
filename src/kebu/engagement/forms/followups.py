"""HTML forms for follow-ups: shape only; ``services.followups`` holds the rules (a due day not in the
past, an assignee who sees the customer, a snooze not into the past)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kebu.core.errors import KebuError
from kebu.core.forms import DATE_VALIDATORS, KebuForm
from kebu.engagement.services.followups import NOTE_MAX, OUTCOME_MAX, SNOOZE_MAX_DAYS, TITLE_MAX


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class FollowUpForm(KebuForm):
    title = forms.CharField(label=_("What to do"), max_length=TITLE_MAX)
    due_on = forms.DateField(label=_("Due"), widget=DateInput(), validators=DATE_VALIDATORS)
    assignee = forms.ModelChoiceField(label=_("Assignee"), queryset=None, required=False, empty_label=None)
    note = forms.CharField(
        label=_("Note"), max_length=NOTE_MAX, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, assignees: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        ids = [u.pk for u in assignees or []]
        self.fields["assignee"].queryset = (
            get_user_model()._default_manager.filter(pk__in=ids).order_by("username")
        )


class DoneForm(KebuForm):
    outcome = forms.CharField(label=_("Outcome"), max_length=OUTCOME_MAX, required=False)


class SnoozeForm(KebuForm):
    days = forms.IntegerField(label=_("Days"), min_value=1, max_value=SNOOZE_MAX_DAYS, required=False)
    until = forms.DateField(label=_("Until"), widget=DateInput(), required=False, validators=DATE_VALIDATORS)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.errors and cleaned.get("days") is None and cleaned.get("until") is None:
            self.add_error("until", _("Choose how long to snooze, or a day."))
        if cleaned.get("days") is not None and cleaned.get("until") is not None:
            cleaned["until"] = None  # a quick button wins over a date left in the picker
        return cleaned


class ReassignForm(KebuForm):
    assignee = forms.ModelChoiceField(label=_("Hand over to"), queryset=None)

    def __init__(self, *args: Any, assignees: list[Any] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from django.contrib.auth import get_user_model

        ids = [u.pk for u in assignees or []]
        self.fields["assignee"].queryset = (
            get_user_model()._default_manager.filter(pk__in=ids).order_by("username")
        )


class CancelForm(KebuForm):
    reason = forms.CharField(label=_("Why"), max_length=OUTCOME_MAX, required=False)


class DigestForm(KebuForm):
    enabled = forms.BooleanField(label=_("Email me my follow-ups every morning"), required=False)


def service_errors_apply(form: forms.Form, error: KebuError) -> None:
    """Put a service's field errors on the form's fields (the rest on the form)."""
    for key, messages in error.as_dict().items():
        for message in messages:
            form.add_error(key if key in form.fields else None, message)
