from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.core.models import SHOP_SETTINGS_FIELDS, ShopSettings


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


class ShopSettingsForm(KebuForm, forms.ModelForm):
    """The settings page's form: labels, help texts and limits are the model's (repeat buyers from 2
    orders, churn from 30 days), checked here for the messages beside the fields and again by
    ``shop_settings_update``, which saves. ``updated_at`` carries the time of the save the page showed,
    so a form older than a colleague's save is refused instead of undoing it."""

    updated_at = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = ShopSettings
        fields = list(SHOP_SETTINGS_FIELDS)
        widgets = {"credit_over_limit": forms.RadioSelect}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.updated_at is not None:
            self.fields["updated_at"].initial = self.instance.updated_at.isoformat()

    def clean_updated_at(self) -> datetime | None:
        """The time as sent; a missing or mangled one is a form not read from this page (refused as stale)."""
        stale = ValidationError(_("This form is out of date, so nothing was saved."), code="stale")
        try:
            seen = datetime.fromisoformat(self.cleaned_data["updated_at"])
        except ValueError:
            raise stale from None
        if seen.tzinfo is None:
            raise stale
        return seen
