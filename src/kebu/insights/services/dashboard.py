"""Filling the dashboard's tables (``models/dashboard.py``) from the orders and customers.

- ``dashboard_rebuild`` (the nightly run, and "Compute now") computes every table's contents aside, in
  temporary tables, then replaces the contents in one short transaction: readers see the old figures
  until it commits, never half of the new ones, and on SQLite orders are saved while it computes. The
  sums are one ``INSERT … SELECT … GROUP BY`` per table, run by the database over all orders at once;
  the buyers and products arrays are one grouped ``SELECT`` each, packed as it streams, and each
  month's buyers sets and product arrays are then merged from its days' (``MONTHLY``).
- ``dashboard_refresh`` brings the tables up to date between rebuilds by redoing only the shop days that
  changed. It finds them in the audit log rather than in ``Order.updated_at``: every order, payment,
  refund and change of owner writes an audit entry in its own transaction, and entries are numbered in
  commit order (writers queue on the log's head), so "the entries after number N" misses nothing,
  where "updated after time T" would miss a transaction that began before T and committed after it,
  and would scan every order (``updated_at`` has no index). The month of each day redone is merged
  again from its day sets.

What counts is what the sales summary counts (``orders/reports.py``): orders in ``COUNTED_STATUSES``,
each on its day in the shop's time zone, with its refunds on that same day whenever they were paid;
category and product figures from the lines, net of what was returned and refunded on them. An order
is a customer's first when no counted order of theirs is older (the lower id first on the same time).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Min
from django.utils import timezone

from kebu.audit.models import AuditEntry, AuditHead
from kebu.customers.models import Customer
from kebu.insights.models import (
    DashboardBuyers,
    DashboardBuyersMonth,
    DashboardCategorySales,
    DashboardCustomers,
    DashboardProductSales,
    DashboardProductSalesMonth,
    DashboardSales,
    DashboardState,
    InsightRun,
)
from kebu.orders.models import COUNTED_STATUSES, AfterSale, Order, OrderLine

logger = logging.getLogger(__name__)

# One entry of a buyers set: the customer, what they spent that day in that store net of refunds (fen),
# their counted orders (at most 65535 are told apart), and whether their first counted order ever is
# among them. 15 bytes, little-endian, so a database copied between machines reads the same; a customer
# id past 2³² would not fit and stops the rebuild rather than be stored wrong.
BUYER = np.dtype([("customer", "<u4"), ("net_fen", "<i8"), ("orders", "<u2"), ("first", "u1")])
MAX_ORDERS_TOLD = 65535
# A set is stored column by column (``buyers_bytes``): every id, then every entry's flags, then the
# amounts, then the order counts. Who bought and whether they bought again, all that the comparison
# period needs, are the first 5 of the 15 bytes, which a reader can take alone (``BUYER_COLUMNS``:
# name, type, bytes per entry before the column). A year's comparison period at ten million orders is
# then 20 MB to read instead of 60.
BUYER_FIRST, BUYER_AGAIN = 1, 2  # flags: the customer's first order is among these; another one is too
BUYER_COLUMNS = (("customer", "<u4", 0), ("flags", "u1", 4), ("net_fen", "<i8", 5), ("orders", "<u2", 13))
# One entry of a products array: the product, units sold net of returns, net of refunds in fen, orders.
PRODUCT = np.dtype([("product", "<u4"), ("units", "<i8"), ("net_fen", "<i8"), ("orders", "<u4")])
STATE_PK = 1
# A refresh that would redo more days than this rebuilds everything instead: one pass over the orders
# costs less than hundreds of day-by-day ranges.
REFRESH_MAX_DAYS = 400
# Audit actions after which some shop day's sums may differ.
ORDER_ACTIONS = frozenset({"order.create", "order.pay"})
REFUND_ACTIONS = frozenset({"aftersale.complete"})
IMPORT_ACTIONS = frozenset({"import.finish", "import.undo"})
# Audit actions after which customers may have moved between owners, provinces or stages.
CUSTOMER_ACTIONS = frozenset(
    {
        "customer.create",
        "customer.update",
        "customer.archive",
        "customer.restore",
        "customer.delete",
        "customer.assign",
        "customer.stage",
        "customer.churn",
        "metrics.recompute",
    }
)
WATCHED_ACTIONS = ORDER_ACTIONS | REFUND_ACTIONS | IMPORT_ACTIONS | CUSTOMER_ACTIONS
_CHUNK = 5000


def shop_zone() -> Any:
    return timezone.get_default_timezone()


def shop_day(moment: datetime) -> date:
    """The day ``moment`` falls on in the shop's time zone."""
    return timezone.localtime(moment, shop_zone()).date()


def day_start(day: date) -> datetime:
    """The moment ``day`` begins in the shop's time zone."""
    return datetime.combine(day, time.min, tzinfo=shop_zone())


# --- the shop day of a moment, in SQL ------------------------------------------------------------------
# The statements below are put together from the models' table names and fixed fragments; every value
# (days, moments, statuses, the zone) is a parameter. Hence the ``noqa: S608`` on each.


def _offsets(start: datetime, end: datetime) -> list[tuple[datetime | None, int]]:
    """The shop zone's UTC offsets (seconds) from ``start`` to ``end``: ``[(until, offset), …]``, the
    last with ``until`` None. One pair for a zone without summer time (Asia/Shanghai since 1991)."""
    zone = shop_zone()

    def offset(epoch: int) -> int:
        moment = datetime.fromtimestamp(epoch, tz=zone)
        return int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]

    first, last = int(start.timestamp()), int(end.timestamp()) + 1
    segments: list[tuple[datetime | None, int]] = []
    current = offset(first)
    step = 86400
    at = first
    while at < last:
        following = min(at + step, last)
        if offset(following) != current:
            low, high = at, following  # the change is in (low, high]: find its second
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if offset(middle) == current else (low, middle)
            segments.append((datetime.fromtimestamp(high, tz=UTC), current))
            current = offset(high)
        at = following
    segments.append((None, current))
    return segments


def _day_sql(column: str, start: datetime, end: datetime) -> tuple[str, list[Any]]:
    """SQL for the shop day of the moment in ``column`` (moments from ``start`` to ``end``).

    PostgreSQL converts with the zone's rules itself. SQLite keeps moments as UTC text and has no zones:
    the day is the UTC text shifted by the zone's offset, and where the offset changes within the range
    (summer time) a CASE picks it by moment. Both are exact and run inside the database, where Django's
    own ``TruncDate`` on SQLite calls back into Python for every row."""
    if connection.vendor == "postgresql":
        return f"CAST(({column} AT TIME ZONE %s) AS date)", [settings.TIME_ZONE]
    segments = _offsets(start, end)
    if len(segments) == 1:
        return f"date({column}, %s)", [f"{segments[0][1]:+d} seconds"]
    branches, params = [], []
    for until, offset in segments[:-1]:
        branches.append(f"WHEN {column} < %s THEN %s")
        params += [connection.ops.adapt_datetimefield_value(until), f"{offset:+d} seconds"]
    params.append(f"{segments[-1][1]:+d} seconds")
    return f"date({column}, CASE {' '.join(branches)} ELSE %s END)", params


@dataclass(frozen=True)
class _Scope:
    """The orders a statement reads: all of them (``ranges`` None), or those ordered within ``ranges``
    (UTC moments, start included, end excluded)."""

    ranges: tuple[tuple[datetime, datetime], ...] | None
    start: datetime
    end: datetime

    def where(self, column: str) -> tuple[str, list[Any]]:
        if self.ranges is None:
            return "", []
        parts = " OR ".join(f"({column} >= %s AND {column} < %s)" for _ in self.ranges)
        adapt = connection.ops.adapt_datetimefield_value
        return f" AND ({parts})", [adapt(moment) for pair in self.ranges for moment in pair]


def _scope_of_days(days: Iterable[date]) -> _Scope:
    """Whole shop days, runs of consecutive days merged into one range."""
    ranges: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        start, end = day_start(day), day_start(day + timedelta(days=1))
        if ranges and ranges[-1][1] == start:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return _Scope(ranges=tuple(ranges), start=ranges[0][0], end=ranges[-1][1])


def _scope_of_everything() -> _Scope | None:
    """Every order, or None when there is none. The earliest and latest moments bound the zone's
    offsets; each is read off the ``order_time`` index by itself (SQLite answers MIN and MAX in one
    query by scanning)."""
    first = Order.objects.order_by("ordered_at").values_list("ordered_at", flat=True).first()
    last = Order.objects.order_by("-ordered_at").values_list("ordered_at", flat=True).first()
    if first is None or last is None:
        return None
    return _Scope(ranges=None, start=first, end=last)


def _counted(placeholders: Sequence[Any]) -> str:
    return ", ".join(["%s"] * len(placeholders))


def _orders_sql(scope: _Scope) -> tuple[str, list[Any]]:
    """One row per counted order in ``scope``: its shop day, order, customer, store, the customer's owner,
    whether it is the customer's first counted order (1 or 0), and what was paid and refunded in fen.

    "First" is the first by (order time, id) among all the customer's counted orders, also those outside
    the scope: the window runs over the whole history of every customer with an order in it."""
    o, c = Order._meta.db_table, Customer._meta.db_table
    statuses = list(COUNTED_STATUSES)
    day, day_params = _day_sql("x.ordered_at", scope.start, scope.end)
    inner_scope, inner_params = "", []
    if scope.ranges is not None:
        ranges, range_params = scope.where("s.ordered_at")
        inner_scope = f" AND o.customer_id IN (SELECT s.customer_id FROM {o} s WHERE 1 = 1{ranges})"  # noqa: S608
        inner_params = range_params
    outer_scope, outer_params = scope.where("x.ordered_at")
    sql = (
        f"SELECT {day} AS day, x.id AS order_id, x.customer_id, x.store_id, cu.owner_id, "  # noqa: S608
        f"CASE WHEN x.rn = 1 THEN 1 ELSE 0 END AS first_order, "
        f"CAST(ROUND(x.paid_cny * 100) AS BIGINT) AS paid_fen, "
        f"CAST(ROUND(x.refunded_cny * 100) AS BIGINT) AS refunded_fen "
        f"FROM (SELECT o.id, o.customer_id, o.store_id, o.ordered_at, o.paid_cny, o.refunded_cny, "
        f"ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.ordered_at, o.id) AS rn "
        f"FROM {o} o WHERE o.status IN ({_counted(statuses)}){inner_scope}) x "
        f"JOIN {c} cu ON cu.id = x.customer_id WHERE 1 = 1{outer_scope}"
    )
    return sql, [*day_params, *statuses, *inner_params, *outer_params]


def _lines_sql(scope: _Scope) -> tuple[str, list[Any]]:
    """Each counted order in ``scope`` with its shop day, store and owner (no "first": lines need none)."""
    o, c = Order._meta.db_table, Customer._meta.db_table
    statuses = list(COUNTED_STATUSES)
    day, day_params = _day_sql("o.ordered_at", scope.start, scope.end)
    where, where_params = scope.where("o.ordered_at")
    sql = (
        f"SELECT {day} AS day, o.id AS order_id, o.store_id, cu.owner_id FROM {o} o "  # noqa: S608
        f"JOIN {c} cu ON cu.id = o.customer_id WHERE o.status IN ({_counted(statuses)}){where}"
    )
    return sql, [*day_params, *statuses, *where_params]


# --- writing the tables ----------------------------------------------------------------------------------

COLUMNS = {
    DashboardSales: "day, store_id, owner_id, orders, new_customers, refunded_orders, gross_fen, refunds_fen",
    DashboardCategorySales: "day, store_id, owner_id, category_id, orders, units, net_fen",
    DashboardProductSales: "day, store_id, owner_id, products, entries",
    DashboardBuyers: "day, store_id, owner_id, buyers, entries",
    DashboardBuyersMonth: "month, store_id, owner_id, buyers, entries",
    DashboardProductSalesMonth: "month, store_id, owner_id, products, entries",
    DashboardCustomers: "owner_id, province, stage, customers",
}


@dataclass(frozen=True)
class _Tables:
    """Where the writers write: the dashboard's tables, or the rebuild's temporary copies of them."""

    names: dict[Any, str]

    def __getitem__(self, model: Any) -> str:
        return self.names[model]


LIVE = _Tables({model: model._meta.db_table for model in COLUMNS})
# The rebuild computes into tables of its connection's own (TEMP: on SQLite they are outside the main
# database, so filling them takes no write lock and orders keep being saved meanwhile; at ten million
# orders that is minutes), then swaps them in with one short transaction.
STAGED = _Tables({model: f"kebu_stage_{model._meta.model_name}" for model in COLUMNS})


def _sales_insert(cursor: Any, scope: _Scope, tables: _Tables) -> None:
    source, params = _orders_sql(scope)
    cursor.execute(
        f"INSERT INTO {tables[DashboardSales]} ({COLUMNS[DashboardSales]}) "  # noqa: S608
        f"SELECT s.day, s.store_id, s.owner_id, COUNT(*), SUM(s.first_order), "
        f"SUM(CASE WHEN s.refunded_fen > 0 THEN 1 ELSE 0 END), SUM(s.paid_fen), SUM(s.refunded_fen) "
        f"FROM ({source}) s GROUP BY s.day, s.store_id, s.owner_id",
        params,
    )


# Per group of lines: orders with such a line, units net of returns, net amount in fen.
_LINE_ORDERS = "COUNT(DISTINCT l.order_id)"
_LINE_UNITS = "SUM(l.quantity - l.returned_quantity)"
_LINE_NET = "SUM(CAST(ROUND((l.amount_cny - l.refunded_cny) * 100) AS BIGINT))"


def _lines_from(scope: _Scope) -> tuple[str, list[Any]]:
    """FROM the lines of the counted orders in ``scope``, each beside its order's day, store and owner
    (as ``s``)."""
    source, params = _lines_sql(scope)
    return f"FROM ({source}) s JOIN {OrderLine._meta.db_table} l ON l.order_id = s.order_id", params


def _categories_insert(cursor: Any, scope: _Scope, tables: _Tables) -> None:
    lines, params = _lines_from(scope)
    keys = "s.day, s.store_id, s.owner_id, l.root_category_id"
    cursor.execute(
        f"INSERT INTO {tables[DashboardCategorySales]} ({COLUMNS[DashboardCategorySales]}) "
        f"SELECT {keys}, {_LINE_ORDERS}, {_LINE_UNITS}, {_LINE_NET} {lines} GROUP BY {keys}",
        params,
    )


def buyers_bytes(entries: np.ndarray) -> bytes:
    """A buyers set (``BUYER`` entries sorted by customer) as stored, column by column."""
    again = np.where(entries["orders"] > entries["first"], BUYER_AGAIN, 0)
    flags = (entries["first"] * BUYER_FIRST | again).astype("u1")
    columns = {
        "customer": entries["customer"],
        "flags": flags,
        "net_fen": entries["net_fen"],
        "orders": entries["orders"],
    }
    return b"".join(columns[name].astype(kind).tobytes() for name, kind, _at in BUYER_COLUMNS)


def buyers_read(blob: bytes) -> np.ndarray:
    """A stored buyers set as ``BUYER`` entries (the inverse of ``buyers_bytes``)."""
    size = len(blob) // BUYER.itemsize
    entries = np.zeros(size, dtype=BUYER)
    columns = {name: np.frombuffer(blob, kind, size, at * size) for name, kind, at in BUYER_COLUMNS}
    for name in ("customer", "net_fen", "orders"):
        entries[name] = columns[name]
    entries["first"] = columns["flags"] & BUYER_FIRST
    return entries


def _merged(
    arrays: Sequence[np.ndarray], dtype: np.dtype, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of several arrays as one array with one entry per ``key``, sorted, holding only the key
    yet; and the entries of all the arrays sorted by key, with where each key's run starts in them (for
    the caller to fill the other columns with ``reduceat``)."""
    entries = np.concatenate(arrays) if arrays else np.zeros(0, dtype=dtype)
    entries = entries[np.argsort(entries[key], kind="stable")]
    starts = np.flatnonzero(np.diff(entries[key], prepend=np.int64(-1)))
    merged = np.zeros(len(starts), dtype=dtype)
    merged[key] = entries[key][starts]
    return merged, entries, starts


def buyers_merge(sets: Sequence[np.ndarray]) -> np.ndarray:
    """``BUYER`` entries of several sets as one set: one entry per customer, sorted by id, with their
    amounts and orders summed and ``first`` kept (a customer's first order is in at most one of them)."""
    merged, entries, starts = _merged(sets, BUYER, "customer")
    if len(entries):
        merged["net_fen"] = np.add.reduceat(entries["net_fen"], starts)
        orders = np.add.reduceat(entries["orders"].astype(np.int64), starts)
        merged["orders"] = np.minimum(orders, MAX_ORDERS_TOLD)
        merged["first"] = np.maximum.reduceat(entries["first"], starts)
    return merged


def products_merge(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """``PRODUCT`` entries of several arrays as one: one entry per product, sorted, their sums added."""
    merged, entries, starts = _merged(arrays, PRODUCT, "product")
    if len(entries):
        for name in ("units", "net_fen", "orders"):
            merged[name] = np.add.reduceat(entries[name], starts)
    return merged


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    """The first day of the month after the one of ``day``."""
    return (month_of(day) + timedelta(days=32)).replace(day=1)


def _months_between(first: date, last: date) -> list[date]:
    months, month = [], month_of(first)
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


@dataclass(frozen=True)
class _Monthly:
    """A month table made from a day table: how to read, merge and pack their entries."""

    days: type[models.Model]
    months: type[models.Model]
    read: Callable[[bytes], np.ndarray]
    merge: Callable[[Sequence[np.ndarray]], np.ndarray]
    pack: Callable[[np.ndarray], bytes]


MONTHLY = (
    _Monthly(DashboardBuyers, DashboardBuyersMonth, buyers_read, buyers_merge, buyers_bytes),
    _Monthly(
        DashboardProductSales,
        DashboardProductSalesMonth,
        lambda blob: np.frombuffer(blob, dtype=PRODUCT),
        products_merge,
        np.ndarray.tobytes,
    ),
)


def _months_write(months: Iterable[date], tables: _Tables) -> int:
    """Write the month tables (``MONTHLY``) of ``months`` (first days; their old rows are gone) from the
    day rows already in ``tables``, a month at a time; return the rows written."""
    adapt = connection.ops.adapt_datefield_value
    written = 0
    with connection.cursor() as cursor:
        for monthly, month in itertools.product(MONTHLY, sorted(set(months))):
            cursor.execute(
                f"SELECT store_id, owner_id, entries FROM {tables[monthly.days]} "  # noqa: S608
                f"WHERE day >= %s AND day < %s",
                [adapt(month), adapt(next_month(month))],
            )
            parts: dict[tuple[Any, Any], list[np.ndarray]] = {}
            for store_id, owner_id, blob in cursor.fetchall():
                parts.setdefault((store_id, owner_id), []).append(monthly.read(bytes(blob)))
            rows = []
            for (store_id, owner_id), arrays in parts.items():
                merged = monthly.merge(arrays)
                rows.append((adapt(month), store_id, owner_id, len(merged), monthly.pack(merged)))
            columns = COLUMNS[monthly.months]
            cursor.executemany(
                f"INSERT INTO {tables[monthly.months]} ({columns}) VALUES (%s, %s, %s, %s, %s)",  # noqa: S608
                rows,
            )
            written += len(rows)
    return written


def _packed(
    cursor: Any,
    table: str,
    dtype: np.dtype,
    size_column: str,
    to_bytes: Callable[[np.ndarray], bytes] = np.ndarray.tobytes,
) -> int:
    """Write the rows the query just run on ``cursor`` returns, ``(day, store, owner, *entry)`` in that
    order, as one row of ``table`` per day, store and owner: (day, store, owner, entries, the entries
    packed by ``to_bytes``). Returns the rows written."""
    columns = f"day, store_id, owner_id, {size_column}, entries"
    insert = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s)"  # noqa: S608
    key: tuple[Any, ...] | None = None
    entries: list[tuple[Any, ...]] = []
    batch: list[tuple[Any, ...]] = []
    written = 0
    # The query's rows are read before any is written: a second cursor, as the first is still reading.
    with connection.cursor() as writer:

        def pack() -> None:
            assert key is not None
            array = np.array(entries, dtype=dtype)
            batch.append((*key, len(array), to_bytes(array)))

        while rows := cursor.fetchmany(10_000):
            for row in rows:
                if row[:3] != key:
                    if entries:
                        pack()
                    key, entries = tuple(row[:3]), []
                entries.append(row[3:])
            if len(batch) >= 500:
                writer.executemany(insert, batch)
                written, batch = written + len(batch), []
        if entries:
            pack()
        if batch:
            writer.executemany(insert, batch)
    return written + len(batch)


def _buyers_insert(cursor: Any, scope: _Scope, tables: _Tables) -> int:
    """The buyers sets of the days in ``scope``, from one grouped query read in order."""
    source, params = _orders_sql(scope)
    key_columns = "s.day, s.store_id, s.owner_id, s.customer_id"
    told = f"CASE WHEN COUNT(*) > {MAX_ORDERS_TOLD} THEN {MAX_ORDERS_TOLD} ELSE COUNT(*) END"
    cursor.execute(
        f"SELECT {key_columns}, SUM(s.paid_fen - s.refunded_fen), {told}, MAX(s.first_order) "  # noqa: S608
        f"FROM ({source}) s GROUP BY {key_columns} ORDER BY {key_columns}",
        params,
    )
    return _packed(cursor, tables[DashboardBuyers], BUYER, "buyers", buyers_bytes)


def _products_insert(cursor: Any, scope: _Scope, tables: _Tables) -> int:
    """Each day's, store's and owner's products, from one grouped query over the lines, read in order."""
    lines, params = _lines_from(scope)
    keys = "s.day, s.store_id, s.owner_id, l.product_id"
    cursor.execute(
        f"SELECT {keys}, {_LINE_UNITS}, {_LINE_NET}, {_LINE_ORDERS} {lines} "
        f"WHERE l.product_id IS NOT NULL GROUP BY {keys} ORDER BY {keys}",
        params,
    )
    return _packed(cursor, tables[DashboardProductSales], PRODUCT, "products")


def _days_write(scope: _Scope, tables: _Tables) -> int:
    """Insert every table's rows for the orders in ``scope`` (whose old rows are gone); return the number
    of buyers sets written."""
    with connection.cursor() as cursor:
        _sales_insert(cursor, scope, tables)
        _categories_insert(cursor, scope, tables)
        _products_insert(cursor, scope, tables)
        return _buyers_insert(cursor, scope, tables)


def _customers_insert(tables: _Tables) -> None:
    c = Customer._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {tables[DashboardCustomers]} ({COLUMNS[DashboardCustomers]}) "  # noqa: S608
            f"SELECT owner_id, province, stage, COUNT(*) FROM {c} WHERE archived_at IS NULL "
            f"GROUP BY owner_id, province, stage"
        )


def _staging_drop(cursor: Any) -> None:
    for model in COLUMNS:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGED[model]}")


def _head_seq() -> int:
    """The number of the last audit entry committed."""
    head = AuditHead.objects.order_by("pk").values_list("seq", flat=True).first()
    if head is not None:
        return int(head)
    last = AuditEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    return int(last or 0)


def _state_locked() -> DashboardState:
    """The state row, locked until the transaction ends (on PostgreSQL; SQLite's IMMEDIATE transactions
    already hold the write lock): a rebuild and a refresh never interleave their deletes and inserts."""
    DashboardState.objects.get_or_create(pk=STATE_PK)
    return DashboardState.objects.select_for_update().get(pk=STATE_PK)


# --- the nightly rebuild ---------------------------------------------------------------------------------


def dashboard_rebuild(*, run: InsightRun | None = None) -> dict[str, Any]:
    """Replace the contents of every dashboard table with what the orders and customers say, all at once:
    the new contents are computed aside (temporary tables), then swapped in by one transaction, so a
    reader sees the old figures or the new ones, never a mix, and orders are saved meanwhile. Returns
    what was written, which the run keeps. An empty shop is an answer too: the tables are emptied and
    the page says there are no sales yet.

    Whatever changes while it computes is after the audit entry it started from, so the next refresh
    folds it in."""
    started = timezone.now()
    seq = _head_seq()
    scope = _scope_of_everything()
    with connection.cursor() as cursor:
        _staging_drop(cursor)  # left by a rebuild killed on this connection
        try:
            for model, columns in COLUMNS.items():
                cursor.execute(
                    f"CREATE TEMP TABLE {STAGED[model]} AS "  # noqa: S608
                    f"SELECT {columns} FROM {model._meta.db_table} WHERE 1 = 0"
                )
            buyer_sets = month_rows = 0
            if scope is not None:
                buyer_sets = _days_write(scope, STAGED)
                month_rows = _months_write(
                    _months_between(shop_day(scope.start), shop_day(scope.end)), STAGED
                )
            _customers_insert(STAGED)
            with transaction.atomic():
                state = _state_locked()
                for model, columns in COLUMNS.items():
                    cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608
                    cursor.execute(
                        f"INSERT INTO {model._meta.db_table} ({columns}) "  # noqa: S608
                        f"SELECT {columns} FROM {STAGED[model]}"
                    )
                now = timezone.now()
                state.seq, state.zone, state.rebuilt_at, state.refreshed_at = (
                    seq,
                    settings.TIME_ZONE,
                    now,
                    now,
                )
                state.save()
        finally:
            _staging_drop(cursor)
    return {
        "days": DashboardSales.objects.values("day").distinct().count(),
        "rows": DashboardSales.objects.count(),
        "buyer_sets": buyer_sets,
        "month_rows": month_rows,
        "first_day": str(shop_day(scope.start)) if scope else None,
        "last_day": str(shop_day(scope.end)) if scope else None,
        "seconds": round((timezone.now() - started).total_seconds(), 1),
    }


# --- the incremental refresh -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh did: ``days`` redone, whether the customer counts were, and whether the tables need
    a full rebuild first (never built, the shop's zone changed, orders were deleted, or too many days
    changed) or the refresh was left to the next one (``deferred``: more than ``max_days`` days)."""

    days: tuple[date, ...] = ()
    customers: bool = False
    needs_rebuild: bool = False
    deferred: bool = False


@dataclass
class _Changes:
    orders: set[int]  # orders whose figures may have changed
    counting: set[int]  # of them, those that may have started to count (created or paid)
    owner_customers: set[int]
    customers: bool = False
    rebuild: bool = False


def _changes_since(seq: int, head: int) -> _Changes:
    """What the audit entries after ``seq`` (to ``head``) changed: orders (created, paid, refunded),
    customers whose owner may have changed, whether customers changed at all, and whether only a full
    rebuild can tell (an order import undone deletes orders, whose days are then unknown)."""
    from kebu.transfer.models import Import, ImportKind, ImportRow, ImportRowAction

    changes = _Changes(orders=set(), counting=set(), owner_customers=set())
    aftersales: set[int] = set()
    imports: dict[int, str] = {}
    entries = AuditEntry.objects.filter(seq__gt=seq, seq__lte=head, action__in=WATCHED_ACTIONS).values_list(
        "action", "target_type", "target_id", "changes"
    )
    for action, target_type, target_id, changed in entries.iterator(chunk_size=2000):
        if action in CUSTOMER_ACTIONS:
            changes.customers = True
        if not str(target_id).isdigit():
            continue
        pk = int(target_id)
        if action in ORDER_ACTIONS and target_type == "orders.order":
            changes.orders.add(pk)
            changes.counting.add(pk)
        elif action in REFUND_ACTIONS and target_type == "orders.aftersale":
            aftersales.add(pk)
        elif action == "customer.assign" or (action == "customer.update" and "owner" in (changed or {})):
            changes.owner_customers.add(pk)
        elif action in IMPORT_ACTIONS and target_type == "transfer.import":
            imports[pk] = action
    for chunk in _chunks(sorted(aftersales)):
        changes.orders |= set(AfterSale.objects.filter(pk__in=chunk).values_list("order_id", flat=True))
    if imports:
        changes.customers = True
        kinds = dict(Import.objects.filter(pk__in=list(imports)).values_list("pk", "kind"))
        if any(kinds.get(pk) == ImportKind.ORDERS and a == "import.undo" for pk, a in imports.items()):
            changes.rebuild = True
        # A customer import may have changed owners, row by row with no entry of its own: its journal
        # names the customers it changed (and, undone, changed back).
        customer_runs = [pk for pk, kind in kinds.items() if kind == ImportKind.CUSTOMERS]
        changes.owner_customers |= set(
            ImportRow.objects.filter(
                run_id__in=customer_runs, action=ImportRowAction.UPDATED, customer__isnull=False
            ).values_list("customer_id", flat=True)
        )
    return changes


def _chunks(values: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(values), _CHUNK):
        yield list(values[start : start + _CHUNK])


def _days_touched(changes: _Changes) -> set[date]:
    """The shop days whose figures ``changes`` may have moved: the changed orders' days; where an order
    started to count no later than its customer's earliest other counted order, that order's day (it
    was the customer's first, and is no longer); every day a customer whose owner changed bought on."""
    days: set[date] = set()
    starts: dict[int, datetime] = {}  # customer -> their earliest order that started to count
    for chunk in _chunks(sorted(changes.orders)):
        for pk, customer_id, moment in Order.objects.filter(pk__in=chunk).values_list(
            "pk", "customer_id", "ordered_at"
        ):
            days.add(shop_day(moment))
            if pk in changes.counting and (customer_id not in starts or moment < starts[customer_id]):
                starts[customer_id] = moment
    for chunk in _chunks(sorted(starts)):
        earliest = (
            Order.objects.filter(customer_id__in=chunk, status__in=COUNTED_STATUSES)
            .exclude(pk__in=changes.counting)
            .values("customer_id")
            .annotate(first=Min("ordered_at"))
            .values_list("customer_id", "first")
        )
        days.update(shop_day(first) for customer_id, first in earliest if starts[customer_id] <= first)
    for chunk in _chunks(sorted(changes.owner_customers)):
        moments = Order.objects.filter(customer_id__in=chunk, status__in=COUNTED_STATUSES).values_list(
            "ordered_at", flat=True
        )
        days.update(shop_day(moment) for moment in moments)
    return days


def dashboard_refresh(*, max_days: int | None = None) -> RefreshResult:
    """Bring the tables up to date with the audit entries written since they last were: redo the shop
    days those changes touched, and recount the customers if any changed. Cheap when nothing changed
    (two indexed reads). With ``max_days``, a refresh that would redo more days is left to a later one
    (the page asks with a small number, a background task without). Never rebuilds everything itself:
    ``needs_rebuild`` says when only ``dashboard_rebuild`` can bring the tables up to date."""
    state = DashboardState.objects.filter(pk=STATE_PK).first()
    if state is None or state.rebuilt_at is None or state.zone != settings.TIME_ZONE:
        return RefreshResult(needs_rebuild=True)
    head = _head_seq()
    if head <= state.seq:
        return RefreshResult()
    changes = _changes_since(state.seq, head)
    if changes.rebuild:
        return RefreshResult(needs_rebuild=True)
    days = _days_touched(changes)
    if len(days) > REFRESH_MAX_DAYS:
        return RefreshResult(needs_rebuild=True)
    if max_days is not None and len(days) > max_days:
        return RefreshResult(days=tuple(sorted(days)), deferred=True)
    with transaction.atomic():
        locked = _state_locked()
        if locked.seq != state.seq or locked.rebuilt_at != state.rebuilt_at:
            return RefreshResult()  # another refresh or a rebuild got there first
        if days:
            ordered = sorted(days)
            for chunk in (ordered[i : i + _CHUNK] for i in range(0, len(ordered), _CHUNK)):
                for model in (DashboardSales, DashboardCategorySales, DashboardProductSales, DashboardBuyers):
                    model.objects.filter(day__in=chunk).delete()
            _days_write(_scope_of_days(ordered), LIVE)
            # Every set of a redone day was written anew, so its month is merged anew: at ten million
            # orders a year, a month's day sets are ~6 MB.
            months = {month_of(day) for day in ordered}
            for monthly in MONTHLY:
                monthly.months._default_manager.filter(month__in=months).delete()
            _months_write(months, LIVE)
        if changes.customers:
            DashboardCustomers.objects.all().delete()
            _customers_insert(LIVE)
        locked.seq, locked.refreshed_at = head, timezone.now()
        locked.save(update_fields=["seq", "refreshed_at"])
    return RefreshResult(days=tuple(sorted(days)), customers=changes.customers)
