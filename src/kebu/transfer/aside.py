"""What an import makes besides its own rows, and what undo does with it.

A customer sheet names tags, a product sheet categories and brands; the ones the shop does not have yet
are made on the way (a merchant's own words, see ``imports._tags_resolve`` and
``products._category_made``). Each is noted on the import (``Import.made_aside``, saved with the batch
that made it), so that undo can take them away again: the state before the import had none of them.

One the shop has come to rely on since (another customer tagged with it, a product made by hand in the
category, a saved customer list filtering on it, a later product import whose undo would put a product
back in it) is kept, and undo says how many it kept. "Used" is read from every table that refers to the
row, so a relation added later counts without a change here."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.apps import apps
from django.db import models
from django.db.models import F
from django.http import QueryDict
from django.utils.translation import ngettext

from kebu.transfer.models import Import, ImportKind, ImportRow, ImportRowAction

# The models an import may make on the side -> the word their counts go under in undo's audit entry.
ASIDE_KINDS = {"customers.tag": "tags", "orders.category": "categories", "orders.brand": "brands"}
# A saved customer list names tags and top categories by id in its query (customers.filters): deleting
# one would break the list, so it is a use too.
_SAVED_VIEW_KEYS = {"customers.tag": "tag", "orders.category": "top_category"}
# A later product import that moved a product out of a category or brand journals it as the value before
# (``products._row_import``); undoing that import writes it back, so it is a use too while that import
# can still be undone.
_JOURNAL_KEYS = {"orders.category": "category_id", "orders.brand": "brand_id"}


def aside_note(run: Import, made: Iterable[models.Model]) -> None:
    """Note ``made`` on ``run`` (in memory: the caller saves ``made_aside`` with the batch that made
    them, so a batch rolled back notes nothing)."""
    for instance in made:
        label = instance._meta.label_lower
        assert label in ASIDE_KINDS, label
        ids = run.made_aside.setdefault(label, [])
        if instance.pk not in ids:
            ids.append(instance.pk)


def aside_undo(run: Import) -> dict[str, int]:
    """Delete what ``run`` made on the side and nothing uses any more (inside the caller's transaction,
    after the import's own rows are gone), and leave on ``run.made_aside`` only the ones kept. Returns
    ``<kind>_deleted`` and ``<kind>_kept`` for each kind it had made."""
    counts: dict[str, int] = {}
    kept: dict[str, list[int]] = {}
    for label, ids in sorted((run.made_aside or {}).items()):
        model = apps.get_model(label)
        # Locked first (PostgreSQL; SQLite's write lock is already held): a row tagged or filed under one
        # of them meanwhile waits for this transaction, and is then refused or seen as a use.
        remaining = set(
            model._base_manager.select_for_update().filter(pk__in=ids).values_list("pk", flat=True)
        )
        deleted = 0
        still_named = _named_by_later_imports(run, label, remaining)
        # A category made with its subcategory is used by it until the subcategory goes: rounds, leaves
        # first, until a round frees nothing.
        while free := remaining - still_named - _in_use(model, remaining):
            _self_references_clear(model, free)
            deleted += model._base_manager.filter(pk__in=free).delete()[1].get(model._meta.label, 0)
            remaining -= free
        counts[f"{ASIDE_KINDS[label]}_deleted"] = deleted
        counts[f"{ASIDE_KINDS[label]}_kept"] = len(remaining)
        if remaining:
            kept[label] = sorted(remaining)
    run.made_aside = kept
    return counts


def aside_kept_text(run: Import) -> str:
    """What undo kept of what ``run`` made, in a sentence per kind ("" when it kept nothing)."""
    kept = (run.made_aside or {}) if run.undone_at is not None else {}
    sentences = []
    if count := len(kept.get("customers.tag", ())):
        sentences.append(
            ngettext(
                "%(count)d tag the import made was kept: it has been used since.",
                "%(count)d tags the import made were kept: they have been used since.",
                count,
            )
            % {"count": count}
        )
    if count := len(kept.get("orders.category", ())):
        sentences.append(
            ngettext(
                "%(count)d category the import made was kept: it has been used since.",
                "%(count)d categories the import made were kept: they have been used since.",
                count,
            )
            % {"count": count}
        )
    if count := len(kept.get("orders.brand", ())):
        sentences.append(
            ngettext(
                "%(count)d brand the import made was kept: it has been used since.",
                "%(count)d brands the import made were kept: they have been used since.",
                count,
            )
            % {"count": count}
        )
    return " ".join(sentences)


def _in_use(model: type[models.Model], ids: set[int]) -> set[int]:
    """Which of ``ids`` some row refers to: through any foreign key, one-to-one or many-to-many table
    pointing at ``model`` (a row's reference to itself aside: a top category is its own root), or a
    saved customer list's filter."""
    if not ids:
        return set()
    used: set[int] = set()
    for relation in model._meta.get_fields(include_hidden=True):
        # The reverse side of a foreign key or one-to-one; a many-to-many is its table's foreign key.
        pointing = relation.one_to_many or relation.one_to_one
        if not (relation.auto_created and not relation.concrete and pointing):
            continue
        field = relation.field  # type: ignore[union-attr]
        referring = relation.related_model._base_manager.filter(**{f"{field.name}__in": ids})  # type: ignore[union-attr]
        if relation.related_model is model:
            referring = referring.exclude(pk=F(field.attname))
        used |= set(referring.values_list(field.attname, flat=True).distinct())
    if key := _SAVED_VIEW_KEYS.get(model._meta.label_lower):
        from kebu.customers.models import SavedView  # the saved lists are the customers app's

        for query in SavedView.objects.exclude(query="").values_list("query", flat=True).iterator():
            used |= {int(v) for v in QueryDict(query).getlist(key) if v.isdigit() and int(v) in ids}
    return used


def _named_by_later_imports(run: Import, label: str, ids: set[int]) -> set[int]:
    """Which of ``ids`` another product import, not undone, would write back on its undo."""
    key = _JOURNAL_KEYS.get(label)
    if key is None or not ids:
        return set()
    journals = (
        ImportRow.objects.filter(
            run__kind=ImportKind.PRODUCTS, run__undone_at__isnull=True, action=ImportRowAction.UPDATED
        )
        .exclude(run=run)
        .values_list("detail", flat=True)
    )
    named = set()
    for detail in journals.iterator(chunk_size=2000):  # encrypted: read in Python, not filtered in SQL
        value = json.loads(detail).get("before", {}).get("product", {}).get(key)
        if value in ids:
            named.add(value)
    return named


def _self_references_clear(model: type[models.Model], ids: set[int]) -> None:
    """Empty the rows' references to themselves (a top category's root), which would otherwise protect
    them from their own deletion."""
    for field in model._meta.concrete_fields:
        if field.is_relation and field.related_model is model and field.null:
            model._base_manager.filter(pk__in=ids, **{field.attname: F("pk")}).update(**{field.attname: None})
