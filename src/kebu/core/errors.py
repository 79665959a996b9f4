"""Domain errors. Services raise these; one handler maps them to HTTP (API) and form errors (HTML)."""

from __future__ import annotations

from typing import Any


class KebuError(Exception):
    """A business rule was broken. ``field_errors`` maps a field name to messages, as forms do."""

    code = "invalid"

    def __init__(self, message: Any = "", *, field_errors: dict[str, list[Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.field_errors = field_errors or {}

    def as_dict(self) -> dict[str, list[str]]:
        errors = {field: [str(m) for m in messages] for field, messages in self.field_errors.items()}
        if self.message and not errors:
            errors["non_field_errors"] = [str(self.message)]
        return errors


class ValidationFailed(KebuError):
    code = "invalid"


class NotFound(KebuError):
    """The object does not exist, or the actor may not see it: one error, so ids cannot be probed."""

    code = "not_found"


class Forbidden(KebuError):
    """The actor may see the object but not do this to it (a missing permission, not a missing row)."""

    code = "forbidden"


class Conflict(KebuError):
    """Someone else changed the object since it was read."""

    code = "conflict"


class DuplicateWarning(KebuError):
    """The data would duplicate another record; the caller may confirm and go on."""

    code = "duplicate"
