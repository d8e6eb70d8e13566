"""Revision trees as flat maps: ``{rev: RevNode(parent, deleted)}``.

CouchDB keeps a forest of paths keyed by ``(pos, rev id)`` (``couch_key_tree``). Because a
revision id names its whole ancestry, that forest is exactly the set of its edges, so a flat map
from revision to parent is the same tree: merging is the union of edges, a node whose parent was
stemmed away is a root (parent ``None``), and a later path that carries the stemmed ancestors
re-attaches them, as ``couch_key_tree:merge`` does. Everything here is pure: functions return new
maps and never mutate their inputs.

Invariants: every parent is one generation below its child; a node's parent, when present, is in
the map or was stemmed (then ``None``); a leaf is a node that is nobody's parent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from brainlink_docs.revs.ids import rev_pos


class RevNode(NamedTuple):
    parent: str | None
    deleted: bool


RevTree = Mapping[str, RevNode]

# CouchDB's default ``revs_limit``: how many generations of history each leaf keeps.
DEFAULT_REVS_LIMIT = 1000


def merge_path(
    tree: RevTree, path: Sequence[str], deleted: bool
) -> tuple[dict[str, RevNode], bool]:
    """Merge one history ``path`` (leaf first, consecutive generations) into ``tree``.

    Returns the new tree and whether anything changed. The leaf takes ``deleted``; ancestors that
    are new to the tree are recorded as live interior nodes (their flag only matters for leaves).
    An existing node keeps its parent unless it was a stemmed root. A revision is a deletion or
    not whoever reports it, so flags join with OR: a path whose leaf is an existing node marks it
    deleted whichever was merged first (as ``couch_key_tree:value_pref`` keeps the known value
    over ``?REV_MISSING``), and merge order cannot change the tree.
    """
    merged = dict(tree)
    changed = False
    for i, rev in enumerate(path):
        parent = path[i + 1] if i + 1 < len(path) else None
        is_deleted = deleted and i == 0
        existing = merged.get(rev)
        if existing is None:
            merged[rev] = RevNode(parent, is_deleted)
            changed = True
            continue
        # Walk the whole path even through known nodes: a stemmed root further down may be
        # re-attached to the ancestors this path carries (couch_key_tree:merge_at, Pos > 0).
        node = RevNode(
            existing.parent if existing.parent is not None else parent,
            existing.deleted or is_deleted,
        )
        if node != existing:
            merged[rev] = node
            changed = True
    return merged, changed


def leaf_set(tree: RevTree) -> list[str]:
    """Revisions that are nobody's parent, in no particular order."""
    parents = {node.parent for node in tree.values()}
    return [rev for rev in tree if rev not in parents]


def is_leaf(tree: RevTree, rev: str) -> bool:
    return rev in tree and all(node.parent != rev for node in tree.values())


def ancestry(tree: RevTree, rev: str) -> list[str]:
    """``rev`` and its ancestors present in the tree, newest first (CouchDB's ``_revisions``)."""
    path: list[str] = []
    current: str | None = rev
    while current is not None and current in tree:
        path.append(current)
        current = tree[current].parent
    return path


def descendant_leaves(tree: RevTree, rev: str) -> list[str]:
    """The leaves at or below ``rev`` (what ``latest=true`` answers for an old revision)."""
    result = []
    for leaf in leaf_set(tree):
        current: str | None = leaf
        while current is not None:
            if current == rev:
                result.append(leaf)
                break
            node = tree.get(current)
            current = node.parent if node else None
    return result


def find_missing(tree: RevTree, revs: Iterable[str]) -> list[str]:
    """The revisions of ``revs`` the tree does not hold, in the order given, once each."""
    seen: set[str] = set()
    missing = []
    for rev in revs:
        if rev not in tree and rev not in seen:
            missing.append(rev)
        seen.add(rev)
    return missing


def stem(tree: RevTree, limit: int) -> dict[str, RevNode]:
    """Keep the newest ``limit`` generations on every path; never drop a leaf.

    Nodes whose parent falls outside the kept set become roots, as ``couch_key_tree:stem`` does.
    """
    if limit < 1:
        raise ValueError("revs limit must be at least 1")
    keep: set[str] = set()
    for leaf in leaf_set(tree):
        current: str | None = leaf
        for _ in range(limit):
            if current is None:
                break
            keep.add(current)
            current = tree[current].parent if current in tree else None
    if len(keep) == len(tree):
        return dict(tree)
    return {
        rev: node if node.parent is None or node.parent in keep else RevNode(None, node.deleted)
        for rev, node in tree.items()
        if rev in keep
    }


def depth(tree: RevTree) -> int:
    """The longest span of generations in the tree (what ``stem`` bounds)."""
    if not tree:
        return 0
    roots = [rev for rev, node in tree.items() if node.parent is None]
    return max(rev_pos(leaf) for leaf in leaf_set(tree)) - min(rev_pos(r) for r in roots) + 1
