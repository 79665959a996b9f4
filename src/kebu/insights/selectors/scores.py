"""Reading the scores: the segments' counts and lists, the "high value, at risk" list, one customer's
scores, and the plain words that explain them. Visibility first: a user reads the scores of the customers
they may see (``customer_visible_queryset``), and nothing without ``insights.view_insights``; the cut
points and models are the shop's, computed over every customer."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, DecimalField, Q, QuerySet, Sum
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.customers.models import Customer
from kebu.customers.selectors import customer_visible_queryset
from kebu.insights import access
from kebu.insights.models import InsightKind
from kebu.insights.models.scores import (
    IMPORTANT_SEGMENTS,
    SEGMENT_TEXT,
    ChurnRisk,
    CustomerScore,
    Segment,
    ValueTier,
)

CENT = Decimal("0.01")
MONEY = DecimalField(max_digits=20, decimal_places=2)


def _sees_everyone(user: Any) -> bool:
    return not customer_visible_queryset(user=user).query.where


def scores_visible(*, user: Any) -> QuerySet[CustomerScore]:
    """The scores of the customers ``user`` may see; none without ``insights.view_insights``."""
    if not access.can_view(user, InsightKind.SCORES):
        return CustomerScore.objects.none()
    customers = customer_visible_queryset(user=user)
    if not customers.query.where:
        return CustomerScore.objects.all()  # sees every customer: no subquery to run
    return CustomerScore.objects.filter(customer__in=customers.values("pk"))


def _ordered(qs: QuerySet[CustomerScore]) -> QuerySet[CustomerScore]:
    return qs.order_by("-spent_cny", "-customer_id")


def segment_scores(
    *, user: Any, segment: str | None = None, tier: str | None = None, churn: str | None = None
) -> QuerySet[CustomerScore]:
    """The scores ``user`` may see, of one segment (or all), filtered by tier and churn risk, biggest
    spenders first, each with its customer (and owner) for the list."""
    qs = scores_visible(user=user)
    if segment:
        qs = qs.filter(segment=segment)
    if tier:
        qs = qs.filter(tier=tier)
    if churn:
        qs = qs.filter(churn_risk=churn)
    return _ordered(qs).select_related("customer", "customer__owner")


def at_risk_scores(*, user: Any) -> QuerySet[CustomerScore]:
    """The valuable customers at risk of leaving that ``user`` may see: high churn risk, and a high value
    tier or one of the four "important" segments. Highest expected value first (spend when there is no
    CLV), so the top of the list is where a call matters most."""
    valuable = Q(tier=ValueTier.HIGH) | Q(segment__in=IMPORTANT_SEGMENTS)  # as is_at_risk
    return (
        scores_visible(user=user)
        .filter(valuable, churn_risk=ChurnRisk.HIGH, customer__archived_at__isnull=True)
        .order_by("-clv_365_cny", "-spent_cny", "-customer_id")
        .select_related("customer", "customer__owner")
    )


def customer_score(*, user: Any, customer: Customer) -> CustomerScore | None:
    """One customer's scores for their page, or None (not scored yet, or not for this user's eyes)."""
    return scores_visible(user=user).filter(customer_id=customer.pk).first()


@dataclass
class SegmentFigures:
    key: str
    label: Any
    meaning: Any
    action: Any
    customers: int = 0
    share_pct: float = 0.0
    spent_cny: Decimal = Decimal("0.00")


@dataclass
class SegmentSummary:
    customers: int
    segments: list[SegmentFigures]
    tiers: dict[str, int] = field(default_factory=dict)
    churn: dict[str, int] = field(default_factory=dict)
    at_risk: int = 0
    # The expected spend of the next 365 days of the customers counted (None without a lifetime-value
    # model), and whether they are every customer: the shop's total is a forecast of its sales, which
    # someone who sees only some customers is not shown (the forecast page is shop-wide, for others).
    clv_365_cny: Decimal | None = None
    everyone: bool = False


def segment_summary(*, user: Any, result: dict[str, Any] | None = None) -> SegmentSummary:
    """Counts and spend per segment, and counts per tier and churn level, over the customers ``user``
    may see: one GROUP BY over their scores. For someone who sees every customer these are the run's
    own totals (``result``, written with the table), which saves reading a million rows per visit."""
    if not access.can_view(user, InsightKind.SCORES):
        return _summary({}, {}, {}, 0)
    everyone = _sees_everyone(user)
    if result and "segments" in result and everyone:
        clv_total = (result.get("clv") or {}).get("total_365_cny")
        return _summary(
            {
                key: [n, Decimal(str(result["segment_spent_cny"].get(key, 0)))]
                for key, n in result["segments"].items()
            },
            result["tiers"],
            result["churn"],
            result.get("at_risk", 0),
            clv_365_cny=None if clv_total is None else Decimal(str(clv_total)),
            everyone=True,
        )
    grouped = (
        scores_visible(user=user)
        .order_by()
        .values("segment", "tier", "churn_risk")
        .annotate(
            n=Count("pk"),
            spent=Sum("spent_cny", output_field=MONEY),
            clv=Sum("clv_365_cny", output_field=MONEY),
        )
    )
    by_segment: dict[str, list[Any]] = {}
    tiers: dict[str, int] = {}
    churn: dict[str, int] = {}
    at_risk = 0
    clv_365: Decimal | None = None
    for row in grouped:
        if row["clv"] is not None:
            clv_365 = (clv_365 or Decimal(0)) + Decimal(str(row["clv"]))
        n = row["n"]
        counted = by_segment.setdefault(row["segment"], [0, Decimal(0)])
        counted[0] += n
        # SQLite sums decimals as floats; rounded to the fen they are exact again.
        counted[1] += Decimal(str(row["spent"] or 0))
        tiers[row["tier"]] = tiers.get(row["tier"], 0) + n
        churn[row["churn_risk"]] = churn.get(row["churn_risk"], 0) + n
        if is_at_risk(segment=row["segment"], tier=row["tier"], churn_risk=row["churn_risk"]):
            at_risk += n
    return _summary(by_segment, tiers, churn, at_risk, clv_365_cny=clv_365, everyone=everyone)


def is_at_risk(*, segment: str, tier: str, churn_risk: str) -> bool:
    """The rule of the "high value, at risk" list (``at_risk_scores`` is its query)."""
    return churn_risk == ChurnRisk.HIGH and (tier == ValueTier.HIGH or segment in IMPORTANT_SEGMENTS)


def _summary(
    by_segment: dict[str, list[Any]],
    tiers: dict[str, int],
    churn: dict[str, int],
    at_risk: int,
    *,
    clv_365_cny: Decimal | None = None,
    everyone: bool = False,
) -> SegmentSummary:
    total = sum(n for n, _spent in by_segment.values())
    segments = []
    for s in Segment:
        n, spent = by_segment.get(s.value, [0, Decimal(0)])
        segments.append(
            SegmentFigures(
                key=s.value,
                label=s.label,
                meaning=SEGMENT_TEXT[s][0],
                action=SEGMENT_TEXT[s][1],
                customers=n,
                share_pct=round(100 * n / total, 1) if total else 0.0,
                spent_cny=Decimal(spent).quantize(CENT, rounding=ROUND_HALF_UP),
            )
        )
    return SegmentSummary(
        customers=total,
        segments=segments,
        tiers={t.value: int(tiers.get(t.value, 0)) for t in ValueTier},
        churn={"": int(churn.get("", 0)), **{c.value: int(churn.get(c.value, 0)) for c in ChurnRisk}},
        at_risk=int(at_risk),
        clv_365_cny=None if clv_365_cny is None else clv_365_cny.quantize(CENT, rounding=ROUND_HALF_UP),
        everyone=everyone,
    )


# --- the words ------------------------------------------------------------------------------------------


def _money(value: Any) -> str:
    return f"{Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP):,}"


def _ago(days: int) -> str:
    if days <= 0:
        return _("last order today")
    return ngettext("last order %(days)d day ago", "last order %(days)d days ago", days) % {"days": days}


def cell_explanations(score: CustomerScore) -> list[tuple[str, int, str]]:
    """R, F and M each as (letter, score, why): "R=5: last order 6 days ago, newer than 80% of
    customers". A customer who beats nobody is said to be among the lowest, not "more than 0%"."""
    ago, pct = _ago(score.recency_days), score.r_beats_pct
    if pct:
        r = _("%(ago)s, newer than %(pct)d%% of customers") % {"ago": ago, "pct": pct}
    else:
        r = _("%(ago)s, among the longest ago") % {"ago": ago}
    orders = ngettext("%(n)d order", "%(n)d orders", score.orders) % {"n": score.orders}
    if score.f_beats_pct:
        f = _("%(orders)s, more than %(pct)d%% of customers") % {"orders": orders, "pct": score.f_beats_pct}
    else:
        f = _("%(orders)s, among the fewest") % {"orders": orders}
    spent = _money(score.spent_cny)
    if score.m_beats_pct:
        m = _("spent ¥%(spent)s, more than %(pct)d%% of customers") % {
            "spent": spent,
            "pct": score.m_beats_pct,
        }
    else:
        m = _("spent ¥%(spent)s, among the lowest") % {"spent": spent}
    return [("R", score.r_score, r), ("F", score.f_score, f), ("M", score.m_score, m)]


def cell_explanation_text(score: CustomerScore) -> str:
    return "; ".join(f"{letter}={value}: {why}" for letter, value, why in cell_explanations(score))


def churn_explanation(score: CustomerScore) -> str:
    """Why the churn risk is what it is, in one sentence."""
    parts: list[str] = []
    if score.churn_ratio is not None:
        ratio = f"{score.churn_ratio:.1f}"
        if score.orders > 1:
            parts.append(
                _("%(ago)s, %(ratio)s× their usual interval")
                % {"ago": _ago(score.recency_days), "ratio": ratio}
            )
        else:
            parts.append(
                _("%(ago)s, %(ratio)s× the shop's usual interval between orders")
                % {"ago": _ago(score.recency_days), "ratio": ratio}
            )
    if score.p_alive is not None and score.orders > 1:
        parts.append(_("%(pct)d%% likely still a customer") % {"pct": round(100 * score.p_alive)})
    return "; ".join(parts) if parts else _("Not enough history to judge.")


def score_churn_note(score: CustomerScore) -> str:
    """The note a follow-up for a customer at risk carries: why they are on the list."""
    note = _("%(segment)s, %(tier)s. %(churn)s.") % {
        "segment": score.get_segment_display(),
        "tier": score.get_tier_display(),
        # The explanation may be a whole sentence ("Not enough history to judge."): one full stop.
        "churn": churn_explanation(score).rstrip(".。"),
    }
    if score.clv_365_cny is not None:
        note += " " + _("Expected spend in the next 365 days: ¥%(value)s.") % {
            "value": _money(score.clv_365_cny)
        }
    return note


def credit_reason_texts(reasons: list[dict[str, Any]] | None) -> list[str]:
    """The stored reasons of a credit risk score, in the reader's language."""
    texts: list[str] = []
    for reason in reasons or []:
        code = reason.get("code")
        if code == "overdue":
            texts.append(
                ngettext(
                    "¥%(amount)s overdue on %(orders)d order, %(days)d days past due",
                    "¥%(amount)s overdue on %(orders)d orders, the oldest %(days)d days past due",
                    reason["orders"],
                )
                % {"amount": _money(reason["amount_cny"]), "orders": reason["orders"], "days": reason["days"]}
            )
        elif code == "paid_late":
            texts.append(
                _("%(late)d of %(settled)d orders on credit paid late, %(days)d days late on average")
                % {"late": reason["late"], "settled": reason["settled"], "days": reason["days"]}
            )
        elif code == "paid_on_time":
            texts.append(
                ngettext(
                    "%(n)d order on credit paid off, on time",
                    "%(n)d orders on credit paid off, all on time",
                    reason["settled"],
                )
                % {"n": reason["settled"]}
            )
        elif code == "over_limit":
            texts.append(
                _("owes ¥%(owed)s, more than the credit limit of ¥%(limit)s")
                % {"owed": _money(reason["owed_cny"]), "limit": _money(reason["limit_cny"])}
            )
        elif code == "near_limit":
            texts.append(
                _("owes ¥%(owed)s, close to the credit limit of ¥%(limit)s")
                % {"owed": _money(reason["owed_cny"]), "limit": _money(reason["limit_cny"])}
            )
        elif code == "no_credit_orders":
            texts.append(_("no order on credit yet"))
    return texts
