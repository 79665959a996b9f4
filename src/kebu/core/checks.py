"""System checks: ``kebu check``, ``kebu serve``, ``kebu worker`` and ``migrate`` refuse to start on a
keyring that cannot read this database."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, Tags, register

from kebu.core.crypto import KeyringError, keyring_check


@register(Tags.security)
def keyring_matches_database(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    try:
        keyring_check(register=False)
    except KeyringError as exc:
        return [Error(str(exc), id="kebu.E001")]
    return []
