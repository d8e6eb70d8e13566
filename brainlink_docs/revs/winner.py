"""CouchDB's deterministic choice among a document's leaves.

Every replica must pick the same winner from the same tree or they never agree on a document's
body. CouchDB sorts leaves (``couch_doc:to_doc_info``) by: live before deleted, then higher
generation, then higher revision id compared as a string; the first is the winner, the other live
leaves are ``_conflicts`` and the other deleted leaves ``_deleted_conflicts``, in that same order.
"""

from __future__ import annotations

from typing import NamedTuple

from brainlink_docs.revs.tree import RevTree, leaf_set


class Leaf(NamedTuple):
    rev: str
    deleted: bool


def _rank(leaf: Leaf) -> tuple[bool, int, str]:
    dash = leaf.rev.index("-")
    return (not leaf.deleted, int(leaf.rev[:dash]), leaf.rev[dash + 1 :])


def sorted_leaves(tree: RevTree) -> list[Leaf]:
    """All leaves, winner first, in CouchDB's order."""
    leaves = [Leaf(rev, tree[rev].deleted) for rev in leaf_set(tree)]
    leaves.sort(key=_rank, reverse=True)
    return leaves


def winning_rev(tree: RevTree) -> Leaf:
    """The winning leaf; the tree must not be empty."""
    if len(tree) == 1:
        ((rev, node),) = tree.items()
        return Leaf(rev, node.deleted)
    return max((Leaf(rev, tree[rev].deleted) for rev in leaf_set(tree)), key=_rank)


def conflicts(tree: RevTree) -> tuple[list[str], list[str]]:
    """``(_conflicts, _deleted_conflicts)``: the losing live and deleted leaves."""
    losers = sorted_leaves(tree)[1:]
    return [x.rev for x in losers if not x.deleted], [x.rev for x in losers if x.deleted]
