"""HTML forms for surveys: shape only; the services say what is allowed (``services.surveys``)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kebu.core.forms import DATE_VALIDATORS, KebuForm
from kebu.customers.columns import yuan
from kebu.engagement.models import Question, QuestionKind, Survey
from kebu.engagement.services.surveys import MAX_BATCH, TEXT_ANSWER_MAX

# What a bot fills in and a person never sees (hidden by the page's style sheet, skipped by Tab).
HONEYPOT_FIELD = "contact_website"


class SurveyForm(KebuForm):
    title = forms.CharField(label=_("Title"), max_length=120)
    intro = forms.CharField(
        label=_("Introduction"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Shown above the questions, e.g. why you ask and how long it takes."),
    )
    thanks = forms.CharField(
        label=_("Thank-you message"), max_length=300, required=False, help_text=_("Shown after answering.")
    )
    link_valid_days = forms.IntegerField(
        label=_("Links valid for (days)"), min_value=1, max_value=365, initial=14
    )


class QuestionForm(KebuForm):
    kind = forms.ChoiceField(label=_("Type"), choices=QuestionKind.choices)
    text = forms.CharField(label=_("Question"), max_length=300)
    required = forms.BooleanField(label=_("Required"), required=False, initial=True)
    choices = forms.CharField(
        label=_("Options"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("For choice questions: 2 to 20 options, one per line."),
    )

    @classmethod
    def for_question(cls, question: Question, data: Any = None) -> QuestionForm:
        initial = {
            "kind": question.kind,
            "text": question.text,
            "required": question.required,
            "choices": "\n".join(str(option) for option in question.choices),
        }
        return cls(data, initial=initial, prefix=f"q{question.pk}")


class SendForm(KebuForm):
    """One customer's link: which survey, and (optionally) which of their orders it is about. ``orders``
    is None for someone who may not see orders: the form then has no order field at all."""

    survey = forms.ModelChoiceField(label=_("Survey"), queryset=Survey.objects.none(), empty_label=None)
    order = forms.TypedChoiceField(
        label=_("About the order"),
        required=False,
        coerce=int,
        empty_value=None,
        error_messages={"invalid_choice": _("Choose one of this customer's orders.")},
    )

    def __init__(self, *args: Any, surveys: Any, orders: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["survey"].queryset = surveys
        if orders is None:
            del self.fields["order"]
            return
        # The day in the shop's time zone: an order placed at 07:00 in Shanghai is the day before in UTC.
        self.fields["order"].choices = [("", _("No order"))] + [
            (
                order.pk,
                f"{order.order_no} · {timezone.localtime(order.ordered_at):%Y-%m-%d}"
                f" · {yuan(order.total_cny)}",
            )
            for order in orders
        ]


class BatchForm(KebuForm):
    """Links for many customers: pasted numbers, or the customers of recently received orders."""

    source = forms.ChoiceField(
        label=_("Customers"),
        choices=[
            ("numbers", _("Customer numbers I paste")),
            ("delivered", _("Who received an order recently")),
        ],
        widget=forms.RadioSelect,
        initial="numbers",
    )
    customer_numbers = forms.CharField(
        label=_("Customer numbers"),
        required=False,
        max_length=MAX_BATCH * 22,
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "C000123\nC000124"}),
        help_text=_("One per line, or separated by commas."),
    )
    delivered_within_days = forms.IntegerField(
        label=_("Received an order in the last … days"), required=False, min_value=1, max_value=365, initial=7
    )

    def __init__(self, *args: Any, with_orders: bool = True, **kwargs: Any) -> None:
        """``with_orders`` False (someone who may not see orders): pasted numbers only, since the
        links made from recent deliveries would tell who received an order."""
        super().__init__(*args, **kwargs)
        if not with_orders:
            source = self.fields["source"]
            source.choices = [choice for choice in source.choices if choice[0] != "delivered"]
            del self.fields["delivered_within_days"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("source") == "delivered" and not data.get("delivered_within_days"):
            self.add_error("delivered_within_days", _("Enter the number of days."))
        if data.get("source") == "numbers" and not (data.get("customer_numbers") or "").strip():
            self.add_error("customer_numbers", _("Paste at least one customer number."))
        return data


class ResultsFilterForm(KebuForm):
    date_from = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_VALIDATORS,
    )
    date_to = forms.DateField(
        label=_("Until"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=DATE_VALIDATORS,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end comes before the start."))
        return data


def answers_from_post(questions: list[Question], data: QueryDict) -> dict[int, Any]:
    """What the answer page posted, per question: ``q<id>`` (several values for several choices).
    Kept raw: ``services.surveys.response_submit`` checks ranges, options and lengths."""
    answers: dict[int, Any] = {}
    for question in questions:
        key = f"q{question.pk}"
        if question.kind == QuestionKind.MULTIPLE:
            answers[question.pk] = data.getlist(key)[:50]
        else:
            # A text a little over the limit is kept whole, so the service can say it is too long.
            answers[question.pk] = data.get(key, "")[: TEXT_ANSWER_MAX * 2]
    return answers


def honeypot_filled(data: QueryDict) -> bool:
    return bool(data.get(HONEYPOT_FIELD, "").strip())
