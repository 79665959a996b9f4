"""The "told us" preferences form: shape only; ``services.preferences.preference_update`` holds the rules.
Colours, sizes and styles are typed as one line each, separated by commas (，、 and ; too)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from kebu.core.forms import KebuForm
from kebu.engagement.models import ContactChannel, Preference, PriceBand
from kebu.engagement.services.preferences import NOTES_MAX, PreferenceInput
from kebu.orders.models import Brand, Category

_SEPARATORS = re.compile(r"[,，、;；\n]+")


class TextListField(forms.CharField):
    """A list typed as "红色, 藏青、米白"."""

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        return [item.strip() for item in _SEPARATORS.split(text or "") if item.strip()]

    def prepare_value(self, value: Any) -> Any:
        return "、".join(value) if isinstance(value, list | tuple) else value


def _time_input() -> forms.TimeInput:
    return forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


class PreferenceForm(KebuForm):
    categories = forms.ModelMultipleChoiceField(
        label=_("Favourite categories"),
        queryset=Category.objects.order_by("path"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    brands = forms.ModelMultipleChoiceField(
        label=_("Favourite brands"),
        queryset=Brand.objects.order_by("name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
    )
    colours = TextListField(label=_("Colours"), required=False, max_length=1000)
    sizes = TextListField(label=_("Sizes"), required=False, max_length=1000)
    styles = TextListField(label=_("Styles"), required=False, max_length=1000)
    price_band = forms.ChoiceField(
        label=_("Price band"), choices=[("", _("Not said")), *PriceBand.choices], required=False
    )
    preferred_channel = forms.ChoiceField(
        label=_("Preferred channel"), choices=[("", _("Not said")), *ContactChannel.choices], required=False
    )
    contact_from = forms.TimeField(label=_("Contact from"), required=False, widget=_time_input())
    contact_until = forms.TimeField(
        label=_("until"),
        required=False,
        widget=_time_input(),
        help_text=_("An end before the start runs past midnight (22:00–02:00)."),
    )
    do_not_disturb = forms.BooleanField(
        label=_("Do not disturb"),
        required=False,
        help_text=_("No calls or messages except about an open order."),
    )
    notes = forms.CharField(
        label=_("Other preferences"),
        required=False,
        max_length=NOTES_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    @classmethod
    def initial_from(cls, preference: Preference | None) -> dict[str, Any]:
        if preference is None:
            return {}
        return {
            "categories": list(preference.categories.all()),
            "brands": list(preference.brands.all()),
            "colours": preference.colours,
            "sizes": preference.sizes,
            "styles": preference.styles,
            "price_band": preference.price_band,
            "preferred_channel": preference.preferred_channel,
            "contact_from": preference.contact_from,
            "contact_until": preference.contact_until,
            "do_not_disturb": preference.do_not_disturb,
            "notes": preference.notes,
        }

    def to_input(self) -> PreferenceInput:
        data = self.cleaned_data
        return PreferenceInput(
            categories=list(data["categories"]),
            brands=list(data["brands"]),
            colours=data["colours"],
            sizes=data["sizes"],
            styles=data["styles"],
            price_band=data["price_band"],
            preferred_channel=data["preferred_channel"],
            contact_from=data["contact_from"],
            contact_until=data["contact_until"],
            do_not_disturb=data["do_not_disturb"],
            notes=data["notes"],
        )
