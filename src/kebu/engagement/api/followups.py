"""`/api/v1/followups/`: one's follow-ups (or the unassigned ones, or a customer's), adding one, and the
steps: `done`, `snooze`, `reassign`, `cancel`.

Thin: the serializers check shapes, the services hold the rules, and every follow-up is read through
``followup_get_for_actor``, so one the user may not see answers 404 on every verb, as a missing one
does. The creator and the customer's owner are never taken from the input."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from kebu.core.errors import NotFound, ValidationFailed
from kebu.core.forms import DATE_VALIDATORS
from kebu.customers.api import KeysetCursorPagination, VisibleCustomerField, _validated
from kebu.engagement.models import FollowUp, FollowUpStatus
from kebu.engagement.selectors.followups import followup_get_for_actor, followup_list
from kebu.engagement.services import followups as services


class FollowUpSerializer(serializers.ModelSerializer):
    customer_no = serializers.CharField(source="customer.customer_no", read_only=True)
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    order_no = serializers.CharField(source="order.order_no", read_only=True, default=None)
    ticket_number = serializers.CharField(source="ticket.number", read_only=True, default=None)

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "customer",
            "customer_no",
            "customer_name",
            "kind",
            "plan",
            "title",
            "note",
            "due_on",
            "assignee",
            "status",
            "snoozed_count",
            "order",
            "order_no",
            "ticket",
            "ticket_number",
            "contact",
            "outcome",
            "done_at",
            "done_by",
            "created_at",
        ]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)  # a user id
class _Assignee(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> QuerySet[Any]:
        return get_user_model()._default_manager.filter(is_active=True)


class FollowUpCreateSerializer(serializers.Serializer):
    customer = VisibleCustomerField()
    title = serializers.CharField(max_length=services.TITLE_MAX)
    due_on = serializers.DateField(validators=DATE_VALIDATORS)
    assignee = _Assignee(required=False, allow_null=True)
    note = serializers.CharField(max_length=services.NOTE_MAX, required=False, allow_blank=True, default="")


class DoneSerializer(serializers.Serializer):
    outcome = serializers.CharField(
        max_length=services.OUTCOME_MAX, required=False, allow_blank=True, default=""
    )


class SnoozeSerializer(serializers.Serializer):
    days = serializers.IntegerField(min_value=1, max_value=services.SNOOZE_MAX_DAYS, required=False)
    until = serializers.DateField(required=False, validators=DATE_VALIDATORS)


class ReassignSerializer(serializers.Serializer):
    assignee = _Assignee()


class FollowUpCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(
        max_length=services.OUTCOME_MAX, required=False, allow_blank=True, default=""
    )


class FollowUpAccess(permissions.BasePermission):
    """Reading needs ``view_followup``, adding ``add_followup``; who may take a step is the service's
    rule (the assignee, or someone who may change follow-ups), checked after the 404."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if getattr(view, "action", None) == "create":
            return user.has_perm(services.ADD_FOLLOWUP)
        return user.has_perm(services.VIEW_FOLLOWUP)


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List follow-ups"),
        description=gettext_lazy(
            "One's own by default, soonest first; `scope=unassigned` for those nobody has; "
            "`customer=<id>` for every visible one of a customer; `status=open|done|cancelled`."
        ),
        parameters=[
            OpenApiParameter("scope", str, enum=["mine", "unassigned"]),
            OpenApiParameter("customer", int),
            OpenApiParameter("status", str, enum=FollowUpStatus.values),
        ],
    ),
    create=extend_schema(summary=gettext_lazy("Add a follow-up"), request=FollowUpCreateSerializer),
)
class FollowUpViewSet(viewsets.GenericViewSet):
    permission_classes = [FollowUpAccess]
    serializer_class = FollowUpSerializer
    pagination_class = KeysetCursorPagination
    lookup_value_regex = r"[0-9]+"
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[FollowUp]:
        request = getattr(self, "request", None)
        user = getattr(request, "user", None)
        if request is None:
            return FollowUp.objects.none()
        params = request.query_params
        customer = params.get("customer") or None
        state = params.get("status") or None
        errors: dict[str, list[Any]] = {}
        if customer is not None and not customer.isdigit():
            errors["customer"] = [gettext_lazy("A customer id is a number.")]
        if state is not None and state not in FollowUpStatus.values:
            errors["status"] = [gettext_lazy("Choose open, done or cancelled.")]
        scope = params.get("scope") or "mine"
        if scope not in ("mine", "unassigned"):
            errors["scope"] = [gettext_lazy("Choose mine or unassigned.")]
        if errors:
            raise ValidationFailed(gettext_lazy("Please correct the errors below."), field_errors=errors)
        return followup_list(
            user=user, customer_id=int(customer) if customer else None, scope=scope, status=state
        )

    def get_object(self) -> FollowUp:
        return followup_get_for_actor(actor=self.request.user, followup_id=self.kwargs["pk"])

    def _show(self, followup: FollowUp, *, status_code: int = status.HTTP_200_OK) -> Response:
        try:
            fresh = followup_get_for_actor(actor=self.request.user, followup_id=followup.pk)
        except NotFound:
            fresh = followup  # handed to a colleague, of a customer this user does not see
        return Response(FollowUpSerializer(fresh).data, status=status_code)

    def _body(self, serializer: type[serializers.Serializer]) -> dict[str, Any]:
        return _validated(serializer(data=self.request.data, context=self.get_serializer_context()))

    def list(self, request: Request, format: str | None = None) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(FollowUpSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return Response(FollowUpSerializer(self.get_object()).data)

    def create(self, request: Request, format: str | None = None) -> Response:
        validated = self._body(FollowUpCreateSerializer)
        followup = services.followup_create(
            actor=request.user,
            customer=validated["customer"],
            title=validated["title"],
            due_on=validated["due_on"],
            assignee=validated.get("assignee"),
            note=validated["note"],
        )
        return self._show(followup, status_code=status.HTTP_201_CREATED)

    @extend_schema(request=DoneSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def done(self, request: Request, pk: str, format: str | None = None) -> Response:
        followup = self.get_object()
        validated = self._body(DoneSerializer)
        return self._show(
            services.followup_done(actor=request.user, followup=followup, outcome=validated["outcome"])
        )

    @extend_schema(request=SnoozeSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def snooze(self, request: Request, pk: str, format: str | None = None) -> Response:
        followup = self.get_object()
        validated = self._body(SnoozeSerializer)
        return self._show(
            services.followup_snooze(
                actor=request.user,
                followup=followup,
                days=validated.get("days"),
                until=validated.get("until"),
            )
        )

    @extend_schema(request=ReassignSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def reassign(self, request: Request, pk: str, format: str | None = None) -> Response:
        followup = self.get_object()
        validated = self._body(ReassignSerializer)
        return self._show(
            services.followup_reassign(actor=request.user, followup=followup, assignee=validated["assignee"])
        )

    @extend_schema(request=FollowUpCancelSerializer, responses={200: FollowUpSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str, format: str | None = None) -> Response:
        followup = self.get_object()
        validated = self._body(FollowUpCancelSerializer)
        return self._show(
            services.followup_cancel(actor=request.user, followup=followup, reason=validated["reason"])
        )
