"""``MessageSearch``: a full-text index of one database's chat messages, kept from ``_changes``.

The index lives in its own SQLite file (``storage``) and follows the store as the view indexes
do: ``update`` reads ``_changes`` with bodies from the sequence it reached, keeps documents
whose winning revision is a ``chatMessage`` and removes the rest (a deletion, or an edit that
is no longer a message), and commits each batch with the sequence it reaches. Every search
brings the index up to date first, which costs one ``info()`` when nothing changed.

Two things cannot be followed through ``_changes``, so the index starts over when it sees them:

- a purge (the store's ``purge_seq`` moved): the purged documents send no change;
- another database behind the same name (deleted and re-created, or a file restored): its
  sequences may even look like the old one's. The index recognizes its database by a random
  identity it keeps in the database's ``_local/brainlink-search`` document (local documents are
  never replicated and go with their database), checked on the first update and whenever the
  store has moved, so it works the same over every ``DocumentStore``.

Updates are serialized; a search waits for the update it triggered.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brainlink_docs.errors import NotFound
from brainlink_docs.index_files import IndexFile
from brainlink_docs.search import query as queries
from brainlink_docs.search import storage
from brainlink_docs.search.query import DEFAULT_LIMIT, SearchPage
from brainlink_docs.search.storage import Batch, IndexState, Message
from brainlink_docs.store.api import Change, ChangesQuery, Doc, DocumentStore

MESSAGE_TYPE = "chatMessage"
IDENTITY_DOC = "_local/brainlink-search"
# Documents per _changes page: bodies of about 1 KB, so a page is about a megabyte.
UPDATE_BATCH = 1000
# Documents per index transaction: each commit writes the FTS5 segments it touched again, so
# fewer, larger transactions build faster; a crash redoes at most this many documents.
COMMIT_DOCS = 10_000
# Documents an update must index for it to merge FTS5's segments afterwards: a bulk build
# leaves many segments, each of which every query must open (measured on 100,000 messages:
# merging takes 0.4 s and cuts prefix and common-word p50 by a third); small updates are left
# to FTS5's own automerge.
OPTIMIZE_AFTER = 20_000


class MessageSearch:
    def __init__(self, store: DocumentStore, path: str | Path) -> None:
        self.store = store
        self.file = IndexFile(str(path), storage.connect)
        self.state = IndexState()
        self._lock = asyncio.Lock()
        self._opened = False
        # Whether this object has seen the database's identity match the file's.
        self._known = False
        self._closed = False
        # Queries running on the file's threads: closing waits for them.
        self._reading: set[asyncio.Future[SearchPage]] = set()

    async def search(
        self,
        text: str,
        *,
        user_id: str | None = None,
        chat_id: str | None = None,
        limit: int = DEFAULT_LIMIT,
        bookmark: str | None = None,
    ) -> SearchPage:
        """One page of the messages matching every word of ``text``, best first."""
        query = queries.make_query(
            text, user_id=user_id, chat_id=chat_id, limit=limit, bookmark=bookmark
        )
        await self.update()
        reading = asyncio.ensure_future(self.file.run(queries.run, query))
        self._reading.add(reading)
        try:
            return await reading
        finally:
            self._reading.discard(reading)

    async def update(self) -> None:
        """Bring the index to the store's current sequence."""
        async with self._lock:
            if self._closed:
                raise RuntimeError("the message search is closed")
            if not self._opened:
                self.state = await self.file.run(storage.initialize)
                self._opened = True
            await self._update()

    async def _update(self) -> None:
        info = await self.store.info()
        state = self.state
        if self._known and info.update_seq == state.seq and info.purge_seq == state.purge_seq:
            return
        identity = await self._identity()
        purged = info.purge_seq != state.purge_seq and state.seq != "0"
        if identity != state.identity or purged:
            state = self.state = await self.file.run(storage.reset)
        self._known = True
        since = state.seq
        pending: dict[str, Message | None] = {}
        indexed = 0
        while True:
            page = await self.store.changes(
                ChangesQuery(since=since, limit=UPDATE_BATCH, include_docs=True)
            )
            for change in page.results:
                pending[change.id] = message_of(change)
            done = len(page.results) < UPDATE_BATCH or page.last_seq == since
            since = page.last_seq
            last = done and self._moved(pending, since, info.purge_seq, identity)
            if len(pending) >= COMMIT_DOCS or last:
                await self._commit(pending, since, info.purge_seq, identity)
                indexed += len(pending)
                pending = {}
            if done:
                break
        if indexed >= OPTIMIZE_AFTER:
            await self.file.run(storage.optimize)

    def _moved(
        self, pending: dict[str, Message | None], seq: str, purge_seq: str, identity: str
    ) -> bool:
        """Whether the last batch changes anything: messages, or only where the index is."""
        state = self.state
        return bool(pending) or (seq, purge_seq, identity) != (
            state.seq,
            state.purge_seq,
            state.identity,
        )

    async def _commit(
        self, pending: dict[str, Message | None], seq: str, purge_seq: str, identity: str
    ) -> None:
        removed = [doc_id for doc_id, message in pending.items() if message is None]
        written = [message for message in pending.values() if message is not None]
        batch = Batch(seq, purge_seq, identity, removed, written)
        self.state = await self.file.run(storage.apply, batch)

    async def _identity(self) -> str:
        """The database's search identity, made on first use."""
        try:
            doc = await self.store.get(IDENTITY_DOC)
        except NotFound:
            doc = {}
        identity = doc.get("identity")
        if isinstance(identity, str) and identity:
            return identity
        identity = uuid.uuid4().hex
        await self.store.put({"_id": IDENTITY_DOC, "identity": identity})
        return identity

    async def message_count(self) -> int:
        await self.update()
        return await self.file.run(storage.message_count)

    async def dump(self) -> Sequence[tuple[Any, ...]]:
        """Every indexed message (tests compare an index with one built from scratch)."""
        await self.update()
        return await self.file.run(storage.dump)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        async with self._lock:
            await asyncio.gather(*self._reading, return_exceptions=True)
            await asyncio.to_thread(self.file.close)


def message_of(change: Change) -> Message | None:
    """What the index keeps of a change: its message, or None when it is not one (any more)."""
    doc = change.doc
    if change.deleted or doc is None or doc.get("type") != MESSAGE_TYPE:
        return None
    content = doc.get("content")
    if not isinstance(content, str):
        return None
    return Message(
        doc_id=change.id,
        user_id=_text(doc, "userId"),
        chat_id=_text(doc, "chatId"),
        sequence=_integer(doc, "sequence"),
        content=queries.clean_text(content),
    )


def _text(doc: Doc, name: str) -> str | None:
    value = doc.get(name)
    return value if isinstance(value, str) else None


def _integer(doc: Doc, name: str) -> int | None:
    value = doc.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
        return value
    return None
