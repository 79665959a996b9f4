"""Reads of frequently bought together: the rules page, a product's "bought with" and one customer's
recommendations.

Who sees what:

- the rules page lists shop-wide figures: ``view_shop_insights`` (``access.require_view``);
- a product's "bought with" needs ``orders.view_product`` and ``view_insights``. The rules name no
  customer, and a sales clerk offering the teapot with the tea is their point; but the number of orders
  behind a rule is the shop's sales volume, which a clerk's dashboard deliberately does not show, so the
  card gives it only to those with ``view_shop_insights`` (confidence and lift are ratios, no volume);
- a customer's recommendations need ``view_insights``, the customer visible to the user, and the user
  allowed to see purchases (``orders.view_order``): "due for repurchase on 12 May" says what they bought.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from kebu.customers.models import Customer
from kebu.customers.selectors import customer_is_visible, purchases_visible
from kebu.insights import access
from kebu.insights.models import AssociationRule, InsightKind, ProductPair
from kebu.orders.models import OrderLine, Product

VIEW_PRODUCT = "orders.view_product"
# The rules page's orders -> the columns behind them; each has an index and ends on id.
RULE_SORTS: dict[str, tuple[str, ...]] = {
    "lift": ("-lift", "id"),
    "confidence": ("-confidence", "id"),
    "orders": ("-orders", "id"),
}
# A product bought within this many days, or within the customer's own usual gap between orders when that
# is longer, counts as just bought: suggesting it again would read as not knowing them.
RECENT_DAYS = 90
# A consumable is due for repurchase from this many days before it runs out; one that ran out more than
# LAPSED_DAYS ago is no longer "due" (the customer has moved on, or buys it elsewhere).
DUE_AHEAD_DAYS = 7
LAPSED_DAYS = 365


def rules_visible(*, user: Any) -> bool:
    return access.can_view(user, InsightKind.BASKETS)


def rule_list(*, user: Any, product: Product | None = None, sort: str = "lift") -> QuerySet[AssociationRule]:
    """The stored rules for the rules page, in ``sort`` (a key of :data:`RULE_SORTS`), optionally those
    that involve ``product`` (bought or suggested); none for someone without ``view_shop_insights``."""
    if not rules_visible(user=user):
        return AssociationRule.objects.none()
    qs = AssociationRule.objects.select_related("antecedent", "antecedent_second", "consequent")
    if product is not None:
        qs = qs.filter(Q(antecedent=product) | Q(antecedent_second=product) | Q(consequent=product))
    return qs.order_by(*RULE_SORTS.get(sort, RULE_SORTS["lift"]))


def rule_products(*, user: Any) -> QuerySet[Product]:
    """The products that start a rule, by name: the rules page's product filter. Few, whatever the size
    of the catalogue: a product must be in ``min_support`` of all orders to start one (at 0.1%, at most
    1,000 products per product an order holds on average)."""
    if not rules_visible(user=user):
        return Product.objects.none()
    return (
        Product.objects.filter(pk__in=AssociationRule.objects.values("antecedent_id"))
        .only("pk", "name")
        .order_by("name", "pk")
    )


def bought_together_visible(*, user: Any) -> bool:
    return access.can(user, VIEW_PRODUCT, access.VIEW)


def bought_together_for_product(*, user: Any, product: Product, limit: int = 5) -> list[AssociationRule]:
    """The most confident rules with ``product`` alone as what was bought: "bought with X (34%)"; an empty
    list for someone who may not see them."""
    if not bought_together_visible(user=user):
        return []
    return list(
        AssociationRule.objects.filter(antecedent=product, antecedent_second__isnull=True)
        .select_related("consequent")
        .order_by("-confidence", "-lift", "id")[:limit]
    )


def recommendations_visible(*, user: Any, customer: Customer) -> bool:
    return (
        access.can(user, access.VIEW)
        and purchases_visible(user=user)
        and customer_is_visible(user=user, customer=customer)
    )


@dataclass(frozen=True)
class Recommendation:
    """A product to offer a customer, and why:

    - ``"due"``: a consumable they bought that runs out on ``due_on`` (soon, or already);
    - ``"rule"``: a rule from products they bought (``because``), with its confidence, lift and orders;
    - ``"together"``: often in the same orders as a product they bought (``because``), ``orders`` times.
    """

    product: Product
    reason: str
    because: tuple[Product, ...] = ()
    due_on: date | None = None
    confidence: float | None = None
    lift: float | None = None
    orders: int | None = None


@dataclass(frozen=True)
class _Bought:
    last_on: date
    kept: int  # units kept from the last order that had it


def recommendations_for(
    *, user: Any, customer: Customer, limit: int = 5, today: date | None = None
) -> list[Recommendation]:
    """Up to ``limit`` products to offer ``customer``: consumables due for repurchase first (soonest
    first), then products suggested by the rules whose bought products they all bought (best confidence
    × lift first), then, when those are few, products often bought with theirs. A product they bought
    recently (:data:`RECENT_DAYS`, or their purchase interval if longer) is never suggested, unless it is
    a consumable due; nor is one they returned in full, or one not on sale. Empty for someone who may
    not see it."""
    if limit < 1 or not recommendations_visible(user=user, customer=customer):
        return []
    today = today or timezone.localdate()
    bought, returned = _bought(customer=customer)
    if not bought:
        return []
    products = Product.objects.in_bulk(list(bought))
    recent_days = max(RECENT_DAYS, math.ceil(customer.purchase_interval_days or 0))
    picked: list[Recommendation] = []
    taken: set[int] = set()
    due = []
    for product_id, seen in bought.items():
        product = products[product_id]
        if not (product.usage_cycle_days and product.is_active):
            continue
        runs_out = seen.last_on + timedelta(days=product.usage_cycle_days * seen.kept)
        if today - timedelta(days=LAPSED_DAYS) <= runs_out <= today + timedelta(days=DUE_AHEAD_DAYS):
            due.append(Recommendation(product=product, reason="due", due_on=runs_out))
    for item in sorted(due, key=lambda r: (r.due_on, r.product.pk))[:limit]:
        picked.append(item)
        taken.add(item.product.pk)
    recent = {pid for pid, seen in bought.items() if (today - seen.last_on).days < recent_days}
    skip = taken | returned | recent
    if len(picked) < limit:
        picked += _from_rules(bought=bought.keys(), skip=skip | taken, limit=limit - len(picked))
        taken |= {r.product.pk for r in picked}
    if len(picked) < limit:
        picked += _from_pairs(bought=bought.keys(), skip=skip | taken, limit=limit - len(picked))
    return picked


def _bought(*, customer: Customer) -> tuple[dict[int, _Bought], set[int]]:
    """Each product the customer kept from their counted orders: the day (shop's time zone) of the last
    order that had it, and the units kept from that order (bought less returned); and the products they
    only ever returned in full (never worth suggesting again)."""
    rows = (
        OrderLine.objects.filter(customer=customer, counted=True, product__isnull=False)
        .order_by()
        .values_list("product_id", "order__ordered_at", "quantity", "returned_quantity")
    )
    last: dict[int, tuple[datetime, int]] = {}
    returned_in_full: set[int] = set()
    for product_id, ordered_at, quantity, returned in rows:
        kept = quantity - returned
        if kept <= 0:
            returned_in_full.add(product_id)
            continue
        seen = last.get(product_id)
        if seen is None or ordered_at > seen[0]:
            last[product_id] = (ordered_at, kept)
        elif ordered_at == seen[0]:
            last[product_id] = (ordered_at, seen[1] + kept)
    bought = {pid: _Bought(last_on=timezone.localdate(at), kept=kept) for pid, (at, kept) in last.items()}
    return bought, returned_in_full - bought.keys()


def _from_rules(*, bought: Iterable[int], skip: set[int], limit: int) -> list[Recommendation]:
    bought = list(bought)
    rules = (
        AssociationRule.objects.filter(antecedent_id__in=bought, consequent__is_active=True)
        .filter(Q(antecedent_second__isnull=True) | Q(antecedent_second_id__in=bought))
        .exclude(consequent_id__in=skip)
        .select_related("antecedent", "antecedent_second", "consequent")
        .alias(score=F("confidence") * F("lift"))
        .order_by("-score", "-orders", "id")
    )
    found: list[Recommendation] = []
    seen: set[int] = set()
    # The best rule of each product suggested; a few products' worth of rows is enough to fill the list.
    for rule in rules[: limit * 10]:
        if rule.consequent_id in seen:
            continue
        seen.add(rule.consequent_id)
        found.append(
            Recommendation(
                product=rule.consequent,
                reason="rule",
                because=tuple(rule.antecedents),  # type: ignore[arg-type]
                confidence=rule.confidence,
                lift=rule.lift,
                orders=rule.orders,
            )
        )
        if len(found) == limit:
            break
    return found


def _from_pairs(*, bought: Iterable[int], skip: set[int], limit: int) -> list[Recommendation]:
    pairs = (
        ProductPair.objects.filter(product_id__in=list(bought), partner__is_active=True)
        .exclude(partner_id__in=skip)
        .select_related("product", "partner")
        .order_by("-orders", "partner_id")
    )
    found: list[Recommendation] = []
    seen: set[int] = set()
    for pair in pairs[: limit * 10]:
        if pair.partner_id in seen:
            continue
        seen.add(pair.partner_id)
        found.append(
            Recommendation(
                product=pair.partner, reason="together", because=(pair.product,), orders=pair.orders
            )
        )
        if len(found) == limit:
            break
    return found
