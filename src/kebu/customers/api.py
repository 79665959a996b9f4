"""REST API for customers, tags and source channels (`/api/v1/`).

Thin by design: serializers check the shape of the input (types, choices, lengths that fit the
columns, ids that exist and may be seen); every rule, write and event lives in `services`; every
read goes through `selectors`, so record visibility is enforced in one place. Domain errors become
HTTP answers in `kebu.core.api.exception_handler`; serializer errors are turned into the same
domain error here, so a client sees one error shape everywhere: `{"<dotted.field.path>": [...],
"code": "invalid" | "duplicate" | "conflict" | "not_found"}`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import F, Q, QuerySet
from django.db.models.deletion import ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.pagination import CursorPagination
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.utils.urls import replace_query_param

from kebu.core.api import expected_version
from kebu.core.errors import Forbidden, ValidationFailed
from kebu.core.errors import NotFound as CustomerNotFound
from kebu.customers import access, privacy
from kebu.customers.filters import DEFAULT_ORDERING, ORDERINGS, sort_segments
from kebu.customers.models import (
    ConsentChannel,
    ConsentMethod,
    Customer,
    CustomerPhone,
    CustomerType,
    Gender,
    SocialKind,
    SourceChannel,
    Stage,
    Tag,
)
from kebu.customers.selectors import (
    assignable_users,
    customer_get_for_actor,
    customer_list,
    customer_visible_queryset,
    purchases_visible,
)
from kebu.customers.services import (
    PROFILE_FIELDS,
    AddressInput,
    ConsentInput,
    CustomerInput,
    PhoneInput,
    SocialInput,
    customer_archive,
    customer_claim,
    customer_create,
    customer_input_from,
    customer_release,
    customer_restore,
    customer_transfer,
    customer_update,
)

IDEMPOTENCY_KEY_MAX_LENGTH = 80  # core.IdempotencyKey.key


# --- request parsing ---------------------------------------------------------------------------------


class SafeJSONParser(JSONParser):
    """JSON whose deep nesting answers 400: `json` raises `RecursionError`, not `ValueError`, on
    `[[[[…]]]]`, and DRF would turn that into a 500. (The body's size is bounded already: DRF reads
    JSON through `request.body`, which enforces `DATA_UPLOAD_MAX_MEMORY_SIZE`.)"""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("The JSON is nested too deeply.")) from exc


def _flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error structure as the services' dotted paths: `phones.0.number`."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            if item:
                flat.update(_flatten_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def _validated(serializer: serializers.Serializer) -> dict[str, Any]:
    if not serializer.is_valid():
        raise ValidationFailed(
            _("Please correct the errors below."), field_errors=_flatten_errors(serializer.errors)
        )
    return dict(serializer.validated_data)


# --- pagination --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _SortKey:
    column: str  # a concrete column of the model (attname, e.g. `owner_id`)
    descending: bool
    nullable: bool

    @property
    def signature(self) -> str:
        return f"-{self.column}" if self.descending else self.column


@dataclasses.dataclass(frozen=True)
class _Segment:
    """The rows matching `condition`, in the order of `keys`; a page walks segments one after another."""

    condition: Q
    keys: tuple[_SortKey, ...]
    tag: str = ""  # what the segment holds, where its keys do not say (``filters.SortSegment.tag``)


def page_size_asked(request: Request, *, default: int, maximum: int) -> int:
    """The ``page_size`` asked for, at most ``maximum`` (as documented); ``default`` when it is left out
    or blank. Anything else that is not a whole number of at least 1 (``0``, ``-5``, ``abc``, ``2.5``) is
    refused with 400: DRF would quietly answer a default page, and a client that meant "all" or mistyped a
    variable would take a short page for the whole list. Every list of the API reads it so."""
    raw = request.query_params.get("page_size", "").strip()
    if not raw:
        return default
    # ASCII digits only: int() also takes "5_0", "+5" and "٥".
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < 1:
        message = _(
            "page_size must be a whole number from 1 to %(max)d (leave it out for %(default)d a page)."
        )
        limits = {"max": maximum, "default": default}
        raise ValidationFailed(field_errors={"page_size": [message % limits]})
    return min(int(raw), maximum)


class KeysetCursorPagination(CursorPagination):
    """Cursor (keyset) pagination that follows the queryset's own multi-column `order_by`.

    DRF's `CursorPagination` positions on the first ordering column only, breaks ties by an
    offset, and cannot place NULLs (a birthday sort) or a foreign key. This one keeps the whole
    ordering and encodes the sort values of the page's boundary row; the next page is the rows
    strictly after that tuple, so pages neither overlap nor skip rows while others write. NULLs go
    last in both directions, written out so SQLite and PostgreSQL agree. An ordering that is not
    made of the model's own columns falls back to `ordering`. The cursor records the ordering it
    was made for, so a cursor from one sort is refused under another.

    A subclass may split the order into segments (`_segments`), read one after the other, each in its
    own index order: the customer list reads the rows with a value in the sorted column, then those
    without, because PostgreSQL cannot walk an index for `… DESC NULLS LAST`. The cursor names its
    segment."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering: tuple[str, ...] = ("-id",)

    def get_page_size(self, request: Request) -> int:
        return page_size_asked(request, default=type(self).page_size, maximum=self.max_page_size)

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        self.model = queryset.model
        self.segments = self._segments(queryset, view)
        cursor = self.decode_cursor(request)
        reverse_direction, start, values = cursor if cursor else (False, 0, None)

        want = self.page_size + 1
        indexes = range(start, -1, -1) if reverse_direction else range(start, len(self.segments))
        rows: list[tuple[int, Any]] = []
        for index in indexes:
            segment = self.segments[index]
            part = queryset.filter(segment.condition).order_by(
                *(self._order_expression(key, reverse_direction) for key in segment.keys)
            )
            if values is not None and index == start:
                part = part.filter(self._after(segment.keys, values, reverse_direction))
            rows.extend((index, row) for row in part[: want - len(rows)])
            if len(rows) >= want:
                break
        page = rows[: self.page_size]
        has_more = len(rows) > self.page_size
        if reverse_direction:
            page.reverse()
            self.has_next, self.has_previous = True, has_more
        else:
            self.has_next, self.has_previous = has_more, values is not None
        self.page_rows = page
        self.page = [row for _index, row in page]
        self.display_page_controls = self.has_next or self.has_previous
        return self.page

    # The ordering ---------------------------------------------------------------------------------

    def _segments(self, queryset: QuerySet[Any], view: Any) -> list[_Segment]:
        return [_Segment(condition=Q(), keys=tuple(self._sort_keys(queryset)))]

    def _sort_keys(self, queryset: QuerySet[Any]) -> list[_SortKey]:
        model = queryset.model
        order_by = list(queryset.query.order_by)
        if not order_by and queryset.query.default_ordering:
            order_by = list(model._meta.ordering)
        keys = self._resolve(model, order_by) or self._resolve(model, list(self.ordering))
        if keys is None:
            raise ValueError(f"{type(self).__name__}.ordering does not name columns of {model.__name__}")
        return self._unique(model, keys)

    @staticmethod
    def _unique(model: type[models.Model], keys: list[_SortKey]) -> list[_SortKey]:
        """`keys`, ending on a unique column (id if they do not)."""
        last = model._meta.get_field(keys[-1].column)
        if not (isinstance(last, models.Field) and (last.primary_key or last.unique)):
            keys.append(_SortKey(column="id", descending=keys[-1].descending, nullable=False))
        return keys

    @staticmethod
    def _resolve(model: type[models.Model], order_by: list[Any]) -> list[_SortKey] | None:
        keys = []
        for item in order_by:
            if not isinstance(item, str) or "__" in item or item.lstrip("-") in ("", "?"):
                return None
            name = item.lstrip("-")
            try:
                field = model._meta.get_field("id" if name == "pk" else name)
            except FieldDoesNotExist:
                return None
            if not isinstance(field, models.Field) or not field.concrete:
                return None
            # A relation ordered by its name follows the related model's Meta.ordering (a join);
            # only its own column (`owner_id`) is a key we can seek on.
            if field.is_relation and name != field.attname:
                return None
            keys.append(_SortKey(column=field.attname, descending=item.startswith("-"), nullable=field.null))
        return keys or None

    @staticmethod
    def _order_expression(key: _SortKey, reverse_direction: bool) -> Any:
        expression = F(key.column)
        descending = key.descending != reverse_direction
        if not key.nullable:
            return expression.desc() if descending else expression.asc()
        # NULLs last when walking forward, hence first when walking backward.
        nulls = {"nulls_first": True} if reverse_direction else {"nulls_last": True}
        return expression.desc(**nulls) if descending else expression.asc(**nulls)

    def _after(self, keys: tuple[_SortKey, ...], values: list[Any], reverse_direction: bool) -> Q:
        """Rows strictly after the row whose sort values are `values`, in the walking order."""
        condition: Q | None = None
        equal_so_far = Q()
        for key, value in zip(keys, values, strict=True):
            after = self._strictly_after(key, value, reverse_direction)
            if after is not None:
                term = equal_so_far & after
                condition = term if condition is None else condition | term
            equal_so_far &= (
                Q(**{f"{key.column}__isnull": True}) if value is None else Q(**{key.column: value})
            )
        return condition if condition is not None else Q(pk__in=[])

    @staticmethod
    def _strictly_after(key: _SortKey, value: Any, reverse_direction: bool) -> Q | None:
        nulls_last = not reverse_direction
        if value is None:
            return None if nulls_last else Q(**{f"{key.column}__isnull": False})
        descending = key.descending != reverse_direction
        condition = Q(**{f"{key.column}__{'lt' if descending else 'gt'}": value})
        if key.nullable and nulls_last:
            condition |= Q(**{f"{key.column}__isnull": True})
        return condition

    # The cursor -----------------------------------------------------------------------------------

    def _signature(self) -> list[list[str]]:
        return [
            [key.signature for key in segment.keys] + ([segment.tag] if segment.tag else [])
            for segment in self.segments
        ]

    def decode_cursor(self, request: Request) -> tuple[bool, int, list[Any]] | None:  # type: ignore[override]
        encoded = request.query_params.get(self.cursor_query_param)
        if encoded is None:
            return None
        try:
            padded = encoded + "=" * (-len(encoded) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            index = payload["s"]
            if payload["o"] != self._signature() or type(index) is not int:
                raise ValueError
            if not 0 <= index < len(self.segments):
                raise ValueError
            keys = self.segments[index].keys
            if len(payload["v"]) != len(keys):
                raise ValueError
            # A forged cursor must not reach the database with a number no column can hold.
            if any(isinstance(raw, int) and not -(2**63) <= raw < 2**63 for raw in payload["v"]):
                raise ValueError
            values = [
                None if raw is None else self.model._meta.get_field(key.column).to_python(raw)
                for key, raw in zip(keys, payload["v"], strict=True)
            ]
            return bool(payload["r"]), index, values
        except (
            ValueError,
            TypeError,
            KeyError,
            AttributeError,
            binascii.Error,
            DjangoValidationError,
        ) as exc:
            # 404, as DRF answers, but with its own code and what to do: a client that met the shared
            # "not_found" could not tell a stale or foreign page link from a list that is gone.
            raise NotFound(
                _("This page link is out of date or was made for another sort: start again from page one."),
                code="invalid_cursor",
            ) from exc

    def _encode(self, index: int, row: Any, *, reverse_direction: bool) -> str:
        values = [self._json_value(getattr(row, key.column)) for key in self.segments[index].keys]
        payload = json.dumps(
            {"o": self._signature(), "r": int(reverse_direction), "s": index, "v": values},
            separators=(",", ":"),
        )
        token = base64.urlsafe_b64encode(payload.encode("utf-8")).decode("ascii").rstrip("=")
        return replace_query_param(str(self.base_url), self.cursor_query_param, token)

    @staticmethod
    def _json_value(value: Any) -> Any:
        if isinstance(value, datetime | date):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return value

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page_rows:
            return None
        return self._encode(*self.page_rows[-1], reverse_direction=False)

    def get_previous_link(self) -> str | None:
        if not self.has_previous or not self.page_rows:
            return None
        return self._encode(*self.page_rows[0], reverse_direction=True)


class CustomerCursorPagination(KeysetCursorPagination):
    """Customers follow the list's `sort` (the view names it); newest first when none is chosen. Its
    segments are the list's own (`filters.sort_segments`): customers with a value in the sorted column,
    then those without, each read from its index."""

    ordering = ORDERINGS[DEFAULT_ORDERING]

    def _segments(self, queryset: QuerySet[Any], view: Any) -> list[_Segment]:
        sort = getattr(view, "customer_sort", None) or DEFAULT_ORDERING
        split = sort_segments(sort)
        segments = []
        for index, segment in enumerate(split):
            keys = self._resolve(self.model, list(segment.ordering))
            if keys is None:
                raise ValueError(f"sort {sort!r} does not name columns of {self.model.__name__}")
            if len(split) > 1 and index < len(split) - 1:
                # Every segment but the last holds only rows with a value in the sorted column.
                keys[0] = dataclasses.replace(keys[0], nullable=False)
            segments.append(
                _Segment(
                    condition=segment.condition,
                    keys=tuple(self._unique(self.model, keys)),
                    tag=segment.tag,
                )
            )
        return segments


# --- serializers -------------------------------------------------------------------------------------


class ContactField(serializers.CharField):
    """A contact detail: answered in full to someone with ``customers.view_contact``, masked to anyone
    else (kebu.customers.privacy). Input is taken as it comes; only the answer is masked."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> str:
        context = self.context
        policy = context.get("contact_policy")
        if policy is None:
            request = context.get("request")
            policy = privacy.contact_policy(getattr(request, "user", None))
            if isinstance(context, dict):
                context["contact_policy"] = policy
        return policy.show(self.kind, super().to_representation(value))


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color"]


class SourceChannelSerializer(serializers.ModelSerializer):
    class Meta:
        model = SourceChannel
        fields = ["id", "name", "position", "is_active"]


class PhoneSerializer(serializers.Serializer):
    number = ContactField(
        privacy.PHONE,
        max_length=64,
        allow_blank=True,
        help_text=gettext_lazy("As typed: +86, spaces, dashes, full-width digits. Answered in E.164."),
    )
    label = serializers.ChoiceField(  # type: ignore[assignment]  # a field named like Field.label
        choices=CustomerPhone.Label.choices, default=CustomerPhone.Label.MOBILE
    )


class AddressSerializer(serializers.Serializer):
    province = serializers.CharField(max_length=30, allow_blank=True)
    city = serializers.CharField(max_length=30, allow_blank=True, default="")
    district = serializers.CharField(max_length=30, allow_blank=True, default="")
    detail = ContactField(
        privacy.ADDRESS,
        max_length=200,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("The street; blank or left out for a region alone (the province at least)."),
    )
    receiver = serializers.CharField(max_length=50, allow_blank=True, default="")
    receiver_phone = ContactField(privacy.PHONE, max_length=64, allow_blank=True, default="")
    is_default = serializers.BooleanField(default=False)


class SocialSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SocialKind.choices)
    handle = ContactField(privacy.SOCIAL, max_length=100, allow_blank=True)
    kind_label = serializers.CharField(
        max_length=30, allow_blank=True, default="", help_text=gettext_lazy("The account type, for “other”.")
    )


class ConsentSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    granted = serializers.BooleanField()
    method = serializers.ChoiceField(choices=ConsentMethod.choices)
    evidence = ContactField(privacy.TEXT, max_length=200, allow_blank=True, default="")
    recorded_at = serializers.DateTimeField(read_only=True)


@extend_schema_field(OpenApiTypes.INT)
class VisibleCustomerField(serializers.PrimaryKeyRelatedField):
    """A customer id the requesting user may see; any other id reads as "does not exist"."""

    def get_queryset(self) -> QuerySet[Customer]:
        request = self.context.get("request")
        return customer_visible_queryset(user=getattr(request, "user", None))


class CustomerWriteSerializer(serializers.Serializer):
    """The shape of a create or update. No field has a default: a key that is absent is left out,
    so the view can tell "not sent" (PATCH keeps the stored value) from "sent empty"."""

    name = serializers.CharField(required=False, allow_blank=True, max_length=100)
    gender = serializers.ChoiceField(choices=Gender.choices, required=False, allow_blank=True)
    birthday = serializers.DateField(required=False, allow_null=True)
    birthday_is_lunar = serializers.BooleanField(required=False)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)
    customer_type = serializers.ChoiceField(choices=CustomerType.choices, required=False)
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    source = serializers.PrimaryKeyRelatedField(  # type: ignore[assignment]  # named like Field.source
        queryset=SourceChannel.objects.all(), required=False, allow_null=True
    )
    # A text box in the browsable API, not a <select> of up to 1,000 customers on every page.
    referrer = VisibleCustomerField(required=False, allow_null=True, style={"base_template": "input.html"})
    owner = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True), required=False, allow_null=True
    )
    # Stored verbatim, markup included: escaping is the template's job, and a note is the merchant's own.
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000, trim_whitespace=False)
    custom = serializers.DictField(
        required=False,
        help_text=gettext_lazy(
            "Custom field values by key. PATCH merges keys into the stored ones; null clears a key."
        ),
    )
    tags = serializers.PrimaryKeyRelatedField(many=True, queryset=Tag.objects.all(), required=False)
    phones = PhoneSerializer(many=True, required=False)
    addresses = AddressSerializer(many=True, required=False)
    socials = SocialSerializer(many=True, required=False)
    consents = ConsentSerializer(
        many=True,
        required=False,
        help_text=gettext_lazy("Channels sent are set; channels not sent keep their current consent."),
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        help_text=gettext_lazy("Updates: the version you read (or send it as If-Match). Ignored on create."),
    )
    allow_duplicate_phone = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("Save even if another customer has one of these phone numbers."),
    )


# Every profile field but ``custom``, which PATCH merges key by key instead of replacing.
_SCALAR_INPUTS = tuple(name for name in PROFILE_FIELDS if name != "custom")


def _customer_input(validated: dict[str, Any], *, base: CustomerInput) -> CustomerInput:
    """`base` with the keys the client sent replacing its values (custom values merge by key)."""
    changes: dict[str, Any] = {name: validated[name] for name in _SCALAR_INPUTS if name in validated}
    if "custom" in validated:
        changes["custom"] = {**base.custom, **validated["custom"]}
    if "tags" in validated:
        changes["tags"] = list(validated["tags"])
    if "phones" in validated:
        changes["phones"] = [PhoneInput(**item) for item in validated["phones"]]
    if "addresses" in validated:
        changes["addresses"] = [AddressInput(**item) for item in validated["addresses"]]
    if "socials" in validated:
        changes["socials"] = [SocialInput(**item) for item in validated["socials"]]
    if "consents" in validated:
        changes["consents"] = [ConsentInput(**item) for item in validated["consents"]]
    return dataclasses.replace(base, **changes)


_LIST_FIELDS = [
    "id",
    "customer_no",
    "name",
    "gender",
    "birthday",
    "birthday_is_lunar",
    "age",
    "email",
    "customer_type",
    "stage",
    "source",
    "referrer",
    "owner",
    "tags",
    "primary_phone",
    "province",
    "city",
    "notes",
    "custom",
    "version",
    "created_at",
    "updated_at",
    "archived_at",
    "created_by",
    "updated_by",
]
# The purchase figures, kept from the orders (kebu.orders.services.metrics): read-only, and left out of
# the answer for a user who may not see orders. Money is a string with two places, as elsewhere.
_FIGURE_FIELDS = [
    "total_spent_cny",
    "order_count",
    "avg_order_cny",
    "first_order_at",
    "last_order_at",
    "purchase_interval_days",
    "refund_count",
    "refund_rate",
    "top_category",
    "top_category_name",
    "receivable_cny",
    "credit_limit_cny",
    "payment_terms_days",
]


class CustomerRowSerializer(serializers.ModelSerializer):
    """A customer as a list row: its own columns and tags, nothing that needs a query per row."""

    tags = TagSerializer(many=True, read_only=True)
    age = serializers.IntegerField(read_only=True, allow_null=True)
    email = ContactField(privacy.EMAIL, read_only=True)
    primary_phone = ContactField(privacy.PHONE, read_only=True)
    notes = ContactField(privacy.TEXT, read_only=True)
    top_category_name = serializers.CharField(
        source="top_category.name",
        read_only=True,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("The top-level category this customer spent most on."),
    )
    refund_rate = serializers.DecimalField(
        max_digits=5,
        decimal_places=4,
        read_only=True,
        allow_null=True,
        help_text=gettext_lazy("Refunded orders ÷ orders, as a fraction (0.2500 = 25%)."),
    )

    class Meta:
        model = Customer
        fields = [*_LIST_FIELDS, *_FIGURE_FIELDS]
        read_only_fields = fields

    def to_representation(self, instance: Customer) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self._purchases_visible():
            for name in _FIGURE_FIELDS:
                data.pop(name, None)
        return data

    def _purchases_visible(self) -> bool:
        context = self.context
        visible = context.get("purchases_visible")
        if visible is None:
            request = context.get("request")
            visible = purchases_visible(user=getattr(request, "user", None))
            if isinstance(context, dict):
                context["purchases_visible"] = visible
        return bool(visible)


class CustomerSerializer(CustomerRowSerializer):
    """A customer with its phones, addresses, social accounts and consents."""

    phones = PhoneSerializer(many=True, read_only=True)
    addresses = AddressSerializer(many=True, read_only=True)
    socials = SocialSerializer(many=True, read_only=True)
    consents = ConsentSerializer(many=True, read_only=True)

    class Meta(CustomerRowSerializer.Meta):
        fields = [*_LIST_FIELDS, *_FIGURE_FIELDS, "phones", "addresses", "socials", "consents"]
        read_only_fields = fields


class ReleaseSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TransferSerializer(serializers.Serializer):
    to_user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        help_text=gettext_lazy("The id of the colleague who takes the customer over."),
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


# --- schema pieces -----------------------------------------------------------------------------------

_ERROR_EXAMPLE = OpenApiExample(
    "Field errors",
    value={"phones.0.number": ["“1381234” is not a phone number."], "code": "invalid"},
    response_only=True,
)
_ERRORS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy(
        "Keys are dotted field paths (`phones.0.number`) or `non_field_errors`, each with a list "
        "of messages; `code` says which kind: invalid, not_found, conflict or duplicate."
    ),
    examples=[_ERROR_EXAMPLE],
)
_NOT_FOUND = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy("No such customer, or not one you may see."),
)
_FORBIDDEN = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy("Your role does not allow this (code=forbidden, or DRF's detail)."),
)
_CONFLICT = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy(
        "code=conflict: someone saved the customer after the version you sent; reload. "
        "code=duplicate: another customer has one of these phones (named in the message); "
        "resend with allow_duplicate_phone=true to save anyway."
    ),
)
_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=gettext_lazy(
        "Any unique string (at most 80 characters). Sending the same key again returns the customer "
        "the first request created instead of creating another."
    ),
)
_IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=gettext_lazy(
        "The version you read (the ETag of the customer), if it is not sent as `version` in the body."
    ),
)
_FILTERS = [
    OpenApiParameter(
        "q",
        OpenApiTypes.STR,
        description=gettext_lazy(
            "Search: name (also pinyin and initials, e.g. zhangsan or zs), phone (full or last 4 digits), "
            "customer number (C000001 or 1), WeChat or other account ID, email."
        ),
    ),
    OpenApiParameter("customer_type", OpenApiTypes.STR, many=True, enum=CustomerType.values, explode=True),
    OpenApiParameter("stage", OpenApiTypes.STR, many=True, enum=Stage.values, explode=True),
    OpenApiParameter(
        "source", OpenApiTypes.INT, many=True, explode=True, description=gettext_lazy("Source channel ids.")
    ),
    OpenApiParameter(
        "tag",
        OpenApiTypes.INT,
        many=True,
        explode=True,
        description=gettext_lazy("Tag ids; a customer with any of them matches, once."),
    ),
    OpenApiParameter(
        "owner",
        OpenApiTypes.STR,
        description=gettext_lazy("A staff member's id, or null for customers with no owner."),
    ),
    OpenApiParameter(
        "province", OpenApiTypes.STR, description=gettext_lazy("Of the default address, e.g. 广东省.")
    ),
    OpenApiParameter(
        "city", OpenApiTypes.STR, description=gettext_lazy("Of the default address, e.g. 深圳市.")
    ),
    OpenApiParameter(
        "created_after", OpenApiTypes.DATE, description=gettext_lazy("Created on or after this day.")
    ),
    OpenApiParameter(
        "created_before", OpenApiTypes.DATE, description=gettext_lazy("Created on or before this day.")
    ),
    OpenApiParameter(
        "archived",
        OpenApiTypes.BOOL,
        description=gettext_lazy("true: only archived customers. Otherwise only active ones."),
    ),
    OpenApiParameter(
        "sort",
        OpenApiTypes.STR,
        enum=list(ORDERINGS),
        description=gettext_lazy(
            "Sort key; a leading minus reverses it. Default -created_at. The cursor follows the sort. "
            "Customers without a value in the sorted column (no birthday, no owner, never ordered, owing "
            "nothing) come last in either direction."
        ),
    ),
    *[
        OpenApiParameter(name, kind, description=text)
        for name, kind, text in (
            (
                "spent_min",
                OpenApiTypes.DECIMAL,
                gettext_lazy("Total spent (net of refunds) at least, in yuan."),
            ),
            ("spent_max", OpenApiTypes.DECIMAL, gettext_lazy("Total spent at most, in yuan.")),
            ("orders_min", OpenApiTypes.INT, gettext_lazy("At least this many orders.")),
            ("orders_max", OpenApiTypes.INT, gettext_lazy("At most this many orders.")),
            ("avg_order_min", OpenApiTypes.DECIMAL, gettext_lazy("Average order at least, in yuan.")),
            ("avg_order_max", OpenApiTypes.DECIMAL, gettext_lazy("Average order at most, in yuan.")),
            (
                "last_order_after",
                OpenApiTypes.DATE,
                gettext_lazy("Last order on or after this day (the shop's time zone)."),
            ),
            ("last_order_before", OpenApiTypes.DATE, gettext_lazy("Last order on or before this day.")),
            (
                "days_since_last_order_min",
                OpenApiTypes.INT,
                gettext_lazy(
                    "No order for at least this many days (whole days in the shop's time zone). "
                    "Customers who never ordered are not included: use never_ordered=true for them."
                ),
            ),
            (
                "never_ordered",
                OpenApiTypes.BOOL,
                gettext_lazy("true: customers without a counted order; false: those with one."),
            ),
            ("first_order_after", OpenApiTypes.DATE, gettext_lazy("First order on or after this day.")),
            ("first_order_before", OpenApiTypes.DATE, gettext_lazy("First order on or before this day.")),
            (
                "days_since_last_order_max",
                OpenApiTypes.INT,
                gettext_lazy("Ordered in the last this many days (0: today), counted as the minimum is."),
            ),
            (
                "interval_min",
                OpenApiTypes.DECIMAL,
                gettext_lazy("Average days between orders at least (customers with two orders or more)."),
            ),
            ("interval_max", OpenApiTypes.DECIMAL, gettext_lazy("Average days between orders at most.")),
            ("refund_count_min", OpenApiTypes.INT, gettext_lazy("At least this many refunded orders.")),
            ("refund_count_max", OpenApiTypes.INT, gettext_lazy("At most this many refunded orders.")),
            (
                "refund_rate_pct_min",
                OpenApiTypes.DECIMAL,
                gettext_lazy("Refund rate at least, in percent (20 = 20%)."),
            ),
            ("refund_rate_pct_max", OpenApiTypes.DECIMAL, gettext_lazy("Refund rate at most, in percent.")),
            (
                "top_category",
                OpenApiTypes.INT,
                gettext_lazy("A top-level category id: customers who spent most on it."),
            ),
            (
                "owes",
                OpenApiTypes.BOOL,
                gettext_lazy("true: customers who owe money on credit; false: who owe none."),
            ),
            ("owed_min", OpenApiTypes.DECIMAL, gettext_lazy("Owing at least this much on credit, in yuan.")),
            ("owed_max", OpenApiTypes.DECIMAL, gettext_lazy("Owing at most this much, in yuan.")),
        )
    ],
]
_LIST_DESCRIPTION = gettext_lazy(
    "Active customers, newest first, 50 a page (page_size up to 200); follow `next` and `previous`. "
    "Custom fields filter as `cf_<key>`: exact for choice, number, date and yes/no fields (true/false), "
    "contains for text, one of the options for multiple-choice fields. "
    "Purchase figures (total spent, orders, last order, …) and their filters and sorts need the "
    "permission to see orders. An invalid filter answers 400 naming it."
)


def _id_parameter() -> OpenApiParameter:
    return OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


# --- views -------------------------------------------------------------------------------------------


class CustomerAccess(permissions.BasePermission):
    """The permission each kind of request needs, read before the customer is looked up: the answer is
    the same 403 for every id, so it tells nothing about which ids exist. Which customers a request may
    touch at all is the visibility selector's rule, and an id outside it answers 404.

    Decided by method (and the action for POSTs to a customer), since the browsable API asks with the
    method it would show a form for."""

    _ACTIONS: dict[str, tuple[str, ...]] = {
        "restore": (access.CHANGE,),
        # The services check the rest: owning the customer, assign_customer, the pool being on.
        "claim": (access.VIEW,),
        "release": (access.VIEW,),
        "transfer": (access.VIEW,),
    }
    _METHODS: dict[str, tuple[str, ...]] = {
        "POST": (access.ADD,),
        # An update shows and stores every contact detail in full: it needs to see them.
        "PUT": (access.CHANGE, access.VIEW_CONTACT),
        "PATCH": (access.CHANGE, access.VIEW_CONTACT),
        "DELETE": (access.CHANGE,),
    }

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return access.can(request.user, access.VIEW)
        action_name = getattr(view, "action", None)
        if request.method == "POST" and action_name in self._ACTIONS:
            return access.can(request.user, *self._ACTIONS[action_name])
        return access.can(request.user, *self._METHODS.get(str(request.method), (access.CHANGE,)))


def _owner_for_create(request: Request, validated: dict[str, Any]) -> Any:
    """A new customer belongs to its creator unless someone allowed to assign customers names another
    owner (or null: the shared pool)."""
    if "owner" not in validated:
        return request.user
    owner = validated["owner"]
    if not access.can_assign(request.user) and owner != request.user:
        raise Forbidden(_("Your role may not give customers to others; leave owner out to own it yourself."))
    if owner is not None and not assignable_users().filter(pk=owner.pk).exists():
        raise ValidationFailed(
            field_errors={"owner": [_("Choose an active colleague who works with customers.")]}
        )
    return owner


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        raise ValidationFailed(
            field_errors={
                "idempotency_key": [
                    _("An Idempotency-Key has at most %(n)d characters.") % {"n": IDEMPOTENCY_KEY_MAX_LENGTH}
                ]
            }
        )
    return key or None


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List and search customers"),
        description=_LIST_DESCRIPTION,
        parameters=_FILTERS,
        responses={200: CustomerRowSerializer(many=True), 400: _ERRORS},
    ),
    create=extend_schema(
        summary=gettext_lazy("Create a customer"),
        parameters=[_IDEMPOTENCY_KEY],
        request=CustomerWriteSerializer,
        responses={201: CustomerSerializer, 400: _ERRORS, 409: _CONFLICT},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One customer"),
        parameters=[_id_parameter()],
        responses={200: CustomerSerializer, 404: _NOT_FOUND},
    ),
    update=extend_schema(
        summary=gettext_lazy("Replace a customer"),
        description=gettext_lazy(
            "Fields not sent take their empty or default value. Requires the version you read."
        ),
        parameters=[_id_parameter(), _IF_MATCH],
        request=CustomerWriteSerializer,
        responses={200: CustomerSerializer, 400: _ERRORS, 404: _NOT_FOUND, 409: _CONFLICT},
    ),
    partial_update=extend_schema(
        summary=gettext_lazy("Change some fields of a customer"),
        description=gettext_lazy(
            "Fields not sent keep their value; a list that is sent (phones, addresses, socials, tags) "
            "replaces the stored list. Requires the version you read."
        ),
        parameters=[_id_parameter(), _IF_MATCH],
        request=CustomerWriteSerializer,
        responses={200: CustomerSerializer, 400: _ERRORS, 404: _NOT_FOUND, 409: _CONFLICT},
    ),
    destroy=extend_schema(
        summary=gettext_lazy("Archive a customer"),
        description=gettext_lazy(
            "A soft delete: the customer leaves lists and search, keeps every record and can be restored."
        ),
        parameters=[_id_parameter()],
        responses={204: None, 404: _NOT_FOUND},
    ),
    restore=extend_schema(
        summary=gettext_lazy("Restore an archived customer"),
        parameters=[_id_parameter()],
        request=None,
        responses={200: CustomerSerializer, 404: _NOT_FOUND},
    ),
    claim=extend_schema(
        summary=gettext_lazy("Claim a customer from the shared pool"),
        description=gettext_lazy(
            "Only for a customer without an owner, with the shared pool switched on. Of two claims at "
            "once one wins; the other answers 409."
        ),
        parameters=[_id_parameter()],
        request=None,
        responses={200: CustomerSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _CONFLICT},
    ),
    release=extend_schema(
        summary=gettext_lazy("Release a customer to the shared pool"),
        description=gettext_lazy(
            "Your own customer, or anyone's with the permission to assign customers. 204 when the "
            "customer is no longer one you may see."
        ),
        parameters=[_id_parameter()],
        request=ReleaseSerializer,
        responses={200: CustomerSerializer, 204: None, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
    transfer=extend_schema(
        summary=gettext_lazy("Transfer a customer to a colleague"),
        description=gettext_lazy(
            "Needs the permission to assign customers. Recorded in the ownership history with the "
            "reason. 204 when the customer is no longer one you may see."
        ),
        parameters=[_id_parameter()],
        request=TransferSerializer,
        responses={200: CustomerSerializer, 204: None, 400: _ERRORS, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class CustomerViewSet(viewsets.GenericViewSet):
    permission_classes = [CustomerAccess]
    serializer_class = CustomerSerializer
    _ACTION_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
        "claim": CustomerSerializer,
        "release": ReleaseSerializer,
        "transfer": TransferSerializer,
    }
    pagination_class = CustomerCursorPagination
    parser_classes = [SafeJSONParser]
    # The selector applies CustomerFilterSet itself (so the HTML list and the API filter alike);
    # the parameters are documented with extend_schema above.
    filter_backends: list[Any] = []
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet[Customer]:
        return customer_visible_queryset(user=getattr(getattr(self, "request", None), "user", None))

    def get_serializer_class(self) -> type[serializers.Serializer]:
        # What OPTIONS and the browsable API's forms show for a write; the views name theirs directly.
        method = getattr(getattr(self, "request", None), "method", None)
        action_name = getattr(self, "action", None)
        if action_name in self._ACTION_SERIALIZERS:
            return self._ACTION_SERIALIZERS[action_name]
        if method in ("POST", "PUT", "PATCH") and action_name != "restore":
            return CustomerWriteSerializer
        return CustomerSerializer

    def get_object(self) -> Customer:
        return customer_get_for_actor(actor=self.request.user, customer_id=self.kwargs["pk"])

    def _answer(self, customer: Customer, *, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = customer_get_for_actor(actor=self.request.user, customer_id=customer.pk)
        data = CustomerSerializer(fresh, context=self.get_serializer_context()).data
        response = Response(data, status=status_code)
        response["ETag"] = f'"{fresh.version}"'
        return response

    def _write_serializer(self, request: Request) -> CustomerWriteSerializer:
        return CustomerWriteSerializer(data=request.data, context=self.get_serializer_context())

    def list(self, request: Request, format: str | None = None) -> Response:
        queryset, filterset = customer_list(user=request.user, filters=request.query_params)
        if not filterset.is_valid():
            raise ValidationFailed(_("Check the filters."), field_errors=filterset.errors)
        self.customer_sort = filterset.sort_key
        page = self.paginate_queryset(queryset)
        data = CustomerRowSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._answer(self.get_object())

    def create(self, request: Request, format: str | None = None) -> Response:
        validated = _validated(self._write_serializer(request))
        validated["owner"] = _owner_for_create(request, validated)
        data = _customer_input(validated, base=CustomerInput())
        customer = customer_create(
            actor=request.user,
            data=data,
            allow_duplicate_phone=validated.get("allow_duplicate_phone", False),
            idempotency_key=_idempotency_key(request),
        )
        response = self._answer(customer, status_code=status.HTTP_201_CREATED)
        response["Location"] = reverse("customer-detail", kwargs={"pk": customer.pk}, request=request)
        return response

    def _update(self, request: Request, *, partial: bool) -> Response:
        customer = self.get_object()
        validated = _validated(self._write_serializer(request))
        version = expected_version(request, validated)
        # The owner changes only through claim, release and transfer, which keep the ownership history;
        # a PUT that leaves it out keeps it, rather than dropping the customer into the pool.
        if "owner" in validated and validated.pop("owner") != customer.owner:
            raise ValidationFailed(
                field_errors={"owner": [_("Change the owner with the transfer, claim or release endpoints.")]}
            )
        base = customer_input_from(customer) if partial else CustomerInput(owner=customer.owner)
        data = _customer_input(validated, base=base)
        customer = customer_update(
            actor=request.user,
            customer=customer,
            data=data,
            expected_version=version,
            allow_duplicate_phone=validated.get("allow_duplicate_phone", False),
        )
        return self._answer(customer)

    def update(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._update(request, partial=False)

    def partial_update(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._update(request, partial=True)

    def destroy(self, request: Request, pk: str, format: str | None = None) -> Response:
        customer_archive(actor=request.user, customer=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._answer(customer_restore(actor=request.user, customer=self.get_object()))

    def _answer_if_visible(self, customer: Customer) -> Response:
        # A release or transfer can take the customer out of the caller's sight: then 204, no body.
        try:
            return self._answer(customer)
        except CustomerNotFound:
            return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._answer(customer_claim(customer=self.get_object(), actor=request.user))

    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str, format: str | None = None) -> Response:
        customer = self.get_object()
        validated = _validated(ReleaseSerializer(data=request.data))
        return self._answer_if_visible(
            customer_release(customer=customer, actor=request.user, reason=validated.get("reason", ""))
        )

    @action(detail=True, methods=["post"])
    def transfer(self, request: Request, pk: str, format: str | None = None) -> Response:
        customer = self.get_object()
        validated = _validated(TransferSerializer(data=request.data))
        return self._answer_if_visible(
            customer_transfer(
                customer=customer,
                to_user=validated["to_user"],
                actor=request.user,
                reason=validated.get("reason", ""),
            )
        )


class ReadOrAdmin(permissions.BasePermission):
    """Every staff member reads the shop's lists; only admins change them (as in the settings pages)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or bool(user.is_staff)


class TagViewSet(viewsets.ModelViewSet):
    """Tags a customer can carry. Deleting one takes it off every customer."""

    permission_classes = [ReadOrAdmin]
    queryset = Tag.objects.order_by("name")
    serializer_class = TagSerializer
    pagination_class = KeysetCursorPagination
    parser_classes = [SafeJSONParser]
    filter_backends: list[Any] = []


class SourceChannelViewSet(viewsets.ModelViewSet):
    """Where customers come from. A channel in use cannot be deleted; deactivate it instead."""

    permission_classes = [ReadOrAdmin]
    queryset = SourceChannel.objects.order_by("position", "name")
    serializer_class = SourceChannelSerializer
    pagination_class = KeysetCursorPagination
    parser_classes = [SafeJSONParser]
    filter_backends: list[Any] = []

    @extend_schema(responses={204: None, 400: _ERRORS})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().destroy(request, *args, **kwargs)

    def perform_destroy(self, instance: SourceChannel) -> None:
        # Counted up front: Django's ProtectedError would load every protecting customer into memory.
        in_use = instance.customers.count()
        if in_use:
            raise ValidationFailed(
                _(
                    "“%(name)s” is the source of %(count)d customers and cannot be deleted; "
                    "set it inactive instead."
                )
                % {"name": instance.name, "count": in_use}
            )
        try:
            instance.delete()
        except ProtectedError as exc:  # a customer took it up since the count
            raise ValidationFailed(
                _("“%(name)s” is in use and cannot be deleted; set it inactive instead.")
                % {"name": instance.name}
            ) from exc
