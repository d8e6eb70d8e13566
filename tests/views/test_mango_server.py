"""Mango on our own stores, without CouchDB: ``_users`` privacy, index access, bookmark paging.

- On ``_users`` a non-admin's ``_find`` sees their own document only (without the password
  hash fields), an anonymous one nothing, an admin everything (CouchDB 3.5 with an open
  ``_users`` filters the same way).
- Creating and deleting an index writes a design document: db admins only.
- Paging a query by bookmark, 3 at a time, yields every document of the unpaged answer once and
  in its order, on the embedded store (a law over generated documents and queries).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from http_api.conftest import serving
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import CouchError
from brainlink_docs.store.sqlite import SqliteStore
from tests.views.mango_cases import INDEXES, documents, index_request, queries

USERS = ("mona", "bob")


async def _put_user(admin: aiohttp.ClientSession, name: str) -> None:
    body = {"name": name, "password": "pw-" + name, "roles": [], "type": "user"}
    async with admin.put(f"/_users/org.couchdb.user:{name}", json=body) as r:
        assert r.status == 201, await r.text()


async def _find_ids(session: aiohttp.ClientSession, query: dict[str, Any]) -> list[dict[str, Any]]:
    async with session.post("/_users/_find", json=query) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["docs"]  # type: ignore[no-any-return]


async def test_users_find_shows_a_user_only_their_own_document(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as server:
        async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin:
            async with admin.put("/_users") as r:
                assert r.status in (201, 412)
            for name in USERS:
                await _put_user(admin, name)
            every = await _find_ids(admin, {"selector": {"type": "user"}})
            assert sorted(d["name"] for d in every) == ["bob", "mona"]
            assert all("derived_key" in d for d in every)
        mona_auth = {"Authorization": aiohttp.encode_basic_auth("mona", "pw-mona")}
        async with aiohttp.ClientSession(server.url, headers=mona_auth) as mona:
            mine = await _find_ids(mona, {"selector": {}})
            assert [d["_id"] for d in mine] == ["org.couchdb.user:mona"]
            assert not {"derived_key", "salt"} & set(mine[0])
            assert await _find_ids(mona, {"selector": {"name": "bob"}}) == []
            named = await _find_ids(mona, {"selector": {}, "fields": ["name"]})
            assert named == [{"name": "mona"}]
            async with mona.post("/_users/_find", json={"selector": []}) as r:
                assert r.status == 400
                assert (await r.json())["error"] == "invalid_selector_json"
            async with mona.post("/_users/_index", json={"index": {"fields": ["name"]}}) as r:
                assert r.status == 403
        async with aiohttp.ClientSession(server.url) as anonymous:
            assert await _find_ids(anonymous, {"selector": {}}) == []


async def test_indexes_are_for_db_admins(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as server:
        async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin:
            async with admin.put("/_users") as r:
                assert r.status in (201, 412)
            await _put_user(admin, "mona")
            async with admin.put("/db") as r:
                assert r.status == 201
            security = {"members": {"names": ["mona"]}, "admins": {}}
            async with admin.put("/db/_security", json=security) as r:
                assert r.status == 200
            async with admin.post("/db/_index", json={"index": {"fields": ["n"]}}) as r:
                created = await r.json()
                assert created["result"] == "created"
        mona_auth = {"Authorization": aiohttp.encode_basic_auth("mona", "pw-mona")}
        async with aiohttp.ClientSession(server.url, headers=mona_auth) as mona:
            async with mona.post("/db/_index", json={"index": {"fields": ["s"]}}) as r:
                assert r.status == 403
            name = created["name"]
            async with mona.delete(f"/db/_index/{name}/json/{name}") as r:
                assert r.status == 403
            async with mona.get("/db/_index") as r:
                assert (await r.json())["total_rows"] == 2
            async with mona.post("/db/_find", json={"selector": {"n": {"$gt": 0}}}) as r:
                assert r.status == 200


async def _page_ids(store: SqliteStore, query: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    paged = {**query, "limit": 3, "skip": 0}
    for _ in range(100):
        answer = await store.find(paged)
        if not answer["docs"]:
            return ids
        ids.extend(doc["_id"] for doc in answer["docs"])
        paged["bookmark"] = answer["bookmark"]
    raise AssertionError("paging did not end")


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    docs=documents(25),
    index_names=st.sets(st.sampled_from(sorted(INDEXES))),
    cases=st.lists(queries(), min_size=3, max_size=3),
)
async def test_bookmarks_yield_every_document_once_in_order(
    docs: list[dict[str, Any]], index_names: set[str], cases: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = await SqliteStore.open(Path(directory) / "db.sqlite")
        try:
            await store.bulk_docs(docs)
            for name in sorted(index_names):
                await store.create_index(index_request(name))
            for query in cases:
                query = {k: v for k, v in query.items() if k != "fields"}
                try:
                    whole = await store.find({**query, "limit": 1000, "skip": 0})
                except CouchError:
                    continue
                expected = [doc["_id"] for doc in whole["docs"]]
                assert await _page_ids(store, query) == expected, query
        finally:
            await store.close()
