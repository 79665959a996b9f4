"""FP-Growth finds exactly the itemsets a brute-force count finds, and the rules' measures are the
textbook formulas; baskets read in chunks are the baskets, wherever the chunks cut."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kebu.insights.fpgrowth import BasketBuilder, Baskets, association_rules, frequent_itemsets

transactions = st.lists(st.lists(st.integers(min_value=1, max_value=9), max_size=7), max_size=40)


def brute_force(rows: list[list[int]], *, min_count: int, max_size: int) -> dict[tuple[int, ...], int]:
    """Every subset of every basket, counted: the definition itself."""
    counts: Counter[tuple[int, ...]] = Counter()
    for row in rows:
        items = sorted(set(row))
        for size in range(1, max_size + 1):
            counts.update(combinations(items, size))
    return {itemset: n for itemset, n in counts.items() if n >= min_count}


@settings(max_examples=300, deadline=None)
@given(rows=transactions, min_count=st.integers(min_value=1, max_value=6), max_size=st.integers(1, 4))
def test_fp_growth_finds_exactly_the_frequent_itemsets_and_their_counts(rows, min_count, max_size):
    found = frequent_itemsets(Baskets.from_lists(rows), min_count=min_count, max_size=max_size)

    assert found == brute_force(rows, min_count=min_count, max_size=max_size)


@settings(max_examples=200, deadline=None)
@given(rows=transactions, min_count=st.integers(min_value=1, max_value=4), min_confidence=st.floats(0, 1))
def test_rules_measures_are_support_confidence_and_lift_by_their_formulas(rows, min_count, min_confidence):
    itemsets = brute_force(rows, min_count=min_count, max_size=3)
    n = sum(1 for row in rows if row)

    rules = association_rules(
        frequent_itemsets(Baskets.from_lists(rows), min_count=min_count, max_size=3),
        n_baskets=n,
        min_confidence=min_confidence,
    )

    expected = set()
    for itemset, together in itemsets.items():
        for y in itemset if len(itemset) > 1 else ():
            x = tuple(i for i in itemset if i != y)
            confidence = together / itemsets[x]
            lift = confidence / (itemsets[(y,)] / n)
            if confidence >= min_confidence and lift > 1:
                expected.add((x, y))
                rule = next(r for r in rules if (r.antecedent, r.consequent) == (x, y))
                assert rule.orders == together
                assert rule.support == pytest.approx(together / n)
                assert rule.confidence == pytest.approx(confidence)
                assert rule.lift == pytest.approx(lift)
    assert {(r.antecedent, r.consequent) for r in rules} == expected


def test_a_known_rule_has_its_hand_computed_measures():
    # 10 baskets: tea 5 times, teapot 4, both together 3.
    rows = [[1, 2]] * 3 + [[1]] * 2 + [[2]] + [[3]] * 4

    rules = association_rules(frequent_itemsets(Baskets.from_lists(rows), min_count=2), n_baskets=10)

    tea_pot = next(r for r in rules if r.antecedent == (1,) and r.consequent == 2)
    assert (tea_pot.orders, tea_pot.antecedent_orders, tea_pot.consequent_orders) == (3, 5, 4)
    assert tea_pot.support == pytest.approx(0.3)
    assert tea_pot.confidence == pytest.approx(0.6)
    assert tea_pot.lift == pytest.approx(0.6 / 0.4)


def test_rules_no_likelier_together_than_apart_are_left_out():
    # 12 baskets: items 1 and 2 each in half of them, together in a quarter: lift exactly 1.
    rows = [[1, 2], [1], [2], [3]] * 3

    rules = association_rules(frequent_itemsets(Baskets.from_lists(rows), min_count=1), n_baskets=12)

    assert rules == []


def test_single_item_baskets_count_for_support_but_never_form_pairs():
    rows = [[7]] * 50 + [[7, 8]] * 2

    found = frequent_itemsets(Baskets.from_lists(rows), min_count=2)

    assert found == {(7,): 52, (8,): 2, (7, 8): 2}


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 30), st.integers(1, 9)), max_size=200),
    cuts=st.lists(st.integers(1, 25), min_size=1, max_size=30),
)
def test_baskets_read_in_chunks_are_the_same_wherever_the_chunks_cut(rows, cuts):
    rows = sorted(rows, key=lambda row: row[0])
    builder, start, k = BasketBuilder(), 0, 0
    while start < len(rows):
        chunk = rows[start : start + cuts[k % len(cuts)]]
        builder.add([key for key, _ in chunk], [item for _, item in chunk])
        start, k = start + len(chunk), k + 1

    baskets = builder.finish()

    by_key: dict[int, set[int]] = {}
    for key, item in rows:
        by_key.setdefault(key, set()).add(item)
    expected = Baskets.from_lists([by_key[key] for key in sorted(by_key)])
    assert baskets.sizes.tolist() == expected.sizes.tolist()
    assert baskets.items.tolist() == expected.items.tolist()


def test_rows_out_of_basket_order_are_refused():
    builder = BasketBuilder()
    builder.add([1, 2], [5, 6])

    with pytest.raises(ValueError):
        builder.add(np.array([1]), np.array([7]))
