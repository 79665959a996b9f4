"""The customer timeline's fragments (the first page is rendered with the customer page)."""

from django.urls import path

from kebu.engagement.views import timeline

app_name = "timeline"
urlpatterns = [path("customer/<int:customer_id>/", timeline.timeline_view, name="customer")]
