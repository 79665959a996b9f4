"""How ``kebu import`` and ``kebu export`` write a count: the noun agrees with it (1 row, 2 rows)."""

from __future__ import annotations


def counted(count: int, one: str, many: str) -> str:
    """``count``, grouped by thousands as the pages write it, and its noun: ``one`` for exactly one,
    ``many`` for any other number (0 rows)."""
    return f"{count:,} {one if count == 1 else many}"
