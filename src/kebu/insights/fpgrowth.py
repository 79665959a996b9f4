"""Frequent itemsets by FP-Growth (Han, Pei & Yin 2000, "Mining frequent patterns without candidate
generation") and association rules X → y with one consequent: support, confidence and lift.

Pure Python and numpy, no database and no association-rule package: the baskets arrive as two flat arrays
(:class:`Baskets`), built chunk by chunk from rows sorted by basket (:class:`BasketBuilder`), so that
millions of orders are read in one pass and held in a few bytes per line.

What keeps it fast at shop scale, none of which changes the result:

- items are counted over every basket with numpy, and those below the minimum count are dropped before
  the tree is built (an itemset is never more frequent than its rarest item);
- baskets left with fewer than two items go into the counts but not into the tree (they hold no pair);
- identical baskets are merged with numpy first (``np.unique`` per basket length) and inserted once with
  their weight: a shop's baskets repeat a lot;
- mining stops at ``max_size`` items: at the last level the conditional pattern base is only counted,
  no conditional tree is built.

Items are ints (product ids); an itemset is a tuple of them in ascending order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.integer[Any]]
Itemset = tuple[int, ...]
# Baskets ranked at a time (see _ranked_transactions): ~10 MB of temporaries per slice.
_SLICE_BASKETS = 200_000
_INT32_MAX = np.iinfo(np.int32).max


@dataclass(frozen=True)
class Baskets:
    """Baskets as two flat arrays: basket ``k`` holds ``sizes[k]`` items, stored one basket after another
    in ``items``; within a basket the items are distinct and ascending. Empty baskets are not stored."""

    sizes: IntArray
    items: IntArray

    @classmethod
    def from_lists(cls, transactions: Iterable[Iterable[int]]) -> Baskets:
        """From plain lists (duplicates within a list count once, empty lists are dropped)."""
        rows = [sorted(set(t)) for t in transactions]
        rows = [r for r in rows if r]
        sizes = np.array([len(r) for r in rows], dtype=np.int64)
        items = np.array([i for r in rows for i in r], dtype=np.int64)
        return cls(sizes=sizes, items=items)

    @property
    def count(self) -> int:
        return int(self.sizes.size)

    @property
    def multi_item(self) -> int:
        """How many baskets hold two items or more (the only ones that can say what goes together)."""
        return int(np.count_nonzero(self.sizes >= 2))

    @cached_property
    def _item_counts(self) -> tuple[IntArray, IntArray]:
        values, counts = np.unique(self.items, return_counts=True)
        return values.astype(np.int64), counts.astype(np.int64)

    def item_counts(self) -> tuple[IntArray, IntArray]:
        """Each item (ascending) and the number of baskets that hold it; counted once per basket set."""
        return self._item_counts


@dataclass
class BasketBuilder:
    """Collects (basket key, item) rows that arrive sorted by basket key, in chunks of any size, into
    :class:`Baskets`. A basket may straddle two chunks: the last basket of a chunk is held back until the
    next chunk (or :meth:`finish`) shows it is complete, so duplicates within it are merged whole."""

    _sizes: list[IntArray] = field(default_factory=list)
    _items: list[IntArray] = field(default_factory=list)
    _held_keys: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    _held_items: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def add(self, keys: npt.ArrayLike, items: npt.ArrayLike) -> None:
        keys = np.concatenate([self._held_keys, np.asarray(keys, dtype=np.int64)])
        items = np.concatenate([self._held_items, np.asarray(items, dtype=np.int64)])
        if keys.size == 0:
            return
        if keys.size > 1 and np.any(keys[1:] < keys[:-1]):
            raise ValueError("rows must arrive sorted by basket key")
        cut = int(np.searchsorted(keys, keys[-1], side="left"))
        self._held_keys, self._held_items = keys[cut:], items[cut:]
        self._close(keys[:cut], items[:cut])

    def finish(self) -> Baskets:
        self._close(self._held_keys, self._held_items)
        self._held_keys = self._held_items = np.empty(0, dtype=np.int64)
        if not self._sizes:
            return Baskets(sizes=np.empty(0, dtype=np.int64), items=np.empty(0, dtype=np.int64))
        return Baskets(sizes=np.concatenate(self._sizes), items=np.concatenate(self._items))

    def _close(self, keys: IntArray, items: IntArray) -> None:
        """Whole baskets: order each one's items and drop an item listed twice (two lines, one product)."""
        if keys.size == 0:
            return
        order = np.lexsort((items, keys))
        keys, items = keys[order], items[order]
        keep = np.ones(keys.size, dtype=bool)
        keep[1:] = (keys[1:] != keys[:-1]) | (items[1:] != items[:-1])
        keys, items = keys[keep], items[keep]
        _values, sizes = np.unique(keys, return_counts=True)
        # Held as int32 where they fit (product ids do, in any shop): 16M lines then take 64 MB, not 128.
        self._sizes.append(sizes.astype(np.int32))
        self._items.append(items.astype(np.int32) if items.max() <= _INT32_MAX else items)


@dataclass(frozen=True)
class FPTree:
    """An FP-tree in parallel numpy arrays: node ``n`` holds ``item[n]`` (a rank, 0 = most frequent item),
    the weight ``count[n]`` of the transactions through it and its ``parent[n]``; node 0 is the root. A
    node is one distinct prefix of the transactions, each read in ascending rank, so identical baskets
    share their path. Arrays rather than node objects: a shop's tree has millions of nodes, at 24 bytes
    each here against a few hundred as Python objects. ``header_nodes[header_starts[i]:header_starts[i+1]]``
    are item ``i``'s nodes: the header table's node-links, as one sorted array and its offsets."""

    item: IntArray
    count: IntArray
    parent: IntArray
    header_nodes: IntArray
    header_starts: IntArray

    @classmethod
    def build(cls, *, path_of: IntArray, items: IntArray, weights: IntArray, n_items: int) -> FPTree:
        """From transactions given element by element, sorted by transaction then rank: ``path_of[e]``
        the transaction of element ``e``, ``items[e]`` its rank, ``weights[t]`` transaction ``t``'s
        weight. Built depth by depth: the nodes at depth ``d`` are the distinct (parent, item) pairs of
        the transactions' ``d``-th elements."""
        stride = n_items + 1
        n_paths = int(weights.size)
        starts = np.searchsorted(path_of, np.arange(n_paths + 1, dtype=np.int64))
        lengths = np.diff(starts)
        node_of_path = np.zeros(n_paths, dtype=np.int64)
        item, count, parent = [np.array([-1])], [np.array([0])], [np.array([-1])]
        n_nodes, depth = 1, 0
        paths = np.flatnonzero(lengths > 0)
        while paths.size:
            elements = starts[paths] + depth
            keys, inverse = np.unique(
                node_of_path[paths] * stride + items[elements].astype(np.int64), return_inverse=True
            )
            parent.append(keys // stride)
            item.append(keys % stride)
            count.append(_weighted_count(inverse, weights[paths], keys.size))
            node_of_path[paths] = n_nodes + inverse
            n_nodes += keys.size
            depth += 1
            paths = paths[lengths[paths] > depth]
        item_array = np.concatenate(item).astype(np.int64)
        header_nodes = np.argsort(item_array[1:], kind="stable") + 1
        header_starts = np.searchsorted(item_array[header_nodes], np.arange(n_items + 1))
        return cls(
            item=item_array,
            count=np.concatenate(count).astype(np.int64),
            parent=np.concatenate(parent).astype(np.int64),
            header_nodes=header_nodes.astype(np.int64),
            header_starts=header_starts.astype(np.int64),
        )

    def nodes_of(self, item: int) -> IntArray:
        return self.header_nodes[self.header_starts[item] : self.header_starts[item + 1]]

    def items_present(self) -> list[int]:
        """The items with at least one node, ascending rank."""
        return np.flatnonzero(np.diff(self.header_starts) > 0).tolist()

    def prefix_paths(self, item: int) -> tuple[IntArray, IntArray, IntArray]:
        """The conditional pattern base of ``item``: for each of its nodes, the path above it (without
        the root) and the node's count, as (path of each element, rank of each element, weight of each
        path); elements sorted by path then rank, as :meth:`build` takes them."""
        nodes = self.nodes_of(item)
        weights = self.count[nodes]
        path_ids = np.arange(nodes.size, dtype=np.int64)
        up = self.parent[nodes]
        parts_path, parts_item = [], []
        while True:
            inside = up > 0
            if not inside.any():
                break
            path_ids, up = path_ids[inside], up[inside]
            parts_path.append(path_ids)
            parts_item.append(self.item[up])
            up = self.parent[up]
        if not parts_path:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, weights
        path_of, items = np.concatenate(parts_path), np.concatenate(parts_item)
        order = np.lexsort((items, path_of))
        return path_of[order], items[order], weights


def _weighted_count(groups: IntArray, weights: IntArray, size: int) -> IntArray:
    """Sum of integer ``weights`` per group, exactly (``np.bincount`` would sum them as floats)."""
    total = np.zeros(size, dtype=np.int64)
    np.add.at(total, groups, weights)
    return total


def frequent_itemsets(baskets: Baskets, *, min_count: int, max_size: int = 3) -> dict[Itemset, int]:
    """Every itemset of at most ``max_size`` items held by at least ``min_count`` baskets, with the number
    of baskets that hold it (all of them: a basket's size does not matter)."""
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    if max_size < 1:
        raise ValueError("max_size must be at least 1")
    values, counts = baskets.item_counts()
    frequent = counts >= min_count
    # Rank 0 is the most frequent item; ties go by item so that a run is reproducible.
    order = np.lexsort((values[frequent], -counts[frequent]))
    ranked_items = values[frequent][order]
    ranked_counts = counts[frequent][order]
    result: dict[Itemset, int] = {
        (int(item),): int(n) for item, n in zip(ranked_items, ranked_counts, strict=True)
    }
    if max_size == 1 or ranked_items.size < 2:
        return result
    path_of, ranks, n_paths = _ranked_transactions(baskets, ranked_items)
    if n_paths == 0:
        return result
    n_items = int(ranked_items.size)
    tree = FPTree.build(
        path_of=path_of, items=ranks, weights=np.ones(n_paths, dtype=np.int64), n_items=n_items
    )
    names = ranked_items.tolist()
    # Least frequent first, as FP-Growth goes; the order changes nothing in what is found.
    for rank in reversed(tree.items_present()):
        _grow(tree.prefix_paths(rank), (rank,), result, names, min_count, max_size, n_items)
    return result


def _ranked_transactions(baskets: Baskets, ranked_items: IntArray) -> tuple[IntArray, IntArray, int]:
    """The baskets with two frequent items or more, as elements sorted by basket then rank: (basket of
    each element, renumbered from 0; rank of each element; number of such baskets). Worked through in
    slices of whole baskets into preallocated int32 arrays, so the temporaries stay a slice's size
    however many baskets there are."""
    by_value = np.argsort(ranked_items)
    values = ranked_items[by_value]
    path_out = np.empty(baskets.items.size, dtype=np.int32)
    rank_out = np.empty(baskets.items.size, dtype=np.int32)
    filled = n_paths = first = start = 0
    while first < baskets.count:
        last = min(baskets.count, first + _SLICE_BASKETS)
        sizes = baskets.sizes[first:last]
        end = start + int(sizes.sum())
        items = baskets.items[start:end]
        basket_of = np.repeat(np.arange(last - first, dtype=np.int64), sizes)
        position = np.minimum(np.searchsorted(values, items), values.size - 1)
        known = values[position] == items
        basket_of, rank = basket_of[known], by_value[position[known]]
        several = np.bincount(basket_of, minlength=last - first)[basket_of] >= 2
        basket_of, rank = basket_of[several], rank[several]
        order = np.lexsort((rank, basket_of))
        kept, renumbered = np.unique(basket_of[order], return_inverse=True)
        path_out[filled : filled + order.size] = renumbered + n_paths
        rank_out[filled : filled + order.size] = rank[order]
        filled += order.size
        n_paths += int(kept.size)
        first, start = last, end
    return path_out[:filled], rank_out[:filled], n_paths


def _grow(
    base: tuple[IntArray, IntArray, IntArray],
    suffix: tuple[int, ...],
    result: dict[Itemset, int],
    names: list[int],
    min_count: int,
    max_size: int,
    n_items: int,
) -> None:
    """Extend the itemset ``suffix`` (ranks) by each item frequent in its conditional pattern ``base``,
    then mine the conditional FP-tree of those items, until itemsets have ``max_size`` items."""
    path_of, items, weights = base
    if items.size == 0:
        return
    counts = _weighted_count(items, weights[path_of], n_items)
    frequent = np.flatnonzero(counts >= min_count)
    for item in frequent.tolist():
        result[tuple(sorted(names[r] for r in (*suffix, item)))] = int(counts[item])
    if frequent.size == 0 or len(suffix) + 1 >= max_size:
        return
    keep = counts[items] >= min_count
    path_of, items = path_of[keep], items[keep]
    if items.size == 0:
        return
    # Paths left empty keep their number (weight unused), so the weights array needs no renumbering.
    tree = FPTree.build(path_of=path_of, items=items, weights=weights, n_items=n_items)
    for item in reversed(tree.items_present()):
        _grow(tree.prefix_paths(item), (*suffix, item), result, names, min_count, max_size, n_items)


@dataclass(frozen=True)
class Rule:
    """X → y: of the baskets holding every item of ``antecedent``, ``confidence`` also hold ``consequent``.

    - ``orders``: baskets holding X and y; ``antecedent_orders``, ``consequent_orders``: X's and y's own;
    - ``support`` = orders / all baskets; ``confidence`` = orders / antecedent_orders;
    - ``lift`` = confidence / (consequent_orders / all baskets): how many times likelier y is with X than
      in any basket (above 1, X raises the chance of y)."""

    antecedent: Itemset
    consequent: int
    orders: int
    antecedent_orders: int
    consequent_orders: int
    support: float
    confidence: float
    lift: float


def association_rules(
    itemsets: Mapping[Itemset, int],
    *,
    n_baskets: int,
    min_confidence: float = 0.0,
    min_lift: float = 1.0,
) -> list[Rule]:
    """Every rule X → y from the itemsets of two items or more (y one of them, X the rest) whose
    confidence is at least ``min_confidence`` and whose lift is above ``min_lift``. ``itemsets`` must be
    closed under subsets, as :func:`frequent_itemsets` gives them; best confidence first."""
    rules = []
    for itemset, orders in itemsets.items():
        if len(itemset) < 2:
            continue
        for consequent in itemset:
            antecedent = tuple(item for item in itemset if item != consequent)
            antecedent_orders = itemsets[antecedent]
            consequent_orders = itemsets[(consequent,)]
            confidence = orders / antecedent_orders
            lift = orders * n_baskets / (antecedent_orders * consequent_orders)
            if confidence >= min_confidence and lift > min_lift:
                rules.append(
                    Rule(
                        antecedent=antecedent,
                        consequent=consequent,
                        orders=orders,
                        antecedent_orders=antecedent_orders,
                        consequent_orders=consequent_orders,
                        support=orders / n_baskets,
                        confidence=confidence,
                        lift=lift,
                    )
                )
    rules.sort(key=lambda r: (-r.confidence, -r.lift, r.antecedent, r.consequent))
    return rules
