"""Differential: the real CouchDB's row order == ``collate``'s order == ``sort_key`` bytes order.

Each hypothesis example is one database holding a batch of generated keys (plus the idioms and
ties of ``strategies.IDIOM_KEYS``), one document per key with ids drawn so that ties land in
every order. CouchDB is asked twice: a JavaScript view ``emit(doc.k, null)`` (keys as QuickJS
hands them back: numbers become doubles) and a Mango JSON index sorted on ``k`` (keys exactly as
stored: big integers, ``1`` beside ``1.0``, ``-0.0``). Both answers must list the rows in the order
of ``(collate(key), id bytes)`` and of ``row_sort_key`` bytes. Range queries whose ends are keys
of the batch must return the rows whose ``sort_key`` lies between the ends' ``sort_key``\\ s.
Mango selectors on strings and numbers must match the documents CouchDB's ``_find`` matches.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from couch import CouchServer
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from brainlink_docs.views.collation import collate, row_sort_key, sort_key
from brainlink_docs.views.mango import matches

from .strategies import IDIOM_KEYS, json_keys

pytestmark = pytest.mark.couchdb

# A few big batches rather than many small ones: each example costs a database, a view build
# and an index build (about half a second here), and 25 x 300 keys cover the mix well (about 10 s).
EXAMPLES = 25
BATCH = 300
RANGES_PER_EXAMPLE = 4
# Id first characters whose byte order differs from ICU's ("B" < "Z" < "a" < "z" < "ä" < "é").
ID_HEADS = ["a", "B", "z", "Z", "é", "ä"]

Row = tuple[Any, str]


class CouchClient:
    """Just enough of CouchDB's HTTP API for these tests, synchronous (hypothesis drives it)."""

    def __init__(self, server: CouchServer) -> None:
        self._base = server.bare_url
        user, password = server.auth
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self._base + path, data=data, method=method, headers=self._headers
        )
        try:
            with self._opener.open(req, timeout=60) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from exc


@pytest.fixture(scope="module")
def client(couchdb: CouchServer) -> CouchClient:
    return CouchClient(couchdb)


@contextlib.contextmanager
def database(client: CouchClient, keys: list[Any], ids: list[str]) -> Iterator[str]:
    """A fresh database with one document per key, the view and the Mango index; deleted after."""
    name = f"collation-{uuid.uuid4().hex[:12]}"
    client.request("PUT", f"/{name}")
    try:
        docs: list[dict[str, Any]] = [{"_id": i, "k": k} for i, k in zip(ids, keys, strict=True)]
        docs.append({"_id": "_design/c", "views": {"k": {"map": MAP}}})
        client.request("POST", f"/{name}/_bulk_docs", {"docs": docs})
        index = {"index": {"fields": ["k"]}, "ddoc": "m", "name": "k", "type": "json"}
        client.request("POST", f"/{name}/_index", index)
        yield name
    finally:
        client.request("DELETE", f"/{name}")


MAP = "function (doc) { if ('k' in doc) { emit(doc.k, null); } }"


def view_rows(client: CouchClient, db: str, **params: Any) -> list[Row]:
    query = urllib.parse.urlencode({k: json.dumps(v) for k, v in params.items()})
    answer = client.request("GET", f"/{db}/_design/c/_view/k?{query}")
    return [(row["key"], row["id"]) for row in answer["rows"]]


def mango_rows(client: CouchClient, db: str, size: int) -> list[Row]:
    query = {
        "selector": {"k": {"$gte": None}},
        "sort": [{"k": "asc"}],
        "use_index": ["m", "k"],
        "limit": size,
    }
    answer = client.request("POST", f"/{db}/_find", query)
    return [(doc["k"], doc["_id"]) for doc in answer["docs"]]


def _row_order(a: Row, b: Row) -> int:
    """CouchDB's less_json_ids: the keys' collation, then the ids as bytes."""
    ida, idb = a[1].encode(), b[1].encode()
    return collate(a[0], b[0]) or (ida > idb) - (ida < idb)


def assert_in_our_order(rows: list[Row]) -> None:
    """CouchDB's rows are already sorted by collate-then-id and by row_sort_key bytes."""
    by_collate = sorted(rows, key=functools.cmp_to_key(_row_order))
    by_bytes = sorted(rows, key=lambda row: row_sort_key(*row))
    for ours in (by_collate, by_bytes):
        # The first row out of place, with its neighbour: readable without shrinking.
        at = next((n for n, (a, b) in enumerate(zip(rows, ours, strict=True)) if a != b), None)
        assert at is None, f"CouchDB: {rows[at - 1 : at + 2]}, ours: {ours[at - 1 : at + 2]}"


def batches() -> st.SearchStrategy[tuple[list[Any], list[str]]]:
    """Keys (idioms first) and distinct ids whose heads are drawn independently of the keys."""
    keys = st.lists(json_keys, min_size=BATCH, max_size=BATCH).map(lambda b: IDIOM_KEYS + b)
    size = len(IDIOM_KEYS) + BATCH
    heads = st.lists(st.sampled_from(ID_HEADS), min_size=size, max_size=size)
    ids = heads.map(lambda hs: [f"{h}{n:04d}" for n, h in enumerate(hs)])
    return st.tuples(keys, ids)


# No shrinking: each step is a database round trip, and shrinking 300 keys took five minutes
# here; the assertions name the rows out of place instead.
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@SETTINGS
@given(batch=batches(), picks=st.lists(st.tuples(st.integers(), st.integers()), min_size=1))
def test_couchdb_orders_rows_as_we_do(
    client: CouchClient, batch: tuple[list[Any], list[str]], picks: list[tuple[int, int]]
) -> None:
    keys, ids = batch
    with database(client, keys, ids) as db:
        rows = view_rows(client, db)
        assert len(rows) == len(keys)
        assert_in_our_order(rows)
        found = mango_rows(client, db, len(keys))
        # Every document, though not every key as written: CouchDB reads subnormal floats as 0.
        assert sorted(doc_id for _, doc_id in found) == sorted(ids)
        assert_in_our_order(found)
        for i, j in picks[:RANGES_PER_EXAMPLE]:
            assert_range_as_ours(client, db, rows, rows[i % len(rows)][0], rows[j % len(rows)][0])


def assert_range_as_ours(client: CouchClient, db: str, rows: list[Row], a: Any, b: Any) -> None:
    """startkey/endkey (inclusive) == the rows whose sort_key lies between the ends'."""
    low, high = (a, b) if collate(a, b) <= 0 else (b, a)
    low_key, high_key = sort_key(low), sort_key(high)
    ours = [doc_id for key, doc_id in rows if low_key <= sort_key(key) <= high_key]
    theirs = [doc_id for _, doc_id in view_rows(client, db, startkey=low, endkey=high)]
    assert theirs == ours, (low, high)


MANGO_DOCS: list[Any] = ["e\u0301", "b", "B", 1.0, "a\u0000", "a", ["a", {}]]
MANGO_SELECTORS: list[Any] = [
    {"k": "é"},
    {"k": "a"},
    {"k": 1},
    {"k": {"$lt": "B"}},
    {"k": {"$gt": "a"}},
    {"k": {"$in": ["A", "é"]}},
    {"k": {"$gte": ["a", "\ufff0"]}},
]


@pytest.mark.parametrize("selector", MANGO_SELECTORS, ids=json.dumps)
def test_mango_selectors_match_as_couchdb_matches(client: CouchClient, selector: Any) -> None:
    """``_find`` (index range, then mango_selector:match) collates as views do: ICU ties match."""
    ids = [f"d{n}" for n in range(len(MANGO_DOCS))]
    with database(client, MANGO_DOCS, ids) as db:
        answer = client.request("POST", f"/{db}/_find", {"selector": selector, "limit": 100})
    theirs = sorted(doc["_id"] for doc in answer["docs"])
    ours = sorted(i for i, k in zip(ids, MANGO_DOCS, strict=True) if matches(selector, {"k": k}))
    assert theirs == ours
