"""API glue shared by every app: domain errors become HTTP answers in one place."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from kebu.core.errors import Conflict, DuplicateWarning, Forbidden, KebuError, NotFound

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
    return drf_exception_handler(exc, context)
