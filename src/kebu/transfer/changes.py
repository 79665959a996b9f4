"""What a customer import changed on the customers that were already there, as the merchant reads it: for
each row that updated one, the customer, how the row found them (``imports._Matches.found_by``), and each
field it changed, old → new, under the field's name in the reader's language.

Read from the import's journal (``ImportRow``), which keeps what undo needs (``before``, ``added``) and,
since this list exists, what the row made of them (``after``, ``matched_by``). A row journalled by an
older Kebu has no ``after``: its new values are the customer's as they are now, as long as nobody changed
the customer since (their version is still the one the import left); otherwise they are not known, and
said so. The rows it added (phones, addresses, accounts, tags) are read by id.

Who reads sees what the customer pages show them: only the customers they may see
(``customer_visible_queryset``), contact details masked unless they may see them in full
(``privacy.contact_policy``), masked even when the journal, which is encrypted, holds them whole. A
customer deleted since is not listed: nobody may see them any more.

Read a chunk at a time, with a few queries a chunk whatever its size (the staff, sources and custom
fields they name; the added rows of older entries), so that the import's page lists its first rows in a
bounded number of queries and the report (``report.report_write``) writes them all in constant memory."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from itertools import islice
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from kebu.core.templatetags.kebu import custom_value, field_label, phone_display
from kebu.core.text import list_join
from kebu.customers.models import (
    Address,
    CustomerPhone,
    CustomerType,
    CustomField,
    Gender,
    SocialAccount,
    SocialKind,
    SourceChannel,
    Stage,
    Tag,
)
from kebu.customers.privacy import ADDRESS, EMAIL, PHONE, SOCIAL, TEXT, ContactPolicy, contact_policy
from kebu.customers.selectors import customer_visible_queryset
from kebu.transfer.models import Import, ImportKind, ImportRow, ImportRowAction

# The import's page lists this many; the report has them all.
CHANGES_SHOWN = 200
_CHUNK = 500

# The customer columns a sheet's row changes (``customers.services.IMPORT_SCALARS`` as stored), in the
# order the customer's page shows them.
_SCALARS = (
    "name",
    "gender",
    "birthday",
    "customer_type",
    "stage",
    "email",
    "source_id",
    "owner_id",
    "notes",
)
_CHOICES: dict[str, Any] = {"gender": Gender, "customer_type": CustomerType, "stage": Stage}
# The rows a row adds beside the customer's own, in the order the customer's page shows them.
_ADDED = ("phones", "addresses", "socials", "tags")
# Said after "matched by" (按…匹配), and in the report's column of that name.
_MATCHED_BY = {
    "customer_no": pgettext_lazy("matched by", "customer number"),
    "phone": pgettext_lazy("matched by", "phone"),
    "email": pgettext_lazy("matched by", "email"),
    "name": pgettext_lazy("matched by", "name"),
}
_ADDED_FIELD = gettext_lazy("%(field)s (added)")


@dataclass(frozen=True)
class FieldChange:
    """One field a row changed, as the reader may see it: its name, and its value before and after
    (``after_known`` False: changed since by someone else, so not known). ``added``: a phone, address,
    account or tag the row added beside the customer's own, which has no value before."""

    label: str
    before: str
    after: str
    added: bool = False
    after_known: bool = True


@dataclass(frozen=True)
class CustomerChange:
    """A row that updated a customer: its number in the sheet, the customer (as they are now: their
    number, name and page), how the row found them (empty when the journal does not say), and what
    changed."""

    row: int
    customer_id: int
    customer_no: str
    name: str
    matched_by: str
    fields: list[FieldChange]


def import_changes_listed(run: Import, *, user: Any) -> QuerySet[ImportRow]:
    """The journal's entries of ``run`` that updated a customer ``user`` may see, in the sheet's order,
    each with its customer. A customer sheet's only: an order sheet journals its orders' changes."""
    if run.kind != ImportKind.CUSTOMERS:
        return ImportRow.objects.none()
    return (
        run.journal.filter(action=ImportRowAction.UPDATED, customer__in=customer_visible_queryset(user=user))
        .select_related("customer")
        .order_by("row")
    )


def import_changes(run: Import, *, user: Any, limit: int | None = None) -> Iterator[CustomerChange]:
    """What ``run`` changed on the customers ``user`` may see (the first ``limit`` rows, if given), as
    they may see it: a chunk of the journal at a time."""
    entries = import_changes_listed(run, user=user)
    if limit is not None:
        entries = entries[:limit]
    return changes_read(entries.iterator(chunk_size=_CHUNK), policy=contact_policy(user))


def changes_read(
    entries: Iterable[ImportRow], *, policy: ContactPolicy, rehearsed: bool = False
) -> Iterator[CustomerChange]:
    """``entries`` (updates, each with its customer, whom the reader may see) as ``policy`` lets the
    reader see them. Also the dry run's, before its rehearsal is rolled back (``rehearsed``: each
    customer is named as they are, before the change that is not made)."""
    custom_labels: dict[str, str] | None = None
    found = iter(entries)
    while chunk := list(islice(found, _CHUNK)):
        read = [(entry, _detail_read(entry)) for entry in chunk]
        if custom_labels is None and any("custom" in d.get("after", d["before"]) for _e, d in read):
            custom_labels = dict(CustomField.objects.values_list("key", "label"))
        names = _Names.load([d for _e, d in read])
        for entry, detail in read:
            change = _change_of(entry, detail, policy=policy, names=names, custom_labels=custom_labels or {})
            if rehearsed and "name" in detail["before"]:
                change = replace(change, name=detail["before"]["name"])
            yield change


def matched_by_label(key: str) -> str:
    """How a row found its customer (``imports._Matches.found_by``), as the merchant says it."""
    if key.startswith("social:"):
        kind = key.removeprefix("social:")
        return str(SocialKind(kind).label) if kind in SocialKind.values else kind
    return str(_MATCHED_BY[key]) if key in _MATCHED_BY else ""


def added_field_label(label: str) -> str:
    """The report's name of a field a row added to (``FieldChange.added``): "Phones (added)"."""
    return str(_ADDED_FIELD % {"field": label})


def added_fields_read() -> dict[str, str]:
    """The report's name of each field a row adds to, in the active language, to the field's own name:
    how a report read back (``drafts.import_check_changes``) tells an added phone from a changed value."""
    labels = (capfirst(field_label(kind)) for kind in _ADDED)
    return {added_field_label(label): label for label in labels}


def _detail_read(entry: ImportRow) -> dict[str, Any]:
    detail: dict[str, Any] = json.loads(entry.detail)
    if "after" not in detail:
        # An older Kebu's entry: the customer as they are now is as the import left them, if nobody
        # changed them since (``_after_now``).
        customer = entry.customer
        if customer is not None and customer.version == entry.version:
            detail["now"] = _after_now(customer, detail["before"])
    return detail


def _after_now(customer: Any, before: dict[str, Any]) -> dict[str, Any]:
    """An older entry's ``after``, read off its customer, who is still as the import left them."""
    after = {}
    for name in _SCALARS:
        if name in before:
            value = getattr(customer, name)
            after[name] = value.isoformat() if isinstance(value, date | datetime) else value
    if before.get("custom", {}) != (customer.custom or {}):
        after["custom"] = customer.custom or {}
    return after


@dataclass
class _Names:
    """The staff members and sources a chunk's changes name, and the rows older entries added (their
    journal kept only the ids), each read once for the chunk."""

    owners: dict[int, Any]
    sources: dict[int, Any]
    added: dict[str, dict[int, Any]]

    @classmethod
    def load(cls, details: Sequence[dict[str, Any]]) -> _Names:
        wanted: dict[str, set[int]] = {"owner_id": set(), "source_id": set()}
        for detail in details:
            for side in (detail["before"], detail.get("after", detail.get("now", {}))):
                for name, ids in wanted.items():
                    if side.get(name) is not None:
                        ids.add(side[name])
        owners = get_user_model()._default_manager.in_bulk(wanted["owner_id"]) if wanted["owner_id"] else {}
        sources = SourceChannel.objects.in_bulk(wanted["source_id"]) if wanted["source_id"] else {}
        added: dict[str, dict[int, Any]] = {kind: {} for kind in _ADDED}
        old = [d["added"] for d in details if "after" not in d]
        added_ids = {kind: [i for ids in old for i in ids.get(kind, [])] for kind in _ADDED}
        for kind, model in (
            ("phones", CustomerPhone),
            ("addresses", Address),
            ("socials", SocialAccount),
            ("tags", Tag),
        ):
            if added_ids[kind]:
                added[kind] = model.objects.in_bulk(added_ids[kind])
        return cls(owners, sources, added)


def _change_of(
    entry: ImportRow,
    detail: dict[str, Any],
    *,
    policy: ContactPolicy,
    names: _Names,
    custom_labels: dict[str, str],
) -> CustomerChange:
    before: dict[str, Any] = detail["before"]
    after: dict[str, Any] | None = detail.get("after", detail.get("now"))
    fields = []
    for name in _SCALARS:
        if name not in before or (after is not None and name not in after):
            continue  # a column undo keeps without the row having changed it (an older entry's custom)
        label = capfirst(field_label(name.removesuffix("_id")))
        old = _shown(name, before[name], policy=policy, names=names)
        if after is None:
            fields.append(FieldChange(label, old, "", after_known=False))
        else:
            fields.append(FieldChange(label, old, _shown(name, after[name], policy=policy, names=names)))
    if after is not None and "custom" in after:
        old_custom, new_custom = before.get("custom") or {}, after["custom"] or {}
        for key in sorted(old_custom.keys() | new_custom.keys(), key=lambda k: custom_labels.get(k, k)):
            if old_custom.get(key) != new_custom.get(key):
                fields.append(
                    FieldChange(
                        custom_labels.get(key, key),
                        custom_value(old_custom, key),
                        custom_value(new_custom, key),
                    )
                )
    added = after if "after" in detail else _added_read(detail["added"], names)
    for kind in _ADDED:
        if values := (added or {}).get(kind):
            shown = _added_shown(kind, values, policy=policy)
            fields.append(FieldChange(capfirst(field_label(kind)), "", shown, added=True))
    customer = entry.customer
    assert customer is not None
    return CustomerChange(
        row=entry.row,
        customer_id=customer.pk,
        customer_no=customer.customer_no,
        name=customer.name,
        matched_by=matched_by_label(detail.get("matched_by", "")),
        fields=fields,
    )


def _shown(name: str, value: Any, *, policy: ContactPolicy, names: _Names) -> str:
    """A customer column's stored value (JSON, as the journal keeps it) as the reader may see it."""
    if name == "owner_id":
        if value is None:
            return str(_("Shared pool"))
        return str(names.owners.get(value, "—"))
    if value is None or value == "":
        return ""
    if name == "source_id":
        return str(names.sources.get(value, "—"))
    if name in _CHOICES:
        choices = _CHOICES[name]
        return str(choices(value).label) if value in choices.values else str(value)
    if name == "email":
        return policy.show(EMAIL, value)
    if name == "notes":
        return policy.show(TEXT, value)
    return str(value)


def _added_read(added: dict[str, list[int]], names: _Names) -> dict[str, list[Any]]:
    """What an older entry's rows added were, from those rows (the ones that are still there), as the
    journal's ``after`` keeps them now."""
    rows = {
        kind: [names.added[kind][i] for i in added.get(kind, []) if i in names.added[kind]] for kind in _ADDED
    }
    return {
        "phones": [p.number for p in rows["phones"]],
        "addresses": [[a.province, a.city, a.district, a.detail] for a in rows["addresses"]],
        "socials": [[s.kind, s.kind_label, s.handle] for s in rows["socials"]],
        "tags": [t.name for t in rows["tags"]],
    }


def _added_shown(kind: str, values: list[Any], *, policy: ContactPolicy) -> str:
    """The phones, addresses, accounts or tags a row added, as the customer's page shows them."""
    if kind == "phones":
        return ", ".join(phone_display(n) if policy.can_see else policy.show(PHONE, n) for n in values)
    if kind == "addresses":
        # As the customer's page: the region in full, the street masked; a municipality's 市辖区 unsaid.
        return "; ".join(
            f"{province}{'' if city in ('市辖区', '县') else city}{district} {policy.show(ADDRESS, detail)}"
            for province, city, district, detail in values
        )
    if kind == "socials":
        return ", ".join(
            f"{label if k == SocialKind.OTHER and label else _kind_label(k)}: {policy.show(SOCIAL, handle)}"
            for k, label, handle in values
        )
    return list_join(values)


def _kind_label(kind: str) -> str:
    return str(SocialKind(kind).label) if kind in SocialKind.values else kind
