"""Design-function filters on our server's streaming feeds and through ``HttpStore``, and on
the embedded store: longpoll and continuous feeds send only what passes, as it is written."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from brainlink_docs.errors import NotFound, QueryServerError
from brainlink_docs.store.api import ChangesQuery, iter_changes
from brainlink_docs.store.http import HttpStore
from brainlink_docs.store.sqlite import SqliteStore
from tests.http_api.conftest import Server, serving

PROMPT = 5.0
BY_KIND = "function(doc, req) { return doc.kind === req.query.kind; }"
DESIGN = {
    "_id": "_design/app",
    "filters": {"by_kind": BY_KIND},
    "views": {"odd": {"map": "function(doc) { if (doc.n % 2) emit(doc.n); }"}},
}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path / "data") as running:
        yield running


@pytest.fixture
async def db(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as client:
        async with client.put("/db") as r:
            assert r.status == 201
        async with client.put("/db/_design/app", json=DESIGN) as r:
            assert r.status == 201
        yield client


async def put(client: aiohttp.ClientSession, doc_id: str, body: dict[str, object]) -> None:
    async with client.put(f"/db/{doc_id}", json=body) as r:
        assert r.status == 201, await r.text()


async def test_a_continuous_feed_sends_only_what_the_filter_passes(
    db: aiohttp.ClientSession,
) -> None:
    params = {"feed": "continuous", "since": "now", "timeout": "10000"}
    params |= {"filter": "app/by_kind", "kind": "x"}
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        assert r.status == 200
        await asyncio.sleep(0.1)
        for doc_id, kind in (("a", "y"), ("b", "x"), ("c", "z"), ("d", "x")):
            await put(db, doc_id, {"kind": kind})
        seen = []
        while len(seen) < 2:
            line = await r.content.readline()
            if line.strip():
                seen.append(json.loads(line)["id"])
    assert seen == ["b", "d"]


async def test_a_longpoll_waits_past_changes_the_filter_rejects(
    db: aiohttp.ClientSession,
) -> None:
    params = {"feed": "longpoll", "since": "now", "timeout": "10000"}
    params |= {"filter": "_view", "view": "app/odd"}

    async def writes() -> None:
        await asyncio.sleep(0.2)
        await put(db, "even", {"n": 2})
        await asyncio.sleep(0.2)
        await put(db, "odd", {"n": 3})

    writer = asyncio.create_task(writes())
    async with asyncio.timeout(PROMPT), db.get("/db/_changes", params=params) as r:
        feed = json.loads(await r.read())
    await writer
    assert [row["id"] for row in feed["results"]] == ["odd"]


async def test_http_store_sends_the_filter_and_its_query_params(server: Server) -> None:
    async with (
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as client,
        client.put("/hs") as r,
    ):
        assert r.status == 201
    store = await HttpStore.open(f"{server.authed_url}/hs")
    try:
        await store.put(DESIGN)
        await store.bulk_docs([{"_id": f"k{i}", "kind": "xy"[i % 2]} for i in range(6)])
        query = ChangesQuery(filter="app/by_kind", query_params={"kind": "y"})
        assert [c.id for c in (await store.changes(query)).results] == ["k1", "k3", "k5"]
        with pytest.raises(NotFound):
            await store.changes(ChangesQuery(filter="app/nope"))
    finally:
        await store.close()


async def test_the_embedded_store_pages_a_sparse_filter_over_a_long_feed(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "db.sqlite")
    try:
        await store.put(DESIGN)
        docs = [{"_id": f"d{i:05}", "kind": "x" if i % 997 == 0 else "y"} for i in range(3000)]
        await store.bulk_docs(docs)
        query = ChangesQuery(filter="app/by_kind", query_params={"kind": "x"})
        passed = [c.id async for c in iter_changes(store, query)]
        assert passed == ["d00000", "d00997", "d01994", "d02991"]
        page = await store.changes(ChangesQuery(filter="app/by_kind", query_params={"kind": "x"}))
        assert page.pending == 0 and page.last_seq == (await store.info()).update_seq
        first = await store.changes(
            ChangesQuery(filter="app/by_kind", query_params={"kind": "x"}, limit=1)
        )
        assert [c.id for c in first.results] == ["d00000"] and first.pending > 0
    finally:
        await store.close()


async def test_an_edited_filter_takes_effect_at_once(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "db.sqlite")
    try:
        await store.put(DESIGN)
        await store.bulk_docs([{"_id": "a", "kind": "x"}, {"_id": "b", "kind": "y"}])
        query = ChangesQuery(filter="app/by_kind", query_params={"kind": "x"})
        assert [c.id for c in (await store.changes(query)).results] == ["a"]
        ddoc = await store.get("_design/app")
        ddoc["filters"]["by_kind"] = "function(doc, req) { return doc.kind !== req.query.kind; }"
        await store.put(ddoc)
        assert [c.id for c in (await store.changes(query)).results] == ["b", "_design/app"]
        ddoc = await store.get("_design/app")
        ddoc["filters"]["by_kind"] = "function(doc) { throw 'no'; }"
        await store.put(ddoc)
        with pytest.raises(QueryServerError):
            await store.changes(query)
    finally:
        await store.close()
