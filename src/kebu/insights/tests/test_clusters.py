"""The clustering arithmetic and its words, without a database: k-means, the silhouette, the choice of k,
the traits and the description."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kebu.insights import clusters
from kebu.insights.errors import TooFewData


def blobs(
    *, centres: list[list[float]], per_blob: int, spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(len(centres)), per_blob)
    points = np.asarray(centres, dtype=float)[truth] + rng.normal(
        scale=spread, size=(truth.size, len(centres[0]))
    )
    return points, truth


def same_partition(labels: np.ndarray, truth: np.ndarray) -> bool:
    """Whether two labellings split the points the same way, whatever the cluster numbers."""
    pairs = set(zip(labels.tolist(), truth.tolist(), strict=True))
    return len(pairs) == len(set(labels.tolist())) == len(set(truth.tolist()))


def three_kinds_of_customer(n_each: int = 150, seed: int = 5) -> dict[str, np.ndarray]:
    """Tea regulars (recent, frequent, tea), skincare one-offs (long ago, one order, skincare) and gift
    buyers (middling recency, few big orders, gifts)."""
    rng = np.random.default_rng(seed)
    kind = np.repeat(np.arange(3), n_each)
    recency = np.select(
        [kind == 0, kind == 1],
        [rng.uniform(3, 25, kind.size), rng.uniform(200, 400, kind.size)],
        rng.uniform(50, 90, kind.size),
    )
    orders = np.select(
        [kind == 0, kind == 1],
        [rng.integers(6, 12, kind.size), np.ones(kind.size)],
        rng.integers(2, 4, kind.size),
    ).astype(float)
    per_order = np.select(
        [kind == 0, kind == 1],
        [rng.uniform(80, 120, kind.size), rng.uniform(60, 100, kind.size)],
        rng.uniform(600, 900, kind.size),
    )
    spent = orders * per_order
    category_spend = np.zeros((kind.size, 3))  # tea, skincare, gifts
    category_spend[np.arange(kind.size), kind] = spent
    return {
        "kind": kind,
        "recency_days": recency,
        "orders": orders,
        "spent": spent,
        "category_spend": category_spend,
    }


# ------------------------------------------------------------------------------------- k-means


def test_kmeans_finds_well_separated_groups():
    points, truth = blobs(centres=[[0, 0], [6, 0], [0, 6]], per_blob=100, spread=0.5, seed=1)
    model = clusters.kmeans_fit(points, k=3, seed=2)
    assert model is not None
    assert same_partition(model.labels, truth)


def test_kmeans_gives_up_when_there_are_fewer_distinct_points_than_clusters():
    points = np.array([[1.0, 1.0]] * 10 + [[2.0, 2.0]] * 10)
    assert clusters.kmeans_fit(points, k=3, seed=1) is None


def test_kmeans_is_deterministic_for_a_seed():
    points, _truth = blobs(centres=[[0, 0], [3, 0], [0, 3], [3, 3]], per_blob=50, spread=1.0, seed=3)
    first = clusters.kmeans_fit(points, k=4, seed=9)
    second = clusters.kmeans_fit(points, k=4, seed=9)
    assert first is not None and second is not None
    assert np.array_equal(first.labels, second.labels) and np.array_equal(first.centroids, second.centroids)


def test_silhouette_matches_its_definition_computed_point_by_point():
    points, _truth = blobs(centres=[[0, 0], [2, 1], [0, 3]], per_blob=15, spread=0.8, seed=4)
    labels = np.array([0] * 15 + [1] * 15 + [2] * 14 + [1])  # one point deliberately misplaced
    expected = []
    for i, point in enumerate(points):
        distance = np.sqrt(((points - point) ** 2).sum(axis=1))
        own = (labels == labels[i]) & (np.arange(len(points)) != i)
        a = distance[own].mean()
        b = min(distance[labels == other].mean() for other in set(labels.tolist()) - {labels[i]})
        expected.append((b - a) / max(a, b))
    assert clusters.silhouette_mean(points, labels, chunk=7) == pytest.approx(np.mean(expected), rel=1e-9)


def test_silhouette_of_a_point_alone_in_its_cluster_is_zero():
    points = np.array([[0.0], [0.1], [0.2], [10.0]])
    labels = np.array([0, 0, 0, 1])
    a = np.array([0.15, 0.1, 0.15])
    b = np.array([10.0, 9.9, 9.8])
    assert clusters.silhouette_mean(points, labels) == pytest.approx(np.sum((b - a) / b) / 4)


# --------------------------------------------------------------------------- clustering customers


def test_three_kinds_of_customer_are_found_as_three_clusters():
    shop = three_kinds_of_customer()
    kind = shop.pop("kind")
    result = clusters.cluster_customers(**shop)
    assert result["k"] == 3
    assert same_partition(result["labels"], kind)


def test_k_is_the_one_with_the_highest_silhouette_of_those_tried():
    shop = three_kinds_of_customer()
    shop.pop("kind")
    result = clusters.cluster_customers(**shop)
    assert [row["k"] for row in result["silhouette"]] == list(range(2, 9))
    assert result["best_silhouette"] == max(row["score"] for row in result["silhouette"])
    assert (
        next(row for row in result["silhouette"] if row["k"] == result["k"])["score"]
        == result["best_silhouette"]
    )
    assert result["weak"] is False


def test_each_cluster_is_described_by_how_it_differs_from_the_shop():
    shop = three_kinds_of_customer()
    kind = shop.pop("kind")
    result = clusters.cluster_customers(**shop)
    by_kind = {int(k): result["clusters"][int(result["labels"][kind == k][0])] for k in range(3)}
    tea, skincare, gifts = by_kind[0], by_kind[1], by_kind[2]
    assert tea["traits"] == ["recent", "frequent"] and tea["heavy"] == [0]
    assert skincare["traits"] == ["lapsed", "one_off", "low_spend"] and skincare["heavy"] == [1]
    assert "high_spend" in gifts["traits"] and gifts["heavy"] == [2]


def test_clusters_come_largest_average_spend_first_and_are_numbered_so():
    shop = three_kinds_of_customer()
    shop.pop("kind")
    result = clusters.cluster_customers(**shop)
    means = [c["spent_mean"] for c in result["clusters"]]
    assert means == sorted(means, reverse=True)
    assert [c["number"] for c in result["clusters"]] == [1, 2, 3]
    sizes = np.bincount(result["labels"])
    assert [c["size"] for c in result["clusters"]] == sizes.tolist()


def test_customers_alike_in_rfm_are_still_told_apart_by_what_they_buy():
    rng = np.random.default_rng(8)
    n = 300
    likes_tea = np.arange(n) < n // 2
    spent = rng.uniform(180, 220, n)
    category_spend = np.column_stack([np.where(likes_tea, spent, 0.0), np.where(likes_tea, 0.0, spent)])
    result = clusters.cluster_customers(
        recency_days=rng.uniform(20, 30, n),
        orders=np.full(n, 2.0),
        spent=spent,
        category_spend=category_spend,
    )
    assert same_partition(result["labels"], likes_tea.astype(int))


def test_the_same_figures_give_the_same_clusters():
    shop = three_kinds_of_customer()
    shop.pop("kind")
    first = clusters.cluster_customers(**shop)
    second = clusters.cluster_customers(**shop)
    assert np.array_equal(first.pop("labels"), second.pop("labels"))
    assert first == second


def test_the_result_is_json_apart_from_the_labels():
    shop = three_kinds_of_customer()
    shop.pop("kind")
    result = clusters.cluster_customers(**shop)
    result.pop("labels")
    assert json.loads(json.dumps(result)) == result


def test_fewer_than_two_hundred_customers_are_too_few():
    shop = three_kinds_of_customer(n_each=66)
    shop.pop("kind")
    with pytest.raises(TooFewData, match="at least 200 customers"):
        clusters.cluster_customers(**shop)


def test_customers_all_alike_have_no_clusters_to_find():
    n = 250
    with pytest.raises(TooFewData, match="all alike"):
        clusters.cluster_customers(
            recency_days=np.full(n, 10.0),
            orders=np.full(n, 3.0),
            spent=np.full(n, 300.0),
            category_spend=np.ones((n, 2)),
        )


def test_one_round_cloud_of_customers_is_flagged_as_weak_clusters():
    # k-means slices even a single cloud into "clusters"; the silhouette tells such slices from groups.
    rng = np.random.default_rng(11)
    n = 600
    result = clusters.cluster_customers(
        recency_days=rng.lognormal(3, 0.8, n),
        orders=rng.lognormal(1, 0.5, n) + 1,
        spent=rng.lognormal(5, 0.8, n),
        category_spend=np.zeros((n, 0)),
    )
    assert result["best_silhouette"] < clusters.WEAK_SILHOUETTE
    assert result["weak"] is True


# ------------------------------------------------------------------------------------ the words


def test_description_puts_traits_categories_and_typical_figures_into_words():
    cluster = {
        "traits": ["recent", "frequent", "high_spend"],
        "heavy": [1],
        "recency_days_median": 19.6,
        "orders_median": 6.0,
        "spent_median": 1850.4,
    }
    text = clusters.cluster_description(cluster, category_names=["Skincare", "Tea"])
    assert text == (
        "bought recently, frequent buyers, high spend, mostly Tea; last order about 20 days ago, "
        "typically 6 orders and ¥1,850 spent"
    )


def test_description_of_an_average_cluster_says_so():
    cluster = {
        "traits": [],
        "heavy": [],
        "recency_days_median": 1.0,
        "orders_median": 1.0,
        "spent_median": 99.0,
    }
    text = clusters.cluster_description(cluster, category_names=[])
    assert text == "close to the shop's average; last order about 1 day ago, typically 1 order and ¥99 spent"
