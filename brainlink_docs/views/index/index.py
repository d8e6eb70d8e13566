"""``ViewIndex``: one design-document signature's index, kept up to date from a store's changes.

``update`` reads the store's ``_changes`` (winning revisions with their bodies) from the
sequence the index reached, asks the ``Mapper`` for each batch's rows and applies the batch in
one transaction with the new sequence (see ``storage``). Only winners are mapped and a deleted
winner leaves no rows, as CouchDB's updater does. Design documents are mapped only when the
design document's ``options.include_design`` says so, and never ``_local`` ones (they are not
in ``_changes``). A purge (the store's ``purge_seq`` moved) cannot be followed through
``_changes``, so the index is reset and rebuilt once.

Updates of one index are serialized; a query waits for the update it triggered, which brings
the index to the store's sequence of that moment, as CouchDB's ``update=true`` does.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.index_files import IndexFile
from brainlink_docs.store.api import DESIGN_PREFIX, Change, ChangesQuery, DocumentStore
from brainlink_docs.views.collation import COLLATION_VERSION
from brainlink_docs.views.index import storage
from brainlink_docs.views.index.mappers import Mapper
from brainlink_docs.views.index.rows import stored_rows
from brainlink_docs.views.index.storage import Batch, IndexState
from brainlink_docs.views.js.engine import ViewRows

# Documents per _changes page and map call: large enough to amortize the engine crossing.
UPDATE_BATCH = 1000
# Documents per index transaction: commits rewrite every page they touched into the WAL, so
# few large transactions insert rows several times faster than many small ones (measured:
# 200,000 rows in 2,000-row transactions ~4 s, in 20,000-row ones ~1.3 s). A crash redoes at
# most this many documents; only their rows (not their bodies) wait in memory.
COMMIT_DOCS = 10_000


class ViewIndex:
    def __init__(self, path: str, mapper: Mapper, options: Mapping[str, Any]) -> None:
        self.file = IndexFile(path, storage.connect)
        self.mapper = mapper
        self.include_design = bool(options.get("include_design", False))
        self.state = IndexState(seq="0", purge_seq="0", collation="", views={})
        self.updating = False
        # The store generation this index was last brought up to date at (``ViewIndexes``).
        self.current_at: int | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        # Whether this process has seen the rank blocks cut (a crash may have left them stale).
        self._settled = False

    async def open(self) -> None:
        self.state = await self.file.run(
            storage.initialize, self.mapper.signature, self.mapper.view_names, COLLATION_VERSION
        )

    async def update(self, store: DocumentStore) -> None:
        """Bring the index to the store's current sequence."""
        async with self._lock:
            self.updating = True
            try:
                await self._update(store)
            finally:
                self.updating = False

    async def _update(self, store: DocumentStore) -> None:
        info = await store.info()
        if info.purge_seq != self.state.purge_seq and self.state.seq != "0":
            await self.file.run(storage.reset)
            self.state = await self.file.run(storage.read_state)
        if info.update_seq == self.state.seq and self._settled:
            return
        pending: asyncio.Task[IndexState] | None = None
        batch = _Pending(self.state.seq)
        since = self.state.seq
        try:
            while True:
                page = await store.changes(
                    ChangesQuery(since=since, limit=UPDATE_BATCH, include_docs=True)
                )
                if not page.results and page.last_seq == since:
                    break
                await self._map_into(batch, page.results)
                since = batch.seq = page.last_seq
                done = len(page.results) < UPDATE_BATCH
                if batch.size >= COMMIT_DOCS or done:
                    pending = await self._commit(pending, batch, info.purge_seq)
                    batch = _Pending(since)
                if done:
                    break
            if batch.size:
                pending = await self._commit(pending, batch, info.purge_seq)
        finally:
            if pending is not None:
                self.state = await pending
        await self.file.run(storage.settle)
        self._settled = True

    async def _map_into(self, batch: _Pending, changes: Sequence[Change]) -> None:
        docs = [
            change.doc
            for change in changes
            if not change.deleted and change.doc is not None and self._maps(change.id)
        ]
        mapped = await self.mapper.map_docs(docs)
        for change in changes:
            batch.rows.pop(change.id, None)
            batch.changed.append(change.id)
        for doc, per_view in zip(docs, mapped, strict=True):
            batch.rows[doc["_id"]] = per_view

    async def _commit(
        self, previous: asyncio.Task[IndexState] | None, batch: _Pending, purge_seq: str
    ) -> asyncio.Task[IndexState]:
        """Start writing ``batch`` once the previous write is done; mapping the next batch
        overlaps this write (SQLite works without the GIL)."""
        if previous is not None:
            self.state = await previous
        fresh = self.state.seq == "0"
        write = self.file.run(
            _apply, batch, purge_seq, self._view_ids(), self.state.views, fresh=fresh
        )
        return asyncio.ensure_future(write)

    def _maps(self, doc_id: str) -> bool:
        return self.include_design or not doc_id.startswith(DESIGN_PREFIX)

    def _view_ids(self) -> list[int]:
        return [self.state.views[name] for name in self.mapper.view_names]

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await asyncio.to_thread(self.file.close)


@dataclass(slots=True)
class _Pending:
    """Mapped documents waiting to be written in one transaction (the last map per id)."""

    seq: str
    rows: dict[str, Sequence[ViewRows]] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.changed)


def _apply(
    conn: sqlite3.Connection,
    batch: _Pending,
    purge_seq: str,
    view_ids: Sequence[int],
    views: dict[str, int],
    *,
    fresh: bool,
) -> IndexState:
    """Encode the batch's rows (sort keys are CPU work: on this thread, not the loop) and apply."""
    added = [
        (view_id, doc_id, stored_rows(doc_id, rows))
        for doc_id, per_view in batch.rows.items()
        for view_id, rows in zip(view_ids, per_view, strict=True)
        if rows
    ]
    removed = list(dict.fromkeys(batch.changed))
    storage.apply(conn, Batch(batch.seq, purge_seq, removed, added), fresh=fresh)
    return IndexState(batch.seq, purge_seq, COLLATION_VERSION, views)
