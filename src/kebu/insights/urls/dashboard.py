"""The dashboard: /insights/ and its spreadsheet."""

from django.urls import path

from kebu.insights.views import dashboard as views

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("dashboard.xlsx", views.dashboard_export_view, name="dashboard-export"),
]
