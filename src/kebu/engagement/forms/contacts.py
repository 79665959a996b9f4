"""HTML forms for contact records: shape only; ``services.contacts.contact_log`` holds the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kebu.core.forms import DATE_VALIDATORS, KebuForm, moment_in_range
from kebu.engagement.attachments import ACCEPT_ATTRIBUTE, MAX_FILES_PER_RECORD
from kebu.engagement.models import ContactChannel, Direction
from kebu.engagement.services.contacts import NEXT_STEP_MAX, SUMMARY_MAX, ContactInput


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def format_value(self, value: Any) -> Any:
        # The field hands over the shop's local time, naive; an initial value may still be aware.
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                value = timezone.localtime(value)
            return value.strftime("%Y-%m-%dT%H:%M")
        return value


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input; each is checked by the service, not here."""

    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(item, initial) for item in files]


class ContactForm(KebuForm):
    channel = forms.ChoiceField(label=_("Channel"), choices=ContactChannel.choices)
    direction = forms.ChoiceField(
        label=_("Who got in touch"),
        choices=Direction.choices,
        initial=Direction.OUTBOUND,
        widget=forms.RadioSelect,
    )
    occurred_at = forms.DateTimeField(
        label=_("Time"),
        widget=DateTimeLocalInput(),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[moment_in_range],
    )
    summary = forms.CharField(
        label=_("What was said"),
        max_length=SUMMARY_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    next_step = forms.CharField(
        label=_("Next step"),
        max_length=NEXT_STEP_MAX,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. send the new colour chart")}),
    )
    next_step_due = forms.DateField(
        label=_("Due"),
        required=False,
        validators=DATE_VALIDATORS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("With a date, the next step goes on your follow-up list."),
    )
    attachments = MultipleFileField(
        label=_("Attachments"),
        required=False,
        widget=MultipleFileInput(attrs={"accept": ACCEPT_ATTRIBUTE}),
    )

    def __init__(self, *args: Any, channel: str = "", **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"].setdefault("occurred_at", timezone.now())
        if channel:
            kwargs["initial"].setdefault("channel", channel)
        super().__init__(*args, **kwargs)
        # Formatted here, per request: "%" on a lazy text translates it there and then, so written on the
        # field it would keep the language the module happened to load in, whatever the page's.
        self.fields["attachments"].help_text = _("Up to %(n)d pictures or PDFs, e.g. a chat screenshot.") % {
            "n": MAX_FILES_PER_RECORD
        }

    def to_input(self) -> ContactInput:
        data = self.cleaned_data
        return ContactInput(
            channel=data["channel"],
            direction=data["direction"],
            occurred_at=data["occurred_at"],
            summary=data["summary"],
            next_step=data.get("next_step") or "",
            next_step_due=data.get("next_step_due"),
        )


class ContactFilterForm(KebuForm):
    SCOPES = (("mine", _("Logged by me")), ("all", _("All I can see")))

    scope = forms.ChoiceField(label=_("Whose"), choices=SCOPES, required=False)
    channel = forms.ChoiceField(
        label=_("Channel"), choices=[("", _("All channels")), *ContactChannel.choices], required=False
    )
    date_from = forms.DateField(label=_("From"), required=False, validators=DATE_VALIDATORS)
    date_to = forms.DateField(label=_("Until"), required=False, validators=DATE_VALIDATORS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data
