"""``_index``, ``_explain`` and Mango's errors answer as the real CouchDB 3.5 does.

The same requests go to CouchDB, to our server (``HttpStore``) and to the embedded store:
index creation (``created``/``exists``), listing, deletion (and its 404), the design documents
that hold indexes, the rows a JSON index holds (CouchDB serves them as a view), ``_explain``
for queries with several candidate indexes, the warnings of ``_find``, and the status and
error token of malformed queries and index definitions.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from couch import CouchServer
from hypothesis import given, settings

from brainlink_docs.errors import CouchError
from brainlink_docs.store.api import DocumentStore, ReadOptions
from brainlink_docs.views.mango import QueryMapper
from tests.views.couch_views import DIFFERENTIAL
from tests.views.mango_cases import documents
from tests.views.mango_stores import Stores, load, three_stores

pytestmark = pytest.mark.couchdb

DOCS = [
    {"_id": "a", "n": 1, "s": "x", "tags": ["p", "q"], "obj": {"k": 1}},
    {"_id": "b", "n": 2, "s": "y", "tags": [], "b": True},
    {"_id": "c", "n": 3, "obj": {"k": "z"}, "b": False},
    {"_id": "d", "s": "x", "b": True},
    {"_id": "e", "n": None, "s": None},
]
INDEXES = [
    {"index": {"fields": ["n"]}, "ddoc": "one", "name": "by_n"},
    {"index": {"fields": ["s", "n"]}, "ddoc": "one", "name": "by_s_n", "type": "json"},
    {"index": {"fields": [{"obj.k": "desc"}]}, "ddoc": "_design/two", "name": "by_k"},
    {
        "index": {"fields": ["n"], "partial_filter_selector": {"b": True}},
        "ddoc": "three",
        "name": "partial",
    },
]


async def answer(store: DocumentStore, method: str, *args: Any) -> Any:
    try:
        return await getattr(store, method)(*args)
    except CouchError as exc:
        return ("error", exc.status, exc.error)


async def same(stores: Stores, method: str, *args: Any) -> Any:
    answers = {name: await answer(store, method, *args) for name, store in stores.items()}
    assert answers["sqlite"] == answers["couchdb"], json.dumps([method, args, answers])
    assert answers["server"] == answers["couchdb"], json.dumps([method, args, answers])
    return answers["couchdb"]


async def design(store: DocumentStore, ddoc_id: str) -> Any:
    try:
        doc = await store.get(ddoc_id)
    except CouchError as exc:
        return ("error", exc.status, exc.error, exc.reason)
    doc.pop("_rev")
    return doc


async def test_index_create_list_delete_match_couchdb(couchdb: CouchServer) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        for request in INDEXES:
            assert (await same(stores, "create_index", request))["result"] == "created"
            assert (await same(stores, "create_index", request))["result"] == "exists"
        await same(stores, "list_indexes")
        for ddoc_id in ("_design/one", "_design/two", "_design/three"):
            designs = {name: await design(store, ddoc_id) for name, store in stores.items()}
            assert designs["sqlite"] == designs["server"] == designs["couchdb"], designs
        # Redefining an index under its name replaces it.
        await same(stores, "create_index", {**INDEXES[0], "index": {"fields": ["s"]}})
        await same(stores, "list_indexes")
        await same(stores, "delete_index", "one", "by_n")
        await same(stores, "delete_index", "_design/one", "by_s_n")
        await same(stores, "delete_index", "one", "by_n")
        await same(stores, "delete_index", "nope", "nope")
        javascript = {"_id": "_design/js", "views": {"v": {"map": "function(d){emit(d._id)}"}}}
        for store in stores.values():
            await store.put(dict(javascript))
        await same(stores, "create_index", {"index": {"fields": ["n"]}, "ddoc": "js", "name": "n"})
        await same(stores, "delete_index", "js", "v")
        await same(stores, "list_indexes")
        designs = {name: await design(store, "_design/one") for name, store in stores.items()}
        assert designs["sqlite"] == designs["server"] == designs["couchdb"], designs


EXPLAINED = [
    {"selector": {"n": {"$gt": 1}}},
    {"selector": {"s": "x", "n": {"$lte": 3}}},
    {"selector": {"s": "x"}, "sort": [{"s": "desc"}], "fields": ["s", "n"]},
    {"selector": {"obj.k": {"$exists": True}}, "use_index": "two"},
    {"selector": {"n": {"$gt": 0}}, "use_index": ["three", "partial"]},
    {"selector": {"n": {"$gt": 0}}, "use_index": "nope"},
    {"selector": {"n": {"$gt": 0}}, "use_index": ["one", "nope"]},
    {"selector": {"_id": {"$gt": "b"}}, "sort": ["_id"], "limit": 2, "skip": 1},
    {"selector": {"b": True}, "sort": ["n"]},
    {"selector": {"b": True}, "sort": ["b"]},
    {"selector": {"$or": [{"n": 1}, {"n": 2}]}, "conflicts": True, "r": 2},
    {"selector": {"n": {"$gt": 5, "$lt": 1}}},
    {"selector": {"$or": []}},
]


async def test_explain_and_warnings_match_couchdb(couchdb: CouchServer) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        for request in INDEXES:
            await same(stores, "create_index", request)
        for query in EXPLAINED:
            answers = {name: await answer(s, "explain", query) for name, s in stores.items()}
            for explained in answers.values():
                explained.pop("dbname")
            for name in ("sqlite", "server"):
                ours, theirs = answers[name], answers["couchdb"]
                differing = {
                    k: [ours.get(k), theirs.get(k)] for k in theirs if ours.get(k) != theirs[k]
                }
                assert ours == theirs, json.dumps([query, name, differing])
            found = {name: await answer(s, "find", query) for name, s in stores.items()}
            for name in ("sqlite", "server"):
                ours, theirs = found[name], found["couchdb"]
                if isinstance(theirs, dict):
                    assert ours["docs"] == theirs["docs"], (query, name)
                    assert ours.get("bookmark") == theirs.get("bookmark"), (query, name)
                    assert ours.get("warning") == theirs.get("warning"), (query, name)
                else:
                    assert ours == theirs, (query, name)


async def test_execution_stats_have_couchdb_fields(couchdb: CouchServer) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        query = {"selector": {"n": {"$gt": 1}}, "execution_stats": True}
        answers = {name: await s.find(query) for name, s in stores.items()}
        for name, found in answers.items():
            stats = found["execution_stats"]
            assert list(stats) == list(answers["couchdb"]["execution_stats"]), name
            assert stats["results_returned"] == 2
            assert (
                stats["total_docs_examined"]
                == answers["couchdb"]["execution_stats"]["total_docs_examined"]
            ), name


BAD_FINDS: list[Any] = [
    {},
    {"selector": []},
    {"selector": "x"},
    {"selector": {"n": {"$foo": 1}}},
    {"selector": {"n": {"$in": 1}}},
    {"selector": {"n": {"$nin": {}}}},
    {"selector": {"$and": {}}},
    {"selector": {"$or": 1}},
    {"selector": {"$not": []}},
    {"selector": {"n": {"$size": -1}}},
    {"selector": {"n": {"$size": "1"}}},
    {"selector": {"n": {"$regex": "("}}},
    {"selector": {"n": {"$regex": 1}}},
    {"selector": {"n": {"$exists": 1}}},
    {"selector": {"n": {"$mod": [2]}}},
    {"selector": {"n": {"$mod": [2.5, 1]}}},
    {"selector": {"n": {"$elemMatch": 1}}},
    {"selector": {"n": {"$beginsWith": 1}}},
    {"selector": {"$not": {}}},
    {"selector": {}, "sort": ["n"]},
    {"selector": {"n": 1}, "sort": ["_id"]},
    {"selector": {}, "sort": [{"n": "asc"}, {"s": "desc"}]},
    {"selector": {}, "sort": "n"},
    {"selector": {}, "sort": [1]},
    {"selector": {}, "sort": [{"n": "up"}]},
    {"selector": {}, "limit": -1},
    {"selector": {}, "limit": "3"},
    {"selector": {}, "skip": 1.5},
    {"selector": {}, "r": 0},
    {"selector": {}, "fields": "n"},
    {"selector": {}, "fields": [1]},
    {"selector": {}, "use_index": 1},
    {"selector": {}, "use_index": ["a", "b", "c"]},
    {"selector": {}, "conflicts": 1},
    {"selector": {}, "execution_stats": "yes"},
    {"selector": {}, "bookmark": "zzz"},
    {"selector": {}, "foo": 1},
    {"selector": {"n": {"$gt": 0}}, "use_index": "nope", "allow_fallback": False},
]
BAD_INDEXES: list[Any] = [
    {},
    {"index": {}},
    {"index": {"fields": "n"}},
    {"index": {"fields": [1]}},
    {"index": {"fields": [{"n": "up"}]}},
    {"index": {"fields": [{"n": "asc"}, {"s": "desc"}]}},
    {"index": {"fields": ["n"]}, "type": "foo"},
    {"index": {"fields": ["n"]}, "type": "text"},
    {"index": {"fields": ["n"]}, "foo": 1},
    {"index": {"fields": ["n"], "partial_filter_selector": {"n": {"$foo": 1}}}},
]


def _token(answer: Any) -> Any:
    if not isinstance(answer, tuple):
        return "ok"
    # HttpStore reads every 5xx as Unavailable (service_unavailable): compare the status only.
    return answer[:2] if answer[1] >= 500 else answer


async def test_errors_match_couchdb(couchdb: CouchServer) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        for method, requests in (("find", BAD_FINDS), ("create_index", BAD_INDEXES)):
            for request in requests:
                answers = {n: _token(await answer(s, method, request)) for n, s in stores.items()}
                assert answers["couchdb"] != "ok", request
                assert answers["sqlite"] == answers["couchdb"], (request, answers)
                assert answers["server"] == answers["couchdb"], (request, answers)


async def view_rows(store: DocumentStore, ddoc: str, view: str) -> dict[str, list[Any]]:
    """CouchDB serves a JSON index as a view: its rows by document id."""
    transport = store._t  # type: ignore[attr-defined]
    body = await transport.call("GET", f"_design/{ddoc}/_view/{view}", params={"reduce": "false"})
    rows: dict[str, list[Any]] = {}
    for row in body["rows"]:
        rows.setdefault(row["id"], []).append([row["key"], row["value"]])
    return rows


@settings(DIFFERENTIAL, max_examples=8)
@given(docs=documents(30))
async def test_query_mapper_rows_match_couchdb_index(
    couchdb: CouchServer, docs: list[dict[str, Any]]
) -> None:
    async with three_stores(couchdb) as stores:
        couch = stores["couchdb"]
        await load(stores, docs)
        requests = [
            {"index": {"fields": ["n"]}, "ddoc": "m", "name": "n"},
            {"index": {"fields": ["s", "obj.k"]}, "ddoc": "m", "name": "s_k"},
            {"index": {"fields": ["tags.0"]}, "ddoc": "m", "name": "tag0"},
            {
                "index": {"fields": ["n"], "partial_filter_selector": {"b": {"$ne": False}}},
                "ddoc": "m",
                "name": "partial",
            },
        ]
        for request in requests:
            await couch.create_index(request)
        ddoc = await couch.get("_design/m")
        mapper = QueryMapper(ddoc)
        stored = [await couch.get(doc["_id"]) for doc in docs]
        mapped = await mapper.map_docs([*stored, ddoc])
        for position, view in enumerate(mapper.view_names):
            expected = await view_rows(couch, "m", view)
            ours = {
                doc["_id"]: per_view[position]
                for doc, per_view in zip([*stored, ddoc], mapped, strict=True)
                if per_view[position]
            }
            assert ours == expected, view


async def test_conflicts_option_matches_couchdb(couchdb: CouchServer) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        branches = [
            {"_id": "a", "_rev": "1-aaaa", "n": 10},
            {"_id": "a", "_rev": "1-bbbb", "n": 11},
        ]
        for store in stores.values():
            await store.bulk_docs(branches, new_edits=False)
        for query in (
            {"selector": {"n": {"$gt": 0}}, "conflicts": True},
            {"selector": {"n": {"$gt": 0}}, "conflicts": True, "fields": ["_id", "_conflicts"]},
            {"selector": {"n": {"$gt": 0}}, "conflicts": False},
        ):
            await same(stores, "find", query)


async def test_a_couchdb_bookmark_resumes_on_our_stores(couchdb: CouchServer) -> None:
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        for request in INDEXES:
            await same(stores, "create_index", request)
        for query in (
            {"selector": {"n": {"$gt": 0}}, "limit": 1},
            {
                "selector": {"s": {"$gt": None}, "n": {"$gt": 0}},
                "sort": [{"s": "desc"}],
                "limit": 2,
            },
            {"selector": {}, "limit": 2},
        ):
            first = await stores["couchdb"].find(query)
            resumed = {**query, "bookmark": first["bookmark"]}
            await same(stores, "find", resumed)


async def test_find_follows_writes_after_the_index_is_built(couchdb: CouchServer) -> None:
    queries = [
        {"selector": {"n": {"$gt": 0}}},
        {"selector": {"s": {"$gt": None}, "n": {"$gt": None}}, "sort": [{"s": "desc"}]},
        {"selector": {"obj.k": {"$exists": True}}},
    ]
    async with three_stores(couchdb) as stores:
        await load(stores, DOCS)
        for request in INDEXES:
            await same(stores, "create_index", request)
        for query in queries:
            await same(stores, "find", query)
        couch = stores["couchdb"]
        a, b = await couch.get("a"), await couch.get("b")
        edits = [
            {**a, "n": 50, "s": "w", "obj": {"k": 0}},
            {"_id": "b", "_rev": b["_rev"], "_deleted": True},
            {"_id": "f", "n": 4, "s": "x", "obj": {"k": [1]}},
        ]
        written = await couch.bulk_docs(edits)
        for row in written:
            (leaf,) = await couch.open_revs(row.id, [row.rev], ReadOptions(revs=True))
            for name in ("server", "sqlite"):
                await stores[name].bulk_docs([leaf["ok"]], new_edits=False)
        for query in queries:
            await same(stores, "find", query)
