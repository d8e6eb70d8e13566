"""``_find``, ``_explain`` and ``_index`` over any ``DocumentStore``.

A query reads its chosen index in key order (``index_rows``), re-checks every document against
the whole selector (as ``mango_cursor_view`` does: the range only narrows the scan), then applies
``skip``, ``limit`` and ``fields``. Rows come in index order: ``(key, doc id)`` by collation for
a JSON index, ids byte by byte for ``_all_docs``; ``sort`` only picks the index and direction.

``index_rows`` is the one place that reads an index: a JSON index through the store's
``query_view`` (the view engine keeps it up to date through the ``query`` mapper), ``_all_docs``
through ``all_docs``, both a page at a time from the range's start.

A bookmark (CouchDB's bytes, ``bookmarks``) names the last row returned; a query given one
resumes after that row.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.store.api import (
    DESIGN_PREFIX,
    AllDocsQuery,
    Doc,
    DocumentStore,
    ViewQuery,
    iter_all_docs,
)
from brainlink_docs.views.mango import bookmarks
from brainlink_docs.views.mango.indexes import (
    Index,
    add_to_ddoc,
    indexes_of_ddoc,
    list_json,
    parse_index_request,
    remove_from_ddoc,
)
from brainlink_docs.views.mango.normalize import Selector, normalize
from brainlink_docs.views.mango.options import FindOptions, parse_find
from brainlink_docs.views.mango.planner import Plan, covers, plan, selector_hints
from brainlink_docs.views.mango.ranges import MAX, key_cmp, to_json_key, with_max_as
from brainlink_docs.views.mango.selector import (
    BAD_PATH,
    MISSING,
    fields_of,
    get_field,
    match,
    split_field,
)

NO_INDEX_WARNING = "No matching index found, create an index to optimize query time."
SCAN_WARNING = (
    "The number of documents examined is high in proportion to the number of results "
    "returned. Consider adding a more specific index to improve this."
)
# [mango] index_scan_warning_threshold: more documents examined per result than this warns.
INDEX_SCAN_WARNING_THRESHOLD = 10
NO_USABLE_INDEX = "No index exists for this sort, try indexing by the sort fields."


# -- indexes -----------------------------------------------------------------------------------


async def json_indexes(store: DocumentStore) -> list[Index]:
    """Every JSON index of the database, by design document id, then as the views are listed."""
    query = AllDocsQuery(startkey=DESIGN_PREFIX, endkey="_design0", include_docs=True)
    out: list[Index] = []
    async for row in iter_all_docs(store, query):
        doc = row.get("doc")
        if isinstance(doc, dict):
            out.extend(indexes_of_ddoc(doc))
    return out


async def _ddoc(store: DocumentStore, ddoc_id: str) -> Doc | None:
    try:
        return await store.get(ddoc_id)
    except NotFound:
        return None


async def create_index(store: DocumentStore, body: Any) -> dict[str, Any]:
    request = parse_index_request(body)
    updated = add_to_ddoc(await _ddoc(store, request.ddoc), request)
    if updated is not None:
        await store.put(updated)
    result = "created" if updated is not None else "exists"
    return {"result": result, "id": request.ddoc, "name": request.name}


async def list_indexes(store: DocumentStore) -> dict[str, Any]:
    return list_json(await json_indexes(store))


async def delete_index(store: DocumentStore, ddoc: str, name: str) -> None:
    ddoc_id = ddoc if ddoc.startswith(DESIGN_PREFIX) else DESIGN_PREFIX + ddoc
    current = await _ddoc(store, ddoc_id)
    updated = remove_from_ddoc(current, name) if current is not None else None
    if updated is None:
        raise NotFound("missing")
    await store.put(updated)


# -- planning ----------------------------------------------------------------------------------


async def _plan(store: DocumentStore, opts: FindOptions, sel: Selector) -> Plan:
    indexes = await json_indexes(store)
    return plan(sel, indexes, opts.sort, opts.use_index, opts.allow_fallback, opts.fields)


async def explain(store: DocumentStore, body: Any) -> dict[str, Any]:
    opts = parse_find(body)
    sel = normalize(opts.selector)
    p = await _plan(store, opts, sel)
    out: dict[str, Any] = {
        "dbname": store.name,
        "index": p.index.to_json() if p.index is not None else None,
        "partitioned": False,
        "selector": sel,
        "opts": opts.to_json(),
        "limit": opts.limit,
        "skip": opts.skip,
        "fields": opts.fields or [],
        "index_candidates": p.candidates,
        "selector_hints": selector_hints(sel),
    }
    if p.index is not None:
        # The cursor covers a query when the index holds the requested fields and every
        # field the selector tests (CouchDB 3.5, observed); candidates only look at the fields.
        covering = covers(p.index, opts.fields) and covers(p.index, fields_of(sel) or ["_id"])
        out["mrargs"] = {
            # With conflicts, mango reads each document itself (to get its _conflicts).
            "include_docs": not covering and not opts.conflicts,
            "view_type": "map",
            "reduce": False,
            "partition": None,
            "start_key": to_json_key(p.start_key()),
            "end_key": to_json_key(p.end_key()),
            "direction": "rev" if p.descending else "fwd",
            "stable": opts.stable,
            "update": opts.update,
            "conflicts": True if opts.conflicts else "undefined",
        }
        out["covering"] = covering
    return out


# -- reading an index --------------------------------------------------------------------------


def _id_cmp(a: Any, b: Any) -> int:
    if a is MAX:
        return 0 if b is MAX else 1
    if b is MAX:
        return -1
    x, y = a.encode(), b.encode()
    return (x > y) - (x < y)


# A page of index rows per store call: most queries stop within the first (limit 25).
PAGE_ROWS = 200
# Stands for MAX in a view range: an object sorts after every other type, and U+FFFF after
# every other character.
_MAX_KEY = {"\uffff\uffff": None}


def _view_key(key: Any) -> Any:
    return with_max_as(key, _MAX_KEY)


async def index_rows(
    store: DocumentStore, p: Plan, opts: FindOptions, resume: tuple[Any, str] | None
) -> AsyncIterator[tuple[Any, str, Doc]]:
    """The chosen index's ``(key, id, doc)`` rows from the plan's range (or from the row after
    ``resume``), in index order; ``_all_docs`` rows include design documents."""
    assert p.index is not None
    if p.index.type == "special":
        async for row in _all_docs_rows(store, p, opts.conflicts, resume):
            yield row
        return
    start, end = p.start_key(), p.end_key()
    query = ViewQuery(
        startkey=_view_key(start if resume is None else resume[0]),
        startkey_docid=None if resume is None else resume[1],
        endkey=_view_key(end),
        descending=p.descending,
        include_docs=True,
        conflicts=opts.conflicts,
        reduce=False,
        update="true" if opts.update else "false",
        stable=opts.stable,
        limit=_first_page(opts),
    )
    while True:
        page = await store.query_view(p.index.ddoc_name, p.index.name, query)
        for row in page.rows:
            if isinstance(row.get("doc"), dict):
                yield row["key"], row["id"], row["doc"]
        if query.limit is None or len(page.rows) < query.limit:
            return
        last = page.rows[-1]
        size = min(PAGE_ROWS, query.limit * 4)
        query = replace(query, startkey=last["key"], startkey_docid=last["id"], skip=1, limit=size)


def _first_page(opts: FindOptions) -> int:
    """Rows to read first: as many as the answer needs when every row matches (each row
    loads its document, so a limit-20 query should not load 200); later pages grow."""
    return max(1, min(PAGE_ROWS, opts.skip + opts.limit))


async def _all_docs_rows(
    store: DocumentStore, p: Plan, conflicts: bool, resume: tuple[Any, str] | None
) -> AsyncIterator[tuple[Any, str, Doc]]:
    start, end = p.start_key(), p.end_key()
    if resume is not None:
        start = resume[1]
    query = AllDocsQuery(
        startkey=None if start is MAX else start,
        endkey=None if end is MAX else end,
        descending=p.descending,
        include_docs=True,
        conflicts=conflicts,
    )
    async for row in iter_all_docs(store, query, page_size=PAGE_ROWS):
        if isinstance(row.get("doc"), dict):
            yield row["id"], row["id"], row["doc"]


# -- fields ------------------------------------------------------------------------------------


def extract_fields(doc: Doc, fields: list[str] | None) -> Doc:
    """``mango_fields:extract``: only the named paths, nested as in the document."""
    if fields is None:
        return doc
    out: Doc = {}
    for path in fields:
        value = get_field(doc, path)
        if value is MISSING or value is BAD_PATH:
            continue
        target = out
        parts = split_field(path)
        for part in parts[:-1]:
            nested = target.get(part)
            if not isinstance(nested, dict):
                nested = target[part] = {}
            target = nested
        target[parts[-1]] = value
    return out


# -- _find -------------------------------------------------------------------------------------


async def find(store: DocumentStore, body: Any) -> dict[str, Any]:
    started = time.perf_counter()
    opts = parse_find(body)
    sel = normalize(opts.selector)
    resume = None if opts.bookmark == "nil" else bookmarks.unpack(opts.bookmark)
    p = await _plan(store, opts, sel)
    if p.index is None:
        raise BadRequest(NO_USABLE_INDEX, error="no_usable_index")
    if p.is_empty:
        # mango_cursor_view answers a range nothing can fall in without reading any index:
        # no bookmark, no statistics, no warnings.
        return {"docs": []}
    docs, examined, last = await _collect(store, p, opts, sel, resume)
    out: dict[str, Any] = {
        "docs": docs,
        "bookmark": bookmarks.create(*last) if last is not None else opts.bookmark,
    }
    if opts.execution_stats:
        out["execution_stats"] = {
            "total_keys_examined": examined,
            "total_docs_examined": examined,
            "total_quorum_docs_examined": 0,
            "results_returned": len(docs),
            "execution_time_ms": round((time.perf_counter() - started) * 1000, 3),
        }
    warnings = list(p.warnings)
    if p.index.type == "special":
        warnings.append(NO_INDEX_WARNING)
    ratio = examined / len(docs) if docs else examined
    if ratio > INDEX_SCAN_WARNING_THRESHOLD:
        warnings.append(SCAN_WARNING)
    if warnings:
        out["warning"] = "\n".join(warnings)
    return out


def _after(p: Plan, key: Any, doc_id: str, resume: tuple[Any, str]) -> bool:
    """Whether row ``(key, doc_id)`` comes after the bookmarked row in the plan's order."""
    rkey, rid = resume
    if p.index is not None and p.index.type == "special":
        c = _id_cmp(doc_id, rid)
    else:
        c = key_cmp(key, rkey) or _id_cmp(doc_id, rid)
    return c < 0 if p.descending else c > 0


async def _collect(
    store: DocumentStore,
    p: Plan,
    opts: FindOptions,
    sel: Selector,
    resume: tuple[Any, str] | None,
) -> tuple[list[Doc], int, tuple[Any, str] | None]:
    """Read the index until ``skip`` + ``limit`` documents matched: the documents (with
    ``fields`` applied), how many rows were examined, and the last matching row."""
    docs: list[Doc] = []
    examined = 0
    last: tuple[Any, str] | None = None
    skip = opts.skip
    async for key, doc_id, doc in index_rows(store, p, opts, resume):
        if resume is not None:
            # Rows come in order: skip up to and including the bookmarked row.
            if not _after(p, key, doc_id, resume):
                continue
            resume = None
        if not match(sel, doc):
            examined += 1
            continue
        if doc_id.startswith(DESIGN_PREFIX):
            # Never an answer; CouchDB drops a matching one before counting it as examined.
            continue
        examined += 1
        if skip:
            skip -= 1
            last = (key, doc_id)  # the bookmark follows skipped matches too, as CouchDB's
            continue
        if opts.limit == 0:
            # CouchDB stops at the first match it would return, and returns nothing and no
            # bookmark.
            return docs, examined, None
        docs.append(extract_fields(doc, opts.fields))
        last = (key, doc_id)
        if len(docs) >= opts.limit:
            break
    return docs, examined, last
