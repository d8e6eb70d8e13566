"""Compaction: what CouchDB's compactor keeps, without rewriting the file.

Kept: every document's tree (stemmed to ``revs_limit``), the winner's body and the bodies of the
other leaves. Dropped: bodies of non-leaf revisions and attachment bytes no revision references.
Freed pages go back to the file system through SQLite's incremental vacuum.
"""

from __future__ import annotations

import sqlite3

from brainlink_docs.revs import depth, leaf_set, stem
from brainlink_docs.store.sqlite.codec import decode_atts, decode_tree, encode_tree

# Trees are re-read in batches so memory stays flat on a database of any size.
COMPACT_CHUNK = 1000


def compact(conn: sqlite3.Connection) -> None:
    revs_limit = int(conn.execute("SELECT value FROM meta WHERE key = 'revs_limit'").fetchone()[0])
    _drop_stale_bodies(conn)
    _stem_trees(conn, revs_limit)
    _drop_orphan_attachments(conn)


def _drop_stale_bodies(conn: sqlite3.Connection) -> None:
    last = ""
    while True:
        chunk = [
            doc_id
            for (doc_id,) in conn.execute(
                "SELECT DISTINCT doc_id FROM revs WHERE doc_id > ? ORDER BY doc_id LIMIT ?",
                (last, COMPACT_CHUNK),
            )
        ]
        if not chunk:
            return
        last = chunk[-1]
        marks = ",".join("?" * len(chunk))
        doomed = []
        for doc_id, tree_blob, rev, deleted in conn.execute(
            f"SELECT doc_id, tree, rev, deleted FROM docs WHERE doc_id IN ({marks})", chunk
        ).fetchall():
            leaves = set(leaf_set(decode_tree(tree_blob, rev, bool(deleted))))
            doomed += [
                (doc_id, rev)
                for (rev,) in conn.execute("SELECT rev FROM revs WHERE doc_id = ?", (doc_id,))
                if rev not in leaves
            ]
        conn.executemany("DELETE FROM revs WHERE doc_id = ? AND rev = ?", doomed)


def _stem_trees(conn: sqlite3.Connection, revs_limit: int) -> None:
    cursor = -1
    while True:
        rows = conn.execute(
            "SELECT seq, tree FROM docs WHERE seq > ? AND tree IS NOT NULL ORDER BY seq LIMIT ?",
            (cursor, COMPACT_CHUNK),
        ).fetchall()
        if not rows:
            return
        updates = []
        for seq, blob in rows:
            tree = decode_tree(blob, "", False)
            if len(tree) > revs_limit and depth(tree) > revs_limit:
                updates.append((encode_tree(stem(tree, revs_limit)), seq))
        conn.executemany("UPDATE docs SET tree = ? WHERE seq = ?", updates)
        cursor = rows[-1][0]


def _drop_orphan_attachments(conn: sqlite3.Connection) -> None:
    live: set[str] = set()
    for table in ("docs", "revs"):
        for (blob,) in conn.execute(f"SELECT atts FROM {table} WHERE atts IS NOT NULL"):
            live.update(meta["digest"] for meta in decode_atts(blob).values())
    stored = [d for (d,) in conn.execute("SELECT digest FROM att_data")]
    conn.executemany(
        "DELETE FROM att_data WHERE digest = ?", [(d,) for d in stored if d not in live]
    )
