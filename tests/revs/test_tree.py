"""Revision-tree table cases: CouchDB's couch_key_tree_tests restated for the flat map.

CouchDB writes a tree as ``[{Pos, {Key, Value, Children}}]``; here a revision is ``Pos-Key`` and
``tree("1-1>2-1a", ...)`` spells the same forest as root-to-leaf chains. Where CouchDB's tests
number the first generation 0, the rows shift every position by one (our generations start at
1); the facts are unchanged. CouchDB's merge result ``new_leaf``/``new_branch`` means the tree
changed and ``internal_node`` (in these cases) that it did not.
"""

from __future__ import annotations

import pytest

import brainlink_docs.revs as revs_package
from brainlink_docs.revs import (
    DEFAULT_REVS_LIMIT,
    RevNode,
    RevTree,
    ancestry,
    depth,
    descendant_leaves,
    find_missing,
    is_leaf,
    leaf_set,
    merge_path,
    stem,
)

from .strategies import tree

ONE_CHILD = tree("1-1>2-1a")
TWO_CHILD = tree("1-1>2-1a>3-1aa")
TWO_SIBS = tree("1-1", "1-2")
TWO_CHILD_SIBS = tree("1-1>2-1a", "1-1>2-1b")


@pytest.mark.parametrize(
    ("before", "path", "after", "changed"),
    [
        pytest.param(tree(), ["1-1"], tree("1-1"), True, id="merge_with_empty_tree"),
        pytest.param(tree("1-1"), ["1-1"], tree("1-1"), False, id="merge_reflexive"),
        pytest.param(TWO_SIBS, ["1-1"], TWO_SIBS, False, id="merge_prefix_of_a_tree_with_tree"),
        pytest.param(
            TWO_SIBS,
            ["1-3"],
            tree("1-1", "1-2", "1-3"),
            True,
            id="conflict_on_merge_with_unrelated_branch",
        ),
        pytest.param(
            TWO_CHILD,
            ["3-1aa", "2-1a", "1-1"],
            TWO_CHILD,
            False,
            id="merge_reflexive_for_child_nodes",
        ),
        pytest.param(TWO_CHILD_SIBS, ["2-1a", "1-1"], TWO_CHILD_SIBS, False, id="tree_to_itself_a"),
        pytest.param(TWO_CHILD_SIBS, ["2-1b", "1-1"], TWO_CHILD_SIBS, False, id="tree_to_itself_b"),
        pytest.param(
            TWO_CHILD_SIBS,
            ["3-1aa", "2-1a", "1-1"],
            tree("1-1>2-1a>3-1aa", "1-1>2-1b"),
            True,
            id="merge_tree_of_odd_length",
        ),
        pytest.param(TWO_CHILD_SIBS, ["2-1a"], TWO_CHILD_SIBS, False, id="merge_tree_with_stem"),
        pytest.param(
            tree("1-1>2-1a", "1-1>2-1b>3-1bb"),
            ["3-1bb"],
            tree("1-1>2-1a", "1-1>2-1b>3-1bb"),
            False,
            id="merge_with_stem_at_deeper_level",
        ),
        pytest.param(
            tree("2-1a", "2-1b>3-1bb"),
            ["3-1bb"],
            tree("2-1a", "2-1b>3-1bb"),
            False,
            id="merge_with_stem_at_deeper_level_with_deeper_paths",
        ),
        pytest.param(
            TWO_CHILD, ["3-1aa"], TWO_CHILD, False, id="merge_single_tree_with_deeper_stem"
        ),
        pytest.param(
            TWO_CHILD, ["3-1aa", "2-1a"], TWO_CHILD, False, id="merge_tree_with_large_stem"
        ),
        pytest.param(tree("2-1a>3-1aa"), ["3-1aa"], tree("2-1a>3-1aa"), False, id="merge_stems"),
        pytest.param(
            ONE_CHILD,
            ["3-1aa"],
            tree("1-1>2-1a", "3-1aa"),
            True,
            id="create_conflicts_on_merge",
        ),
        pytest.param(
            tree("1-1>2-1a", "3-1aa"),
            ["3-1aa", "2-1a", "1-1"],
            TWO_CHILD,
            True,
            id="create_no_conflicts_on_merge",
        ),
        pytest.param(
            tree("1-foo>2-foo2", "1-foo>2-foo3"),
            ["3-foo4", "2-foo3", "1-foo"],
            tree("1-foo>2-foo2", "1-foo>2-foo3>3-foo4"),
            True,
            id="ignore_conflicting_branch_COUCHDB-902",
        ),
        # couch_key_tree:merge_at with Pos > 0: the insert path starts earlier than the stored
        # tree, so CouchDB skips down the path and grafts the stored tree under its ancestors.
        pytest.param(
            tree("2-1a>3-1aa"),
            ["3-1aa", "2-1a", "1-1"],
            TWO_CHILD,
            True,
            id="stemmed_root_reattached_below_a_known_leaf",
        ),
        pytest.param(
            tree("2-1a>3-1aa"),
            ["2-1a", "1-1"],
            TWO_CHILD,
            True,
            id="stemmed_root_reattached_by_its_own_path",
        ),
        pytest.param(
            tree("2-1a>3-1aa", "2-1a>3-1ab"),
            ["4-1aaa", "3-1aa", "2-1a", "1-1"],
            tree("1-1>2-1a>3-1aa>4-1aaa", "1-1>2-1a>3-1ab"),
            True,
            id="stemmed_root_reattached_while_extending_a_branch",
        ),
    ],
)
def test_merge_path_matches_couch_key_tree(
    before: RevTree, path: list[str], after: RevTree, changed: bool
) -> None:
    assert merge_path(before, path, False) == (after, changed)


def test_merge_path_never_mutates_its_input() -> None:
    before = tree("2-1a>3-1aa")
    snapshot = dict(before)
    merged, _ = merge_path(before, ["4-1aaa", "3-1aa", "2-1a", "1-1"], True)
    assert before == snapshot
    merged["9-x"] = RevNode(None, False)
    assert "9-x" not in before


def test_merge_path_marks_only_the_new_leaf_deleted() -> None:
    merged, changed = merge_path({}, ["3-c", "2-b", "1-a"], True)
    assert changed
    assert merged == tree("1-a>2-b>3-c!")


def test_merge_path_extending_a_deleted_leaf_makes_a_live_leaf() -> None:
    # Re-creating a deleted document extends its tombstone (couch_db's recreate path).
    merged, changed = merge_path(tree("1-a>2-b!"), ["3-c", "2-b", "1-a"], False)
    assert changed
    assert merged == tree("1-a>2-b!>3-c")
    assert leaf_set(merged) == ["3-c"]


def test_merge_path_learning_an_interior_revision_was_a_deletion_records_it() -> None:
    # The child's path arrived first, so 2-b was recorded with no flag; 2-b's own path says it
    # was a deletion. The flag must not depend on which arrived first.
    merged, changed = merge_path(tree("1-a>2-b>3-c"), ["2-b", "1-a"], True)
    assert changed
    assert merged == tree("1-a>2-b!>3-c")
    assert merge_path(merged, ["2-b", "1-a"], True) == (merged, False)


def test_merge_path_never_clears_a_deleted_flag() -> None:
    before = tree("1-a>2-b!>3-c")
    assert merge_path(before, ["3-c", "2-b", "1-a"], False) == (before, False)
    assert merge_path(before, ["2-b", "1-a"], False) == (before, False)


@pytest.mark.parametrize(
    ("forest", "count"),
    [
        pytest.param(tree(), 0, id="no_leaves_for_empty_tree"),
        pytest.param(tree("1-1"), 1, id="single_leaf_for_tree_with_single_node"),
        pytest.param(TWO_CHILD_SIBS, 2, id="two_leaves_for_tree_with_sibling_children"),
        pytest.param(tree("3-1bb"), 1, id="stemmed_tree_leaf_counts_the_same"),
        pytest.param(tree("1-a>2-b", "3-x>4-y"), 2, id="disjoint_trees_count_together"),
    ],
)
def test_leaf_set_counts_leaves_like_couch_key_tree(forest: RevTree, count: int) -> None:
    leaves = leaf_set(forest)
    assert len(leaves) == len(set(leaves)) == count
    assert all(is_leaf(forest, rev) for rev in leaves)


@pytest.mark.parametrize(
    ("forest", "full_paths"),
    [
        pytest.param(tree("2-1a>3-1aa"), {"3-1aa": ["3-1aa", "2-1a"]}, id="stemmed_tree_leaf_path"),
        pytest.param(
            TWO_CHILD_SIBS,
            {"2-1a": ["2-1a", "1-1"], "2-1b": ["2-1b", "1-1"]},
            id="two_child_sibs_leaf_paths",
        ),
    ],
)
def test_leaves_and_their_ancestry_match_get_all_leafs_full(
    forest: RevTree, full_paths: dict[str, list[str]]
) -> None:
    assert {leaf: ancestry(forest, leaf) for leaf in leaf_set(forest)} == full_paths


@pytest.mark.parametrize(
    ("rev", "expected"),
    [
        pytest.param("1-1", ["1-1"], id="full_key_path_of_root"),
        pytest.param("2-1a", ["2-1a", "1-1"], id="full_key_path_of_node"),
        pytest.param("1-x", [], id="absent_revision_has_no_path"),
    ],
)
def test_ancestry_matches_get_full_key_paths(rev: str, expected: list[str]) -> None:
    assert ancestry(TWO_CHILD_SIBS, rev) == expected


def test_ancestry_stops_at_a_stemmed_root() -> None:
    assert ancestry(tree("3-c>4-d>5-e"), "5-e") == ["5-e", "4-d", "3-c"]


@pytest.mark.parametrize(
    ("forest", "rev", "leaves"),
    [
        pytest.param(TWO_CHILD_SIBS, "1-x", set(), id="gather_non_existent_leaf"),
        pytest.param(TWO_CHILD_SIBS, "2-1a", {"2-1a"}, id="gather_leaf"),
        pytest.param(TWO_CHILD_SIBS, "1-1", {"2-1a", "2-1b"}, id="gather_multiple_leaves"),
        pytest.param(ONE_CHILD, "1-1", {"2-1a"}, id="gather_single_leaf_for_its_ancestor"),
        pytest.param(
            tree("1-a>2-b>3-c>4-d", "1-a>2-b>3-e", "1-a>2-f"),
            "2-b",
            {"4-d", "3-e"},
            id="gather_only_leaves_below_the_revision",
        ),
        pytest.param(tree("3-c>4-d", "3-c>4-e"), "3-c", {"4-d", "4-e"}, id="below_stemmed_root"),
    ],
)
def test_descendant_leaves_match_get_key_leafs(forest: RevTree, rev: str, leaves: set[str]) -> None:
    found = descendant_leaves(forest, rev)
    assert len(found) == len(set(found))
    assert set(found) == leaves


@pytest.mark.parametrize(
    ("forest", "query", "missing"),
    [
        pytest.param(TWO_CHILD_SIBS, ["1-1", "2-1a"], [], id="not_find_missing_leaves"),
        pytest.param(
            TWO_CHILD_SIBS,
            ["1-1", "1-10", "2-1a", "101-x"],
            ["1-10", "101-x"],
            id="find_missing_leaves",
        ),
        pytest.param(
            tree("2-1a>3-1aa"),
            ["1-1", "2-1a", "101-x"],
            ["1-1", "101-x"],
            id="find_missing_below_a_stemmed_tree",
        ),
        pytest.param(
            tree("3-1aa"),
            ["1-1", "2-1a", "101-x"],
            ["1-1", "2-1a", "101-x"],
            id="find_missing_beside_a_stemmed_leaf",
        ),
        pytest.param(TWO_CHILD_SIBS, ["9-z", "1-1", "9-z"], ["9-z"], id="missing_listed_once"),
        pytest.param(TWO_CHILD_SIBS, [], [], id="nothing_asked_nothing_missing"),
        pytest.param(tree(), ["3-c", "1-a"], ["3-c", "1-a"], id="in_the_order_asked"),
    ],
)
def test_find_missing_matches_couch_key_tree(
    forest: RevTree, query: list[str], missing: list[str]
) -> None:
    assert find_missing(forest, query) == missing


@pytest.mark.parametrize(
    ("forest", "limit", "stemmed"),
    [
        pytest.param(TWO_CHILD, 3, TWO_CHILD, id="no_effect_stemming_more_levels_than_exist"),
        pytest.param(TWO_CHILD, 1, tree("3-1aa"), id="return_one_deepest_node"),
        pytest.param(TWO_CHILD, 2, tree("2-1a>3-1aa"), id="return_two_deepest_nodes"),
        # CouchDB's stem_tree keeps a node when any leaf below it is within the limit, with every
        # kept child still attached (no duplicate of the shared ancestor).
        pytest.param(
            tree("1-r>2-s>3-x", "1-r>2-s>3-y>4-z"),
            3,
            tree("1-r>2-s>3-x", "1-r>2-s>3-y>4-z"),
            id="shared_ancestor_kept_for_the_nearer_leaf",
        ),
        pytest.param(
            tree("1-r>2-s>3-x", "1-r>2-s>3-y>4-z"),
            2,
            tree("2-s>3-x", "2-s>3-y>4-z"),
            id="kept_children_stay_attached_to_a_kept_parent",
        ),
        pytest.param(
            tree("1-r>2-s>3-x", "1-r>2-s>3-y>4-z"), 1, tree("3-x", "4-z"), id="leaves_only"
        ),
        pytest.param(
            tree("1-a>2-b", "1-a>2-c>3-d>4-e"),
            1,
            tree("2-b", "4-e"),
            id="short_branch_keeps_its_leaf",
        ),
        pytest.param(
            tree("1-a>2-b", "1-a>2-c>3-d>4-e"),
            2,
            tree("1-a>2-b", "3-d>4-e"),
            id="each_leaf_keeps_its_own_limit",
        ),
        pytest.param(
            tree("1-a>2-b!>3-c!", "1-a>2-d"),
            1,
            tree("3-c!", "2-d"),
            id="deleted_flags_survive_stemming",
        ),
        pytest.param(tree(), 5, tree(), id="empty_tree"),
    ],
)
def test_stem_matches_couch_key_tree(forest: RevTree, limit: int, stemmed: RevTree) -> None:
    before = dict(forest)
    assert stem(forest, limit) == stemmed
    assert forest == before


@pytest.mark.parametrize("limit", [0, -1])
def test_stem_rejects_a_limit_below_one(limit: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        stem(TWO_CHILD, limit)


@pytest.mark.parametrize(
    ("forest", "rev", "expected"),
    [
        pytest.param(TWO_CHILD, "3-1aa", True, id="leaf"),
        pytest.param(TWO_CHILD, "2-1a", False, id="interior"),
        pytest.param(TWO_CHILD, "1-1", False, id="root"),
        pytest.param(TWO_CHILD, "4-zz", False, id="absent"),
        pytest.param(tree("2-1a"), "2-1a", True, id="stemmed_lone_root"),
    ],
)
def test_is_leaf(forest: RevTree, rev: str, expected: bool) -> None:
    assert is_leaf(forest, rev) is expected


@pytest.mark.parametrize(
    ("forest", "span"),
    [
        pytest.param(tree(), 0, id="empty"),
        pytest.param(tree("1-1"), 1, id="single_revision"),
        pytest.param(TWO_CHILD, 3, id="linear"),
        pytest.param(TWO_CHILD_SIBS, 2, id="branches_share_generations"),
        pytest.param(tree("2-1a>3-1aa"), 2, id="stemmed"),
        pytest.param(tree("1-a>2-b", "1-a>2-c>3-d>4-e"), 4, id="longest_branch"),
        pytest.param(tree("1-a", "5-x"), 5, id="span_of_generations_across_disjoint_trees"),
    ],
)
def test_depth_is_the_span_of_generations(forest: RevTree, span: int) -> None:
    assert depth(forest) == span


def test_default_revs_limit_is_couchdbs() -> None:
    assert DEFAULT_REVS_LIMIT == 1000


def test_revs_package_exports_exactly_its_public_api() -> None:
    assert sorted(revs_package.__all__) == [
        "DEFAULT_REVS_LIMIT",
        "Leaf",
        "Rev",
        "RevNode",
        "RevTree",
        "ancestry",
        "conflicts",
        "depth",
        "descendant_leaves",
        "find_missing",
        "is_leaf",
        "leaf_set",
        "merge_path",
        "new_rev",
        "parse_rev",
        "path_to_revisions",
        "rev_pos",
        "revisions_to_path",
        "sorted_leaves",
        "stem",
        "winning_rev",
    ]
    assert all(hasattr(revs_package, name) for name in revs_package.__all__)
