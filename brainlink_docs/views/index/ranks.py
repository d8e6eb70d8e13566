"""Rank blocks: how many rows of a view come before a position, without counting them all.

CouchDB answers every map query with ``offset`` (the rows before the range), which its B-tree
gets from the counts reduced into inner nodes. SQLite's B-tree keeps no counts, and ``COUNT``
over the rows before a key costs time in proportion to them (milliseconds at 100,000 rows,
tens at a million). So each view is cut into *blocks* of consecutive rows::

    blocks (view, low, count)   WITHOUT ROWID, primary key (view, low)

a block holds the rows from its ``low`` sort key up to the next block's; the first block's
``low`` is ``b""``. The rank of a position is the sum of the counts of the blocks before its
block (a few thousand small rows at most) plus a ``COUNT`` within its block (at most
``2 * BLOCK_ROWS`` rows). Writes adjust the counts of the blocks their rows fall in and split a
block that grew past ``2 * BLOCK_ROWS``; deletions only shrink counts.

A build from scratch inserts rows in document order, which would split blocks over and over:
while ``meta.blocks`` is not ``'valid'`` writes skip the blocks and ``rebuild`` cuts them in one
ordered scan when the update ends (also after a crash mid-build, on the next update). Until
then ``rank`` is a plain ``COUNT``, so answers are always exact.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS blocks (
    view INTEGER NOT NULL, low BLOB NOT NULL, count INTEGER NOT NULL,
    PRIMARY KEY (view, low)
) WITHOUT ROWID;
"""
# Rows per block when cut: the within-block COUNT stays ~20 µs; a million rows are ~1,000
# blocks, whose counts SQLite sums in well under a millisecond.
BLOCK_ROWS = 1024


def is_valid(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT value FROM meta WHERE key = 'blocks'").fetchone()
    return bool(row and row[0] == "valid")


def invalidate(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('blocks', 'stale')")


def rebuild(conn: sqlite3.Connection, views: Iterable[int]) -> None:
    """Cut every view into blocks of ``BLOCK_ROWS`` rows (call inside a write transaction)."""
    conn.execute("DELETE FROM blocks")
    for view in views:
        blocks: list[tuple[int, bytes, int]] = []
        low, count = b"", 0
        previous: bytes | None = None
        cursor = conn.execute("SELECT skey FROM rows WHERE view = ? ORDER BY skey, dup", (view,))
        for (skey,) in cursor:
            # A block starts only between distinct sort keys: duplicates stay together.
            if count >= BLOCK_ROWS and skey != previous:
                blocks.append((view, low, count))
                low, count = skey, 0
            count += 1
            previous = skey
        blocks.append((view, low, count))
        conn.executemany("INSERT INTO blocks VALUES (?, ?, ?)", blocks)
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('blocks', 'valid')")


def adjust(
    conn: sqlite3.Connection,
    inserted: Iterable[tuple[int, bytes]],
    removed: Iterable[tuple[int, bytes]],
) -> None:
    """Move the counts for rows written and removed in this transaction; split big blocks."""
    deltas: dict[tuple[int, bytes], int] = {}
    lows: dict[int, list[bytes]] = {}
    for rows, sign in ((inserted, 1), (removed, -1)):
        for view, skey in rows:
            view_lows = lows.get(view)
            if view_lows is None:
                view_lows = lows[view] = _lows(conn, view)
            low = view_lows[bisect.bisect_right(view_lows, skey) - 1]
            deltas[(view, low)] = deltas.get((view, low), 0) + sign
    conn.executemany(
        "UPDATE blocks SET count = count + ? WHERE view = ? AND low = ?",
        [(delta, view, low) for (view, low), delta in deltas.items() if delta],
    )
    for view, low in deltas:
        _split(conn, view, low, lows[view])


def _lows(conn: sqlite3.Connection, view: int) -> list[bytes]:
    lows = [
        row[0]
        for row in conn.execute("SELECT low FROM blocks WHERE view = ? ORDER BY low", (view,))
    ]
    return lows or _first_block(conn, view)


def _first_block(conn: sqlite3.Connection, view: int) -> list[bytes]:
    conn.execute("INSERT INTO blocks VALUES (?, ?, 0)", (view, b""))
    return [b""]


def _split(conn: sqlite3.Connection, view: int, low: bytes, lows: list[bytes]) -> None:
    """Halve the block at ``low`` while it holds more than ``2 * BLOCK_ROWS`` rows."""
    while True:
        count = conn.execute(
            "SELECT count FROM blocks WHERE view = ? AND low = ?", (view, low)
        ).fetchone()[0]
        if count <= 2 * BLOCK_ROWS:
            return
        at = bisect.bisect_right(lows, low)
        high = lows[at] if at < len(lows) else None
        middle = _middle(conn, view, low, high, count // 2)
        if middle is None or middle == low:
            return  # one sort key's duplicates fill the block: it cannot be cut
        moved = _count(conn, view, middle, high)
        conn.execute(
            "UPDATE blocks SET count = ? WHERE view = ? AND low = ?", (count - moved, view, low)
        )
        conn.execute("INSERT INTO blocks VALUES (?, ?, ?)", (view, middle, moved))
        lows.insert(at, middle)
        if count - moved <= moved:
            low = middle


def _middle(
    conn: sqlite3.Connection, view: int, low: bytes, high: bytes | None, offset: int
) -> bytes | None:
    bound, params = ("AND skey < ?", [high]) if high is not None else ("", [])
    row = conn.execute(
        f"SELECT skey FROM rows WHERE view = ? AND skey >= ? {bound} "
        "ORDER BY skey, dup LIMIT 1 OFFSET ?",
        [view, low, *params, offset],
    ).fetchone()
    return None if row is None else row[0]


def _count(conn: sqlite3.Connection, view: int, low: bytes, high: bytes | None) -> int:
    bound, params = ("AND skey < ?", [high]) if high is not None else ("", [])
    return int(
        conn.execute(
            f"SELECT COUNT(*) FROM rows WHERE view = ? AND skey >= ? {bound}",
            [view, low, *params],
        ).fetchone()[0]
    )


def rank(conn: sqlite3.Connection, view: int, position: bytes, *, inclusive: bool) -> int:
    """Rows with ``skey < position`` (``<=`` when ``inclusive``); blocks must be valid."""
    row = conn.execute(
        "SELECT low FROM blocks WHERE view = ? AND low <= ? ORDER BY low DESC LIMIT 1",
        (view, position),
    ).fetchone()
    low = b"" if row is None else row[0]
    before = conn.execute(
        "SELECT COALESCE(SUM(count), 0) FROM blocks WHERE view = ? AND low < ?", (view, low)
    ).fetchone()[0]
    compare = "<=" if inclusive else "<"
    within = conn.execute(
        f"SELECT COUNT(*) FROM rows WHERE view = ? AND skey >= ? AND skey {compare} ?",
        (view, low, position),
    ).fetchone()[0]
    return int(before) + int(within)
