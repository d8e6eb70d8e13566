"""View queries answer as CouchDB's, row for row (differential: embedded store, our server,
the real CouchDB).

Each example writes the same generated documents to the three (some with conflicting
branches written as a replicator would, some deleted), and the same design document: map
views emitting every JSON type, array keys for grouping, duplicate keys, linked documents,
and reduces (built-in and JavaScript). Then many generated queries (ranges with and without
document ids, ``key``, ``keys``, ``descending``, ``inclusive_end``, ``skip``, ``limit``,
``reduce``, ``group``, ``group_level``, ``include_docs``, ``conflicts``, ``update_seq``) must
give the same answer on all three: the same status and error, or the same page — rows in the
same order, ``total_rows`` and ``offset`` included.

Not compared: ``update_seq`` values (each store has its own sequences; only their presence is
compared) and revision ids of included documents (new edits get different ones everywhere).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import CouchError
from brainlink_docs.store.api import DocumentStore, ViewQuery
from tests.conftest import open_backend
from tests.views.couch_views import DIFFERENTIAL
from tests.views.documents import SCALARS, documents

pytestmark = pytest.mark.couchdb

BACKENDS = ("sqlite", "http", "http-couchdb")
MAPS = {
    "by_n": """function(doc){
        if (doc.n !== undefined) emit(doc.n, doc.s === undefined ? null : doc.s);
    }""",
    "by_s": "function(doc){ if (typeof doc.s === 'string') emit(doc.s, 1); }",
    "pairs": """function(doc){
        var s = doc.s === undefined ? null : doc.s;
        if (typeof doc.g === 'string') emit([doc.g, doc.i, s], doc.i);
    }""",
    "dups": """function(doc){
        if (doc.arr) doc.arr.forEach(function(x){ emit(doc.g || null, x); });
    }""",
    "linked": "function(doc){ if (doc.link) emit(doc._id, {_id: doc.link}); }",
    "nested": "function(doc){ if (doc.nested !== undefined) emit(doc.nested, null); }",
}
REDUCES = {
    "count": ("function(doc){ emit([doc.g || null, doc.i || 0], 1); }", "_count"),
    "sum": (
        "function(doc){ if (typeof doc.i === 'number') emit([doc.g || null, doc.i], doc.i); }",
        "_sum",
    ),
    "stats": (
        "function(doc){ if (typeof doc.i === 'number') emit(doc.g || null, doc.i); }",
        "_stats",
    ),
    # Numbers and arrays of numbers: SQLite cannot fold those, Python does (CouchDB pads).
    # (Values _sum or _stats refuse would fail CouchDB's whole index build, which reduces
    # as it indexes; their errors are compared in test_js_builtin_errors_vs_couchdb.)
    "sum_arrays": (
        """function(doc){
            var nums = (doc.arr || []).filter(function(x){ return typeof x === 'number'; });
            emit(doc.g || null, nums.length ? nums : 1);
        }""",
        "_sum",
    ),
    "js": (
        "function(doc){ if (typeof doc.i === 'number') emit([doc.g || null, doc.i], doc.i); }",
        "function(keys, values, rereduce){ return sum(values); }",
    ),
}
DESIGN = {
    "views": {
        **{name: {"map": source} for name, source in MAPS.items()},
        **{name: {"map": m, "reduce": r} for name, (m, r) in REDUCES.items()},
    }
}
GROUPS = st.sampled_from(["a", "b", "c", "\u00e9", "B"])


@st.composite
def corpus(draw: st.DrawFn) -> list[dict[str, Any]]:
    docs = draw(documents(draw(st.integers(5, 25))))
    for doc in docs:
        if draw(st.booleans()):
            doc["g"] = draw(GROUPS)
            doc["i"] = draw(st.integers(-50, 50))
        if draw(st.integers(0, 4)) == 0:
            doc["link"] = draw(st.sampled_from([d["_id"] for d in docs] + ["nope"]))
    return docs


def key_pool(docs: list[dict[str, Any]]) -> st.SearchStrategy[Any]:
    emitted = [d[f] for d in docs for f in ("n", "s", "g") if f in d]
    pairs = [[d["g"], d["i"]] for d in docs if "g" in d]
    pool = emitted + pairs + [[g] for g in ("a", "b", "c")] + ["", None, [], {}]
    return st.sampled_from(pool) | SCALARS


@st.composite
def view_queries(draw: st.DrawFn, docs: list[dict[str, Any]]) -> tuple[str, ViewQuery]:
    view = draw(st.sampled_from(sorted(DESIGN["views"])))
    keys = key_pool(docs)
    ids = st.sampled_from([d["_id"] for d in docs] + ["", "d0", "zzz"])
    fields: dict[str, Any] = {}
    shape = draw(st.sampled_from(["all", "range", "key", "keys"]))
    if shape == "range":
        if draw(st.booleans()):
            fields["startkey"] = draw(keys)
            if draw(st.booleans()):
                fields["startkey_docid"] = draw(ids)
        if draw(st.booleans()):
            fields["endkey"] = draw(keys)
            if draw(st.booleans()):
                fields["endkey_docid"] = draw(ids)
        fields["inclusive_end"] = draw(st.booleans())
    elif shape == "key":
        fields["key"] = draw(keys)
    elif shape == "keys":
        fields["keys"] = tuple(draw(st.lists(keys, max_size=4)))
    fields["descending"] = draw(st.booleans())
    if draw(st.booleans()):
        fields["limit"] = draw(st.integers(0, 8))
    if draw(st.booleans()):
        fields["skip"] = draw(st.integers(0, 6))
    if view in REDUCES:
        fields["reduce"] = draw(st.sampled_from([None, True, False]))
        grouping = draw(st.sampled_from(["none", "group", "level"]))
        if grouping == "group":
            fields["group"] = True
        elif grouping == "level":
            fields["group_level"] = draw(st.integers(0, 3))
    if draw(st.integers(0, 3)) == 0:
        fields["include_docs"] = True
        fields["conflicts"] = draw(st.booleans())
    fields["update_seq"] = draw(st.booleans())
    return view, ViewQuery(**fields)


async def answer(store: DocumentStore, view: str, query: ViewQuery) -> Any:
    try:
        page = (await store.query_view("suite", view, query)).to_json()
    except CouchError as exc:
        return {"status": exc.status, "error": exc.error}
    if "update_seq" in page:
        page["update_seq"] = "present"
    for row in page["rows"]:
        doc = row.get("doc")
        if isinstance(doc, dict):
            doc.pop("_rev", None)  # revision ids of new edits differ between servers
    return page


@contextlib.asynccontextmanager
async def three_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[list[DocumentStore]]:
    async with contextlib.AsyncExitStack() as stack:
        stores = []
        for backend in BACKENDS:
            factory = await open_backend(request, tmp_path, stack, backend)
            stores.append(await factory("views-diff"))
        yield stores


async def write(
    store: DocumentStore, docs: list[dict[str, Any]], conflicted: list[str], deleted: list[str]
) -> None:
    """The same history on every store: conflicting branches arrive as replicated leaves (the
    same revision ids everywhere, so the same winner), deletions too."""
    plain = [d for d in docs if d["_id"] not in conflicted and d["_id"] not in deleted]
    assert all(r.ok for r in await store.bulk_docs(plain))
    replicated = []
    for doc in docs:
        if doc["_id"] in conflicted:
            body = {k: v for k, v in doc.items() if k != "_id"}
            replicated.append({"_id": doc["_id"], "_rev": "1-aaaa", **body})
            replicated.append({"_id": doc["_id"], "_rev": "1-bbbb", "other": True, "i": 7})
        if doc["_id"] in deleted:
            replicated.append(
                {
                    "_id": doc["_id"],
                    "_rev": "1-cccc",
                    **{k: v for k, v in doc.items() if k != "_id"},
                }
            )
            replicated.append(
                {
                    "_id": doc["_id"],
                    "_rev": "2-dddd",
                    "_deleted": True,
                    "_revisions": {"start": 2, "ids": ["dddd", "cccc"]},
                }
            )
    if replicated:
        await store.bulk_docs(replicated, new_edits=False)
    await store.put({"_id": "_design/suite", **json.loads(json.dumps(DESIGN))})


@settings(DIFFERENTIAL, max_examples=6)
@given(docs=corpus(), data=st.data())
async def test_view_queries_answer_as_couchdb(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    docs: list[dict[str, Any]],
    data: st.DataObject,
) -> None:
    ids = [d["_id"] for d in docs]
    conflicted = data.draw(st.lists(st.sampled_from(ids), max_size=3, unique=True))
    deleted = data.draw(
        st.lists(
            st.sampled_from([i for i in ids if i not in conflicted] or ids), max_size=3, unique=True
        )
    )
    deleted = [i for i in deleted if i not in conflicted]
    async with three_stores(request, tmp_path_factory.mktemp("views")) as stores:
        for store in stores:
            await write(store, docs, conflicted, deleted)
        for _ in range(40):
            view, query = data.draw(view_queries(docs))
            answers = [await answer(store, view, query) for store in stores]
            ours, server, couch = answers
            assert ours == couch, f"{view} {query!r}"
            assert server == couch, f"{view} {query!r}"
