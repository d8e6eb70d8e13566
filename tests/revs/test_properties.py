"""Laws of the revision tree, checked on random edit histories (see ``strategies``).

Merging is a join: any order, any repetition, any mix of full and stemmed paths gives the same
tree, and nothing shipped is lost. Stemming keeps every leaf and the newest ``limit`` generations
above it, and composes as a minimum. The winner is a function of the leaves alone.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import example, given
from hypothesis import strategies as st

from brainlink_docs.revs import (
    RevNode,
    RevTree,
    ancestry,
    conflicts,
    depth,
    is_leaf,
    leaf_set,
    merge_path,
    rev_pos,
    sorted_leaves,
    stem,
    winning_rev,
)

from .strategies import (
    Edit,
    History,
    Update,
    histories,
    histories_with_stemmed_copies,
    histories_with_updates,
    revs_limits,
)

limits = st.integers(min_value=1, max_value=8)


def merge_all(updates: Iterable[Update], start: RevTree | None = None) -> dict[str, RevNode]:
    merged = dict(start or {})
    for update in updates:
        merged, _ = merge_path(merged, update.revs, update.deleted)
    return merged


def outcome(tree: RevTree) -> tuple[object, ...]:
    """What a reader of the document sees: the winner and both conflict lists."""
    return (winning_rev(tree), conflicts(tree))


def assert_well_formed(tree: RevTree) -> None:
    """The module's invariants: parents are present and exactly one generation older."""
    for rev, node in tree.items():
        if node.parent is not None:
            assert node.parent in tree, f"{rev} points at missing {node.parent}"
            assert rev_pos(node.parent) == rev_pos(rev) - 1


# --- merging -------------------------------------------------------------------------------


@given(history=histories())
def test_merging_a_history_rebuilds_exactly_its_tree(history: History) -> None:
    assert merge_all(history.full_updates()) == history.tree()


@given(case=histories_with_stemmed_copies(), data=st.data())
def test_merge_is_order_independent(
    case: tuple[History, list[Update]], data: st.DataObject
) -> None:
    history, updates = case
    reordered = data.draw(st.permutations(updates))
    first, second = merge_all(updates), merge_all(reordered)
    assert first == second
    assert outcome(first) == outcome(second)
    # Every full path is among the updates, so both orders rebuild the whole history.
    assert first == history.tree()


@given(case=histories_with_updates(), data=st.data())
def test_merge_of_partly_stemmed_paths_is_order_independent(
    case: tuple[History, list[Update]], data: st.DataObject
) -> None:
    _, updates = case
    reordered = data.draw(st.permutations(updates))
    first, second = merge_all(updates), merge_all(reordered)
    assert first == second
    assert outcome(first) == outcome(second)


@given(case=histories_with_stemmed_copies(), data=st.data())
def test_merge_is_idempotent(case: tuple[History, list[Update]], data: st.DataObject) -> None:
    _, updates = case
    merged = merge_all(updates)
    again = data.draw(st.sampled_from(updates))
    assert merge_path(merged, again.revs, again.deleted) == (merged, False)
    assert merge_all(updates, start=merged) == merged


@given(case=histories_with_updates())
def test_merge_reports_changed_exactly_when_the_tree_changes(
    case: tuple[History, list[Update]],
) -> None:
    _, updates = case
    tree: dict[str, RevNode] = {}
    for update in updates + updates:
        merged, changed = merge_path(tree, update.revs, update.deleted)
        assert changed == (merged != tree)
        tree = merged


@given(case=histories_with_updates())
def test_merge_never_mutates_its_input(case: tuple[History, list[Update]]) -> None:
    _, updates = case
    tree: dict[str, RevNode] = {}
    for update in updates:
        snapshot = dict(tree)
        merged, _ = merge_path(tree, update.revs, update.deleted)
        assert tree == snapshot
        tree = merged


# A sender that stemmed ships 3-c's history as [3-c, 2-b]; a later path through 3-c carries 1-a,
# which must be kept and 2-b re-attached to it even though 3-c is already known.
STEMMED_THEN_LONGER = (
    History(
        (
            Edit("1-a", None, False),
            Edit("2-b", "1-a", False),
            Edit("3-c", "2-b", False),
            Edit("4-d", "3-c", False),
        )
    ),
    [Update(("3-c", "2-b"), False), Update(("4-d", "3-c", "2-b", "1-a"), False)],
)


@given(case=histories_with_updates())
@example(case=STEMMED_THEN_LONGER)
def test_merge_loses_no_revision_and_invents_none(case: tuple[History, list[Update]]) -> None:
    _, updates = case
    merged = merge_all(updates)
    shipped = {rev for update in updates for rev in update.revs}
    assert set(merged) == shipped
    assert_well_formed(merged)


@given(case=histories_with_updates())
def test_merge_keeps_every_edge_it_was_given(case: tuple[History, list[Update]]) -> None:
    _, updates = case
    merged = merge_all(updates)
    for update in updates:
        for child, parent in zip(update.revs, update.revs[1:], strict=False):
            assert merged[child].parent == parent


@given(case=histories_with_updates())
def test_merge_flags_deleted_exactly_the_revisions_shipped_as_deletions(
    case: tuple[History, list[Update]],
) -> None:
    _, updates = case
    merged = merge_all(updates)
    assert {rev for rev, node in merged.items() if node.deleted} == {
        u.leaf for u in updates if u.deleted
    }


@given(history=histories())
def test_stemmed_path_then_full_path_equals_full_path_then_stemmed_path(
    history: History,
) -> None:
    # A peer with a small revs_limit and one with the whole history send the same leaf.
    for update in history.full_updates():
        for keep in range(1, len(update.revs)):
            stemmed = Update(update.revs[:keep], update.deleted)
            assert merge_all([stemmed, update]) == merge_all([update, stemmed])
            assert merge_all([stemmed, update]) == merge_all([update])


# --- stemming ------------------------------------------------------------------------------


@given(history=histories(), limit=limits)
def test_stemming_keeps_every_leaf_and_its_flag(history: History, limit: int) -> None:
    full = history.tree()
    stemmed = stem(full, limit)
    assert sorted(leaf_set(stemmed)) == sorted(leaf_set(full))
    assert all(stemmed[leaf].deleted == full[leaf].deleted for leaf in leaf_set(full))


@given(history=histories(), limit=limits)
def test_stemming_keeps_the_newest_limit_generations_of_every_leaf(
    history: History, limit: int
) -> None:
    full = history.tree()
    stemmed = stem(full, limit)
    for leaf in leaf_set(full):
        assert ancestry(stemmed, leaf)[:limit] == ancestry(full, leaf)[:limit]


@given(history=histories(), limit=limits)
def test_stemming_drops_exactly_what_no_leaf_needs(history: History, limit: int) -> None:
    full = history.tree()
    stemmed = stem(full, limit)
    needed = {rev for leaf in leaf_set(full) for rev in ancestry(full, leaf)[:limit]}
    assert set(stemmed) == needed
    assert_well_formed(stemmed)
    for rev, node in stemmed.items():
        # Surviving edges are the original ones; a cut edge leaves a root, never a new parent.
        assert node.parent in (full[rev].parent, None)
        assert node.deleted == full[rev].deleted
        if node.parent is None and full[rev].parent is not None:
            assert full[rev].parent not in stemmed


@given(history=histories(), limit=limits)
def test_stem_is_idempotent(history: History, limit: int) -> None:
    once = stem(history.tree(), limit)
    assert stem(once, limit) == once


@given(history=histories(), a=limits, b=limits)
def test_stemming_twice_is_stemming_to_the_smaller_limit(history: History, a: int, b: int) -> None:
    full = history.tree()
    assert stem(stem(full, a), b) == stem(full, min(a, b))


@given(history=histories(), extra=st.integers(min_value=0, max_value=5))
def test_stemming_to_at_least_the_depth_changes_nothing(history: History, extra: int) -> None:
    full = history.tree()
    assert stem(full, depth(full) + extra) == full


@given(history=histories(), limit=limits)
def test_stemming_never_mutates_its_input(history: History, limit: int) -> None:
    full = history.tree()
    stem(full, limit)
    assert full == history.tree()


@given(history=histories(), limit=limits)
def test_stemming_preserves_winner_and_conflicts(history: History, limit: int) -> None:
    full = history.tree()
    assert outcome(stem(full, limit)) == outcome(full)


@given(history=histories(), limit=revs_limits)
def test_stemming_after_every_edit_keeps_what_stemming_once_keeps(
    history: History, limit: int
) -> None:
    # A replica that stems on every write (as CouchDB does) ends with the same revisions and
    # leaves as one that stems the final tree. The edges may differ: a revision shipped again
    # after it was stemmed does not re-adopt children whose paths do not mention it, which is
    # couch_key_tree's behaviour too.
    stepwise: dict[str, RevNode] = {}
    for update in history.full_updates():
        stepwise, _ = merge_path(stepwise, update.revs, update.deleted)
        stepwise = stem(stepwise, limit)
    once = stem(history.tree(), limit)
    assert set(stepwise) == set(once)
    assert sorted(leaf_set(stepwise)) == sorted(leaf_set(once))
    assert outcome(stepwise) == outcome(once)


# --- the winner ----------------------------------------------------------------------------


@given(case=histories_with_updates())
def test_winner_is_a_leaf(case: tuple[History, list[Update]]) -> None:
    _, updates = case
    merged = merge_all(updates)
    winner = winning_rev(merged)
    assert is_leaf(merged, winner.rev)
    assert winner.deleted == merged[winner.rev].deleted


@given(case=histories_with_updates(), data=st.data())
def test_winner_is_deterministic(case: tuple[History, list[Update]], data: st.DataObject) -> None:
    # Replicas store the same tree in different insertion orders; all must name the same winner.
    _, updates = case
    merged = merge_all(updates)
    shuffled = dict(data.draw(st.permutations(list(merged.items()))))
    assert shuffled == merged
    assert outcome(shuffled) == outcome(merged)
    assert sorted_leaves(shuffled) == sorted_leaves(merged)


@given(case=histories_with_updates())
def test_winner_is_live_if_any_leaf_is_live(case: tuple[History, list[Update]]) -> None:
    _, updates = case
    merged = merge_all(updates)
    any_live = any(not merged[leaf].deleted for leaf in leaf_set(merged))
    assert winning_rev(merged).deleted is not any_live


@given(case=histories_with_updates())
def test_winner_outranks_every_other_leaf(case: tuple[History, list[Update]]) -> None:
    _, updates = case
    merged = merge_all(updates)
    winner = winning_rev(merged)

    def rank(rev: str) -> tuple[bool, int, str]:
        return (not merged[rev].deleted, rev_pos(rev), rev.split("-", 1)[1])

    assert all(rank(winner.rev) > rank(leaf) for leaf in leaf_set(merged) if leaf != winner.rev)


@given(case=histories_with_updates())
def test_conflicts_are_the_losing_leaves_in_couchdb_order(
    case: tuple[History, list[Update]],
) -> None:
    _, updates = case
    merged = merge_all(updates)
    winner = winning_rev(merged)
    live, deleted = conflicts(merged)
    ordered = sorted_leaves(merged)
    assert ordered[0] == winner
    assert live == [leaf.rev for leaf in ordered[1:] if not leaf.deleted]
    assert deleted == [leaf.rev for leaf in ordered[1:] if leaf.deleted]
    assert sorted([winner.rev, *live, *deleted]) == sorted(leaf_set(merged))
    assert all(not merged[rev].deleted for rev in live)
    assert all(merged[rev].deleted for rev in deleted)
    for losers in (live, deleted):
        keys = [(rev_pos(rev), rev.split("-", 1)[1]) for rev in losers]
        assert keys == sorted(keys, reverse=True)
