from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.http import HttpRequest, HttpResponseBase, StreamingHttpResponse

from kebu.audit.context import request_bound


class AuditContextMiddleware:
    """Make the request (its user, lazily, and its client address) known to the audit log for the
    length of the view. Goes after AuthenticationMiddleware, which gives the request its user.

    A streamed body is produced after the view has returned; it gets the request back while each
    chunk is made and when it is closed, so an export that records itself at the end (or when the
    download is cut short) still names the address it went to."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        with request_bound(request):
            response = self.get_response(request)
        if isinstance(response, StreamingHttpResponse) and not response.is_async:
            response.streaming_content = _bound(response.streaming_content, request)
            close = response.close

            def close_bound() -> None:
                # The server closes the response (and so the body's generators) when the download
                # ends or is cut short.
                with request_bound(request):
                    close()

            response.close = close_bound  # type: ignore[method-assign]
        return response


def _bound(content: Any, request: HttpRequest) -> Iterator[bytes]:
    iterator = iter(content)
    while True:
        # Bound around each step only: between chunks the server's thread is not this request's.
        with request_bound(request):
            try:
                chunk = next(iterator)
            except StopIteration:
                return
        yield chunk
