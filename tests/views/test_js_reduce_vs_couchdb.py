"""Reduces give CouchDB's values, over all rows and per group (differential, the real CouchDB).

Built-in (``_count``, ``_sum`` of numbers, arrays and objects, ``_stats`` of numbers and
arrays, ``_approx_count_distinct``) and JavaScript reduces. Our side maps the same documents
with ``QueryServer.map_docs``, reduces generated partitions of the rows and rereduces those
(so ``rereduce`` is exercised, as CouchDB's b-tree does), and compares with ``reduce=true``;
per group it compares with ``group=true``, groups keyed by canonical JSON. Values are
integers, so the order of additions (which differs between b-trees) cannot change a sum.
"""

from __future__ import annotations

from typing import Any

import pytest
from couch import CouchServer
from hypothesis import given, settings
from hypothesis import strategies as st

from brainlink_docs.views.js import DesignDoc, QueryServer, design_doc
from tests.views.couch_views import DIFFERENTIAL, couch_database, key_text

pytestmark = pytest.mark.couchdb

JS_COUNT_IDS = """function(keys, values, rereduce) {
    if (rereduce) return sum(values);
    return keys.filter(function (k) { return k[1].charAt(0) === 'r'; }).length;
}"""
JS_SHAPE = """function(keys, values, rereduce) {
    if (rereduce) {
        return {n: sum(values.map(function (v) { return v.n; })),
                max: Math.max.apply(null, values.map(function (v) { return v.max; }))};
    }
    return {n: values.length, max: Math.max.apply(null, values)};
}"""
VIEWS = {
    "count": ("function(doc){ emit(doc.g, null); }", "_count"),
    "sum": ("function(doc){ emit(doc.g, doc.i); }", "_sum"),
    "sum_arrays": ("function(doc){ emit(doc.g, doc.arr); }", "_sum"),
    "sum_objects": ("function(doc){ emit(doc.g, doc.obj); }", "_sum"),
    "sum_mixed": ("function(doc){ emit(doc.g, doc.i); emit(doc.g, [doc.i, 1]); }", "_sum"),
    "stats": ("function(doc){ emit(doc.g, doc.i); }", "_stats"),
    "stats_arrays": ("function(doc){ emit(doc.g, [doc.i, doc.i * 2]); }", "_stats"),
    "distinct": ("function(doc){ emit(doc.k, null); emit([doc.g], 1); }", "_approx_count_distinct"),
    "js_sum": ("function(doc){ emit(doc.g, doc.i); }", "function(k, v, re){ return sum(v); }"),
    "js_ids": ("function(doc){ emit(doc.g, null); }", JS_COUNT_IDS),
    "js_shape": ("function(doc){ emit(doc.g, doc.i); }", JS_SHAPE),
}
DESIGN = {"views": {name: {"map": m, "reduce": r} for name, (m, r) in VIEWS.items()}}
DDOC = design_doc({"_id": "_design/reduces", **DESIGN})
GROUP_KEYS = st.sampled_from(["a", "b", "\u00e9t\u00e9", 1, 2.5, None, True, ["x", 1], {"o": 1}])
DISTINCT_KEYS = st.sampled_from(
    [0, 1, -1, "a", "A", "\u65e5", None, False, [], [1, "a"], {"a": 1, "b": 2}, {"b": 2, "a": 1}]
)
SMALL = st.integers(-1000, 1000)


@st.composite
def reduce_documents(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, 40))
    docs = []
    for i in range(count):
        docs.append(
            {
                "_id": f"{draw(st.sampled_from('rs'))}{i:03d}",
                "g": draw(GROUP_KEYS),
                "i": draw(SMALL),
                "arr": draw(st.lists(SMALL, max_size=3)),
                "obj": draw(st.dictionaries(st.sampled_from("abc"), SMALL, max_size=3)),
                "k": draw(DISTINCT_KEYS),
            }
        )
    return docs


async def reduce_in_chunks(
    server: QueryServer, ddoc: DesignDoc, view: str, kvs: list[Any], chunk: int
) -> Any:
    """Reduce ``chunk`` rows at a time, then rereduce the reductions, then finalize."""
    parts = [await server.reduce(ddoc, view, kvs[i : i + chunk]) for i in range(0, len(kvs), chunk)]
    reduction = parts[0] if len(parts) == 1 else await server.rereduce(ddoc, view, parts)
    return server.finalize(ddoc, view, reduction)


@settings(DIFFERENTIAL, max_examples=15)
@given(docs=reduce_documents(), chunk=st.integers(1, 7))
async def test_reduces_match_couchdb_whole_and_grouped(
    couchdb: CouchServer, query_server: QueryServer, docs: list[dict[str, Any]], chunk: int
) -> None:
    async with couch_database(couchdb) as couch:
        stored, mapped = await couch.store_and_map(query_server, "reduces", DESIGN, docs)
        for index, view in enumerate(VIEWS):
            kvs = [
                [[key, doc["_id"]], value]
                for doc, per_view in zip(stored, mapped, strict=True)
                for key, value in per_view[index]
            ]
            whole = await reduce_in_chunks(query_server, DDOC, view, kvs, chunk)
            assert whole == await couch.reduced("reduces", view), view
            groups: dict[str, list[Any]] = {}
            for kv in kvs:
                groups.setdefault(key_text(kv[0][0]), []).append(kv)
            ours = {
                key: query_server.finalize(DDOC, view, await query_server.reduce(DDOC, view, rows))
                for key, rows in groups.items()
            }
            assert ours == await couch.grouped("reduces", view), view
