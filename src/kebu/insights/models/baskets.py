"""Frequently bought together: the association rules found over the shop's order baskets, and how often
two products share an order. Both tables are rebuilt whole by each run (``services/baskets.py``); they
hold products and counts of orders, never a customer.

An antecedent has at most two products, since itemsets stop at three (two bought, one suggested): it is
stored as two product columns, the second empty for a single product, in ascending id order. Real
foreign keys rather than a key string ("12,45"), so that "the rules of this product" is an indexed
equality, recommendations join on plain ids, and a product that goes takes its rules with it; rather
than a through table, so that a rule stays one row read with one join. Were itemsets ever to grow past
three, the antecedent would need a through table."""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["AssociationRule", "ProductPair"]


class AssociationRule(models.Model):
    """X → y: of the orders holding every product of X, ``confidence`` also hold y; ``lift`` says how many
    times likelier y is in those orders than in any order (always above 1 here)."""

    antecedent = models.ForeignKey(
        "orders.Product",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the rule_antecedent index
        verbose_name=_("bought"),
    )
    antecedent_second = models.ForeignKey(
        "orders.Product",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("and bought"),
        help_text=_("Empty when the rule starts from one product."),
    )
    consequent = models.ForeignKey(
        "orders.Product",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by the rule_consequent index
        verbose_name=_("also bought"),
    )
    orders = models.PositiveIntegerField(_("orders"), help_text=_("Orders holding all of the products."))
    antecedent_orders = models.PositiveIntegerField(
        _("orders with the bought products"), help_text=_("Orders holding the products bought.")
    )
    support = models.FloatField(_("support"), help_text=_("Share of all orders holding all of the products."))
    confidence = models.FloatField(
        _("confidence"), help_text=_("Share of the orders with the products bought that also hold this one.")
    )
    lift = models.FloatField(
        _("lift"), help_text=_("How many times likelier this product is with those bought than in any order.")
    )
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("association rule")
        verbose_name_plural = _("association rules")
        ordering = ["-confidence", "-lift", "id"]
        indexes = [
            # The product card (one product bought) and the recommendations (products a customer bought).
            models.Index(fields=["antecedent", "-confidence", "-lift"], name="rule_antecedent"),
            models.Index(fields=["consequent", "-confidence"], name="rule_consequent"),
            # The rules page's three orders.
            models.Index(fields=["-lift", "id"], name="rule_lift"),
            models.Index(fields=["-confidence", "id"], name="rule_confidence"),
            models.Index(fields=["-orders", "id"], name="rule_orders"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["antecedent", "consequent"],
                condition=Q(antecedent_second__isnull=True),
                name="rule_unique_single",
            ),
            models.UniqueConstraint(
                fields=["antecedent", "antecedent_second", "consequent"],
                condition=Q(antecedent_second__isnull=False),
                name="rule_unique_pair",
            ),
            models.CheckConstraint(
                condition=Q(antecedent_second__isnull=True) | Q(antecedent__lt=F("antecedent_second")),
                name="rule_antecedent_sorted",
            ),
            models.CheckConstraint(
                condition=~Q(consequent=F("antecedent"))
                & (Q(antecedent_second__isnull=True) | ~Q(consequent=F("antecedent_second"))),
                name="rule_consequent_not_bought",
            ),
            models.CheckConstraint(
                condition=Q(orders__gt=0)
                & Q(orders__lte=F("antecedent_orders"))
                & Q(support__gt=0)
                & Q(support__lte=1)
                & Q(confidence__gt=0)
                & Q(confidence__lte=1)
                & Q(lift__gt=0),
                name="rule_measures_in_range",
            ),
        ]

    def __str__(self) -> str:
        bought = f"{self.antecedent_id}" + (
            f"+{self.antecedent_second_id}" if self.antecedent_second_id else ""
        )
        return f"{bought} → {self.consequent_id}"

    @property
    def antecedents(self) -> list[object]:
        """The products bought, one or two."""
        return [p for p in (self.antecedent, self.antecedent_second) if p is not None]


class ProductPair(models.Model):
    """Two products in the same orders, counted: the plain co-occurrence that recommendations fall back
    on when few rules apply. Stored both ways round (a product's partners are one indexed read), and only
    each product's most frequent partners."""

    product = models.ForeignKey(
        "orders.Product",
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # led by pair_product
        verbose_name=_("product"),
    )
    partner = models.ForeignKey(
        "orders.Product", on_delete=models.CASCADE, related_name="+", verbose_name=_("bought with")
    )
    orders = models.PositiveIntegerField(_("orders"), help_text=_("Orders holding both products."))
    computed_at = models.DateTimeField(_("computed at"), default=timezone.now)

    class Meta:
        verbose_name = _("product pair")
        verbose_name_plural = _("product pairs")
        indexes = [models.Index(fields=["product", "-orders"], name="pair_product")]
        constraints = [
            models.UniqueConstraint(fields=["product", "partner"], name="pair_unique"),
            models.CheckConstraint(condition=~Q(product=F("partner")), name="pair_two_products"),
            models.CheckConstraint(condition=Q(orders__gt=0), name="pair_orders_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id} & {self.partner_id}: {self.orders}"
