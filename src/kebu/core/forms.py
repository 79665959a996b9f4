from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy


class KebuForm(forms.Form):
    """A form whose widgets carry the UI kit's classes, and mark themselves invalid after a failed post."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()

    def full_clean(self) -> None:
        super().full_clean()
        for name in self.errors:
            if name in self.fields:
                widget = self.fields[name].widget
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid"
                widget.attrs["aria-invalid"] = "true"

    def add_error(self, field: str | None, error: Any) -> None:
        super().add_error(field, error)
        if field and field in self.fields:
            widget = self.fields[field].widget
            if "is-invalid" not in widget.attrs.get("class", ""):
                widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid"


# Dates before 1900 or at the end of the calendar cannot be moved between the shop's time zone and UTC
# without overflowing; no order, payment or filter needs them.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(9998, 12, 31)
DATE_VALIDATORS = [MinValueValidator(EARLIEST_DATE), MaxValueValidator(LATEST_DATE)]


def moment_in_range(value: datetime) -> None:
    """A validator for date-time fields: within :data:`EARLIEST_DATE` … :data:`LATEST_DATE`."""
    if not EARLIEST_DATE <= value.date() <= LATEST_DATE:
        raise ValidationError(
            _("Enter a date between %(first)s and %(last)s.") % {"first": EARLIEST_DATE, "last": LATEST_DATE},
            code="out_of_range",
        )


# The shop settings in the groups the settings page and the admin both show them in.
SHOP_SETTINGS_GROUPS: list[tuple[Any, tuple[str, ...]]] = [
    (gettext_lazy("Customers"), ("shared_pool_enabled",)),
    (
        gettext_lazy("Lifecycle stages"),
        ("stage_auto", "stage_repeat_orders", "stage_vip_spent_cny", "stage_churn_days"),
    ),
    (gettext_lazy("Credit"), ("credit_over_limit",)),
]
