"""Why a run has no figures (or fewer), written in the reader's language when shown.

A run's message ("Clusters need at least 200 customers with orders; there are 12.") was stored as text,
in the language of whoever pressed "compute now", or the shop's for the nightly run, and read so to every
colleague until the next run. So a run keeps what the sentence is made of (``InsightRun.message_parts``:
a key and its numbers) and the sentence is written again when a page shows it; ``InsightRun.message``
keeps it in the shop's language for the admin and the ``insights`` command. The same parts stand beside
the sentences a run keeps in its result (the lifetime-value reason, a forecast view's message).

Every sentence is here, not beside the computation that finds it, so that a page can write it without
importing numpy and scipy. A key this version does not know (a run made by a later Kebu) writes ""
and the caller shows the stored text."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.insights.errors import TooFewData


def message_text(parts: Mapping[str, Any] | None) -> str:
    """The sentence ``parts`` are made of, in the active language; "" for parts it cannot read."""
    if not parts:
        return ""
    try:
        return _WRITERS[parts["key"]](parts)
    except (KeyError, TypeError, ValueError):
        return ""


def message_stored(parts: Mapping[str, Any]) -> str:
    """The sentence in the shop's language, as the run keeps it beside its parts."""
    with translation.override(settings.LANGUAGE_CODE):
        return message_text(parts)


def message_shown(parts: Any, stored: Any = "") -> str:
    """What a page shows: the sentence from ``parts`` in the reader's language, else ``stored`` as it
    is (a run made before runs kept their parts)."""
    return message_text(parts if isinstance(parts, Mapping) else None) or str(stored or "")


def too_few(key: str, **values: Any) -> TooFewData:
    """The ``TooFewData`` to raise: its message in the active language, and the parts to keep."""
    parts = {"key": key, **values}
    return TooFewData(message_text(parts), parts=parts)


def _failed(p: Mapping[str, Any]) -> str:
    return _("The computation failed: %(error)s") % {"error": p["error"]}


def _customers(p: Mapping[str, Any]) -> str:
    n = int(p["n"])
    if n == 0:
        message = _(
            "Purchase patterns need at least %(min)d customers with orders; no customer has ordered yet."
        )
    else:
        message = ngettext(
            "Purchase patterns need at least %(min)d customers with orders; there is %(n)d.",
            "Purchase patterns need at least %(min)d customers with orders; there are %(n)d.",
            n,
        )
    return message % {"min": int(p["min"]), "n": n}


def _repeaters(p: Mapping[str, Any]) -> str:
    n = int(p["n"])
    if n == 0:
        message = _(
            "Purchase patterns need at least %(min)d customers who came back for a second order; "
            "none has come back yet."
        )
    else:
        message = ngettext(
            "Purchase patterns need at least %(min)d customers who came back for a second order; "
            "there is %(n)d.",
            "Purchase patterns need at least %(min)d customers who came back for a second order; "
            "there are %(n)d.",
            n,
        )
    return message % {"min": int(p["min"]), "n": n}


def _spend_repeaters(p: Mapping[str, Any]) -> str:
    n = int(p["n"])
    if n == 0:
        message = _(
            "Spend per order needs at least %(min)d customers who came back for a second order; "
            "none has come back yet."
        )
    else:
        message = ngettext(
            "Spend per order needs at least %(min)d customers who came back for a second order; "
            "there is %(n)d.",
            "Spend per order needs at least %(min)d customers who came back for a second order; "
            "there are %(n)d.",
            n,
        )
    return message % {"min": int(p["min"]), "n": n}


def _cluster_customers(p: Mapping[str, Any]) -> str:
    n = int(p["n"])
    if n == 0:
        message = _("Clusters need at least %(min)d customers with orders; no customer has ordered yet.")
    else:
        message = ngettext(
            "Clusters need at least %(min)d customers with orders; there is %(n)d.",
            "Clusters need at least %(min)d customers with orders; there are %(n)d.",
            n,
        )
    return message % {"min": int(p["min"]), "n": n}


def _baskets(p: Mapping[str, Any]) -> str:
    """Why there are no rules yet, in words that read right for a shop with none of them too."""
    have, need = int(p["have"]), int(p["need"])
    if have == 0:
        return _(
            "No order holds two products or more yet; frequently bought together needs at least %(min)s "
            "to say what goes with what."
        ) % {"min": need}
    return ngettext(
        "Only %(n)s order holds two products or more; frequently bought together needs at least %(min)s "
        "to say what goes with what.",
        "Only %(n)s orders hold two products or more; frequently bought together needs at least %(min)s "
        "to say what goes with what.",
        have,
    ) % {"n": have, "min": need}


def _cohorts(p: Mapping[str, Any]) -> str:
    return _(
        "No customer placed a first order in the last %(n)d months, so there is no cohort to follow."
    ) % {"n": int(p["n"])}


def _forecast_weeks(p: Mapping[str, Any]) -> str:
    have = int(p["have"])
    if have == 0:
        message = _("A forecast needs at least %(need)d complete weeks with sales; the shop has none yet.")
    else:
        message = _(
            "A forecast needs at least %(need)d complete weeks with sales; the shop has %(have)d so far."
        )
    return message % {"need": int(p["need"]), "have": have}


def _forecast_view(p: Mapping[str, Any]) -> str:
    have, monthly = int(p["have"]), p["period"] == "month"
    if have == 0 and monthly:
        message = _("A monthly forecast needs at least %(need)d complete months; the shop has none yet.")
    elif have == 0:
        message = _("A weekly forecast needs at least %(need)d complete weeks; the shop has none yet.")
    elif monthly:
        message = _(
            "A monthly forecast needs at least %(need)d complete months; the shop has %(have)d so far."
        )
    else:
        message = _("A weekly forecast needs at least %(need)d complete weeks; the shop has %(have)d so far.")
    return message % {"need": int(p["need"]), "have": have}


def _sentence(text: Callable[[], str]) -> Callable[[Mapping[str, Any]], str]:
    return lambda p: text()


_WRITERS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "failed": _failed,
    "clv.customers": _customers,
    "clv.repeaters": _repeaters,
    "clv.no_history": _sentence(
        lambda: _("All customers bought for the first time today; there is no history to learn from.")
    ),
    "clv.unsettled": _sentence(
        lambda: _("Purchase patterns could not be estimated: the fit did not settle on an answer.")
    ),
    "clv.unclear": _sentence(
        lambda: _(
            "Purchase patterns could not be estimated: the orders do not yet show how often customers "
            "buy or how they drop away."
        )
    ),
    "spend.repeaters": _spend_repeaters,
    "spend.same": _sentence(lambda: _("Spend per order cannot be modelled: every customer spends the same.")),
    "spend.unsettled": _sentence(
        lambda: _("Spend per order could not be estimated: the fit did not settle on an answer.")
    ),
    "spend.unclear": _sentence(
        lambda: _("Spend per order could not be estimated: the orders do not pin it down yet.")
    ),
    "spend.uneven": _sentence(
        lambda: _("Spend per order is too uneven between customers to give a reliable expected value yet.")
    ),
    "clusters.customers": _cluster_customers,
    "clusters.alike": _sentence(
        lambda: _(
            "The customers are all alike in recency, orders, spend and categories: no clusters to find."
        )
    ),
    "baskets.too_few": _baskets,
    "cohorts.none": _cohorts,
    "scores.no_orders": _sentence(lambda: _("No customer has a paid order yet; scores need at least one.")),
    "forecast.weeks": _forecast_weeks,
    "forecast.view": _forecast_view,
}
