"""``HttpStore``: the ``DocumentStore`` of one database on a CouchDB-compatible server.

Each method is one CouchDB endpoint (two for ``get_attachment``; ``compact`` polls), so Apache
CouchDB 3.x, pouchdb-server and our own server all serve it. The store keeps no state beyond
the session: sequences are the server's, passed through as opaque strings.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote

import aiohttp
from yarl import URL

from brainlink_docs import multipart
from brainlink_docs.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    Unavailable,
    content_md5_mismatch,
)
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
    ViewPage,
    ViewQuery,
)
from brainlink_docs.store.http import wire
from brainlink_docs.store.http.auth import AuthOption
from brainlink_docs.store.http.transport import (
    DEFAULT_TIMEOUT,
    JSON,
    CaFile,
    Reply,
    Transport,
    attachment_path,
    doc_path,
    dumps,
    is_path_id,
)

_DEFAULT_READ = ReadOptions()
_DEFAULT_ALL_DOCS = AllDocsQuery()
_DEFAULT_CHANGES = ChangesQuery()
_DEFAULT_VIEW = ViewQuery()
# CouchDB's default (and maximum, ``changes_timeout``) longpoll wait is 60 s; we ask for less so
# an idle wait re-polls well before proxies drop quiet connections.
LONGPOLL_TIMEOUT_MS = 30_000
# Read slack past the server's own timeout before we treat a silent longpoll as lost and re-poll.
LONGPOLL_GRACE_S = 10.0
# compact() waits for CouchDB's background compaction; past this it gives up as Unavailable.
COMPACT_WAIT_S = 300.0
COMPACT_POLL_MAX_S = 1.0
# How long a compaction CouchDB accepted may take to show as running (or to have run unseen).
COMPACT_START_S = 2.0
# The vendor in Apache CouchDB's welcome: the server whose compaction runs in the background.
APACHE = "The Apache Software Foundation"
# An ETag that is a quoted base64 MD5 (CouchDB's attachment ETag) doubles as the digest.
MIXED = "multipart/mixed"
RELATED = "multipart/related"
_MD5_ETAG = re.compile(r'^(?:W/)?"([A-Za-z0-9+/]{22}==)"$')


class HttpStore:
    """One remote database, addressed by its URL (``http://host:5984/dbname``)."""

    def __init__(self, transport: Transport, name: str) -> None:
        self._t = transport
        self._name = name
        self._welcome: dict[str, Any] | None = None

    @classmethod
    async def open(
        cls,
        url: str | URL,
        *,
        session: aiohttp.ClientSession | None = None,
        auth: AuthOption | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounds each later request
        headers: Mapping[str, str] | None = None,
        ca_file: CaFile | None = None,
    ) -> HttpStore:
        """Bind to the database at ``url``; no request is made until the first call, so a
        missing database (or a wrong password) shows there. Credentials come from the URL
        userinfo or ``auth``: ``auth.Basic``/``(login, password)``/``aiohttp.BasicAuth``,
        ``auth.Bearer`` (a JWT) or ``auth.CookieSession`` (``POST /_session`` at the server
        root, logging in again when the cookie expires). ``ca_file``: the CA bundle an https
        server's certificate must chain to (default: the system's). Without ``session`` the
        store owns one and ``close()`` closes it; ``timeout`` bounds each request (seconds)."""
        transport = Transport.create(
            url,
            session=session,
            auth=auth,
            timeout=timeout,
            headers=headers,
            ca_file=ca_file,
            depth=1,
        )
        try:
            name = name_of(transport.base)
        except ValueError:
            await transport.close()
            raise
        return cls(transport, name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def url(self) -> str:
        """The database URL without credentials."""
        return self._t.base

    @property
    def transport(self) -> Transport:
        """The database's transport (its session, credentials and error mapping), for clients
        of endpoints beyond ``DocumentStore`` (``search.client``)."""
        return self._t

    # -- documents -------------------------------------------------------------------------------

    async def get(
        self, doc_id: str, rev: str | None = None, options: ReadOptions = _DEFAULT_READ
    ) -> Doc:
        params = wire.read_params(options)
        if rev is not None:
            params["rev"] = rev
        if options.follows and options.attachments:
            reply = await self._t.send(
                "GET", doc_path(doc_id), params=params, headers={"Accept": RELATED}
            )
            return _related_or_json(reply)
        doc: Doc = await self._t.call("GET", doc_path(doc_id), params=params)
        return doc

    async def open_revs(
        self, doc_id: str, revs: Sequence[str] | None, options: ReadOptions = _DEFAULT_READ
    ) -> list[dict[str, Any]]:
        """GET with ``open_revs``; ``Accept: application/json`` keeps CouchDB from answering
        multipart/mixed."""
        params = wire.read_params(options)
        params["open_revs"] = "all" if revs is None else wire.json_param(list(revs))
        if options.follows and options.attachments:
            reply = await self._t.send(
                "GET", doc_path(doc_id), params=params, headers={"Accept": MIXED}
            )
            return [_open_revs_entry(entry) for entry in _mixed_or_json(reply)]
        found: list[dict[str, Any]] = await self._t.call("GET", doc_path(doc_id), params=params)
        return found

    async def put(self, doc: Doc) -> BulkResult:
        """PUT /db/id; POST /db when the id cannot be a path (absent, empty, reserved ``_``,
        not a string) so the server judges it exactly as it would in ``_bulk_docs``."""
        if not isinstance(doc, Mapping):
            raise BadRequest("Document must be a JSON object")
        doc_id = doc.get("_id")
        if is_path_id(doc_id):
            answer = await self._t.call("PUT", doc_path(str(doc_id)), payload=doc)
        else:
            answer = await self._t.call("POST", payload=doc)
        return wire.write_result(answer)

    async def delete(self, doc_id: str, rev: str) -> BulkResult:
        answer = await self._t.call("DELETE", doc_path(doc_id), params={"rev": rev})
        return wire.write_result(answer)

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        """``_bulk_docs`` for JSON documents (raw clear attachment bytes sent as base64); a
        document with raw gzip attachment bytes (read with ``follows``) goes by itself as a
        ``multipart/related`` PUT, the way CouchDB's replicator writes one, so the bytes and
        their digests arrive as they are. As in CouchDB, only conflicts are rows: any other
        refusal fails the batch."""
        batch = list(docs)
        if any(multipart.mismatched_digest(doc) is not None for doc in batch):
            raise content_md5_mismatch()
        results: dict[int, BulkResult] = {}
        json_docs: list[tuple[int, Doc]] = []
        if (
            any(map(multipart.has_gzip_attachments, batch))
            and not await self._stores_encoded_bytes()
        ):
            batch = [multipart.inline_decoded(doc) for doc in batch]
        for i, doc in enumerate(batch):
            if multipart.has_gzip_attachments(doc):
                results[i] = await self._put_related(doc, new_edits)
            else:
                json_docs.append((i, multipart.inline_clear(doc)))
        if json_docs:
            rows = await self._bulk_docs_json([doc for _, doc in json_docs], new_edits)
            results.update(zip((i for i, _ in json_docs), rows, strict=True))
        return [results[i] for i in range(len(batch))]

    async def _stores_encoded_bytes(self) -> bool:
        """Whether the server keeps a gzip part of a ``multipart/related`` upload as gzip (its
        welcome says ``couchdb``: CouchDB and ours). pouchdb-server 4.2 would store the gzip
        bytes as the attachment's content, so it is sent clear bytes instead and computes its
        own digest, as it does for every attachment."""
        return "couchdb" in await self._server_welcome()

    async def _compacts_in_background(self) -> bool:
        """Apache CouchDB answers ``_compact`` before its shards' compaction shows as running;
        ours and pouchdb-server have compacted when they answer."""
        vendor = (await self._server_welcome()).get("vendor")
        return not isinstance(vendor, dict) or vendor.get("name") == APACHE

    async def _server_welcome(self) -> dict[str, Any]:
        """``GET /`` of the server, once. A root closed to us is taken for CouchDB's
        (pouchdb-server's is open)."""
        if self._welcome is None:
            try:
                welcome = await self._t.parent().call("GET")
            except (Unauthorized, Forbidden):
                welcome = {"couchdb": "Welcome", "vendor": {"name": APACHE}}
            self._welcome = welcome if isinstance(welcome, dict) else {}
        return self._welcome

    async def _bulk_docs_json(self, batch: list[Doc], new_edits: bool) -> list[BulkResult]:
        payload = {"docs": batch, "new_edits": new_edits}
        rows = await self._t.call("POST", "_bulk_docs", payload=payload)
        if not isinstance(rows, list):
            raise Unavailable("_bulk_docs answered something other than a list of rows")
        return wire.bulk_results(batch, rows, new_edits=new_edits)

    async def _put_related(self, doc: Doc, new_edits: bool) -> BulkResult:
        """One document as ``multipart/related``; a conflict is its result row, as in
        ``_bulk_docs``, any other refusal raises."""
        doc_id = str(doc.get("_id", ""))
        body, content_type = multipart.related_upload(doc)
        try:
            reply = await self._t.send(
                "PUT",
                doc_path(doc_id),
                params={} if new_edits else {"new_edits": "false"},
                body=body,
                headers={"Content-Type": content_type, "Accept": JSON},
            )
        except Conflict as exc:
            return BulkResult(doc_id, None, exc.error, exc.reason)
        answer = reply.json()
        if isinstance(answer, list):  # pouchdb-server answers it as _bulk_docs: [] when written
            return wire.bulk_results([doc], answer, new_edits=new_edits)[0]
        return wire.write_result(answer)

    # -- feeds -----------------------------------------------------------------------------------

    async def all_docs(self, query: AllDocsQuery = _DEFAULT_ALL_DOCS) -> AllDocsPage:
        params, body = wire.all_docs_request(query)
        method = "GET" if body is None else "POST"
        answer = await self._t.call(method, "_all_docs", params=params, payload=body)
        return wire.all_docs_page(answer)

    async def changes(self, query: ChangesQuery = _DEFAULT_CHANGES) -> ChangesPage:
        params, body = wire.changes_request(query)
        method = "GET" if body is None else "POST"
        answer = await self._t.call(method, "_changes", params=params, payload=body)
        return wire.changes_page(answer, query.since)

    async def wait_for_change(self, since: str) -> None:
        """Longpoll ``_changes`` until a row arrives. A server that ignores ``timeout`` and
        sends nothing (no heartbeat) is re-polled when our read timeout passes."""
        read_timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=self._t.timeout,
            sock_read=LONGPOLL_TIMEOUT_MS / 1000 + LONGPOLL_GRACE_S,
        )
        while True:
            params = {
                "feed": "longpoll",
                "since": since,
                "timeout": str(LONGPOLL_TIMEOUT_MS),
                "limit": "1",
            }
            try:
                answer = await self._t.call(
                    "GET", "_changes", params=params, client_timeout=read_timeout
                )
            except Unavailable as exc:
                if isinstance(exc.__cause__, aiohttp.SocketTimeoutError):
                    continue
                raise
            page = wire.changes_page(answer, since)
            if page.results:
                return
            since = page.last_seq

    # -- replication -----------------------------------------------------------------------------

    async def revs_diff(self, revs: Mapping[str, Sequence[str]]) -> dict[str, dict[str, list[str]]]:
        if not isinstance(revs, Mapping):
            raise BadRequest("_revs_diff expects a JSON object")
        diff: dict[str, dict[str, list[str]]] = await self._t.call(
            "POST", "_revs_diff", payload=wire.revs_diff_body(revs)
        )
        return diff

    async def bulk_get(
        self, requests: Sequence[Mapping[str, Any]], options: ReadOptions = _DEFAULT_READ
    ) -> list[dict[str, Any]]:
        if options.follows and options.attachments:
            return await self._bulk_get_with_stored_attachments(requests, options)
        payload = {"docs": [dict(request) for request in requests]}
        answer = await self._t.call(
            "POST", "_bulk_get", params=wire.read_params(options), payload=payload
        )
        results: list[dict[str, Any]] = answer["results"]
        return results

    async def _bulk_get_with_stored_attachments(
        self, requests: Sequence[Mapping[str, Any]], options: ReadOptions
    ) -> list[dict[str, Any]]:
        """JSON first, without attachments (orjson reads it far faster than we split
        multipart); only the requests whose revisions turn out to have attachments are asked
        again as ``multipart/mixed``, for their bytes as stored (CouchDB's replicator does the
        same: JSON ``_bulk_get``, then ``open_revs`` for documents with attachments)."""
        results = await self.bulk_get(requests, replace(options, attachments=False, follows=False))
        again = [
            i
            for i, result in enumerate(results)
            if any(item.get("ok", {}).get("_attachments") for item in result["docs"])
        ]
        if not again:
            return results
        subset = {"docs": [dict(requests[i]) for i in again]}
        fetched = await self._bulk_get_following(subset, wire.read_params(options))
        for i, result in zip(again, fetched, strict=True):
            results[i] = result
        return results

    async def _bulk_get_following(
        self, payload: dict[str, Any], params: dict[str, str]
    ) -> list[dict[str, Any]]:
        """``_bulk_get`` as ``multipart/mixed`` (each revision's attachments as stored), grouped
        back into CouchDB's JSON shape: one result per requested id, in request order."""
        reply = await self._t.send(
            "POST",
            "_bulk_get",
            params=params,
            body=dumps(payload),
            headers={"Accept": MIXED, "Content-Type": JSON},
        )
        if not reply.headers.get("Content-Type", "").startswith("multipart/"):
            results: list[dict[str, Any]] = reply.json()["results"]
            for result in results:
                for item in result["docs"]:
                    if "ok" in item:
                        multipart.following(item["ok"])
            return results
        grouped: dict[str, list[dict[str, Any]]] = {}
        for entry in _mixed_or_json(reply):
            found = entry.get("ok") or entry.get("error") or {}
            grouped.setdefault(str(found.get("_id", found.get("id"))), []).append(entry)
        return [
            {"id": request["id"], "docs": grouped.pop(str(request["id"]), [])}
            for request in payload["docs"]
        ]

    # -- attachments -----------------------------------------------------------------------------

    async def get_attachment(self, doc_id: str, name: str, rev: str | None = None) -> Attachment:
        """Read the stub, then the bytes of that exact revision (never a newer one).

        The stub gives ``revpos``, which no header carries, and the stored ``content_type`` and
        ``digest`` (headers are the fallback: frameworks may append a charset to Content-Type;
        CouchDB sends the MD5 as ``Content-MD5`` and as the quoted ETag). The bytes are the
        identity encoding, since aiohttp undoes any gzip transfer, so ``encoding`` is None.
        """
        doc = await self.get(doc_id, rev)
        meta = (doc.get("_attachments") or {}).get(name)
        if meta is None:
            raise NotFound("Document is missing attachment")
        reply = await self._t.send(
            "GET",
            attachment_path(doc_id, name),
            params={"rev": str(doc["_rev"])},
            headers={"Accept": "*/*"},
        )
        return Attachment(
            name=name,
            content_type=str(meta.get("content_type") or reply.headers.get("Content-Type", "")),
            stored=reply.body,
            digest=str(meta.get("digest") or _header_digest(reply.headers, reply.body)),
            revpos=int(meta.get("revpos") or 0),
        )

    async def put_attachment(
        self, doc_id: str, name: str, data: bytes, content_type: str, rev: str | None
    ) -> BulkResult:
        reply = await self._t.send(
            "PUT",
            attachment_path(doc_id, name),
            params={} if rev is None else {"rev": rev},
            body=data,
            headers={"Content-Type": content_type, "Accept": JSON},
        )
        return wire.write_result(reply.json())

    async def delete_attachment(self, doc_id: str, name: str, rev: str) -> BulkResult:
        answer = await self._t.call("DELETE", attachment_path(doc_id, name), params={"rev": rev})
        return wire.write_result(answer)

    # -- database --------------------------------------------------------------------------------

    async def get_revs_limit(self) -> int:
        limit = await self._t.call("GET", "_revs_limit")
        if not isinstance(limit, int) or isinstance(limit, bool):
            raise Unavailable("_revs_limit answered something other than an integer")
        return limit

    async def set_revs_limit(self, limit: int) -> None:
        reply = await self._t.send(
            "PUT",
            "_revs_limit",
            body=dumps(limit),
            headers={"Content-Type": JSON, "Accept": JSON},
        )
        reply.json()

    # -- views ------------------------------------------------------------------------------

    async def query_view(self, ddoc: str, view: str, query: ViewQuery = _DEFAULT_VIEW) -> ViewPage:
        params, body = wire.view_request(query)
        path = f"{_design_path(ddoc)}/_view/{quote(view, safe='')}"
        method = "GET" if body is None else "POST"
        return wire.view_page(await self._t.call(method, path, params=params, payload=body))

    async def view_info(self, ddoc: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self._t.call("GET", f"{_design_path(ddoc)}/_info")
        return answer

    async def view_cleanup(self) -> None:
        await self._t.call("POST", "_view_cleanup", payload={})

    async def compact_views(self, ddoc: str) -> None:
        await self._t.call("POST", f"_compact/{quote(ddoc, safe='')}", payload={})

    async def compact(self) -> None:
        """Start compaction, then wait for it: CouchDB answers 202 and compacts in the
        background, and callers expect old bodies gone when this returns."""
        await self._t.send("POST", "_compact", headers={"Content-Type": JSON, "Accept": JSON})
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen_running = not await self._compacts_in_background()
        delay = 0.01
        while True:
            running = bool((await self._t.call("GET")).get("compact_running"))
            seen_running = seen_running or running
            # CouchDB may answer the 202 before the shards' compaction shows as running: until
            # it has been seen running (or a small database had time to finish unseen), wait.
            if not running and (seen_running or loop.time() - started > COMPACT_START_S):
                return
            if loop.time() - started > COMPACT_WAIT_S:
                raise Unavailable(f"{self._name}: compaction still running after {COMPACT_WAIT_S}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, COMPACT_POLL_MAX_S)

    async def info(self) -> DbInfo:
        return wire.db_info(await self._t.call("GET"), self._name)

    async def close(self) -> None:
        await self._t.close()

    # -- Mango -----------------------------------------------------------------------------------

    async def find(self, request: Mapping[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._t.call("POST", "_find", payload=dict(request))
        return answer

    async def explain(self, request: Mapping[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._t.call("POST", "_explain", payload=dict(request))
        return answer

    async def create_index(self, request: Mapping[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = await self._t.call("POST", "_index", payload=dict(request))
        return answer

    async def list_indexes(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self._t.call("GET", "_index")
        return answer

    async def delete_index(self, ddoc: str, name: str) -> None:
        ddoc_name = ddoc.removeprefix("_design/")
        path = f"_index/{quote(ddoc_name, safe='')}/json/{quote(name, safe='')}"
        await self._t.call("DELETE", path)


def name_of(url: str) -> str:
    """The database name: the URL-decoded last path segment (``a%2Fb`` is ``a/b``)."""
    parts = URL(url, encoded=True).raw_parts
    if len(parts) < 2:
        raise ValueError(f"{url} names no database")
    return unquote(parts[-1])


def _related_or_json(reply: Reply) -> Doc:
    content_type = reply.headers.get("Content-Type", "")
    if content_type.startswith("multipart/related"):
        return multipart.related_doc(reply.body, content_type)
    return multipart.following(reply.json())


def _mixed_or_json(reply: Reply) -> list[dict[str, Any]]:
    """The parts of a ``multipart/mixed`` answer, or a JSON answer's entries (servers such as
    pouchdb-server answer JSON whatever is asked)."""
    content_type = reply.headers.get("Content-Type", "")
    boundary = multipart.boundary_of(content_type)
    if not content_type.startswith("multipart/mixed") or boundary is None:
        entries: list[dict[str, Any]] = reply.json()
        for entry in entries:
            if "ok" in entry:
                multipart.following(entry["ok"])
        return entries
    return [multipart.part_doc(h, p) for h, p in multipart.split_parts(reply.body, boundary)]


def _open_revs_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A missing revision comes as an error part ``{"missing": rev}``; open_revs says it so."""
    if "error" in entry and isinstance(entry["error"], dict) and "missing" in entry["error"]:
        return {"missing": entry["error"]["missing"]}
    return entry


def _header_digest(headers: Mapping[str, str], data: bytes) -> str:
    """``md5-<base64>`` from Content-MD5, else an MD5-shaped ETag, else computed from ``data``."""
    if content_md5 := headers.get("Content-MD5"):
        return f"md5-{content_md5}"
    if match := _MD5_ETAG.match(headers.get("ETag", "")):
        return f"md5-{match.group(1)}"
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode("ascii")


def _design_path(ddoc: str) -> str:
    return "_design/" + quote(ddoc, safe="")
