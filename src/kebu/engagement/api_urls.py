"""`/api/v1/contacts/`, `/api/v1/tickets/`, `/api/v1/feedback/`, `/api/v1/preferences/`,
`/api/v1/surveys/`, `/api/v1/followups/`, `/api/v1/customers/<id>/timeline/`. A SimpleRouter, as in
orders: the API root view is the customers router's."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from kebu.engagement.api.contacts import ContactViewSet
from kebu.engagement.api.feedback import FeedbackViewSet
from kebu.engagement.api.followups import FollowUpViewSet
from kebu.engagement.api.preferences import PreferenceViewSet
from kebu.engagement.api.surveys import SurveyViewSet
from kebu.engagement.api.tickets import TicketViewSet
from kebu.engagement.api.timeline import CustomerTimelineView

router = SimpleRouter()
router.register("surveys", SurveyViewSet, basename="survey")
router.register("contacts", ContactViewSet, basename="contact")
router.register("preferences", PreferenceViewSet, basename="preference")
router.register("tickets", TicketViewSet, basename="ticket")
router.register("feedback", FeedbackViewSet, basename="feedback")
router.register("followups", FollowUpViewSet, basename="followup")
urlpatterns = [
    path("customers/<int:customer_id>/timeline/", CustomerTimelineView.as_view(), name="customer-timeline"),
    *router.urls,
]
