"""Pure revision-tree algebra (no I/O): ids, merging, stemming and the winning revision."""

from brainlink_docs.revs.ids import (
    Rev,
    new_rev,
    parse_rev,
    path_to_revisions,
    rev_pos,
    revisions_to_path,
)
from brainlink_docs.revs.tree import (
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
from brainlink_docs.revs.winner import Leaf, conflicts, sorted_leaves, winning_rev

__all__ = [
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
