"""Document endpoints: GET/PUT/DELETE/COPY ``/{db}/{docid}`` and POST ``/{db}``.

The revision of an edit may come from ``?rev=``, ``If-Match`` or the body's ``_rev``, as in
``chttpd_db``. Every answer carries the revision as ``ETag``; a matching ``If-None-Match``
gets 304. ``open_revs`` is answered as JSON when the client accepts JSON and as
``multipart/mixed`` otherwise, which is what CouchDB's own replicator asks for.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import quote

from aiohttp import web

from brainlink_docs.errors import BadRequest, Conflict, NotFound
from brainlink_docs.http import params
from brainlink_docs.http.multipart import (
    mixed_response,
    multipart_response,
    read_related,
    result_part,
)
from brainlink_docs.http.requests import (
    check_doc_size,
    json_object,
    require_json_type,
    settings_of,
    use_store,
)
from brainlink_docs.http.responses import etag, etag_matches, json_response
from brainlink_docs.multipart import related_body
from brainlink_docs.store.api import (
    DESIGN_PREFIX,
    LOCAL_PREFIX,
    BulkResult,
    Doc,
    DocumentStore,
    ReadOptions,
)

_NO_OPTIONS = ReadOptions()


def read_options(query: Any) -> ReadOptions:
    """``chttpd_db:parse_doc_query``: the options of a document read. Only the word ``true``
    turns an option on; any other value is ignored, as CouchDB ignores unknown pairs."""

    def on(name: str) -> bool:
        return query.get(name) == "true"

    meta = on("meta")
    atts_since = params.rev_list(query, "atts_since")
    return ReadOptions(
        revs=on("revs"),
        revs_info=meta or on("revs_info"),
        conflicts=meta or on("conflicts"),
        deleted_conflicts=meta or on("deleted_conflicts"),
        local_seq=on("local_seq"),
        attachments=on("attachments") or atts_since is not None,
        atts_since=tuple(atts_since) if atts_since is not None else None,
        att_encoding_info=on("att_encoding_info"),
        latest=on("latest"),
    )


def accepts_multipart(request: web.Request, subtype: str = "mixed") -> bool:
    """Mochiweb's ``accepts_content_type("multipart/<subtype>")``: no Accept header accepts
    all."""
    accept = request.headers.get("Accept")
    if accept is None:
        return True
    return any(t in accept for t in (f"multipart/{subtype}", "multipart/*", "*/*"))


def _follows(options: ReadOptions) -> ReadOptions:
    """A multipart answer carries attachments as parts, stored bytes and all
    (``chttpd_db``: ``[attachments, follows, att_encoding_info | Options]``)."""
    return replace(options, attachments=True, follows=True, att_encoding_info=True)


async def get_doc(request: web.Request, db: str, doc_id: str) -> web.StreamResponse:
    query = request.query
    options = read_options(query) if query else _NO_OPTIONS
    async with use_store(request, db) as store:
        if "open_revs" in query:
            return await _open_revs(request, store, doc_id, options)
        related = options.attachments and accepts_multipart(request, "related")
        if related:
            options = _follows(options)
        doc = await _read(store, doc_id, query.get("rev"), options)
    tag = etag(doc["_rev"])
    if etag_matches(request.headers.get("If-None-Match"), tag):
        return web.Response(status=304, headers={"ETag": tag})
    # Without an attachment to send (all stubs), CouchDB answers the JSON alone.
    body = related_body(doc) if related else None
    if body is None:
        return json_response(doc, headers={"ETag": tag})
    response = multipart_response(*body)
    response.headers["ETag"] = tag
    return response


async def _read(store: DocumentStore, doc_id: str, rev: str | None, options: ReadOptions) -> Doc:
    """One revision; with ``latest``, the newest leaf descending from ``rev`` instead."""
    if rev is None or not options.latest:
        return await store.get(doc_id, rev, options)
    for answer in await store.open_revs(doc_id, [rev], options):
        if "ok" in answer:
            return answer["ok"]  # type: ignore[no-any-return]
    raise NotFound("missing")


async def _open_revs(
    request: web.Request, store: DocumentStore, doc_id: str, options: ReadOptions
) -> web.StreamResponse:
    raw = request.query["open_revs"]
    revs = None if raw == "all" else params.rev_list(request.query, "open_revs")
    multipart = accepts_multipart(request)
    results = await store.open_revs(doc_id, revs, _follows(options) if multipart else options)
    if revs is None and not results:
        raise NotFound("missing")
    if multipart:
        return mixed_response([result_part(r) for r in results])
    return json_response(results)


def _rev_of(request: web.Request, doc: Doc | None = None) -> str | None:
    """The revision an edit names: query, then ``If-Match``, then the body (chttpd's order)."""
    rev = request.query.get("rev")
    if_match = request.headers.get("If-Match")
    if if_match is not None:
        if_match = if_match.strip('"')
        if rev is not None and rev != if_match:
            raise BadRequest(
                "Document rev from request body and query string have different values"
            )
        rev = if_match
    body_rev = doc.get("_rev") if doc is not None else None
    if rev is not None and body_rev is not None and body_rev != rev:
        raise BadRequest("Document rev from request body and query string have different values")
    return rev if rev is not None else body_rev


async def _read_doc(request: web.Request) -> Doc:
    settings = settings_of(request)
    if request.content_type == "multipart/related" and "boundary=" in request.headers.get(
        "Content-Type", ""
    ):
        doc = await read_related(request, settings.max_attachment_size)
    else:
        doc = await json_object(request, what="Document")
    check_doc_size(doc, settings.max_document_size, settings.max_attachment_size)
    return doc


def location_of(db: str, doc_id: str, attachment: str | None = None) -> str:
    """The ``Location`` of a written document or attachment, percent-encoded as CouchDB sends
    it (``/db/new%20doc%1F``): a raw id may hold characters no header can carry. A design or
    local id keeps the slash after its prefix."""
    prefix = next((p for p in (DESIGN_PREFIX, LOCAL_PREFIX) if doc_id.startswith(p)), "")
    path = f"/{quote(db, safe='')}/{prefix}{quote(doc_id[len(prefix) :], safe='')}"
    return path if attachment is None else f"{path}/{quote(attachment, safe='')}"


def _written(result: BulkResult, status: int, *, location: str | None = None) -> web.Response:
    headers = {"ETag": etag(result.rev or "")}
    if location:
        headers["Location"] = location
    return json_response(
        {"ok": True, "id": result.id, "rev": result.rev}, status=status, headers=headers
    )


async def put_doc(request: web.Request, db: str, doc_id: str) -> web.StreamResponse:
    doc = await _read_doc(request)
    doc["_id"] = doc_id
    rev = _rev_of(request, doc)
    if rev is not None:
        doc["_rev"] = rev
    new_edits = params.boolean(request.query, "new_edits", True)
    async with use_store(request, db) as store:
        if new_edits:
            result = await store.put(doc)
        else:
            (result,) = await store.bulk_docs([doc], new_edits=False)
            if not result.ok:
                raise BadRequest(result.reason or "Invalid document", error=result.error or "")
    if request.query.get("batch") == "ok":
        return json_response({"ok": True, "id": result.id}, status=202)
    return _written(result, 201, location=location_of(db, doc_id))


async def post_doc(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    doc = await _read_doc(request)
    async with use_store(request, db) as store:
        result = await store.put(doc)
    if request.query.get("batch") == "ok":
        return json_response({"ok": True, "id": result.id}, status=202)
    return _written(result, 201, location=location_of(db, result.id))


async def delete_doc(request: web.Request, db: str, doc_id: str) -> web.StreamResponse:
    rev = _rev_of(request)
    async with use_store(request, db) as store:
        if rev is None:
            await store.get(doc_id)  # 404 for a missing document, as chttpd checks first
            raise Conflict()
        result = await store.delete(doc_id, rev)
    return _written(result, 200)


async def copy_doc(request: web.Request, db: str, doc_id: str) -> web.StreamResponse:
    destination = request.headers.get("Destination")
    if not destination:
        raise BadRequest("Destination header is mandatory for COPY.")
    target, _, target_query = destination.partition("?")
    target_rev = None
    if target_query.startswith("rev="):
        target_rev = target_query[len("rev=") :]
    async with use_store(request, db) as store:
        source = await store.get(doc_id, request.query.get("rev"), ReadOptions(attachments=True))
        source["_id"] = target
        source.pop("_rev", None)
        if target_rev is not None:
            source["_rev"] = target_rev
        if target.startswith(LOCAL_PREFIX):
            source.pop("_attachments", None)
        result = await store.put(source)
    return _written(result, 201, location=location_of(db, target))
