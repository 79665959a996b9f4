"""The title of a follow-up a plan made, written in the reader's language when it is shown.

A reminder's title is a sentence about its cause ("签收后回访 · 订单 KB0001"). Stored as text, it stayed
in the language of the day it was made and read Chinese on English pages. So the reminder keeps what
the sentence is made of (``FollowUp.title_parts``: the plan's name as it was, the order number, the
day, the amount) and the sentence is written again at display time; ``FollowUp.title`` keeps it in the
shop's language for search, the API and the admin. A follow-up a person wrote keeps no parts: their
words are shown as written."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _

from kebu.core import lunar
from kebu.customers.columns import grouped


def date_text(day: date) -> str:
    """A day as the reader writes it in a reminder: 3月7日, or 2026-03-07."""
    return (
        f"{day.month}月{day.day}日"
        if (translation.get_language() or "").startswith("zh")
        else day.isoformat()
    )


def reminder_title(parts: Mapping[str, Any]) -> str:
    """The reminder's title from its parts, in the active language; "" for parts it cannot read (a
    reminder made by a later version of Kebu, a row edited by hand), so the caller falls back on the
    stored title."""
    try:
        return _WRITERS[parts["kind"]](parts)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return ""


def _after_delivery(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · order %(no)s") % {"plan": p["plan"], "no": p["no"]}


def _repurchase(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · %(item)s runs out %(day)s") % {
        "plan": p["plan"],
        "item": p["item"],
        "day": date_text(date.fromisoformat(p["day"])),
    }


def _birthday(p: Mapping[str, Any]) -> str:
    day = date_text(date.fromisoformat(p["day"]))
    if "lunar" not in p:
        return _("%(plan)s · birthday %(day)s") % {"plan": p["plan"], "day": day}
    year, month, lunar_day, leap = p["lunar"]
    label = lunar.lunar_label(lunar.LunarDay(int(year), int(month), int(lunar_day), bool(leap)))
    return _("%(plan)s · birthday %(lunar)s (%(day)s)") % {"plan": p["plan"], "lunar": label, "day": day}


def _date_field(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · %(field)s %(day)s") % {"plan": p["plan"], "field": p["field"], "day": p["day"]}


def _credit_due(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · order %(no)s · ¥%(owed)s due %(day)s") % {
        "plan": p["plan"],
        "no": p["no"],
        "owed": grouped(Decimal(p["owed"])),
        "day": p["day"],
    }


_WRITERS = {
    "after_delivery": _after_delivery,
    "repurchase": _repurchase,
    "birthday": _birthday,
    "date_field": _date_field,
    "credit_due": _credit_due,
}
