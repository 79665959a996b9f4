from __future__ import annotations

import json
from typing import Any

from django import template
from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from kebu.audit.selectors import CUSTOMER_TYPE
from kebu.audit.services import change_lines
from kebu.core.text import list_join

register = template.Library()

_DETAIL_LABELS = {
    "rows": _("Rows"),
    "username": _("Username"),
    "failures": _("Failed attempts"),
    "locked_out": _("While locked out"),
    "added": _("Added"),
    "removed": _("Removed"),
    "filters": _("Filters"),
    "is_active": _("active"),
    "is_staff": _("staff status"),
    "is_superuser": _("superuser status"),
    # customer.reveal: which contact detail, and the id of the phone, address … row it is in
    "field": _("Contact detail"),
    "item": _("Row id"),
    # two-step verification
    "new_phone": _("Replaced an earlier authenticator"),
    "left": _("Recovery codes left"),
}


def _detail_value(entry: Any, key: str, value: Any) -> Any:
    """A value that is itself a code name, in words: the contact detail a reveal showed."""
    if entry.action == "customer.reveal" and key == "field":
        from kebu.customers.privacy import REVEALABLE_LABELS

        return REVEALABLE_LABELS.get(value, value)
    return value


def _field_label(target_type: str, name: str) -> str:
    if target_type == CUSTOMER_TYPE:
        from kebu.core.templatetags.kebu import field_label

        return field_label(name)
    try:
        return str(apps.get_model(target_type)._meta.get_field(name).verbose_name)
    except (LookupError, ValueError, FieldDoesNotExist):
        return name


@register.filter
def audit_changes(entry: Any) -> list[tuple[str, str, str]]:
    """``(field label, before, after)`` for each change of an entry."""
    return [(_field_label(entry.target_type, f), b, a) for f, b, a in change_lines(entry.changes)]


@register.filter
def audit_details(entry: Any) -> list[tuple[str, str]]:
    """``(label, value)`` for each item of an entry's extra data."""
    out = []
    for key, value in (entry.data or {}).items():
        if value in ([], {}, None, ""):
            continue
        value = _detail_value(entry, key, value)
        if isinstance(value, dict):
            text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        elif isinstance(value, list):
            text = list_join(value)
        elif isinstance(value, bool):
            text = str(_("Yes") if value else _("No"))
        else:
            text = str(value)
        out.append((str(_DETAIL_LABELS.get(key, key)), text))
    return out


@register.simple_tag
def audit_target_url(entry: Any) -> str:
    """Where the target can be seen, when it is a customer; else ""."""
    if entry.target_type == CUSTOMER_TYPE and entry.target_id.isdigit() and entry.target_id.isascii():
        try:
            return reverse("customers:detail", args=[int(entry.target_id)])
        except NoReverseMatch:
            return ""
    return ""
