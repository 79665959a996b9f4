"""REST API for feedback and reviews: `/api/v1/feedback/` — list (by customer, product, order, rating;
the reviews of customers the user may see) and create (a review staff entered). Imports of marketplace
review exports go through ``services.feedback.feedback_import_row``, not through this endpoint."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from kebu.customers.api import KeysetCursorPagination, SafeJSONParser, VisibleCustomerField, _validated
from kebu.engagement.models import Feedback
from kebu.engagement.selectors.feedback import feedback_get_for_actor, feedback_visible_queryset
from kebu.engagement.services.feedback import feedback_add
from kebu.orders.api import IdFilter, ModelPermissionAccess, StrictFilterBackend, VisibleOrderField
from kebu.orders.models import Product


class FeedbackAccess(ModelPermissionAccess):
    view, add, change = "engagement.view_feedback", "engagement.add_feedback", "engagement.change_feedback"


class FeedbackFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=gettext_lazy("Customer id."))
    product = IdFilter(field_name="product_id", label=gettext_lazy("Product id."))
    order = IdFilter(field_name="order_id", label=gettext_lazy("Order id."))
    rating = filters.NumberFilter(
        field_name="rating", min_value=1, max_value=5, label=gettext_lazy("Stars, 1 to 5.")
    )

    class Meta:
        model = Feedback
        fields: list[str] = []


class FeedbackSerializer(serializers.ModelSerializer):
    customer_no = serializers.CharField(source="customer.customer_no", read_only=True)
    order_no = serializers.CharField(source="order.order_no", read_only=True, default=None)
    product_name = serializers.CharField(source="product.name", read_only=True, default=None)

    class Meta:
        model = Feedback
        fields = [
            "id",
            "customer",
            "customer_no",
            "order",
            "order_no",
            "product",
            "product_name",
            "rating",
            "comment",
            "source",
            "store",
            "external_id",
            "reviewed_at",
            "created_at",
        ]
        read_only_fields = fields


class FeedbackWriteSerializer(serializers.Serializer):
    customer = VisibleCustomerField(style={"base_template": "input.html"})
    order = VisibleOrderField(
        required=False, allow_null=True, default=None, style={"base_template": "input.html"}
    )
    product = serializers.PrimaryKeyRelatedField(
        queryset=Product.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        style={"base_template": "input.html"},
    )
    rating = serializers.IntegerField(min_value=1, max_value=5)
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    reviewed_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


@extend_schema_view(
    list=extend_schema(summary=gettext_lazy("List reviews"), responses={200: FeedbackSerializer(many=True)}),
    create=extend_schema(
        summary=gettext_lazy("Record a review"),
        request=FeedbackWriteSerializer,
        responses={201: FeedbackSerializer},
    ),
)
class FeedbackViewSet(viewsets.GenericViewSet):
    permission_classes = [FeedbackAccess]
    parser_classes = [SafeJSONParser]
    filter_backends = [StrictFilterBackend]
    filterset_class = FeedbackFilterSet
    pagination_class = KeysetCursorPagination
    serializer_class = FeedbackSerializer

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return FeedbackWriteSerializer if getattr(self, "action", None) == "create" else FeedbackSerializer

    def get_queryset(self) -> QuerySet[Feedback]:
        return (
            feedback_visible_queryset(user=getattr(getattr(self, "request", None), "user", None))
            .select_related("customer", "order", "product")
            .order_by("-reviewed_at", "-id")
        )

    def list(self, request: Request, format: str | None = None) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(FeedbackSerializer(page, many=True).data)

    def create(self, request: Request, format: str | None = None) -> Response:
        validated: dict[str, Any] = _validated(
            FeedbackWriteSerializer(data=request.data, context=self.get_serializer_context())
        )
        feedback = feedback_add(
            actor=request.user,
            customer=validated["customer"],
            order=validated["order"],
            product=validated["product"],
            rating=validated["rating"],
            comment=validated["comment"],
            reviewed_at=validated["reviewed_at"],
        )
        fresh = feedback_get_for_actor(actor=request.user, feedback_id=feedback.pk)
        return Response(FeedbackSerializer(fresh).data, status=status.HTTP_201_CREATED)
