"""What a customer told the shop they like, and how and when they want to be reached.

Only what the customer said is stored (``Preference``); what their orders suggest is computed each
time by ``selectors.preferences.preferences_inferred`` and never written here, so the two cannot mix."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Forbidden, NotFound, ValidationFailed
from kebu.customers.models import Customer
from kebu.customers.selectors import customer_is_visible
from kebu.engagement.models import ContactChannel, Preference, PriceBand
from kebu.orders.models import Brand, Category

CHANGE_PREFERENCE = "engagement.change_preference"
LIST_MAX_ITEMS = 20
ITEM_MAX_CHARS = 30
NOTES_MAX = 500
TEXT_LISTS = ("colours", "sizes", "styles")


@dataclass
class PreferenceInput:
    """The whole "told us" part: a field left empty clears what was stored."""

    categories: Sequence[Category | int] = ()
    brands: Sequence[Brand | int] = ()
    colours: Sequence[str] = ()
    sizes: Sequence[str] = ()
    styles: Sequence[str] = ()
    price_band: str = ""
    preferred_channel: str = ""
    contact_from: time | None = None
    contact_until: time | None = None
    do_not_disturb: bool = False
    notes: str = ""


def _add(errors: dict[str, list[Any]], key: str, message: Any) -> None:
    errors.setdefault(key, []).append(message)


def _text_list(values: Sequence[str], *, key: str, errors: dict[str, list[Any]]) -> list[str]:
    """Trimmed, blanks dropped, repeats (ignoring case) dropped, order kept; at most 20 of ≤30 chars."""
    kept: list[str] = []
    seen: set[str] = set()
    for value in values:
        item = " ".join(str(value).split())
        if not item or item.casefold() in seen:
            continue
        seen.add(item.casefold())
        if len(item) > ITEM_MAX_CHARS:
            _add(
                errors,
                key,
                _("“%(item)s” is longer than %(max)d characters.")
                % {"item": item[:40], "max": ITEM_MAX_CHARS},
            )
        kept.append(item)
    if len(kept) > LIST_MAX_ITEMS:
        _add(
            errors,
            key,
            _("At most %(max)d entries, not %(count)d.") % {"max": LIST_MAX_ITEMS, "count": len(kept)},
        )
    return kept


def _rows(model: Any, values: Sequence[Any], *, key: str, errors: dict[str, list[Any]]) -> list[Any]:
    ids: list[int] = []
    for value in values:
        pk = value.pk if isinstance(value, model) else value
        try:
            number = int(pk)
        except (TypeError, ValueError):
            number = 0
        if number not in ids:
            ids.append(number)
    if len(ids) > LIST_MAX_ITEMS:
        _add(
            errors,
            key,
            _("At most %(max)d entries, not %(count)d.") % {"max": LIST_MAX_ITEMS, "count": len(ids)},
        )
        return []
    rows = {row.pk: row for row in model.objects.filter(pk__in=[i for i in ids if 0 < i < 2**63])}
    if len(rows) != len(ids):
        _add(errors, key, _("Choose from the list; one of the choices no longer exists."))
    return [rows[i] for i in ids if i in rows]


def _snapshot(preference: Preference) -> dict[str, Any]:
    if preference.pk is None or preference._state.adding:
        return {}
    return {
        "categories": sorted(str(c) for c in preference.categories.all()),
        "brands": sorted(str(b) for b in preference.brands.all()),
        "colours": list(preference.colours),
        "sizes": list(preference.sizes),
        "styles": list(preference.styles),
        "price_band": preference.price_band,
        "preferred_channel": preference.preferred_channel,
        "contact_from": preference.contact_from.strftime("%H:%M") if preference.contact_from else None,
        "contact_until": preference.contact_until.strftime("%H:%M") if preference.contact_until else None,
        "do_not_disturb": preference.do_not_disturb,
        "notes": preference.notes,
    }


@transaction.atomic(durable=True)
def preference_update(*, actor: Any, customer: Customer, data: PreferenceInput) -> Preference:
    """Replace what ``customer`` told the shop about their likes and how to reach them.

    Guarantees: the actor may see the customer (else ``NotFound``) and has ``change_preference`` (else
    ``Forbidden``); the customer is not archived; each list has at most 20 entries (text ones of at
    most 30 characters, trimmed and without repeats); categories and brands exist; contact hours are
    both given or both empty and not equal; ``contact_until`` earlier than ``contact_from`` means the
    window runs past midnight (22:00–02:00 for someone who works late). On any error nothing changes.
    Two saves at once (the customer's first included) both succeed and the one that commits last wins
    whole: its fields and its categories and brands. Audited as ``preference.update`` with each changed
    field's before and after."""
    if not customer_is_visible(user=actor, customer=customer):
        raise NotFound()
    if not (getattr(actor, "is_active", False) and actor.has_perm(CHANGE_PREFERENCE)):
        raise Forbidden(_("Your role may not change preferences."))
    errors: dict[str, list[Any]] = {}
    if customer.archived_at is not None:
        _add(errors, "customer", _("This customer is archived: restore them before changing preferences."))
    categories = _rows(Category, data.categories, key="categories", errors=errors)
    brands = _rows(Brand, data.brands, key="brands", errors=errors)
    lists = {key: _text_list(getattr(data, key), key=key, errors=errors) for key in TEXT_LISTS}
    if data.price_band and data.price_band not in PriceBand.values:
        _add(errors, "price_band", _("Choose budget, mid-range or premium."))
    if data.preferred_channel and data.preferred_channel not in ContactChannel.values:
        _add(errors, "preferred_channel", _("Choose a channel from the list."))
    start, end = data.contact_from, data.contact_until
    if (start is None) != (end is None):
        key = "contact_until" if end is None else "contact_from"
        _add(errors, key, _("Give both ends of the contact hours, or neither."))
    elif start is not None and start == end:
        _add(errors, "contact_until", _("The contact hours start and end at the same time."))
    notes = (data.notes or "").strip()
    if len(notes) > NOTES_MAX:
        _add(errors, "notes", _("At most %(max)d characters.") % {"max": NOTES_MAX})
    if errors:
        raise ValidationFailed(
            _("The preferences were not saved; correct the marked fields."), field_errors=errors
        )

    values = {
        "colours": lists["colours"],
        "sizes": lists["sizes"],
        "styles": lists["styles"],
        "price_band": data.price_band,
        "preferred_channel": data.preferred_channel,
        "contact_from": start,
        "contact_until": end,
        "do_not_disturb": bool(data.do_not_disturb),
        "notes": notes,
        "updated_at": timezone.now(),
        "updated_by": actor,
    }
    # get_or_create inserts in a savepoint and, when a concurrent first save inserted the row first,
    # reads that row and updates it: both saves succeed, the later one wins.
    preference, created = Preference.objects.get_or_create(customer=customer, defaults=values)
    before = {} if created else _snapshot(preference)
    if not created:
        for name, value in values.items():
            setattr(preference, name, value)
        preference.save(update_fields=list(values))
    preference.categories.set(categories)
    preference.brands.set(brands)
    after = _snapshot(preference)
    changes = {key: [before.get(key), value] for key, value in after.items() if before.get(key) != value}
    # Saving the form unchanged is not a change worth a line in the log.
    if changes or not before:
        audit_record(
            action="preference.update",
            actor=actor,
            target=customer,
            changes=changes,
            data={"customer": customer.customer_no},
        )
    return preference
