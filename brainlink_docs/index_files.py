"""``IndexFile``: an SQLite file of data derived from a database (a view index, a message
search index) behind an async boundary.

Every such file of the process shares one small pool of threads (a server may hold hundreds
of databases with indexes: threads per file would add up to thousands); each thread opens its
own connection to a file on first use, with the ``connect`` its kind of index gives. Writes to
one file are serialized by its index's update lock, and SQLite's WAL lets reads run beside a
write, so the event loop never touches ``sqlite3`` and never waits on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Concatenate, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")
# Threads for every index file's reads and writes: the machines this runs on have few cores,
# and SQLite does its work without the GIL (FTS5 ranking included), so a few keep them busy.
POOL_THREADS = 4

_Work = Callable[Concatenate[sqlite3.Connection, P], T]
_pool: ThreadPoolExecutor | None = None
_pool_guard = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_guard:
        if _pool is None:
            _pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="brainlink-index")
        return _pool


class IndexFile:
    def __init__(self, path: str, connect: Callable[[str], sqlite3.Connection]) -> None:
        self.path = path
        self._connect = connect
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False

    async def run(self, function: _Work[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """``function(connection, *args)`` on a pool thread (reads and writes alike: the
        caller's update lock serializes the writes)."""
        future = _shared_pool().submit(self._call, function, *args, **kw)
        return await asyncio.wrap_future(future)

    def _call(self, function: _Work[P, T], *args: P.args, **kw: P.kwargs) -> T:
        return function(self._connection(), *args, **kw)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._guard:
                if self._closed:
                    raise RuntimeError(f"index file {self.path} is closed")
                conn = self._connect(self.path)
                self._connections.append(conn)
            self._local.conn = conn
        return conn

    def close(self) -> None:
        """Blocking: close every connection (callers first wait for their work to finish)."""
        with self._guard:
            self._closed = True
            for conn in self._connections:
                conn.close()
            self._connections.clear()


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: what a query reads inside it (counts and rows, a ranking and its
    snippets) comes from one state of the index."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")
