"""Errors of the insights area."""

from collections.abc import Mapping
from typing import Any

from kebu.core.errors import KebuError


class TooFewData(KebuError):
    """The shop's data cannot support this analysis yet; the message says what is missing. A run that
    raises it is recorded as done, with the message in place of figures that would only be noise.

    ``parts`` is what the message is made of (``kebu.insights.messages``), kept on the run so that each
    reader sees it in their own language; raise it through ``messages.too_few``."""

    code = "too_few_data"

    def __init__(self, message: Any = "", *, parts: Mapping[str, Any] | None = None):
        super().__init__(message)
        self.parts = dict(parts or {})
