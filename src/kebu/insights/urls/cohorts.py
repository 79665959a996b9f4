"""Cohort retention: /insights/cohorts/."""

from django.urls import path

from kebu.insights.views import cohorts

urlpatterns = [
    path("", cohorts.cohorts_view, name="cohorts"),
]
