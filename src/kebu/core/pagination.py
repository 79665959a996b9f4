"""Page-number pagination for big lists: a capped count, and no page limit from it.

Django's Paginator counts every matching row on every page; over a million customers that COUNT(*)
alone takes ~50 ms unfiltered and over a second for broad searches (bench/). People read "10,000+"
just as well, so counting stops there, and "next" is known by fetching one row more than a page."""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil
from typing import Any

from django.db.models import QuerySet

COUNT_CAP = 10_000


@dataclass(frozen=True)
class ListPage:
    object_list: list[Any]
    number: int
    per_page: int
    has_next: bool
    total: int  # exact when total_is_exact, else at least COUNT_CAP
    total_is_exact: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_other_pages(self) -> bool:
        return self.has_next or self.has_previous

    @property
    def next_page_number(self) -> int:
        return self.number + 1

    @property
    def previous_page_number(self) -> int:
        return self.number - 1

    @property
    def num_pages(self) -> int | None:
        return max(1, ceil(self.total / self.per_page)) if self.total_is_exact else None


def paginate(qs: QuerySet[Any], *, page: Any, per_page: int, count_cap: int = COUNT_CAP) -> ListPage:
    """The ``page``-th page (1-based; anything unparsable is page 1) of an ordered queryset."""
    try:
        number = max(1, int(page))
    except (TypeError, ValueError):
        number = 1
    counted = qs.order_by()[: count_cap + 1].count()
    exact = counted <= count_cap
    if exact:
        number = min(number, max(1, ceil(counted / per_page)))
    offset = (number - 1) * per_page
    rows = list(qs[offset : offset + per_page + 1])
    return ListPage(
        object_list=rows[:per_page],
        number=number,
        per_page=per_page,
        has_next=len(rows) > per_page,
        total=counted if exact else count_cap,
        total_is_exact=exact,
    )
