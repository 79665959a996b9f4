"""`/api/v1/contacts/`: contact records. List (filtered by customer, channel, time), retrieve, create.

A contact record is a log of what was said on a day: there is no update or delete (PUT, PATCH and
DELETE answer 405); a correction is a new record. Create takes JSON, or multipart form data when files
come with it (``attachments``, up to five pictures or PDFs, checked by their bytes). A customer id the
user may not see reads as "does not exist" (400 on the field), a record of such a customer answers 404;
errors have the customers API's shape (`{"<field>": [...], "code": ...}`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers, status, viewsets
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from kebu.core.forms import DATE_VALIDATORS
from kebu.customers.api import KeysetCursorPagination, SafeJSONParser, VisibleCustomerField, _validated
from kebu.engagement.models import Attachment, ContactChannel, ContactRecord, Direction
from kebu.engagement.selectors import contacts as selectors
from kebu.engagement.services.contacts import NEXT_STEP_MAX, SUMMARY_MAX, ContactInput, contact_log
from kebu.orders.api import (
    _ERRORS,
    _FORBIDDEN,
    _NOT_FOUND,
    IdFilter,
    ModelPermissionAccess,
    StrictFilterBackend,
    _day_start,
    _id_parameter,
)


class ContactAccess(ModelPermissionAccess):
    view, add, change = (
        "engagement.view_contactrecord",
        "engagement.add_contactrecord",
        "engagement.add_contactrecord",  # nothing is changed: update and delete do not exist
    )


class AttachmentSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="original_name", read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Attachment
        fields = ["id", "name", "content_type", "size_bytes", "sha256", "url"]
        read_only_fields = fields

    def get_url(self, attachment: Attachment) -> str:
        path = reverse("contacts:attachment", args=[attachment.pk])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class ContactSerializer(serializers.ModelSerializer):
    customer_no = serializers.CharField(source="customer.customer_no", read_only=True)
    created_by = serializers.StringRelatedField(read_only=True)  # type: ignore[assignment]
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta:
        model = ContactRecord
        fields = [
            "id",
            "customer",
            "customer_no",
            "channel",
            "direction",
            "occurred_at",
            "summary",
            "next_step",
            "next_step_due",
            "ticket",
            "attachments",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class ContactWriteSerializer(serializers.Serializer):
    """What a client sends to log a contact; who logged it is the requesting user, never input."""

    customer = VisibleCustomerField(style={"base_template": "input.html"})
    channel = serializers.ChoiceField(choices=ContactChannel.choices)
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.OUTBOUND)
    occurred_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text=gettext_lazy("When it happened; now when left out.")
    )
    summary = serializers.CharField(max_length=SUMMARY_MAX)
    next_step = serializers.CharField(max_length=NEXT_STEP_MAX, required=False, allow_blank=True, default="")
    next_step_due = serializers.DateField(
        required=False,
        allow_null=True,
        validators=DATE_VALIDATORS,
        help_text=gettext_lazy("Today or later; with a next step it becomes a follow-up for you."),
    )
    attachments = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True),
        required=False,
        default=list,
        help_text=gettext_lazy("Multipart only: up to 5 PNG, JPEG, GIF, WebP, HEIC or PDF files."),
    )


class ContactFilterSet(filters.FilterSet):
    customer = IdFilter(field_name="customer_id", label=gettext_lazy("Customer id."))
    channel = filters.ChoiceFilter(choices=ContactChannel.choices, label=gettext_lazy("Channel."))
    mine = filters.BooleanFilter(method="filter_mine", label=gettext_lazy("Only the records you logged."))
    occurred_after = filters.DateFilter(
        method="filter_after",
        validators=DATE_VALIDATORS,
        label=gettext_lazy("On or after this day (shop time)."),
    )
    occurred_before = filters.DateFilter(
        method="filter_before",
        validators=DATE_VALIDATORS,
        label=gettext_lazy("On or before this day (shop time)."),
    )

    class Meta:
        model = ContactRecord
        fields: list[str] = []

    def filter_mine(self, qs: QuerySet[ContactRecord], name: str, value: bool) -> QuerySet[ContactRecord]:
        return qs.filter(created_by=self.request.user) if value else qs

    def filter_after(self, qs: QuerySet[ContactRecord], name: str, value: date) -> QuerySet[ContactRecord]:
        return qs.filter(occurred_at__gte=_day_start(value))

    def filter_before(self, qs: QuerySet[ContactRecord], name: str, value: date) -> QuerySet[ContactRecord]:
        return qs.filter(occurred_at__lt=_day_start(value + timedelta(days=1)))


class ContactPagination(KeysetCursorPagination):
    ordering = ("-occurred_at", "-id")


@extend_schema_view(
    list=extend_schema(
        summary=gettext_lazy("List contact records"),
        description=gettext_lazy("Newest first, 50 a page (page_size up to 200), with their attachments."),
        responses={200: ContactSerializer(many=True), 400: _ERRORS},
    ),
    retrieve=extend_schema(
        summary=gettext_lazy("One contact record"),
        parameters=[_id_parameter()],
        responses={200: ContactSerializer, 404: _NOT_FOUND},
    ),
    create=extend_schema(
        summary=gettext_lazy("Log a contact"),
        description=gettext_lazy(
            "JSON, or multipart with `attachments`. A next step with a due date also becomes a "
            "follow-up assigned to you. Records are never changed or deleted."
        ),
        request={"application/json": ContactWriteSerializer, "multipart/form-data": ContactWriteSerializer},
        responses={201: ContactSerializer, 400: _ERRORS, 403: _FORBIDDEN},
    ),
)
class ContactViewSet(viewsets.GenericViewSet):
    permission_classes = [ContactAccess]
    parser_classes = [SafeJSONParser, MultiPartParser, FormParser]
    filter_backends = [StrictFilterBackend]
    filterset_class = ContactFilterSet
    pagination_class = ContactPagination
    serializer_class = ContactSerializer
    lookup_value_regex = r"[0-9]+"

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        return ContactWriteSerializer if getattr(self, "action", None) == "create" else ContactSerializer

    def get_queryset(self) -> QuerySet[ContactRecord]:
        user = getattr(getattr(self, "request", None), "user", None)
        return selectors.contact_list(user=user)

    def list(self, request: Request, format: str | None = None) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(
            ContactSerializer(page, many=True, context=self.get_serializer_context()).data
        )

    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        record = selectors.contact_get_for_actor(actor=request.user, contact_id=pk)
        return Response(ContactSerializer(record, context=self.get_serializer_context()).data)

    def create(self, request: Request, format: str | None = None) -> Response:
        data: dict[str, Any] = _validated(
            ContactWriteSerializer(data=request.data, context=self.get_serializer_context())
        )
        files = request.FILES.getlist("attachments") if request.FILES else []
        record = contact_log(
            actor=request.user,
            customer=data["customer"],
            data=ContactInput(
                channel=data["channel"],
                direction=data["direction"],
                occurred_at=data.get("occurred_at"),
                summary=data["summary"],
                next_step=data.get("next_step") or "",
                next_step_due=data.get("next_step_due"),
            ),
            files=files,
        )
        fresh = selectors.contact_get_for_actor(actor=request.user, contact_id=record.pk)
        return Response(
            ContactSerializer(fresh, context=self.get_serializer_context()).data,
            status=status.HTTP_201_CREATED,
        )
