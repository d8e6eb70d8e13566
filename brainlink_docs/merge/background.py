"""The server's background resolver (``[merge] resolve = true``): conflicts merged soon after
a replicated write brings them, by the database's policies.

It learns of writes from the stores ``WatchedDatabases`` hands out (``watched.py``): each
replicated write marks its database to sweep. One task works the marks in order, a database
once however many writes marked it meanwhile. A sweep reads the database's ``_changes`` in
``all_docs`` style from where the last one ended and resolves each document with two leaves or
more (``resolver.resolve``): it costs a read of what was written since, not a read per document
written, and the sweep of every database when the server starts (so conflicts written while
the resolver was off are merged too) is the same sweep from each database's checkpoint.

Policies: the database's ``_design/merge`` ``merge_policies`` (parsed again only when its
revision changes; a bad one is logged and the server's are used), else the server's
``[merge] policies``, else the default ``Policies()``.

The checkpoint (``_local/brainlink-merge-sweep``, ``last_seq``) holds this invariant: every
conflict written before it was resolved. It moves only past documents resolved or found
quiet; a document whose resolution failed holds it back, so the next sweep of that database
tries again. A checkpoint behind the truth (the server stopped between two throttled writes of
it) costs a re-read of those changes and nothing more: an already resolved document has one
live leaf, and ``resolve`` writes nothing for it. A database deleted and re-created starts from
0: its checkpoint went with its file, and a sequence of the old database rewinds to 0.

Our own resolutions are replicated writes too, so they mark the database again: the next sweep
reads the documents just merged, finds one live leaf each and writes nothing, so it ends there.
If a client edited a winner while we merged it (the edit and the merge are then both leaves),
that sweep merges them: a concurrent writer is handled by the next sweep, not by a retry loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field

from brainlink_docs.errors import BadRequest, CouchError, NotFound
from brainlink_docs.merge.policies import Policies
from brainlink_docs.merge.resolver import may_be_conflicted, resolve
from brainlink_docs.merge.sources import POLICIES_DDOC, design_policies
from brainlink_docs.merge.watched import DocCheck, WatchedDatabases, is_system_db
from brainlink_docs.replication.checkpoints import checkpoint_id, read_log, write_log
from brainlink_docs.store.api import ChangesQuery, Databases, DocumentStore, iter_changes

log = logging.getLogger("brainlink_docs.merge.background")

# The _local document (``_local/<this>``) a database's sweep checkpoint is kept in.
CHECKPOINT_ID = "brainlink-merge-sweep"
# A database's checkpoint is written at most this often while replicated writes keep coming
# (each is an fsync on the server); a stop writes the last one. Losing one costs a re-read.
CHECKPOINT_INTERVAL_S = 5.0


@dataclass(slots=True)
class Sweep:
    """Where the sweep of one database got to, and what of it is written down."""

    since: str = "0"
    saved: str = "0"
    rev: str | None = None  # of the _local checkpoint, for the next write over it
    saved_at: float = -math.inf


@dataclass(slots=True)
class BackgroundResolver:
    """Resolves the conflicts replicated writes bring into ``inner``'s databases. The server
    serves ``databases`` (``inner`` watched), and the resolver writes through it too."""

    inner: Databases
    default: Policies = field(default_factory=Policies)
    # The server's document check on every write (``WatchedStore``), if it has one.
    check: DocCheck | None = None
    databases: WatchedDatabases = field(init=False)
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    # Per database: the _design/merge revision last read and the policies it gave.
    designs: dict[str, tuple[str, Policies]] = field(default_factory=dict)
    # Databases to sweep, in the order they were marked (a dict as an ordered set).
    pending: dict[str, None] = field(default_factory=dict)
    sweeping: str | None = None  # the database being swept now
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.databases = WatchedDatabases(self.inner, self.written, self.check)

    def written(self, name: str) -> None:
        """A replicated write went into ``name``: sweep it (once, however often marked)."""
        if is_system_db(name):
            return
        self.pending[name] = None
        self.wake.set()

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run(), name="merge-resolver")

    async def stop(self) -> None:
        """Cancel the task (what is queued stays unresolved until the next start's sweep) and
        write the checkpoints the throttle held back."""
        task = self.task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for name, sweep in list(self.sweeps.items()):
            if sweep.since != sweep.saved:
                await self._save_logged(name, sweep)

    async def _run(self) -> None:
        for name in await self.databases.list():  # the start sweep, from each checkpoint
            self.written(name)
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.pending:
                name = self.sweeping = next(iter(self.pending))
                del self.pending[name]
                await self._sweep_logged(name)
                self.sweeping = None

    async def _sweep_logged(self, name: str) -> None:
        """``sweep``, whose failure is logged and ends only this sweep, never the task."""
        try:
            await self.sweep(name)
        except NotFound as exc:  # the database was deleted meanwhile
            log.debug("%s not swept: %s", name, exc.reason)
            self.sweeps.pop(name, None)
            self.designs.pop(name, None)
        except Exception:  # anything else: the other databases still get resolved
            log.exception("merge resolver: sweeping %s failed", name)

    async def sweep(self, name: str) -> None:
        """Resolve the conflicts written to ``name`` since its checkpoint."""
        async with self.databases.use(name) as store:
            sweep = await self._sweep_of(name, store)
            policies = await self._policies(name, store)
            held = False
            query = ChangesQuery(since=sweep.since, style="all_docs")
            async for change in iter_changes(store, query):
                if may_be_conflicted(change) and not await self._resolved(
                    store, change.id, policies
                ):
                    held = True  # the checkpoint stays before it: the next sweep tries again
                if not held:
                    sweep.since = change.seq
            if time.monotonic() - sweep.saved_at >= CHECKPOINT_INTERVAL_S:
                await self._save(store, sweep)

    async def _sweep_of(self, name: str, store: DocumentStore) -> Sweep:
        sweep = self.sweeps.get(name)
        if sweep is None:
            saved = await read_log(store, CHECKPOINT_ID) or {}
            seq = str(saved.get("last_seq", "0"))
            sweep = self.sweeps[name] = Sweep(seq, seq, saved.get("_rev"))
        return sweep

    async def _resolved(self, store: DocumentStore, doc_id: str, policies: Policies) -> bool:
        """Resolve ``doc_id``; ``False`` (logged) when it could not be."""
        try:
            resolution = await resolve(store, doc_id, policies)
        except CouchError as exc:
            log.warning("%s/%s not resolved: %s", store.name, doc_id, exc.reason)
            return False
        except Exception:  # a merge that fails on odd data must not keep the others unresolved
            log.exception("%s/%s not resolved", store.name, doc_id)
            return False
        if resolution is None:
            return True
        if not resolution.ok:
            failed = [row.to_json() for row in resolution.rows if not row.ok]
            log.warning("%s/%s not resolved: %s", store.name, doc_id, failed)
            return False
        log.info(
            "%s/%s resolved (%s): %s over %s",
            store.name,
            doc_id,
            resolution.strategy,
            resolution.merged_rev,
            ", ".join(resolution.losing_revs),
        )
        return True

    async def _policies(self, name: str, store: DocumentStore) -> Policies:
        try:
            ddoc = await store.get(POLICIES_DDOC)
        except NotFound:
            return self.default
        known = self.designs.get(name)
        if known is not None and known[0] == ddoc["_rev"]:
            return known[1]
        try:
            policies = design_policies(ddoc) or self.default
        except BadRequest as exc:  # written before the server checked them
            log.warning("%s: %s ignored, %s", name, POLICIES_DDOC, exc.reason)
            policies = self.default
        self.designs[name] = (ddoc["_rev"], policies)
        return policies

    async def _save(self, store: DocumentStore, sweep: Sweep) -> None:
        if sweep.since == sweep.saved:
            return
        seq = sweep.since
        sweep.rev = await write_log(
            store, {"_id": checkpoint_id(CHECKPOINT_ID), "last_seq": seq}, sweep.rev
        )
        sweep.saved, sweep.saved_at = seq, time.monotonic()

    async def _save_logged(self, name: str, sweep: Sweep) -> None:
        try:
            async with self.databases.use(name) as store:
                await self._save(store, sweep)
        except CouchError as exc:
            log.warning("%s: sweep checkpoint not written: %s", name, exc.reason)
