"""Customer clusters, computed nightly (and on demand) into the run's result (``kebu.insights.clusters``
does the arithmetic).

Who is clustered: every active (not archived) customer with at least one counted order, over the whole
shop; the page is for ``view_shop_insights`` and shows only per-cluster figures, never a customer.

What is read, set-based, in two passes whatever the shop's size:
- the customer's own figures, kept by the order services (orders, net spend, last order): one
  ``values_list`` over the customer table;
- the spend per top category, also kept by the order services (``orders.CustomerCategorySpend``: net of
  refunds, counted orders only, as the sales summary's category columns). Reading that table rather than
  grouping the order lines again is the same figure at a few rows per customer instead of ~16.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.utils import timezone

from kebu.customers.models import Customer
from kebu.insights import clusters
from kebu.insights.models import InsightRun
from kebu.orders.models import Category, CustomerCategorySpend

# The shop's biggest top categories get a feature each, the rest share "other": more would split the
# customers by ever smaller slices of spend and make every description a list of categories.
TOP_CATEGORIES = 8
CHUNK = 20_000


def _customer_figures(*, now: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ids (ascending), days since the last order, orders and net spend of the customers to cluster."""
    rows = (
        Customer.objects.filter(archived_at__isnull=True, order_count__gt=0, last_order_at__isnull=False)
        .order_by("pk")
        .values_list("pk", "order_count", "total_spent_cny", "last_order_at")
    )
    ids: list[int] = []
    orders: list[int] = []
    spent: list[float] = []
    recency: list[float] = []
    for pk, order_count, total_spent, last_order_at in rows.iterator(chunk_size=CHUNK):
        ids.append(pk)
        orders.append(order_count)
        spent.append(float(total_spent))
        recency.append((now - last_order_at).total_seconds() / 86400.0)
    return (
        np.asarray(ids, dtype=np.int64),
        np.maximum(np.asarray(recency, dtype=np.float64), 0.0),
        np.asarray(orders, dtype=np.float64),
        np.asarray(spent, dtype=np.float64),
    )


def _category_spend(ids: np.ndarray) -> tuple[np.ndarray, list[int | None]]:
    """The customers' spend per top category as an n × c matrix: the shop's biggest categories by net
    spend, then one "other" column (key None) when any spend is left for it."""
    rows = CustomerCategorySpend.objects.filter(spent_cny__gt=0).values_list(
        "customer_id", "category_id", "spent_cny"
    )
    customer_ids: list[int] = []
    category_ids: list[int] = []
    amounts: list[float] = []
    for customer_id, category_id, amount in rows.iterator(chunk_size=CHUNK):
        customer_ids.append(customer_id)
        category_ids.append(category_id)
        amounts.append(float(amount))
    who = np.asarray(customer_ids, dtype=np.int64)
    what = np.asarray(category_ids, dtype=np.int64)
    how_much = np.asarray(amounts, dtype=np.float64)
    # Rows of customers not clustered (archived ones) are dropped; ids are sorted, so a binary search.
    position = np.searchsorted(ids, who)
    inside = position < ids.size
    inside[inside] = ids[position[inside]] == who[inside]
    position, what, how_much = position[inside], what[inside], how_much[inside]
    if not how_much.size:
        return np.zeros((ids.size, 0)), []
    categories, column = np.unique(what, return_inverse=True)
    totals = np.bincount(column, weights=how_much)
    ranked = np.lexsort((categories, -totals))  # most spent first, the lower id on a tie
    top = ranked[:TOP_CATEGORIES]
    keys: list[int | None] = [int(categories[i]) for i in top]
    slot = np.full(categories.size, len(top), dtype=np.int64)
    slot[top] = np.arange(len(top))
    has_other = categories.size > len(top)
    if has_other:
        keys.append(None)
    matrix = np.zeros((ids.size, len(keys)))
    np.add.at(matrix, (position, slot[column]), how_much)
    return matrix, keys


def clusters_compute(*, run: InsightRun) -> dict[str, Any]:
    """Cluster the shop's customers with orders and describe each cluster (see ``kebu.insights.clusters``
    for the method). Deterministic for the same figures. Raises ``TooFewData`` below 200 such customers
    or when they are all alike. The result holds no customer, only per-cluster figures, the categories
    (id and name as of the run) and the silhouette of each k tried."""
    now = run.started_at or timezone.now()
    ids, recency, orders, spent = _customer_figures(now=now)
    matrix, keys = _category_spend(ids)
    result = clusters.cluster_customers(
        recency_days=recency, orders=orders, spent=spent, category_spend=matrix
    )
    result.pop("labels")
    names = Category.objects.in_bulk([key for key in keys if key is not None])
    result["categories"] = [
        {"id": key, "name": names[key].name if key in names else ""}
        if key is not None
        else {"id": None, "name": ""}
        for key in keys
    ]
    result["as_of"] = now.isoformat()
    return result
