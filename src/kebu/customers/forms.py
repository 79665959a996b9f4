"""HTML forms: shape only. The services decide what is valid; their field errors are mapped back here."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.utils.translation import gettext_lazy as _

from kebu.core import divisions, lunar
from kebu.core.errors import KebuError, NotFound
from kebu.core.forms import KebuForm
from kebu.customers import access, selectors
from kebu.customers.models import (
    ConsentChannel,
    ConsentMethod,
    Customer,
    CustomerPhone,
    CustomerType,
    CustomField,
    CustomFieldType,
    Gender,
    SocialKind,
    SourceChannel,
    Stage,
    Tag,
)
from kebu.customers.services import (
    ADDRESS_FIELDS,
    AddressInput,
    ConsentInput,
    CustomerInput,
    PhoneInput,
    SocialInput,
)


class CustomerForm(KebuForm):
    name = forms.CharField(label=_("Name"), max_length=100, required=False)
    gender = forms.ChoiceField(label=_("Gender"), choices=Gender.choices, required=False)
    birthday = forms.DateField(
        label=_("Birthday"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    birthday_is_lunar = forms.BooleanField(label=_("Lunar calendar"), required=False)
    # A lunar birthday is entered as the lunar date (a lunar 30th or a leap month has no solar field to
    # hold it) and kept as the real solar date of birth, worked out in clean().
    birthday_lunar_year = forms.IntegerField(
        label=_("Lunar year"), required=False, min_value=lunar.MIN_YEAR, max_value=lunar.MAX_YEAR
    )
    birthday_lunar_month = forms.TypedChoiceField(
        label=_("Lunar month"), required=False, coerce=int, empty_value=None, choices=()
    )
    birthday_lunar_day = forms.TypedChoiceField(
        label=_("Lunar day"), required=False, coerce=int, empty_value=None, choices=()
    )
    birthday_lunar_leap = forms.BooleanField(label=_("Leap month (闰月)"), required=False)
    email = forms.CharField(label=_("Email"), max_length=254, required=False)
    customer_type = forms.ChoiceField(label=_("Customer type"), choices=CustomerType.choices)
    stage = forms.ChoiceField(label=_("Lifecycle stage"), choices=Stage.choices)
    source = forms.ModelChoiceField(
        label=_("Source channel"),
        queryset=SourceChannel.objects.filter(is_active=True),
        empty_label="—",
        required=False,
    )
    referrer_no = forms.CharField(label=_("Referred by (customer number)"), max_length=20, required=False)
    owner = forms.ModelChoiceField(
        label=_("Owner"),
        queryset=get_user_model().objects.filter(is_active=True),
        empty_label="—",
        required=False,
    )
    tags = forms.ModelMultipleChoiceField(
        label=_("Tags"), queryset=Tag.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    notes = forms.CharField(
        label=_("Notes"), max_length=5000, required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=80)
    allow_duplicate_phone = forms.BooleanField(
        label=_("Save anyway: it is the same person or a shared phone"), required=False
    )

    def __init__(self, *args: Any, user: Any = None, customer: Customer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.customer = customer
        self.fields["birthday_lunar_month"].choices = [("", "—")] + [
            (m, lunar.month_name(m)) for m in range(1, 13)
        ]
        self.fields["birthday_lunar_day"].choices = [("", "—")] + [
            (d, lunar.day_name(d)) for d in range(1, 31)
        ]
        self.custom_fields = list(CustomField.objects.filter(is_active=True))
        stored = customer.custom if customer is not None else {}
        for definition in self.custom_fields:
            self.fields[f"cf_{definition.key}"] = _custom_form_field(definition, stored.get(definition.key))
        if not self.is_bound and not self.initial.get("idempotency_key"):
            self.initial["idempotency_key"] = uuid.uuid4().hex
        # The owner is chosen here only when creating, and only by someone allowed to assign customers;
        # later changes go through claim, release and transfer, which keep the ownership history.
        if customer is not None or not access.can_assign(user):
            del self.fields["owner"]
        else:
            self.fields["owner"].queryset = selectors.assignable_users()
            self.fields["owner"].empty_label = _("— nobody: the shared pool —")
            self.initial.setdefault("owner", getattr(user, "pk", None))

    def owner_value(self) -> Any:
        """The owner the saved customer gets: as chosen, else kept (editing), else the creator."""
        if "owner" in self.fields:
            return self.cleaned_data.get("owner")
        if self.customer is not None:
            return self.customer.owner
        return self.user

    def clean(self) -> dict[str, Any]:
        """With "lunar calendar" ticked and a lunar date given, the birthday is that date's solar day; a
        lunar date the calendar does not have (a 30th in a 29-day month, a leap month the year lacks) is
        refused on its field. Unticked, the lunar fields are ignored."""
        cleaned = super().clean() or {}
        parts = ("birthday_lunar_year", "birthday_lunar_month", "birthday_lunar_day")
        if not cleaned.get("birthday_is_lunar") or any(self.has_error(p) for p in parts):
            return cleaned
        values = [cleaned.get(p) for p in parts]
        if all(v is None for v in values):
            return cleaned  # the solar date of birth was entered directly
        if any(v is None for v in values):
            for name, value in zip(parts, values, strict=True):
                if value is None:
                    self.add_error(name, _("Enter the lunar year, month and day."))
            return cleaned
        try:
            cleaned["birthday"] = lunar.lunar_to_solar(
                year=values[0], month=values[1], day=values[2], leap=bool(cleaned.get("birthday_lunar_leap"))
            )
        except KebuError as exc:
            for key, messages in exc.field_errors.items():
                for message in messages:
                    self.add_error(f"birthday_lunar_{key}", message)
        return cleaned

    def custom_bound_fields(self) -> list[forms.BoundField]:
        return [self[f"cf_{d.key}"] for d in self.custom_fields]

    def clean_referrer_no(self) -> Customer | None:
        number = self.cleaned_data.get("referrer_no", "").strip().upper()
        if not number:
            return None
        current = self.customer.referrer if self.customer is not None else None
        if current is not None and current.customer_no == number:
            return current  # kept as it is, even if it is a customer this user cannot see
        try:
            return selectors.customer_by_number_for_actor(actor=self.user, customer_no=number)
        except NotFound:
            # The same answer for a number that does not exist and one the user may not see.
            raise forms.ValidationError(_("No customer has the number %(no)s.") % {"no": number}) from None


def _custom_form_field(definition: CustomField, stored: Any = None) -> forms.Field:
    """``stored``: the customer's value. A choice the shop has since renamed or dropped stays offered to
    the customer who has it, or saving any other change would silently clear it."""
    common: dict[str, Any] = {"label": definition.label, "required": False, "help_text": definition.help_text}
    kept = [str(v) for v in (stored if isinstance(stored, list) else [stored]) if v not in (None, "")]
    choices = [(c, c) for c in [*definition.choices, *(v for v in kept if v not in definition.choices)]]
    kind = definition.field_type
    if kind == CustomFieldType.NUMBER:
        return forms.DecimalField(**common)
    if kind == CustomFieldType.DATE:
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    if kind == CustomFieldType.BOOL:
        return forms.NullBooleanField(
            widget=forms.Select(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))]), **common
        )
    if kind == CustomFieldType.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *choices], **common)
    if kind == CustomFieldType.MULTI:
        return forms.MultipleChoiceField(choices=choices, widget=forms.CheckboxSelectMultiple, **common)
    return forms.CharField(max_length=500, **common)


class PhoneForm(KebuForm):
    number = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    label = forms.ChoiceField(label=_("Label"), choices=CustomerPhone.Label.choices, required=False)


class AddressForm(KebuForm):
    province = forms.ChoiceField(label=_("Province"), required=False)
    city = forms.CharField(label=_("City"), max_length=30, required=False)
    district = forms.CharField(label=_("District"), max_length=30, required=False)
    detail = forms.CharField(
        label=_("Street address"),
        max_length=200,
        required=False,
        help_text=_("Optional: left empty, the region alone is kept."),
    )
    receiver = forms.CharField(label=_("Receiver"), max_length=50, required=False)
    receiver_phone = forms.CharField(label=_("Receiver phone"), max_length=40, required=False)
    is_default = forms.BooleanField(label=_("Default"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["province"].choices = [("", "—"), *[(p, p) for p in divisions.provinces()]]

    def city_choices(self) -> list[str]:
        return divisions.cities(self["province"].value() or "")

    def district_choices(self) -> list[str]:
        return divisions.districts(self["province"].value() or "", self["city"].value() or "")


class SocialForm(KebuForm):
    kind = forms.ChoiceField(label=_("Type"), choices=SocialKind.choices, required=False)
    kind_label = forms.CharField(label=_("Type name"), max_length=30, required=False)
    handle = forms.CharField(label=_("Account"), max_length=100, required=False)


class ConsentForm(KebuForm):
    channel = forms.ChoiceField(choices=ConsentChannel.choices, widget=forms.HiddenInput)
    status = forms.ChoiceField(
        label=_("Consent"),
        choices=[("", _("Not asked")), ("yes", _("Agreed")), ("no", _("Refused or withdrew"))],
        required=False,
    )
    method = forms.ChoiceField(label=_("How"), choices=[("", "—"), *ConsentMethod.choices], required=False)
    evidence = forms.CharField(label=_("Evidence"), max_length=200, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        # A recorded answer is history (PIPL asks when and how consent was given or withdrawn): it can
        # change to agreed or refused, but "not asked" would silently keep the old record.
        if self.initial.get("status") and not cleaned.get("status"):
            self.add_error("status", _("Already recorded: choose agreed or refused."))
        return cleaned


PhoneFormSet = forms.formset_factory(PhoneForm, extra=1, max_num=10, absolute_max=10, validate_max=True)
AddressFormSet = forms.formset_factory(AddressForm, extra=1, max_num=20, absolute_max=20, validate_max=True)
SocialFormSet = forms.formset_factory(SocialForm, extra=1, max_num=20, absolute_max=20, validate_max=True)
ConsentFormSet = forms.formset_factory(ConsentForm, extra=0, max_num=3, absolute_max=3)


class CustomerFormBundle:
    """The profile form and its formsets, bound together, turned into one ``CustomerInput``."""

    def __init__(self, data: Any = None, *, user: Any = None, customer: Customer | None = None) -> None:
        initial = _initial(customer) if customer else {}
        self.form = CustomerForm(data, initial=initial.get("profile"), user=user, customer=customer)
        self.phones = PhoneFormSet(data, prefix="phones", initial=initial.get("phones"))
        self.addresses = AddressFormSet(data, prefix="addresses", initial=initial.get("addresses"))
        self.socials = SocialFormSet(data, prefix="socials", initial=initial.get("socials"))
        self.consents = ConsentFormSet(
            data,
            prefix="consents",
            initial=initial.get("consents") or [{"channel": c} for c in ConsentChannel.values],
        )
        self.duplicate_warning = False

    def parts(self) -> list[Any]:
        return [self.form, self.phones, self.addresses, self.socials, self.consents]

    def is_valid(self) -> bool:
        return all(part.is_valid() for part in self.parts())

    def to_input(self) -> CustomerInput:
        cd = self.form.cleaned_data
        custom = {d.key: _custom_json(cd.get(f"cf_{d.key}")) for d in self.form.custom_fields}
        return CustomerInput(
            name=cd["name"],
            gender=cd["gender"] or "",
            birthday=cd["birthday"],
            birthday_is_lunar=cd["birthday_is_lunar"],
            email=cd["email"],
            customer_type=cd["customer_type"],
            stage=cd["stage"],
            source=cd["source"],
            referrer=cd["referrer_no"],
            owner=self.form.owner_value(),
            notes=cd["notes"],
            custom={k: v for k, v in custom.items() if v not in (None, "", [])},
            tags=list(cd["tags"]),
            phones=[
                PhoneInput(number=f["number"], label=f["label"] or "mobile")
                for f in _filled(self.phones, "number")
            ],
            addresses=[
                AddressInput(**{k: f[k] for k in ADDRESS_FIELDS})
                for f in _filled(self.addresses, "province", "detail")
            ],
            socials=[
                SocialInput(kind=f["kind"] or "other", handle=f["handle"], kind_label=f["kind_label"])
                for f in _filled(self.socials, "handle")
            ],
            consents=[
                ConsentInput(
                    channel=f["channel"],
                    granted=f["status"] == "yes",
                    method=f["method"] or "other",
                    evidence=f["evidence"],
                )
                for f in self.consents.cleaned_data
                if f.get("status")
            ],
        )

    def add_service_errors(self, error: KebuError) -> None:
        """Put the service's dotted field errors (``phones.0.number``) on the right form and field."""
        groups = {
            "phones": self.phones,
            "addresses": self.addresses,
            "socials": self.socials,
            "consents": self.consents,
        }
        filled = {
            "phones": [i for i, f in enumerate(self.phones.forms) if (f.cleaned_data or {}).get("number")],
            "addresses": [
                i
                for i, f in enumerate(self.addresses.forms)
                if (f.cleaned_data or {}).get("province") or (f.cleaned_data or {}).get("detail")
            ],
            "socials": [i for i, f in enumerate(self.socials.forms) if (f.cleaned_data or {}).get("handle")],
            "consents": [
                i for i, f in enumerate(self.consents.forms) if (f.cleaned_data or {}).get("status")
            ],
        }
        for key, messages in error.as_dict().items():
            head, _sep, rest = key.partition(".")
            if head in groups and rest:
                index, _sep, field = rest.partition(".")
                form = groups[head].forms[filled[head][int(index)]]
                for message in messages:
                    form.add_error(field if field in form.fields else None, message)
            elif head == "custom" and f"cf_{rest}" in self.form.fields:
                for message in messages:
                    self.form.add_error(f"cf_{rest}", message)
            else:
                field_name = {"referrer": "referrer_no", "addresses": None, "socials": None}.get(key, key)
                target = field_name if field_name in self.form.fields else None
                for message in messages:
                    self.form.add_error(target, message)


def _filled(formset: Any, *keys: str) -> list[dict[str, Any]]:
    return [f for f in formset.cleaned_data if any((f.get(k) or "").strip() for k in keys)]


def _custom_json(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if value is not None and type(value).__name__ == "Decimal":
        return str(value)
    return value


def _lunar_initial(customer: Customer) -> dict[str, Any]:
    if not customer.birthday or not customer.birthday_is_lunar:
        return {}
    try:
        day = lunar.lunar_from_solar(customer.birthday)
    except ValueError:
        return {}
    return {
        "birthday_lunar_year": day.year,
        "birthday_lunar_month": day.month,
        "birthday_lunar_day": day.day,
        "birthday_lunar_leap": day.leap,
    }


def _initial(customer: Customer) -> dict[str, Any]:
    custom = {f"cf_{k}": v for k, v in customer.custom.items()}
    consents = {c.channel: c for c in customer.consents.all()}
    return {
        "profile": {
            "name": customer.name,
            "gender": customer.gender,
            "birthday": customer.birthday,
            "birthday_is_lunar": customer.birthday_is_lunar,
            **_lunar_initial(customer),
            "email": customer.email,
            "customer_type": customer.customer_type,
            "stage": customer.stage,
            "source": customer.source_id,
            "referrer_no": customer.referrer.customer_no if customer.referrer else "",
            "owner": customer.owner_id,
            "tags": [t.pk for t in customer.tags.all()],
            "notes": customer.notes,
            "version": customer.version,
            **custom,
        },
        "phones": [{"number": p.number, "label": p.label} for p in customer.phones.all()],
        "addresses": [{k: getattr(a, k) for k in ADDRESS_FIELDS} for a in customer.addresses.all()],
        "socials": [
            {"kind": s.kind, "handle": s.handle, "kind_label": s.kind_label} for s in customer.socials.all()
        ],
        "consents": [
            {
                "channel": channel,
                "status": ("yes" if consents[channel].granted else "no") if channel in consents else "",
                "method": consents[channel].method if channel in consents else "",
                "evidence": consents[channel].evidence if channel in consents else "",
            }
            for channel in ConsentChannel.values
        ],
    }


class SavedViewForm(KebuForm):
    name = forms.CharField(label=_("View name"), max_length=50)
    shared = forms.BooleanField(label=_("Share with the team"), required=False)
    query = forms.CharField(max_length=2000, required=False, widget=forms.HiddenInput)


class TransferForm(KebuForm):
    to_user = forms.ModelChoiceField(
        label=_("New owner"), queryset=get_user_model().objects.none(), empty_label="—"
    )
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args: Any, customer: Customer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        users = selectors.assignable_users()
        if customer is not None and customer.owner_id is not None:
            users = users.exclude(pk=customer.owner_id)
        self.fields["to_user"].queryset = users
