"""``SearchFile``: one search index's SQLite file behind an async boundary.

The same shape as the view indexes' files (``views/index/files.py``), kept apart so search
depends on ``store.api`` alone: every search file of the process shares one small pool of
threads (a server may hold hundreds of databases: a thread per file would add up), each thread
opens its own connection to a file on first use. Writes to a file are serialized by its
index's update lock and WAL lets searches read beside a write, so the event loop never touches
``sqlite3`` and never waits on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from brainlink_docs.search import storage

P = ParamSpec("P")
T = TypeVar("T")
# Threads for every search file's reads and writes: the machines this runs on have few cores,
# and SQLite (FTS5 ranking included) runs without the GIL, so a few threads keep them busy.
POOL_THREADS = 4

_Work = Callable[Concatenate[sqlite3.Connection, P], T]
_pool: ThreadPoolExecutor | None = None
_pool_guard = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_guard:
        if _pool is None:
            _pool = ThreadPoolExecutor(POOL_THREADS, thread_name_prefix="brainlink-search")
        return _pool


class SearchFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._closed = False

    async def run(self, function: _Work[P, T], *args: P.args, **kw: P.kwargs) -> T:
        """``function(connection, *args)`` on a pool thread."""
        future = _shared_pool().submit(self._call, function, *args, **kw)
        return await asyncio.wrap_future(future)

    def _call(self, function: _Work[P, T], *args: P.args, **kw: P.kwargs) -> T:
        return function(self._connection(), *args, **kw)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._guard:
                if self._closed:
                    raise RuntimeError(f"search file {self.path} is closed")
                conn = storage.connect(self.path)
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
