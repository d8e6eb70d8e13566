"""Laws of the built-in reduces: reducing everything equals rereducing the reductions of any
partition (what lets an index keep reductions per b-tree node), and the error values."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.views.js.builtins import BUILTINS, SUM_ERROR, erlang_w, sum_values

INTS = st.integers(-(2**40), 2**40)
# _sum adds numbers and arrays of numbers together, and objects of those with each other;
# integers only, so that the order of additions cannot round differently.
SUMMABLE_FLAT = st.lists(INTS | st.lists(INTS, max_size=4), min_size=1, max_size=30)
# Each member keeps one shape (a number in one object and an object in another is CouchDB's
# case_clause crash, tested against CouchDB elsewhere).
SUMMABLE_OBJECTS = st.lists(
    st.fixed_dictionaries(
        {},
        optional={"a": INTS, "b": INTS, "c": st.dictionaries(st.sampled_from("xy"), INTS)},
    ),
    min_size=1,
    max_size=30,
)
STATS_INPUT = st.lists(INTS, min_size=1, max_size=30) | st.lists(
    st.tuples(INTS, INTS).map(list), min_size=1, max_size=30
)
KEYS = st.recursive(
    st.none() | st.booleans() | INTS | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
    max_leaves=5,
)


def partition(items: list[Any], cuts: list[int]) -> list[list[Any]]:
    """Split ``items`` at the given positions (folded into range), keeping every part non-empty."""
    points = sorted({cut % len(items) for cut in cuts} - {0})
    bounds = [0, *points, len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds)]


def rows(values: list[Any]) -> list[Any]:
    return [[[f"k{i}", f"doc{i}"], value] for i, value in enumerate(values)]


def reduce_via_parts(name: str, kvs: list[Any], cuts: list[int]) -> Any:
    builtin = BUILTINS[name]
    return builtin.finalize(
        builtin.rereduce([builtin.reduce(part) for part in partition(kvs, cuts)])
    )


def reduce_whole(name: str, kvs: list[Any]) -> Any:
    builtin = BUILTINS[name]
    return builtin.finalize(builtin.reduce(kvs))


CUTS = st.lists(st.integers(0, 100), max_size=6)


@given(values=st.lists(st.none(), min_size=1, max_size=40), cuts=CUTS)
def test_count_of_all_is_the_sum_of_the_parts_counts(values: list[Any], cuts: list[int]) -> None:
    kvs = rows(values)
    assert reduce_via_parts("_count", kvs, cuts) == reduce_whole("_count", kvs) == len(values)


@given(values=SUMMABLE_FLAT | SUMMABLE_OBJECTS, cuts=CUTS)
def test_sum_of_all_is_the_sum_of_the_parts_sums(values: list[Any], cuts: list[int]) -> None:
    kvs = rows(values)
    assert reduce_via_parts("_sum", kvs, cuts) == reduce_whole("_sum", kvs)


@given(values=STATS_INPUT, cuts=CUTS)
def test_stats_of_all_are_the_stats_of_the_parts_stats(values: list[Any], cuts: list[int]) -> None:
    kvs = rows(values)
    whole = reduce_whole("_stats", kvs)
    assert reduce_via_parts("_stats", kvs, cuts) == whole
    first = whole[0] if isinstance(whole, list) else whole
    assert first["count"] == len(values)


@given(keys=st.lists(KEYS, min_size=1, max_size=40), cuts=CUTS)
def test_distinct_count_is_exact_and_partition_independent(
    keys: list[Any], cuts: list[int]
) -> None:
    kvs = [[[key, f"doc{i}"], None] for i, key in enumerate(keys)]
    distinct = len({erlang_w(key) for key in keys})  # ~w keeps object member order, as CouchDB
    assert reduce_via_parts("_approx_count_distinct", kvs, cuts) == distinct
    assert reduce_whole("_approx_count_distinct", kvs) == distinct


@given(values=SUMMABLE_FLAT, cuts=CUTS, bad=st.sampled_from(["x", True, None]))
def test_a_sum_error_survives_rereduce_unchanged(
    values: list[Any], cuts: list[int], bad: Any
) -> None:
    kvs = rows([bad, *values])
    error = {"error": "builtin_reduce_error", "reason": SUM_ERROR, "caused_by": bad}
    assert reduce_whole("_sum", kvs) == error
    assert reduce_via_parts("_sum", kvs, cuts) == error


def test_sum_pads_the_shorter_array_and_keeps_the_longer_tail_unchecked() -> None:
    assert sum_values([[1, 2, 3], [1]]) == [2, 2, 3]
    assert sum_values([[1, "x"]]) == [1, "x"]
