"""The sales forecast: /insights/forecast/ and its spreadsheet."""

from django.urls import path

from kebu.insights.views import forecast

urlpatterns = [
    path("", forecast.forecast_view, name="forecast"),
    path("export/", forecast.forecast_export_view, name="forecast-export"),
]
