"""The customer list's filters, shared by the HTML list, the API and (later) exports."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kebu.core.errors import ValidationFailed
from kebu.core.lookup import phone_last4_lookup, phone_lookup, text_lookup
from kebu.core.phone import looks_like_phone_fragment, parse_phone
from kebu.core.text import fold, pinyin_keys
from kebu.customers.models import (
    Customer,
    CustomerPhone,
    CustomerQuerySet,
    CustomerType,
    CustomField,
    CustomFieldType,
    SocialAccount,
    SourceChannel,
    Stage,
    Tag,
    custom_yes_no,
)
from kebu.orders.models import Category

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
    # The purchase figures (kebu.orders.services.metrics), each served by its partial index (column, id).
    "total_spent_cny": ("total_spent_cny", "id"),
    "-total_spent_cny": ("-total_spent_cny", "-id"),
    "order_count": ("order_count", "id"),
    "-order_count": ("-order_count", "-id"),
    "avg_order_cny": ("avg_order_cny", "id"),
    "-avg_order_cny": ("-avg_order_cny", "-id"),
    "first_order_at": ("first_order_at", "id"),
    "-first_order_at": ("-first_order_at", "-id"),
    "last_order_at": ("last_order_at", "id"),
    "-last_order_at": ("-last_order_at", "-id"),
    "purchase_interval_days": ("purchase_interval_days", "id"),
    "-purchase_interval_days": ("-purchase_interval_days", "-id"),
    "refund_rate": ("refund_rate", "id"),
    "-refund_rate": ("-refund_rate", "-id"),
    "refund_count": ("refund_count", "id"),
    "-refund_count": ("-refund_count", "-id"),
    # By the category's name, in pinyin: read a category at a time (``sort_segments``), never joined.
    "top_category": ("top_category_id", "id"),
    "-top_category": ("-top_category_id", "-id"),
    "receivable_cny": ("receivable_cny", "id"),
    "-receivable_cny": ("-receivable_cny", "-id"),
}
DEFAULT_ORDERING = "-created_at"
FIGURE_SORTS = frozenset(
    key
    for key, columns in ORDERINGS.items()
    if columns[0].lstrip("-")
    in {
        "total_spent_cny",
        "order_count",
        "avg_order_cny",
        "first_order_at",
        "last_order_at",
        "purchase_interval_days",
        "refund_rate",
        "refund_count",
        "top_category_id",
        "receivable_cny",
    }
)


# --- empty values last ------------------------------------------------------------------------------------
#
# A customer without a value in the sorted column (no birthday, no owner, never ordered so no last order,
# owing nothing) goes after every customer with one, whichever way the column is sorted: sorting by last
# order, newest first, must not open on ten thousand leads who never bought. NULL placement differs
# between the databases (SQLite puts NULLs first going up, PostgreSQL last), so it is written out.
#
# Written as one ORDER BY (… NULLS LAST) PostgreSQL cannot walk its (column, id) index downwards, and
# sorts every active customer for one page (75 ms at 300k rows, measured). So the lists read a sort as
# segments, each served by its index: first the customers with a value, in the column's order, then the
# empty ones by id. The HTML pages and the API cursor both walk the segments; ``sort_expressions`` is
# the same order as one ORDER BY, for whoever reads the whole list (exports).


@dataclass(frozen=True)
class SortSegment:
    """One stretch of a sort: the customers matching ``condition``, in ``ordering`` (ends on id).
    ``tag`` names what the stretch holds where its ordering alone does not (which category), so that an
    API cursor made before the stretches changed is refused rather than read in the wrong one."""

    condition: Q
    ordering: tuple[str, ...]
    tag: str = ""


def _empty(column: str) -> Q | None:
    """The condition for "no value" in ``column``, or None when every customer has one."""
    if column == "receivable_cny":
        # Owing nothing is the empty value of what is owed (never below 0: the sum of what is still
        # outstanding on orders). The owing ones are few and have their partial index (> 0).
        return ~Q(receivable_cny__gt=0)
    if Customer._meta.get_field(column).null:
        return Q(**{f"{column}__isnull": True})
    return None


def sort_segments(sort: str) -> list[SortSegment]:
    """The segments of ``sort`` (a key of ORDERINGS), in the order a list walks them."""
    ordering = ORDERINGS[sort]
    column = ordering[0].lstrip("-")
    empty = _empty(column)
    if empty is None:
        return [SortSegment(Q(), ordering)]
    if column == "top_category_id":
        return [*_top_category_segments(ordering), SortSegment(empty, ordering[1:])]
    # Empty ones follow the tie-breaker of the sort; they are all equal in the sorted column.
    return [SortSegment(~empty, ordering), SortSegment(empty, ordering[1:])]


def _top_category_segments(ordering: tuple[str, ...]) -> list[SortSegment]:
    """The customers with a top category, by the category's name as the column shows it, in pinyin
    (茶叶 before 护肤), as names sort: one segment per top-level category, each read from
    cust_top_category like any other sort, so a page reads only its own rows and joins nothing. A shop
    has a handful of top-level categories; they are read and put in order here, once per list."""
    roots = sorted(
        Category.objects.filter(parent__isnull=True).values_list("pk", "name"),
        key=lambda root: (pinyin_keys(root[1])[0], root[1], root[0]),
    )
    descending = ordering[0].startswith("-")
    if descending:
        roots.reverse()
    segments = [SortSegment(Q(top_category_id=pk), ordering, tag=f"top_category={pk}") for pk, _name in roots]
    # A top category is always top-level (the order services record each line's root); should one not
    # be, its customers still come, after the named ones, rather than drop out of the list. Asked range
    # by range between the top-level ids, each an index seek that finds nothing at once (one NOT IN
    # read every customer with a category: 50 ms at 100k).
    bounds = sorted(pk for pk, _name in roots)
    strays = [
        SortSegment(condition, ordering, tag=f"top_category={low or ''}..{high or ''}")
        for low, high in zip([None, *bounds], [*bounds, None], strict=True)
        if (condition := _between(low, high)) is not None
    ]
    if descending:
        strays.reverse()
    return [*segments, *strays]


def _between(low: int | None, high: int | None) -> Q | None:
    """Top categories strictly between two ids (either end open); None when no id can be."""
    if low is None and high is None:
        return Q(top_category_id__isnull=False)
    if low is None:
        return Q(top_category_id__lt=high)
    if high is None:
        return Q(top_category_id__gt=low)
    return Q(top_category_id__gt=low, top_category_id__lt=high) if high - low > 1 else None


def sort_expressions(sort: str) -> list[Any]:
    """``sort`` as one ORDER BY: the segments' order, empty values last on both databases."""
    ordering = ORDERINGS[sort]
    segments = sort_segments(sort)
    if len(segments) == 1:
        return list(ordering)
    first = ordering[0]
    column = first.lstrip("-")
    if len(segments) > 2:
        # One segment after another (the top categories by name), each in its own order.
        rank = Case(
            *(When(segment.condition, then=Value(i)) for i, segment in enumerate(segments)),
            default=Value(len(segments)),
        )
        return [rank, *ordering]
    if Customer._meta.get_field(column).null:
        # NULLS LAST, which SQLite still serves from the index in either direction.
        last = F(column).desc(nulls_last=True) if first.startswith("-") else F(column).asc(nulls_last=True)
        return [last, *ordering[1:]]
    return [Case(When(segments[0].condition, then=Value(0)), default=Value(1)), *ordering]


# --- purchase filters -------------------------------------------------------------------------------------

MONEY_FIELD = {"min_value": 0, "max_digits": 14, "decimal_places": 2}
# Dates before 1900 or at the end of the calendar cannot be turned into a moment in the shop's time zone
# and back to UTC without overflowing; nobody needs them to filter orders.
DATE_FIELD = {
    "widget": forms.DateInput(attrs={"type": "date"}),
    "validators": [MinValueValidator(date(1900, 1, 1)), MaxValueValidator(date(9998, 12, 31))],
}
YES_NO = [("true", _("Yes")), ("false", _("No"))]

# Each (minimum, maximum) pair of the purchase filters: a minimum above its maximum is a mistake to show.
RANGE_PAIRS = [
    ("spent_min", "spent_max"),
    ("orders_min", "orders_max"),
    ("avg_order_min", "avg_order_max"),
    ("last_order_after", "last_order_before"),
    ("first_order_after", "first_order_before"),
    ("days_since_last_order_min", "days_since_last_order_max"),
    ("interval_min", "interval_max"),
    ("refund_count_min", "refund_count_max"),
    ("refund_rate_pct_min", "refund_rate_pct_max"),
    ("owed_min", "owed_max"),
]
FIGURE_FILTERS = (
    "spent_min",
    "spent_max",
    "orders_min",
    "orders_max",
    "avg_order_min",
    "avg_order_max",
    "last_order_after",
    "last_order_before",
    "days_since_last_order_min",
    "days_since_last_order_max",
    "never_ordered",
    "first_order_after",
    "first_order_before",
    "interval_min",
    "interval_max",
    "refund_count_min",
    "refund_count_max",
    "refund_rate_pct_min",
    "refund_rate_pct_max",
    "top_category",
    "owes",
    "owed_min",
    "owed_max",
)


def shop_midnight(day: date) -> datetime:
    """The moment ``day`` begins in the shop's time zone (settings.TIME_ZONE)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def shop_today() -> date:
    return timezone.localdate(timezone=timezone.get_default_timezone())


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


def count_range(field_name: str, low: Any, high: Any) -> tuple[IntegerFilter, IntegerFilter]:
    """A figure that counts (orders, refunded orders) as a minimum and a maximum filter, each a whole
    number a database integer holds; labelled ``low`` and ``high``."""
    bounds = {"field_name": field_name, "min_value": 0, "max_value": 2**31 - 1}
    return (
        IntegerFilter(label=low, lookup_expr="gte", **bounds),
        IntegerFilter(label=high, lookup_expr="lte", **bounds),
    )


class CustomerFilterForm(forms.Form):
    """The filters' form: checks each range's ends against each other, and that someone who may not see
    orders does not filter or sort by what customers bought."""

    figures_allowed = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for low, high in RANGE_PAIRS:
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, _("This is below the minimum (%(low)s).") % {"low": data[low]})
        if not self.figures_allowed:
            refused = _("Your role may not see customers' purchases.")
            for name in FIGURE_FILTERS:
                if data.get(name) not in (None, ""):
                    self.add_error(name, refused)
            if data.get("sort") in FIGURE_SORTS:
                self.add_error("sort", refused)
        return data


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

    # Purchases (消费): the figures kept on each customer, so each filter is one indexed comparison.
    spent_min = django_filters.NumberFilter(
        label=_("Spent at least (¥)"), field_name="total_spent_cny", lookup_expr="gte", **MONEY_FIELD
    )
    spent_max = django_filters.NumberFilter(
        label=_("Spent at most (¥)"), field_name="total_spent_cny", lookup_expr="lte", **MONEY_FIELD
    )
    orders_min, orders_max = count_range("order_count", _("At least N orders"), _("At most N orders"))
    avg_order_min = django_filters.NumberFilter(
        label=_("Average order at least (¥)"), field_name="avg_order_cny", lookup_expr="gte", **MONEY_FIELD
    )
    avg_order_max = django_filters.NumberFilter(
        label=_("Average order at most (¥)"), field_name="avg_order_cny", lookup_expr="lte", **MONEY_FIELD
    )
    last_order_after = django_filters.DateFilter(
        label=_("Last order from"), field_name="last_order_at", method="filter_from", **DATE_FIELD
    )
    last_order_before = django_filters.DateFilter(
        label=_("Last order until"), field_name="last_order_at", method="filter_until", **DATE_FIELD
    )
    days_since_last_order_min = IntegerFilter(
        label=_("No order for at least N days"),
        method="filter_days_since_last_order_min",
        min_value=0,
        max_value=36500,
        help_text=_("Customers who never ordered are not included: choose “Never ordered” for them."),
    )
    days_since_last_order_max = IntegerFilter(
        label=_("Ordered in the last N days"),
        method="filter_days_since_last_order_max",
        min_value=0,
        max_value=36500,
    )
    never_ordered = django_filters.ChoiceFilter(
        label=_("Never ordered"), choices=YES_NO, method="filter_never_ordered"
    )
    first_order_after = django_filters.DateFilter(
        label=_("First order from"), field_name="first_order_at", method="filter_from", **DATE_FIELD
    )
    first_order_before = django_filters.DateFilter(
        label=_("First order until"), field_name="first_order_at", method="filter_until", **DATE_FIELD
    )
    interval_min = django_filters.NumberFilter(
        label=_("Days between orders at least"),
        field_name="purchase_interval_days",
        lookup_expr="gte",
        min_value=0,
        max_digits=7,
        decimal_places=1,
        help_text=_("The average over a customer's orders; customers with one order have none."),
    )
    interval_max = django_filters.NumberFilter(
        label=_("Days between orders at most"),
        field_name="purchase_interval_days",
        lookup_expr="lte",
        min_value=0,
        max_digits=7,
        decimal_places=1,
    )
    refund_count_min, refund_count_max = count_range(
        "refund_count", _("At least N refunded orders"), _("At most N refunded orders")
    )
    refund_rate_pct_min = django_filters.NumberFilter(
        label=_("Refund rate at least (%)"),
        method="filter_refund_rate_pct",
        lookup_expr="gte",
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
    )
    refund_rate_pct_max = django_filters.NumberFilter(
        label=_("Refund rate at most (%)"),
        method="filter_refund_rate_pct",
        lookup_expr="lte",
        min_value=0,
        max_value=100,
        max_digits=5,
        decimal_places=2,
    )
    top_category = django_filters.ModelChoiceFilter(
        label=_("Top category"),
        queryset=Category.objects.filter(parent__isnull=True),
        help_text=_("The top-level category a customer spent most on."),
    )
    owes = django_filters.ChoiceFilter(label=_("Owes money"), choices=YES_NO, method="filter_owes")
    owed_min = django_filters.NumberFilter(
        label=_("Owes at least (¥)"), method="filter_owed", lookup_expr="gte", **MONEY_FIELD
    )
    owed_max = django_filters.NumberFilter(
        label=_("Owes at most (¥)"), method="filter_owed", lookup_expr="lte", **MONEY_FIELD
    )

    class Meta:
        model = Customer
        fields: list[str] = []
        form = CustomerFilterForm

    figures_allowed = True

    @property
    def form(self) -> CustomerFilterForm:
        form = super().form
        form.figures_allowed = self.figures_allowed
        return form

    @property
    def sort_key(self) -> str:
        """The sort in force: the one chosen if valid, else the default."""
        cleaned = getattr(self.form, "cleaned_data", None) or {}
        return cleaned.get("sort") or DEFAULT_ORDERING

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

    # Dates are whole days in the shop's time zone, compared as moments (never ``__date``), so that the
    # column's index serves them.
    def filter_from(self, qs: QuerySet[Customer], name: str, value: date | None) -> QuerySet[Customer]:
        return qs if value is None else qs.filter(**{f"{name}__gte": shop_midnight(value)})

    def filter_until(self, qs: QuerySet[Customer], name: str, value: date | None) -> QuerySet[Customer]:
        if value is None:
            return qs
        return qs.filter(**{f"{name}__lt": shop_midnight(value + timedelta(days=1))})

    def filter_days_since_last_order_min(
        self, qs: QuerySet[Customer], name: str, value: int | None
    ) -> QuerySet[Customer]:
        """Customers who ordered, but not in the last ``value`` days: whole days in the shop's time zone,
        as the list shows "days since last order" (last ordered 3 October: 90 days on 1 January, at any
        hour). Customers who never ordered have no last order and are left out: "never ordered" is its
        own filter, and a different campaign."""
        if value is None:
            return qs
        cutoff = shop_today() - timedelta(days=value) + timedelta(days=1)
        return qs.filter(last_order_at__lt=shop_midnight(cutoff))

    def filter_days_since_last_order_max(
        self, qs: QuerySet[Customer], name: str, value: int | None
    ) -> QuerySet[Customer]:
        """Customers whose last order is at most ``value`` whole days ago (0: today), counted as
        ``filter_days_since_last_order_min`` counts them, so the two split the customers who ordered."""
        if value is None:
            return qs
        cutoff = shop_today() - timedelta(days=value)
        return qs.filter(last_order_at__gte=shop_midnight(cutoff))

    def filter_never_ordered(self, qs: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        if value == "true":
            return qs.filter(order_count=0)
        if value == "false":
            return qs.filter(order_count__gt=0)
        return qs

    def filter_refund_rate_pct(
        self, qs: QuerySet[Customer], name: str, value: Decimal | None
    ) -> QuerySet[Customer]:
        """The rate is kept as a fraction (0.2000); the filter is in percent (20), as the list shows it.
        Customers who never ordered have no rate and match neither end."""
        lookup = self.filters[name].lookup_expr
        return qs if value is None else qs.filter(**{f"refund_rate__{lookup}": value / 100})

    def filter_owes(self, qs: QuerySet[Customer], name: str, value: str) -> QuerySet[Customer]:
        if value == "true":
            return qs.filter(receivable_cny__gt=0)
        if value == "false":
            return qs.exclude(receivable_cny__gt=0)
        return qs

    def filter_owed(self, qs: QuerySet[Customer], name: str, value: Decimal | None) -> QuerySet[Customer]:
        if value is None:
            return qs
        lookup = self.filters[name].lookup_expr
        owed = qs.filter(**{f"receivable_cny__{lookup}": value})
        # With "> 0" stated, a minimum reads the partial index of those who owe (cust_receivable).
        return owed.filter(receivable_cny__gt=0) if lookup == "gte" and value > 0 else owed

    def filter_queryset(self, queryset: QuerySet[Customer]) -> QuerySet[Customer]:
        archived = self.form.cleaned_data.get("archived")
        customers = cast(CustomerQuerySet, queryset)
        queryset = customers.archived() if archived else customers.active()
        queryset = super().filter_queryset(queryset)
        return queryset.order_by(*sort_expressions(self.sort_key))


class YesNoField(forms.Field):
    """A yes/no filter's value as a merchant writes it in a link (1/0, yes/no, 是/否, true/false): another
    value is the filter's error, not a filter left out, which would list everybody."""

    default_error_messages = {"invalid": _("Write yes or no (是 or 否, 1 or 0).")}

    def to_python(self, value: Any) -> bool | None:
        if value in self.empty_values:
            return None
        if (answer := custom_yes_no(value)) is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return answer


class YesNoFilter(django_filters.BooleanFilter):
    field_class = YesNoField


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
        return YesNoFilter(label=definition.label, field_name=path)
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
