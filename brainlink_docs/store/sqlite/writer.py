"""The writer thread: the only write connection, with group commit.

Write operations queue up while the previous commit is being synced. The thread takes everything
waiting (up to ``GROUP_LIMIT``) into ONE transaction, each operation inside its own SAVEPOINT so
a failing one rolls back alone and raises to its own caller, then commits once and only then
answers every caller. Operations run in arrival order, each seeing the ones before it, exactly as
if they had run one by one; the fsync that FULL durability pays is shared by the whole group. So
fifty clients writing at once cost one sync, not fifty, as CouchDB batches concurrent updates.

``bare`` operations (schema setup, vacuum, checkpoints) run alone and outside any transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Upper bound on operations sharing one transaction: bounds the work lost to a failed COMMIT and
# the latency the first caller of a large group waits.
GROUP_LIMIT = 64


@dataclass(slots=True)
class _Job:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    bare: bool


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class WriterThread:
    def __init__(self, connect: Callable[[], sqlite3.Connection], name: str) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._conn: sqlite3.Connection | None = None
        # Not waited for: opening a new file takes milliseconds the event loop should not
        # block on (a server creating a database per sign-up). Jobs queue up meanwhile.
        self._thread.start()

    def submit(
        self, fn: Callable[..., Any], args: tuple[Any, ...], *, bare: bool
    ) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put(_Job(fn, args, loop, future, bare))
        return future

    def _run(self) -> None:
        try:
            self._conn = self._connect()
        except BaseException as exc:
            self._refuse_all(exc)
            return
        try:
            self._loop()
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    def _loop(self) -> None:
        deferred: _Job | None = None
        while True:
            job = deferred if deferred is not None else self._queue.get()
            deferred = None
            if job is None:
                return
            if job.bare:
                self._answer([(job, *self._call(job))])
                continue
            group = [job]
            stop = False
            while len(group) < GROUP_LIMIT:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if nxt.bare:
                    deferred = nxt
                    break
                group.append(nxt)
            self._answer(self._commit_group(group))
            if stop:
                return

    def _call(self, job: _Job) -> tuple[Any, BaseException | None]:
        try:
            return job.fn(self._conn, *job.args), None
        except BaseException as exc:
            return None, exc

    def _commit_group(self, group: list[_Job]) -> list[tuple[_Job, Any, BaseException | None]]:
        conn = self._conn
        assert conn is not None
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except BaseException as exc:
            return [(job, None, exc) for job in group]
        if len(group) == 1:
            # Alone in its transaction, a job needs no savepoint: a savepoint makes SQLite keep
            # a sub-journal of every page it touches, which triples the cost of a big batch.
            result, error = self._call(group[0])
            if error is not None:
                conn.execute("ROLLBACK")
                return [(group[0], None, error)]
            outcomes.append((group[0], result, None))
        else:
            outcomes = [self._in_savepoint(conn, job) for job in group]
        try:
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return [(job, None, exc) for job in group]
        return outcomes

    def _in_savepoint(
        self, conn: sqlite3.Connection, job: _Job
    ) -> tuple[_Job, Any, BaseException | None]:
        conn.execute("SAVEPOINT op")
        result, error = self._call(job)
        if error is not None:
            conn.execute("ROLLBACK TO op")
        conn.execute("RELEASE op")
        return job, result, error

    def _answer(self, outcomes: list[tuple[_Job, Any, BaseException | None]]) -> None:
        for job, result, error in outcomes:
            with contextlib.suppress(RuntimeError):  # the caller's loop may be closed
                job.loop.call_soon_threadsafe(_settle, job.future, result, error)

    def _refuse_all(self, error: BaseException) -> None:
        """The connection could not be opened: every job, until ``stop``, gets the error."""
        while (job := self._queue.get()) is not None:
            self._answer([(job, None, error)])

    def stop(self) -> None:
        """Finish every queued job, then close the connection."""
        self._queue.put(None)
        self._thread.join()
