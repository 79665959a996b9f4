"""What ``kebu import`` and ``kebu export`` share: the staff member a run is recorded under."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import CommandError


def staff_member_named(username: str | None) -> Any:
    """The staff member with this login name, None for none given; ``CommandError`` for an unknown one."""
    if not username:
        return None
    user = get_user_model()._default_manager.filter(username=username).first()
    if user is None:
        raise CommandError(f"No staff member is called {username!r}.")
    return user
