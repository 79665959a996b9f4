"""The title of a follow-up Kebu made (a plan's reminder, an at-risk customer's call), written in the
reader's language when it is shown.

A reminder's title is a sentence about its cause ("签收后回访 · 订单 KB0001"). Stored as text, it stayed
in the language of the day it was made and read Chinese on English pages. So the reminder keeps what
the sentence is made of (``FollowUp.title_parts``: the plan's name as it was, the order number, the
day, the amount) and the sentence is written again at display time; ``FollowUp.title`` keeps it in the
shop's language for search, the API and the admin. A follow-up a person wrote keeps no parts: their
words are shown as written.

A plan's name is the shop's own words, with one exception: the plans Kebu gives a new shop (named in
Chinese by migration 0002). A plan still called by its default name, in either language, is shown by
that default in the reader's language, in the admin and in its reminders' titles; once renamed, as
written. The name is compared rather than flagged, so there is no flag to fall out of step with the
text: a plan renamed back to its default name reads as the default again."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from kebu.core import lunar
from kebu.core.text import seeded_name
from kebu.customers.columns import grouped

# kind -> (the default name, the name migration 0002 gave it): the plans a new shop starts with.
DEFAULT_PLAN_NAMES: dict[str, tuple[Promise, str]] = {
    "after_delivery": (pgettext_lazy("follow-up plan", "Call after delivery"), "签收后回访"),
    "repurchase": (pgettext_lazy("follow-up plan", "Repurchase reminder"), "复购提醒"),
    "birthday": (pgettext_lazy("follow-up plan", "Birthday greetings"), "生日关怀"),
    "credit_due": (pgettext_lazy("follow-up plan", "Credit due reminder"), "赊账到期提醒"),
}


def plan_name(*, kind: str, name: str) -> str:
    """A plan's name as the reader sees it: its default in the reader's language while the plan is still
    called by it (in any of the shop's languages), else as the shop wrote it."""
    default = DEFAULT_PLAN_NAMES.get(kind)
    if default is None:
        return name
    text, seeded = default
    return seeded_name(name=name, default=text, seeded=seeded)


def date_text(day: date) -> str:
    """A day in a reminder's title as every page of Kebu shows a day, 2026-03-07, in both languages: the
    row that shows the title shows the due day so, and a birthday's 3月7日 beside a due date's 2026-03-13
    read as two different ways of counting."""
    return day.isoformat()


def reminder_title(parts: Mapping[str, Any]) -> str:
    """The reminder's title from its parts, in the active language; "" for parts it cannot read (a
    reminder made by a later version of Kebu, a row edited by hand), so the caller falls back on the
    stored title."""
    try:
        return _WRITERS[parts["kind"]](parts)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        return ""


def _after_delivery(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · order %(no)s") % {"plan": _plan(p), "no": p["no"]}


def _repurchase(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · %(item)s runs out %(day)s") % {
        "plan": _plan(p),
        "item": p["item"],
        "day": date_text(date.fromisoformat(p["day"])),
    }


def _birthday(p: Mapping[str, Any]) -> str:
    day = date_text(date.fromisoformat(p["day"]))
    if "lunar" not in p:
        return _("%(plan)s · birthday %(day)s") % {"plan": _plan(p), "day": day}
    year, month, lunar_day, leap = p["lunar"]
    label = lunar.lunar_label(lunar.LunarDay(int(year), int(month), int(lunar_day), bool(leap)))
    return _("%(plan)s · birthday %(lunar)s (%(day)s)") % {"plan": _plan(p), "lunar": label, "day": day}


def _date_field(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · %(field)s %(day)s") % {
        "plan": _plan(p),
        "field": p["field"],
        "day": date_text(date.fromisoformat(p["day"])),
    }


def _credit_due(p: Mapping[str, Any]) -> str:
    return _("%(plan)s · order %(no)s · ¥%(owed)s due %(day)s") % {
        "plan": _plan(p),
        "no": p["no"],
        "owed": grouped(Decimal(p["owed"])),
        "day": date_text(date.fromisoformat(p["day"])),
    }


def _at_risk(p: Mapping[str, Any]) -> str:
    return _("Valuable customer at risk of leaving: get in touch")


def _plan(p: Mapping[str, Any]) -> str:
    return plan_name(kind=p["kind"], name=p["plan"])


_WRITERS = {
    "after_delivery": _after_delivery,
    "repurchase": _repurchase,
    "birthday": _birthday,
    "date_field": _date_field,
    "credit_due": _credit_due,
    "at_risk": _at_risk,
}
