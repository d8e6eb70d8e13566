"""``SqliteStore``: the async ``DocumentStore`` over one SQLite file (the device database).

Every method hands one sync operation to the engine's threads and awaits it; nothing here touches
``sqlite3``. The store remembers the last committed sequence (it is the only writer) so waiting
for changes needs no polling: each committing write wakes the waiters.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest, CouchError, error_from_token
from brainlink_docs.store.api import (
    AllDocsPage,
    AllDocsQuery,
    Attachment,
    BulkResult,
    ChangesPage,
    ChangesQuery,
    DbInfo,
    Doc,
    ReadOptions,
    Sizes,
    ViewPage,
    ViewQuery,
)
from brainlink_docs.store.encoding import DEFAULT_ENCODING, AttachmentEncoding
from brainlink_docs.store.sqlite import attachments, compaction, feeds, reads
from brainlink_docs.store.sqlite.engine import DEFAULT_READERS, Engine
from brainlink_docs.store.sqlite.purge import purge as purge_revs
from brainlink_docs.store.sqlite.schema import (
    DEFAULT_SYNCHRONOUS,
    initialize,
    read_meta,
)
from brainlink_docs.store.sqlite.sequences import TOKEN_LENGTH, format_seq, parse_since
from brainlink_docs.store.sqlite.writes import BatchOutcome, apply_batch, delete_doc
from brainlink_docs.store.view import StoreView
from brainlink_docs.views import mango
from brainlink_docs.views.filters import filtered_changes
from brainlink_docs.views.index.mappers import design_refusals
from brainlink_docs.views.index.service import ViewIndexes
from brainlink_docs.views.js.server import shared_query_server
from brainlink_docs.views.mango import validate_selector
from brainlink_docs.views.validation import (
    DESIGN_PREFIX,
    DesignFunctionsCache,
    admin_user_ctx,
    check_one,
    check_writes,
    revision_with_revs,
    writes_design_doc,
)

_DEFAULT_READ = ReadOptions()
_DEFAULT_ALL_DOCS = AllDocsQuery()
_DEFAULT_CHANGES = ChangesQuery()
_DEFAULT_VIEW = ViewQuery()
# An in-memory database keeps its view indexes in a temporary directory.
MEMORY = ":memory:"
# CouchDB rejects revs_limit below 1; above this a single tree stops being "small".
MAX_REVS_LIMIT = 1_000_000


class SqliteStore:
    """One database in one SQLite file (or ``:memory:``)."""

    def __init__(
        self,
        engine: Engine,
        name: str,
        meta: dict[str, Any],
        encoding: AttachmentEncoding = DEFAULT_ENCODING,
    ) -> None:
        self._engine = engine
        self._encoding = encoding
        self._name = name
        self._token = str(meta["instance"])[:TOKEN_LENGTH]
        self._update_seq = int(meta["update_seq"])
        # Counts committed changes (writes and purges): the views skip re-reading a design
        # document and re-checking an index while it has not moved.
        self._generation = 0
        self._changed = asyncio.Event()
        self._closed = False
        # Every non-admin request reads _security: kept in memory (one process per file).
        # Kept as JSON text: each caller gets its own parsed copy, cheaply.
        self._security: bytes | None = None
        self._views: ViewIndexes | None = None
        # Which design documents validate writes (views.validation); dropped on each
        # design-document write.
        self._functions = DesignFunctionsCache(self, shared_query_server)

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        readers: int = DEFAULT_READERS,
        encoding: AttachmentEncoding = DEFAULT_ENCODING,
    ) -> SqliteStore:
        """Open (creating if needed) the database file at ``path``; ``encoding`` says which
        attachments are stored gzipped (CouchDB's ``[attachments]`` defaults unless given)."""
        text = str(path)
        engine = Engine(text, readers=readers, synchronous=synchronous)
        try:
            meta = await engine.on_writer(initialize)
        except BaseException:
            await asyncio.to_thread(engine.close)
            raise
        return cls(engine, name or Path(text).stem, meta, encoding)

    @property
    def name(self) -> str:
        return self._name

    @property
    def path(self) -> str:
        return self._engine.path

    # -- writes ---------------------------------------------------------------------------

    async def _commit(self, outcome: BatchOutcome) -> None:
        if outcome.changed:
            self._update_seq = outcome.update_seq
            self._generation += 1
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def bulk_docs(
        self,
        docs: Sequence[Doc],
        *,
        new_edits: bool = True,
        user_ctx: Mapping[str, Any] | None = None,
    ) -> list[BulkResult]:
        """``user_ctx`` is the writer ``validate_doc_update`` sees (default: an admin)."""
        docs, refusals, written = await self._checked_write(docs, new_edits, user_ctx)
        return _with_refusals(docs, refusals, written, new_edits=new_edits)

    async def _checked_write(
        self, docs: Sequence[Doc], new_edits: bool, user_ctx: Mapping[str, Any] | None
    ) -> tuple[list[Doc], list[CouchError | None] | None, list[BulkResult]]:
        """Check a batch (design documents compile, ``validate_doc_update`` passes), write
        what passes: the documents as checked, each one's refusal, the written rows."""
        if not isinstance(docs, Sequence) or isinstance(docs, str | bytes):
            raise BadRequest("docs must be a list of JSON objects")
        docs = list(docs)
        refusals = await design_refusals(docs, self._functions.query_server)
        validators = await self._functions.validators()
        if validators:
            docs, verdicts = await check_writes(
                self._functions,
                validators,
                docs,
                new_edits=new_edits,
                user_ctx=self._user_ctx(user_ctx),
            )
            refusals = (
                [a or b for a, b in zip(refusals, verdicts, strict=True)] if refusals else verdicts
            )
        accepted = docs
        if refusals is not None:
            accepted = [doc for doc, refusal in zip(docs, refusals, strict=True) if refusal is None]
        try:
            outcome = await self._engine.write(apply_batch, accepted, new_edits, self._encoding)
        finally:
            if writes_design_doc(docs):
                self._functions.invalidate()
        await self._commit(outcome)
        return docs, refusals, outcome.results

    async def put(self, doc: Doc, *, user_ctx: Mapping[str, Any] | None = None) -> BulkResult:
        _docs, refusals, written = await self._checked_write([doc], True, user_ctx)
        if refusals and refusals[0] is not None:
            raise refusals[0]  # with its own status (a validate function's 500 stays one)
        return _raise_row(written[0])

    async def delete(
        self, doc_id: str, rev: str, *, user_ctx: Mapping[str, Any] | None = None
    ) -> BulkResult:
        if await self._functions.validators() and not doc_id.startswith(DESIGN_PREFIX):
            old = await revision_with_revs(self, doc_id, rev)
            if old is not None and not old.get("_deleted"):
                new = {"_id": doc_id, "_rev": rev, "_deleted": True}
                await check_one(self._functions, new, old, self._user_ctx(user_ctx))
        return await self._write_one(doc_id, delete_doc, doc_id, rev)

    async def put_attachment(
        self,
        doc_id: str,
        name: str,
        data: bytes,
        content_type: str,
        rev: str | None,
        *,
        user_ctx: Mapping[str, Any] | None = None,
    ) -> BulkResult:
        if await self._functions.validators():
            base = await self._attachment_base(doc_id, rev)
            if base is not None:
                new, old = base
                stub = {"content_type": content_type, "revpos": 0, "length": len(data)}
                new["_attachments"] = {name: {**stub, "stub": True}, **new["_attachments"]}
                await check_one(self._functions, new, old, self._user_ctx(user_ctx))
        return await self._write_one(
            doc_id,
            attachments.put_attachment,
            doc_id,
            name,
            data,
            content_type,
            rev,
            self._token,
            self._encoding,
        )

    async def delete_attachment(
        self,
        doc_id: str,
        name: str,
        rev: str,
        *,
        user_ctx: Mapping[str, Any] | None = None,
    ) -> BulkResult:
        if await self._functions.validators():
            base = await self._attachment_base(doc_id, rev)
            if base is not None and name in base[0]["_attachments"]:
                new, old = base
                del new["_attachments"][name]
                await check_one(self._functions, new, old, self._user_ctx(user_ctx))
        return await self._write_one(
            doc_id, attachments.delete_attachment, doc_id, name, rev, self._token, self._encoding
        )

    async def _write_one(self, doc_id: str, operation: Any, *args: Any) -> BulkResult:
        """One document's write on the writer thread: its row, or its error raised. A design
        document's write drops the cache of validating design documents, whatever happens."""
        try:
            outcome = await self._engine.write(operation, *args)
        finally:
            if doc_id.startswith(DESIGN_PREFIX):
                self._functions.invalidate()
        await self._commit(outcome)
        return _raise_row(outcome.results[0])

    def _user_ctx(self, user_ctx: Mapping[str, Any] | None) -> Mapping[str, Any]:
        return user_ctx if user_ctx is not None else admin_user_ctx(self._name)

    async def _attachment_base(
        self, doc_id: str, rev: str | None
    ) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        """The ``(newDoc, oldDoc)`` an attachment edit starts from (``newDoc`` with its
        attachments as stubs, to be edited), or None when the write is a conflict anyway."""
        if rev is None:
            try:
                await self.get(doc_id)
            except CouchError:
                return {"_id": doc_id, "_attachments": {}}, None
            return None
        old = await revision_with_revs(self, doc_id, rev)
        if old is None:
            return None
        new = {k: v for k, v in old.items() if k != "_deleted"}
        new["_attachments"] = dict(old.get("_attachments", {}))
        return new, (None if old.get("_deleted") else old)

    def as_user(self, user_ctx: Mapping[str, Any]) -> SqliteStore:
        """This store as one user sees it: writes are checked by ``validate_doc_update`` and
        filters see ``req.userCtx`` with ``user_ctx`` (the server binds each request's user)."""
        return UserStore(self, user_ctx)  # type: ignore[return-value]

    async def purge(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        purged, update_seq = await self._engine.write(purge_revs, dict(revs))
        await self._commit(BatchOutcome([], update_seq, True))
        return purged

    async def get_security(self) -> dict[str, Any]:
        if self._security is None:
            self._security = orjson.dumps(await self._engine.read_point(_get_security))
        return orjson.loads(self._security)  # type: ignore[no-any-return]

    async def set_security(self, security: Mapping[str, Any]) -> None:
        text = orjson.dumps(dict(security))
        self._security = None
        await self._engine.write(_set_meta, "security", text.decode())
        self._security = text

    async def local_docs(self, query: AllDocsQuery = _DEFAULT_ALL_DOCS) -> AllDocsPage:
        return await self._engine.read(feeds.local_docs, query)

    async def set_revs_limit(self, limit: int) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 0 < limit <= MAX_REVS_LIMIT:
            raise BadRequest("revs_limit must be a positive integer")
        await self._engine.write(_set_meta, "revs_limit", limit)

    async def compact(self) -> None:
        await self._engine.write(compaction.compact)
        await self._engine.on_writer(_incremental_vacuum)

    # -- reads ----------------------------------------------------------------------------

    async def get(
        self, doc_id: str, rev: str | None = None, options: ReadOptions = _DEFAULT_READ
    ) -> Doc:
        return await self._engine.read_point(reads.get_doc, doc_id, rev, options, self._token)

    async def open_revs(
        self, doc_id: str, revs: Sequence[str] | None, options: ReadOptions = _DEFAULT_READ
    ) -> list[dict[str, Any]]:
        return await self._engine.read_point(reads.open_revs, doc_id, revs, options, self._token)

    async def bulk_get(
        self, requests: Sequence[Mapping[str, Any]], options: ReadOptions = _DEFAULT_READ
    ) -> list[dict[str, Any]]:
        return await self._engine.read(reads.bulk_get, requests, options, self._token)

    async def revs_diff(self, revs: Mapping[str, Sequence[str]]) -> dict[str, dict[str, list[str]]]:
        if not isinstance(revs, Mapping):
            raise BadRequest("_revs_diff expects a JSON object")
        return await self._engine.read(reads.revs_diff, revs)

    async def get_attachment(self, doc_id: str, name: str, rev: str | None = None) -> Attachment:
        return await self._engine.read_point(reads.get_attachment, doc_id, name, rev)

    async def all_docs(self, query: AllDocsQuery = _DEFAULT_ALL_DOCS) -> AllDocsPage:
        return await self._engine.read(_all_docs, query, self._token)

    async def changes(
        self, query: ChangesQuery = _DEFAULT_CHANGES, *, user_ctx: Mapping[str, Any] | None = None
    ) -> ChangesPage:
        if query.filter is not None:
            return await filtered_changes(
                self, query, self._functions.query_server, self._user_ctx(user_ctx)
            )
        if query.selector is not None:
            validate_selector(query.selector)
        return await self._engine.read(_changes, query, self._token)

    async def wait_for_change(self, since: str) -> None:
        target = parse_since(since, self._token, self._update_seq)
        while self._update_seq <= target:
            await self._changed.wait()

    async def get_revs_limit(self) -> int:
        return int((await self._engine.read_point(read_meta))["revs_limit"])  # type: ignore[call-overload]

    async def info(self) -> DbInfo:
        meta, sizes = await self._engine.read_point(_info)
        return DbInfo(
            db_name=self._name,
            doc_count=int(meta["doc_count"]),
            doc_del_count=int(meta["doc_del_count"]),
            update_seq=format_seq(int(meta["update_seq"]), self._token),
            purge_seq=format_seq(int(meta["purge_seq"]), self._token),
            sizes=sizes,
        )

    # -- views ----------------------------------------------------------------------------

    @property
    def views(self) -> ViewIndexes:
        """This database's view indexes, in ``<file>.views/`` next to the database file."""
        if self._views is None:
            path = self._engine.path
            directory = None if path in ("", MEMORY) else views_directory(path)
            self._views = ViewIndexes(self, directory, generation=lambda: self._generation)
        return self._views

    async def query_view(self, ddoc: str, view: str, query: ViewQuery = _DEFAULT_VIEW) -> ViewPage:
        return await self.views.query(ddoc, view, query)

    async def view_info(self, ddoc: str) -> dict[str, Any]:
        return await self.views.info(ddoc)

    async def view_cleanup(self) -> None:
        await self.views.cleanup()

    async def compact_views(self, ddoc: str) -> None:
        await self.views.compact(ddoc)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._views is not None:
            await self._views.close()
        await asyncio.to_thread(self._engine.close)

    # -- Mango ----------------------------------------------------------------------------
    # The planner and executor are store-independent (views.mango); they read this store
    # through its DocumentStore methods.

    async def find(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return await mango.find(self, request)

    async def explain(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return await mango.explain(self, request)

    async def create_index(self, request: Mapping[str, Any]) -> dict[str, Any]:
        return await mango.create_index(self, request)

    async def list_indexes(self) -> dict[str, Any]:
        return await mango.list_indexes(self)

    async def delete_index(self, ddoc: str, name: str) -> None:
        await mango.delete_index(self, ddoc, name)


def views_directory(path: str) -> str:
    """Where the view indexes of the database file ``path`` live."""
    return path + ".views"


def _raise_row(result: BulkResult) -> BulkResult:
    if result.error is not None:
        raise error_from_token(result.error, result.reason)
    return result


def _set_meta(conn: Any, key: str, value: Any) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _get_security(conn: Any) -> dict[str, Any]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'security'").fetchone()
    return orjson.loads(row[0]) if row else {}


def _incremental_vacuum(conn: Any) -> None:
    conn.execute("PRAGMA incremental_vacuum")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _all_docs(conn: Any, query: AllDocsQuery, token: str) -> AllDocsPage:
    return feeds.all_docs(conn, query, read_meta(conn), token)


def _changes(conn: Any, query: ChangesQuery, token: str) -> ChangesPage:
    current = int(read_meta(conn)["update_seq"])  # type: ignore[call-overload]
    return feeds.changes(conn, query, current, token)


def _info(conn: Any) -> tuple[dict[str, Any], Sizes]:
    meta = read_meta(conn)
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    active = (pages - free) * page_size
    return meta, Sizes(file=pages * page_size, active=active, external=active)


def _with_refusals(
    docs: Sequence[Doc],
    refusals: list[CouchError | None] | None,
    written: list[BulkResult],
    *,
    new_edits: bool,
) -> list[BulkResult]:
    """The batch's rows in order: refused documents' errors among the written ones' rows
    (a refused replicated revision's row names it, as CouchDB's does)."""
    if refusals is None:
        return written
    rows = iter(written)
    return [
        next(rows) if refusal is None else _refused(doc, refusal, new_edits=new_edits)
        for doc, refusal in zip(docs, refusals, strict=True)
    ]


def _refused(doc: Doc, refusal: CouchError, *, new_edits: bool) -> BulkResult:
    rev = doc.get("_rev") if not new_edits else None
    return BulkResult(
        str(doc.get("_id", "")),
        rev if isinstance(rev, str) else None,
        refusal.error,
        refusal.reason,
    )


class UserStore(StoreView):
    """A ``SqliteStore`` bound to one user's ``userCtx`` (see ``SqliteStore.as_user``).

    Why a view rather than a parameter on every route: the server's document-level guards
    (``security.guarded``) wrap whatever store ``use_store`` hands out and call the plain
    ``DocumentStore`` methods, so binding the user once, underneath them, reaches every write
    path (single, bulk, attachments, replication into the server) without any route knowing
    about validation.
    """

    def __init__(self, inner: SqliteStore, user_ctx: Mapping[str, Any]) -> None:
        super().__init__(inner)  # type: ignore[arg-type]
        self._store = inner
        self._user = user_ctx

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        return await self._store.bulk_docs(docs, new_edits=new_edits, user_ctx=self._user)

    async def put(self, doc: Doc) -> BulkResult:
        return await self._store.put(doc, user_ctx=self._user)

    async def delete(self, doc_id: str, rev: str) -> BulkResult:
        return await self._store.delete(doc_id, rev, user_ctx=self._user)

    async def put_attachment(
        self, doc_id: str, name: str, data: bytes, content_type: str, rev: str | None
    ) -> BulkResult:
        return await self._store.put_attachment(
            doc_id, name, data, content_type, rev, user_ctx=self._user
        )

    async def delete_attachment(self, doc_id: str, name: str, rev: str) -> BulkResult:
        return await self._store.delete_attachment(doc_id, name, rev, user_ctx=self._user)

    async def changes(self, query: ChangesQuery = _DEFAULT_CHANGES) -> ChangesPage:
        return await self._store.changes(query, user_ctx=self._user)
