"""``IndexFile``: one index's SQLite file behind an async boundary.

One writer thread owns the only write connection (updates are serialized by the caller's lock
anyway); reads run on a small pool whose threads each keep their own connection, so queries
read concurrently with an update (WAL) and the event loop never touches ``sqlite3``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Concatenate, ParamSpec, TypeVar

from brainlink_docs.views.index import storage

P = ParamSpec("P")
T = TypeVar("T")
# Concurrent readers of one index; the machine this runs on has few cores.
READERS = 2

_Work = Callable[Concatenate[sqlite3.Connection, P], T]


class IndexFile:
    def __init__(self, path: str) -> None:
        self.path = path
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="brainlink-view-writer")
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="brainlink-view-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._guard = threading.Lock()

    async def write(
        self,
        function: _Work[P, T],
        *args: P.args,
        **kw: P.kwargs,
    ) -> T:
        return await asyncio.wrap_future(self._writer.submit(self._call, function, *args, **kw))

    async def read(
        self,
        function: _Work[P, T],
        *args: P.args,
        **kw: P.kwargs,
    ) -> T:
        return await asyncio.wrap_future(self._readers.submit(self._call, function, *args, **kw))

    def _call(
        self,
        function: _Work[P, T],
        *args: P.args,
        **kw: P.kwargs,
    ) -> T:
        return function(self._connection(), *args, **kw)

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = storage.connect(self.path)
            self._local.conn = conn
            with self._guard:
                self._connections.append(conn)
        return conn

    def close(self) -> None:
        """Blocking: finish queued work, then close every connection."""
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._guard:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
