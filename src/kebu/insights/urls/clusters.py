"""Customer clusters: /insights/clusters/."""

from django.urls import path

from kebu.insights.views import clusters

urlpatterns = [
    path("", clusters.clusters_view, name="clusters"),
]
