"""The on-disk layout of one database: one SQLite file, WAL, one writer and many readers.

Tables:
- ``docs``: one row per document. ``seq`` is the rowid and the document's latest sequence, so a
  ``_changes`` scan reads the table in order and a document appears once, at its newest change
  (``INSERT OR REPLACE`` on ``doc_id`` moves it). The row holds the winning revision, the whole
  revision tree (msgpack) and the winner's body and attachment metadata, so the common read is one
  lookup.
- ``revs``: bodies of every *other* stored revision (losing leaves, and ancestors until compaction).
- ``att_data``: attachment bytes, once per digest however many revisions share them.
- ``local_docs``: ``_local/`` documents: no tree, no sequence, never replicated.
- ``meta``: counters and settings, updated in the same transaction as the documents.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

SCHEMA_VERSION = 1
# Ids per ``IN (...)`` lookup: well under SQLite's default limit of 32766 bound parameters.
ID_CHUNK = 900

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    rev TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    tree BLOB,
    body BLOB,
    atts BLOB
);
CREATE TABLE IF NOT EXISTS revs (
    doc_id TEXT NOT NULL,
    rev TEXT NOT NULL,
    body BLOB NOT NULL,
    atts BLOB,
    PRIMARY KEY (doc_id, rev)
);
CREATE TABLE IF NOT EXISTS att_data (
    digest TEXT PRIMARY KEY,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS local_docs (
    doc_id TEXT PRIMARY KEY,
    rev INTEGER NOT NULL,
    body BLOB NOT NULL
) WITHOUT ROWID;
"""

# Durability. NORMAL (the device default): a commit is in the WAL before it is acknowledged, so it
# survives a killed process; a power cut may roll back the last commits but never corrupts the
# file. That is PouchDB's guarantee (LevelDB writes without fsync). FULL also fsyncs the WAL on
# every commit, as CouchDB does before it answers, and survives power loss: the server uses it.
DEFAULT_SYNCHRONOUS = "NORMAL"
SYNCHRONOUS_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")
# Readers and the writer wait this long for a lock rather than failing at once.
BUSY_TIMEOUT_MS = 10_000
# Checkpoint the WAL every 10,000 pages (~40 MB) instead of SQLite's 1,000: index pages that
# several batches touch are copied into the database once, not once per batch. Measured on 1M
# chat messages written in batches of 1,000: 23.9k -> 29.6k docs/s.
WAL_CHECKPOINT_PAGES = 10_000
# After a checkpoint the WAL file is truncated back to this size (bytes), so it never stays huge.
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# Per-connection page cache (KiB, as a negative cache_size); RSS stays flat however big the file.
CACHE_KIB = 16_384


def _has_content(path: str) -> bool:
    if path == ":memory:" or path.startswith("file:"):
        return False
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def connect(path: str, *, synchronous: str = DEFAULT_SYNCHRONOUS) -> sqlite3.Connection:
    """Open one connection with the project's pragmas; transactions are explicit (autocommit)."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}")
    new_file = not _has_content(path)
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, uri=path.startswith("file:")
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    if new_file:
        # Must precede the first write of a new file (WAL mode writes the header): it lets
        # compaction hand freed pages back to the file system. On an existing file it changes
        # nothing but costs a quarter of the open (measured), so it is skipped there.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    return conn


def initialize(conn: sqlite3.Connection) -> dict[str, object]:
    """Create the tables and the first meta rows of a new database (idempotent); answers the
    meta rows, so opening a store needs no reader connection yet."""
    existing = _existing_meta(conn)
    if existing is not None:
        # An existing database: no write transaction just to open it (a per-user database is
        # opened by its user's first request after a while; this halves that open).
        return existing
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(statement)
        defaults = {
            "schema_version": SCHEMA_VERSION,
            "instance": uuid.uuid4().hex,
            "update_seq": 0,
            "purge_seq": 0,
            "doc_count": 0,
            "doc_del_count": 0,
            "revs_limit": 1000,
        }
        conn.executemany(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", list(defaults.items())
        )
        meta = read_meta(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return meta


def _existing_meta(conn: sqlite3.Connection) -> dict[str, object] | None:
    try:
        meta = read_meta(conn)
    except sqlite3.OperationalError:  # no meta table: a new file
        return None
    return meta if meta.get("schema_version") == SCHEMA_VERSION else None


def read_meta(conn: sqlite3.Connection) -> dict[str, object]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def docs_rows(conn: sqlite3.Connection, select: str, doc_ids: Iterable[str]) -> Iterator[Any]:
    """The ``docs`` rows of ``doc_ids`` that exist (each id once), as ``select`` (a ``SELECT
    ... FROM docs`` without ``WHERE``) returns them, in a few ``IN`` queries: a batch asks about
    hundreds of ids at once, and one statement per id was most of that batch's time."""
    unique = list(dict.fromkeys(doc_ids))
    for start in range(0, len(unique), ID_CHUNK):
        chunk = unique[start : start + ID_CHUNK]
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(f"{select} WHERE doc_id IN ({marks})", chunk)
