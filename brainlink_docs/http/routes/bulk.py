"""Many documents at once: ``_all_docs`` (and its design/local cousins), ``_bulk_docs``,
``_bulk_get``, ``_revs_diff`` and ``_missing_revs``.

A large ``_all_docs`` answer is streamed page by page, so serving a million-document database
never holds it in memory.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from aiohttp import web

from brainlink_docs.errors import BadRequest
from brainlink_docs.http import params
from brainlink_docs.http.multipart import mixed_response
from brainlink_docs.http.requests import (
    check_doc_size,
    json_object,
    require_json_type,
    settings_of,
    use_store,
)
from brainlink_docs.http.responses import BASE_HEADERS, json_response
from brainlink_docs.multipart import Part, doc_part, error_part
from brainlink_docs.store.api import AllDocsQuery, DocumentStore, ReadOptions

# Rows per store call while streaming a large _all_docs answer.
PAGE_ROWS = 1000


def all_docs_query(query: Any, body: dict[str, Any] | None = None) -> AllDocsQuery:
    """``couch_mrview_http:parse_params`` for ``_all_docs``: JSON keys, CouchDB aliases."""
    keys = params.json_value(query, "keys")
    if body is not None and "keys" in body:
        if keys is not None:
            raise BadRequest("`keys` is supplied both in the query and the body")
        keys = body["keys"]
    if keys is not None and not isinstance(keys, list):
        raise BadRequest("`keys` member must be an array.", error="bad_request")
    start = params.string_key(query, "startkey", "start_key")
    end = params.string_key(query, "endkey", "end_key")
    if "key" in query:
        # couch_mrview_http: key sets start_key = end_key, a range (no row for a missing id).
        start = end = params.string_key(query, "key")
    return AllDocsQuery(
        keys=tuple(keys) if keys is not None else None,
        startkey=start,
        endkey=end,
        inclusive_end=params.boolean(query, "inclusive_end", True),
        descending=params.boolean(query, "descending"),
        limit=params.integer(query, "limit"),
        skip=params.integer(query, "skip", 0) or 0,
        include_docs=params.boolean(query, "include_docs"),
        conflicts=params.boolean(query, "conflicts"),
        attachments=params.boolean(query, "attachments"),
        update_seq=params.boolean(query, "update_seq"),
    )


async def _answer_all_docs(
    request: web.Request, store: DocumentStore, query: AllDocsQuery
) -> web.StreamResponse:
    first_limit = PAGE_ROWS if query.limit is None else min(PAGE_ROWS, query.limit)
    page = await store.all_docs(replace(query, limit=first_limit) if query.keys is None else query)
    if query.keys is not None or len(page.rows) < first_limit or query.limit == first_limit:
        return json_response(page.to_json())
    response = web.StreamResponse(headers={**BASE_HEADERS, "Content-Type": "application/json"})
    await response.prepare(request)
    head: dict[str, Any] = {"total_rows": page.total_rows, "offset": page.offset}
    if page.update_seq is not None:
        head["update_seq"] = page.update_seq
    await response.write(orjson.dumps(head)[:-1] + b',"rows":[\r\n')
    remaining = None if query.limit is None else query.limit
    separator = b""
    while True:
        if page.rows:
            await response.write(separator + b",\r\n".join(orjson.dumps(r) for r in page.rows))
            separator = b",\r\n"
        if remaining is not None:
            remaining -= len(page.rows)
        size = PAGE_ROWS if remaining is None else min(PAGE_ROWS, remaining)
        if len(page.rows) < first_limit or size <= 0:
            break
        first_limit = size
        nxt = replace(query, startkey=page.rows[-1]["id"], skip=1, limit=size)
        page = await store.all_docs(nxt)
    await response.write(b"\r\n]}\n")
    await response.write_eof()
    return response


async def all_docs(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return await _answer_all_docs(request, store, all_docs_query(request.query))


async def all_docs_post(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    async with use_store(request, db) as store:
        return await _answer_all_docs(request, store, all_docs_query(request.query, body))


def _design_range(query: AllDocsQuery) -> AllDocsQuery:
    """``_design_docs`` is ``_all_docs`` clamped to the ``_design/`` id range."""
    low, high = "_design/", "_design0"
    if query.keys is not None:
        return replace(query, keys=tuple(k for k in query.keys if str(k).startswith(low)))
    start = query.startkey if query.startkey is not None else (high if query.descending else low)
    end = query.endkey if query.endkey is not None else (low if query.descending else high)
    return replace(query, startkey=start, endkey=end)


async def design_docs(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return await _answer_all_docs(request, store, _design_range(all_docs_query(request.query)))


async def design_docs_post(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    async with use_store(request, db) as store:
        return await _answer_all_docs(
            request, store, _design_range(all_docs_query(request.query, body))
        )


async def local_docs(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        page = await store.local_docs(all_docs_query(request.query))
    return json_response(page.to_json())


async def local_docs_post(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    async with use_store(request, db) as store:
        page = await store.local_docs(all_docs_query(request.query, body))
    return json_response(page.to_json())


async def bulk_docs(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    docs = body.get("docs")
    if not isinstance(docs, list):
        raise BadRequest("POST body must include `docs` parameter.")
    new_edits = body.get("new_edits", True)
    if not isinstance(new_edits, bool):
        raise BadRequest("`new_edits` parameter must be a boolean.")
    settings = settings_of(request)
    for doc in docs:
        check_doc_size(doc, settings.max_document_size, settings.max_attachment_size)
        if (
            not new_edits
            and isinstance(doc, dict)
            and "_rev" not in doc
            and "_revisions" not in doc
        ):
            # chttpd_db:validate_revs rejects the whole request.
            raise BadRequest(
                "When `new_edits: false`, the document needs `_rev` or `_revisions` specified"
            )
    async with use_store(request, db) as store:
        results = await store.bulk_docs(docs, new_edits=new_edits)
    rows = [r.to_json() for r in results if new_edits or not r.ok]
    return json_response(rows, status=201)


async def bulk_get(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    requests = body.get("docs")
    if not isinstance(requests, list):
        raise BadRequest("Missing JSON list of 'docs'.")
    q = request.query
    multipart = "multipart/mixed" in request.headers.get("Accept", "")
    options = ReadOptions(
        revs=params.boolean(q, "revs"),
        attachments=params.boolean(q, "attachments"),
        att_encoding_info=params.boolean(q, "att_encoding_info"),
        follows=multipart,
        latest=params.boolean(q, "latest"),
    )
    async with use_store(request, db) as store:
        results = await store.bulk_get(requests, options)
    if multipart:
        return mixed_response(_bulk_get_parts(results))
    return json_response({"results": results})


def _bulk_get_parts(results: list[dict[str, Any]]) -> list[Part]:
    """``chttpd_db:send_docs_multipart_bulk_get``: each revision a part naming its id and
    rev, attachments as parts of a nested ``multipart/related``."""
    parts = []
    for entry in results:
        for item in entry["docs"]:
            if "ok" in item:
                doc = item["ok"]
                parts.append(doc_part(doc, {"X-Doc-Id": doc["_id"], "X-Rev-Id": doc["_rev"]}))
            else:
                parts.append(error_part(_multipart_error(item["error"])))
    return parts


def _multipart_error(error: dict[str, Any]) -> dict[str, Any]:
    """A missing revision's part names the rev alone (``{"rev", "error", "reason"}``); a
    document with no revision to send keeps the whole error, id and all."""
    if error.get("rev") == "undefined":
        return error
    return {k: error[k] for k in ("rev", "error", "reason") if k in error}


async def revs_diff(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    async with use_store(request, db) as store:
        return json_response(await store.revs_diff(body))


async def missing_revs(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    async with use_store(request, db) as store:
        diff = await store.revs_diff(body)
    return json_response({"missing_revs": {k: v["missing"] for k, v in diff.items()}})
