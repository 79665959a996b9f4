"""REST API for tickets and complaints: `/api/v1/tickets/`.

List (filters, keyset pages), create, retrieve with the history, and the steps: `POST
/api/v1/tickets/<id>/transition/` (the status flow, with the version read, in the body or If-Match),
`/assign/` and `/note/`. Thin: the serializers check the shape, the services the rules; every ticket is
read through ``ticket_visible_queryset``, so one the user may not see answers 404 on every verb."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse

from kebu.core.api import DB_INT_MAX, expected_version
from kebu.customers.api import KeysetCursorPagination, SafeJSONParser, VisibleCustomerField, _validated
from kebu.engagement.models import (
    OPEN_TICKET_STATUSES,
    Ticket,
    TicketCategory,
    TicketEvent,
    TicketKind,
    TicketPriority,
    TicketResult,
    TicketStatus,
)
from kebu.engagement.selectors.tickets import ticket_assignees, ticket_get_for_actor, ticket_visible_queryset
from kebu.engagement.services import tickets as services
from kebu.orders.api import IdFilter, ModelPermissionAccess, StrictFilterBackend, VisibleOrderField


class TicketAccess(ModelPermissionAccess):
    view, add, change = "engagement.view_ticket", "engagement.add_ticket", "engagement.change_ticket"


class TicketFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=gettext_lazy("Customer id."))
    order = IdFilter(field_name="order_id", label=gettext_lazy("Order id."))
    assignee = IdFilter(field_name="assignee_id", label=gettext_lazy("Assignee (user id)."))
    unassigned = filters.BooleanFilter(
        field_name="assignee", lookup_expr="isnull", label=gettext_lazy("Only tickets nobody is assigned.")
    )
    status = filters.MultipleChoiceFilter(choices=TicketStatus.choices, label=gettext_lazy("Status."))
    category = filters.MultipleChoiceFilter(choices=TicketCategory.choices, label=gettext_lazy("Category."))
    priority = filters.MultipleChoiceFilter(choices=TicketPriority.choices, label=gettext_lazy("Priority."))
    kind = filters.ChoiceFilter(choices=TicketKind.choices, label=gettext_lazy("Complaint or request."))
    is_open = filters.BooleanFilter(
        method="filter_open", label=gettext_lazy("Open (new, in progress, waiting).")
    )
    overdue = filters.BooleanFilter(
        method="filter_overdue", label=gettext_lazy("Open and past the resolution due time.")
    )

    class Meta:
        model = Ticket
        fields: list[str] = []

    def filter_open(self, qs: QuerySet[Ticket], name: str, value: bool) -> QuerySet[Ticket]:
        return (
            qs.filter(status__in=OPEN_TICKET_STATUSES)
            if value
            else qs.exclude(status__in=OPEN_TICKET_STATUSES)
        )

    def filter_overdue(self, qs: QuerySet[Ticket], name: str, value: bool) -> QuerySet[Ticket]:
        overdue = {"status__in": OPEN_TICKET_STATUSES, "due_at__lt": timezone.now()}
        return qs.filter(**overdue) if value else qs.exclude(**overdue)


class TicketSerializer(serializers.ModelSerializer):
    customer_no = serializers.CharField(source="customer.customer_no", read_only=True)
    order_no = serializers.CharField(source="order.order_no", read_only=True, default=None)
    is_overdue = serializers.BooleanField(read_only=True)

    class Meta:
        model = Ticket
        fields = [
            "id",
            "number",
            "customer",
            "customer_no",
            "kind",
            "category",
            "priority",
            "subject",
            "status",
            "assignee",
            "order",
            "order_no",
            "opened_at",
            "first_response_due_at",
            "first_responded_at",
            "due_at",
            "resolved_at",
            "closed_at",
            "reopened_count",
            "result",
            "satisfaction",
            "is_overdue",
            "version",
        ]
        read_only_fields = fields


class TicketEventSerializer(serializers.ModelSerializer):
    actor_name = serializers.CharField(source="actor", read_only=True, default=None)

    class Meta:
        model = TicketEvent
        fields = ["id", "kind", "from_value", "to_value", "note", "actor", "actor_name", "created_at"]
        read_only_fields = fields


class TicketDetailSerializer(TicketSerializer):
    lines = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    aftersales = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    events = serializers.SerializerMethodField()

    class Meta(TicketSerializer.Meta):
        fields = [*TicketSerializer.Meta.fields, "description", "resolution", "lines", "aftersales", "events"]
        read_only_fields = fields

    @extend_schema_field(TicketEventSerializer(many=True))
    def get_events(self, ticket: Ticket) -> Any:
        events = (
            TicketEvent.objects.filter(ticket=ticket).select_related("actor").order_by("created_at", "id")
        )
        return TicketEventSerializer(events, many=True).data


@extend_schema_field(OpenApiTypes.INT)  # a user id
class AssigneeField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self) -> QuerySet[Any]:
        return ticket_assignees()


class TicketWriteSerializer(serializers.Serializer):
    customer = VisibleCustomerField(style={"base_template": "input.html"})
    kind = serializers.ChoiceField(choices=TicketKind.choices, required=False, default=TicketKind.COMPLAINT)
    category = serializers.ChoiceField(choices=TicketCategory.choices)
    priority = serializers.ChoiceField(
        choices=TicketPriority.choices, required=False, default=TicketPriority.NORMAL
    )
    subject = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    order = VisibleOrderField(
        required=False, allow_null=True, default=None, style={"base_template": "input.html"}
    )
    lines = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=DB_INT_MAX),
        required=False,
        default=list,
        max_length=200,
        help_text=gettext_lazy("Ids of lines of the order."),
    )
    aftersales = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=DB_INT_MAX),
        required=False,
        default=list,
        max_length=200,
        help_text=gettext_lazy(
            "Ids of after-sales of the order (a refund in progress) to link the ticket to."
        ),
    )
    assignee = AssigneeField(
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Left out: the customer's owner, or you."),
        style={"base_template": "input.html"},
    )


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=DB_INT_MAX,
        help_text=gettext_lazy("The version you read (or send it as If-Match)."),
    )


class TransitionSerializer(VersionSerializer):
    to_status = serializers.ChoiceField(choices=TicketStatus.choices)
    note = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    resolution = serializers.CharField(
        max_length=4000,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("Required to resolve."),
    )
    result = serializers.ChoiceField(
        choices=TicketResult.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("Required to resolve."),
    )
    satisfaction = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=5,
        help_text=gettext_lazy("1 to 5, only when closing."),
    )


class AssignSerializer(VersionSerializer):
    assignee = AssigneeField(allow_null=True, style={"base_template": "input.html"})


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=4000)


@extend_schema_view(
    list=extend_schema(summary=gettext_lazy("List tickets"), responses={200: TicketSerializer(many=True)}),
    retrieve=extend_schema(
        summary=gettext_lazy("One ticket with its history"), responses={200: TicketDetailSerializer}
    ),
    create=extend_schema(
        summary=gettext_lazy("Open a ticket"),
        request=TicketWriteSerializer,
        responses={201: TicketDetailSerializer},
    ),
    transition=extend_schema(
        summary=gettext_lazy("Move a ticket along its status flow"),
        request=TransitionSerializer,
        responses={200: TicketDetailSerializer},
    ),
    assign=extend_schema(
        summary=gettext_lazy("Reassign a ticket"),
        request=AssignSerializer,
        responses={200: TicketDetailSerializer},
    ),
    note=extend_schema(
        summary=gettext_lazy("Add a note to a ticket's history"),
        request=NoteSerializer,
        responses={201: TicketDetailSerializer},
    ),
)
class TicketViewSet(viewsets.GenericViewSet):
    permission_classes = [TicketAccess]
    parser_classes = [SafeJSONParser]
    filter_backends = [StrictFilterBackend]
    filterset_class = TicketFilterSet
    pagination_class = KeysetCursorPagination
    serializer_class = TicketSerializer
    lookup_value_regex = r"[0-9]+"
    _ACTION_SERIALIZERS: dict[str, type[serializers.Serializer]] = {
        "retrieve": TicketDetailSerializer,
        "create": TicketWriteSerializer,
        "transition": TransitionSerializer,
        "assign": AssignSerializer,
        "note": NoteSerializer,
    }

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return self._ACTION_SERIALIZERS.get(str(getattr(self, "action", None)), TicketSerializer)

    def get_queryset(self) -> QuerySet[Ticket]:
        return (
            ticket_visible_queryset(user=getattr(getattr(self, "request", None), "user", None))
            .select_related("customer", "order")
            .order_by("-opened_at", "-id")
        )

    def get_object(self) -> Ticket:
        return ticket_get_for_actor(actor=self.request.user, ticket_id=self.kwargs["pk"])

    def _body(self, serializer: type[serializers.Serializer]) -> dict[str, Any]:
        return _validated(serializer(data=self.request.data, context=self.get_serializer_context()))

    def _show(self, ticket: Ticket, *, status_code: int = status.HTTP_200_OK) -> Response:
        fresh = ticket_get_for_actor(actor=self.request.user, ticket_id=ticket.pk)
        data = TicketDetailSerializer(fresh, context=self.get_serializer_context()).data
        response = Response(data, status=status_code)
        response["ETag"] = f'"{fresh.version}"'
        return response

    def list(self, request: Request, format: str | None = None) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(TicketSerializer(page, many=True).data)

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        return self._show(self.get_object())

    def create(self, request: Request, format: str | None = None) -> Response:
        validated = self._body(TicketWriteSerializer)
        ticket = services.ticket_open(
            actor=request.user,
            customer=validated["customer"],
            data=services.TicketInput(
                kind=validated["kind"],
                category=validated["category"],
                priority=validated["priority"],
                subject=validated["subject"],
                description=validated["description"],
                order=validated["order"],
                line_ids=validated["lines"],
                assignee=validated["assignee"],
                aftersale_ids=validated["aftersales"],
            ),
        )
        response = self._show(ticket, status_code=status.HTTP_201_CREATED)
        response["Location"] = reverse("ticket-detail", kwargs={"pk": ticket.pk}, request=request)
        return response

    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str, format: str | None = None) -> Response:
        ticket = self.get_object()
        validated = self._body(TransitionSerializer)
        ticket = services.ticket_transition(
            actor=request.user,
            ticket=ticket,
            to_status=validated["to_status"],
            note=validated["note"],
            resolution=validated["resolution"],
            result=validated["result"],
            satisfaction=validated["satisfaction"],
            expected_version=expected_version(request, validated),
        )
        return self._show(ticket)

    @action(detail=True, methods=["post"])
    def assign(self, request: Request, pk: str, format: str | None = None) -> Response:
        ticket = self.get_object()
        validated = self._body(AssignSerializer)
        ticket = services.ticket_assign(
            actor=request.user,
            ticket=ticket,
            assignee=validated["assignee"],
            expected_version=expected_version(request, validated),
        )
        return self._show(ticket)

    @action(detail=True, methods=["post"])
    def note(self, request: Request, pk: str, format: str | None = None) -> Response:
        ticket = self.get_object()
        validated = self._body(NoteSerializer)
        services.ticket_note_add(actor=request.user, ticket=ticket, note=validated["note"])
        return self._show(ticket, status_code=status.HTTP_201_CREATED)
