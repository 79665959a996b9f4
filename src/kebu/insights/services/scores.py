"""Scoring every customer: RFM cell and segment, value tier, CLV and P(active), churn risk, credit risk;
and follow-ups for the valuable customers at risk.

:func:`scores_compute` reads the figures the order services keep on each customer (one pass, into numpy
arrays), scores everyone at once, and replaces the whole ``CustomerScore`` table in one transaction, so a
page never shows half of one run and half of another. It scores the active customers with at least one
counted order; an archived customer, or one whose orders are gone, has no row after the next run.

- R, F, M: days since the last order, number of orders, net spend (``Customer.total_spent_cny``), each
  scored 1–5 into bands cut at four points: the shop's 20/40/60/80th percentiles ("quintiles": each cut
  is the smallest value with at least that share of customers at or below it), or the shop's fixed cut
  points. A value on a cut point belongs to the band below it; for R, fewer days is the better score, so
  a last order exactly 30 days ago with a cut at 30 is in the newest band. Ties never split: many
  one-order customers all get the same F.
- The eight segments compare each score with ``high_from_score`` (3 by default: the middle band counts
  as high, which is what "above the middle" means with five bands).
- Value tiers: high when the spend or the orders reach the high thresholds (or both, as the shop sets),
  else middle by the middle thresholds, else low.
- CLV: BG/NBD and Gamma-Gamma (``kebu.insights.clv``), in days: frequency = orders − 1, recency = last −
  first order, age = now − first order, monetary = average order value. When the shop's data cannot
  support a fit, the scores are still written with CLV empty, and the run's result says why.
- Churn risk: the worse of two signals: days since the last order ÷ the customer's own average interval
  (for one-order customers, who have none, the shop's median interval between orders), and, for
  customers who came back at least once, the model's P(active). BG/NBD gives a one-order customer
  P(active) = 1 by construction (they never had a chance to drop out after a repeat purchase), so it is
  not read as a signal for them.
- Credit risk (customers with a credit line): see :func:`_credit_risk`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from kebu.audit.services import audit_record
from kebu.core.errors import Forbidden, ValidationFailed
from kebu.core.services import settings_fields_set
from kebu.customers.models import Customer
from kebu.engagement.models import FollowUp, FollowUpStatus
from kebu.engagement.services.followups import ADD_FOLLOWUP, followup_create, user_sees_customer
from kebu.engagement.titles import reminder_title
from kebu.insights import clv
from kebu.insights.errors import TooFewData
from kebu.insights.messages import message_stored, too_few
from kebu.insights.models import InsightRun
from kebu.insights.models.scores import (
    IMPORTANT_SEGMENTS,
    ChurnRisk,
    CustomerScore,
    RfmMethod,
    ScoreSettings,
    Segment,
    TierMatch,
    ValueTier,
)
from kebu.insights.selectors.scores import at_risk_scores, score_churn_note
from kebu.orders.models import COUNTED_STATUSES, CreditPayment, Order

SECONDS_PER_DAY = 86400
HORIZONS = (90, 365)
READ_CHUNK = 50_000
WRITE_BATCH = 5_000
QUANTILES = (20, 40, 60, 80)

# Segment by (M high, R high, F high) read as bits m·4 + r·2 + f.
SEGMENT_BY_BITS = (
    Segment.GENERAL_WINBACK,  # 0: R low, F low, M low
    Segment.GENERAL_KEEP,  # 1: F high
    Segment.GENERAL_DEVELOP,  # 2: R high
    Segment.GENERAL_VALUE,  # 3: R high, F high
    Segment.IMPORTANT_WINBACK,  # 4: M high
    Segment.IMPORTANT_KEEP,  # 5: M high, F high
    Segment.IMPORTANT_DEVELOP,  # 6: M high, R high
    Segment.IMPORTANT_VALUE,  # 7: all high
)

SCORE_COLUMNS = (
    "customer_id",
    "recency_days",
    "orders",
    "spent_cny",
    "r_score",
    "f_score",
    "m_score",
    "r_beats_pct",
    "f_beats_pct",
    "m_beats_pct",
    "segment",
    "tier",
    "p_alive",
    "expected_orders_90",
    "expected_orders_365",
    "clv_90_cny",
    "clv_365_cny",
    "churn_ratio",
    "churn_risk",
    "credit_score",
    "credit_reasons",
    "computed_at",
)


@dataclass
class Figures:
    """The customers' figures as arrays, one element per scored customer, in id order."""

    ids: np.ndarray
    orders: np.ndarray
    spent_cents: np.ndarray
    first_s: np.ndarray
    last_s: np.ndarray
    interval_days: np.ndarray  # nan: fewer than two orders
    credit_limit: np.ndarray  # nan: no credit line
    receivable: np.ndarray

    @property
    def size(self) -> int:
        return int(self.ids.size)


@dataclass
class Clv:
    """What the models gave, or why nothing; arrays are nan where there is no figure."""

    p_alive: np.ndarray
    expected: dict[int, np.ndarray]
    value: dict[int, np.ndarray]
    summary: dict[str, Any] = field(default_factory=dict)


# --- reading --------------------------------------------------------------------------------------------


def _epoch(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%%s', {column}) AS INTEGER)"


def _figures_read() -> Figures:
    """One pass over the customer table: the active customers with a counted order. Money comes as whole
    fen and times as epoch seconds, so a million rows become arrays without a Decimal or datetime each;
    on PostgreSQL the rows stream through a server-side cursor."""
    c = Customer._meta.db_table
    # Built from the table's name and constants only; nothing from outside goes into it.
    sql = (
        f"SELECT id, order_count, CAST(ROUND(total_spent_cny * 100) AS BIGINT), {_epoch('first_order_at')}, "  # noqa: S608
        f"{_epoch('last_order_at')}, CAST(purchase_interval_days AS DOUBLE PRECISION), "
        f"CAST(credit_limit_cny AS DOUBLE PRECISION), CAST(receivable_cny AS DOUBLE PRECISION) "
        f"FROM {c} WHERE archived_at IS NULL AND order_count > 0 "
        f"AND first_order_at IS NOT NULL AND last_order_at IS NOT NULL ORDER BY id"
    )
    parts: list[list[np.ndarray]] = [[] for _i in range(8)]
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [])  # with parameters, so that "%%" reads as "%" on both databases
        while rows := cursor.fetchmany(READ_CHUNK):
            columns = list(zip(*rows, strict=True))
            for index in range(5):
                parts[index].append(np.array(columns[index], dtype=np.int64))
            for index in range(5, 8):
                parts[index].append(np.array(columns[index], dtype=np.float64))  # None → nan

    def joined(index: int, dtype: Any) -> np.ndarray:
        return np.concatenate(parts[index]) if parts[index] else np.empty(0, dtype=dtype)

    return Figures(
        ids=joined(0, np.int64),
        orders=joined(1, np.int64),
        spent_cents=joined(2, np.int64),
        first_s=joined(3, np.int64),
        last_s=joined(4, np.int64),
        interval_days=joined(5, np.float64),
        credit_limit=joined(6, np.float64),
        receivable=np.nan_to_num(joined(7, np.float64)),
    )


# --- RFM ------------------------------------------------------------------------------------------------


def quintile_cuts(values: np.ndarray) -> list[float]:
    """The 20/40/60/80th percentiles as values that occur: the smallest value with at least that share of
    customers at or below it (numpy's "inverted_cdf")."""
    return [float(v) for v in np.percentile(values, QUANTILES, method="inverted_cdf")]


def band(values: np.ndarray, cuts: list[float]) -> np.ndarray:
    """0–4: how many cut points each value is above (a value on a cut point stays below it)."""
    return np.searchsorted(np.asarray(cuts, dtype=np.float64), values, side="left")


def beats_pct(values: np.ndarray, *, higher_is_better: bool) -> np.ndarray:
    """The whole percent (rounded down) of all customers each one is strictly better than."""
    ordered = np.sort(values)
    n = values.size
    if higher_is_better:
        beaten = np.searchsorted(ordered, values, side="left")
    else:
        beaten = n - np.searchsorted(ordered, values, side="right")
    return (beaten * 100) // max(n, 1)


def _tiers(fig: Figures, params: dict[str, Any]) -> np.ndarray:
    def reached(spent_cny: float, orders: int) -> np.ndarray:
        by_spend = fig.spent_cents >= round(spent_cny * 100)
        by_orders = fig.orders >= orders
        return (by_spend & by_orders) if params["tier_match"] == TierMatch.ALL else (by_spend | by_orders)

    high = reached(params["tier_high_spent_cny"], params["tier_high_orders"])
    middle = reached(params["tier_middle_spent_cny"], params["tier_middle_orders"])
    return np.where(high, ValueTier.HIGH, np.where(middle, ValueTier.MIDDLE, ValueTier.LOW)).astype(object)


# --- CLV and churn --------------------------------------------------------------------------------------


def _reason(exc: TooFewData) -> dict[str, Any]:
    """Why there is no lifetime value: in the shop's language, and its parts for each reader's."""
    return {"reason": message_stored(exc.parts) or str(exc.message), "reason_parts": exc.parts}


def _clv(fig: Figures, *, now_s: int) -> Clv:
    n = fig.size
    nothing = np.full(n, np.nan)
    out = Clv(p_alive=nothing, expected={h: nothing for h in HORIZONS}, value={h: nothing for h in HORIZONS})
    frequency = (fig.orders - 1).astype(np.float64)
    recency = np.where(frequency > 0, (fig.last_s - fig.first_s) / SECONDS_PER_DAY, 0.0).clip(min=0.0)
    # An order dated ahead of the clock (a marketplace's time zone slip) must not make age < recency.
    age = np.maximum((now_s - fig.first_s) / SECONDS_PER_DAY, recency)
    monetary = fig.spent_cents / 100.0 / fig.orders
    try:
        bg = clv.bgnbd_fit(frequency=frequency, recency=recency, age=age)
    except TooFewData as exc:
        out.summary = {"bgnbd": None, "gamma_gamma": None, **_reason(exc)}
        return out
    out.p_alive = clv.bgnbd_p_alive(bg, frequency=frequency, recency=recency, age=age)
    out.expected = {
        h: clv.bgnbd_expected_purchases(bg, horizon=h, frequency=frequency, recency=recency, age=age)
        for h in HORIZONS
    }
    bg_params = {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood}
    out.summary = {
        "bgnbd": {**bg_params, "customers": bg.customers},
        "gamma_gamma": None,
        "reason": "",
        "reason_parts": {},
    }
    try:
        gg = clv.gamma_gamma_fit(frequency=frequency, monetary=monetary)
    except TooFewData as exc:
        out.summary.update(_reason(exc))
        return out
    spend = clv.gamma_gamma_expected_spend(gg, frequency=frequency, monetary=monetary)
    out.value = {h: out.expected[h] * spend for h in HORIZONS}
    out.summary["gamma_gamma"] = {
        "p": gg.p,
        "q": gg.q,
        "v": gg.v,
        "log_likelihood": gg.log_likelihood,
        "customers": gg.customers,
        "mean_spend_cny": round(gg.p * gg.v / (gg.q - 1.0), 2),
    }
    return out


def _churn(
    fig: Figures, *, now_s: int, p_alive: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, np.ndarray, float | None]:
    """Each customer's interval ratio and churn level ("" when neither signal exists), and the shop's
    median interval used for one-order customers."""
    own = np.where(fig.interval_days > 0, fig.interval_days, np.nan)
    median = float(np.nanmedian(own)) if np.any(np.isfinite(own)) else None
    usual = np.where(np.isfinite(own), own, np.nan if median is None else median)
    since = (now_s - fig.last_s) / SECONDS_PER_DAY
    ratio = clv.interval_churn_ratio(days_since_last=since, interval_days=usual)
    by_ratio = np.select(
        [ratio >= params["churn_ratio_high"], ratio >= params["churn_ratio_medium"], np.isfinite(ratio)],
        [3, 2, 1],
        0,
    )
    repeat = (fig.orders > 1) & np.isfinite(p_alive)
    by_model = np.select(
        [
            repeat & (p_alive < params["churn_p_alive_high"]),
            repeat & (p_alive < params["churn_p_alive_medium"]),
            repeat,
        ],
        [3, 2, 1],
        0,
    )
    level = np.maximum(by_ratio, by_model)
    names = np.array(["", ChurnRisk.LOW, ChurnRisk.MEDIUM, ChurnRisk.HIGH], dtype=object)
    return ratio, names[level], median


# --- credit risk ----------------------------------------------------------------------------------------


@dataclass
class _Debt:
    due: date
    taken_at: datetime
    # What payments had to settle: taken on credit − refunded − still owed. Not what the order counts as
    # paid: what of it was paid at the counter (部分付款) never waits for a payment.
    target_cny: float
    outstanding_cny: float
    allocated_cny: float = 0.0
    settled_on: date | None = None


def _credit_risk(
    *,
    debts: list[_Debt],
    payments: list[tuple[datetime, float]],
    limit_cny: float,
    owed_cny: float,
    today: date,
) -> tuple[int, list[dict[str, Any]]]:
    """A credit customer's risk, 0 (none) to 100, with its reasons, from their history on credit.

    Payments settle the oldest debts first (by due date, as ``credit_payment_record`` does), so replaying
    them in the order received tells when each order on credit was paid off, hence whether it was late.
    Points, added and capped at 100:

    - owing past a due date now: 25, plus up to 20 for the days the oldest is overdue (20 at 60 days),
      plus up to 15 for the overdue amount as a share of the credit limit;
    - paid late before: up to 20 for the share of settled orders paid after their due date, plus up to 10
      for the average days late (10 at 30 days);
    - owing more than the limit: 10 (at 80% of it or more: 5)."""
    start = 0
    for received_at, amount in payments:
        left = amount
        index = start
        while left > 0.005 and index < len(debts):
            debt = debts[index]
            room = debt.target_cny - debt.allocated_cny
            if room > 0.005 and debt.taken_at <= received_at:
                taken = min(room, left)
                debt.allocated_cny += taken
                left -= taken
                if debt.target_cny - debt.allocated_cny <= 0.005 and debt.outstanding_cny <= 0.005:
                    debt.settled_on = timezone.localdate(received_at)
            index += 1
        while start < len(debts) and debts[start].target_cny - debts[start].allocated_cny <= 0.005:
            start += 1
    score = 0.0
    reasons: list[dict[str, Any]] = []
    overdue = [d for d in debts if d.outstanding_cny > 0.005 and d.due < today]
    if overdue:
        days = max((today - d.due).days for d in overdue)
        amount = sum(d.outstanding_cny for d in overdue)
        score += 25 + min(20.0, days / 3) + 15 * min(1.0, amount / limit_cny)
        reasons.append(
            {"code": "overdue", "amount_cny": f"{amount:.2f}", "orders": len(overdue), "days": days}
        )
    settled = [d for d in debts if d.settled_on is not None]
    late = [(d.settled_on - d.due).days for d in settled if d.settled_on is not None and d.settled_on > d.due]
    if late:
        average = sum(late) / len(late)
        score += 20 * len(late) / len(settled) + min(10.0, average / 3)
        reasons.append(
            {"code": "paid_late", "late": len(late), "settled": len(settled), "days": round(average)}
        )
    elif settled:
        reasons.append({"code": "paid_on_time", "settled": len(settled)})
    if owed_cny > limit_cny:
        score += 10
        reasons.append({"code": "over_limit", "owed_cny": f"{owed_cny:.2f}", "limit_cny": f"{limit_cny:.2f}"})
    elif owed_cny >= 0.8 * limit_cny and owed_cny > 0:
        score += 5
        reasons.append({"code": "near_limit", "owed_cny": f"{owed_cny:.2f}", "limit_cny": f"{limit_cny:.2f}"})
    if not debts:
        reasons.append({"code": "no_credit_orders"})
    return min(100, round(score)), reasons


def _credit_scores(fig: Figures, *, today: date) -> dict[int, tuple[int, list[dict[str, Any]]]]:
    """Credit risk of every scored customer with a credit line: their orders on credit and payments are
    read in two queries, in customer order, and replayed one customer after the other."""
    credit = np.isfinite(fig.credit_limit) & (fig.credit_limit > 0)
    if not credit.any():
        return {}
    limits = dict(zip(fig.ids[credit].tolist(), fig.credit_limit[credit].tolist(), strict=True))
    owed = dict(zip(fig.ids[credit].tolist(), fig.receivable[credit].tolist(), strict=True))
    # Through the customers' credit line (their own filter), not the id list: a subquery any size.
    holders = Customer.objects.filter(credit_limit_cny__gt=0, archived_at__isnull=True).values("pk")
    orders = (
        Order.objects.filter(customer__in=holders, credit_due_date__isnull=False, status__in=COUNTED_STATUSES)
        .order_by("customer_id", "credit_due_date", "id")
        .values_list(
            "customer_id",
            "credit_due_date",
            "paid_at",
            "credit_taken_cny",
            "refunded_cny",
            "credit_outstanding_cny",
        )
        .iterator(chunk_size=READ_CHUNK)
    )
    debts: dict[int, list[_Debt]] = {}
    for customer_id, rows in groupby(orders, key=lambda row: row[0]):
        debts[customer_id] = [
            _Debt(
                due=due,
                taken_at=paid_at,
                target_cny=max(0.0, float(taken) - float(refunded) - float(outstanding)),
                outstanding_cny=float(outstanding),
            )
            for _c, due, paid_at, taken, refunded, outstanding in rows
            # both are set on every counted order on credit (order_counted_is_paid); typed as optional
            if due is not None and paid_at is not None
        ]
    payments = (
        CreditPayment.objects.filter(customer__in=holders)
        .order_by("customer_id", "received_at", "id")
        .values_list("customer_id", "received_at", "amount_cny")
        .iterator(chunk_size=READ_CHUNK)
    )
    paid: dict[int, list[tuple[datetime, float]]] = {
        customer_id: [(at, float(amount)) for _c, at, amount in rows]
        for customer_id, rows in groupby(payments, key=lambda row: row[0])
    }
    return {
        customer_id: _credit_risk(
            debts=debts.get(customer_id, []),
            payments=paid.get(customer_id, []),
            limit_cny=limit,
            owed_cny=owed[customer_id],
            today=today,
        )
        for customer_id, limit in limits.items()
    }


# --- writing --------------------------------------------------------------------------------------------


def _nullable(values: np.ndarray, *, digits: int | None = None) -> list[Any]:
    """A float array as a list, with None for nan, rounded to ``digits`` if given."""
    rounded = np.round(values, digits) if digits is not None else values
    out: list[Any] = rounded.tolist()
    for index in np.flatnonzero(~np.isfinite(values)).tolist():
        out[index] = None
    return out


def _rows_write(rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert the rows into an emptied table: COPY on PostgreSQL, executemany of plain tuples on SQLite
    (a model instance per row would cost more than the whole computation at a million rows)."""
    table = CustomerScore._meta.db_table
    columns = ", ".join(SCORE_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(SCORE_COLUMNS))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608 (names, placeholders)
        batch: list[tuple[Any, ...]] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= WRITE_BATCH:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)


def _table_clear() -> None:
    with connection.cursor() as cursor:
        # DELETE, not TRUNCATE: on PostgreSQL readers keep seeing the previous scores until the commit,
        # where TRUNCATE would make every page wait for the whole run.
        cursor.execute(f"DELETE FROM {CustomerScore._meta.db_table}")  # noqa: S608 (the table's name)


# --- the run --------------------------------------------------------------------------------------------


def scores_compute(*, run: InsightRun) -> dict[str, Any]:
    """Score every active customer with a counted order and replace the scores table with the result, in
    one transaction. Stores the settings used in ``run.params``; returns the run's summary: counts per
    segment, tier and churn level, the cut points used, the CLV models' parameters or why there are none.
    Raises TooFewData (after emptying the table) when no customer has ordered yet."""
    settings_row = ScoreSettings.read()
    params = settings_row.as_params()
    run.params = params
    now = timezone.now()
    now_s = int(now.timestamp())
    fig = _figures_read()
    if fig.size == 0:
        with transaction.atomic(durable=True):
            _table_clear()
        raise too_few("scores.no_orders")

    recency_days = ((now_s - fig.last_s) // SECONDS_PER_DAY).clip(min=0)
    spent = fig.spent_cents
    if params["rfm_method"] == RfmMethod.QUINTILES:
        cuts = {
            "r": quintile_cuts(recency_days),
            "f": quintile_cuts(fig.orders),
            "m": quintile_cuts(spent / 100),
        }
    else:
        cuts = {"r": params["r_cuts_days"], "f": params["f_cuts_orders"], "m": params["m_cuts_cny"]}
    r_score = 5 - band(recency_days, cuts["r"])
    f_score = 1 + band(fig.orders, cuts["f"])
    # Cut points in yuan compared in fen: a spend of ¥200.00 is on the cut ¥200, never a float hair above.
    m_score = 1 + band(spent, [round(c * 100) for c in cuts["m"]])
    high = params["high_from_score"]
    bits = 4 * (m_score >= high) + 2 * (r_score >= high) + (f_score >= high)
    segments = np.array([s.value for s in SEGMENT_BY_BITS], dtype=object)[bits]
    tiers = _tiers(fig, params)
    model = _clv(fig, now_s=now_s)
    ratio, churn, median_interval = _churn(fig, now_s=now_s, p_alive=model.p_alive, params=params)
    credit = _credit_scores(fig, today=timezone.localdate(now))

    ids = fig.ids.tolist()
    credit_score = [credit[i][0] if i in credit else None for i in ids]
    credit_reasons = [json.dumps(credit[i][1]) if i in credit else None for i in ids]
    stamp = connection.ops.adapt_datetimefield_value(now)
    rows = zip(
        ids,
        recency_days.tolist(),
        fig.orders.tolist(),
        (spent / 100).tolist(),
        r_score.tolist(),
        f_score.tolist(),
        m_score.tolist(),
        beats_pct(recency_days, higher_is_better=False).tolist(),
        beats_pct(fig.orders, higher_is_better=True).tolist(),
        beats_pct(spent, higher_is_better=True).tolist(),
        segments.tolist(),
        tiers.tolist(),
        _nullable(model.p_alive, digits=4),
        _nullable(model.expected[90], digits=4),
        _nullable(model.expected[365], digits=4),
        _nullable(model.value[90], digits=2),
        _nullable(model.value[365], digits=2),
        _nullable(ratio, digits=3),
        churn.tolist(),
        credit_score,
        credit_reasons,
        [stamp] * fig.size,
        strict=True,
    )
    with transaction.atomic(durable=True):
        _table_clear()
        _rows_write(rows)
    return _summary(
        fig,
        cuts=cuts,
        params=params,
        segments=segments,
        tiers=tiers,
        churn=churn,
        model=model,
        median_interval=median_interval,
        credit=credit,
        clv_365=model.value[365],
    )


def _summary(
    fig: Figures,
    *,
    cuts: dict[str, list[float]],
    params: dict[str, Any],
    segments: np.ndarray,
    tiers: np.ndarray,
    churn: np.ndarray,
    model: Clv,
    median_interval: float | None,
    credit: dict[int, tuple[int, list[dict[str, Any]]]],
    clv_365: np.ndarray,
) -> dict[str, Any]:
    def counts(values: np.ndarray, keys: Iterable[str]) -> dict[str, int]:
        found = dict(zip(*np.unique(values.astype(str), return_counts=True), strict=True))
        return {key: int(found.get(key, 0)) for key in keys}

    spent_by_segment = {
        s.value: round(float(fig.spent_cents[segments == s.value].sum()) / 100, 2) for s in Segment
    }
    value_total = float(np.nansum(clv_365)) if np.isfinite(clv_365).any() else None
    # the rule of selectors.scores.is_at_risk, over the arrays
    valuable = (tiers == ValueTier.HIGH) | np.isin(segments, [s.value for s in IMPORTANT_SEGMENTS])
    at_risk = int(np.count_nonzero(valuable & (churn == ChurnRisk.HIGH)))
    return {
        "customers": fig.size,
        "thresholds": {
            "method": str(params["rfm_method"]),
            **cuts,
            "high_from_score": params["high_from_score"],
        },
        "segments": counts(segments, [s.value for s in Segment]),
        "segment_spent_cny": spent_by_segment,
        "tiers": counts(tiers, [t.value for t in ValueTier]),
        "churn": counts(churn, ["", *(c.value for c in ChurnRisk)]),
        "at_risk": at_risk,
        "median_interval_days": None if median_interval is None else round(median_interval, 1),
        "clv": {**model.summary, "total_365_cny": None if value_total is None else round(value_total, 2)},
        "credit": {"customers": len(credit), "at_risk": sum(1 for s, _r in credit.values() if s >= 50)},
    }


# --- follow-ups for the valuable customers at risk ------------------------------------------------------


FOLLOWUP_KEY_PREFIX = "at_risk"
MAX_FOLLOWUPS_AT_ONCE = 200


@dataclass
class FollowUpsMade:
    created: list[Any] = field(default_factory=list)
    already_open: int = 0
    not_allowed: int = 0


# What an at-risk follow-up's title is made of: one sentence, written in the reader's language when shown.
AT_RISK_TITLE = {"kind": "at_risk"}


def _followup_key(customer_id: int, day: date) -> str:
    return f"{FOLLOWUP_KEY_PREFIX}:{customer_id}:{day.isoformat()}"


@transaction.atomic
def at_risk_followups_create(*, actor: Any, customer_ids: Iterable[Any]) -> FollowUpsMade:
    """A follow-up due today for each of ``customer_ids`` that is on the actor's "high value, at risk"
    list, through the engagement service (its permission and visibility rules), assigned to the
    customer's owner when they are active, else to the actor.

    Never a second one: a customer who already has an open at-risk follow-up is skipped, and each one
    carries the key ``at_risk:<customer>:<day>``, unique, so two clicks at once make one. Ids the actor
    may not see, or that are not on the list, are counted as not allowed and get nothing."""
    if not (getattr(actor, "is_authenticated", False) and actor.is_active and actor.has_perm(ADD_FOLLOWUP)):
        raise Forbidden(_("You may not add follow-ups."))
    wanted: list[int] = []
    for value in customer_ids:
        try:
            wanted.append(int(value))
        except (TypeError, ValueError):
            continue
    wanted = sorted(set(wanted))[:MAX_FOLLOWUPS_AT_ONCE]
    made = FollowUpsMade()
    scores = {
        s.customer_id: s
        for s in at_risk_scores(user=actor).filter(customer_id__in=wanted).select_related("customer__owner")
    }
    made.not_allowed = len(wanted) - len(scores)
    open_keys = FollowUp.objects.filter(
        customer_id__in=list(scores), status=FollowUpStatus.OPEN, key__startswith=f"{FOLLOWUP_KEY_PREFIX}:"
    ).values_list("customer_id", flat=True)
    has_open = set(open_keys)
    today = timezone.localdate()
    # Kept in the shop's language, shown in each reader's (kebu.engagement.titles).
    with translation.override(settings.LANGUAGE_CODE):
        title = reminder_title(AT_RISK_TITLE)
    for customer_id, score in scores.items():
        if customer_id in has_open:
            made.already_open += 1
            continue
        customer = score.customer
        owner = customer.owner
        assignee = (
            owner
            if owner is not None
            and owner.is_active
            and user_sees_customer(user=owner, customer_id=customer_id)
            else None
        )
        try:
            with transaction.atomic():
                followup = followup_create(
                    actor=actor,
                    customer=customer,
                    title=title,
                    due_on=today,
                    assignee=assignee,
                    note=score_churn_note(score),
                )
                FollowUp.objects.filter(pk=followup.pk).update(
                    key=_followup_key(customer_id, today), title_parts=AT_RISK_TITLE
                )
        except IntegrityError:
            made.already_open += 1  # made a moment ago by a second click
            continue
        except ValidationFailed:
            made.not_allowed += 1  # archived or otherwise refused since the list was computed
            continue
        made.created.append(followup)
    return made


SETTINGS_FIELDS = (
    "rfm_method",
    "r_cuts_days",
    "f_cuts_orders",
    "m_cuts_cny",
    "high_from_score",
    "tier_high_spent_cny",
    "tier_high_orders",
    "tier_middle_spent_cny",
    "tier_middle_orders",
    "tier_match",
    "churn_ratio_medium",
    "churn_ratio_high",
    "churn_p_alive_medium",
    "churn_p_alive_high",
)


@transaction.atomic
def score_settings_update(*, actor: Any, data: dict[str, Any]) -> ScoreSettings:
    """Save the shop's scoring settings from ``data`` (only the fields in SETTINGS_FIELDS; the model
    validates them all together) and record who changed what. They take effect at the next run."""
    row = ScoreSettings.current()
    before = row.as_params()
    refusal = _("The scoring settings were not saved; correct the marked fields.")
    settings_fields_set(row, data, SETTINGS_FIELDS, refusal=refusal)
    row.save()
    after = row.as_params()
    changes = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
    if changes:
        audit_record(action="insights.score_settings", actor=actor, target=row, changes=changes)
    return row
