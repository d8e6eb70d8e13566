"""The one interface every document store meets: ``DocumentStore`` and its value types.

The embedded SQLite store, the HTTP client of a remote CouchDB (or of our server) and the server
itself all meet here, so the replicator, the conflict merger and the typed repositories never know
which side they talk to. Names follow CouchDB's wire API (``bulk_docs``, ``revs_diff``,
``bulk_get``, ``changes``, ``new_edits``, ``last_seq``) so CouchDB's documentation maps onto it.

Documents are plain JSON-ready dicts. Sequences are opaque strings that only grow; the only thing a
caller may do with one is hand it back as ``since``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from brainlink_docs.errors import BadRequest
from brainlink_docs.store.encoding import gunzip_bytes

Doc = dict[str, Any]

LOCAL_PREFIX = "_local/"
DESIGN_PREFIX = "_design/"

# CouchDB's database name rule (couch_db:validate_dbname): lowercase first letter, then lowercase
# letters, digits and _$()+-/ ; at most 238 characters so a shard suffix still fits a file name.
_DB_NAME = re.compile(r"^[a-z][a-z0-9_$()+/-]*$")
MAX_DB_NAME_LENGTH = 238
# System databases CouchDB itself creates, and the server's audit log (``security.audit``);
# their names break the rule on purpose.
SYSTEM_DBS = frozenset({"_users", "_replicator", "_global_changes", "_audit"})


def validate_db_name(name: str) -> str:
    """Return ``name`` or raise CouchDB's 400 ``illegal_database_name``."""
    if name in SYSTEM_DBS or (len(name) <= MAX_DB_NAME_LENGTH and _DB_NAME.match(name)):
        return name
    raise BadRequest(
        f"Name: '{name}'. Only lowercase characters (a-z), digits (0-9), and any of the "
        "characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.",
        error="illegal_database_name",
    )


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What a document read includes beyond the body (CouchDB's GET query options)."""

    revs: bool = False
    revs_info: bool = False
    conflicts: bool = False
    deleted_conflicts: bool = False
    local_seq: bool = False
    # Inline attachment data (base64) instead of stubs; with ``atts_since`` only for attachments
    # whose ``revpos`` is newer than every listed revision the reader already has.
    attachments: bool = False
    atts_since: tuple[str, ...] | None = None
    # Stubs and inline attachments also say how they are stored (``encoding``,
    # ``encoded_length``), as CouchDB's ``att_encoding_info=true``.
    att_encoding_info: bool = False
    # With ``attachments``: each attachment's ``data`` is its stored bytes (``bytes``, gzipped
    # when ``encoding`` says so) with ``follows: true`` and its encoding, instead of base64 of
    # the clear bytes: what a multipart answer sends, and what a replicator hands to a target's
    # ``bulk_docs`` so the target keeps the bytes and digest as given (CouchDB's ``follows``).
    follows: bool = False
    # For ``open_revs``: answer a non-leaf revision with its newest descendant leaves.
    latest: bool = False


@dataclass(frozen=True, slots=True)
class BulkResult:
    """One row of a ``bulk_docs`` answer: a new revision, or a per-document error."""

    id: str
    rev: str | None = None
    error: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        if self.error is None:
            return {"ok": True, "id": self.id, "rev": self.rev}
        if self.rev is not None:
            # A replicated revision refused (new_edits=false): CouchDB names it in the row.
            return {"id": self.id, "rev": self.rev, "error": self.error, "reason": self.reason}
        return {"id": self.id, "error": self.error, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class AllDocsQuery:
    """``_all_docs`` parameters; ids collate as raw UTF-8 bytes, as CouchDB's ``_all_docs``."""

    keys: tuple[str, ...] | None = None
    startkey: str | None = None
    endkey: str | None = None
    inclusive_end: bool = True
    descending: bool = False
    limit: int | None = None
    skip: int = 0
    include_docs: bool = False
    conflicts: bool = False
    attachments: bool = False
    update_seq: bool = False


@dataclass(frozen=True, slots=True)
class AllDocsPage:
    total_rows: int | None
    offset: int | None
    rows: list[dict[str, Any]]
    update_seq: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"total_rows": self.total_rows, "offset": self.offset}
        if self.update_seq is not None:
            out["update_seq"] = self.update_seq
        out["rows"] = self.rows
        return out


class _Unset:
    """The type of ``UNSET``: a query parameter not given (``null`` is a real key)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


@dataclass(frozen=True, slots=True)
class ViewQuery:
    """A design-document view query (CouchDB's ``_view`` parameters, decoded).

    Keys are JSON values; ``UNSET`` means not given (``None`` is the key ``null``).
    ``reduce=None`` means the view's default: reduce when it has a reduce function.
    ``update`` is ``"true"`` (bring the index up to date first), ``"false"`` (answer from the
    index as it is) or ``"lazy"`` (answer as it is, then update in the background).
    """

    key: Any = UNSET
    keys: tuple[Any, ...] | None = None
    startkey: Any = UNSET
    startkey_docid: str | None = None
    endkey: Any = UNSET
    endkey_docid: str | None = None
    inclusive_end: bool = True
    descending: bool = False
    limit: int | None = None
    skip: int = 0
    group: bool | None = None
    group_level: int | None = None
    reduce: bool | None = None
    include_docs: bool = False
    conflicts: bool = False
    attachments: bool = False
    update: Literal["true", "false", "lazy"] = "true"
    stable: bool = False
    update_seq: bool = False
    sorted: bool = True


@dataclass(frozen=True, slots=True)
class ViewPage:
    """A view's answer: map rows (``total_rows``/``offset`` set) or reduced rows (both None)."""

    rows: list[dict[str, Any]]
    total_rows: int | None = None
    offset: int | None = None
    update_seq: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.total_rows is not None:
            out["total_rows"] = self.total_rows
            out["offset"] = self.offset
        if self.update_seq is not None:
            out["update_seq"] = self.update_seq
        out["rows"] = self.rows
        return out


@dataclass(frozen=True, slots=True)
class ChangesQuery:
    """``_changes`` parameters for one page of the feed (the server builds feeds from pages)."""

    since: str = "0"
    limit: int | None = None
    descending: bool = False
    style: Literal["main_only", "all_docs"] = "main_only"
    include_docs: bool = False
    conflicts: bool = False
    attachments: bool = False
    doc_ids: tuple[str, ...] | None = None
    selector: Mapping[str, Any] | None = None
    # A filter function of a design document, ``"ddoc/name"``, given ``query_params`` as its
    # ``req.query``: a server with a JavaScript engine runs it (CouchDB); others answer 501.
    filter: str | None = None
    query_params: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One document's entry in ``_changes``: its latest sequence and its leaf revisions."""

    seq: str
    id: str
    changes: list[str]
    deleted: bool = False
    doc: Doc | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "id": self.id,
            "changes": [{"rev": rev} for rev in self.changes],
        }
        if self.deleted:
            out["deleted"] = True
        if self.doc is not None:
            out["doc"] = self.doc
        return out


@dataclass(frozen=True, slots=True)
class ChangesPage:
    results: list[Change]
    last_seq: str
    pending: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [c.to_json() for c in self.results],
            "last_seq": self.last_seq,
            "pending": self.pending,
        }


@dataclass(frozen=True, slots=True)
class Sizes:
    file: int
    active: int
    external: int


@dataclass(frozen=True, slots=True)
class DbInfo:
    db_name: str
    doc_count: int
    doc_del_count: int
    update_seq: str
    sizes: Sizes
    purge_seq: str = "0"
    instance_start_time: str = "0"
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "db_name": self.db_name,
            "doc_count": self.doc_count,
            "doc_del_count": self.doc_del_count,
            "update_seq": self.update_seq,
            "purge_seq": self.purge_seq,
            "sizes": {
                "file": self.sizes.file,
                "active": self.sizes.active,
                "external": self.sizes.external,
            },
            "compact_running": False,
            "instance_start_time": self.instance_start_time,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class Attachment:
    """One attachment as stored: ``stored`` is gzip when ``encoding`` is ``"gzip"`` (CouchDB
    stores compressible types so, and its digest is then the MD5 of the gzip bytes)."""

    name: str
    content_type: str
    stored: bytes
    digest: str
    revpos: int
    encoding: str | None = None

    @property
    def data(self) -> bytes:
        """The attachment's clear bytes."""
        if self.encoding == "gzip":
            return gunzip_bytes(self.stored)
        return self.stored


class DocumentStore(Protocol):
    """One database of revisioned JSON documents with CouchDB's semantics.

    Errors are ``CouchError`` subclasses: ``NotFound`` (reason ``missing`` or ``deleted``),
    ``Conflict``, ``BadRequest``... Per-document failures of ``bulk_docs`` are result rows;
    only a failure of the whole batch raises.
    """

    @property
    def name(self) -> str: ...

    async def info(self) -> DbInfo: ...

    async def get(self, doc_id: str, rev: str | None = None, options: ReadOptions = ...) -> Doc:
        """The winning revision (or ``rev``); ``_local/`` ids read local documents."""
        ...

    async def open_revs(
        self, doc_id: str, revs: Sequence[str] | None, options: ReadOptions = ...
    ) -> list[dict[str, Any]]:
        """``[{"ok": doc} | {"missing": rev}]`` for ``revs``, or for every leaf when ``None``."""
        ...

    async def put(self, doc: Doc) -> BulkResult:
        """Write one edit; raises ``Conflict`` on a stale or missing ``_rev``."""
        ...

    async def delete(self, doc_id: str, rev: str) -> BulkResult: ...

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        """Write a batch in one transaction; ``new_edits=False`` merges histories as given."""
        ...

    async def all_docs(self, query: AllDocsQuery = ...) -> AllDocsPage: ...

    async def changes(self, query: ChangesQuery = ...) -> ChangesPage: ...

    async def wait_for_change(self, since: str) -> None:
        """Return once the database has a sequence after ``since`` (bound it with a timeout)."""
        ...

    async def revs_diff(
        self, revs: Mapping[str, Sequence[str]]
    ) -> dict[str, dict[str, list[str]]]: ...

    async def bulk_get(
        self, requests: Sequence[Mapping[str, Any]], options: ReadOptions = ...
    ) -> list[dict[str, Any]]:
        """CouchDB's ``_bulk_get``: ``[{"id", "docs": [{"ok": doc} | {"error": {...}}]}]``."""
        ...

    async def get_attachment(
        self, doc_id: str, name: str, rev: str | None = None
    ) -> Attachment: ...

    async def put_attachment(
        self, doc_id: str, name: str, data: bytes, content_type: str, rev: str | None
    ) -> BulkResult: ...

    async def delete_attachment(self, doc_id: str, name: str, rev: str) -> BulkResult: ...

    async def get_revs_limit(self) -> int: ...

    async def purge(self, revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
        """Remove leaf revisions for good; answers the revisions actually purged per id."""
        ...

    async def get_security(self) -> dict[str, Any]: ...

    async def set_security(self, security: Mapping[str, Any]) -> None: ...

    async def local_docs(self, query: AllDocsQuery = ...) -> AllDocsPage:
        """``_local_docs``: the local documents, as ``_all_docs`` rows."""
        ...

    async def set_revs_limit(self, limit: int) -> None: ...

    # ---- design documents: views ----

    async def query_view(self, ddoc: str, view: str, query: ViewQuery = ...) -> ViewPage:
        """``GET /{db}/_design/{ddoc}/_view/{view}``; ``ddoc`` is the name after ``_design/``."""
        ...

    async def view_info(self, ddoc: str) -> dict[str, Any]:
        """``GET /{db}/_design/{ddoc}/_info``: ``{"name", "view_index": {...}}``."""
        ...

    async def view_cleanup(self) -> None:
        """``POST /{db}/_view_cleanup``: drop indexes no design document uses any more."""
        ...

    async def compact_views(self, ddoc: str) -> None:
        """``POST /{db}/_compact/{ddoc}``."""
        ...

    # ---- Mango ----

    async def find(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /{db}/_find``: ``{"docs", "bookmark", ["warning"], ["execution_stats"]}``."""
        ...

    async def explain(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /{db}/_explain``."""
        ...

    async def create_index(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /{db}/_index``: ``{"result": "created"|"exists", "id", "name"}``."""
        ...

    async def list_indexes(self) -> dict[str, Any]:
        """``GET /{db}/_index``: ``{"total_rows", "indexes": [...]}``."""
        ...

    async def delete_index(self, ddoc: str, name: str) -> None:
        """``DELETE /{db}/_index/{ddoc}/json/{name}``."""
        ...

    async def compact(self) -> None: ...

    async def close(self) -> None: ...


class Databases(Protocol):
    """A server's named databases; opening is lazy and the set of open stores is bounded."""

    async def create(self, name: str) -> DocumentStore:
        """Create ``name``; ``FileExists`` if it exists, ``BadRequest`` for an illegal name."""
        ...

    async def open(self, name: str) -> DocumentStore:
        """Open an existing database; ``NotFound('Database does not exist.')`` otherwise."""
        ...

    async def delete(self, name: str) -> None: ...

    def use(self, name: str) -> AbstractAsyncContextManager[DocumentStore]:
        """Open ``name`` and hold it open (never evicted) for the duration of the block."""
        ...

    async def exists(self, name: str) -> bool: ...

    async def list(self) -> list[str]: ...

    async def close(self) -> None: ...


async def iter_changes(
    store: DocumentStore, query: ChangesQuery = ChangesQuery(), page_size: int = 1000
) -> AsyncIterator[Change]:
    """Stream a whole ``_changes`` feed page by page, so no caller holds a database in memory."""
    remaining = query.limit
    since = query.since
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        page = await store.changes(replace(query, since=since, limit=size))
        for change in page.results:
            yield change
        if remaining is not None:
            remaining -= len(page.results)
        if len(page.results) < size or page.last_seq == since:
            return
        since = page.last_seq


async def all_docs_pages(
    store: DocumentStore, query: AllDocsQuery = AllDocsQuery(), page_size: int = 1000
) -> AsyncIterator[list[dict[str, Any]]]:
    """``_all_docs`` page by page (key ranges only; ``keys`` queries are one page), so no
    caller holds a database in memory. Each page after the first starts at the last id seen
    and drops that row when it comes back; not ``skip=1``, which would drop the next row
    instead when the last one seen was deleted meanwhile."""
    if query.keys is not None:
        yield (await store.all_docs(query)).rows
        return
    remaining = query.limit
    current = replace(query, limit=None)
    last: str | None = None
    while remaining is None or remaining > 0:
        size = page_size if remaining is None else min(page_size, remaining)
        asked = size if last is None else size + 1
        page = await store.all_docs(replace(current, limit=asked))
        rows = page.rows
        if last is not None and rows and rows[0]["id"] == last:
            rows = rows[1:]
        rows = rows[:size]
        if rows:
            yield rows
        if remaining is not None:
            remaining -= len(rows)
        if len(page.rows) < asked or not rows:
            return
        last = rows[-1]["id"]
        current = replace(current, startkey=last, skip=0)


async def iter_all_docs(
    store: DocumentStore, query: AllDocsQuery = AllDocsQuery(), page_size: int = 1000
) -> AsyncIterator[dict[str, Any]]:
    """``all_docs_pages``, row by row."""
    async for rows in all_docs_pages(store, query, page_size):
        for row in rows:
            yield row
