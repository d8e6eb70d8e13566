"""Threads around SQLite: one writer that owns the only write connection, a few WAL readers.

The event loop never calls ``sqlite3``. A whole operation (a sync ``fn(conn, ...)`` from
``writes``/``reads``) crosses the thread boundary once: the writer runs it inside a
transaction that commits before the caller hears back (see ``writer``: concurrent writes share
one commit); a reader runs it inside one deferred transaction, so it sees one snapshot. An
in-memory database has a single connection, so there its reads queue on the writer thread too.

One exception, measured: a point read (one document by id) takes about 30 us in SQLite, while a
hop to a thread and back costs 60-80 us on these machines, so point reads run on the caller's
thread, on a connection of their own that only that thread uses. In WAL mode a reader never
waits for the writer, so this cannot stall the event loop behind a write.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from brainlink_docs.errors import NotFound
from brainlink_docs.store.sqlite.schema import DEFAULT_SYNCHRONOUS, connect
from brainlink_docs.store.sqlite.writer import WriterThread

T = TypeVar("T")

# Two cores per machine here: two readers keep one core for the writer and the event loop.
DEFAULT_READERS = 2


class Engine:
    def __init__(
        self, path: str, *, readers: int = DEFAULT_READERS, synchronous: str = DEFAULT_SYNCHRONOUS
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer = WriterThread(self._new_conn, "sqlite-writer")
        self._readers = (
            None
            if path == ":memory:"
            else ThreadPoolExecutor(readers, "sqlite-reader", initializer=self._open_reader)
        )
        self._point_conn: sqlite3.Connection | None = None
        self._closed = False

    def _new_conn(self) -> sqlite3.Connection:
        conn = connect(self.path, synchronous=self._synchronous)
        with self._lock:
            self._conns.append(conn)
        return conn

    def _open_reader(self) -> None:
        self._local.conn = self._new_conn()

    def _run_read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        return self._in_snapshot(self._local.conn, fn, args)

    @staticmethod
    def _in_snapshot(conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")

    def _check_open(self) -> None:
        if self._closed:
            raise NotFound("Database does not exist.")

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in a write transaction (grouped with concurrent writes)."""
        self._check_open()
        return await self._writer.submit(fn, args, bare=False)  # type: ignore[no-any-return]

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on a reader, inside one snapshot."""
        self._check_open()
        if self._readers is None:
            return await self._writer.submit(fn, args, bare=False)  # type: ignore[no-any-return]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn, args)

    async def read_point(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a small read (a few rows) on the calling thread; see the module docstring."""
        self._check_open()
        if self._readers is None:
            return await self.read(fn, *args)
        if self._point_conn is None:
            self._point_conn = self._new_conn()
        return self._in_snapshot(self._point_conn, fn, args)

    async def on_writer(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` on the writer outside a transaction (setup, vacuum)."""
        self._check_open()
        return await self._writer.submit(fn, args, bare=True)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Finish queued work, then close every connection (the last one checkpoints the WAL)."""
        if self._closed:
            return
        self._closed = True
        if self._readers is not None:
            self._readers.shutdown(wait=True)
        self._writer.stop()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
