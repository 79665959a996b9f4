"""Forms of the feedback pages: the shape of the input only; the rules are the services'."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kebu.core.forms import KebuForm, moment_in_range
from kebu.orders.forms import DateTimeLocalInput
from kebu.orders.models import Order, Product

RATING_CHOICES = [(n, "★" * n) for n in range(5, 0, -1)]


class FeedbackForm(KebuForm):
    rating = forms.TypedChoiceField(
        label=_("Rating"), choices=RATING_CHOICES, coerce=int, widget=forms.RadioSelect
    )
    comment = forms.CharField(
        label=_("Comment"), max_length=2000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    order = forms.TypedChoiceField(
        label=pgettext_lazy("sales order", "Order"), coerce=int, required=False, empty_value=None
    )
    product = forms.TypedChoiceField(label=_("Product"), coerce=int, required=False, empty_value=None)
    reviewed_at = forms.DateTimeField(
        label=_("Reviewed at"),
        required=False,
        widget=DateTimeLocalInput(),
        validators=[moment_in_range],
        help_text=_("Empty: now."),
    )

    def __init__(self, *args: Any, orders: list[Order], products: list[Product], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["order"].choices = [("", "—")] + [
            (o.pk, f"{o.order_no} · {timezone.localtime(o.ordered_at):%Y-%m-%d}") for o in orders
        ]
        self.fields["product"].choices = [("", "—")] + [(p.pk, p.name) for p in products]


class FeedbackFilterForm(KebuForm):
    # A product is chosen from the averages table (a select of the whole catalogue would be too long).
    product = forms.IntegerField(min_value=1, required=False, widget=forms.HiddenInput)
    rating = forms.TypedChoiceField(
        label=_("Rating"),
        choices=[("", _("Any rating")), *RATING_CHOICES],
        coerce=int,
        required=False,
        empty_value=None,
    )
