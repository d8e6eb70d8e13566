"""Lists of records keyed by ``id``: the merge laws hold with them, a stamped edit renders back
to the list written (order included), and the promises: concurrent additions keep both, edits of
different records (or fields of one record) keep both, a removal wins over a concurrent edit of
the removed record and is not undone by a stale copy, a reorder survives a concurrent addition.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.errors import BadRequest
from brainlink_docs.merge.clock import Hlc, tick
from brainlink_docs.merge.fields import doc_clock, stamp, state_of, user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.records import from_tree, record_ids, to_tree
from brainlink_docs.merge.strategies import merge_fields

KEYED = frozenset({("panels",)})
IDS = ["p1", "p2", "p3", "p4"]

record = st.fixed_dictionaries(
    {"title": st.sampled_from(["a", "b", "c"])},
    optional={"width": st.integers(0, 3), "pinned": st.booleans()},
)


@st.composite
def panel_lists(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Any records of the pool, in any order: one edit may add, remove, change and reorder."""
    ids = draw(st.permutations(IDS))[: draw(st.integers(0, len(IDS)))]
    return [{"id": i, **draw(record)} for i in ids]


bodies = st.fixed_dictionaries(
    {"panels": panel_lists()}, optional={"theme": st.sampled_from(["dark", "light"])}
)
edits = st.lists(st.tuples(bodies, st.integers(0, 50)), min_size=1, max_size=3)


def edit_chain(doc: dict[str, Any], chain: list[tuple[dict[str, Any], int]], replica: str) -> Any:
    for body, now in chain:
        doc = stamp(doc, body, tick(doc_clock(doc), now, replica), KEYED)
    return doc


@st.composite
def leaf_sets(draw: st.DrawFn, n: int = 3) -> list[dict[str, Any]]:
    base = stamp(None, draw(bodies), Hlc(draw(st.integers(0, 50)), 0, "origin"), KEYED)
    return [edit_chain(base, draw(edits), f"r{i}") for i in range(n)]


def merged(*leaves: dict[str, Any]) -> dict[str, Any]:
    return merge_fields(list(leaves), keyed=KEYED)


@given(st.one_of(st.none(), bodies), bodies, st.integers(0, 100))
def test_a_stamped_edit_renders_back_to_the_list_written(
    before: dict[str, Any] | None, after: dict[str, Any], now: int
) -> None:
    previous = None if before is None else stamp(None, before, Hlc(now // 2, 0, "p"), KEYED)
    stamped = stamp(previous, after, Hlc(now, 1, "q"), KEYED)
    assert user_fields(stamped) == after
    assert state_of(stamped) is not None
    assert user_fields(merged(stamped, stamped)) == after


@given(leaf_sets())
def test_merge_with_keyed_lists_is_commutative_associative_and_idempotent(
    leaves: list[dict[str, Any]],
) -> None:
    a, b, c = leaves
    everything = merged(a, b, c)
    assert merged(c, a, b) == merged(b, c, a) == everything
    assert merged(merged(a, b), c) == merged(a, merged(b, c)) == everything
    assert merged(everything, everything) == everything
    assert merged(everything, a) == everything


@given(bodies, edits)
def test_merging_with_an_ancestor_changes_nothing(
    base: dict[str, Any], chain: list[tuple[dict[str, Any], int]]
) -> None:
    ancestor = stamp(None, base, Hlc(0, 0, "origin"), KEYED)
    descendant = edit_chain(ancestor, chain, "r1")
    assert merged(ancestor, descendant) == {k: v for k, v in descendant.items()}


@given(leaf_sets())
def test_a_merged_list_is_records_with_distinct_ids_from_the_leaves(
    leaves: list[dict[str, Any]],
) -> None:
    panels = user_fields(merged(*leaves))["panels"]
    assert record_ids(panels) is not None
    seen = [p for leaf in leaves for p in leaf["panels"]]
    for panel in panels:  # every field of a merged record is one some leaf had
        for key, value in panel.items():
            assert any(p["id"] == panel["id"] and p.get(key) == value for p in seen)


def panels_doc(*panels: dict[str, Any], now: int = 10, replica: str = "s") -> Any:
    return stamp(None, {"panels": list(panels)}, Hlc(now, 0, replica), KEYED)


def edited(doc: dict[str, Any], panels: list[dict[str, Any]], now: int, replica: str) -> Any:
    return stamp(doc, {"panels": panels}, tick(doc_clock(doc), now, replica), KEYED)


def panels_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return user_fields(doc)["panels"]  # type: ignore[no-any-return]


EDITOR = {"id": "editor", "title": "Editor"}
TERMINAL = {"id": "terminal", "title": "Terminal"}
CHAT = {"id": "chat", "title": "Chat"}


def test_two_devices_adding_panels_keep_both() -> None:
    base = panels_doc(EDITOR)
    laptop = edited(base, [EDITOR, TERMINAL], 20, "laptop")
    desktop = edited(base, [EDITOR, CHAT], 30, "desktop")
    # The later edit's order, then the record it does not list.
    assert panels_of(merged(laptop, desktop)) == [EDITOR, CHAT, TERMINAL]
    # As one list value (no keyed path), the later edit's list would win whole.
    plain = merge_fields([stamp(None, user_fields(d), doc_clock(d)) for d in (laptop, desktop)])
    assert panels_of(plain) == [EDITOR, CHAT]


def test_edits_of_different_records_and_fields_keep_both() -> None:
    base = panels_doc(EDITOR, TERMINAL)
    laptop = edited(base, [{**EDITOR, "title": "Code"}, {**TERMINAL, "width": 2}], 20, "laptop")
    desktop = edited(base, [EDITOR, {**TERMINAL, "title": "Shell"}], 30, "desktop")
    assert panels_of(merged(laptop, desktop)) == [
        {"id": "editor", "title": "Code"},
        {"id": "terminal", "title": "Shell", "width": 2},
    ]


def test_a_removal_wins_over_a_concurrent_edit_of_the_record_and_a_stale_copy() -> None:
    base = panels_doc(EDITOR, TERMINAL)
    closed = edited(base, [EDITOR], 20, "laptop")
    renamed = edited(base, [EDITOR, {**TERMINAL, "title": "Shell"}], 30, "desktop")
    stale = copy.deepcopy(base)
    assert panels_of(merged(closed, renamed, stale)) == [EDITOR]


def test_a_reorder_survives_a_concurrent_addition() -> None:
    base = panels_doc(EDITOR, TERMINAL)
    reordered = edited(base, [TERMINAL, EDITOR], 30, "laptop")
    added = edited(base, [EDITOR, TERMINAL, CHAT], 20, "desktop")
    assert panels_of(merged(reordered, added)) == [TERMINAL, EDITOR, CHAT]


def test_a_list_that_is_not_records_stays_one_value() -> None:
    """Duplicate ids (or items without one) cannot be keyed: the list is one value, which
    replaced (removed) the records that were there."""
    dupes = [{"id": "a", "n": 1}, {"id": "a", "n": 2}]
    assert record_ids(dupes) is None
    assert record_ids([{"id": "a"}, 3]) is None
    base = panels_doc(EDITOR)
    laptop = edited(base, dupes, 20, "laptop")
    assert panels_of(merged(edited(base, [EDITOR, CHAT], 15, "desktop"), laptop)) == dupes
    # A later addition on another device is kept, and the editor panel stays removed.
    assert panels_of(merged(laptop, edited(base, [EDITOR, CHAT], 30, "desktop"))) == [CHAT]


def test_an_object_is_read_back_as_a_list_only_in_the_shape_keyed_lists_write() -> None:
    body = {"panels": {"#order": ["x"], "=x": {"id": "x"}}, "other": {"#order": []}}
    back, converted = from_tree(body, KEYED | {("other",), ("missing",)})
    assert back == {"panels": [{"id": "x"}], "other": []}
    assert converted == {("panels",), ("other",)}
    assert from_tree({"panels": {"#order": [], "x": 1}}, KEYED)[1] == frozenset()
    tree, _ = to_tree(back, KEYED, order=True)
    assert tree["panels"] == body["panels"]
    assert back["panels"] is not body["panels"]  # the tree given is not changed


def test_policies_carry_keyed_lists_and_refuse_bad_ones() -> None:
    policies = Policies({"workspace": Policy(keyed_lists=("/layout/panels",))})
    assert Policies.from_json(policies.to_json()) == policies
    assert policies.for_doc({"type": "workspace"}).keyed == {("layout", "panels")}
    with pytest.raises(BadRequest, match="keyed_lists"):
        Policies.from_json({"types": {"w": {"keyed_lists": "/panels"}}})
    with pytest.raises(BadRequest, match="JSON pointer"):
        Policy(keyed_lists=("panels",))
