"""Hypothesis strategies for revision trees, built from edit histories so every input is valid.

A history is what the devices of a replicated document did: each edit extends an existing revision
(usually a leaf, sometimes an interior one, which makes a branch) or, rarely, starts an independent
root, as when two devices create the same document id offline. Revision ids come from
``new_rev`` over a per-edit body, so each ``N-id`` is unique and names its whole ancestry, which is
what the flat-map tree assumes.

A replicator does not ship edits; it ships each leaf's history as a path, leaf first, possibly cut
short by the sender's own stemming. ``Update`` is one such path.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from brainlink_docs.canonical import canonical_json
from brainlink_docs.revs import RevNode, new_rev

# Big enough for several branches, deletions and re-creations; small enough that shrunk
# counterexamples stay readable and the 100-example CI profile stays fast.
MAX_EDITS = 14


@dataclass(frozen=True, slots=True)
class Edit:
    rev: str
    parent: str | None
    deleted: bool


@dataclass(frozen=True, slots=True)
class Update:
    """One path as a replicator sends it: ``revs`` leaf first, the leaf's ``deleted`` flag."""

    revs: tuple[str, ...]
    deleted: bool

    @property
    def leaf(self) -> str:
        return self.revs[0]


@dataclass(frozen=True, slots=True)
class History:
    edits: tuple[Edit, ...]

    def tree(self) -> dict[str, RevNode]:
        """The tree the history describes: what merging all its full paths must rebuild."""
        return {e.rev: RevNode(e.parent, e.deleted) for e in self.edits}

    def full_path(self, rev: str) -> tuple[str, ...]:
        parents = {e.rev: e.parent for e in self.edits}
        path: list[str] = []
        current: str | None = rev
        while current is not None:
            path.append(current)
            current = parents[current]
        return tuple(path)

    def full_updates(self) -> list[Update]:
        """One full path per edit, in edit order (each revision shipped once, as a leaf)."""
        return [Update(self.full_path(e.rev), e.deleted) for e in self.edits]

    def revs(self) -> set[str]:
        return {e.rev for e in self.edits}


def tree(*chains: str) -> dict[str, RevNode]:
    """A tree written as root-to-leaf chains, for table cases: ``tree("1-a>2-b!", "1-a>2-c")``.

    A chain's first revision is a root (parent ``None``, as after stemming); ``!`` marks a deleted
    revision (once is enough). Chains may share a prefix; the union of their edges is the tree.
    """
    result: dict[str, RevNode] = {}
    for chain in chains:
        parent: str | None = None
        for token in chain.split(">"):
            rev = token.strip().removesuffix("!")
            deleted = token.strip().endswith("!") or (rev in result and result[rev].deleted)
            result[rev] = RevNode(parent, deleted)
            parent = rev
    return result


@st.composite
def histories(draw: st.DrawFn, *, max_edits: int = MAX_EDITS) -> History:
    """A random edit history: a first root, then edits that mostly extend a current leaf,
    sometimes an older revision (a conflicting branch) and now and then start another root (a
    second device creating the same document offline). About half of the edits are deletions."""
    n_edits = draw(st.integers(min_value=1, max_value=max_edits))
    edits: list[Edit] = []
    children: set[str] = set()
    for i in range(n_edits):
        # 0..5 extend a current leaf (normal editing), 6..8 any revision (a conflicting edit made
        # from an older version), 9 a new root; shrinking moves toward plain linear editing.
        kind = draw(st.integers(min_value=0, max_value=9)) if edits else 9
        if kind == 9:
            parent: str | None = None
        else:
            pool = [e.rev for e in edits if e.rev not in children] if kind <= 5 else []
            pool = pool or [e.rev for e in edits]
            parent = draw(st.sampled_from(pool))
        deleted = draw(st.booleans())
        body = canonical_json({"edit": i, "deleted": deleted})
        rev = new_rev(parent, deleted, body)
        edits.append(Edit(rev, parent, deleted))
        if parent is not None:
            children.add(parent)
    return History(tuple(edits))


@st.composite
def truncated(draw: st.DrawFn, update: Update) -> Update:
    """``update`` as a sender that stemmed its tree would ship it: the newest 1..n revisions."""
    keep = draw(st.integers(min_value=1, max_value=len(update.revs)))
    return Update(update.revs[:keep], update.deleted)


@st.composite
def histories_with_updates(
    draw: st.DrawFn, *, max_edits: int = MAX_EDITS, stemmed_paths: bool = True
) -> tuple[History, list[Update]]:
    """A history and, per edit, its path in full, cut short or not at all, in a random order.

    Skipping is what a replicator does for revisions that were superseded before it ran: only
    their descendants' paths carry them. At least one path is shipped. With ``stemmed_paths``
    false every shipped path reaches back to its root.
    """
    history = draw(histories(max_edits=max_edits))
    updates = []
    for update in history.full_updates():
        how = draw(
            st.sampled_from(["full", "stemmed", "skip"] if stemmed_paths else ["full", "skip"])
        )
        if how == "full":
            updates.append(update)
        elif how == "stemmed":
            updates.append(draw(truncated(update)))
    if not updates:
        updates.append(history.full_updates()[-1])
    return history, draw(st.permutations(updates))


@st.composite
def histories_with_stemmed_copies(
    draw: st.DrawFn, *, max_edits: int = MAX_EDITS
) -> tuple[History, list[Update]]:
    """A history, every full path, and cut-short copies of some of them, in a random order.

    This is one document reaching a replica from peers with different ``revs_limit``: paths that
    share only a stemmed prefix with the full ones, arriving before or after them.
    """
    history = draw(histories(max_edits=max_edits))
    full = history.full_updates()
    copies = [draw(truncated(u)) for u in full if draw(st.booleans())]
    return history, draw(st.permutations(full + copies))


# revs_limit values to stem with: tiny ones that cut into every history, and CouchDB's default.
revs_limits = st.one_of(st.integers(min_value=1, max_value=8), st.just(1000))
