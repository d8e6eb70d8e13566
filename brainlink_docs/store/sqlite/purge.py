"""Purge: revisions removed for good, as if they had never been written (``_purge``).

CouchDB purges leaves: each named leaf goes, and so does every ancestor left without children,
up to the first ancestor another branch still needs. A document left with no revisions vanishes
(no tombstone, no ``_changes`` row); otherwise it moves to a new sequence with its new winner.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from brainlink_docs.revs import RevNode, leaf_set, winning_rev
from brainlink_docs.store.sqlite.codec import encode_atts, encode_tree
from brainlink_docs.store.sqlite.writes import load_states, stored_body


def _remove_leaf(tree: dict[str, RevNode], leaf: str) -> None:
    current: str | None = leaf
    while current is not None and current in tree:
        if any(node.parent == current for node in tree.values()):
            return
        parent = tree.pop(current).parent
        current = parent


def purge(
    conn: sqlite3.Connection, request: Mapping[str, Sequence[str]]
) -> tuple[dict[str, list[str]], int]:
    """Remove the named leaves; returns what was purged per id and the new update sequence."""
    update_seq = int(conn.execute("SELECT value FROM meta WHERE key = 'update_seq'").fetchone()[0])
    states = load_states(conn, request.keys())
    purged: dict[str, list[str]] = {}
    for doc_id, revs in request.items():
        state = states.get(doc_id)
        if state is None:
            purged[doc_id] = []
            continue
        leaves = set(leaf_set(state.tree))
        done = [r for r in dict.fromkeys(revs) if r in leaves]
        purged[doc_id] = done
        if not done:
            continue
        tree = dict(state.tree)
        for rev in done:
            _remove_leaf(tree, rev)
        kept = set(tree)
        conn.executemany(
            "DELETE FROM revs WHERE doc_id = ? AND rev = ?",
            [(doc_id, r) for r in state.tree if r not in kept],
        )
        counter = "doc_del_count" if state.was_deleted else "doc_count"
        conn.execute("UPDATE meta SET value = value - 1 WHERE key = ?", (counter,))
        if not tree:
            conn.execute("DELETE FROM docs WHERE doc_id = ?", (doc_id,))
            continue
        winner = winning_rev(tree)
        body = stored_body(conn, state, winner.rev)
        if body is not None and winner.rev != state.winner:
            conn.execute("DELETE FROM revs WHERE doc_id = ? AND rev = ?", (doc_id, winner.rev))
        if state.winner in kept and state.winner != winner.rev and state.winner in state.bodies:
            old_body, old_atts = state.bodies[state.winner]
            conn.execute(
                "INSERT OR REPLACE INTO revs (doc_id, rev, body, atts) VALUES (?, ?, ?, ?)",
                (doc_id, state.winner, old_body, encode_atts(old_atts)),
            )
        update_seq += 1
        conn.execute(
            "INSERT OR REPLACE INTO docs (seq, doc_id, rev, deleted, tree, body, atts)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                update_seq,
                doc_id,
                winner.rev,
                winner.deleted,
                encode_tree(tree),
                body[0] if body else None,
                encode_atts(body[1]) if body else None,
            ),
        )
        counter = "doc_del_count" if winner.deleted else "doc_count"
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = ?", (counter,))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'update_seq'", (update_seq,))
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'purge_seq'")
    return purged, update_seq
