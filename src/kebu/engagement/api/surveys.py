"""`/api/v1/surveys/`: the surveys (list; one with its questions and its NPS and CSAT), and
`POST /api/v1/surveys/<id>/invitations/` to make a customer's personal link (its URL in the answer).

Thin: the serializers list their fields; a customer id the user may not see reads as "does not exist"
(400 on the field, as elsewhere), the service decides the rest; errors have the customers API's shape.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from kebu.core.errors import ValidationFailed
from kebu.customers.api import KeysetCursorPagination, VisibleCustomerField, _validated
from kebu.engagement.models import Question, Survey
from kebu.engagement.selectors import surveys as selectors
from kebu.engagement.services import surveys as services
from kebu.orders.selectors import order_visible_queryset


class SurveyPermission(permissions.BasePermission):
    """Reading needs ``engagement.view_survey``; making a link ``engagement.add_surveyinvitation``."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        if getattr(view, "action", None) == "invitations":
            return user.has_perm("engagement.add_surveyinvitation")
        return user.has_perm("engagement.view_survey")


class QuestionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Question
        fields = ["id", "position", "kind", "text", "required", "choices"]
        read_only_fields = fields


class SurveySerializer(serializers.ModelSerializer):
    class Meta:
        model = Survey
        fields = ["id", "title", "intro", "thanks", "link_valid_days", "is_active", "created_at"]
        read_only_fields = fields


class SurveyDetailSerializer(SurveySerializer):
    questions = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()

    class Meta(SurveySerializer.Meta):
        fields = [*SurveySerializer.Meta.fields, "questions", "results"]
        read_only_fields = fields

    def get_questions(self, survey: Survey) -> list[dict[str, Any]]:
        return QuestionSerializer(selectors.survey_questions(survey), many=True).data

    @extend_schema(
        responses=inline_serializer(
            "SurveyFigures",
            {
                "sent": serializers.IntegerField(),
                "answered": serializers.IntegerField(),
                "nps": serializers.DictField(allow_null=True),
                "csat": serializers.DictField(allow_null=True),
            },
        )
    )
    def get_results(self, survey: Survey) -> dict[str, Any]:
        """Links sent and answered; the first NPS question's score (−100 … 100) and the first CSAT
        question's share of 4–5 answers (per cent) and average, each with its count."""
        return selectors.survey_headline(survey)


class InvitationRequestSerializer(serializers.Serializer):
    customer = VisibleCustomerField(style={"base_template": "input.html"})
    order = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    survey = serializers.IntegerField(source="survey_id")
    customer = serializers.IntegerField(source="customer_id")
    order = serializers.IntegerField(source="order_id", allow_null=True)
    url = serializers.CharField()
    expires_at = serializers.DateTimeField()
    created = serializers.BooleanField()


class SurveyViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [SurveyPermission]
    pagination_class = KeysetCursorPagination
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return selectors.survey_list()

    def get_serializer_class(self) -> Any:
        return SurveyDetailSerializer if self.action == "retrieve" else SurveySerializer

    def get_object(self) -> Survey:
        return selectors.survey_get_for_actor(actor=self.request.user, survey_id=self.kwargs["pk"])

    @extend_schema(
        request=InvitationRequestSerializer, responses={201: InvitationSerializer, 200: InvitationSerializer}
    )
    @action(detail=True, methods=["post"], url_path="invitations")
    def invitations(self, request: Request, pk: Any = None) -> Response:
        """Make the customer's personal link to this survey (about one of their orders, optionally).
        201 with its URL; 200 with the same URL when the customer already has an open link."""
        survey = self.get_object()
        data = _validated(InvitationRequestSerializer(data=request.data, context={"request": request}))
        customer = data["customer"]
        order = None
        if data.get("order"):
            # Only an order the user may see: without ``orders.view_order`` none is, and an order id
            # cannot be probed (the same message whether it exists or not).
            order = (
                order_visible_queryset(user=request.user).filter(pk=data["order"], customer=customer).first()
            )
            if order is None:
                raise ValidationFailed(field_errors={"order": [_("Choose one of this customer's orders.")]})
        invitation, created = services.invitation_create(
            actor=request.user, survey=survey, customer=customer, order=order
        )
        url = request.build_absolute_uri(
            reverse("surveys:answer", args=[selectors.invitation_token(invitation)])
        )
        body = InvitationSerializer(
            {
                "id": invitation.pk,
                "survey_id": invitation.survey_id,
                "customer_id": invitation.customer_id,
                "order_id": invitation.order_id,
                "url": url,
                "expires_at": invitation.expires_at,
                "created": created,
            }
        ).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
