"""Pages of the insights area, one module per analysis."""

from django.urls import include, path

from kebu.insights.views import runs

app_name = "insights"
urlpatterns = [
    path("run/<str:kind>/", runs.insight_run_view, name="run"),
    path("", include("kebu.insights.urls.dashboard")),
    path("segments/", include("kebu.insights.urls.scores")),
    path("forecast/", include("kebu.insights.urls.forecast")),
    path("baskets/", include("kebu.insights.urls.baskets")),
    path("cohorts/", include("kebu.insights.urls.cohorts")),
    path("clusters/", include("kebu.insights.urls.clusters")),
]
