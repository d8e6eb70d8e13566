"""The winning revision and ``_conflicts``, as CouchDB's ``couch_doc:to_doc_info`` orders leaves.

Leaves sort by: live before deleted, then higher generation (as a number), then higher revision
id (as a string); the first is the winner, the other live leaves are ``_conflicts`` and the other
deleted ones ``_deleted_conflicts``, both in that order.
"""

from __future__ import annotations

import pytest

from brainlink_docs.revs import Leaf, RevTree, conflicts, sorted_leaves, winning_rev

from .strategies import tree


@pytest.mark.parametrize(
    ("forest", "winner", "live_conflicts", "deleted_conflicts"),
    [
        pytest.param(tree("1-a"), Leaf("1-a", False), [], [], id="single_revision"),
        pytest.param(
            tree("1-a>2-b", "1-a>2-c"), Leaf("2-c", False), ["2-b"], [], id="higher_id_wins_a_tie"
        ),
        pytest.param(
            tree("1-a>2-z", "1-a>2-b>3-a"),
            Leaf("3-a", False),
            ["2-z"],
            [],
            id="higher_generation_beats_higher_id",
        ),
        pytest.param(
            tree("10-a", "9-z"),
            Leaf("10-a", False),
            ["9-z"],
            [],
            id="generation_compares_as_a_number",
        ),
        pytest.param(
            tree("1-a>2-9", "1-a>2-10"),
            Leaf("2-9", False),
            ["2-10"],
            [],
            id="id_compares_as_a_string",
        ),
        pytest.param(
            tree("1-a>2-b>3-z!", "1-a>2-c"),
            Leaf("2-c", False),
            [],
            ["3-z"],
            id="live_beats_a_longer_deleted_branch",
        ),
        pytest.param(
            tree("1-a>2-b!", "1-a>2-c>3-d!"),
            Leaf("3-d", True),
            [],
            ["2-b"],
            id="all_deleted_the_highest_tombstone_wins",
        ),
        pytest.param(
            tree("1-a>2-zzz>3-a"), Leaf("3-a", False), [], [], id="interior_revisions_never_win"
        ),
        pytest.param(
            tree("1-a>2-b!>3-c"),
            Leaf("3-c", False),
            [],
            [],
            id="extended_tombstone_is_no_deleted_conflict",
        ),
        pytest.param(
            tree("1-a>2-b", "1-a>2-c", "1-a>2-d>3-e", "1-a>2-f!", "1-a>2-g>3-h!", "5-q"),
            Leaf("5-q", False),
            ["3-e", "2-c", "2-b"],
            ["3-h", "2-f"],
            id="conflicts_listed_in_couchdb_order",
        ),
    ],
)
def test_winner_and_conflicts_follow_couchdb_order(
    forest: RevTree,
    winner: Leaf,
    live_conflicts: list[str],
    deleted_conflicts: list[str],
) -> None:
    assert winning_rev(forest) == winner
    assert conflicts(forest) == (live_conflicts, deleted_conflicts)


def test_sorted_leaves_puts_the_winner_first_then_couchdb_order() -> None:
    forest = tree("1-a>2-b", "1-a>2-c", "1-a>2-d>3-e", "1-a>2-f!", "1-a>2-g>3-h!", "5-q")
    assert sorted_leaves(forest) == [
        Leaf("5-q", False),
        Leaf("3-e", False),
        Leaf("2-c", False),
        Leaf("2-b", False),
        Leaf("3-h", True),
        Leaf("2-f", True),
    ]


def test_sorted_leaves_of_an_empty_tree_is_empty() -> None:
    assert sorted_leaves({}) == []
