"""`GET /api/v1/customers/<id>/timeline/`: the customer's timeline, newest first, a page at a time.

Each entry names its kind, time and record id, with a short summary of the record. Profile changes list
the fields that changed, not their values: those may be contact details, which the API shows only
through the customer endpoints and their masking."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kebu.customers.api import KeysetCursorPagination, page_size_asked
from kebu.customers.selectors import customer_get_for_actor
from kebu.engagement.selectors.timeline import SOURCES, Cursor, Entry, customer_timeline

PAGE_SIZE = 30


def _summary(entry: Entry) -> dict[str, Any]:
    row = entry.obj
    match entry.kind:
        case "order":
            return {
                "order_no": row.order_no,
                "store": str(row.store),
                "status": row.status,
                "paid_cny": str(row.paid_cny),
            }
        case "aftersale":
            return {
                "order_id": row.order_id,
                "type": row.kind,
                "status": row.status,
                "amount_cny": str(row.amount_cny),
            }
        case "contact":
            return {
                "channel": row.channel,
                "direction": row.direction,
                "summary": row.summary,
                "next_step": row.next_step,
                "next_step_due": row.next_step_due,
            }
        case "ticket":
            return {
                "number": row.number,
                "subject": row.subject,
                "category": row.category,
                "status": row.status,
            }
        case "feedback":
            return {
                "rating": row.rating,
                "comment": row.comment,
                "product_id": row.product_id,
                "order_id": row.order_id,
            }
        case "survey":
            return {"survey_id": row.survey_id, "survey": row.survey.title}
        case "followup":
            return {"title": row.title, "outcome": row.outcome}
        case _:
            return {"event": row.kind, "fields": sorted((row.data or {}).get("changes", {}))}


class CustomerTimelineView(APIView):
    @extend_schema(
        summary=gettext_lazy("A customer's timeline"),
        description=gettext_lazy(
            "Orders, returns and refunds, contacts, tickets, feedback, survey answers, follow-ups done and "
            "profile changes, newest first, 30 a page (page_size up to 200); `next` is the URL of the older "
            "ones."
        ),
        parameters=[
            OpenApiParameter("customer_id", OpenApiTypes.INT, OpenApiParameter.PATH),
            OpenApiParameter(
                "kind", OpenApiTypes.STR, many=True, enum=[source.kind for source in SOURCES], required=False
            ),
            OpenApiParameter("before", OpenApiTypes.STR, required=False, description="From `next`."),
            OpenApiParameter("page_size", OpenApiTypes.INT, required=False),
        ],
        responses=inline_serializer(
            "Timeline",
            {
                "results": serializers.ListField(child=serializers.DictField()),
                "next": serializers.CharField(allow_null=True),
            },
        ),
    )
    def get(self, request: Request, customer_id: int) -> Response:
        customer = customer_get_for_actor(actor=request.user, customer_id=customer_id)
        kinds = request.query_params.getlist("kind")
        page = customer_timeline(
            actor=request.user,
            customer=customer,
            kinds=kinds,
            cursor=Cursor.decode(request.query_params.get("before")),
            limit=page_size_asked(request, default=PAGE_SIZE, maximum=KeysetCursorPagination.max_page_size),
        )
        next_url = None
        if page.next_cursor is not None:
            query = request.query_params.copy()
            query["before"] = page.next_cursor.encode()
            next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        moment = serializers.DateTimeField()  # in the shop's time zone, as every other time of the API
        results = [
            {
                "kind": entry.kind,
                "at": moment.to_representation(entry.at),
                "id": entry.obj.pk,
                **_summary(entry),
            }
            for entry in page.entries
        ]
        return Response({"results": results, "next": next_url})
