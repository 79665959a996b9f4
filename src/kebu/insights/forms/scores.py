"""The scoring settings form. The rules are the model's (validators and ``clean``: four ascending cut
points, a middle tier below the high one, churn thresholds in order), checked here for the form's
messages and again by ``score_settings_update``, which saves."""

from __future__ import annotations

from typing import Any

from django import forms

from kebu.insights.models.scores import ScoreSettings
from kebu.insights.services.scores import SETTINGS_FIELDS


class ScoreSettingsForm(forms.ModelForm):
    class Meta:
        model = ScoreSettings
        fields = list(SETTINGS_FIELDS)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            css = "form-select" if isinstance(widget, forms.Select) else "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()
