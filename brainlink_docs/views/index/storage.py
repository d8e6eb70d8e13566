"""One view index file: the SQLite schema and the synchronous reads and writes on it.

An index file belongs to one design-document signature and holds the rows of each of its
views, plus where it is up to::

    meta  (key, value)                  seq (the store's sequence indexed up to), signature,
                                        collation (ICU version of the stored sort keys),
                                        purge_seq (the store's purge sequence at that seq)
    views (id, name, row_count)         one row per view; row_count is total_rows
    rows  (view, skey, dup, doc_id, key, value)   WITHOUT ROWID, primary key (view, skey, dup)
    rows_by_doc (doc_id)                finds a document's old rows when it changes

``skey`` is ``row_sort_key(key, doc_id)``, so a range of a view is a B-tree range of the
primary key, in CouchDB's row order. A batch of documents is applied in one transaction
together with the sequence it reaches, so a crash mid-update leaves the index at the last
committed batch: no document's rows are lost or half-written, and the next update resumes.

Every function takes a ``sqlite3.Connection`` and runs on a worker thread (never the loop).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from brainlink_docs.views.index import ranks
from brainlink_docs.views.index.rows import StoredRow

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS views (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, row_count INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS rows (
    view INTEGER NOT NULL, skey BLOB NOT NULL, dup INTEGER NOT NULL,
    doc_id TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (view, skey, dup)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rows_by_doc ON rows (doc_id);
"""
# Documents per IN (...) list: SQLite's default limit on host parameters is 32,766.
ID_CHUNK = 500


@dataclass(frozen=True, slots=True)
class IndexState:
    """Where an index is: the store sequence it reflects and its views' ids."""

    seq: str
    purge_seq: str
    collation: str
    views: dict[str, int]


def connect(path: str, *, synchronous: str = "NORMAL") -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL survives a process crash (only an OS crash can lose the last commits, and
    # an index can always be rebuilt from its database).
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-16000")
    return conn


def initialize(
    conn: sqlite3.Connection, signature: str, views: Sequence[str], collation: str
) -> IndexState:
    """Create the schema if new; reset the index when its stored keys' collation is stale."""
    conn.executescript(_SCHEMA + ranks.SCHEMA)
    state = read_state(conn)
    if state.collation not in ("", collation):
        reset(conn)
    with _transaction(conn):
        _set_meta(conn, "signature", signature)
        _set_meta(conn, "collation", collation)
        conn.executemany("INSERT OR IGNORE INTO views (name) VALUES (?)", [(v,) for v in views])
    return read_state(conn)


def read_state(conn: sqlite3.Connection) -> IndexState:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    views = dict(conn.execute("SELECT name, id FROM views").fetchall())
    return IndexState(
        seq=str(meta.get("seq", "0")),
        purge_seq=str(meta.get("purge_seq", "0")),
        collation=str(meta.get("collation", "")),
        views=views,
    )


def reset(conn: sqlite3.Connection) -> None:
    """Forget every row (a purge or a new collation made them stale): the next update
    rebuilds."""
    with _transaction(conn):
        conn.execute("DELETE FROM rows")
        conn.execute("DELETE FROM blocks")
        ranks.invalidate(conn)
        conn.execute("UPDATE views SET row_count = 0")
        conn.execute("DELETE FROM meta WHERE key IN ('seq', 'purge_seq')")


@dataclass(frozen=True, slots=True)
class Batch:
    """One update step: the documents whose rows change and their new rows per view."""

    seq: str
    purge_seq: str
    # Documents whose old rows go (changed or deleted since the last batch).
    removed: Sequence[str]
    # (view id, doc id, rows) for every document with rows now.
    added: Sequence[tuple[int, str, list[StoredRow]]]


def apply(conn: sqlite3.Connection, batch: Batch, *, fresh: bool) -> None:
    """Replace the batch's documents' rows and move the index to ``batch.seq``, atomically.

    Only rows that differ are written: an edit usually leaves most of a document's rows as
    they were (a message's text changed, its key did not), and every page a transaction
    touches is written again at commit. ``fresh`` (an index still at sequence 0 holds no
    rows) skips looking for old rows.
    """
    with _transaction(conn):
        new = {
            (view, skey, dup): (doc_id, key, value)
            for view, doc_id, rows in batch.added
            for skey, dup, key, value in rows
        }
        old = {} if fresh else _old_rows(conn, batch.removed)
        gone = sorted(place for place in old if place not in new)
        inserts = sorted((*place, *row) for place, row in new.items() if place not in old)
        changed = sorted(
            (*place, row[1], row[2])
            for place, row in new.items()
            if place in old and old[place] != row[1:]
        )
        conn.executemany("DELETE FROM rows WHERE view = ? AND skey = ? AND dup = ?", gone)
        conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?)", inserts)
        conn.executemany(
            "UPDATE rows SET key = ?4, value = ?5 WHERE view = ?1 AND skey = ?2 AND dup = ?3",
            changed,
        )
        counts: dict[int, int] = {}
        for row in inserts:
            counts[row[0]] = counts.get(row[0], 0) + 1
        for place in gone:
            counts[place[0]] = counts.get(place[0], 0) - 1
        conn.executemany(
            "UPDATE views SET row_count = row_count + ? WHERE id = ?",
            [(delta, view) for view, delta in counts.items() if delta],
        )
        if ranks.is_valid(conn):
            ranks.adjust(conn, [row[:2] for row in inserts], [place[:2] for place in gone])
        _set_meta(conn, "seq", batch.seq)
        _set_meta(conn, "purge_seq", batch.purge_seq)


def _old_rows(
    conn: sqlite3.Connection, doc_ids: Sequence[str]
) -> dict[tuple[int, bytes, int], tuple[str, str]]:
    """The rows the index holds for ``doc_ids``: place -> (key JSON, value JSON)."""
    old: dict[tuple[int, bytes, int], tuple[str, str]] = {}
    for start in range(0, len(doc_ids), ID_CHUNK):
        chunk = list(doc_ids[start : start + ID_CHUNK])
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT view, skey, dup, key, value FROM rows WHERE doc_id IN ({marks})"
        for view, skey, dup, key, value in conn.execute(sql, chunk):
            old[(view, skey, dup)] = (key, value)
    return old


def settle(conn: sqlite3.Connection) -> None:
    """After an update: cut the rank blocks if a build from scratch left them stale."""
    if ranks.is_valid(conn):
        return
    with _transaction(conn):
        ranks.rebuild(conn, [row[0] for row in conn.execute("SELECT id FROM views")])


def row_count(conn: sqlite3.Connection, view: int) -> int:
    row = conn.execute("SELECT row_count FROM views WHERE id = ?", (view,)).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True, slots=True)
class Range:
    """A contiguous slice of one view in one direction (bounds are ``skey`` bytes)."""

    low: bytes | None = None
    low_inclusive: bool = True
    high: bytes | None = None
    high_inclusive: bool = True
    descending: bool = False

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["view = ?"], []
        if self.low is not None:
            clauses.append("skey >= ?" if self.low_inclusive else "skey > ?")
            params.append(self.low)
        if self.high is not None:
            clauses.append("skey <= ?" if self.high_inclusive else "skey < ?")
            params.append(self.high)
        return " AND ".join(clauses), params


# A row as scanned: (skey, doc id, key JSON, value JSON).
ScannedRow = tuple[bytes, str, str, str]


def _select(view: int, span: Range) -> tuple[str, list[Any]]:
    """The range's rows in its direction. Descending reverses rows but not one document's
    duplicates of a key: CouchDB stores those as one B-tree entry ({dups, Values}) and
    expands it in stored order either way."""
    where, params = span.where()
    order = "DESC" if span.descending else "ASC"
    sql = (
        f"SELECT skey, doc_id, key, value FROM rows WHERE {where} "
        f"ORDER BY view {order}, skey {order}, dup"
    )
    return sql, [view, *params]


def scan(
    conn: sqlite3.Connection, view: int, span: Range, *, skip: int = 0, limit: int | None = None
) -> list[ScannedRow]:
    sql, params = _select(view, span)
    return conn.execute(
        sql + " LIMIT ? OFFSET ?", [*params, -1 if limit is None else limit, skip]
    ).fetchall()


def iter_scan(conn: sqlite3.Connection, view: int, span: Range) -> Iterator[ScannedRow]:
    """Every row of the range, streamed (reduce queries fold over whole ranges)."""
    sql, params = _select(view, span)
    yield from conn.execute(sql, params)


def count_before(conn: sqlite3.Connection, view: int, span: Range) -> int:
    """How many rows precede ``span`` in its direction: CouchDB's ``offset``."""
    if span.descending:
        if span.high is None:
            return 0
        return row_count(conn, view) - _rank(conn, view, span.high, span.high_inclusive)
    if span.low is None:
        return 0
    return _rank(conn, view, span.low, not span.low_inclusive)


def _rank(conn: sqlite3.Connection, view: int, position: bytes, inclusive: bool) -> int:
    if ranks.is_valid(conn):
        return ranks.rank(conn, view, position, inclusive=inclusive)
    compare = "<=" if inclusive else "<"
    sql = f"SELECT COUNT(*) FROM rows WHERE view = ? AND skey {compare} ?"
    return int(conn.execute(sql, (view, position)).fetchone()[0])


def size(conn: sqlite3.Connection) -> tuple[int, int]:
    """(file bytes, live bytes) of the index file."""
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return pages * page_size, (pages - free) * page_size


def compact(conn: sqlite3.Connection) -> None:
    conn.execute("VACUUM")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class _transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _set_meta(conn: sqlite3.Connection, key: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
