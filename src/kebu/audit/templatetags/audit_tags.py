"""The audit log page's words for an entry: see ``kebu.audit.display``."""

from __future__ import annotations

from typing import Any

from django import template

from kebu.audit import display

register = template.Library()


@register.filter
def audit_target(entry: Any) -> str:
    """What the entry is about, as a merchant names it ("Customer C000123 张三"); "" for nothing."""
    return display.target_text(entry)


@register.simple_tag
def audit_target_url(entry: Any) -> str:
    """Where the target can be seen (a customer, an order, an import …); else ""."""
    return display.target_url(entry)
