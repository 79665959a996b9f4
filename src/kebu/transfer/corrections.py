"""Cells an import took otherwise than they were written: a phone written +86 138-1234-5678 kept as
13812345678, a date written 2024年1月5日 or as an Excel date number taken as 2024-01-05, ￥1,299.00元
taken as 1299.00, a gender written 先生 taken as 男. The validation report lists them beside the rejected
cells, so that nothing the import changes goes unseen.

Only a change the merchant would read as a different value is one (``cells`` says which); trimming spaces,
or a number cell 13812345678.0 read as the text 13812345678, is not. A row that was rejected has no
corrections: nothing of it was taken.

An import of a million rows may correct a million cells: all are counted (``Import.corrected``), the
first ``CORRECTIONS_KEPT`` are kept with the import (``Import.corrections``) to be shown once it has
ended, as the pages show the first problems."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kebu.transfer.models import Import

# As many as the import's page lists of its rows with notes.
CORRECTIONS_KEPT = 200
# The report's sheet of corrected cells lists this many at most (then says how many there were): a
# sheet holds about a million lines, and a million corrections of one kind are read by their first ones.
CORRECTIONS_LISTED = 10_000


@dataclass(frozen=True, slots=True)
class Correction:
    """One cell taken otherwise than written: where (row as the merchant sees it, column header), the
    value as written and as taken, and why, in the merchant's language. Made only for a cell whose value
    did change, so a file of plain values costs nothing."""

    row: int
    column: str
    written: str
    taken: str
    reason: str


def corrections_note(run: Import, corrections: Sequence[Correction]) -> None:
    """Count ``corrections`` (of rows the import took) onto ``run``, keeping them while fewer than
    ``CORRECTIONS_KEPT`` are kept; the caller saves ``corrected`` and ``corrections`` with its batch."""
    if not corrections:
        return
    room = CORRECTIONS_KEPT - run.corrected
    if room > 0:
        kept = json.loads(run.corrections) if run.corrections else []
        kept += [[c.row, c.column, c.written, c.taken, c.reason] for c in corrections[:room]]
        run.corrections = json.dumps(kept, ensure_ascii=False)
    run.corrected += len(corrections)


def import_corrections(run: Import) -> list[Correction]:
    """The corrections kept with ``run``: the first ``CORRECTIONS_KEPT`` of ``run.corrected``."""
    if not run.corrections:
        return []
    return [Correction(*entry) for entry in json.loads(run.corrections)]
