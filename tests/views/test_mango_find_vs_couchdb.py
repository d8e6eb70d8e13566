"""``_find`` answers as the real CouchDB 3.5 does (differential): same documents, same order.

Each example puts generated documents on CouchDB (keeping its revisions), replicates them as
they are to our embedded store and to our server, creates a random subset of JSON indexes
(a partial one among them) on all three, then runs generated queries: selectors over every
operator, sorts, limits, skips, fields, ``use_index``. The three must agree on the documents
and their order (or on the error), on the bookmark (CouchDB's bytes), on whether ``_all_docs``
served the query, and ``_explain`` must name the same index, normalized selector and key range.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from couch import CouchServer
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import CouchError
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.views.mango.find import SCAN_WARNING
from tests.views.couch_views import DIFFERENTIAL
from tests.views.mango_cases import INDEXES, documents, index_request, queries
from tests.views.mango_stores import load, three_stores

pytestmark = pytest.mark.couchdb


async def outcome(store: DocumentStore, query: dict[str, Any]) -> tuple[Any, ...]:
    try:
        answer = await store.find(query)
    except CouchError as exc:
        return ("error", exc.status, exc.error)
    # The scan warning hangs on CouchDB's count of examined documents, which its shards report
    # racily (the same query warns or not from run to run): every other warning must agree.
    warnings = [w for w in answer.get("warning", "").split("\n") if w and w != SCAN_WARNING]
    return ("ok", answer["docs"], answer.get("bookmark"), warnings)


def crashed(answer: tuple[Any, ...]) -> bool:
    """CouchDB 3.5 answers some valid queries with a 500: ``mango_idx_view:is_text_search``
    has no clause for ``null`` inside an operator's list (``{"$in": [null]}`` once any JSON
    index exists). We answer those; there is nothing to compare with."""
    return answer[0] == "error" and answer[1] >= 500


def explained(answer: dict[str, Any]) -> dict[str, Any]:
    mrargs = answer.get("mrargs") or {}
    index = answer["index"]
    return {
        "index": index and [index["ddoc"], index["name"]],
        "selector": answer["selector"],
        "opts": answer["opts"],
        "range": [mrargs.get(k) for k in ("start_key", "end_key", "direction")],
        "hints": answer["selector_hints"],
        "candidates": answer["index_candidates"],
        "covering": answer.get("covering"),
        "mrargs": mrargs,
    }


async def explain_outcome(store: DocumentStore, query: dict[str, Any]) -> Any:
    try:
        return explained(await store.explain(query))
    except CouchError as exc:
        return ("error", exc.status, exc.error)


async def every_page(store: DocumentStore, query: dict[str, Any]) -> list[str] | None:
    """The ids of a query read 3 at a time by bookmark (None: the query is refused)."""
    ids: list[str] = []
    paged = {**query, "limit": 3, "skip": 0}
    paged.pop("fields", None)
    for _ in range(100):
        try:
            answer = await store.find(paged)
        except CouchError:
            return None
        if not answer["docs"]:
            return ids
        ids.extend(doc["_id"] for doc in answer["docs"])
        paged["bookmark"] = answer["bookmark"]
    raise AssertionError("paging did not end")


@settings(DIFFERENTIAL, max_examples=20)
@given(
    docs=documents(40),
    index_names=st.sets(st.sampled_from(sorted(INDEXES))),
    cases=st.lists(queries(), min_size=12, max_size=12),
)
async def test_find_matches_couchdb(
    couchdb: CouchServer,
    docs: list[dict[str, Any]],
    index_names: set[str],
    cases: list[dict[str, Any]],
) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, docs)
        for name in sorted(index_names):
            created = {k: await s.create_index(index_request(name)) for k, s in stores.items()}
            assert created["server"] == created["sqlite"] == created["couchdb"], created
        listed = {k: await s.list_indexes() for k, s in stores.items()}
        assert listed["server"] == listed["sqlite"] == listed["couchdb"]
        for query in cases:
            found = {k: await outcome(s, query) for k, s in stores.items()}
            if crashed(found["couchdb"]):
                continue
            assert found["sqlite"] == found["couchdb"], json.dumps([query, found])
            assert found["server"] == found["couchdb"], json.dumps([query, found])
            plans = {k: await explain_outcome(s, query) for k, s in stores.items()}
            for name in ("sqlite", "server"):
                differing = {
                    k: [plans[name].get(k), v]
                    for k, v in plans["couchdb"].items()
                    if plans[name].get(k) != v
                }
                assert plans[name] == plans["couchdb"], json.dumps([query, name, differing])


@settings(DIFFERENTIAL, max_examples=8)
@given(
    docs=documents(30),
    index_names=st.sets(st.sampled_from(sorted(INDEXES))),
    cases=st.lists(queries(), min_size=4, max_size=4),
)
async def test_bookmarks_page_through_every_document_once(
    couchdb: CouchServer,
    docs: list[dict[str, Any]],
    index_names: set[str],
    cases: list[dict[str, Any]],
) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, docs)
        for name in sorted(index_names):
            for store in stores.values():
                await store.create_index(index_request(name))
        for query in cases:
            whole = {**query, "limit": 1000, "skip": 0}
            whole.pop("fields", None)
            expected = await outcome(stores["couchdb"], whole)
            if crashed(expected):
                continue
            for name, store in stores.items():
                paged = await every_page(store, query)
                if expected[0] == "error":
                    assert paged is None, (name, query)
                    continue
                assert paged == [d["_id"] for d in expected[1]], (name, query)
