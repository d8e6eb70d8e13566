"""The server's databases as the merger needs them: ``WatchedDatabases`` wraps the server's
``Databases`` and hands out ``WatchedStore``s, which

- refuse a ``_design/merge`` whose ``merge_policies`` is not valid (``sources.check_design_doc``:
  400 ``invalid_design_doc``, as CouchDB refuses an invalid design document), and
- after each replicated write (``bulk_docs(new_edits=False)``) call ``on_written`` with the
  database's name, so the background resolver sweeps it, and
- run the server's own document ``check`` when it has one (``[entities] validate``: typed
  Brainlink documents must be their model) on every write, replicated ones included, a refusal
  being that document's row as a ``validate_doc_update``'s is.

``bulk_docs(new_edits=False)`` is the one way a conflict gets into a server's database: a
replicator's ``_bulk_docs``, a ``PUT ?new_edits=false`` and a replicator's multipart PUT all
come down to it, and the server's own replication jobs write through its HTTP API as any
replicator does. Normal edits (``put``, ``new_edits=True``) never make a conflict.

System databases (``_users``, ``_replicator``...) are handed out as they are: nothing there is
merged, and the ``_replicator`` watcher tells a re-created database by the store's identity.
Each open store has one wrapper (the server caches by store identity: the parsed
``_security``), a slotted object whose other methods go to the store through ``__getattr__``.
The wrapper refers to its store weakly, so the cache of wrappers (weak by store) lets a store
the LRU closed go: a wrapper outliving its store answers as a closed store does, 404
``Database does not exist.``.
"""

from __future__ import annotations

import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from brainlink_docs.errors import NotFound
from brainlink_docs.merge.sources import POLICIES_DDOC, check_design_doc
from brainlink_docs.store.api import BulkResult, Databases, Doc, DocumentStore
from brainlink_docs.store.view import guarded_bulk

OnWritten = Callable[[str], None]
# A check of one document being written: answers it (to write) or raises its row's error.
DocCheck = Callable[[Doc], Awaitable[Doc]]


def is_system_db(name: str) -> bool:
    """CouchDB's system databases (and any other ``_`` name): never merged."""
    return name.startswith("_")


class WatchedStore:
    """One database's store, with the design-document check and the replicated-write call."""

    __slots__ = ("__weakref__", "_check", "_name", "_on_written", "_store")

    def __init__(
        self,
        inner: DocumentStore,
        on_written: OnWritten | None,
        *,
        keep: bool = False,
        check: DocCheck | None = None,
    ) -> None:
        # ``keep``: hold the store strongly (a per-request wrapper, gone with the request).
        self._store: Callable[[], DocumentStore | None] = (
            (lambda: inner) if keep else weakref.ref(inner)
        )
        self._name = inner.name
        self._on_written = on_written
        self._check = check

    def as_user(self, user_ctx: Mapping[str, Any]) -> WatchedStore:
        """The store bound to a request's user (design functions see them), still watched:
        the server binds every request's user on top of this wrapper."""
        bound = self._inner.as_user(user_ctx)  # type: ignore[attr-defined]
        return WatchedStore(bound, self._on_written, keep=True, check=self._check)

    @property
    def _inner(self) -> DocumentStore:
        inner = self._store()
        if inner is None:
            raise NotFound("Database does not exist.")  # closed and gone, as a closed store says
        return inner

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    @property
    def name(self) -> str:
        return self._name

    async def put(self, doc: Doc) -> BulkResult:
        return await self._inner.put(await self._checked(doc))

    async def _checked(self, doc: Doc) -> Doc:
        if doc.get("_id") == POLICIES_DDOC:
            await check_design_doc(doc)
        return doc if self._check is None else await self._check(doc)

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        rows = await self._checked_bulk(docs, new_edits)
        if not new_edits and self._on_written is not None and any(row.ok for row in rows):
            self._on_written(self._name)
        return rows

    async def _checked_bulk(self, docs: Sequence[Doc], new_edits: bool) -> list[BulkResult]:
        if self._check is None and not any(
            isinstance(d, dict) and d.get("_id") == POLICIES_DDOC for d in docs
        ):
            return await self._inner.bulk_docs(docs, new_edits=new_edits)  # the usual batch

        async def write(accepted: list[Doc]) -> list[BulkResult]:
            return await self._inner.bulk_docs(accepted, new_edits=new_edits)

        return await guarded_bulk(docs, self._checked, write)


class WatchedDatabases:
    """``inner`` whose data databases' stores are ``WatchedStore``s calling ``on_written``
    (``None``: the check only, when the background resolver is off)."""

    def __init__(
        self,
        inner: Databases,
        on_written: OnWritten | None = None,
        check: DocCheck | None = None,
    ) -> None:
        self._inner = inner
        self._on_written = on_written
        self._check = check
        self._wrappers: weakref.WeakKeyDictionary[DocumentStore, WatchedStore] = (
            weakref.WeakKeyDictionary()
        )

    def _watched(self, store: DocumentStore) -> DocumentStore:
        if is_system_db(store.name):
            return store
        wrapper = self._wrappers.get(store)
        if wrapper is None:
            wrapper = self._wrappers[store] = WatchedStore(
                store, self._on_written, check=self._check
            )
        return wrapper  # type: ignore[return-value]

    async def create(self, name: str) -> DocumentStore:
        return self._watched(await self._inner.create(name))

    async def open(self, name: str) -> DocumentStore:
        return self._watched(await self._inner.open(name))

    def use(self, name: str) -> _WatchedLease:
        return _WatchedLease(self, name)

    async def delete(self, name: str) -> None:
        await self._inner.delete(name)

    async def exists(self, name: str) -> bool:
        return await self._inner.exists(name)

    async def list(self) -> list[str]:
        return await self._inner.list()

    async def close(self) -> None:
        await self._inner.close()

    def __getattr__(self, attr: str) -> Any:
        """What a concrete ``Databases`` has beyond the protocol (``open_count``...)."""
        return getattr(self._inner, attr)


class _WatchedLease:
    """``async with databases.use(name)``, the store watched; a plain class, as the inner
    lease is (a generator-based context manager costs several frames on every request)."""

    __slots__ = ("_databases", "_lease")

    def __init__(self, databases: WatchedDatabases, name: str) -> None:
        self._databases = databases
        self._lease = databases._inner.use(name)

    async def __aenter__(self) -> DocumentStore:
        return self._databases._watched(await self._lease.__aenter__())

    async def __aexit__(self, *exc: Any) -> None:
        await self._lease.__aexit__(*exc)
