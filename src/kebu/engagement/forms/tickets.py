"""Forms of the ticket pages: the shape of the input only; the rules are the services'."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from kebu.core.forms import DATE_VALIDATORS, KebuForm
from kebu.customers.columns import yuan
from kebu.engagement.models import (
    TicketCategory,
    TicketKind,
    TicketPriority,
    TicketResult,
    TicketStatus,
)
from kebu.engagement.selectors.tickets import TABS, ticket_assignees
from kebu.orders.models import AfterSale, Order

_BLANK = [("", "—")]


class AssigneeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj)


class TicketForm(KebuForm):
    kind = forms.ChoiceField(label=_("Type"), choices=TicketKind.choices, initial=TicketKind.COMPLAINT)
    category = forms.ChoiceField(
        label=pgettext_lazy("ticket", "Category"), choices=_BLANK + TicketCategory.choices
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=TicketPriority.choices, initial=TicketPriority.NORMAL
    )
    subject = forms.CharField(label=_("Subject"), max_length=120)
    description = forms.CharField(
        label=_("Description"),
        max_length=4000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What the customer says, in their words. Kept encrypted."),
    )
    order = forms.TypedChoiceField(
        label=pgettext_lazy("sales order", "Order"),
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={"invalid_choice": _("Choose one of this customer's orders.")},
    )
    lines = forms.TypedMultipleChoiceField(
        label=_("Items concerned"), coerce=int, required=False, widget=forms.CheckboxSelectMultiple
    )
    aftersales = forms.TypedMultipleChoiceField(
        label=_("After-sales in progress on this order"),
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Ticked: the ticket is linked to it, and the after-sale lists the ticket."),
    )
    assignee = AssigneeChoiceField(
        label=_("Assignee"),
        queryset=ticket_assignees(),
        required=False,
        empty_label=_("The customer's owner, or me"),
    )

    def __init__(
        self,
        *args: Any,
        orders: list[Order],
        lines_order: Order | None,
        open_aftersales: Sequence[AfterSale] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        # The order's refunds and returns in progress, told and linked by default: a complaint about an
        # order whose refund is under way is most often about that refund.
        self.open_aftersales = list(open_aftersales)
        self.fields["aftersales"].choices = [(a.pk, f"#{a.pk}") for a in self.open_aftersales]
        self.fields["aftersales"].widget.attrs["class"] = "form-check-input"
        if self.is_bound and hasattr(self.data, "getlist"):
            # One ticked on the page and finished since (refunded, withdrawn) is no longer on offer: the
            # ticket opens without that link rather than with "Select a valid choice".
            offered = {str(a.pk) for a in self.open_aftersales}
            name = self.add_prefix("aftersales")
            self.data = self.data.copy()
            self.data.setlist(name, [v for v in self.data.getlist(name) if v in offered])
        self.fields["order"].choices = _BLANK + [
            (o.pk, f"{o.order_no} · {timezone.localtime(o.ordered_at):%Y-%m-%d} · {yuan(o.total_cny)}")
            for o in orders
        ]
        self.lines_order = lines_order
        self.fields["lines"].choices = [
            (line.pk, f"{line.title}{f' ({line.variant})' if line.variant else ''} ×{line.quantity}")
            for line in (lines_order.lines.all() if lines_order else [])
        ]
        self.fields["order"].widget.attrs["data-ticket-order"] = ""
        self.fields["lines"].widget.attrs["class"] = "form-check-input"

    def aftersale_rows(self) -> list[tuple[AfterSale, Any]]:
        """Each after-sale in progress beside its box."""
        return list(zip(self.open_aftersales, self["aftersales"], strict=True))


class VersionForm(KebuForm):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class TicketTransitionForm(VersionForm):
    to_status = forms.ChoiceField(choices=TicketStatus.choices, widget=forms.HiddenInput)
    note = forms.CharField(
        label=_("Note"), max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    resolution = forms.CharField(
        label=_("Resolution"), max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    result = forms.ChoiceField(label=_("Result"), choices=_BLANK + TicketResult.choices, required=False)
    satisfaction = forms.TypedChoiceField(
        label=_("Customer satisfaction"),
        choices=[("", pgettext_lazy("satisfaction", "Not asked")), *[(n, f"{n} ★") for n in range(5, 0, -1)]],
        coerce=int,
        required=False,
        empty_value=None,
    )


class TicketAssignForm(VersionForm):
    assignee = AssigneeChoiceField(
        label=_("Assignee"), queryset=ticket_assignees(), required=False, empty_label=_("Nobody (unassigned)")
    )


class TicketNoteForm(KebuForm):
    note = forms.CharField(
        label=_("Note or reply"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class TicketFilterForm(KebuForm):
    tab = forms.ChoiceField(choices=[(t, t) for t in TABS], required=False, widget=forms.HiddenInput)
    kind = forms.ChoiceField(
        label=_("Type"), choices=[("", _("Any type")), *TicketKind.choices], required=False
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", _("Any status")), *TicketStatus.choices], required=False
    )
    category = forms.ChoiceField(
        label=pgettext_lazy("ticket", "Category"),
        choices=[("", _("Any category")), *TicketCategory.choices],
        required=False,
    )
    priority = forms.ChoiceField(
        label=_("Priority"), choices=[("", _("Any priority")), *TicketPriority.choices], required=False
    )
    assignee = AssigneeChoiceField(
        label=_("Assignee"),
        queryset=ticket_assignees(),
        required=False,
        empty_label=pgettext_lazy("assignee", "Anyone"),
    )


class FiguresForm(KebuForm):
    date_from = forms.DateField(
        label=_("From"),
        required=False,
        validators=DATE_VALIDATORS,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=_("To"),
        required=False,
        validators=DATE_VALIDATORS,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    min_orders = forms.IntegerField(
        label=_("At least this many orders"),
        min_value=1,
        max_value=100000,
        required=False,
        help_text=_("Products and carriers with fewer orders in the range are not ranked."),
    )

    def range(self) -> tuple[Any, Any, int]:
        """The chosen days, the last 30 by default, and the threshold (10 by default)."""
        cd = self.cleaned_data if self.is_valid() else {}
        today = timezone.localdate()
        date_to = cd.get("date_to") or today
        date_from = cd.get("date_from") or date_to - timedelta(days=29)
        return date_from, date_to, cd.get("min_orders") or 10
