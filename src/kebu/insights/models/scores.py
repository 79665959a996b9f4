"""Who is worth what: each customer's RFM cell and segment, value tier, CLV, churn risk and credit risk,
and the shop's settings for them.

The scores live in a table of their own, one row per active customer with orders, rewritten whole by
each run (``services/scores.py``), rather than as columns of the customer row: rewriting a million wide
customer rows and their ~35 indexes every night was the dominant cost of a full figures rebuild
(bench/orders.py), while this narrow table has three indexes. A customer deleted takes its row along."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

__all__ = [
    "ChurnRisk",
    "CustomerScore",
    "RfmMethod",
    "ScoreSettings",
    "Segment",
    "TierMatch",
    "ValueTier",
]

MONEY = {"max_digits": 14, "decimal_places": 2}


class Segment(models.TextChoices):
    """The eight classic RFM segments: recency, frequency and monetary each high or low. The Chinese
    names (重要价值客户 …) are the ones merchants know; they come from the zh-Hans catalogue."""

    IMPORTANT_VALUE = "important_value", _("Important value")  # 重要价值: R high, F high, M high
    IMPORTANT_DEVELOP = "important_develop", _("Important to develop")  # 重要发展: R high, F low, M high
    IMPORTANT_KEEP = "important_keep", _("Important to keep")  # 重要保持: R low, F high, M high
    IMPORTANT_WINBACK = "important_winback", _("Important to win back")  # 重要挽留: R low, F low, M high
    GENERAL_VALUE = "general_value", _("General value")  # 一般价值: R high, F high, M low
    GENERAL_DEVELOP = "general_develop", _("General to develop")  # 一般发展: R high, F low, M low
    GENERAL_KEEP = "general_keep", _("General to keep")  # 一般保持: R low, F high, M low
    GENERAL_WINBACK = "general_winback", _("General to win back")  # 一般挽留: R low, F low, M low


IMPORTANT_SEGMENTS = (
    Segment.IMPORTANT_VALUE,
    Segment.IMPORTANT_DEVELOP,
    Segment.IMPORTANT_KEEP,
    Segment.IMPORTANT_WINBACK,
)


# What each segment means and what to do about it, shown on the segments page and the customer card.
SEGMENT_TEXT: dict[str, tuple[Any, Any]] = {
    Segment.IMPORTANT_VALUE: (
        _("Bought recently, often and for a lot: the shop's best customers."),
        _("Keep them delighted: personal service, first look at new products; no discount needed."),
    ),
    Segment.IMPORTANT_DEVELOP: (
        _("Bought recently and spent a lot, but not often yet."),
        _("Make them regulars: a call after delivery, a reason to come back soon (a refill, a set)."),
    ),
    Segment.IMPORTANT_KEEP: (
        _("Used to buy often and for a lot, but not lately."),
        _("Reach out personally before they drift away: a call from their owner, a member offer."),
    ),
    Segment.IMPORTANT_WINBACK: (
        _("Spent a lot, but seldom and not lately: about to be lost."),
        _("Win them back: ask why they stopped, and give them a reason for the next order."),
    ),
    Segment.GENERAL_VALUE: (
        _("Buy recently and often, but spend little each time."),
        _("Grow the basket: sets, upgrades, free shipping above an amount."),
    ),
    Segment.GENERAL_DEVELOP: (
        _("New or occasional customers with a small recent order."),
        _("Welcome them: a second-order coupon, tips on using what they bought, add them on WeChat."),
    ),
    Segment.GENERAL_KEEP: (
        _("Used to buy often with small orders, but not lately."),
        _("Remind them: repurchase reminders, a small coupon, news of what is new."),
    ),
    Segment.GENERAL_WINBACK: (
        _("Small, one-off and not lately."),
        _("Low priority: include them in broad campaigns, spend little effort one by one."),
    ),
}


class ValueTier(models.TextChoices):
    HIGH = "high", _("High value")
    MIDDLE = "middle", _("Middle value")
    LOW = "low", _("Low value")


class ChurnRisk(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class RfmMethod(models.TextChoices):
    QUINTILES = "quintiles", _("Quintiles of the shop's customers")
    FIXED = "fixed", _("Fixed cut points")


class TierMatch(models.TextChoices):
    ANY = "any", _("either threshold is reached")
    ALL = "all", _("both thresholds are reached")


def parse_cuts(text: str) -> list[float]:
    """Four cut points in ascending order from "30, 90, 180, 365" (commas of either width, or spaces)."""
    parts = [p for p in str(text).replace("，", ",").replace(",", " ").split() if p]
    try:
        values = [float(Decimal(p)) for p in parts]
    except ArithmeticError as exc:
        raise ValidationError(_("Write four numbers separated by commas, e.g. 30, 90, 180, 365.")) from exc
    if len(values) != 4:
        raise ValidationError(_("Write four numbers separated by commas, e.g. 30, 90, 180, 365."))
    if any(v < 0 for v in values) or any(b <= a for a, b in pairwise(values)):
        raise ValidationError(
            _("The four cut points must be at least 0 and each larger than the one before.")
        )
    return values


def validate_cuts(text: str) -> None:
    parse_cuts(text)


class ScoreSettings(models.Model):
    """How the shop scores its customers (one row, see :meth:`read`). Each run stores the settings it
    used in ``InsightRun.params``, so a page explains its figures even after the settings change."""

    rfm_method = models.CharField(
        _("RFM bands"),
        max_length=10,
        choices=RfmMethod.choices,
        default=RfmMethod.QUINTILES,
        help_text=_(
            "Quintiles: each score 1–5 holds a fifth of the customers (cut at the 20/40/60/80th "
            "percentiles). Fixed: the cut points below."
        ),
    )
    r_cuts_days = models.CharField(
        _("recency cut points (days)"),
        max_length=80,
        default="30, 90, 180, 365",
        validators=[validate_cuts],
        help_text=_("Last order within 30 days: R=5; within 90: R=4; … more than 365: R=1."),
    )
    f_cuts_orders = models.CharField(
        _("frequency cut points (orders)"),
        max_length=80,
        default="1, 2, 3, 5",
        validators=[validate_cuts],
        help_text=_("1 order: F=1; 2: F=2; 3: F=3; 4–5: F=4; more than 5: F=5."),
    )
    m_cuts_cny = models.CharField(
        _("monetary cut points (yuan spent)"),
        max_length=80,
        default="200, 500, 1000, 3000",
        validators=[validate_cuts],
        help_text=_("Up to ¥200: M=1; up to ¥500: M=2; … more than ¥3000: M=5."),
    )
    high_from_score = models.PositiveSmallIntegerField(
        _("a score counts as high from"),
        default=3,
        validators=[MinValueValidator(2), MaxValueValidator(5)],
        help_text=_(
            "The eight segments compare each of R, F and M with this: 3 puts the middle band with the "
            "high ones."
        ),
    )
    tier_high_spent_cny = models.DecimalField(
        _("high value: spent at least"), **MONEY, default=Decimal("3000"), validators=[MinValueValidator(0)]
    )
    tier_high_orders = models.PositiveIntegerField(_("high value: orders at least"), default=5)
    tier_middle_spent_cny = models.DecimalField(
        _("middle value: spent at least"), **MONEY, default=Decimal("500"), validators=[MinValueValidator(0)]
    )
    tier_middle_orders = models.PositiveIntegerField(_("middle value: orders at least"), default=2)
    tier_match = models.CharField(
        _("a tier is reached when"), max_length=3, choices=TierMatch.choices, default=TierMatch.ANY
    )
    churn_ratio_medium = models.DecimalField(
        _("medium churn risk from (× usual interval)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("1.5"),
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text=_("Days since the last order ÷ the customer's usual days between orders."),
    )
    churn_ratio_high = models.DecimalField(
        _("high churn risk from (× usual interval)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("3"),
        validators=[MinValueValidator(Decimal("0.1"))],
    )
    churn_p_alive_medium = models.DecimalField(
        _("medium churn risk below P(active)"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.5"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("0.99"))],
        help_text=_("The model's probability that the customer still buys from the shop."),
    )
    churn_p_alive_high = models.DecimalField(
        _("high churn risk below P(active)"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.2"),
        validators=[MinValueValidator(Decimal("0.01")), MaxValueValidator(Decimal("0.99"))],
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("scoring settings")
        verbose_name_plural = _("scoring settings")

    def __str__(self) -> str:
        return str(_("Scoring settings"))

    def clean(self) -> None:
        errors: dict[str, Any] = {}

        def given(*values: Any) -> bool:
            return all(v is not None for v in values)

        high_spent, middle_spent = self.tier_high_spent_cny, self.tier_middle_spent_cny
        if given(high_spent, middle_spent) and middle_spent > high_spent:
            errors["tier_middle_spent_cny"] = _("The middle tier cannot ask for more than the high one.")
        if (
            given(self.tier_high_orders, self.tier_middle_orders)
            and self.tier_middle_orders > self.tier_high_orders
        ):
            errors["tier_middle_orders"] = _("The middle tier cannot ask for more than the high one.")
        ratio_medium, ratio_high = self.churn_ratio_medium, self.churn_ratio_high
        if given(ratio_medium, ratio_high) and ratio_high <= ratio_medium:
            errors["churn_ratio_high"] = _("High risk must start later than medium risk.")
        alive_medium, alive_high = self.churn_p_alive_medium, self.churn_p_alive_high
        if given(alive_medium, alive_high) and alive_high >= alive_medium:
            errors["churn_p_alive_high"] = _("High risk must start at a lower probability than medium risk.")
        if errors:
            raise ValidationError(errors)

    @classmethod
    def current(cls) -> ScoreSettings:
        """The row, created on first use: for editing."""
        return cls.objects.get_or_create(pk=1)[0]

    @classmethod
    def read(cls) -> ScoreSettings:
        """The settings for reading, without a write: the defaults until the shop saves its own."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    def as_params(self) -> dict[str, Any]:
        """The settings as a run stores them (JSON: numbers, not Decimals)."""
        return {
            "rfm_method": self.rfm_method,
            "r_cuts_days": parse_cuts(self.r_cuts_days),
            "f_cuts_orders": parse_cuts(self.f_cuts_orders),
            "m_cuts_cny": parse_cuts(self.m_cuts_cny),
            "high_from_score": int(self.high_from_score),
            "tier_high_spent_cny": float(self.tier_high_spent_cny),
            "tier_high_orders": int(self.tier_high_orders),
            "tier_middle_spent_cny": float(self.tier_middle_spent_cny),
            "tier_middle_orders": int(self.tier_middle_orders),
            "tier_match": self.tier_match,
            "churn_ratio_medium": float(self.churn_ratio_medium),
            "churn_ratio_high": float(self.churn_ratio_high),
            "churn_p_alive_medium": float(self.churn_p_alive_medium),
            "churn_p_alive_high": float(self.churn_p_alive_high),
        }


class CustomerScore(models.Model):
    """One customer's scores as of ``computed_at``. The R, F and M inputs are kept as they were then
    (days since the last order, orders, net spend), so each cell's explanation matches its score."""

    customer = models.OneToOneField(
        "customers.Customer",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="score",
        verbose_name=_("customer"),
    )
    recency_days = models.PositiveIntegerField(_("days since the last order"))
    orders = models.PositiveIntegerField(_("orders"))
    spent_cny = models.DecimalField(_("spent"), **MONEY)
    r_score = models.PositiveSmallIntegerField(_("R"))
    f_score = models.PositiveSmallIntegerField(_("F"))
    m_score = models.PositiveSmallIntegerField(_("M"))
    # Share of the shop's scored customers this one beats, in whole percent (never rounded up), for the
    # explanation "newer than 80% of customers".
    r_beats_pct = models.PositiveSmallIntegerField()
    f_beats_pct = models.PositiveSmallIntegerField()
    m_beats_pct = models.PositiveSmallIntegerField()
    segment = models.CharField(_("segment"), max_length=20, choices=Segment.choices)
    tier = models.CharField(_("value tier"), max_length=6, choices=ValueTier.choices)
    p_alive = models.FloatField(_("P(active)"), null=True, blank=True)
    expected_orders_90 = models.FloatField(_("expected orders, 90 days"), null=True, blank=True)
    expected_orders_365 = models.FloatField(_("expected orders, 365 days"), null=True, blank=True)
    clv_90_cny = models.DecimalField(_("expected spend, 90 days"), **MONEY, null=True, blank=True)
    clv_365_cny = models.DecimalField(_("expected spend, 365 days"), **MONEY, null=True, blank=True)
    churn_ratio = models.FloatField(
        _("days since last order ÷ usual interval"),
        null=True,
        blank=True,
        help_text=_("The customer's own average interval; for one-order customers the shop's median."),
    )
    churn_risk = models.CharField(_("churn risk"), max_length=6, choices=ChurnRisk.choices, blank=True)
    credit_score = models.PositiveSmallIntegerField(
        _("credit risk"), null=True, blank=True, help_text=_("0 (none) to 100; empty without a credit line.")
    )
    credit_reasons = models.JSONField(_("credit risk reasons"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("customer score")
        verbose_name_plural = _("customer scores")
        # Each list reads one of these in its own order, most valuable first, ending in the key.
        indexes = [
            models.Index(fields=["segment", "-spent_cny", "-customer"], name="score_segment"),
            models.Index(fields=["tier", "-spent_cny", "-customer"], name="score_tier"),
            models.Index(
                fields=["churn_risk", "-clv_365_cny", "-spent_cny", "-customer"], name="score_churn"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(r_score__range=(1, 5), f_score__range=(1, 5), m_score__range=(1, 5)),
                name="score_rfm_range",
            ),
            models.CheckConstraint(
                condition=models.Q(credit_score__isnull=True) | models.Q(credit_score__lte=100),
                name="score_credit_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: R{self.r_score}F{self.f_score}M{self.m_score}"

    @property
    def cell(self) -> str:
        return f"R{self.r_score} F{self.f_score} M{self.m_score}"
