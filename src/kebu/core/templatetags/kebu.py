from __future__ import annotations

import json
import re
from typing import Any

import phonenumbers
from django import template
from django.conf import settings
from django.http import QueryDict
from django.urls import reverse
from django.utils.html import format_html, linebreaks
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kebu.core.text import list_join

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
        return list_join(value)
    return str(value)


_CN_MOBILE = re.compile(r"\+861[3-9]\d{9}")


@register.filter
def phone_display(e164: str) -> str:
    """A stored phone in the national format people read (138 1234 5678); foreign numbers keep +."""
    if not e164:
        return ""
    if settings.KEBU["PHONE_REGION"] == "CN" and _CN_MOBILE.fullmatch(e164):
        # The common case, without parsing: what phonenumbers formats a mainland mobile as (3-4-4).
        return f"{e164[3:6]} {e164[6:10]} {e164[10:]}"
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
    # The model's "name" is shared with products and categories (名称); a customer's is their 姓名.
    "name": gettext_lazy("Name"),
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


@register.filter
def stage_label(key: str) -> str:
    """A lifecycle stage's name as the shop reads it (新客, 复购 …), from its stored key."""
    from kebu.customers.models import Stage

    return str(Stage(key).label) if key in Stage.values else key


def _contact_policy(context: Any) -> Any:
    """The page's contact policy (kebu.customers.privacy), worked out once per request."""
    from kebu.customers.privacy import NOBODY, contact_policy

    request = context.get("request")
    if request is None:
        return NOBODY
    policy = getattr(request, "_kebu_contact_policy", None)
    if policy is None:
        policy = request._kebu_contact_policy = contact_policy(request.user)
    return policy


@register.simple_tag(name="contact_full")
def contact_full(value: str, kind: str) -> SafeString:
    """A revealed contact detail (the reveal view has checked and audited it)."""
    return contact_format(kind, value or "")


def contact_format(kind: str, value: str) -> SafeString:
    """A contact detail shown in full: phones as people read them, notes with their line breaks."""
    if kind == "phone":
        return format_html("{}", phone_display(value))
    if kind == "text":
        return SafeString(linebreaks(value, autoescape=True))
    return format_html("{}", value)


@register.simple_tag(takes_context=True)
def contact(
    context: Any, value: str | None, kind: str, customer: Any = None, field: str = "", item: Any = ""
) -> SafeString:
    """A contact detail as the viewer may see it. Masked values never carry the full one anywhere, not
    even in an attribute; with ``customer`` and ``field`` given, someone who may reveal gets a button
    that asks the server for the value (audited) and puts it in place."""
    value = value or ""
    if not value:
        return SafeString("")
    policy = _contact_policy(context)
    if policy.can_see:
        return contact_format(kind, value)
    masked = policy.show(kind, value)
    if not (policy.can_reveal and customer is not None and field):
        return format_html('<span class="contact-masked">{}</span>', masked)
    return format_html(
        '<span class="contact-value"><span class="contact-masked">{}</span> '
        '<button type="button" class="btn btn-link btn-sm p-0 align-baseline contact-reveal" '
        'hx-post="{}" hx-vals=\'{}\' hx-target="closest .contact-value" hx-swap="outerHTML" '
        'title="{}" aria-label="{}"><i class="bi bi-eye"></i></button></span>',
        masked,
        reverse("customers:reveal", args=[customer.pk]),
        json.dumps({"field": field, "item": str(item)}),
        _("Reveal (recorded in the audit log)"),
        _("Reveal"),
    )


@register.simple_tag(takes_context=True)
def contact_change(context: Any, field: str, value: Any) -> str:
    """One side of a timeline change, masked when ``field`` holds contact details the viewer may not see."""
    from kebu.customers.privacy import show_change

    return show_change(_contact_policy(context), field, "" if value is None else str(value))
