"""What every service page does first: read a permission (never a role's name), and fetch the customer
the asker may see or answer 404, the same for a row that is missing and one that is not theirs."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest

from kebu.core.errors import NotFound
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_get_for_actor


def can(user: Any, *perms: str) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.is_active and user.has_perms(perms))


def require(request: HttpRequest, *perms: str) -> None:
    if not can(request.user, *perms):
        raise PermissionDenied


def customer_or_404(request: HttpRequest, customer_id: Any) -> Customer:
    try:
        return customer_get_for_actor(actor=request.user, customer_id=customer_id)
    except NotFound as exc:
        raise Http404 from exc
