"""One message-search index file: the SQLite schema and the synchronous writes on it.

The file belongs to one database and holds the text of its chat messages::

    meta      (key, value)                 seq (the store's sequence indexed up to), purge_seq,
                                           identity (the store's, see ``index``), tokenizer
    messages  (id, doc_id, user_id, chat_id, sequence)   one row per indexed message
    message_text  FTS5 (content, chat_key, user_key)     rowid = messages.id

``messages`` carries what a hit answers; ``message_text`` is a plain FTS5 table (it keeps its
own copy of the text, which ``snippet`` needs) whose key columns hold one token per chat and
user id (``filter_key``), so a filtered search is one FTS5 query. A batch of
changes is applied in one transaction together with the sequence it reaches, so a crash
mid-update leaves the index at the last committed batch and the next update resumes there.

Every function takes a ``sqlite3.Connection`` and runs on a worker thread (never the loop).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

# unicode61 folds case; remove_diacritics 2 also folds the diacritics of composed characters
# that 1 leaves alone, so "cafe" finds "café" and "resume" finds "résumé". Changing it changes
# every stored token: the file remembers it and rebuilds when it differs.
TOKENIZER = "unicode61 remove_diacritics 2"
# Prefix indexes for 2- and 3-character prefixes: "ca*" would otherwise walk every term that
# starts with "ca"; longer prefixes cover few terms and need no help.
PREFIXES = "2 3"
# Bumped when the schema or what is indexed changes: an older file is rebuilt.
SCHEMA_VERSION = "1"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    user_id TEXT,
    chat_id TEXT,
    sequence INTEGER
);
CREATE VIRTUAL TABLE IF NOT EXISTS message_text USING fts5 (
    content, chat_key, user_key, tokenize = '{TOKENIZER}', prefix = '{PREFIXES}'
);
"""
# The rank FTS5 orders by: bm25 of the content only (the key columns weigh nothing).
RANK = "bm25(1.0, 0.0, 0.0)"


def filter_key(value: str) -> str:
    """The one token standing for a chat or user id in its key column: ids are any strings
    (the tokenizer would split a UUID at its dashes), a digest is one ASCII word. A filter
    asks FTS5 for the key, which intersects posting lists (a chat's few hundred messages
    against a common word's many thousands) instead of reading every match; the query also
    compares the id itself, so a digest collision cannot let a message through."""
    return "k" + hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=10).hexdigest()


# Documents per IN (...) list: SQLite's default limit on host parameters is 32,766.
ID_CHUNK = 500


@dataclass(frozen=True, slots=True)
class IndexState:
    """Where an index is: the store sequence it reflects, the purge sequence it saw then and
    the identity of the database it was built from (``""`` before the first update)."""

    seq: str = "0"
    purge_seq: str = "0"
    identity: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """What the index keeps of one chat-message document."""

    doc_id: str
    user_id: str | None
    chat_id: str | None
    sequence: int | None
    content: str


@dataclass(frozen=True, slots=True)
class Batch:
    """One update step: documents gone (deleted, or no longer messages), messages written
    (their old text replaced) and the sequence reached with them."""

    seq: str
    purge_seq: str
    identity: str
    removed: Sequence[str]
    written: Sequence[Message]


def connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # WAL + NORMAL survives a process crash (only an OS crash can lose the last commits, and
    # the index can always be rebuilt from its database).
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-16000")
    return conn


def initialize(conn: sqlite3.Connection) -> IndexState:
    """Create the schema if new; start over when the file was built another way."""
    conn.executescript(_SCHEMA)
    meta = _meta(conn)
    built = (meta.get("schema"), meta.get("tokenizer"))
    if built != (SCHEMA_VERSION, TOKENIZER):
        reset(conn)
        with transaction(conn):
            conn.execute(
                "INSERT INTO message_text (message_text, rank) VALUES ('rank', ?)", (RANK,)
            )
            _set_meta(conn, "schema", SCHEMA_VERSION)
            _set_meta(conn, "tokenizer", TOKENIZER)
    return read_state(conn)


def read_state(conn: sqlite3.Connection) -> IndexState:
    meta = _meta(conn)
    return IndexState(
        seq=str(meta.get("seq", "0")),
        purge_seq=str(meta.get("purge_seq", "0")),
        identity=str(meta.get("identity", "")),
    )


def reset(conn: sqlite3.Connection) -> IndexState:
    """Forget every message (another database, a purge, a new tokenizer): the next update
    rebuilds from sequence 0."""
    with transaction(conn):
        conn.execute("DELETE FROM messages")
        conn.execute("DELETE FROM message_text")
        conn.execute("DELETE FROM meta WHERE key IN ('seq', 'purge_seq', 'identity')")
    return IndexState()


def apply(conn: sqlite3.Connection, batch: Batch) -> IndexState:
    """Remove and write the batch's documents and move the index to ``batch.seq``,
    atomically."""
    with transaction(conn):
        changed = list(dict.fromkeys([*batch.removed, *(m.doc_id for m in batch.written)]))
        old = _rowids(conn, changed)
        if old:
            conn.executemany("DELETE FROM message_text WHERE rowid = ?", [(r,) for r in old])
            conn.executemany("DELETE FROM messages WHERE id = ?", [(r,) for r in old])
        for message in batch.written:
            cursor = conn.execute(
                "INSERT INTO messages (doc_id, user_id, chat_id, sequence) VALUES (?, ?, ?, ?)",
                (message.doc_id, message.user_id, message.chat_id, message.sequence),
            )
            conn.execute(
                "INSERT INTO message_text (rowid, content, chat_key, user_key) VALUES (?, ?, ?, ?)",
                (
                    cursor.lastrowid,
                    message.content,
                    None if message.chat_id is None else filter_key(message.chat_id),
                    None if message.user_id is None else filter_key(message.user_id),
                ),
            )
        _set_meta(conn, "seq", batch.seq)
        _set_meta(conn, "purge_seq", batch.purge_seq)
        _set_meta(conn, "identity", batch.identity)
    return IndexState(batch.seq, batch.purge_seq, batch.identity)


def _rowids(conn: sqlite3.Connection, doc_ids: Sequence[str]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(doc_ids), ID_CHUNK):
        chunk = list(doc_ids[start : start + ID_CHUNK])
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id FROM messages WHERE doc_id IN ({marks})"
        found.extend(row[0] for row in conn.execute(sql, chunk))
    return found


def message_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0])


def dump(conn: sqlite3.Connection) -> list[tuple[str, str | None, str | None, int | None, str]]:
    """Every indexed message, by document id (tests compare an index with a rebuild)."""
    return conn.execute(
        "SELECT m.doc_id, m.user_id, m.chat_id, m.sequence, t.content "
        "FROM messages m JOIN message_text t ON t.rowid = m.id ORDER BY m.doc_id"
    ).fetchall()


def optimize(conn: sqlite3.Connection) -> None:
    """Merge FTS5's index segments into one (after a bulk build; queries read fewer b-trees).
    The merge rewrites the whole index through the WAL: truncate it after, or the file next
    to the index stays as large as the index."""
    with transaction(conn):
        conn.execute("INSERT INTO message_text (message_text) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _meta(conn: sqlite3.Connection) -> dict[str, object]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())


def _set_meta(conn: sqlite3.Connection, key: str, value: object) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
