"""Who is asking, and from where: the current request, kept for code that has no request at hand.

Signal receivers (a group added in the admin, a flag changed) and services called from views learn
the actor and client address here. :class:`kebu.audit.middleware.AuditContextMiddleware` binds the
request; a context variable (not a thread local) so it stays right under ASGI too."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.http import HttpRequest

_request: ContextVar[HttpRequest | None] = ContextVar("kebu_audit_request", default=None)


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for item in getattr(settings, "KEBU_TRUSTED_PROXIES", []) or []:
        try:
            networks.append(ipaddress.ip_network(str(item).strip(), strict=False))
        except ValueError:
            continue
    return networks


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. X-Forwarded-For is believed only as far as it was written by proxies
    listed in ``KEBU_TRUSTED_PROXIES`` (addresses or networks): anyone can send the header, so its
    entries are walked from the right, past trusted proxies, and the first other address is the
    client's (the way nginx's ``real_ip_recursive`` does it)."""
    peer = _parse_ip(request.META.get("REMOTE_ADDR", "") or "")
    if peer is None:
        return None
    trusted = _trusted_proxies()

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in trusted)

    if not trusted or not is_trusted(peer):
        return str(peer)
    client = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        if not hop.strip():
            continue
        address = _parse_ip(hop)
        if address is None:
            break  # garbage in the header: keep the last address a trusted proxy vouched for
        client = address
        if not is_trusted(address):
            break
    return str(client)


@contextmanager
def request_bound(request: HttpRequest) -> Iterator[None]:
    token = _request.set(request)
    try:
        yield
    finally:
        _request.reset(token)


def current_request() -> HttpRequest | None:
    return _request.get()


def current_ip() -> str | None:
    request = _request.get()
    return client_ip(request) if request is not None else None


def current_user() -> Any:
    """The signed-in user of the current request, or None (no request, or nobody signed in)."""
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user
