"""`/api/v1/preferences/<customer_id>/`: a customer's preferences. GET reads both parts: what the
customer told the shop (the top-level fields) and ``inferred``, what their orders suggest (read-only,
computed on each read, present only for those who may see purchases). PUT replaces the told part; a
field left out is cleared. A customer the user may not see answers 404 on every verb."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from kebu.customers import selectors as customer_selectors
from kebu.customers.access import can
from kebu.customers.api import SafeJSONParser, _validated
from kebu.engagement.models import ContactChannel, Preference, PriceBand
from kebu.engagement.selectors.preferences import (
    MIN_ORDERS,
    InferredPreferences,
    preference_for_actor,
    preferences_inferred,
)
from kebu.engagement.services.preferences import (
    ITEM_MAX_CHARS,
    LIST_MAX_ITEMS,
    NOTES_MAX,
    PreferenceInput,
    preference_update,
)
from kebu.orders.api import _ERRORS, _FORBIDDEN, _NOT_FOUND
from kebu.orders.models import Brand, Category


class PreferenceAccess(permissions.BasePermission):
    """GET needs ``view_preference``; PUT ``view_preference`` and ``change_preference``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return can(request.user, "engagement.view_preference")
        return can(request.user, "engagement.view_preference", "engagement.change_preference")


def _text_list() -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=ITEM_MAX_CHARS, allow_blank=True),
        max_length=LIST_MAX_ITEMS,
        required=False,
        default=list,
    )


class PreferenceWriteSerializer(serializers.Serializer):
    """The told part, whole: a field left out is cleared (PUT replaces)."""

    categories = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.all(), many=True, required=False, default=list
    )
    brands = serializers.PrimaryKeyRelatedField(
        queryset=Brand.objects.all(), many=True, required=False, default=list
    )
    colours = _text_list()
    sizes = _text_list()
    styles = _text_list()
    price_band = serializers.ChoiceField(
        choices=PriceBand.choices, required=False, allow_blank=True, default=""
    )
    preferred_channel = serializers.ChoiceField(
        choices=ContactChannel.choices, required=False, allow_blank=True, default=""
    )
    contact_from = serializers.TimeField(required=False, allow_null=True, default=None)
    contact_until = serializers.TimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Earlier than contact_from: the hours run past midnight."),
    )
    do_not_disturb = serializers.BooleanField(required=False, default=False)
    notes = serializers.CharField(max_length=NOTES_MAX, required=False, allow_blank=True, default="")


class RankedSerializer(serializers.Serializer):
    label = serializers.CharField()
    amount = serializers.CharField(help_text=gettext_lazy("Spend in ¥ (categories, brands) or pieces."))


class InferredSerializer(serializers.Serializer):
    order_count = serializers.IntegerField()
    enough = serializers.BooleanField(
        help_text=gettext_lazy("False below %(n)d paid orders: then nothing else is inferred.")
        % {"n": MIN_ORDERS}
    )
    categories = RankedSerializer(many=True)
    brands = RankedSerializer(many=True)
    colours = RankedSerializer(many=True)
    sizes = RankedSerializer(many=True)
    price_band = serializers.CharField()
    typical_unit_price = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    usual_hour = serializers.IntegerField(allow_null=True)
    usual_weekday = serializers.IntegerField(allow_null=True, help_text=gettext_lazy("0 Monday … 6 Sunday."))


class PreferenceSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    categories = serializers.ListField(child=serializers.DictField())
    brands = serializers.ListField(child=serializers.DictField())
    colours = serializers.ListField(child=serializers.CharField())
    sizes = serializers.ListField(child=serializers.CharField())
    styles = serializers.ListField(child=serializers.CharField())
    price_band = serializers.CharField()
    preferred_channel = serializers.CharField()
    contact_from = serializers.TimeField(allow_null=True)
    contact_until = serializers.TimeField(allow_null=True)
    do_not_disturb = serializers.BooleanField()
    notes = serializers.CharField()
    updated_at = serializers.DateTimeField(allow_null=True)
    updated_by = serializers.CharField(allow_null=True)
    inferred = InferredSerializer(allow_null=True, read_only=True)


def _told(customer_id: int, preference: Preference | None) -> dict[str, Any]:
    if preference is None:
        return {
            "customer": customer_id,
            "categories": [],
            "brands": [],
            "colours": [],
            "sizes": [],
            "styles": [],
            "price_band": "",
            "preferred_channel": "",
            "contact_from": None,
            "contact_until": None,
            "do_not_disturb": False,
            "notes": "",
            "updated_at": None,
            "updated_by": None,
        }
    return {
        "customer": customer_id,
        "categories": [{"id": c.pk, "name": str(c)} for c in preference.categories.all()],
        "brands": [{"id": b.pk, "name": b.name} for b in preference.brands.all()],
        "colours": list(preference.colours),
        "sizes": list(preference.sizes),
        "styles": list(preference.styles),
        "price_band": preference.price_band,
        "preferred_channel": preference.preferred_channel,
        "contact_from": preference.contact_from,
        "contact_until": preference.contact_until,
        "do_not_disturb": preference.do_not_disturb,
        "notes": preference.notes,
        # In the shop's time zone, as every other time of the API (a dict is rendered as it is: UTC).
        "updated_at": serializers.DateTimeField().to_representation(preference.updated_at),
        "updated_by": str(preference.updated_by) if preference.updated_by else None,
    }


def _inferred(inferred: InferredPreferences) -> dict[str, Any]:
    ranked = lambda items: [{"label": r.label, "amount": str(r.amount)} for r in items]  # noqa: E731
    return {
        "order_count": inferred.order_count,
        "enough": inferred.enough,
        "categories": ranked(inferred.categories),
        "brands": ranked(inferred.brands),
        "colours": ranked(inferred.colours),
        "sizes": ranked(inferred.sizes),
        "price_band": inferred.price_band,
        "typical_unit_price": inferred.typical_unit_price,
        "usual_hour": inferred.usual_hour,
        "usual_weekday": inferred.usual_weekday,
    }


_CUSTOMER_ID = OpenApiParameter(
    "customer_id", int, OpenApiParameter.PATH, description=gettext_lazy("Customer id.")
)


@extend_schema_view(
    retrieve=extend_schema(
        summary=gettext_lazy("A customer's preferences"),
        description=gettext_lazy("What they told the shop, and (read-only) what their orders suggest."),
        parameters=[_CUSTOMER_ID],
        responses={200: PreferenceSerializer, 404: _NOT_FOUND},
    ),
    update=extend_schema(
        summary=gettext_lazy("Replace what a customer told the shop"),
        parameters=[_CUSTOMER_ID],
        request=PreferenceWriteSerializer,
        responses={200: PreferenceSerializer, 400: _ERRORS, 403: _FORBIDDEN, 404: _NOT_FOUND},
    ),
)
class PreferenceViewSet(viewsets.GenericViewSet):
    permission_classes = [PreferenceAccess]
    parser_classes = [SafeJSONParser]
    serializer_class = PreferenceSerializer
    lookup_url_kwarg = "customer_id"
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "put", "head", "options"]

    def get_queryset(self) -> Any:
        return Preference.objects.none()  # the customer is looked up through its own selector

    def _show(self, request: Request, customer: Any) -> Response:
        body = _told(customer.pk, preference_for_actor(actor=request.user, customer=customer))
        body["inferred"] = (
            _inferred(preferences_inferred(customer=customer))
            if customer_selectors.purchases_visible(user=request.user)
            else None
        )
        return Response(body)

    def retrieve(self, request: Request, customer_id: str, format: str | None = None) -> Response:
        customer = customer_selectors.customer_get_for_actor(actor=request.user, customer_id=customer_id)
        return self._show(request, customer)

    def update(self, request: Request, customer_id: str, format: str | None = None) -> Response:
        customer = customer_selectors.customer_get_for_actor(actor=request.user, customer_id=customer_id)
        data = _validated(PreferenceWriteSerializer(data=request.data, context=self.get_serializer_context()))
        preference_update(actor=request.user, customer=customer, data=PreferenceInput(**data))
        return self._show(request, customer)
