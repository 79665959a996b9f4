"""Kebu's URLs, and three views that fail the way a real request can: a write that finds the database held
by another writer, on a page and on the API, and an error nobody expected (``test_error_pages``)."""

from django.db import connections
from django.http import HttpRequest, HttpResponse
from django.urls import path

from kebu.urls import handler500
from kebu.urls import urlpatterns as kebu_urlpatterns

# The connection the busy views write through: a file database of the test's own, another connection
# holding its write lock (test_error_pages.held_database).
HELD_ALIAS = "held"


def write_to_held_database(request: HttpRequest) -> HttpResponse:
    connections[HELD_ALIAS].cursor().execute("INSERT INTO t VALUES (1)")
    return HttpResponse("written")


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a bug")


urlpatterns = [
    path("held/", write_to_held_database),
    path("api/v1/held/", write_to_held_database),
    path("failing/", fail),
    *kebu_urlpatterns,
]

__all__ = ["handler500", "urlpatterns"]
