"""The CRDTs' laws, and the promise that matters: after any schedule of copying and merging,
a counter equals every increment minus every decrement, on every replica."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.canonical import canonical_json
from brainlink_docs.merge import crdt
from brainlink_docs.merge.clock import Hlc

REPLICAS = ["laptop", "desktop", "phone"]


@st.composite
def counters(draw: st.DrawFn) -> Any:
    counter: Any = {}
    for replica, amount in draw(
        st.lists(st.tuples(st.sampled_from(REPLICAS), st.integers(-5, 5)), max_size=6)
    ):
        counter = crdt.increment(counter, replica, amount)
    return counter


@given(counters(), counters(), counters())
def test_counter_merge_is_commutative_associative_and_idempotent(a: Any, b: Any, c: Any) -> None:
    m = crdt.merge_counters
    assert m([a, b]) == m([b, a])
    assert m([m([a, b]), c]) == m([a, m([b, c])]) == m([a, b, c])
    assert m([a, a]) == m([a])


@given(
    st.lists(st.tuples(st.sampled_from(REPLICAS), st.integers(-9, 9)), max_size=40),
    st.randoms(use_true_random=False),
)
def test_a_counter_counts_every_increment_once_whatever_the_replication_schedule(
    ops: list[tuple[str, int]], rnd: random.Random
) -> None:
    """Each replica increments its own copy; between operations random pairs of replicas
    exchange copies (one direction, merged); at the end all copies are merged everywhere."""
    copies: dict[str, Any] = {replica: {} for replica in REPLICAS}
    for replica, amount in ops:
        copies[replica] = crdt.increment(copies[replica], replica, amount)
        if rnd.random() < 0.5:
            src, dst = rnd.sample(REPLICAS, 2)
            copies[dst] = crdt.merge_counters([copies[dst], copies[src]])
    order = list(REPLICAS)
    rnd.shuffle(order)
    final = crdt.merge_counters(copies[r] for r in order)
    assert crdt.counter_value(final) == sum(amount for _, amount in ops)


@given(counters(), counters(), st.sampled_from(REPLICAS), st.integers(-9, 9))
def test_a_rebased_increment_counts_once_on_top_of_every_leaf(
    leaf: Any, other: Any, replica: str, amount: int
) -> None:
    """An increment made on one leaf, rebased on the merge of all leaves, adds exactly its
    amount to that merge, and merging it with the leaves again changes nothing."""
    written = crdt.increment(leaf, replica, amount)
    onto = crdt.merge_counters([leaf, other])
    rebased = crdt.rebase_counter(written, leaf, onto)
    assert crdt.counter_value(rebased) == crdt.counter_value(onto) + amount
    assert crdt.merge_counters([rebased, leaf, other]) == rebased


@given(
    st.lists(
        st.tuples(st.integers(0, 9), st.sampled_from(REPLICAS), st.integers(-(2**53), 2**53)),
        max_size=6,
    )
)
def test_a_register_keeps_the_value_of_the_latest_clock(writes: list[tuple[int, str, int]]) -> None:
    registers = [crdt.register(v, Hlc(w, 0, r)) for w, r, v in writes]
    merged = crdt.merge_registers(registers)
    if not writes:
        assert merged is None
        return
    w, r, v = max(writes, key=lambda item: (item[0], item[1], canonical_json(item[2])))
    assert merged == crdt.register(v, Hlc(w, 0, r))
    assert crdt.merge_registers(reversed(registers)) == merged


ELEMENTS = st.sampled_from(["a", "b", "c"])


@st.composite
def sets(draw: st.DrawFn) -> Any:
    orset: Any = {}
    replica = draw(st.sampled_from(REPLICAS))
    for n, (op, element) in enumerate(
        draw(st.lists(st.tuples(st.sampled_from(["add", "remove"]), ELEMENTS), max_size=6))
    ):
        if op == "add":
            orset = crdt.add(orset, element, Hlc(n, 0, replica))
        else:
            orset = crdt.remove(orset, element)
    return orset


@given(sets(), sets(), sets())
def test_set_merge_is_commutative_associative_and_idempotent(a: Any, b: Any, c: Any) -> None:
    m = crdt.merge_sets
    assert m([a, b]) == m([b, a])
    assert m([m([a, b]), c]) == m([a, m([b, c])]) == m([a, b, c])
    assert m([a, a]) == m([a])


def test_an_add_concurrent_with_a_remove_survives_and_a_removal_survives_stale_copies() -> None:
    base = crdt.add({}, "urgent", Hlc(1, 0, "laptop"))
    removed_here = crdt.remove(base, "urgent")
    added_there = crdt.add(base, "urgent", Hlc(2, 0, "phone"))
    assert crdt.set_members(crdt.merge_sets([removed_here, added_there])) == ["urgent"]
    assert crdt.set_members(crdt.merge_sets([removed_here, base])) == []


def test_malformed_values_read_as_empty() -> None:
    assert crdt.counter_value({"p": {"a": "x", "b": -3, "c": True, "d": 2}}) == 2
    assert crdt.merge_registers([{"value": 1}, "junk"]) is None
    assert crdt.set_members({"tags": {"a": {"t": 7}, "b": "x"}}) == []
