"""API glue shared by every app: domain errors become HTTP answers in one place."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kebu.core.errors import Conflict, DuplicateWarning, Forbidden, KebuError, NotFound, ValidationFailed

DB_INT_MAX = 2**63 - 1

_STATUS = {
    NotFound: status.HTTP_404_NOT_FOUND,
    Forbidden: status.HTTP_403_FORBIDDEN,
    Conflict: status.HTTP_409_CONFLICT,
    DuplicateWarning: status.HTTP_409_CONFLICT,
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, KebuError):
        code = next((c for cls, c in _STATUS.items() if isinstance(exc, cls)), status.HTTP_400_BAD_REQUEST)
        body: dict[str, Any] = exc.as_dict()
        body["code"] = exc.code
        return Response(body, status=code)
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        # DRF's "Authentication credentials were not provided." leaves an integrator guessing: the API
        # takes the session of a login (no tokens yet), and writes need its CSRF token too.
        # The view has set the status already (403: a session sends no WWW-Authenticate challenge).
        exc.detail = exceptions.ErrorDetail(
            _(
                "Sign in first: the API uses the session of a login at /login/. Send its session cookie, "
                "and on writes the csrftoken cookie's value as the X-CSRFToken header."
            ),
            code=exc.default_code,
        )
    response = drf_exception_handler(exc, context)
    # DRF's own errors (not signed in, malformed JSON, a method or media type not taken, a bad cursor)
    # answer {"detail": ...}: give them the machine-readable code every Kebu error carries.
    if (
        response is not None
        and isinstance(exc, exceptions.APIException)
        and isinstance(response.data, dict)
        and "detail" in response.data
        and "code" not in response.data
    ):
        codes = exc.get_codes()
        response.data["code"] = codes if isinstance(codes, str) else exc.default_code
    return response


def expected_version(request: Request, validated: dict[str, Any]) -> int:
    """The version the client read: ``version`` in the body or an ``If-Match`` ETag. One is required, so
    that a change made from a stale read (a step taken twice from two tabs) answers 409 instead."""
    from_body = validated.get("version")
    from_header = None
    header = request.headers.get("If-Match", "").strip()
    if header:
        tag = header.removeprefix("W/").strip().strip('"')
        # isdigit() alone lets "²" through, which int() then refuses.
        if not (tag.isascii() and tag.isdigit()) or not 1 <= int(tag) <= DB_INT_MAX:
            raise ValidationFailed(
                field_errors={"version": [_('If-Match must carry the version, e.g. "3".')]}
            )
        from_header = int(tag)
    if from_body is None and from_header is None:
        raise ValidationFailed(
            field_errors={
                "version": [
                    _("Send the version you read (in the body or as If-Match), so no change is lost.")
                ]
            }
        )
    if from_body is not None and from_header is not None and from_body != from_header:
        raise ValidationFailed(field_errors={"version": [_("The body's version and If-Match disagree.")]})
    return from_body if from_body is not None else from_header  # type: ignore[return-value]
