"""``_changes``: normal, longpoll, continuous and eventsource feeds over store pages.

A feed is built from ``DocumentStore.changes`` pages and ``wait_for_change``: nothing polls,
each committed write wakes the waiting feeds. ``heartbeat`` writes a newline while a feed waits
(so proxies and clients know it is alive, and a vanished client is noticed); ``timeout`` ends a
longpoll or continuous feed that saw no change for that long (CouchDB's defaults: 60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
from aiohttp import web

from brainlink_docs.errors import BadRequest, CouchError
from brainlink_docs.http import params
from brainlink_docs.http.requests import json_object, require_json_type, use_store
from brainlink_docs.http.responses import BASE_HEADERS
from brainlink_docs.store.api import Change, ChangesPage, ChangesQuery, DocumentStore
from brainlink_docs.views.mango import validate_selector

# Rows per store call while streaming; a feed never holds more than this in memory.
PAGE_ROWS = 1000
DEFAULT_TIMEOUT_MS = 60_000
DEFAULT_HEARTBEAT_MS = 60_000
FEEDS = frozenset({"normal", "longpoll", "continuous", "eventsource"})


@dataclass(frozen=True, slots=True)
class Feed:
    kind: str
    query: ChangesQuery
    heartbeat: float | None
    timeout: float


def _millis(query: Any, name: str, default: int) -> float:
    raw = query.get(name)
    if raw == "true":
        return default / 1000
    value = params.integer(query, name, default)
    return (value if value is not None else default) / 1000


def parse_feed(query: Any, body: dict[str, Any] | None, last_event_id: str | None = None) -> Feed:
    kind = query.get("feed", "normal")
    if kind not in FEEDS:
        raise BadRequest(f"Supported `feed` types: {', '.join(sorted(FEEDS))}")
    doc_ids = selector = named = None
    flt = query.get("filter")
    if flt == "_doc_ids":
        doc_ids = (body or {}).get("doc_ids", params.json_value(query, "doc_ids"))
        if not isinstance(doc_ids, list) or not all(isinstance(d, str) for d in doc_ids):
            raise BadRequest("`doc_ids` filter parameter is not a list of doc ids.")
    elif flt == "_selector":
        raw = (body or {}).get("selector")
        if raw is None:
            raise BadRequest("Selector must be specified in POST payload")
        selector = validate_selector(raw)
    elif flt == "_design":
        selector = {"_id": {"$beginsWith": "_design/"}}
    elif flt is not None:
        # A design-function filter (ddoc/name, or _view): the store runs it, with the
        # request's whole query string as its req.query, as CouchDB passes it.
        named = flt
    style = query.get("style", "main_only")
    if style not in ("main_only", "all_docs"):
        raise BadRequest("Invalid style; expected main_only or all_docs")
    # A reconnecting EventSource sends the last id it saw (JSON-encoded, as we sent it); for
    # that feed it overrides ``since`` (chttpd_db:parse_changes_query).
    resumed = _event_id_since(last_event_id) if kind == "eventsource" else None
    since = resumed or query.get("since") or "0"
    changes = ChangesQuery(
        since=since,
        limit=params.integer(query, "limit"),
        descending=params.boolean(query, "descending"),
        style=style,  # type: ignore[arg-type]
        include_docs=params.boolean(query, "include_docs"),
        conflicts=params.boolean(query, "conflicts"),
        attachments=params.boolean(query, "attachments"),
        doc_ids=tuple(doc_ids) if doc_ids is not None else None,
        selector=selector,
        filter=named,
        query_params=dict(query) if named is not None else None,
    )
    heartbeat = _millis(query, "heartbeat", DEFAULT_HEARTBEAT_MS) if "heartbeat" in query else None
    return Feed(kind, changes, heartbeat, _millis(query, "timeout", DEFAULT_TIMEOUT_MS))


def _event_id_since(last_event_id: str | None) -> str | None:
    if not last_event_id:
        return None
    try:
        value = orjson.loads(last_event_id)
    except orjson.JSONDecodeError:
        return last_event_id
    return str(value)


async def changes(request: web.Request, db: str) -> web.StreamResponse:
    return await _serve(request, db, None)


async def changes_post(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request) if request.can_read_body else {}
    return await _serve(request, db, body)


async def _serve(request: web.Request, db: str, body: dict[str, Any] | None) -> web.StreamResponse:
    feed = parse_feed(request.query, body, request.headers.get("Last-Event-ID"))
    async with use_store(request, db) as store:
        # Validates ``since`` (a 400 must come before the 200 headers of a stream).
        await store.changes(replace(feed.query, limit=0))
        if feed.query.since == "now":
            info = await store.info()
            feed = replace(feed, query=replace(feed.query, since=info.update_seq))
        if feed.kind == "continuous":
            return await _continuous(request, store, feed, _continuous_row, b"")
        if feed.kind == "eventsource":
            return await _continuous(request, store, feed, _event_row, _EVENT_HEARTBEAT)
        return await _normal(request, store, feed)


async def _page(store: DocumentStore, query: ChangesQuery, remaining: int | None) -> ChangesPage:
    size = PAGE_ROWS if remaining is None else min(PAGE_ROWS, remaining)
    return await store.changes(replace(query, limit=size))


async def _wait(
    response: web.StreamResponse, store: DocumentStore, since: str, feed: Feed, beat: bytes
) -> bool:
    """Wait for a change after ``since`` (heartbeats meanwhile); False once ``timeout`` passes."""
    deadline = time.monotonic() + feed.timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        step = min(left, feed.heartbeat) if feed.heartbeat else left
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(step):
                await store.wait_for_change(since)
                return True
        if feed.heartbeat and time.monotonic() < deadline:
            await response.write(beat or b"\n")


async def _normal(request: web.Request, store: DocumentStore, feed: Feed) -> web.StreamResponse:
    query, remaining = feed.query, feed.query.limit
    # Read before the 200 headers: a filter function that throws is a 500, as in CouchDB.
    page = await _page(store, query, remaining)
    response = web.StreamResponse(headers={**BASE_HEADERS, "Content-Type": "application/json"})
    await response.prepare(request)
    try:
        await _stream_normal(response, store, feed, page)
    except CouchError as exc:
        await _cut_short(response, exc)
    return response


async def _stream_normal(
    response: web.StreamResponse, store: DocumentStore, feed: Feed, page: ChangesPage
) -> None:
    query, remaining = feed.query, feed.query.limit
    if feed.kind == "longpoll" and not query.descending:
        # Wait for a change that shows: under a filter, a write it rejects wakes the feed
        # but answers nothing, so wait again, within the one timeout (CouchDB's longpoll).
        deadline = time.monotonic() + feed.timeout
        while not page.results:
            left = replace(feed, timeout=deadline - time.monotonic())
            if not await _wait(response, store, page.last_seq, left, b"\n"):
                break
            page = await _page(store, replace(query, since=page.last_seq), remaining)
    await response.write(b'{"results":[\n')
    separator = b""
    while True:
        if page.results:
            rows = b",\n".join(orjson.dumps(c.to_json()) for c in page.results)
            await response.write(separator + rows)
            separator = b",\n"
        if remaining is not None:
            remaining -= len(page.results)
        done = remaining is not None and remaining <= 0
        if feed.kind == "longpoll" or not page.pending or done:
            break
        page = await _page(store, replace(query, since=page.last_seq), remaining)
    tail = {"last_seq": page.last_seq, "pending": page.pending}
    await response.write(b"\n],\n" + orjson.dumps(tail)[1:] + b"\n")
    await response.write_eof()


async def _cut_short(response: web.StreamResponse, exc: CouchError) -> None:
    """A feed that fails after its 200 headers (a filter throwing on a later change): the
    error as the last line, then the end, so the client is not left waiting (CouchDB cuts
    the stream off the same way)."""
    await response.write(b"\n" + orjson.dumps(exc.to_json()) + b"\n")
    await response.write_eof()


def _continuous_row(change: Change) -> bytes:
    return orjson.dumps(change.to_json()) + b"\n"


def _event_row(change: Change) -> bytes:
    seq = orjson.dumps(change.seq)
    return b"data: " + orjson.dumps(change.to_json()) + b"\nid: " + seq + b"\n\n"


_EVENT_HEARTBEAT = b"event: heartbeat\ndata: \n\n"


async def _continuous(
    request: web.Request, store: DocumentStore, feed: Feed, encode: Any, beat: bytes
) -> web.StreamResponse:
    content_type = "text/event-stream" if feed.kind == "eventsource" else "application/json"
    response = web.StreamResponse(headers={**BASE_HEADERS, "Content-Type": content_type})
    await response.prepare(request)
    try:
        await _stream_continuous(response, store, feed, encode, beat)
    except CouchError as exc:
        await _cut_short(response, exc)
    return response


async def _stream_continuous(
    response: web.StreamResponse, store: DocumentStore, feed: Feed, encode: Any, beat: bytes
) -> None:
    query, remaining = feed.query, feed.query.limit
    since = query.since
    pending = 0
    while remaining is None or remaining > 0:
        page = await _page(store, replace(query, since=since), remaining)
        if page.results:
            await response.write(b"".join(encode(c) for c in page.results))
        since, pending = page.last_seq, page.pending
        if remaining is not None:
            remaining -= len(page.results)
        if page.results and page.pending:
            continue
        if (remaining is not None and remaining <= 0) or query.descending:
            break
        if not await _wait(response, store, since, feed, beat):
            break
    if feed.kind == "continuous":
        await response.write(orjson.dumps({"last_seq": since, "pending": pending}) + b"\n")
    await response.write_eof()
