"""Segments, value tiers, CLV and churn (mounted at /insights/segments/)."""

from django.urls import path

from kebu.insights.views import scores as views

urlpatterns = [
    path("", views.segments_view, name="segments"),
    path("customers/", views.customers_view, name="segments_customers"),
    path("at-risk/", views.at_risk_view, name="segments_at_risk"),
    path("settings/", views.settings_view, name="segments_settings"),
    path("<slug:segment>/", views.customers_view, name="segments_segment"),
]
