"""Field-level merge: the laws (commutative, associative, idempotent, an ancestor changes
nothing), stamping round-trips, and the promises (two devices editing different fields keep
both; a removal is not undone by a stale copy; the latest change of a field wins)."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.merge.clock import Hlc, tick
from brainlink_docs.merge.fields import (
    META,
    REMOVED,
    doc_clock,
    join,
    render,
    stamp,
    state_of,
    user_fields,
)
from brainlink_docs.merge.strategies import merge_fields

KEYS = st.sampled_from(["a", "b", "c", "x/y", "~t"])
LEAVES = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["", "s", "t"]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(0, 2), max_size=2),
    st.just({}),
)
bodies = st.recursive(LEAVES, lambda inner: st.dictionaries(KEYS, inner, max_size=3), max_leaves=8)
top_bodies = st.dictionaries(KEYS, bodies, max_size=4)


def edit_chain(
    base: dict[str, Any], edits: list[tuple[dict[str, Any], int]], replica: str
) -> dict[str, Any]:
    doc = base
    for body, now in edits:
        doc = stamp(doc, body, tick(doc_clock(doc), now, replica))
    return doc


edits = st.lists(st.tuples(top_bodies, st.integers(0, 50)), min_size=1, max_size=4)


@st.composite
def leaf_sets(draw: st.DrawFn, n: int = 3) -> list[dict[str, Any]]:
    """``n`` revisions edited concurrently on ``n`` devices from one stamped ancestor."""
    base = stamp(None, draw(top_bodies), Hlc(draw(st.integers(0, 50)), 0, "origin"))
    return [edit_chain(base, draw(edits), f"r{i}") for i in range(n)]


def body_and_meta(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


@given(st.one_of(st.none(), top_bodies), top_bodies, st.integers(0, 100))
def test_a_stamped_edit_renders_back_to_the_body_written(
    before: dict[str, Any] | None, after: dict[str, Any], now: int
) -> None:
    previous = None if before is None else stamp(None, before, Hlc(now // 2, 0, "p"))
    stamped = stamp(previous, after, Hlc(now, 1, "q"))
    assert user_fields(stamped) == after
    state = state_of(stamped)
    assert state is not None
    assert render(state) == after


@given(leaf_sets())
def test_merge_is_commutative(leaves: list[dict[str, Any]]) -> None:
    a, b, c = leaves
    assert merge_fields([a, b, c]) == merge_fields([c, a, b]) == merge_fields([b, c, a])


@given(leaf_sets())
def test_merge_is_associative(leaves: list[dict[str, Any]]) -> None:
    a, b, c = leaves
    left = merge_fields([merge_fields([a, b]), c])
    right = merge_fields([a, merge_fields([b, c])])
    assert left == right == merge_fields([a, b, c])


@given(leaf_sets())
def test_merge_is_idempotent(leaves: list[dict[str, Any]]) -> None:
    a, b, _ = leaves
    once = merge_fields([a, b])
    assert merge_fields([once, once]) == once
    assert merge_fields([once, a]) == once
    assert merge_fields([a, a]) == body_and_meta(a)


@given(top_bodies, edits)
def test_merging_with_an_ancestor_changes_nothing(
    base: dict[str, Any], chain: list[tuple[dict[str, Any], int]]
) -> None:
    ancestor = stamp(None, base, Hlc(0, 0, "origin"))
    descendant = edit_chain(ancestor, chain, "r1")
    assert merge_fields([ancestor, descendant]) == body_and_meta(descendant)


@settings(max_examples=200)
@given(leaf_sets())
def test_every_field_takes_its_latest_change(leaves: list[dict[str, Any]]) -> None:
    """Per leaf path, the merged body holds what the edit with the greatest clock for that path
    left there, unless a later edit of an ancestor or descendant path replaced it."""
    merged = merge_fields(leaves)
    states = [state_of(leaf) for leaf in leaves]
    joined = join([s for s in states if s is not None])
    assert user_fields(merged) == render(joined)
    for state in states:
        assert state is not None
        for path, entry in state.items():
            kept = joined.get(path)
            if kept is None:  # pruned: a newer entry at an ancestor path overwrote it
                assert any(
                    path[:n] in joined and joined[path[:n]].clock > entry.clock
                    for n in range(1, len(path))
                )
                continue
            assert kept.clock >= entry.clock
            if kept.value is not REMOVED and not _overwritten_later(joined, path, kept.clock):
                assert _at(user_fields(merged), path) == kept.value


@st.composite
def leaf_sets_with_a_plain_edit(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Concurrent leaves, the last one a plain client's edit of a stamped revision (its body
    changed, the ``$merge`` it read copied unchanged); and that revision."""
    leaves = draw(leaf_sets())
    for n, leaf in enumerate(leaves):
        leaf["_rev"] = f"{n + 2}-{n:032x}"
    edited = leaves[-1]
    plain = {**draw(top_bodies), META: edited[META], "_rev": f"9-{'f' * 32}"}
    return [*leaves[:-1], plain], edited


@given(leaf_sets_with_a_plain_edit())
def test_a_plain_edit_merges_alike_with_or_without_the_revision_it_edited(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """Every replica merges a plain client's edit the same, whether or not it still holds the
    body of the revision the client edited: the leaf's stale ``$merge`` tells its changes."""
    leaves, edited = case
    a, b, plain = leaves
    merged = merge_fields(leaves)
    assert merge_fields(leaves, bases={plain["_rev"]: edited}) == merged
    assert merge_fields([plain, b, a]) == merged
    assert merge_fields([merge_fields([a, plain]), b]) == merged
    assert state_of(merged) is not None


def test_two_devices_editing_different_fields_keep_both() -> None:
    base = stamp(None, {"layout": {"left": 200, "right": 300}, "theme": "dark"}, Hlc(10, 0, "s"))
    laptop = stamp(
        base, {"layout": {"left": 250, "right": 300}, "theme": "dark"}, Hlc(20, 0, "laptop")
    )
    desktop = stamp(
        base, {"layout": {"left": 200, "right": 300}, "theme": "light"}, Hlc(15, 0, "desk")
    )
    assert user_fields(merge_fields([laptop, desktop])) == {
        "layout": {"left": 250, "right": 300},
        "theme": "light",
    }


def test_a_removed_field_is_not_brought_back_by_a_stale_copy() -> None:
    base = stamp(None, {"a": 1, "b": 2}, Hlc(10, 0, "s"))
    removed = stamp(base, {"a": 1}, Hlc(20, 0, "laptop"))
    stale = stamp(base, {"a": 5, "b": 2}, Hlc(15, 0, "desk"))  # edited a, kept the old b
    assert user_fields(merge_fields([removed, stale])) == {"a": 5}


def test_a_later_edit_of_the_same_field_wins_even_from_a_slow_clock() -> None:
    """The desktop's wall clock is an hour behind, but it edited after seeing the laptop's
    edit: its clock ticks past the laptop's, so its value wins."""
    base = stamp(None, {"title": "draft"}, Hlc(3_600_000, 0, "laptop"))
    desk = stamp(base, {"title": "final"}, tick(Hlc(3_600_000, 0, "laptop"), 5, "desk"))
    assert user_fields(merge_fields([base, desk])) == {"title": "final"}


def test_a_plain_client_edit_is_merged_three_way_against_the_revision_it_edited() -> None:
    ancestor = stamp(None, {"a": 1, "b": 1, "c": 1}, Hlc(10, 0, "s"))
    ancestor["_rev"] = "1-aaa"
    ours = stamp(ancestor, {"a": 2, "b": 1, "c": 1}, Hlc(20, 0, "dev"))
    ours["_rev"] = "2-bbb"
    # A plain client copies $merge unchanged: it still describes the ancestor, so the leaf
    # alone tells which fields the client changed (b) and removed (c).
    plain = {**copy.deepcopy(ancestor), "b": 7, "_rev": "2-ccc"}
    del plain["c"]
    assert state_of(plain) is None
    merged = merge_fields([ours, plain])
    assert user_fields(merged) == {"a": 2, "b": 7}
    assert state_of(merged) is not None
    # Its changes count as made just after the revision it edited: a later edit of the same
    # field through the merger wins over them.
    later = stamp(ours, {"a": 2, "b": 9, "c": 1}, Hlc(30, 0, "dev"))
    later["_rev"] = "3-ddd"
    assert user_fields(merge_fields([later, plain])) == {"a": 2, "b": 9}


def test_a_leaf_without_metadata_merges_against_its_base_or_loses_whole() -> None:
    ancestor = stamp(None, {"a": 1, "b": 1}, Hlc(10, 0, "s"))
    ancestor["_rev"] = "1-aaa"
    ours = stamp(ancestor, {"a": 2, "b": 1}, Hlc(20, 0, "dev"))
    ours["_rev"] = "2-bbb"
    stripped = {"a": 1, "b": 7, "_rev": "2-ccc"}  # a client that dropped $merge
    merged = merge_fields([ours, stripped], bases={"2-ccc": ancestor})
    assert user_fields(merged) == {"a": 2, "b": 7}
    # Without its base, the whole document with the latest clock wins.
    assert user_fields(merge_fields([ours, stripped])) == {"a": 2, "b": 1}
    assert META in merged


def _overwritten_later(joined: dict[Any, Any], path: tuple[str, ...], clock: Hlc) -> bool:
    """Whether a descendant or ancestor path got a later entry (it reshapes this one)."""
    return any(
        (other[: len(path)] == path or path[: len(other)] == other)
        and other != path
        and entry.clock >= clock
        for other, entry in joined.items()
    )


def _at(body: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        body = body[key]
    return body
