from __future__ import annotations

from typing import Any

import phonenumbers
from django import template
from django.conf import settings
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

register = template.Library()


@register.filter
def get_item(mapping: Any, key: str) -> Any:
    if isinstance(mapping, dict):
        return mapping.get(key)
    return None


@register.simple_tag
def query_with(query: str, **changes: Any) -> str:
    """``query`` (an urlencoded string) with some parameters replaced; a value of None removes one."""
    params = QueryDict(query, mutable=True)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    return params.urlencode()


@register.filter
def custom_value(custom: Any, key: str) -> str:
    """A custom field's value for display; ``key`` may carry the list's ``cf_`` prefix."""
    if not isinstance(custom, dict):
        return ""
    value = custom.get(key.removeprefix("cf_"))
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(_("Yes") if value else _("No"))
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return str(value)


@register.filter
def phone_display(e164: str) -> str:
    """A stored phone in the national format people read (138 1234 5678); foreign numbers keep +."""
    if not e164:
        return ""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if phonenumbers.region_code_for_number(number) == settings.KEBU["PHONE_REGION"]
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


_CHILD_LABELS = {
    "phones": gettext_lazy("Phones"),
    "addresses": gettext_lazy("Addresses"),
    "socials": gettext_lazy("Social accounts"),
    "tags": gettext_lazy("Tags"),
    "consents": gettext_lazy("Marketing consent"),
    "custom": gettext_lazy("More fields"),
}


@register.filter
def field_label(name: str) -> str:
    """The label a person knows a customer field by, for the timeline's change lists."""
    from kebu.customers.models import Customer

    if name in _CHILD_LABELS:
        return str(_CHILD_LABELS[name])
    try:
        return str(Customer._meta.get_field(name).verbose_name)
    except Exception:
        return name
