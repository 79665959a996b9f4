"""The versions an import's undo gives the customers and orders it puts back, and how an earlier
import's undo still knows them as the ones it left.

A page or API client saves a customer or an order with the version it read, and is refused when the
version moved since. Undo writes the row's old values back under a new version, one the row never had:
put back to the version before the import, the row would reach that import's version again with the
next import's values (ABA), and a page opened on the first import's values would save over the next
one's without a conflict.

An import's undo refuses when a row it wrote is no longer at the version it left (later work would be
lost). After a later import that moved the row on was undone, the row is at the version that undo gave
it: ``versions_changed_since`` follows such versions back, from each undone import to the version it
had found the row at, and takes the row as left when that chain of undone imports reaches the version
the earlier import left. A version no undo gave (a hand edit since) ends the chain, and refuses."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice

from django.db.models import Model

from kebu.transfer.models import Import, UndoneVersion

_BATCH = 5000


def versions_changed_since(
    *, model: type[Model], left: Mapping[int, int], now: Mapping[int, int | None]
) -> set[int]:
    """The ids of ``left`` (id -> the version an import left the row at) whose version ``now`` (id -> the
    row's version, missing for a row gone) is neither the one left nor one that undone imports lead back
    to it. Reads the undone versions only of rows not at the version left: a few, however many rows the
    import wrote."""
    moved = sorted(pk for pk, version in left.items() if now.get(pk) != version)
    back: dict[tuple[int, int], int] = {}  # (id, version an undo gave) -> version that import had found
    for start in range(0, len(moved), _BATCH):
        rows = UndoneVersion.objects.filter(
            model=model._meta.label_lower, object_id__in=moved[start : start + _BATCH]
        ).values_list("object_id", "version_undone", "version_before")
        back.update(((pk, undone), before) for pk, undone, before in rows)
    changed = set()
    for pk in moved:
        version = now.get(pk)
        while version is not None and version != left[pk]:
            found = back.get((pk, version))
            # An import found the row below the version its undo gave: each step goes down, and ends.
            version = found if found is not None and found < version else None
        if version is None:
            changed.add(pk)
    return changed


def versions_undone_record(
    *, run: Import, model: type[Model], versions: Iterable[tuple[int, int, int]]
) -> None:
    """Record, for the rows ``run``'s undo put back, (id, the version ``run`` found the row at, the new
    version undo gave it), inside the caller's transaction. Written a batch at a time: an undo may put
    back a hundred thousand rows."""
    label = model._meta.label_lower
    versions = iter(versions)
    while batch := list(islice(versions, _BATCH)):
        UndoneVersion.objects.bulk_create(
            UndoneVersion(run=run, model=label, object_id=pk, version_before=before, version_undone=undone)
            for pk, before, undone in batch
        )
