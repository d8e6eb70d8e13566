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
from typing import Any

from brainlink_docs.store.api import DESIGN_PREFIX, ChangesQuery, Doc, DocumentStore
from brainlink_docs.views.collation import COLLATION_VERSION
from brainlink_docs.views.index import storage
from brainlink_docs.views.index.files import IndexFile
from brainlink_docs.views.index.mappers import Mapper
from brainlink_docs.views.index.rows import stored_rows
from brainlink_docs.views.index.storage import Batch, IndexState
from brainlink_docs.views.js.engine import ViewRows

# Documents per update step (one _changes page, one map call, one transaction): large enough
# to amortize the crossings, small enough that a crash redoes little and memory stays flat.
UPDATE_BATCH = 1000


class ViewIndex:
    def __init__(self, path: str, mapper: Mapper, options: Mapping[str, Any]) -> None:
        self.file = IndexFile(path)
        self.mapper = mapper
        self.include_design = bool(options.get("include_design", False))
        self.state = IndexState(seq="0", purge_seq="0", collation="", views={})
        self.updating = False
        self._lock = asyncio.Lock()
        self._closed = False

    async def open(self) -> None:
        self.state = await self.file.write(
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
            await self.file.write(storage.reset)
            self.state = await self.file.read(storage.read_state)
        if info.update_seq == self.state.seq:
            return
        while True:
            page = await store.changes(
                ChangesQuery(since=self.state.seq, limit=UPDATE_BATCH, include_docs=True)
            )
            if not page.results and page.last_seq == self.state.seq:
                return
            docs = [
                change.doc
                for change in page.results
                if not change.deleted and change.doc is not None and self._maps(change.id)
            ]
            mapped = await self.mapper.map_docs(docs)
            removed = [change.id for change in page.results]
            fresh = self.state.seq == "0"
            await self.file.write(
                _apply,
                page.last_seq,
                info.purge_seq,
                removed,
                docs,
                mapped,
                self._view_ids(),
                fresh=fresh,
            )
            self.state = IndexState(
                seq=page.last_seq,
                purge_seq=info.purge_seq,
                collation=COLLATION_VERSION,
                views=self.state.views,
            )
            if len(page.results) < UPDATE_BATCH:
                return

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


def _apply(
    conn: sqlite3.Connection,
    seq: str,
    purge_seq: str,
    removed: Sequence[str],
    docs: Sequence[Doc],
    mapped: Sequence[Sequence[ViewRows]],
    view_ids: Sequence[int],
    *,
    fresh: bool,
) -> None:
    """Encode the batch's rows (sort keys are CPU work: on this thread, not the loop) and apply."""
    added = [
        (view_id, doc["_id"], stored_rows(doc["_id"], rows))
        for doc, per_view in zip(docs, mapped, strict=True)
        for view_id, rows in zip(view_ids, per_view, strict=True)
        if rows
    ]
    storage.apply(conn, Batch(seq, purge_seq, removed, added), fresh=fresh)
