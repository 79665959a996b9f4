"""REST API for the catalogue, orders and after-sales: `/api/v1/products/`, `/api/v1/orders/`,
`/api/v1/refunds/` (after-sales of every kind: refund only, return and refund, exchange) and, read only,
`/api/v1/stores/` (the ids an order is created with; stores are added on the Stores page).

Thin, as the customers API is: serializers check the shape of the input (types, choices, lengths that
fit the columns, ids that exist and may be seen); every rule and write lives in `services`; every order
and after-sale is read through the visibility selectors, so one that belongs to a customer the user may
not see answers 404 on every verb, exactly like a missing one. Errors have the customers API's shape:
`{"<dotted.field.path>": [...], "code": ...}`. Money is a string with two decimals (`"199.00"`).
A product, like a customer, is changed only from the version read (`version` in the body or If-Match,
its ETag): a write from a stale read answers 409 with `code=conflict` and changes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
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
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from kebu.core.api import DB_INT_MAX, expected_version
from kebu.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from kebu.core.forms import DATE_VALIDATORS
from kebu.customers import access, privacy
from kebu.customers.api import (
    ContactField,
    KeysetCursorPagination,
    SafeJSONParser,
    VisibleCustomerField,
    _idempotency_key,
    _validated,
)
from kebu.orders.models import (
    AfterSale,
    AfterSaleKind,
    AfterSaleLine,
    AfterSaleReason,
    AfterSaleStatus,
    Brand,
    Category,
    DeliveryMethod,
    Order,
    OrderLine,
    OrderStatus,
    PaymentMethod,
    Platform,
    Product,
    Sku,
    Store,
)
from kebu.orders.selectors import (
    aftersale_get_for_actor,
    aftersale_visible_queryset,
    order_get_for_actor,
    order_visible_queryset,
    product_list,
)
from kebu.orders.services.aftersales import (
    REPLACEMENT_FIELDS,
    AfterSaleLineInput,
    ReplacementInput,
    aftersale_approve,
    aftersale_cancel,
    aftersale_complete,
    aftersale_receive,
    aftersale_reject,
    aftersale_replacement_update,
    aftersale_request,
)
from kebu.orders.services.orders import (
    ENTERED_STATUSES,
    ORDER_DETAIL_FIELDS,
    CreditLimitExceeded,
    LineInput,
    OrderInput,
    order_cancel,
    order_complete,
    order_create,
    order_deliver,
    order_detail_fields_for,
    order_details_update,
    order_pay,
    order_ship,
)
from kebu.orders.services.products import ProductInput, SkuInput, product_create, product_update

# The columns' shape (kebu.orders.models.MONEY): answered as a string, "199.00".
MONEY: dict[str, Any] = {"max_digits": 14, "decimal_places": 2}


# --- errors ------------------------------------------------------------------------------------------


class CreditLimitWarning(Conflict):
    """409: the order on credit passes the customer's limit and the shop lets it be confirmed: resend
    with ``allow_over_credit_limit=true``."""

    code = "credit_limit"


class CreditLimitRefused(ValidationFailed):
    """400: the order on credit passes the customer's limit and the shop refuses that outright."""

    code = "credit_limit_blocked"


@contextmanager
def _credit_limit_answers() -> Iterator[None]:
    """The service's one credit-limit error as two answers a client can act on without reading prose:
    a warning it may confirm (409, like a duplicate phone) or a refusal (400)."""
    try:
        yield
    except CreditLimitExceeded as exc:
        answer = CreditLimitRefused if exc.blocking else CreditLimitWarning
        raise answer(exc.message, field_errors=exc.field_errors) from exc


# --- filters -----------------------------------------------------------------------------------------


class StrictFilterBackend(filters.DjangoFilterBackend):
    """django-filter, with an invalid filter answering 400 in Kebu's error shape (never an unfiltered
    list)."""

    def get_filterset_kwargs(self, request: Request, queryset: QuerySet[Any], view: Any) -> dict[str, Any]:
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        # An empty parameter (`?status=&store=`, as a form sends it) means "any", not an invalid choice.
        data = QueryDict(mutable=True)
        for key, values in kwargs["data"].lists():
            kept = [value for value in values if value != ""]
            if kept:
                data.setlist(key, kept)
        kwargs["data"] = data
        return kwargs

    def filter_queryset(self, request: Request, queryset: QuerySet[Any], view: Any) -> QuerySet[Any]:
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationFailed(_("Check the filters."), field_errors=dict(filterset.errors))
        return filterset.qs


class IdFilter(filters.NumberFilter):
    """A row id: a whole number a database column can hold, else 400."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", DB_INT_MAX)
        super().__init__(*args, **kwargs)


def _day_start(day: date) -> datetime:
    """Midnight starting ``day`` in the shop's time zone: a range on the indexed column, not a per-row
    date conversion."""
    return timezone.make_aware(datetime.combine(day, time.min))


class ProductFilterSet(filters.FilterSet):
    category = filters.ModelChoiceFilter(
        queryset=Category.objects.all(),
        method="filter_category",
        label=gettext_lazy("Category id; its subcategories' products match too."),
    )
    brand = filters.ModelChoiceFilter(queryset=Brand.objects.all(), label=gettext_lazy("Brand id."))
    active = filters.BooleanFilter(field_name="is_active", label=gettext_lazy("On sale (true) or not."))
    search = filters.CharFilter(
        method="filter_search", label=gettext_lazy("Product name (contains) or SKU code (starts with).")
    )

    class Meta:
        model = Product
        fields: list[str] = []

    def filter_category(self, qs: QuerySet[Product], name: str, value: Category) -> QuerySet[Product]:
        return qs.filter(Q(category=value) | Q(category__path__startswith=f"{value.path} › "))

    def filter_search(self, qs: QuerySet[Product], name: str, value: str) -> QuerySet[Product]:
        value = value.strip()
        if not value:
            return qs
        # EXISTS rather than a join: a product with two matching SKUs is listed once.
        code_matches = Sku.objects.filter(product=OuterRef("pk"), code__istartswith=value)
        return qs.filter(Q(name__icontains=value) | Exists(code_matches))


class StoreFilterSet(filters.FilterSet):
    active = filters.BooleanFilter(
        field_name="is_active",
        label=gettext_lazy("true: the stores offered for new orders; false: the inactive ones."),
    )
    platform = filters.ChoiceFilter(choices=Platform.choices, label=gettext_lazy("Platform."))

    class Meta:
        model = Store
        fields: list[str] = []


class OrderFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=gettext_lazy("Customer id."))
    customer_no = filters.CharFilter(
        field_name="customer__customer_no", label=gettext_lazy("Customer number, e.g. C000001.")
    )
    store = IdFilter(field_name="store_id", label=gettext_lazy("Store id."))
    status = filters.MultipleChoiceFilter(choices=OrderStatus.choices, label=gettext_lazy("Status."))
    ordered_after = filters.DateFilter(
        method="filter_ordered_after",
        validators=DATE_VALIDATORS,
        label=gettext_lazy("Ordered on or after this day (shop time)."),
    )
    ordered_before = filters.DateFilter(
        method="filter_ordered_before",
        validators=DATE_VALIDATORS,
        label=gettext_lazy("Ordered on or before this day (shop time)."),
    )
    order_no = filters.CharFilter(field_name="order_no", label=gettext_lazy("The order number, exactly."))

    class Meta:
        model = Order
        fields: list[str] = []

    def filter_ordered_after(self, qs: QuerySet[Order], name: str, value: date) -> QuerySet[Order]:
        return qs.filter(ordered_at__gte=_day_start(value))

    def filter_ordered_before(self, qs: QuerySet[Order], name: str, value: date) -> QuerySet[Order]:
        return qs.filter(ordered_at__lt=_day_start(value + timedelta(days=1)))


class AfterSaleFilterSet(filters.FilterSet):
    order = IdFilter(field_name="order_id", label=gettext_lazy("Order id."))
    customer = IdFilter(field_name="customer_id", label=gettext_lazy("Customer id."))
    status = filters.MultipleChoiceFilter(choices=AfterSaleStatus.choices, label=gettext_lazy("Status."))
    kind = filters.MultipleChoiceFilter(choices=AfterSaleKind.choices, label=gettext_lazy("Type."))

    class Meta:
        model = AfterSale
        fields: list[str] = []


# --- serializers: stores ---------------------------------------------------------------------------


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["id", "name", "platform", "position", "is_active"]
        read_only_fields = fields


# --- serializers: products ---------------------------------------------------------------------------


class SkuSerializer(serializers.ModelSerializer):
    class Meta:
        model = Sku
        fields = ["id", "code", "color", "size", "spec", "variant", "price_cny", "cost_cny", "is_active"]
        read_only_fields = fields

    def to_representation(self, instance: Sku) -> dict[str, Any]:
        data = super().to_representation(instance)
        # Cost shows the shop's margin: for those who keep the catalogue, not for everyone who sells from it.
        request = self.context.get("request")
        if request is None or not request.user.has_perm("orders.change_product"):
            data["cost_cny"] = None
        return data


class ProductSerializer(serializers.ModelSerializer):
    category_path = serializers.CharField(source="category.path", read_only=True, allow_null=True)
    brand_name = serializers.CharField(source="brand.name", read_only=True, allow_null=True)
    skus = SkuSerializer(many=True, read_only=True)

    class Meta:
        model = Product
        fields = [
            "id",
            "name",
            "category",
            "category_path",
            "brand",
            "brand_name",
            "usage_cycle_days",
            "description",
            "is_active",
            "version",
            "created_at",
            "updated_at",
            "skus",
        ]
        read_only_fields = fields


class SkuWriteSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=64, allow_blank=True)
    price_cny = serializers.DecimalField(**MONEY)
    cost_cny = serializers.DecimalField(**MONEY, required=False, allow_null=True, default=None)
    color = serializers.CharField(max_length=30, allow_blank=True, default="")
    size = serializers.CharField(max_length=30, allow_blank=True, default="")
    spec = serializers.CharField(max_length=60, allow_blank=True, default="")
    is_active = serializers.BooleanField(default=True)


class ProductWriteSerializer(serializers.Serializer):
    """A create or an update. No field has a default, so PATCH can tell "not sent" from "sent empty"."""

    name = serializers.CharField(max_length=100, allow_blank=True, required=False)
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), allow_null=True, required=False
    )
    brand_name = serializers.CharField(
        max_length=50,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy("The brand's name; a new name creates the brand."),
    )
    usage_cycle_days = serializers.IntegerField(allow_null=True, required=False)
    description = serializers.CharField(max_length=2000, allow_blank=True, required=False)
    is_active = serializers.BooleanField(required=False)
    skus = SkuWriteSerializer(
        many=True,
        required=False,
        help_text=gettext_lazy(
            "Matched by code on update; a code no longer listed is taken off sale, never deleted."
        ),
    )
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=DB_INT_MAX,
        help_text=gettext_lazy("Updates: the version you read (or send it as If-Match). Ignored on create."),
    )


def _product_input(validated: dict[str, Any], *, base: ProductInput) -> ProductInput:
    changes = {k: v for k, v in validated.items() if k not in ("skus", "version")}
    if "skus" in validated:
        changes["skus"] = [SkuInput(**item) for item in validated["skus"]]
    return dataclasses.replace(base, **changes)


def _product_input_from(product: Product) -> ProductInput:
    return ProductInput(
        name=product.name,
        category=product.category,
        brand_name=product.brand.name if product.brand else "",
        usage_cycle_days=product.usage_cycle_days,
        description=product.description,
        is_active=product.is_active,
        skus=[
            SkuInput(
                code=s.code,
                price_cny=s.price_cny,
                cost_cny=s.cost_cny,
                color=s.color,
                size=s.size,
                spec=s.spec,
                is_active=s.is_active,
            )
            for s in product.skus.all()
        ],
    )


# --- serializers: orders -----------------------------------------------------------------------------


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "id",
            "sku",
            "product",
            "sku_code",
            "title",
            "variant",
            "quantity",
            "unit_price_cny",
            "discount_cny",
            "amount_cny",
            "returned_quantity",
            "refunded_cny",
        ]
        read_only_fields = fields


class AfterSaleSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = AfterSale
        fields = ["id", "kind", "status", "reason", "amount_cny", "requested_at", "resolved_at"]
        read_only_fields = fields


_ORDER_FIELDS = [
    "id",
    "order_no",
    "store",
    "store_name",
    "customer",
    "customer_no",
    "customer_name",
    "status",
    "ordered_at",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "completed_at",
    "cancelled_at",
    "closed_at",
    "goods_cny",
    "shipping_cny",
    "discount_cny",
    "coupon_code",
    "coupon_cny",
    "total_cny",
    "paid_cny",
    "refund_reserved_cny",
    "refunded_cny",
    "refundable_cny",
    "net_cny",
    "payment_method",
    "delivery_method",
    "carrier",
    "tracking_no",
    "receiver_name",
    "receiver_phone",
    "ship_province",
    "ship_city",
    "ship_district",
    "ship_address",
    "buyer_message",
    "seller_notes",
    "credit_due_date",
    "credit_taken_cny",
    "credit_outstanding_cny",
    "version",
    "created_at",
    "updated_at",
    "created_by",
    "lines",
]


class OrderSerializer(serializers.ModelSerializer):
    """An order as a list row, with its lines (one query for the page); contact details masked for
    whoever may not see them."""

    store_name = serializers.CharField(source="store.name", read_only=True)
    customer_no = serializers.CharField(source="customer.customer_no", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    refundable_cny = serializers.DecimalField(**MONEY, read_only=True)
    net_cny = serializers.DecimalField(
        **MONEY, read_only=True, help_text=gettext_lazy("What the customer spent on it after refunds.")
    )
    receiver_phone = ContactField(privacy.PHONE, read_only=True)
    ship_address = ContactField(privacy.ADDRESS, read_only=True)
    buyer_message = ContactField(privacy.TEXT, read_only=True)
    seller_notes = ContactField(privacy.TEXT, read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = _ORDER_FIELDS
        read_only_fields = fields


class OrderDetailSerializer(OrderSerializer):
    """One order, with a summary of its after-sales."""

    aftersales = AfterSaleSummarySerializer(many=True, read_only=True)

    class Meta(OrderSerializer.Meta):
        fields = [*_ORDER_FIELDS, "aftersales"]
        read_only_fields = fields


class OrderLineWriteSerializer(serializers.Serializer):
    sku_code = serializers.CharField(max_length=64, allow_blank=True, required=False)
    title = serializers.CharField(
        max_length=200,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy(
            "For an item not in the catalogue; with a SKU, the product's name by default."
        ),
    )
    quantity = serializers.IntegerField(required=False)
    unit_price_cny = serializers.DecimalField(
        **MONEY,
        required=False,
        allow_null=True,
        help_text=gettext_lazy("The SKU's price when left out."),
    )
    discount_cny = serializers.DecimalField(**MONEY, required=False)


def _paid_now_field() -> serializers.DecimalField:
    return serializers.DecimalField(
        **MONEY,
        required=False,
        allow_null=True,
        help_text=gettext_lazy(
            "On credit: what the customer paid at the time; only the rest goes on their account, falls due "
            "and counts against their limit. Left out: all of it on credit."
        ),
    )


class OrderWriteSerializer(serializers.Serializer):
    # A text box in the browsable API, not a <select> of every customer.
    customer = VisibleCustomerField(style={"base_template": "input.html"})
    # Every store, a deactivated one too: order_create refuses that by its name, clearer than "no such id".
    store = serializers.PrimaryKeyRelatedField(
        queryset=Store.objects.all(),
        help_text=gettext_lazy("An active store's id (a deactivated store takes no new orders)."),
    )
    lines = OrderLineWriteSerializer(many=True)
    order_no = serializers.CharField(
        max_length=64,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy("The marketplace's order id; left out, Kebu numbers the order."),
    )
    ordered_at = serializers.DateTimeField(required=False, allow_null=True)
    status = serializers.ChoiceField(choices=[(s.value, s.label) for s in ENTERED_STATUSES], required=False)
    shipping_cny = serializers.DecimalField(**MONEY, required=False)
    discount_cny = serializers.DecimalField(**MONEY, required=False)
    coupon_code = serializers.CharField(max_length=40, allow_blank=True, required=False)
    coupon_cny = serializers.DecimalField(**MONEY, required=False)
    paid_cny = serializers.DecimalField(
        **MONEY,
        required=False,
        allow_null=True,
        help_text=gettext_lazy("For a paid order: the amount due when left out."),
    )
    paid_now_cny = _paid_now_field()
    paid_at = serializers.DateTimeField(required=False, allow_null=True)
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices, allow_blank=True, required=False)
    delivery_method = serializers.ChoiceField(choices=DeliveryMethod.choices, required=False)
    carrier = serializers.CharField(max_length=30, allow_blank=True, required=False)
    tracking_no = serializers.CharField(max_length=40, allow_blank=True, required=False)
    shipped_at = serializers.DateTimeField(required=False, allow_null=True)
    # A marketplace's own times (签收时间, 完成时间) for an order entered after the fact.
    delivered_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text=gettext_lazy("The step before's time when left out.")
    )
    completed_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text=gettext_lazy("The step before's time when left out.")
    )
    receiver_name = serializers.CharField(max_length=50, allow_blank=True, required=False)
    receiver_phone = serializers.CharField(max_length=32, allow_blank=True, required=False)
    ship_province = serializers.CharField(max_length=30, allow_blank=True, required=False)
    ship_city = serializers.CharField(max_length=30, allow_blank=True, required=False)
    ship_district = serializers.CharField(max_length=30, allow_blank=True, required=False)
    ship_address = serializers.CharField(
        max_length=200,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy("With every address field left out, the customer's default address."),
    )
    buyer_message = serializers.CharField(
        max_length=1000, allow_blank=True, required=False, trim_whitespace=False
    )
    seller_notes = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, trim_whitespace=False
    )
    allow_over_credit_limit = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("Confirm an order on credit beyond the customer's limit (after a 409)."),
    )


# What the client may send of OrderInput besides the customer, the store and the lines.
_ORDER_SCALARS = tuple(
    f.name
    for f in dataclasses.fields(OrderInput)
    if f.name not in ("customer", "store", "lines", "extra_errors")
)


def _order_input(validated: dict[str, Any]) -> OrderInput:
    return OrderInput(
        customer=validated["customer"],
        store=validated["store"],
        lines=[LineInput(**item) for item in validated["lines"]],
        **{name: validated[name] for name in _ORDER_SCALARS if name in validated},
    )


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=DB_INT_MAX,
        help_text=gettext_lazy("The version you read (or send it as If-Match)."),
    )


class PaySerializer(VersionSerializer):
    payment_method = serializers.ChoiceField(choices=PaymentMethod.choices)
    paid_cny = serializers.DecimalField(
        **MONEY, required=False, allow_null=True, help_text=gettext_lazy("The amount due when left out.")
    )
    paid_now_cny = _paid_now_field()
    paid_at = serializers.DateTimeField(required=False, allow_null=True)
    allow_over_credit_limit = serializers.BooleanField(
        required=False,
        default=False,
        help_text=gettext_lazy("Confirm paying on credit beyond the customer's limit (after a 409)."),
    )


class ShipSerializer(VersionSerializer):
    carrier = serializers.CharField(max_length=30, allow_blank=True, required=False, default="")
    tracking_no = serializers.CharField(max_length=40, allow_blank=True, required=False, default="")
    shipped_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class DeliverSerializer(VersionSerializer):
    delivered_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("Now when left out.")
    )


class CompleteSerializer(VersionSerializer):
    completed_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text=gettext_lazy("Now when left out.")
    )


class CancelSerializer(VersionSerializer):
    reason = serializers.CharField(max_length=200, allow_blank=True, required=False, default="")


class DetailsSerializer(VersionSerializer):
    """An order's details (``ORDER_DETAIL_FIELDS``): only those sent change. Lengths as the columns';
    the phone, the province, city and district and the payment method are the service's to judge, so
    the page and the API say the same."""

    carrier = serializers.CharField(max_length=30, allow_blank=True, required=False)
    tracking_no = serializers.CharField(max_length=40, allow_blank=True, required=False)
    payment_method = serializers.ChoiceField(
        choices=PaymentMethod.choices,
        required=False,
        help_text=gettext_lazy("Of a paid order only; never to or from credit (what is owed would change)."),
    )
    delivery_method = serializers.ChoiceField(choices=DeliveryMethod.choices, required=False)
    receiver_name = serializers.CharField(max_length=50, allow_blank=True, required=False)
    receiver_phone = serializers.CharField(max_length=32, allow_blank=True, required=False)
    ship_province = serializers.CharField(
        max_length=30,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy(
            "As the division list names it (广东省), with the city and district under it; all three "
            "blank for no address."
        ),
    )
    ship_city = serializers.CharField(max_length=30, allow_blank=True, required=False)
    ship_district = serializers.CharField(max_length=30, allow_blank=True, required=False)
    ship_address = serializers.CharField(max_length=200, allow_blank=True, required=False)
    buyer_message = serializers.CharField(
        max_length=1000, allow_blank=True, required=False, trim_whitespace=False
    )
    seller_notes = serializers.CharField(
        max_length=2000, allow_blank=True, required=False, trim_whitespace=False
    )


# --- serializers: after-sales ------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class VisibleOrderField(serializers.PrimaryKeyRelatedField):
    """An order id the requesting user may see; any other id reads as "does not exist"."""

    def get_queryset(self) -> QuerySet[Order]:
        request = self.context.get("request")
        return order_visible_queryset(user=getattr(request, "user", None))


class AfterSaleLineSerializer(serializers.ModelSerializer):
    line_id = serializers.IntegerField(read_only=True)
    title = serializers.CharField(source="line.title", read_only=True)
    sku_code = serializers.CharField(source="line.sku_code", read_only=True)

    class Meta:
        model = AfterSaleLine
        fields = ["id", "line_id", "title", "sku_code", "quantity", "amount_cny"]
        read_only_fields = fields


class AfterSaleSerializer(serializers.ModelSerializer):
    order_no = serializers.CharField(source="order.order_no", read_only=True)
    customer_no = serializers.CharField(source="customer.customer_no", read_only=True)
    lines = AfterSaleLineSerializer(many=True, read_only=True)
    replacement_sku_code = serializers.CharField(
        source="replacement_sku.code", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = AfterSale
        fields = [
            "id",
            "order",
            "order_no",
            "customer",
            "customer_no",
            "kind",
            "status",
            "reason",
            "reason_detail",
            "amount_cny",
            "credit_cleared_cny",
            "return_tracking_no",
            "replacement_sku",
            "replacement_sku_code",
            "replacement_item",
            "replacement_carrier",
            "replacement_tracking_no",
            "resolution_note",
            "requested_at",
            "resolved_at",
            "version",
            "created_by",
            "lines",
        ]
        read_only_fields = fields


class AfterSaleLineWriteSerializer(serializers.Serializer):
    line_id = serializers.IntegerField(help_text=gettext_lazy("The id of a line of this order."))
    quantity = serializers.IntegerField(required=False, default=1)
    amount_cny = serializers.DecimalField(
        **MONEY,
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy(
            "Left out: the units' share of what was paid for the goods, shipping aside; nothing for an "
            "exchange."
        ),
    )


class AfterSaleWriteSerializer(serializers.Serializer):
    order = VisibleOrderField(style={"base_template": "input.html"})
    kind = serializers.ChoiceField(choices=AfterSaleKind.choices)
    reason = serializers.ChoiceField(choices=AfterSaleReason.choices)
    reason_detail = serializers.CharField(max_length=500, allow_blank=True, required=False, default="")
    amount_cny = serializers.DecimalField(
        **MONEY,
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("May include shipping; the lines' amounts added up when left out."),
    )
    lines = AfterSaleLineWriteSerializer(many=True, required=False, default=list)


class ReceiveSerializer(VersionSerializer):
    return_tracking_no = serializers.CharField(max_length=40, allow_blank=True, required=False, default="")


class ResolveSerializer(VersionSerializer):
    resolution_note = serializers.CharField(
        max_length=500,
        allow_blank=True,
        required=False,
        default="",
        help_text=gettext_lazy("What the customer is told; required to reject."),
    )


class AfterSaleCompleteSerializer(ResolveSerializer):
    replacement_sku_code = serializers.CharField(
        max_length=64,
        allow_blank=True,
        required=False,
        default="",
        help_text=gettext_lazy("An exchange: the code of the SKU sent in its place."),
    )
    replacement_item = serializers.CharField(
        max_length=200,
        allow_blank=True,
        required=False,
        default="",
        help_text=gettext_lazy("An exchange: what was sent; left out with a SKU, its product and variant."),
    )
    replacement_carrier = serializers.CharField(max_length=30, allow_blank=True, required=False, default="")
    replacement_tracking_no = serializers.CharField(
        max_length=40, allow_blank=True, required=False, default=""
    )


class AfterSaleReplacementSerializer(VersionSerializer):
    """A correction of what a completed exchange sent: a field left out stays, one sent empty is cleared."""

    replacement_sku_code = serializers.CharField(
        max_length=64,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy("The code of the SKU sent in its place."),
    )
    replacement_item = serializers.CharField(
        max_length=200,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy(
            "What was sent; empty with a SKU, its product and variant (and so when the SKU changes and the "
            "item was the old SKU's name)."
        ),
    )
    replacement_carrier = serializers.CharField(max_length=30, allow_blank=True, required=False)
    replacement_tracking_no = serializers.CharField(max_length=40, allow_blank=True, required=False)


# --- permissions -------------------------------------------------------------------------------------


class ModelPermissionAccess(permissions.BasePermission):
    """Reads need ``view``, a create ``add``, every other write ``change``: read from the request before
    any object is looked up, so the answer is the same 403 for every id. Which objects a request may
    touch at all is the visibility selector's rule, and an id outside it answers 404."""

    view = add = change = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return access.can(request.user, self.view)
        if getattr(view, "action", None) == "create":
            return access.can(request.user, self.add)
        return access.can(request.user, self.change)


class OrderAccess(ModelPermissionAccess):
    view, add, change = "orders.view_order", "orders.add_order", "orders.change_order"


class AfterSaleAccess(ModelPermissionAccess):
    view, add, change = "orders.view_aftersale", "orders.add_aftersale", "orders.change_aftersale"


class ProductAccess(permissions.BasePermission):
    """Everyone with ``view_product`` sees the whole catalogue, so a product's existence is no secret:
    a change is refused (403) after the lookup (404 for an unknown id), not before."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if getattr(view, "action", None) == "create":
            return access.can(request.user, "orders.add_product")
        return access.can(request.user, "orders.view_product")

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return access.can(request.user, "orders.change_product")


class StoreAccess(permissions.BasePermission):
    """The stores are what every order names: whoever may see orders may list them. There is nothing to
    write here (405); stores are added and changed on the Stores page."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return access.can(request.user, "orders.view_order")


# --- schema pieces -----------------------------------------------------------------------------------

_ERRORS = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy(
        "Keys are dotted field paths (`lines.0.quantity`) or `non_field_errors`, each with a list of "
        "messages; `code` says which kind: invalid, or credit_limit_blocked (an order on credit beyond "
        "the customer's limit, which the shop refuses)."
    ),
    examples=[
        OpenApiExample(
            "Field errors",
            value={"lines.0.quantity": ["The quantity must be at least 1."], "code": "invalid"},
            response_only=True,
        )
    ],
)
_NOT_FOUND = OpenApiResponse(
    response=OpenApiTypes.OBJECT, description=gettext_lazy("No such object, or not one you may see.")
)
_FORBIDDEN = OpenApiResponse(
    response=OpenApiTypes.OBJECT, description=gettext_lazy("Your role does not allow this.")
)
_CONFLICT = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy(
        "code=conflict: someone changed it after the version you sent; reload. "
        "code=credit_limit: on credit this passes the customer's limit; resend with "
        "allow_over_credit_limit=true to go ahead."
    ),
)
_STEP_CONFLICT = OpenApiResponse(
    response=OpenApiTypes.OBJECT,
    description=gettext_lazy("code=conflict: someone changed it after the version you sent; reload."),
)
_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=gettext_lazy(
        "Any unique string (at most 80 characters). Sending the same key again returns what the first "
        "request created instead of creating it twice."
    ),
)
_IF_MATCH = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description=gettext_lazy("The version you read (the ETag), if it is not sent as `version` in the body."),
)


def _id_parameter() -> OpenApiParameter:
    return OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


def _step(summary: Any, request: Any, description: Any = "", response: Any = None) -> Any:
    """The schema of a step an order or after-sale takes (pay, ship, approve…)."""
    return extend_schema(
        summary=summary,
        description=description,
        parameters=[_id_parameter(), _IF_MATCH],
        request=request,
        responses={200: response, 400: _ERRORS, 403: _FORBIDDEN, 404: _NOT_FOUND, 409: _STEP_CONFLICT},
    )


# --- views -------------------------------------------------------------------------------------------


class _ApiViewSet(viewsets.GenericViewSet):
    parser_classes = [SafeJSONParser]
    filter_backends = [StrictFilterBackend]
    pagination_class = KeysetCursorPagination
    lookup_value_regex = r"[0-9]+"
    # What OPTIONS and the browsable API's forms show per action; the views name theirs directly.
    _ACTION_SERIALIZERS: dict[str, type[serializers.Serializer]] = {}

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        action_name = str(getattr(self, "action", None))
        if action_name in self._ACTION_SERIALIZERS:
            return self._ACTION_SERIALIZERS[action_name]
        return super().get_serializer_class()

    def _list(self, request: Request, serializer: type[serializers.Serializer]) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            serializer(page, many=True, context=self.get_serializer_context()).data
        )

    def _body(self, serializer: type[serializers.Serializer]) -> dict[str, Any]:
        return _validated(serializer(data=self.request.data, context=self.get_serializer_context()))


# What a product's PUT and PATCH answer: 409 when the version sent is not the one saved.
_PRODUCT_CHANGED = {
    200: ProductSerializer,
    400: _ERRORS,
    403: _FORBIDDEN,
    404: _NOT_FOUND,
    409: _STEP_CONFLICT,
}


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List products"),
        description=gettext_lazy("By name, 50 a page (page_size up to 200), each with its SKUs."),
        responses={200: ProductSerializer(many=True), 400: _ERRORS},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One product"),
        parameters=[_id_parameter()],
        responses={200: ProductSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary=gettext_lazy("Create a product with its SKUs"),
        request=ProductWriteSerializer,
        responses={201: ProductSerializer, 400: _ERRORS, 403: _FORBIDDEN},
    ),
    update=extend_schema(
        summary=gettext_lazy("Replace a product and its SKUs"),
        description=gettext_lazy(
            "Fields not sent take their empty or default value. Requires the version you read."
        ),
        parameters=[_id_parameter(), _IF_MATCH],
        request=ProductWriteSerializer,
        responses=_PRODUCT_CHANGED,
    ),
    partial_update=extend_schema(
        summary=gettext_lazy("Change some fields of a product"),
        description=gettext_lazy(
            "Fields not sent keep their value; `skus`, when sent, is the whole list. "
            "Requires the version you read."
        ),
        parameters=[_id_parameter(), _IF_MATCH],
        request=ProductWriteSerializer,
        responses=_PRODUCT_CHANGED,
    ),
)
class ProductViewSet(_ApiViewSet):
    """The catalogue. A product is never deleted (orders refer to it): take it off sale instead."""

    permission_classes = [ProductAccess]
    serializer_class = ProductSerializer
    filterset_class = ProductFilterSet
    _ACTION_SERIALIZERS = {
        "create": ProductWriteSerializer,
        "update": ProductWriteSerializer,
        "partial_update": ProductWriteSerializer,
    }

    def get_queryset(self) -> QuerySet[Product]:
        return product_list()

    def get_object(self) -> Product:
        try:
            product = self.get_queryset().get(pk=int(self.kwargs["pk"]))
        except (Product.DoesNotExist, ValueError, OverflowError) as exc:
            raise NotFound() from exc
        self.check_object_permissions(self.request, product)
        return product

    def _answer(self, product: Product, *, status_code: int = status.HTTP_200_OK) -> Response:
        """The product as saved, SKUs included (a write hands back a row without them)."""
        fresh = self.get_queryset().get(pk=product.pk)
        return self._show(fresh, status_code=status_code)

    def _show(self, product: Product, *, status_code: int = status.HTTP_200_OK) -> Response:
        response = Response(
            ProductSerializer(product, context=self.get_serializer_context()).data, status=status_code
        )
        response["ETag"] = f'"{product.version}"'
        return response

    def list(self, request: Request, format: str | None = None) -> Response:
        return self._list(request, ProductSerializer)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._show(self.get_object())

    def create(self, request: Request, format: str | None = None) -> Response:
        validated = self._body(ProductWriteSerializer)
        product = product_create(
            actor=request.user, data=_product_input(validated, base=ProductInput(name=""))
        )
        response = self._answer(product, status_code=status.HTTP_201_CREATED)
        response["Location"] = reverse("product-detail", kwargs={"pk": product.pk}, request=request)
        return response

    def _update(self, request: Request, *, partial: bool) -> Response:
        product = self.get_object()
        validated = self._body(ProductWriteSerializer)
        version = expected_version(request, validated)
        base = _product_input_from(product) if partial else ProductInput(name="")
        product = product_update(
            actor=request.user,
            product=product,
            data=_product_input(validated, base=base),
            expected_version=version,
        )
        return self._answer(product)

    def update(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._update(request, partial=False)

    def partial_update(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._update(request, partial=True)


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List stores"),
        description=gettext_lazy(
            "The shop's stores by position and name, 50 a page (page_size up to 200): an order is created "
            "with a store's `id`. Inactive stores are listed too (`active=true` leaves them out). "
            "Stores are added and changed on the Stores page, not through the API."
        ),
        responses={200: StoreSerializer(many=True), 400: _ERRORS, 403: _FORBIDDEN},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One store"),
        parameters=[_id_parameter()],
        responses={200: StoreSerializer, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class StoreViewSet(_ApiViewSet):
    """The stores, read only."""

    permission_classes = [StoreAccess]
    serializer_class = StoreSerializer
    filterset_class = StoreFilterSet

    def get_queryset(self) -> QuerySet[Store]:
        return Store.objects.order_by("position", "name")

    def list(self, request: Request, format: str | None = None) -> Response:
        return self._list(request, StoreSerializer)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        try:
            store = self.get_queryset().get(pk=int(pk))
        except (Store.DoesNotExist, ValueError, OverflowError) as exc:
            raise NotFound() from exc
        return Response(StoreSerializer(store, context=self.get_serializer_context()).data)


_ORDER_LIST_DESCRIPTION = gettext_lazy(
    "Orders of the customers you may see, newest first, 50 a page (page_size up to 200); follow `next` "
    "and `previous`. Receiver phone, street address, buyer message and seller notes are masked unless "
    "your role may see contact details. An invalid filter answers 400 naming it."
)


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List orders"),
        description=_ORDER_LIST_DESCRIPTION,
        responses={200: OrderSerializer(many=True), 400: _ERRORS},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One order, with its lines and after-sales"),
        parameters=[_id_parameter()],
        responses={200: OrderDetailSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary=gettext_lazy("Create an order with its lines"),
        description=gettext_lazy(
            "In any status a marketplace reports; a paid (or later) order counts for the customer's "
            "figures at once. Lines name a SKU by `sku_code` or describe the item by `title`. The "
            "customer must be one you may see; any other id is refused as unknown."
        ),
        parameters=[_IDEMPOTENCY_KEY],
        request=OrderWriteSerializer,
        responses={201: OrderDetailSerializer, 400: _ERRORS, 403: _FORBIDDEN, 409: _CONFLICT},
    ),
    pay=extend_schema(
        summary=gettext_lazy("Record the payment of an order"),
        description=gettext_lazy(
            "Or take it on credit (payment_method=credit): beyond the customer's limit that answers 409 "
            "code=credit_limit (resend with allow_over_credit_limit=true) or, if the shop refuses it, "
            "400 code=credit_limit_blocked. paid_cny (on credit, all of it: paid now and owed) of 0 on an "
            "order with something due answers 400 on paid_cny. On credit, paid_now_cny is what the customer "
            "paid at the time: only the rest is owed (credit_taken_cny)."
        ),
        parameters=[_id_parameter(), _IF_MATCH],
        request=PaySerializer,
        responses={
            200: OrderDetailSerializer,
            400: _ERRORS,
            403: _FORBIDDEN,
            404: _NOT_FOUND,
            409: _CONFLICT,
        },
    ),
    ship=_step(
        gettext_lazy("Mark an order shipped"),
        ShipSerializer,
        gettext_lazy("A parcel or freight needs the carrier and tracking number."),
        OrderDetailSerializer,
    ),
    deliver=_step(gettext_lazy("Mark an order delivered"), DeliverSerializer, response=OrderDetailSerializer),
    complete=_step(gettext_lazy("Complete an order"), CompleteSerializer, response=OrderDetailSerializer),
    details=_step(
        gettext_lazy("Correct an order's details"),
        DetailsSerializer,
        gettext_lazy(
            "Carrier, tracking number, receiver, shipping address, buyer message, seller notes and the "
            "payment method of a paid order; only the fields sent change, and the audit log names them. "
            "Lines and amounts are not changed here: a refund, return or exchange is an after-sale "
            "(POST /api/v1/refunds/). Without the permission to see contact details, sending the "
            "receiver phone, the address, the buyer message or the notes answers 403: they are masked "
            "to you and would be overwritten blindly."
        ),
        OrderDetailSerializer,
    ),
    cancel=_step(
        gettext_lazy("Cancel an order awaiting payment"),
        CancelSerializer,
        gettext_lazy("A paid order is refunded instead (POST /api/v1/refunds/)."),
        OrderDetailSerializer,
    ),
)
class OrderViewSet(_ApiViewSet):
    permission_classes = [OrderAccess]
    serializer_class = OrderDetailSerializer
    filterset_class = OrderFilterSet
    _ACTION_SERIALIZERS = {
        "create": OrderWriteSerializer,
        "pay": PaySerializer,
        "ship": ShipSerializer,
        "deliver": DeliverSerializer,
        "complete": CompleteSerializer,
        "cancel": CancelSerializer,
        "details": DetailsSerializer,
    }

    def get_queryset(self) -> QuerySet[Order]:
        return (
            order_visible_queryset(user=getattr(getattr(self, "request", None), "user", None))
            .select_related("customer", "store")
            .prefetch_related("lines")
            .order_by("-ordered_at", "-id")
        )

    def get_object(self) -> Order:
        return order_get_for_actor(actor=self.request.user, order_id=self.kwargs["pk"])

    def _answer(self, order: Order, *, status_code: int = status.HTTP_200_OK) -> Response:
        """The order as saved, read again through the selector (a step hands back a bare row)."""
        return self._show(
            order_get_for_actor(actor=self.request.user, order_id=order.pk), status_code=status_code
        )

    def _show(self, order: Order, *, status_code: int = status.HTTP_200_OK) -> Response:
        prefetch_related_objects(
            [order], Prefetch("aftersales", queryset=AfterSale.objects.order_by("-requested_at", "-id"))
        )
        data = OrderDetailSerializer(order, context=self.get_serializer_context()).data
        response = Response(data, status=status_code)
        response["ETag"] = f'"{order.version}"'
        return response

    def list(self, request: Request, format: str | None = None) -> Response:
        return self._list(request, OrderSerializer)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._show(self.get_object())

    def create(self, request: Request, format: str | None = None) -> Response:
        validated = self._body(OrderWriteSerializer)
        with _credit_limit_answers():
            order = order_create(
                actor=request.user,
                data=_order_input(validated),
                allow_over_credit_limit=validated["allow_over_credit_limit"],
                idempotency_key=_idempotency_key(request),
            )
        response = self._answer(order, status_code=status.HTTP_201_CREATED)
        response["Location"] = reverse("order-detail", kwargs={"pk": order.pk}, request=request)
        return response

    @action(detail=True, methods=["post"])
    def pay(self, request: Request, pk: str, format: str | None = None) -> Response:
        order = self.get_object()
        validated = self._body(PaySerializer)
        with _credit_limit_answers():
            order = order_pay(
                actor=request.user,
                order=order,
                payment_method=validated["payment_method"],
                paid_cny=validated.get("paid_cny"),
                paid_now_cny=validated.get("paid_now_cny"),
                paid_at=validated.get("paid_at"),
                expected_version=expected_version(request, validated),
                allow_over_credit_limit=validated["allow_over_credit_limit"],
            )
        return self._answer(order)

    @action(detail=True, methods=["post"])
    def ship(self, request: Request, pk: str, format: str | None = None) -> Response:
        order = self.get_object()
        validated = self._body(ShipSerializer)
        order = order_ship(
            actor=request.user,
            order=order,
            carrier=validated["carrier"],
            tracking_no=validated["tracking_no"],
            shipped_at=validated["shipped_at"],
            expected_version=expected_version(request, validated),
        )
        return self._answer(order)

    @action(detail=True, methods=["post"])
    def deliver(self, request: Request, pk: str, format: str | None = None) -> Response:
        order = self.get_object()
        validated = self._body(DeliverSerializer)
        order = order_deliver(
            actor=request.user,
            order=order,
            delivered_at=validated["delivered_at"],
            expected_version=expected_version(request, validated),
        )
        return self._answer(order)

    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str, format: str | None = None) -> Response:
        order = self.get_object()
        validated = self._body(CompleteSerializer)
        order = order_complete(
            actor=request.user,
            order=order,
            completed_at=validated["completed_at"],
            expected_version=expected_version(request, validated),
        )
        return self._answer(order)

    @action(detail=True, methods=["post"])
    def details(self, request: Request, pk: str, format: str | None = None) -> Response:
        order = self.get_object()
        validated = self._body(DetailsSerializer)
        changes = {name: validated[name] for name in ORDER_DETAIL_FIELDS if name in validated}
        allowed = order_detail_fields_for(actor=request.user)
        if refused := sorted(set(changes) - set(allowed)):
            message = _("Your role sees contact details masked and may not change them.")
            raise Forbidden(message, field_errors={name: [message] for name in refused})
        order = order_details_update(
            actor=request.user,
            order=order,
            changes=changes,
            expected_version=expected_version(request, validated),
        )
        return self._answer(order)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str, format: str | None = None) -> Response:
        order = self.get_object()
        validated = self._body(CancelSerializer)
        order = order_cancel(
            actor=request.user,
            order=order,
            reason=validated["reason"],
            expected_version=expected_version(request, validated),
        )
        return self._answer(order)


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List after-sales (refunds, returns, exchanges)"),
        description=gettext_lazy(
            "Of the customers you may see, newest first, 50 a page (page_size up to 200)."
        ),
        responses={200: AfterSaleSerializer(many=True), 400: _ERRORS},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One after-sale, with its lines"),
        parameters=[_id_parameter()],
        responses={200: AfterSaleSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary=gettext_lazy("Open an after-sale on a paid order"),
        description=gettext_lazy(
            "The refund is reserved at once and paid out when the after-sale completes; never more than "
            "is left to refund. An order not shipped yet has kind=refund only: a return or an exchange "
            "answers 400 on kind. The order must be one you may see; any other id is refused as unknown."
        ),
        parameters=[_IDEMPOTENCY_KEY],
        request=AfterSaleWriteSerializer,
        responses={201: AfterSaleSerializer, 400: _ERRORS, 403: _FORBIDDEN, 409: _STEP_CONFLICT},
    ),
    approve=_step(
        gettext_lazy("Approve a return or exchange"),
        VersionSerializer,
        gettext_lazy("The customer sends the goods back. A refund without a return completes directly."),
        AfterSaleSerializer,
    ),
    receive=_step(
        gettext_lazy("The returned goods arrived"), ReceiveSerializer, response=AfterSaleSerializer
    ),
    complete=_step(
        gettext_lazy("Complete an after-sale"),
        AfterSaleCompleteSerializer,
        gettext_lazy(
            "Pays the refund out (or sends the exchange, with what was sent back when given): the order, "
            "its lines and the customer's figures move. Refunded in full, the order closes."
        ),
        AfterSaleSerializer,
    ),
    replacement=_step(
        gettext_lazy("Correct what a completed exchange sent"),
        AfterSaleReplacementSerializer,
        gettext_lazy(
            "A mistyped tracking number, the wrong carrier or SKU; no money moves. Only a completed "
            "exchange; the fields left out stay as they are."
        ),
        AfterSaleSerializer,
    ),
    reject=_step(gettext_lazy("Reject an after-sale"), ResolveSerializer, response=AfterSaleSerializer),
    cancel=_step(
        gettext_lazy("Withdraw an after-sale"),
        VersionSerializer,
        gettext_lazy("The customer withdrew the request; its reserved refund is released."),
        AfterSaleSerializer,
    ),
)
class AfterSaleViewSet(_ApiViewSet):
    permission_classes = [AfterSaleAccess]
    serializer_class = AfterSaleSerializer
    filterset_class = AfterSaleFilterSet
    _ACTION_SERIALIZERS = {
        "create": AfterSaleWriteSerializer,
        "approve": VersionSerializer,
        "receive": ReceiveSerializer,
        "complete": AfterSaleCompleteSerializer,
        "replacement": AfterSaleReplacementSerializer,
        "reject": ResolveSerializer,
        "cancel": VersionSerializer,
    }

    def get_queryset(self) -> QuerySet[AfterSale]:
        return (
            aftersale_visible_queryset(user=getattr(getattr(self, "request", None), "user", None))
            .select_related("order", "customer", "replacement_sku")
            .prefetch_related("lines__line")
            .order_by("-requested_at", "-id")
        )

    def get_object(self) -> AfterSale:
        return aftersale_get_for_actor(actor=self.request.user, aftersale_id=self.kwargs["pk"])

    def _answer(self, aftersale: AfterSale, *, status_code: int = status.HTTP_200_OK) -> Response:
        """The after-sale as saved, read again through the selector (a step hands back a bare row)."""
        fresh = aftersale_get_for_actor(actor=self.request.user, aftersale_id=aftersale.pk)
        return self._show(fresh, status_code=status_code)

    def _show(self, aftersale: AfterSale, *, status_code: int = status.HTTP_200_OK) -> Response:
        data = AfterSaleSerializer(aftersale, context=self.get_serializer_context()).data
        response = Response(data, status=status_code)
        response["ETag"] = f'"{aftersale.version}"'
        return response

    def list(self, request: Request, format: str | None = None) -> Response:
        return self._list(request, AfterSaleSerializer)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._show(self.get_object())

    def create(self, request: Request, format: str | None = None) -> Response:
        validated = self._body(AfterSaleWriteSerializer)
        aftersale = aftersale_request(
            actor=request.user,
            order=validated["order"],
            kind=validated["kind"],
            reason=validated["reason"],
            reason_detail=validated["reason_detail"],
            amount_cny=validated["amount_cny"],
            lines=[AfterSaleLineInput(**item) for item in validated["lines"]],
            idempotency_key=_idempotency_key(request),
        )
        response = self._answer(aftersale, status_code=status.HTTP_201_CREATED)
        response["Location"] = reverse("refund-detail", kwargs={"pk": aftersale.pk}, request=request)
        return response

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str, format: str | None = None) -> Response:
        aftersale = self.get_object()
        validated = self._body(VersionSerializer)
        expected = expected_version(request, validated)
        return self._answer(
            aftersale_approve(actor=request.user, aftersale=aftersale, expected_version=expected)
        )

    @action(detail=True, methods=["post"])
    def receive(self, request: Request, pk: str, format: str | None = None) -> Response:
        aftersale = self.get_object()
        validated = self._body(ReceiveSerializer)
        aftersale = aftersale_receive(
            actor=request.user,
            aftersale=aftersale,
            return_tracking_no=validated["return_tracking_no"],
            expected_version=expected_version(request, validated),
        )
        return self._answer(aftersale)

    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str, format: str | None = None) -> Response:
        aftersale = self.get_object()
        validated = self._body(AfterSaleCompleteSerializer)
        aftersale = aftersale_complete(
            actor=request.user,
            aftersale=aftersale,
            resolution_note=validated["resolution_note"],
            replacement=ReplacementInput(
                sku_code=validated["replacement_sku_code"],
                item=validated["replacement_item"],
                carrier=validated["replacement_carrier"],
                tracking_no=validated["replacement_tracking_no"],
            ),
            expected_version=expected_version(request, validated),
        )
        return self._answer(aftersale)

    @action(detail=True, methods=["post"])
    def replacement(self, request: Request, pk: str, format: str | None = None) -> Response:
        aftersale = self.get_object()
        validated = self._body(AfterSaleReplacementSerializer)
        aftersale = aftersale_replacement_update(
            actor=request.user,
            aftersale=aftersale,
            changes={
                name: validated[f"replacement_{name}"]
                for name in REPLACEMENT_FIELDS
                if f"replacement_{name}" in validated
            },
            expected_version=expected_version(request, validated),
        )
        return self._answer(aftersale)

    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str, format: str | None = None) -> Response:
        aftersale = self.get_object()
        validated = self._body(ResolveSerializer)
        aftersale = aftersale_reject(
            actor=request.user,
            aftersale=aftersale,
            resolution_note=validated["resolution_note"],
            expected_version=expected_version(request, validated),
        )
        return self._answer(aftersale)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str, format: str | None = None) -> Response:
        aftersale = self.get_object()
        validated = self._body(VersionSerializer)
        expected = expected_version(request, validated)
        return self._answer(
            aftersale_cancel(actor=request.user, aftersale=aftersale, expected_version=expected)
        )
