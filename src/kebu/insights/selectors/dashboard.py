"""Every figure the dashboard shows, as plain data, through record visibility.

A user's dashboard sums the rows of the customer owners whose customers they may see
(``dashboard_owner_scope``, the rule of ``customers.selectors.customer_visible_queryset`` expressed as a
set of owners), so a sales clerk's sales are their customers' and the shop owner's are everyone's. Sales
need ``orders.view_order`` too, as the order list and the sales summary do.

What the figures mean (the page says it in the same words):

- net sales: what was paid for the counted orders of the range, less what was refunded on them (also
  later); orders: counted orders; average order: net sales ÷ orders; refund rate: the share of the
  orders with a refund.
- customers who ordered: distinct customers with a counted order in the range; new customers: those
  whose first counted order ever is in the range; returning customers (in the chart): those who ordered
  in the range and had ordered before it; repurchase rate: of the customers who ordered in the range, the
  share for whom at least one of those orders was not their first ever (they had bought before, or
  bought again within the range).
- with a store or platform chosen, all of these count that channel's orders only; "new" still means the
  customer's first order anywhere, which was in that channel.
- customers by province and the lifecycle funnel count the active customers as they are now, whatever
  the dates and channel.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import BinaryField, CharField, F, Q, QuerySet, Sum
from django.db.models.functions import Cast, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.customers import access as customer_access
from kebu.customers.models import Customer, Stage
from kebu.customers.selectors import owner_label, purchases_visible, shared_pool_enabled
from kebu.insights.models import (
    DashboardBuyers,
    DashboardBuyersMonth,
    DashboardCategorySales,
    DashboardCustomers,
    DashboardProductSales,
    DashboardProductSalesMonth,
    DashboardSales,
    DashboardState,
)
from kebu.insights.services.dashboard import (
    BUYER_AGAIN,
    BUYER_COLUMNS,
    BUYER_FIRST,
    PRODUCT,
    STATE_PK,
    month_of,
    next_month,
    shop_zone,
)
from kebu.orders.models import Category, Platform, Product, Store

POOL = "pool"
GRAINS = ("day", "week", "month")
PRESETS = ("7d", "30d", "90d", "this_month", "last_month", "this_year", "custom")
DEFAULT_PRESET = "30d"
# The longest range: a year and a day, so that "this year" and any 366 days fit. The customers of a range
# are merged from its months' and days' buyers sets, which for a year of a ten-million-order shop are
# ~3 million entries (and as many for the period before, to compare): longer ranges belong to the sales
# summary.
MAX_DAYS = 366
TOP_N = 10
PROVINCES_SHOWN = 15
CENT = Decimal("0.01")
RATE = Decimal("0.0001")
ZERO = Decimal("0.00")
# Customer ids up to this are counted with a table indexed by id (one pass); beyond it, by sorting.
_DENSE_IDS = 50_000_000


# --- whose figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerScope:
    """The customer owners whose customers someone may see: ``everyone``, or the staff in ``owner_ids``
    and, with ``pool``, the customers without an owner (the shared pool)."""

    everyone: bool = False
    owner_ids: frozenset[int] = frozenset()
    pool: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.everyone or self.owner_ids or self.pool)

    def q(self, field_name: str = "owner") -> Q:
        """The rows whose ``field_name`` is in scope; an empty scope matches nothing."""
        if self.everyone:
            return Q()
        condition = Q(**{f"{field_name}__in": sorted(self.owner_ids)})
        if self.pool:
            condition |= Q(**{f"{field_name}__isnull": True})
        return condition

    def narrowed(self, owner: int | str | None) -> OwnerScope:
        """The part of this scope that is ``owner`` (a user id, or ``POOL``); all of it for None, nothing
        for an owner out of scope."""
        if owner is None:
            return self
        if owner == POOL:
            return OwnerScope(pool=self.everyone or self.pool)
        if self.everyone or owner in self.owner_ids:
            return OwnerScope(owner_ids=frozenset({int(owner)}))
        return OwnerScope()

    def allows(self, owner: int | str | None) -> bool:
        return owner is None or not self.narrowed(owner).is_empty


def dashboard_owner_scope(*, user: Any) -> OwnerScope:
    """The owners whose customers ``user`` may see, by the rule of ``customer_visible_queryset`` (a test
    holds the two equal for every role): nobody's without ``view_customer``; everyone's for a superuser
    or with ``view_all_customers``; else their own, their team's with ``view_team_customers``, and the
    shared pool when the shop has it on."""
    if not customer_access.can(user, customer_access.VIEW):
        return OwnerScope()
    if user.is_superuser or user.has_perm(customer_access.VIEW_ALL):
        return OwnerScope(everyone=True)
    owners = {user.pk}
    if user.team_id is not None and user.has_perm(customer_access.VIEW_TEAM):
        team = get_user_model()._default_manager.filter(team_id=user.team_id).values_list("pk", flat=True)
        owners.update(team)
    return OwnerScope(owner_ids=frozenset(owners), pool=shared_pool_enabled())


def dashboard_owner_choices(*, user: Any, scope: OwnerScope | None = None) -> list[tuple[str, str]]:
    """The owners ``user`` may pick in the filter: (value, name), the pool last. Current colleagues
    first; then former ones (switched off) whose customers or sales are still counted here, named as
    such (``owner_label``), as in the customer list; a former colleague with neither is left out."""
    scope = scope or dashboard_owner_scope(user=user)
    users = get_user_model()._default_manager.order_by("username")
    owning = Q(pk__in=DashboardCustomers.objects.filter(owner__isnull=False).values("owner_id")) | Q(
        pk__in=DashboardSales.objects.values("owner_id")
    )
    if scope.everyone:
        users = users.filter(owning)
    else:
        users = users.filter(pk__in=sorted(scope.owner_ids)).filter(Q(is_active=True) | owning)
    # sorted() keeps the usernames' order on each side.
    choices = [(str(u.pk), owner_label(u)) for u in sorted(users, key=lambda u: not u.is_active)]
    if scope.everyone or scope.pool:
        choices.append((POOL, _("Shared pool (no owner)")))
    return choices


# --- the filters ------------------------------------------------------------------------------------------


def shop_today() -> date:
    return timezone.localdate(timezone=shop_zone())


def preset_range(preset: str, *, today: date | None = None) -> tuple[date, date]:
    """The days of a preset, ``today`` included: the last 7, 30 or 90 days, this month so far, last
    month, this year so far."""
    today = today or shop_today()
    if preset == "7d":
        return today - timedelta(days=6), today
    if preset == "90d":
        return today - timedelta(days=89), today
    if preset == "this_month":
        return today.replace(day=1), today
    if preset == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if preset == "this_year":
        return today.replace(month=1, day=1), today
    return today - timedelta(days=29), today


def auto_grain(date_from: date, date_to: date) -> str:
    days = (date_to - date_from).days + 1
    return "day" if days <= 45 else "week" if days <= 190 else "month"


@dataclass(frozen=True)
class DashboardFilters:
    """What the dashboard sums: whole shop days from ``date_from`` to ``date_to``; one store, or one
    platform's stores, or all; one owner (a user id, or ``POOL``) or every owner in sight; the grain of
    the sales line."""

    date_from: date
    date_to: date
    store_id: int | None = None
    platform: str = ""
    owner: int | str | None = None
    grain: str = "day"

    @property
    def days(self) -> int:
        return (self.date_to - self.date_from).days + 1

    @property
    def previous(self) -> tuple[date, date]:
        """The period of the same length just before, which each figure is compared with."""
        return self.date_from - timedelta(days=self.days), self.date_from - timedelta(days=1)


def default_filters(*, today: date | None = None) -> DashboardFilters:
    date_from, date_to = preset_range(DEFAULT_PRESET, today=today)
    return DashboardFilters(date_from=date_from, date_to=date_to, grain=auto_grain(date_from, date_to))


# --- what the page shows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesTotals:
    orders: int = 0
    new_customers: int = 0
    refunded_orders: int = 0
    gross_cny: Decimal = ZERO
    refunds_cny: Decimal = ZERO

    @property
    def net_cny(self) -> Decimal:
        return self.gross_cny - self.refunds_cny

    @property
    def avg_order_cny(self) -> Decimal | None:
        if not self.orders:
            return None
        return (self.net_cny / self.orders).quantize(CENT, rounding=ROUND_HALF_UP)

    @property
    def refund_rate(self) -> Decimal | None:
        return _rate(self.refunded_orders, self.orders)


@dataclass(frozen=True)
class BuyerTotals:
    buyers: int = 0  # distinct customers who ordered
    repeaters: int = 0  # of them, those with an order that was not their first ever

    @property
    def repurchase_rate(self) -> Decimal | None:
        return _rate(self.repeaters, self.buyers)


@dataclass(frozen=True)
class Kpi:
    """One card: the value in the range and in the period before. ``kind`` is money, count or rate;
    ``change`` is relative for money and counts (0.125 = +12.5%), in points for rates (0.02 = +2 pt);
    ``higher_is_better`` says which way is good news."""

    key: str
    label: str
    kind: str
    value: Decimal | int | None
    previous: Decimal | int | None
    higher_is_better: bool = True
    note: str = ""

    @property
    def change(self) -> Decimal | None:
        if self.value is None or self.previous is None:
            return None
        if self.kind == "rate":
            return Decimal(self.value) - Decimal(self.previous)
        if not self.previous:
            return None
        return ((Decimal(self.value) - Decimal(self.previous)) / Decimal(self.previous)).quantize(RATE)


@dataclass(frozen=True)
class Bucket:
    """One point of the sales line (and bar of the new/returning chart): ``start`` to ``end``, within
    the range."""

    label: str
    start: date
    end: date
    orders: int = 0
    net_cny: Decimal = ZERO
    new_customers: int = 0
    returning_customers: int = 0


@dataclass(frozen=True)
class Slice:
    """A part of a breakdown: a store, a category, a product, a province, a stage."""

    key: Any
    label: str
    net_cny: Decimal = ZERO
    orders: int = 0
    units: int = 0
    customers: int = 0


@dataclass(frozen=True)
class TopCustomer:
    id: int
    customer_no: str
    name: str
    net_cny: Decimal
    orders: int


@dataclass
class DashboardFigures:
    filters: DashboardFilters
    sales_visible: bool
    customers_visible: bool
    tickets_visible: bool
    shop_has_sales: bool  # any sales at all in the tables, for the empty state
    totals: SalesTotals = field(default_factory=SalesTotals)
    previous_totals: SalesTotals = field(default_factory=SalesTotals)
    buyers: BuyerTotals = field(default_factory=BuyerTotals)
    previous_buyers: BuyerTotals = field(default_factory=BuyerTotals)
    buckets: list[Bucket] = field(default_factory=list)
    channels: list[Slice] = field(default_factory=list)
    categories: list[Slice] = field(default_factory=list)
    top_customers: list[TopCustomer] = field(default_factory=list)
    top_products: list[Slice] = field(default_factory=list)
    provinces: list[Slice] = field(default_factory=list)
    funnel: list[Slice] = field(default_factory=list)
    churned: int = 0
    open_complaints: int | None = None
    refreshed_at: Any = None

    @property
    def kpis(self) -> list[Kpi]:
        t, p, b, pb = self.totals, self.previous_totals, self.buyers, self.previous_buyers
        return [
            Kpi("net_sales", _("Net sales"), "money", t.net_cny, p.net_cny),
            Kpi("orders", _("Orders"), "count", t.orders, p.orders),
            Kpi("avg_order", _("Average order"), "money", t.avg_order_cny, p.avg_order_cny),
            Kpi("new_customers", _("New customers"), "count", t.new_customers, p.new_customers),
            Kpi(
                "repurchase_rate",
                _("Repurchase rate"),
                "rate",
                b.repurchase_rate,
                pb.repurchase_rate,
                # No note for an empty range: "0 of 0" says nothing the dash does not.
                note=ngettext(
                    "%(repeaters)s of %(buyers)s customer who ordered",
                    "%(repeaters)s of %(buyers)s customers who ordered",
                    b.buyers,
                )
                % {"repeaters": b.repeaters, "buyers": b.buyers}
                if b.buyers
                else "",
            ),
            Kpi(
                "refund_rate",
                _("Refund rate"),
                "rate",
                t.refund_rate,
                p.refund_rate,
                higher_is_better=False,
                note=ngettext(
                    "%(refunded)s of %(orders)s order", "%(refunded)s of %(orders)s orders", t.orders
                )
                % {"refunded": t.refunded_orders, "orders": t.orders}
                if t.orders
                else "",
            ),
        ]

    @property
    def has_sales_in_range(self) -> bool:
        return self.totals.orders > 0


def _rate(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(RATE, rounding=ROUND_HALF_UP)


def _yuan(fen: Any) -> Decimal:
    return Decimal(int(fen or 0)).scaleb(-2).quantize(CENT)


def _stores(filters: DashboardFilters) -> list[int] | None:
    """The stores summed: one, a platform's, or None for all."""
    if filters.store_id is not None:
        return [filters.store_id]
    if filters.platform:
        return list(Store.objects.filter(platform=filters.platform).values_list("pk", flat=True))
    return None


def _rows(
    model: Any, scope: OwnerScope, stores: list[int] | None, first: date, last: date, *, key: str = "day"
) -> QuerySet:
    qs = model.objects.filter(scope.q(), **{f"{key}__gte": first, f"{key}__lte": last}).order_by()
    return qs if stores is None else qs.filter(store_id__in=stores)


_SALES_SUMS = {
    "n_orders": Sum("orders"),
    "n_new": Sum("new_customers"),
    "n_refunded": Sum("refunded_orders"),
    "gross": Sum("gross_fen"),
    "refunds": Sum("refunds_fen"),
}


def _totals(row: dict[str, Any]) -> SalesTotals:
    return SalesTotals(
        orders=int(row["n_orders"] or 0),
        new_customers=int(row["n_new"] or 0),
        refunded_orders=int(row["n_refunded"] or 0),
        gross_cny=_yuan(row["gross"]),
        refunds_cny=_yuan(row["refunds"]),
    )


def _add(totals: Iterable[SalesTotals]) -> SalesTotals:
    result = SalesTotals()
    for t in totals:
        result = SalesTotals(
            orders=result.orders + t.orders,
            new_customers=result.new_customers + t.new_customers,
            refunded_orders=result.refunded_orders + t.refunded_orders,
            gross_cny=result.gross_cny + t.gross_cny,
            refunds_cny=result.refunds_cny + t.refunds_cny,
        )
    return result


def buckets_of(date_from: date, date_to: date, grain: str) -> list[tuple[str, date, date]]:
    """The line's points: each day, each week (from Monday), or each month, cut to the range."""
    buckets: list[tuple[str, date, date]] = []
    start = date_from
    while start <= date_to:
        if grain == "month":
            following = (start.replace(day=1) + timedelta(days=32)).replace(day=1)
            label = start.strftime("%Y-%m")
        elif grain == "week":
            following = start - timedelta(days=start.weekday()) + timedelta(days=7)
            label = start.isoformat()
        else:
            following = start + timedelta(days=1)
            label = start.isoformat()
        end = min(following - timedelta(days=1), date_to)
        buckets.append((label, start, end))
        start = end + timedelta(days=1)
    return buckets


# --- the buyers sets -------------------------------------------------------------------------------------


@dataclass
class _Buyers:
    """The buyers sets of a run of days, column by column, in day order: customer ids (as indexes),
    flags, and, when read, amounts and order counts. Row ``r`` of the sets began on day ``days[r]``
    (days since ``first``) and holds the entries ``bounds[r]:bounds[r + 1]``; a row is one day, or one
    whole month (``DashboardBuyersMonth``), which ``between`` takes whole or not at all: month rows are
    read only where no bucket cuts through a month (a monthly line, or a period counted as one)."""

    first: date
    days: np.ndarray
    bounds: np.ndarray
    ids: np.ndarray
    flags: np.ndarray
    net_fen: np.ndarray | None = None
    orders: np.ndarray | None = None

    def between(self, start: date, end: date) -> _Buyers:
        low = int(np.searchsorted(self.days, (start - self.first).days, side="left"))
        high = int(np.searchsorted(self.days, (end - self.first).days, side="right"))
        a, b = int(self.bounds[low]), int(self.bounds[high])
        return _Buyers(
            first=self.first,
            days=self.days[low:high],
            bounds=self.bounds[low : high + 1] - a,
            ids=self.ids[a:b],
            flags=self.flags[a:b],
            net_fen=None if self.net_fen is None else self.net_fen[a:b],
            orders=None if self.orders is None else self.orders[a:b],
        )


def _fetched(qs: QuerySet) -> list[tuple[Any, ...]]:
    """The rows of ``qs`` (a ``values_list``) as the driver gives them, without Django's per-row
    converters: a year and its previous year are some 30,000 rows of packed sets, and converting each
    took a third of the read. On PostgreSQL the blobs come in binary: Django's cursors bind on the
    client, which only takes results as text, where a blob travels and is decoded as hex, twice its size
    (a quarter's buyers sets, ~12 MB: 95 ms as text, 50 ms in binary)."""
    sql, params = qs.query.sql_with_params()
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, binary=True)
        return cursor.fetchall()


def _date_column(name: str) -> Any:
    """A date column as the fastest driver type: on SQLite as text (the driver parses a column declared a
    date for each row, an expression not); on PostgreSQL as the date the binary cursor gives (text there
    would follow the session's DateStyle)."""
    return Cast(name, output_field=CharField()) if connection.vendor != "postgresql" else name


def _whole_months(first: date, last: date) -> tuple[date, date] | None:
    """The first and the last day of the whole calendar months within ``first`` to ``last``, if any."""
    start = first if first.day == 1 else next_month(first)
    end = last if (last + timedelta(days=1)).day == 1 else month_of(last) - timedelta(days=1)
    return (start, end) if start < end else None


def _days_and_months(
    days: Any, months: Any, scope: OwnerScope, stores: list[int] | None, first: date, last: date
) -> tuple[QuerySet, QuerySet | None, tuple[date, date] | None]:
    """The rows of ``first`` to ``last`` in a day table and its month table: the whole calendar months
    from the month table, the days before and after them from the day table (all days when there is no
    whole month, and then no month rows); and the first and last day of those months."""
    day_rows = _rows(days, scope, stores, first, last)
    whole = _whole_months(first, last)
    if whole is None:
        return day_rows, None, None
    start, end = whole
    edges = day_rows.filter(Q(day__lt=start) | Q(day__gt=end))
    return edges, _rows(months, scope, stores, start, end, key="month"), whole


def _set_rows(qs: QuerySet, key: str, chosen: Sequence[tuple[str, str, int]]) -> list[tuple[Any, ...]]:
    """(first day, entries, *columns) of the sets in ``qs`` in order of ``key``, each column of
    ``chosen`` cut out by the database. (Reading whole sets and cutting them here was tried at ten
    million orders: a year by week took ~60 ms longer, by month no less; Python's copies cost more than
    SQLite's cuts.)"""
    n = F("buyers")
    cuts = [
        Substr("entries", n * at + 1, n * np.dtype(kind).itemsize, output_field=BinaryField())
        for _name, kind, at in chosen
    ]
    rows = _fetched(qs.order_by(key, "store_id", "owner_id").values_list(_date_column(key), "buyers", *cuts))
    as_date = {
        value: date.fromisoformat(value) if isinstance(value, str) else value
        for value in dict.fromkeys(row[0] for row in rows)
    }
    return [(as_date[row[0]], *row[1:]) for row in rows]


def _buyers(
    scope: OwnerScope, stores: list[int] | None, first: date, last: date, *, amounts: bool, months: bool
) -> _Buyers:
    """The buyers sets of ``first`` to ``last``: ids and flags only (the first 5 of each entry's 15
    bytes), or with ``amounts`` every column. With ``months``, the whole calendar months in the range
    are read from the month sets (a customer once per month, not once per day they bought) and only the
    days before and after them from the day sets; without, every day is its own row."""
    chosen = BUYER_COLUMNS if amounts else BUYER_COLUMNS[:2]
    if months:
        days, month_rows, whole = _days_and_months(
            DashboardBuyers, DashboardBuyersMonth, scope, stores, first, last
        )
    else:
        days, month_rows, whole = _rows(DashboardBuyers, scope, stores, first, last), None, None
    rows = _set_rows(days, "day", chosen)
    if month_rows is not None and whole is not None:
        start, end = whole
        middle = _set_rows(month_rows, "month", chosen)
        rows = [row for row in rows if row[0] < start] + middle + [row for row in rows if row[0] > end]
    starts, sizes, *parts = zip(*rows, strict=True) if rows else ((), (), *[()] * len(chosen))
    arrays = {
        # SQLite's substr of an empty blob is NULL: a set of no one reads as nothing.
        name: np.frombuffer(b"".join(blob or b"" for blob in blobs), dtype=kind)
        for (name, kind, _at), blobs in zip(chosen, parts, strict=True)
    }
    return _Buyers(
        first=first,
        # The platform's integers: a search in an int32 array for a Python int converts it first, each time.
        days=np.fromiter(((start - first).days for start in starts), dtype=np.intp, count=len(starts)),
        bounds=np.concatenate(([0], np.cumsum(np.array(sizes, dtype=np.intp)))).astype(np.intp),
        # Indexes as the platform's integers, once: scattering with 4-byte ids converts them each time.
        ids=arrays["customer"].astype(np.intp),
        flags=arrays["flags"],
        net_fen=arrays.get("net_fen"),
        orders=arrays.get("orders"),
    )


def _product_entries(scope: OwnerScope, stores: list[int] | None, first: date, last: date) -> np.ndarray:
    """The ``PRODUCT`` entries of ``first`` to ``last``, all together: the whole calendar months from the
    month arrays, the days before and after them from the day arrays (sums add up, so any range may)."""
    days, months, _whole = _days_and_months(
        DashboardProductSales, DashboardProductSalesMonth, scope, stores, first, last
    )
    parts = [days] if months is None else [days, months]
    blobs = b"".join(blob for qs in parts for (blob,) in _fetched(qs.values_list("entries")))
    return np.frombuffer(blobs, dtype=PRODUCT)


class _Counter:
    """Counts distinct customer ids, part after part, with one table of flags indexed by id that each
    count clears after itself: linear in the entries, however many parts (a day-by-day line over a year
    is 366 of them). Ids beyond ``_DENSE_IDS`` are counted by sorting instead."""

    def __init__(self, *arrays: np.ndarray) -> None:
        top = max((int(a.max()) for a in arrays if len(a)), default=0)
        self.seen = np.zeros(top + 1, dtype=bool) if top <= _DENSE_IDS else None

    def count(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        if self.seen is None:
            return int(np.unique(ids).size)
        self.seen[ids] = True
        distinct = int(np.count_nonzero(self.seen))
        if len(ids) * 8 > len(self.seen):
            self.seen.fill(False)  # a memset beats a second scatter over millions of entries
        else:
            self.seen[ids] = False
        return distinct


def _buyer_totals(part: _Buyers, counter: _Counter) -> BuyerTotals:
    again = (part.flags & BUYER_AGAIN) != 0
    return BuyerTotals(buyers=counter.count(part.ids), repeaters=counter.count(part.ids[again]))


def _returning_by_bucket(
    part: _Buyers, buckets: Sequence[tuple[str, date, date]], counter: _Counter
) -> list[tuple[int, int]]:
    """(new, returning) customers of each bucket: new are first orders, returning the bucket's other
    distinct customers."""
    result = []
    for _label, start, end in buckets:
        piece = part.between(start, end)
        new = int(np.count_nonzero(piece.flags & BUYER_FIRST))
        result.append((new, counter.count(piece.ids) - new))
    return result


def _top(
    ids: np.ndarray, net: np.ndarray, limit: int, **others: np.ndarray
) -> list[tuple[int, int, dict[str, int]]]:
    """(id, net, {other: sum}) of the ``limit`` ids with the largest positive sums of ``net``, the lower
    id first on a tie (an id whose net is nothing, refunded in full, is not a top anything). Summed by id
    with ``bincount`` in one pass (float sums of whole fen are exact below 2**53 fen, 90 trillion yuan),
    the leaders picked with a partial sort (a full sort of the ~700,000 customers of a busy quarter took
    60 ms), and the other sums taken for the leaders alone."""
    if not len(ids):
        return []
    ids = np.asarray(ids, dtype=np.intp)
    weights = net.astype(np.float64)
    dense = int(ids.max()) <= _DENSE_IDS
    if dense:
        by_id = np.bincount(ids, weights=weights)
        keys = np.flatnonzero(by_id > 0)
        totals = by_id[keys]
    else:
        keys, index = np.unique(ids, return_inverse=True)
        totals = np.bincount(index, weights=weights)
        keys, totals = keys[totals > 0], totals[totals > 0]
    if len(keys) > limit:
        threshold = np.partition(totals, len(totals) - limit)[len(totals) - limit]
        candidates = np.flatnonzero(totals >= threshold)  # every tie at the threshold
    else:
        candidates = np.arange(len(keys))
    ranked = candidates[np.lexsort((keys[candidates], -totals[candidates]))][:limit]
    leaders = np.sort(keys[ranked])
    if dense:  # one lookup per entry in a table of flags by id, not a sort of millions of entries
        flags = np.zeros(len(by_id), dtype=bool)
        flags[leaders] = True
        mine = flags[ids]
    else:
        mine = np.isin(ids, leaders)
    slot = np.searchsorted(leaders, ids[mine])
    sums = {
        name: np.bincount(slot, weights=values[mine].astype(np.float64), minlength=len(leaders))
        for name, values in others.items()
    }
    other = {int(pk): {name: round(s[k]) for name, s in sums.items()} for k, pk in enumerate(leaders)}
    return [(int(keys[i]), round(totals[i]), other[int(keys[i])]) for i in ranked]


# --- the figures ------------------------------------------------------------------------------------------


def dashboard_figures(*, user: Any, filters: DashboardFilters) -> DashboardFigures:
    """Every figure of the dashboard for ``user`` with ``filters``, from the pre-aggregated tables (a
    fixed number of queries, whatever the range). This is what the page shows and the export writes."""
    scope = dashboard_owner_scope(user=user).narrowed(filters.owner)
    sales_visible = purchases_visible(user=user) and not scope.is_empty
    customers_visible = not scope.is_empty
    tickets_visible = bool(user.is_active and user.has_perm("engagement.view_ticket"))
    state = DashboardState.objects.filter(pk=STATE_PK).values_list("refreshed_at", flat=True).first()
    figures = DashboardFigures(
        filters=filters,
        sales_visible=sales_visible,
        customers_visible=customers_visible,
        tickets_visible=tickets_visible,
        shop_has_sales=DashboardSales.objects.exists(),
        refreshed_at=state,
    )
    if sales_visible:
        _sales_figures(figures, scope, filters)
    if customers_visible:
        _customer_figures(figures, scope)
    if tickets_visible:
        figures.open_complaints = _open_complaints(user)
    return figures


def _sales_figures(figures: DashboardFigures, scope: OwnerScope, filters: DashboardFilters) -> None:
    stores = _stores(filters)
    first, last = filters.date_from, filters.date_to
    before_first, before_last = filters.previous
    sales = _rows(DashboardSales, scope, stores, first, last)
    by_day = {row["day"]: _totals(row) for row in sales.values("day").annotate(**_SALES_SUMS)}
    figures.totals = _add(by_day.values())
    figures.previous_totals = _totals(
        _rows(DashboardSales, scope, stores, before_first, before_last).aggregate(**_SALES_SUMS)
    )

    buckets = buckets_of(first, last, filters.grain)
    # Whole months may stand for their days where no bucket cuts through one: the period before needs
    # only its totals, and a monthly line's buckets are the range's whole months and its two ends.
    current = _buyers(scope, stores, first, last, amounts=True, months=filters.grain == "month")
    previous = _buyers(scope, stores, before_first, before_last, amounts=False, months=True)
    counter = _Counter(current.ids, previous.ids)
    figures.buyers = _buyer_totals(current, counter)
    figures.previous_buyers = _buyer_totals(previous, counter)
    customers = _returning_by_bucket(current, buckets, counter)
    for (label, start, end), (new, returning) in zip(buckets, customers, strict=True):
        days = [by_day[d] for d in by_day if start <= d <= end]
        total = _add(days)
        figures.buckets.append(
            Bucket(
                label=label,
                start=start,
                end=end,
                orders=total.orders,
                net_cny=total.net_cny,
                new_customers=new,
                returning_customers=returning,
            )
        )

    channels = sales.values("store_id").annotate(**_SALES_SUMS)
    names = dict(Store.objects.values_list("pk", "name"))
    figures.channels = sorted(
        (
            Slice(key=row["store_id"], label=names.get(row["store_id"], "?"), **_money_and_orders(row))
            for row in channels
        ),
        key=lambda s: (-s.net_cny, s.label),
    )

    line_sums = {"net": Sum("net_fen"), "n_units": Sum("units"), "n_orders": Sum("orders")}
    categories = (
        _rows(DashboardCategorySales, scope, stores, first, last).values("category_id").annotate(**line_sums)
    )
    labels = dict(Category.objects.filter(parent__isnull=True).values_list("pk", "name"))
    slices = [
        Slice(
            key=row["category_id"],
            label=labels.get(row["category_id"], "?") if row["category_id"] else _("Uncategorised"),
            net_cny=_yuan(row["net"]),
            units=int(row["n_units"] or 0),
            orders=int(row["n_orders"] or 0),
        )
        for row in categories
    ]
    figures.categories = sorted(slices, key=lambda s: (s.key is None, -s.net_cny, s.label))

    sold = _product_entries(scope, stores, first, last)
    products = _top(sold["product"], sold["net_fen"], TOP_N, units=sold["units"], orders=sold["orders"])
    product_names = dict(
        Product.objects.filter(pk__in=[pk for pk, _n, _s in products]).values_list("pk", "name")
    )
    figures.top_products = [
        Slice(
            key=pk,
            label=product_names.get(pk, "?"),
            net_cny=_yuan(net),
            units=sums["units"],
            orders=sums["orders"],
        )
        for pk, net, sums in products
    ]

    assert current.net_fen is not None and current.orders is not None
    top = _top(current.ids, current.net_fen, TOP_N, orders=current.orders)
    people = {
        pk: (number, name)
        for pk, number, name in Customer.objects.filter(pk__in=[pk for pk, _n, _s in top]).values_list(
            "pk", "customer_no", "name"
        )
    }
    figures.top_customers = [
        TopCustomer(
            id=pk, customer_no=people[pk][0], name=people[pk][1], net_cny=_yuan(net), orders=sums["orders"]
        )
        for pk, net, sums in top
        if pk in people
    ]


def _money_and_orders(row: dict[str, Any]) -> dict[str, Any]:
    totals = _totals(row)
    return {"net_cny": totals.net_cny, "orders": totals.orders}


def _customer_figures(figures: DashboardFigures, scope: OwnerScope) -> None:
    counts = DashboardCustomers.objects.filter(scope.q()).order_by()
    provinces = sorted(
        ((row["province"], int(row["n"])) for row in counts.values("province").annotate(n=Sum("customers"))),
        key=lambda pair: (-pair[1], pair[0]),
    )
    named = [(p, n) for p, n in provinces if p]
    shown = named[:PROVINCES_SHOWN]
    rest = sum(n for _p, n in named[PROVINCES_SHOWN:])
    unknown = sum(n for p, n in provinces if not p)
    figures.provinces = [Slice(key=p, label=p, customers=n) for p, n in shown]
    if rest:
        figures.provinces.append(Slice(key=None, label=_("Other provinces"), customers=rest))
    if unknown:
        figures.provinces.append(Slice(key="", label=_("Province unknown"), customers=unknown))
    by_stage = {row["stage"]: int(row["n"]) for row in counts.values("stage").annotate(n=Sum("customers"))}
    figures.funnel = [
        Slice(key=stage.value, label=str(stage.label), customers=by_stage.get(stage.value, 0))
        for stage in Stage
        if stage != Stage.CHURNED
    ]
    figures.churned = by_stage.get(Stage.CHURNED.value, 0)


def _open_complaints(user: Any) -> int:
    from kebu.engagement.models import OPEN_TICKET_STATUSES, TicketKind
    from kebu.engagement.selectors.tickets import ticket_visible_queryset

    return (
        ticket_visible_queryset(user=user)
        .filter(kind=TicketKind.COMPLAINT, status__in=OPEN_TICKET_STATUSES)
        .order_by()
        .count()
    )


def platform_choices() -> list[tuple[str, str]]:
    """The platforms of the shop's stores, for the channel filter."""
    used = set(Store.objects.values_list("platform", flat=True))
    return [(value, str(label)) for value, label in Platform.choices if value in used]


def with_filters(filters: DashboardFilters, **changes: Any) -> DashboardFilters:
    return replace(filters, **changes)
