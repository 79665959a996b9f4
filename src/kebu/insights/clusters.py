"""Customer clusters: k-means on each customer's standardised recency, frequency, spend and category mix,
the number of clusters chosen by silhouette, each cluster described against the shop's average.

Pure numpy (no scikit-learn: one small, well-understood algorithm is cheaper to own than a dependency),
deterministic for a given input and seed, set-based over all customers at once. The service
(services/clusters.py) reads the figures; this module does the arithmetic and the words.

Method, and why:

- Features: log(1 + days since the last order), log(orders), log(1 + net spend), and the share of the
  customer's categorised spend in each of the shop's top categories (the rest summed as "other"). Logs
  because all three are heavily skewed: without them one big spender is a cluster of their own.
- Each feature is standardised (mean 0, standard deviation 1); the category shares together are then
  scaled to weigh as much as recency, frequency and spend together, so eight categories do not drown
  the three RFM figures (or the reverse).
- k-means (k-means++ start, best of a few starts) is fitted for each k from 2 to 8 on a sample, and k is
  the one with the highest mean silhouette on a smaller sample (the silhouette costs n² distances, so
  5,000 customers, which estimate it to about ±0.01). The chosen solution is then refined on every
  customer and each customer assigned to their nearest centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from kebu.insights.messages import too_few

__all__ = [
    "MIN_CUSTOMERS",
    "KMeans",
    "cluster_customers",
    "cluster_description",
    "kmeans_assign",
    "kmeans_fit",
    "silhouette_mean",
]

MIN_CUSTOMERS = 200
K_RANGE = range(2, 9)
SILHOUETTE_SAMPLE = 5_000
FIT_SAMPLE = 20_000
SEED = 20240611
# A cluster's mean that differs from the shop's by more than this many standard deviations earns a word
# ("frequent", "lapsed"); below it the cluster is "about average" on that figure.
TRAIT_Z = 0.5
# A category is "the cluster's" when it takes at least this share of the cluster's spend and 1.5 times
# the shop's share: big in absolute terms and notably bigger than usual.
HEAVY_SHARE = 0.3
HEAVY_LIFT = 1.5
# Kaufman & Rousseeuw's reading of a mean silhouette ("Finding Groups in Data", 1990): from 0.51 a
# reasonable structure; 0.26–0.50 weak and could be artificial; below, none. k-means cuts even a single
# round cloud of customers into slices with a silhouette of ~0.3, so below 0.5 the page says the clusters
# are slices of a continuum rather than distinct kinds of customers.
WEAK_SILHOUETTE = 0.5


@dataclass(frozen=True)
class KMeans:
    centroids: np.ndarray  # k × d
    labels: np.ndarray  # n, ints in 0..k-1
    inertia: float  # sum of squared distances to the assigned centre


def _squared_distances(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    # |x−c|² = |x|² − 2x·c + |c|²: one matrix product instead of an n × k × d array.
    distances = (
        np.einsum("ij,ij->i", points, points)[:, None]
        - 2.0 * points @ centroids.T
        + np.einsum("ij,ij->i", centroids, centroids)[None, :]
    )
    return np.maximum(distances, 0.0)


def kmeans_assign(points: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Each point's nearest centre (the lower index on a tie)."""
    return np.argmin(_squared_distances(points, centroids), axis=1)


def _plus_plus(points: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray | None:
    """k-means++ centres (Arthur & Vassilvitskii 2007), or None when there are fewer than k distinct
    points."""
    n = points.shape[0]
    centres = [points[rng.integers(n)]]
    nearest = _squared_distances(points, centres[0][None, :])[:, 0]
    for _index in range(1, k):
        total = float(nearest.sum())
        if total <= 0.0:
            return None
        choice = int(rng.choice(n, p=nearest / total))
        centres.append(points[choice])
        nearest = np.minimum(nearest, _squared_distances(points, points[choice][None, :])[:, 0])
    return np.array(centres)


def _lloyd(points: np.ndarray, centroids: np.ndarray, *, max_iter: int, tolerance: float = 1e-4) -> KMeans:
    k, d = centroids.shape
    labels = kmeans_assign(points, centroids)
    for _iteration in range(max_iter):
        counts = np.bincount(labels, minlength=k)
        sums = np.column_stack([np.bincount(labels, weights=points[:, j], minlength=k) for j in range(d)])
        moved = sums / np.maximum(counts, 1)[:, None]
        empty = counts == 0
        if empty.any():
            # An empty cluster takes the points farthest from their centres, so k stays k.
            far = np.argsort(-_squared_distances(points, centroids)[np.arange(points.shape[0]), labels])
            moved[empty] = points[far[: int(empty.sum())]]
        shift = float(np.abs(moved - centroids).max())
        centroids = moved
        new_labels = kmeans_assign(points, centroids)
        # Stop when nobody moves, or when the centres have settled to well below the precision any
        # description shows (features are in standard deviations): on a million customers the last few
        # hundred points hopping between neighbouring clusters would otherwise cost dozens of passes.
        if np.array_equal(new_labels, labels) or shift < tolerance:
            labels = new_labels
            break
        labels = new_labels
    inertia = float(_squared_distances(points, centroids)[np.arange(points.shape[0]), labels].sum())
    return KMeans(centroids=centroids, labels=labels, inertia=inertia)


def kmeans_fit(
    points: np.ndarray, *, k: int, seed: int, starts: int = 3, max_iter: int = 100
) -> KMeans | None:
    """The best (least inertia) of ``starts`` k-means runs from k-means++ centres; deterministic for a
    given seed. None when the points have fewer than k distinct values."""
    rng = np.random.default_rng(seed)
    best: KMeans | None = None
    for _start in range(starts):
        centres = _plus_plus(points, k, rng)
        if centres is None:
            return None
        result = _lloyd(points, centres, max_iter=max_iter)
        if best is None or result.inertia < best.inertia:
            best = result
    return best


def silhouette_mean(points: np.ndarray, labels: np.ndarray, *, chunk: int = 1000) -> float:
    """Mean silhouette (Rousseeuw 1987) with Euclidean distances: for each point, b − a over max(a, b),
    a its mean distance to its own cluster's other points, b to the nearest other cluster's; 0 for a
    point alone in its cluster. O(n²) time, O(chunk · n) memory."""
    n = points.shape[0]
    k = int(labels.max()) + 1
    one_hot = np.zeros((n, k))
    one_hot[np.arange(n), labels] = 1.0
    sizes = one_hot.sum(axis=0)
    scores = np.empty(n)
    norms = np.einsum("ij,ij->i", points, points)
    for start in range(0, n, chunk):
        block = points[start : start + chunk]
        squared = norms[start : start + chunk, None] - 2.0 * block @ points.T + norms[None, :]
        sums = np.sqrt(np.maximum(squared, 0.0)) @ one_hot  # distance sums to each cluster
        own = labels[start : start + chunk]
        rows = np.arange(block.shape[0])
        own_size = sizes[own]
        a = np.where(own_size > 1, sums[rows, own] / np.maximum(own_size - 1, 1), 0.0)
        others = sums / np.where(sizes > 0, sizes, np.inf)[None, :]
        others[rows, own] = np.inf
        b = others.min(axis=1)
        denominator = np.maximum(a, b)
        scores[start : start + chunk] = np.where(
            (own_size > 1) & (denominator > 0), (b - a) / np.where(denominator > 0, denominator, 1.0), 0.0
        )
    return float(scores.mean())


# ----------------------------------------------------------------------------------------- features


def _category_shares(category_spend: np.ndarray) -> np.ndarray:
    """Each customer's share of categorised spend per category. A customer with none (only lines
    without a category) gets the shop's average mix: neutral, rather than a spurious "buys nothing"
    profile that would pull them into a cluster of their own."""
    totals = category_spend.sum(axis=1)
    known = totals > 0
    shares = np.zeros_like(category_spend)
    shares[known] = category_spend[known] / totals[known, None]
    if known.any():
        shares[~known] = shares[known].mean(axis=0)
    return shares


def _standardise(columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns scaled to mean 0 and standard deviation 1; a constant column becomes 0 (it separates
    nobody). Returns the scaled columns and which columns vary."""
    mean = columns.mean(axis=0)
    std = columns.std(axis=0)
    varies = std > 1e-12
    scaled = np.zeros_like(columns)
    scaled[:, varies] = (columns[:, varies] - mean[varies]) / std[varies]
    return scaled, varies


def _heavy(cluster_share: np.ndarray, shop_share: np.ndarray) -> list[int]:
    heavy = [
        int(i)
        for i in np.argsort(-cluster_share, kind="stable")
        if cluster_share[i] >= HEAVY_SHARE and cluster_share[i] >= HEAVY_LIFT * shop_share[i]
    ]
    return heavy[:2]


def _traits(z: dict[str, float], orders_median: float) -> list[str]:
    traits = []
    if z["recency"] <= -TRAIT_Z:
        traits.append("recent")
    elif z["recency"] >= TRAIT_Z:
        traits.append("lapsed")
    if orders_median <= 1 and z["frequency"] < 0:
        traits.append("one_off")
    elif z["frequency"] >= TRAIT_Z:
        traits.append("frequent")
    elif z["frequency"] <= -TRAIT_Z:
        traits.append("occasional")
    if z["monetary"] >= TRAIT_Z:
        traits.append("high_spend")
    elif z["monetary"] <= -TRAIT_Z:
        traits.append("low_spend")
    return traits


def cluster_customers(
    *,
    recency_days: np.ndarray,
    orders: np.ndarray,
    spent: np.ndarray,
    category_spend: np.ndarray,
    seed: int = SEED,
    k_range: range = K_RANGE,
    silhouette_sample: int = SILHOUETTE_SAMPLE,
    fit_sample: int = FIT_SAMPLE,
) -> dict[str, Any]:
    """Cluster the customers and describe each cluster. ``category_spend`` is n × c (the shop's top
    categories, then "other" if the caller keeps one), in the caller's column order, which the result's
    ``category_shares`` follow.

    Returns a JSON-ready dict: ``k``, ``silhouette`` per k tried, ``weak`` (no substantial structure),
    ``shop`` (medians and mix over everyone) and ``clusters`` (largest spend first: size, share, medians,
    mean standardised figures ``z``, category shares, ``traits`` and ``heavy`` category indexes), plus
    ``labels`` (each customer's cluster, in input order; not JSON, for the caller to drop or store).
    Raises TooFewData below ``MIN_CUSTOMERS`` customers or when they are all alike."""
    recency = np.asarray(recency_days, dtype=np.float64)
    n = recency.size
    if n < MIN_CUSTOMERS:
        raise too_few("clusters.customers", min=MIN_CUSTOMERS, n=n)
    orders = np.asarray(orders, dtype=np.float64)
    spent = np.maximum(np.asarray(spent, dtype=np.float64), 0.0)
    category_spend = np.asarray(category_spend, dtype=np.float64).reshape(n, -1)
    rfm = np.column_stack(
        [np.log1p(np.maximum(recency, 0.0)), np.log(np.maximum(orders, 1.0)), np.log1p(spent)]
    )
    rfm_z, rfm_varies = _standardise(rfm)
    shares = _category_shares(category_spend) if category_spend.shape[1] else np.zeros((n, 0))
    shares_z, shares_varies = _standardise(shares) if shares.shape[1] else (shares, np.zeros(0, dtype=bool))
    varying_shares = int(shares_varies.sum())
    if varying_shares:
        # The mix as a whole weighs as much as recency, frequency and spend together.
        shares_z = shares_z * np.sqrt(max(int(rfm_varies.sum()), 1) / varying_shares)
    points = np.column_stack([rfm_z, shares_z])[:, np.concatenate([rfm_varies, shares_varies])]
    if points.shape[1] == 0:  # with any varying column there are two distinct customers at least
        raise too_few("clusters.alike")

    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    fit_points = points[order[:fit_sample]]
    scored_points = fit_points[:silhouette_sample]
    silhouette: list[dict[str, Any]] = []
    fitted: dict[int, KMeans] = {}
    for k in k_range:
        model = kmeans_fit(fit_points, k=k, seed=seed + k)
        if model is None:
            break  # fewer distinct customers than k: larger k cannot do better
        labels = kmeans_assign(scored_points, model.centroids)
        if np.unique(labels).size < 2:
            continue
        fitted[k] = model
        silhouette.append({"k": k, "score": round(silhouette_mean(scored_points, labels), 4)})
    if not silhouette:
        raise too_few("clusters.alike")
    best = max(silhouette, key=lambda row: (row["score"], -row["k"]))
    k = int(best["k"])
    final = _lloyd(points, fitted[k].centroids, max_iter=50)
    labels = final.labels

    shop_shares = shares.mean(axis=0) if shares.shape[1] else np.zeros(0)
    clusters: list[dict[str, Any]] = []
    for index in range(k):
        members = labels == index
        size = int(members.sum())
        if not size:
            continue
        z = {
            name: float(rfm_z[members, column].mean())
            for column, name in enumerate(("recency", "frequency", "monetary"))
        }
        cluster_shares = shares[members].mean(axis=0) if shares.shape[1] else np.zeros(0)
        orders_median = float(np.median(orders[members]))
        clusters.append(
            {
                "size": size,
                "share": round(size / n, 4),
                "recency_days_median": round(float(np.median(recency[members])), 1),
                "orders_median": orders_median,
                "spent_median": round(float(np.median(spent[members])), 2),
                "spent_mean": round(float(spent[members].mean()), 2),
                "spent_total": round(float(spent[members].sum()), 2),
                "z": {name: round(value, 3) for name, value in z.items()},
                "category_shares": [round(float(s), 4) for s in cluster_shares],
                "traits": _traits(z, orders_median),
                "heavy": _heavy(cluster_shares, shop_shares),
                "_index": index,
            }
        )
    clusters.sort(key=lambda c: (-c["spent_mean"], -c["size"]))
    relabel = np.empty(k, dtype=np.int64)
    for position, cluster in enumerate(clusters):
        relabel[cluster.pop("_index")] = position
        cluster["number"] = position + 1
    return {
        "customers": n,
        "k": k,
        "silhouette": silhouette,
        "best_silhouette": best["score"],
        "weak": best["score"] < WEAK_SILHOUETTE,
        "sampled": int(scored_points.shape[0]),
        "seed": seed,
        "shop": {
            "recency_days_median": round(float(np.median(recency)), 1),
            "orders_median": float(np.median(orders)),
            "spent_median": round(float(np.median(spent)), 2),
            "spent_mean": round(float(spent.mean()), 2),
            "category_shares": [round(float(s), 4) for s in shop_shares],
        },
        "clusters": clusters,
        "labels": relabel[labels],
    }


# ------------------------------------------------------------------------------------------- words


def _trait_words() -> dict[str, str]:
    # Built at call time, in the reader's language (the run stores trait codes, not sentences).
    return {
        "recent": _("bought recently"),
        "lapsed": _("not bought for a while"),
        "one_off": _("one order so far"),
        "frequent": _("frequent buyers"),
        "occasional": _("occasional buyers"),
        "high_spend": _("high spend"),
        "low_spend": _("low spend"),
    }


def cluster_description(cluster: dict[str, Any], *, category_names: list[str]) -> str:
    """One cluster in plain words, e.g. "frequent buyers, high spend, mostly Tea; last order about 20
    days ago, typically 6 orders and ¥1,850 spent". Rendered when shown, in the reader's language."""
    words = _trait_words()
    parts = [words[trait] for trait in cluster.get("traits", []) if trait in words]
    heavy = [category_names[i] for i in cluster.get("heavy", []) if i < len(category_names)]
    if heavy:
        parts.append(_("mostly %(categories)s") % {"categories": _(" and ").join(heavy)})
    head = _(", ").join(parts) if parts else _("close to the shop's average")
    days = round(float(cluster["recency_days_median"]))
    orders = round(float(cluster["orders_median"]))
    tail = ngettext("last order about %(days)d day ago", "last order about %(days)d days ago", days) % {
        "days": days
    }
    typical = ngettext(
        "typically %(orders)d order and ¥%(spent)s spent",
        "typically %(orders)d orders and ¥%(spent)s spent",
        orders,
    ) % {"orders": orders, "spent": f"{float(cluster['spent_median']):,.0f}"}
    return _("%(traits)s; %(recency)s, %(typical)s") % {"traits": head, "recency": tail, "typical": typical}
