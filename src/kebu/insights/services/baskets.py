"""Frequently bought together: association rules by FP-Growth over the shop's order baskets.

A basket is one counted order (paid, or taken on credit, and not cancelled: ``COUNTED_STATUSES``, as the
sales summary counts them), and its items are the products of its lines, whatever their quantity. A line
without a product (free text, outside the catalogue) is left out, and so is a line returned in full
(``returned_quantity == quantity``): the customer did not keep it. Baskets are read from every order of
the shop, whoever may see them: the rules are shop-wide figures and name no customer.

The thresholds (``run.params``, else :data:`DEFAULTS`):

- ``min_support`` and ``min_orders``: an itemset counts when it is in at least ``min_orders`` orders and
  in at least ``min_support`` of all baskets. The absolute floor lets a small shop find rules (5 orders of
  2,000); the share keeps a big shop's rules to what matters (0.1% of 10M orders is 10,000);
- ``min_confidence``: of the orders with the products bought, the share that must hold the suggested one;
- lift above 1 always: a rule whose products are no likelier together than apart says nothing;
- itemsets of at most three products (:data:`MAX_ITEMSET_SIZE`), rules with one product suggested;
- ``rules_per_antecedent`` and ``pairs_per_product`` keep the stored tables to what pages show;
- ``min_baskets``: below this many orders with two products or more, the run says there are too few.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from itertools import chain, islice
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kebu.insights.fpgrowth import BasketBuilder, Baskets, Itemset, Rule, association_rules, frequent_itemsets
from kebu.insights.messages import too_few
from kebu.insights.models import AssociationRule, InsightRun, ProductPair
from kebu.orders.models import OrderLine

MAX_ITEMSET_SIZE = 3
# Rows read from the database at a time: ~2 MB of tuples, turned into numpy arrays chunk by chunk.
READ_CHUNK = 50_000
WRITE_BATCH = 2_000


@dataclass(frozen=True)
class BasketParams:
    min_support: float = 0.001
    min_orders: int = 5
    min_confidence: float = 0.1
    rules_per_antecedent: int = 20
    pairs_per_product: int = 20
    # Fewer orders with two products or more than this, and "bought together" would be anecdotes.
    min_baskets: int = 100

    @classmethod
    def from_mapping(cls, params: Mapping[str, Any]) -> BasketParams:
        """The thresholds given, the defaults for the others. Raises ``ValueError`` for one out of range
        (the run fails with it, rather than mining with a threshold nobody meant)."""
        known = {k: params[k] for k in asdict(cls()) if k in params}
        try:
            values = cls(
                min_support=float(known.get("min_support", cls.min_support)),
                min_orders=int(known.get("min_orders", cls.min_orders)),
                min_confidence=float(known.get("min_confidence", cls.min_confidence)),
                rules_per_antecedent=int(known.get("rules_per_antecedent", cls.rules_per_antecedent)),
                pairs_per_product=int(known.get("pairs_per_product", cls.pairs_per_product)),
                min_baskets=int(known.get("min_baskets", cls.min_baskets)),
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid basket settings: {exc}") from exc
        if not 0 <= values.min_support < 1:
            raise ValueError("min_support must be at least 0 and below 1")
        if values.min_orders < 2:
            raise ValueError("min_orders must be at least 2")
        if not 0 <= values.min_confidence <= 1:
            raise ValueError("min_confidence must be between 0 and 1")
        if min(values.rules_per_antecedent, values.pairs_per_product, values.min_baskets) < 1:
            raise ValueError("rules_per_antecedent, pairs_per_product and min_baskets must be at least 1")
        return values

    def min_count(self, n_baskets: int) -> int:
        """The number of orders an itemset must be in: the larger of the two thresholds."""
        return max(self.min_orders, math.ceil(self.min_support * n_baskets))


DEFAULTS = asdict(BasketParams())


def basket_lines() -> Any:
    """The (order id, product id) of every line that goes into a basket, in order id order."""
    # ``counted`` is the order's COUNTED_STATUSES copied on its lines by the order services (an order is
    # cancelled only before it is paid, so the copy never goes stale); reading it spares a join of 16M
    # lines with 10M orders.
    return (
        OrderLine.objects.filter(counted=True, product__isnull=False, returned_quantity__lt=F("quantity"))
        .order_by("order_id")
        .values_list("order_id", "product_id")
    )


def baskets_read(*, chunk_size: int = READ_CHUNK) -> Baskets:
    """Every counted order's basket, read in one pass over its lines: numpy arrays of a few bytes a line,
    whatever the number of orders (a Python set per basket would take ~200 bytes each)."""
    builder = BasketBuilder()
    rows: Iterator[tuple[int, int]] = basket_lines().iterator(chunk_size=chunk_size)
    while True:
        flat = np.fromiter(chain.from_iterable(islice(rows, chunk_size)), dtype=np.int64)
        if flat.size == 0:
            return builder.finish()
        builder.add(flat[0::2], flat[1::2])


def baskets_compute(*, run: InsightRun) -> dict[str, Any]:
    """Find the rules and the product pairs over all counted orders and replace the stored ones with them,
    in one transaction: a page reads either the old set or the new one, never a mix. ``run.params`` is
    rewritten with every threshold used. Raises ``TooFewData`` (and keeps the stored rules) when fewer
    than ``min_baskets`` orders (100) hold two products or more."""
    params = BasketParams.from_mapping(run.params or {})
    run.params = asdict(params)
    baskets = baskets_read()
    free_text_lines = OrderLine.objects.filter(counted=True, product__isnull=True).count()
    if baskets.multi_item < params.min_baskets:
        raise too_few("baskets.too_few", have=baskets.multi_item, need=params.min_baskets)
    min_count = params.min_count(baskets.count)
    itemsets = frequent_itemsets(baskets, min_count=min_count, max_size=MAX_ITEMSET_SIZE)
    rules = association_rules(itemsets, n_baskets=baskets.count, min_confidence=params.min_confidence)
    kept_rules = _best_per_antecedent(rules, limit=params.rules_per_antecedent)
    pairs = _top_partners(itemsets, limit=params.pairs_per_product)
    _store(rules=kept_rules, pairs=pairs, computed_at=timezone.now())
    sizes = Counter(len(itemset) for itemset in itemsets)
    return {
        "params": run.params,
        "min_count": min_count,
        "max_itemset_size": MAX_ITEMSET_SIZE,
        "baskets": baskets.count,
        "multi_item_baskets": baskets.multi_item,
        "products": int(baskets.item_counts()[0].size),
        "frequent_products": sizes[1],
        "frequent_pairs": sizes[2],
        "frequent_triples": sizes[3],
        "free_text_lines": free_text_lines,
        "rules_found": len(rules),
        "rules_stored": len(kept_rules),
        "pairs_stored": len(pairs),
    }


def _best_per_antecedent(rules: list[Rule], *, limit: int) -> list[Rule]:
    """The ``limit`` most confident rules of each antecedent (``rules`` come most confident first)."""
    taken: dict[Itemset, int] = defaultdict(int)
    kept = []
    for rule in rules:
        if taken[rule.antecedent] < limit:
            taken[rule.antecedent] += 1
            kept.append(rule)
    return kept


def _top_partners(itemsets: Mapping[Itemset, int], *, limit: int) -> list[tuple[int, int, int]]:
    """(product, partner, orders) for each product's ``limit`` most frequent partners, both ways round."""
    partners: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for itemset, orders in itemsets.items():
        if len(itemset) == 2:
            a, b = itemset
            partners[a].append((orders, b))
            partners[b].append((orders, a))
    rows: list[tuple[int, int, int]] = []
    for product, found in partners.items():
        found.sort(key=lambda item: (-item[0], item[1]))
        rows.extend((product, partner, orders) for orders, partner in found[:limit])
    return rows


# Only the replacement is one transaction, not the reading and mining: on SQLite every transaction takes
# the write lock as it begins (IMMEDIATE), and a minute of mining must not hold up the shop's orders.
@transaction.atomic(durable=True)
def _store(*, rules: list[Rule], pairs: list[tuple[int, int, int]], computed_at: Any) -> None:
    AssociationRule.objects.all().delete()
    ProductPair.objects.all().delete()
    AssociationRule.objects.bulk_create(
        (
            AssociationRule(
                antecedent_id=rule.antecedent[0],
                antecedent_second_id=rule.antecedent[1] if len(rule.antecedent) > 1 else None,
                consequent_id=rule.consequent,
                orders=rule.orders,
                antecedent_orders=rule.antecedent_orders,
                support=rule.support,
                confidence=rule.confidence,
                lift=rule.lift,
                computed_at=computed_at,
            )
            for rule in rules
        ),
        batch_size=WRITE_BATCH,
    )
    ProductPair.objects.bulk_create(
        (
            ProductPair(product_id=product, partner_id=partner, orders=orders, computed_at=computed_at)
            for product, partner, orders in pairs
        ),
        batch_size=WRITE_BATCH,
    )
