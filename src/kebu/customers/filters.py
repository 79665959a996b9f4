"""The customer list's filters, shared by the HTML list, the API and (later) exports."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from kebu.core.errors import ValidationFailed
from kebu.core.lookup import phone_last4_lookup, phone_lookup, text_lookup
from kebu.core.phone import looks_like_phone_fragment, parse_phone
from kebu.core.text import fold
from kebu.customers.models import (
    Customer,
    CustomerPhone,
    CustomerType,
    CustomField,
    CustomFieldType,
    SocialAccount,
    SourceChannel,
    Stage,
    Tag,
)

# Sort keys a user may choose -> the columns behind them (each ends on id so pages never overlap).
ORDERINGS: dict[str, tuple[str, ...]] = {
    "created_at": ("created_at", "id"),
    "-created_at": ("-created_at", "-id"),
    "updated_at": ("updated_at", "id"),
    "-updated_at": ("-updated_at", "-id"),
    # Chinese names sort by their pinyin, as a merchant's address book does.
    "name": ("name_pinyin", "id"),
    "-name": ("-name_pinyin", "-id"),
    "customer_no": ("customer_no",),
    "-customer_no": ("-customer_no",),
    "stage": ("stage", "-created_at", "-id"),
    "-stage": ("-stage", "-created_at", "-id"),
    "customer_type": ("customer_type", "-created_at", "-id"),
    "-customer_type": ("-customer_type", "-created_at", "-id"),
    "city": ("city", "-created_at", "-id"),
    "-city": ("-city", "-created_at", "-id"),
    "birthday": ("birthday", "id"),
    "-birthday": ("-birthday", "-id"),
    # The columns, not the relations: ordering by "source" would join and follow SourceChannel's
    # Meta.ordering, which no index serves and no keyset cursor can seek on.
    "owner": ("owner_id", "-created_at", "-id"),
    "-owner": ("-owner_id", "-created_at", "-id"),
    "source": ("source_id", "-created_at", "-id"),
    "-source": ("-source_id", "-created_at", "-id"),
}
DEFAULT_ORDERING = "-created_at"


def customer_search(qs: QuerySet[Customer], query: str, *, by_contact: bool = True) -> QuerySet[Customer]:
    """One box across name (also pinyin and initials), phone (full or last 4), customer number,
    social IDs (WeChat and others) and email.

    ``by_contact=False`` (people who see contact details masked) leaves out the full-phone, email and
    social-ID branches: a masked ``138****5678`` hides four digits, and ten thousand searches would
    otherwise tell which number it is. The last 4 digits stay searchable: they are shown anyway.

    Each branch is its own indexed lookup of ids and the branches are UNIONed: an OR of them in one
    WHERE would make both databases give up the indexes and scan every customer (measured in bench/)."""
    query = query.encode("utf-8", "ignore").decode("utf-8")  # a lone surrogate cannot be stored or sent
    text = fold(query)[:100]
    if not text:
        return qs
    customers = Customer.objects.order_by()
    phones = CustomerPhone.objects.order_by()
    branches: list[QuerySet[Any]] = [
        customers.filter(customer_no__prefix=query.strip().upper()[:20]).values("pk")
    ]
    digits = looks_like_phone_fragment(text)
    if digits is not None:
        if len(digits) == 4:
            branches.append(phones.filter(last4_lookup=phone_last4_lookup(digits)).values("customer_id"))
        if len(digits) >= 7:
            try:
                phone = parse_phone(text)
            except ValidationFailed:
                pass
            else:
                if by_contact:
                    branches.append(
                        phones.filter(number_lookup=phone_lookup(phone.e164)).values("customer_id")
                    )
        branches.append(customers.filter(customer_no__prefix=_customer_no_guess(digits)).values("pk"))
    else:
        branches.append(customers.filter(name__prefix=query.strip()[:100]).values("pk"))
        compact = text.replace(" ", "")
        if compact.isascii():
            branches.append(customers.filter(name_pinyin__prefix=compact).values("pk"))
            branches.append(customers.filter(name_initials__prefix=compact).values("pk"))
        if by_contact:
            branches.append(customers.filter(email_lookup=text_lookup(text)).values("pk"))
    if by_contact:
        branches.append(
            SocialAccount.objects.order_by().filter(handle_lookup=text_lookup(text)).values("customer_id")
        )
    first, *rest = branches
    return qs.filter(pk__in=first.union(*rest))


def _customer_no_guess(digits: str) -> str:
    from kebu.customers.services import customer_no_format

    return customer_no_format(int(digits)) if len(digits) <= 12 else digits


class CustomerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="filter_q")
    customer_type = django_filters.MultipleChoiceFilter(
        label=_("Customer type"), choices=CustomerType.choices
    )
    stage = django_filters.MultipleChoiceFilter(label=_("Lifecycle stage"), choices=Stage.choices)
    source = django_filters.ModelMultipleChoiceFilter(
        label=_("Source channel"), queryset=SourceChannel.objects.all()
    )
    tag = django_filters.ModelMultipleChoiceFilter(
        label=_("Tag"),
        field_name="tags",
        queryset=Tag.objects.all(),
        conjoined=False,
        distinct=False,
        method="filter_tag",
    )
    owner = django_filters.ModelChoiceFilter(
        label=_("Owner"), queryset=get_user_model().objects.all(), null_label=_("No owner")
    )
    province = django_filters.CharFilter(label=_("Province"))
    city = django_filters.CharFilter(label=_("City"))
    created_after = django_filters.DateFilter(
        label=_("Created from"),
        field_name="created_at",
        lookup_expr="date__gte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    created_before = django_filters.DateFilter(
        label=_("Created until"),
        field_name="created_at",
        lookup_expr="date__lte",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    archived = django_filters.BooleanFilter(label=_("Archived"), method="filter_archived")
    sort = django_filters.ChoiceFilter(
        label=_("Sort"), choices=[(k, k) for k in ORDERINGS], method="filter_sort"
    )

    class Meta:
        model = Customer
        fields: list[str] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.custom_fields = list(CustomField.objects.filter(is_active=True))
        for definition in self.custom_fields:
            self.filters[f"cf_{definition.key}"] = _custom_filter(definition)

    def filter_q(self, qs: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        return customer_search(qs, value, by_contact=getattr(self, "search_by_contact", True))

    def filter_tag(self, qs: QuerySet[Customer], name: str, value: Any) -> QuerySet[Customer]:
        if not value:
            return qs
        # EXISTS, not a join (a customer with two chosen tags must appear once) and not IN (which
        # SQLite answers by walking every active customer; EXISTS lets it start from the other filters).
        through = Customer.tags.through
        return qs.filter(Exists(through.objects.filter(customer_id=OuterRef("pk"), tag__in=value)))

    def filter_archived(self, qs: QuerySet[Customer], name: str, value: bool | None) -> QuerySet[Customer]:
        return qs  # applied in filter_queryset: active-only is the default, not an extra filter

    def filter_sort(self, qs: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        return qs

    def filter_queryset(self, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        archived = self.form.cleaned_data.get("archived")
        queryset = queryset.archived() if archived else queryset.active()
        queryset = super().filter_queryset(queryset)
        sort = self.form.cleaned_data.get("sort") or DEFAULT_ORDERING
        return queryset.order_by(*ORDERINGS[sort])


def _custom_filter(definition: CustomField) -> django_filters.Filter:
    path = f"custom__{definition.key}"
    kind = definition.field_type
    if kind in (CustomFieldType.CHOICE,):
        return django_filters.ChoiceFilter(
            label=definition.label, field_name=path, choices=[(c, c) for c in definition.choices]
        )
    if kind == CustomFieldType.MULTI:
        return django_filters.ChoiceFilter(
            label=definition.label,
            field_name=path,
            choices=[(c, c) for c in definition.choices],
            method=lambda qs, name, value: _custom_multi_has(qs, path, value),
        )
    if kind == CustomFieldType.BOOL:
        return django_filters.BooleanFilter(label=definition.label, field_name=path)
    if kind == CustomFieldType.NUMBER:
        return django_filters.NumberFilter(
            label=definition.label,
            field_name=path,
            method=lambda qs, name, value: _custom_number_is(qs, path, value),
        )
    if kind == CustomFieldType.DATE:
        return django_filters.CharFilter(label=definition.label, field_name=path)
    return django_filters.CharFilter(label=definition.label, field_name=path, lookup_expr="icontains")


def _custom_multi_has(qs: QuerySet[Customer], path: str, value: str) -> QuerySet[Customer]:
    """Customers whose list at ``path`` holds ``value``. Django stores JSON with ``\\uXXXX`` escapes, which
    SQLite keeps in the text and PostgreSQL's jsonb decodes, so either spelling of ``"酒"`` matches."""
    if not value:
        return qs
    escaped, plain = json.dumps(value), json.dumps(value, ensure_ascii=False)
    return qs.filter(Q(**{f"{path}__icontains": escaped}) | Q(**{f"{path}__icontains": plain}))


def _custom_number_is(qs: QuerySet[Customer], path: str, value: Decimal | None) -> QuerySet[Customer]:
    """Equality with a stored JSON number. JSON cannot carry a Decimal, so compare as the services store
    it (an int when whole, else a float); a number beyond what they accept matches nothing."""
    from kebu.customers.services import CUSTOM_NUMBER_LIMIT

    if value is None:
        return qs
    if not value.is_finite() or value.copy_abs() >= CUSTOM_NUMBER_LIMIT:
        return qs.none()
    number = int(value) if value == value.to_integral_value() else float(value)
    return qs.filter(**{path: number})
