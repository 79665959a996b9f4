"""Each customer's figures computed from their orders: total spent net of refunds, order count, average
order value, first and last order, average days between orders, refunded orders and refund rate, top
category, what they owe on credit; and the lifecycle stage those figures move forward.

Two ways to the same numbers, and a property test (``tests/test_metrics.py``) holding them equal:

- :func:`customer_figures_apply`, called by the order, refund and credit services in their own
  transaction with what just changed (one order more, so much refunded, …): a few indexed reads and
  one UPDATE of the customer row, however many orders the customer has;
- :func:`figures_recompute`, which rebuilds every customer's figures from the orders with set-based
  SQL (``kebu metrics recompute``), for a shop that wants to check, or after a bulk load.

Rounding is defined once, in integers, so that Python and both databases agree to the cent: averages
round half up (``(2·a + b) // (2·b)``), order times are whole seconds, money is summed as written and
rounded to the cent (SQLite keeps decimals as binary floating point; a sum of cents rounded to two
places is exact again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.bulk import values_update
from kebu.core.indexes import sqlite_indexes
from kebu.core.jobs import JobRun, job_create, job_runner
from kebu.core.models import Job, JobStatus, ShopSettings, shop_settings_changed
from kebu.customers.models import Customer, CustomerEvent, Stage
from kebu.orders.models import COUNTED_STATUSES, CustomerCategorySpend, Order, OrderLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
SECONDS_PER_DAY = 86400

# The automatic ladder. A stage the shop sets by hand keeps its place on it (a member ranks like a repeat
# buyer), and a customer only ever moves up; churned customers leave the ladder until they order again.
LADDER_RANK: dict[str, int] = {
    Stage.LEAD: 0,
    Stage.NEW: 1,
    Stage.CONVERTED: 1,
    Stage.REPEAT: 2,
    Stage.MEMBER: 2,
    Stage.VIP: 3,
}
FIGURE_FIELDS = (
    "total_spent_cny",
    "order_count",
    "avg_order_cny",
    "first_order_at",
    "last_order_at",
    "purchase_interval_days",
    "refund_count",
    "refund_rate",
    "top_category_id",
    "receivable_cny",
    "stage",
)


@dataclass(frozen=True)
class FiguresChange:
    """What one write did to a customer's figures. ``orders`` is +1 when an order starts counting (paid
    or taken on credit); an order never stops counting (a full refund closes it, with nothing spent)."""

    spent_cny: Decimal = ZERO
    orders: int = 0
    order_time: datetime | None = None
    refunded_orders: int = 0
    receivable_cny: Decimal = ZERO
    categories: Mapping[int, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class StageRules:
    auto: bool
    repeat_orders: int
    vip_spent_cny: Decimal
    churn_days: int

    @classmethod
    def current(cls) -> StageRules:
        shop = ShopSettings.read()
        return cls(
            auto=shop.stage_auto,
            repeat_orders=shop.stage_repeat_orders,
            vip_spent_cny=shop.stage_vip_spent_cny,
            churn_days=shop.stage_churn_days,
        )


def half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for non-negative integers (the SQL does the same)."""
    return (2 * numerator + denominator) // (2 * denominator)


def average_order(spent_cny: Decimal, orders: int) -> Decimal | None:
    if orders <= 0:
        return None
    return Decimal(half_up_div(int(spent_cny * 100), orders)) / 100


def purchase_interval(first: datetime | None, last: datetime | None, orders: int) -> Decimal | None:
    """Average days between orders, to a tenth of a day."""
    if orders < 2 or first is None or last is None:
        return None
    seconds = int((last - first).total_seconds())
    return Decimal(half_up_div(10 * seconds, (orders - 1) * SECONDS_PER_DAY)) / 10


def refund_rate(refunded_orders: int, orders: int) -> Decimal | None:
    if orders <= 0:
        return None
    return Decimal(half_up_div(10000 * refunded_orders, orders)) / 10000


def stage_earned(*, orders: int, spent_cny: Decimal, rules: StageRules) -> str:
    """The stage the figures alone earn."""
    if orders <= 0:
        return Stage.LEAD
    if spent_cny >= rules.vip_spent_cny:
        return Stage.VIP
    if orders >= rules.repeat_orders:
        return Stage.REPEAT
    return Stage.NEW


def stage_next(current: str, *, earned: str, ordered_again: bool) -> str:
    """Move up the ladder, never down; a churned customer returns to the ladder with a new order."""
    if current == Stage.CHURNED:
        return earned if ordered_again and earned != Stage.LEAD else current
    if LADDER_RANK[earned] > LADDER_RANK.get(current, 99):
        return earned
    return current


# What a locked customer row is read with: every figure, and what a stage-change event names.
_LOCKED_FIELDS = (
    *(f for f in FIGURE_FIELDS if f != "top_category_id"),
    "top_category",
    "customer_no",
    "name",
)


def customer_lock(*, customer_id: int) -> Customer:
    """Lock a customer's row for the rest of the transaction, before any of their orders, and return its
    figures as they stand under the lock (pass it on to :func:`customer_figures_apply`).

    Every service that moves money takes this lock first (PostgreSQL; SQLite's write lock is already
    held), so they queue per customer and never wait for each other in a circle: a refund that had
    locked its order and then wanted the customer, against a payment received that had locked the
    customer and then wanted the same order, deadlocked. ``NO KEY UPDATE`` does not conflict with the
    share lock a new order's foreign key takes on the customer."""
    return Customer.objects.select_for_update(no_key=True).only(*_LOCKED_FIELDS).get(pk=customer_id)


def customer_figures_apply(
    *, customer_id: int, change: FiguresChange, actor: Any, locked: Customer | None = None
) -> None:
    """Apply ``change`` to one customer's figures, inside the caller's transaction.

    The customer row is locked (see :func:`customer_lock`), so two orders of one customer in parallel
    add up instead of overwriting each other. ``locked`` is the row :func:`customer_lock` returned in
    this transaction, which saves reading it again; it is brought up to date with what is written."""
    customer = locked if locked is not None else customer_lock(customer_id=customer_id)
    spend = _category_spend_read([customer_id]).get(customer_id, {}) if change.categories else {}
    touched = _categories_touched(change, spend)
    values = _figures_after(customer, change, rules=StageRules.current(), spend=spend)
    if values.get("stage", customer.stage) != customer.stage:
        # A new version: someone editing the profile from before this must not save the old stage back.
        _stage_changed_event(customer=customer, before=customer.stage, after=values["stage"], actor=actor)
        values["version"] = F("version") + 1
    if touched:
        _category_spend_write({(customer_id, c): spend[c] for c in touched})
    Customer.objects.filter(pk=customer_id).update(**values)
    for name, value in values.items():
        if name != "version":
            setattr(customer, name, value)


def _figures_after(
    customer: Customer, change: FiguresChange, *, rules: StageRules, spend: dict[int, Decimal]
) -> dict[str, Any]:
    """The figures ``customer`` (as locked) has once ``change`` is applied, its top category when the
    change has categories, and its stage when the shop's rules move stages: the one definition of an
    incremental change, for one customer at a time or a batch (:class:`FiguresBatch`). ``spend`` is
    the customer's spend per top category; the change's categories are added to it here."""
    orders = customer.order_count + change.orders
    spent = customer.total_spent_cny + change.spent_cny
    first, last = customer.first_order_at, customer.last_order_at
    if change.order_time is not None and change.orders:
        first = change.order_time if first is None else min(first, change.order_time)
        last = change.order_time if last is None else max(last, change.order_time)
    refunded = customer.refund_count + change.refunded_orders
    values: dict[str, Any] = {
        "order_count": orders,
        "total_spent_cny": spent,
        "avg_order_cny": average_order(spent, orders),
        "first_order_at": first,
        "last_order_at": last,
        "purchase_interval_days": purchase_interval(first, last, orders),
        "refund_count": refunded,
        "refund_rate": refund_rate(refunded, orders),
        "receivable_cny": customer.receivable_cny + change.receivable_cny,
    }
    if change.categories:
        for category_id, delta in change.categories.items():
            spend[category_id] = spend.get(category_id, ZERO) + delta
        # The most spent, the lower id on a tie, none when nothing is left spent.
        bought = [(-amount, category_id) for category_id, amount in spend.items() if amount > 0]
        values["top_category_id"] = min(bought)[1] if bought else None
    if rules.auto:
        earned = stage_earned(orders=orders, spent_cny=spent, rules=rules)
        values["stage"] = stage_next(customer.stage, earned=earned, ordered_again=change.orders > 0)
    return values


def _categories_touched(change: FiguresChange, spend: Mapping[int, Decimal]) -> list[int]:
    """The categories whose spend row ``change`` writes: those it moves, and new ones even at nought."""
    return [c for c, delta in change.categories.items() if delta or c not in spend]


def _category_spend_read(customer_ids: Iterable[int]) -> dict[int, dict[int, Decimal]]:
    """Customer -> top category -> yuan spent. A customer has a row for each top category they bought
    from (a handful), so all are read and the top one is found in Python."""
    spend: dict[int, dict[int, Decimal]] = {}
    rows = CustomerCategorySpend.objects.filter(customer_id__in=list(customer_ids))
    for customer_id, category_id, spent in rows.values_list("customer_id", "category_id", "spent_cny"):
        spend.setdefault(customer_id, {})[category_id] = spent
    return spend


def _category_spend_write(spend: Mapping[tuple[int, int], Decimal]) -> None:
    """Store (customer, category) -> yuan: one statement for new and changed rows alike; the customers'
    locks keep what was read current."""
    CustomerCategorySpend.objects.bulk_create(
        [
            CustomerCategorySpend(customer_id=customer_id, category_id=category_id, spent_cny=spent)
            for (customer_id, category_id), spent in spend.items()
        ],
        update_conflicts=True,
        unique_fields=["customer", "category"],
        update_fields=["spent_cny"],
    )


def customers_lock(*, customer_ids: Iterable[int]) -> dict[int, Customer]:
    """:func:`customer_lock` for many customers, in one statement and in the order of their ids (two
    batches locking customers they share queue rather than deadlock), with their versions, for
    :class:`FiguresBatch`."""
    rows = Customer.objects.select_for_update(no_key=True).only(*_LOCKED_FIELDS, "version")
    return {c.pk: c for c in rows.filter(pk__in=sorted(set(customer_ids))).order_by("pk")}


class FiguresBatch:
    """Changes to many customers' figures, each applied as :func:`customer_figures_apply` applies it,
    one after another in the order given, and written together (:meth:`write`): one statement for the
    customers and one for their spend rows, however many changes. For an import's batch of orders; a
    test holds it to one :func:`customer_figures_apply` per change."""

    def __init__(self, locked: Mapping[int, Customer]) -> None:
        self._locked = locked  # from customers_lock; brought up to date as changes apply
        self._rules = StageRules.current()
        self._spend = _category_spend_read(locked)
        self._touched: set[tuple[int, int]] = set()
        self._changed: set[int] = set()

    def apply(self, customer_id: int, change: FiguresChange) -> tuple[str, str] | None:
        """Apply ``change``; return the stage before and after when the rules moved it, for the caller
        to record the timeline event in its place among its other records."""
        customer = self._locked[customer_id]
        spend = self._spend.setdefault(customer_id, {})
        self._touched.update((customer_id, c) for c in _categories_touched(change, spend))
        values = _figures_after(customer, change, rules=self._rules, spend=spend)
        before = customer.stage
        for name, value in values.items():
            setattr(customer, name, value)
        self._changed.add(customer_id)
        if customer.stage == before:
            return None
        customer.version += 1  # as customer_figures_apply does, once for each move
        return before, customer.stage

    def write(self) -> None:
        if self._touched:
            _category_spend_write({key: self._spend[key[0]][key[1]] for key in sorted(self._touched)})
        fields = (*FIGURE_FIELDS, "version")
        rows = [(pk, *[getattr(self._locked[pk], name) for name in fields]) for pk in sorted(self._changed)]
        values_update(Customer, fields, rows)


def _stage_changed_event(*, customer: Customer, before: str, after: str, actor: Any) -> None:
    from kebu.customers import events

    events.customer_stage_changed_event(customer=customer, actor=actor, before=before, after=after)


def line_category_spend(lines: Iterable[OrderLine]) -> dict[int, Decimal]:
    """Net spend per top category of ``lines``: what an order adds when it starts counting."""
    spend: dict[int, Decimal] = {}
    for line in lines:
        if line.root_category_id is not None:
            spend[line.root_category_id] = (
                spend.get(line.root_category_id, ZERO) + line.amount_cny - line.refunded_cny
            )
    return spend


# --- the full rebuild -----------------------------------------------------------------------------------


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%%s', {column}) AS INTEGER)"


def _indexed_by(index: str) -> str:
    """SQLite's planner, without statistics for it, takes ``status IN (…)`` to ``order_status`` and a
    GROUP BY customer to a walk of every order, where the partial index is the one to read (a test holds
    the plan); PostgreSQL picks it from its statistics. SQLite uses a partial index only for a WHERE
    written as the index's own (Django writes ``credit_outstanding_cny > '0'``)."""
    return f" INDEXED BY {index}" if connection.vendor == "sqlite" else ""


def _differs(left: str, right: str) -> str:
    operator = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    return f"{left} {operator} {right}"


@dataclass
class RecomputeResult:
    customers_changed: int
    top_category_changed: int


def figures_recompute(*, customer_ids: Iterable[int] | None = None, actor: Any = None) -> RecomputeResult:
    """Rebuild the figures (and the lifecycle stages they earn) of every customer, or of
    ``customer_ids``, from the orders, with a handful of set-based statements. Only rows whose figures
    differ are written, so a check on a shop that is in order writes nothing."""
    ids = None if customer_ids is None else sorted(set(customer_ids))
    with transaction.atomic(durable=ids is None):
        _category_spend_rebuild(ids)
        changed, top_changed = _figures_rebuild(ids)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {_SPEND}")
        if ids is None:
            audit_record(
                action="metrics.recompute",
                actor=actor,
                target_type="customers.customer",
                target_id="",
                target_repr="",
                data={"customers_changed": changed, "top_category_changed": top_changed},
            )
    return RecomputeResult(customers_changed=changed, top_category_changed=top_changed)


STAGES_JOB_KIND = "metrics.stages"
# The shop settings that place customers on the lifecycle ladder.
STAGE_RULES = frozenset({"stage_auto", "stage_repeat_orders", "stage_vip_spent_cny", "stage_churn_days"})


@receiver(shop_settings_changed)
def stages_reapply_start(*, changed: set[str], actor: Any, **kwargs: Any) -> str | None:
    """After the shop changed its lifecycle rules: place every customer by the new rules, in the
    background, once the change commits (one job waiting is enough: it reads the rules when it starts).
    Stages only move up, as they do with each order: a VIP stays one when the bar is raised."""
    if not changed & STAGE_RULES:
        return None
    if not Job.objects.filter(kind=STAGES_JOB_KIND, status=JobStatus.QUEUED).exists():
        job_create(kind=STAGES_JOB_KIND, actor=actor)
    return _(
        "Every customer's lifecycle stage is being placed by the new rules, in the background: the "
        "customer list shows them in a minute or so."
    )


@job_runner(STAGES_JOB_KIND)
def _stages_reapply(run: JobRun) -> None:
    customers_stages_promote(actor=run.job.created_by, beat=run.beat)
    customers_churn_mark()


def customers_stages_promote(
    *, actor: Any = None, batch_size: int = 5000, beat: Callable[[], None] | None = None
) -> int:
    """Move every customer up to the stage their figures earn by the shop's rules as they are now (after
    the rules changed), as an order would have moved them: in short transactions, each customer moved
    locked and read again (an order written meanwhile is not undone), with a new version and a
    timeline event. Reads the figures kept on each customer, which the orders keep exact; nobody moves
    when the shop moves stages by hand. Returns how many moved."""
    rules = StageRules.current()
    if not rules.auto:
        return 0
    below_top = [stage for stage, rank in LADDER_RANK.items() if rank < LADDER_RANK[Stage.VIP]]

    def earned(stage: str, orders: int, spent: Decimal) -> str:
        return stage_next(
            stage, earned=stage_earned(orders=orders, spent_cny=spent, rules=rules), ordered_again=False
        )

    moved, after_pk = 0, 0
    while True:
        rows = list(
            Customer.objects.filter(pk__gt=after_pk, stage__in=below_top, order_count__gt=0)
            .order_by("pk")
            .values_list("pk", "stage", "order_count", "total_spent_cny")[:batch_size]
        )
        if not rows:
            return moved
        after_pk = rows[-1][0]
        due = [pk for pk, stage, orders, spent in rows if earned(stage, orders, spent) != stage]
        with transaction.atomic():
            for customer in Customer.objects.select_for_update().filter(pk__in=due).order_by("pk"):
                stage = earned(customer.stage, customer.order_count, customer.total_spent_cny)
                if stage == customer.stage:
                    continue
                Customer.objects.filter(pk=customer.pk).update(
                    stage=stage, version=F("version") + 1, updated_at=timezone.now()
                )
                _stage_changed_event(customer=customer, before=customer.stage, after=stage, actor=actor)
                moved += 1
            if beat is not None:
                beat()


def _scope(column: str, ids: list[int] | None) -> tuple[str, list[Any]]:
    if ids is None:
        return "", []
    if not ids:
        return " AND 1 = 0", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


# Rebuilt spend per customer and top category, in a table of the connection's own: the rows of
# CustomerCategorySpend are then only deleted where they are wrong and inserted where missing, so a check
# on a shop in order writes none of its ~2M rows (10M orders), and PostgreSQL can compute them in
# parallel, which it does not do for an INSERT … SELECT (bench/orders.py).
_SPEND = "kebu_spend_rebuilt"


def _category_spend_rebuild(ids: list[int] | None) -> None:
    """Each customer's net spend per top category, from the lines of their counted orders: the lines carry
    their order's customer and whether it counts, so this is one pass over ``line_customer_spend`` in
    (customer, category) order, grouped as it goes, with no join and no sort (bench/orders.py)."""
    line = OrderLine._meta.db_table
    spend = CustomerCategorySpend._meta.db_table
    line_scope, line_params = _scope("l.customer_id", ids)
    spend_scope, spend_params = _scope(f"{spend}.customer_id", ids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE {_SPEND} AS "
            f"SELECT l.customer_id, l.root_category_id AS category_id, "
            f"ROUND(SUM(l.amount_cny - l.refunded_cny), 2) AS spent_cny "
            f"FROM {line} l WHERE l.counted = %s AND l.root_category_id IS NOT NULL{line_scope} "
            f"GROUP BY l.customer_id, l.root_category_id",
            [True, *line_params],
        )
        # In each customer's order of spend: the top category is the first entry (_figures_rebuild), and
        # the three columns compared below are all in it.
        cursor.execute(f"CREATE INDEX {_SPEND}_top ON {_SPEND} (customer_id, spent_cny DESC, category_id)")
        cursor.execute(
            f"DELETE FROM {spend} WHERE NOT EXISTS (SELECT 1 FROM {_SPEND} n "
            f"WHERE n.customer_id = {spend}.customer_id AND n.category_id = {spend}.category_id "
            f"AND n.spent_cny = {spend}.spent_cny){spend_scope}",
            spend_params,
        )
        # The rows left are right: add the rest, letting the unique key skip those already there. An
        # anti-join here went quadratic on PostgreSQL after a bulk load (planned against the table's
        # statistics of 0 rows: a nested loop over the heap the statement itself fills).
        cursor.execute(
            f"INSERT INTO {spend} (customer_id, category_id, spent_cny) "
            f"SELECT n.customer_id, n.category_id, n.spent_cny FROM {_SPEND} n WHERE true "
            f"ON CONFLICT (customer_id, category_id) DO NOTHING"
        )


# The customers whose figures, stage or top category change, with their new values: computed into a
# table of the connection's own first, then written with one UPDATE. Each changed customer row is
# written once, where a statement per kind of figure wrote it twice; on PostgreSQL every write of a row
# adds an entry to each of the customer table's ~40 indexes, which is most of a rebuild from scratch
# (bench/orders.py). The separate table also lets PostgreSQL aggregate the orders in parallel, which
# it does not do inside an UPDATE.
_CHANGES = "kebu_figures_changes"


# Where a rebuild rewrites most customers (a rebuild from scratch, after a bulk load or a change to how
# a figure is computed), SQLite builds the figures' sort indexes again faster than it moves ~20 entries a
# customer in them: each of the ~10 indexes is dropped inside the rebuild's transaction and made again from
# its own CREATE statement before it commits (bench/orders.py).
BULK_INDEX_SHARE = 0.4
BULK_INDEX_MIN_ROWS = 50_000
_FIGURE_COLUMNS = frozenset(FIGURE_FIELDS) - {"stage"}


@contextmanager
def _figure_indexes_set_aside(cursor: Any, rows: int) -> Iterator[None]:
    table = Customer._meta.db_table
    if connection.vendor != "sqlite" or rows < BULK_INDEX_MIN_ROWS:
        yield
        return
    cursor.execute(f"SELECT COUNT(*) FROM {table}")
    if rows < BULK_INDEX_SHARE * cursor.fetchone()[0]:
        yield
        return
    aside = [index for index in sqlite_indexes(cursor, table) if _FIGURE_COLUMNS.intersection(index.columns)]
    for index in aside:
        cursor.execute(f'DROP INDEX "{index.name}"')
    yield
    for index in aside:
        cursor.execute(index.sql)


def _figures_rebuild(ids: list[int] | None) -> tuple[int, int]:
    """Write the new figures, stages and top categories; return how many customers changed in their
    figures or stage, and how many in their top category."""
    c, o = Customer._meta.db_table, Order._meta.db_table
    counted = ", ".join(f"'{s}'" for s in COUNTED_STATUSES)
    rules = StageRules.current()
    order_scope, order_params = _scope("o.customer_id", ids)
    customer_scope, customer_params = _scope(f"{c}.id", ids)
    ladder = ", ".join(f"'{s}'" for s in LADDER_RANK)

    def rank(column: str) -> str:
        cases = " ".join(f"WHEN '{stage}' THEN {r}" for stage, r in LADDER_RANK.items())
        return f"(CASE {column} {cases} ELSE 99 END)"

    earned = (
        "(CASE WHEN f.n <= 0 THEN 'lead' WHEN f.spent >= CAST(%s AS NUMERIC) THEN 'vip' "
        "WHEN f.n >= %s THEN 'repeat' ELSE 'new' END)"
    )
    stage = (
        f"(CASE WHEN %s = 1 AND c.stage IN ({ladder}) AND {rank(earned)} > {rank('c.stage')} "
        f"THEN {earned} ELSE c.stage END)"
    )
    thresholds: list[Any] = [rules.vip_spent_cny, rules.repeat_orders]
    stage_params: list[Any] = [int(rules.auto), *thresholds, *thresholds]
    figures = f"""
        SELECT a.customer_id, a.n, a.spent, a.first_at, a.last_at, a.refunded, COALESCE(w.owed, 0) AS owed,
          (SELECT n.category_id FROM {_SPEND} n WHERE n.customer_id = a.customer_id AND n.spent_cny > 0
           ORDER BY n.spent_cny DESC, n.category_id LIMIT 1) AS top,
          CASE WHEN a.n > 0 THEN ((2 * CAST(ROUND(a.spent * 100) AS BIGINT) + a.n) / (2 * a.n)) / 100.0
          END AS avg_cny,
          CASE WHEN a.n > 1 THEN ((20 * ({_epoch("a.last_at")} - {_epoch("a.first_at")}) + (a.n - 1) * 86400)
            / (2 * (a.n - 1) * 86400)) / 10.0 END AS interval_days,
          CASE WHEN a.n > 0 THEN ((20000 * a.refunded + a.n) / (2 * a.n)) / 10000.0 END AS rate
        FROM (
          SELECT o.customer_id, COUNT(*) AS n, ROUND(SUM(o.paid_cny - o.refunded_cny), 2) AS spent,
            MIN(o.ordered_at) AS first_at, MAX(o.ordered_at) AS last_at,
            SUM(CASE WHEN o.refunded_cny > 0 THEN 1 ELSE 0 END) AS refunded
          FROM {o} o{_indexed_by("order_figures")} WHERE o.status IN ({counted}){order_scope}
          GROUP BY o.customer_id
        ) a
        LEFT JOIN (
          SELECT o.customer_id, ROUND(SUM(o.credit_outstanding_cny), 2) AS owed
          FROM {o} o{_indexed_by("order_credit_open")} WHERE o.credit_outstanding_cny > '0'{order_scope}
          GROUP BY o.customer_id
        ) w ON w.customer_id = a.customer_id
    """
    pairs = [
        ("order_count", "n"),
        ("total_spent_cny", "spent"),
        ("avg_order_cny", "avg_cny"),
        ("first_order_at", "first_at"),
        ("last_order_at", "last_at"),
        ("purchase_interval_days", "interval_days"),
        ("refund_count", "refunded"),
        ("refund_rate", "rate"),
        ("receivable_cny", "owed"),
    ]
    # Every figure a customer without a paid order must have at nought.
    nonzero = (
        "order_count <> 0 OR total_spent_cny <> 0 OR receivable_cny <> 0 OR refund_count <> 0 "
        "OR first_order_at IS NOT NULL OR last_order_at IS NOT NULL OR avg_order_cny IS NOT NULL "
        "OR purchase_interval_days IS NOT NULL OR refund_rate IS NOT NULL"
    )
    figures_differ = " OR ".join(_differs(f"c.{column}", f"f.{value}") for column, value in pairs)
    figures_differ += f" OR c.stage <> {stage}"
    top_differs = _differs("c.top_category_id", "f.top")
    values = ", ".join(f"f.{value}" for _column, value in pairs)
    with connection.cursor() as cursor:
        # Customers without a paid order whose figures or top category still say otherwise (their orders
        # were deleted), rarely any: what is owed is on paid orders only. Looked for before the figures
        # are written: none of them is among the customers written, and where every figure was reset,
        # no customer is probed for orders.
        cursor.execute(
            f"SELECT id, CASE WHEN {nonzero} THEN 1 ELSE 0 END, CASE WHEN top_category_id IS NULL "
            f"THEN 0 ELSE 1 END FROM {c} WHERE ({nonzero} OR top_category_id IS NOT NULL) "
            f"AND NOT EXISTS (SELECT 1 FROM {o} o WHERE o.customer_id = {c}.id "
            f"AND o.status IN ({counted})){customer_scope}",
            customer_params,
        )
        emptied = cursor.fetchall()
        cursor.execute(
            f"CREATE TEMP TABLE {_CHANGES} AS "
            f"SELECT f.customer_id, {values}, f.top, {stage} AS stage, "
            f"  CASE WHEN {figures_differ} THEN 1 ELSE 0 END AS figures_changed, "
            f"  CASE WHEN {top_differs} THEN 1 ELSE 0 END AS top_changed "
            f"FROM ({figures}) f JOIN {c} c ON c.id = f.customer_id "
            f"WHERE {figures_differ} OR {top_differs}",
            [*stage_params, *stage_params, *order_params, *order_params, *stage_params],
        )
        cursor.execute(
            f"SELECT COUNT(*), COALESCE(SUM(figures_changed), 0), COALESCE(SUM(top_changed), 0) "
            f"FROM {_CHANGES}"
        )
        rows, changed, top_changed = cursor.fetchone()
        if rows:
            sets = ", ".join(f"{column} = f.{value}" for column, value in pairs)
            with _figure_indexes_set_aside(cursor, rows):
                cursor.execute(
                    f"UPDATE {c} SET {sets}, stage = f.stage, top_category_id = f.top "
                    f"FROM {_CHANGES} f WHERE {c}.id = f.customer_id"
                )
        cursor.execute(f"DROP TABLE {_CHANGES}")
        for start in range(0, len(emptied), 500):
            chunk = [row[0] for row in emptied[start : start + 500]]
            cursor.execute(
                f"UPDATE {c} SET order_count = 0, total_spent_cny = 0, avg_order_cny = NULL, "
                f"first_order_at = NULL, last_order_at = NULL, purchase_interval_days = NULL, "
                f"refund_count = 0, refund_rate = NULL, receivable_cny = 0, top_category_id = NULL "
                f"WHERE id IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
        return changed + sum(row[1] for row in emptied), top_changed + sum(row[2] for row in emptied)


# --- churn ----------------------------------------------------------------------------------------------


def customers_churn_mark(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Mark customers churned whose last order is older than the shop's churn days (a daily task), in
    short transactions. Only customers on the ladder who have bought are marked; nobody when the shop
    moves stages by hand."""
    rules = StageRules.current()
    if not rules.auto:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=rules.churn_days)
    bought = [s for s, rank in LADDER_RANK.items() if rank > 0]
    marked = 0
    while True:
        with transaction.atomic():
            stages = dict(
                Customer.objects.filter(stage__in=bought, last_order_at__lt=cutoff)
                .order_by("pk")
                .values_list("pk", "stage")[:batch_size]
            )
            if not stages:
                return marked
            Customer.objects.filter(pk__in=list(stages)).update(stage=Stage.CHURNED, version=F("version") + 1)
            CustomerEvent.objects.bulk_create(
                CustomerEvent(
                    customer_id=pk,
                    kind="customer.stage_changed",
                    data={"from": before, "to": Stage.CHURNED, "auto": True},
                )
                for pk, before in stages.items()
            )
            audit_record(
                action="customer.churn",
                actor=None,
                target_type="customers.customer",
                target_id="",
                target_repr="",
                data={"customers": len(stages), "days": rules.churn_days},
            )
            marked += len(stages)
