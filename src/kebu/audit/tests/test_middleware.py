from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import RequestFactory

from kebu.audit.context import current_ip, current_user
from kebu.audit.middleware import AuditContextMiddleware
from kebu.audit.models import AuditEntry
from kebu.audit.tests.factories import record

pytestmark = pytest.mark.django_db

ADDRESS = "198.51.100.4"


def streaming_export(request: HttpRequest) -> StreamingHttpResponse:
    """A download that records itself when it ends, however it ends (as the customer export does)."""

    def body() -> Iterator[bytes]:
        sent = 0
        try:
            for chunk in (b"a\n", b"b\n", b"c\n"):
                yield chunk
                sent += 1
        finally:
            record("customer.export", request.user, data={"rows": sent})

    return StreamingHttpResponse(body())


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Closing a response ends the request, which closes the database connection, and with it the
    test's transaction; Django's test client holds that back the same way."""
    request_finished.disconnect(close_old_connections)
    yield
    request_finished.connect(close_old_connections)


def get(clerk, view):
    request = RequestFactory().get("/", REMOTE_ADDR=ADDRESS)
    request.user = clerk
    return AuditContextMiddleware(view)(request)


def test_the_request_is_known_during_the_view_and_forgotten_after(clerk):
    seen: dict[str, object] = {}

    def view(request: HttpRequest) -> HttpResponse:
        seen.update(ip=current_ip(), user=current_user())
        return HttpResponse("ok")

    get(clerk, view)

    assert seen == {"ip": ADDRESS, "user": clerk}
    assert current_ip() is None and current_user() is None


def test_a_streamed_download_records_its_address_when_it_ends(clerk):
    response = get(clerk, streaming_export)

    assert b"".join(response.streaming_content) == b"a\nb\nc\n"
    response.close()

    entry = AuditEntry.objects.get(action="customer.export")
    assert entry.ip == ADDRESS and entry.actor == clerk and entry.data == {"rows": 3}
    assert current_ip() is None


def test_a_streamed_download_cut_short_still_records_its_address(clerk):
    response = get(clerk, streaming_export)

    next(iter(response.streaming_content))
    response.close()  # the client went away

    entry = AuditEntry.objects.get(action="customer.export")
    assert entry.ip == ADDRESS and entry.data == {"rows": 0}
    assert current_ip() is None
