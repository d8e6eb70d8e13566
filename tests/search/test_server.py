"""Message search through our server: the same pages as the embedded index, CouchDB-style
400s, the readers of ``_all_docs`` and nobody else, and a re-created database starts fresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from http_api.conftest import Server, serving

from brainlink_docs.errors import BadRequest
from brainlink_docs.search import HttpMessageSearch, MessageSearch
from brainlink_docs.search.databases import search_directory
from brainlink_docs.store.http.store import HttpStore
from brainlink_docs.store.sqlite.store import SqliteStore

from .messages import OTHER_USER, message, write

SEARCH = "/db/_search/messages"
TEXTS = [
    "the rocket launched at dawn",
    "rocket science is hard, said the café owner",
    "a quiet day at the résumé office",
    "rocket rocket rocket",
    "Dawn patrol <b>tonight</b>",
]
QUERIES: list[dict[str, Any]] = [
    {"text": "rocket"},
    {"text": "rocket", "limit": 2},
    {"text": "cafe"},
    {"text": "daw*"},
    {"text": "rocket dawn"},
    {"text": "rocket", "chat_id": "c1"},
    {"text": "rocket", "user_id": OTHER_USER},
    {"text": "!!! nothing"},
]


def corpus() -> list[dict[str, Any]]:
    return [
        message(f"c{n % 2}", n, text, user=OTHER_USER if n == 3 else "alice")
        for n, text in enumerate(TEXTS * 3)
    ]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path / "data") as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as session:
        assert (await session.put("/db")).status == 201
        yield session


@pytest.fixture
async def remote(server: Server, client: aiohttp.ClientSession) -> AsyncIterator[HttpStore]:
    store = await HttpStore.open(f"{server.authed_url}/db")
    yield store
    await store.close()


async def test_the_server_answers_the_embedded_pages(remote: HttpStore, tmp_path: Path) -> None:
    local = await SqliteStore.open(tmp_path / "local.sqlite", name="db")
    embedded = MessageSearch(local, tmp_path / "local-search.sqlite")
    over_http = HttpMessageSearch.of(remote)
    try:
        await write(local, corpus())
        await write(remote, corpus())  # type: ignore[arg-type]
        for query in QUERIES:
            text = query.pop("text")
            want = await embedded.search(text, **query)
            got = await over_http.search(text, **query)
            assert got == want, (text, query)
            if want.bookmark is not None:
                bookmark = want.bookmark
                want = await embedded.search(text, **query, bookmark=bookmark)
                got = await over_http.search(text, **query, bookmark=bookmark)
                assert got == want
        with pytest.raises(BadRequest):
            await over_http.search("rocket", bookmark="garbage")
    finally:
        await embedded.close()
        await local.close()


async def test_post_takes_the_same_arguments_as_json(
    client: aiohttp.ClientSession, remote: HttpStore
) -> None:
    await write(remote, corpus())  # type: ignore[arg-type]
    got = await client.get(SEARCH, params={"q": "rocket", "chat": "c1", "limit": "3"})
    posted = await client.post(SEARCH, json={"q": "rocket", "chat": "c1", "limit": 3})
    assert got.status == posted.status == 200
    assert await got.json() == await posted.json()
    assert len((await got.json())["hits"]) == 3


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": ""},
        {"q": "  "},
        {"q": "a", "limit": "x"},
        {"q": "a", "limit": "0"},
        {"q": "a", "limit": "201"},
        {"q": "a", "bookmark": "???"},
    ],
)
async def test_bad_arguments_are_couchdb_style_400s(
    client: aiohttp.ClientSession, params: dict[str, str]
) -> None:
    response = await client.get(SEARCH, params=params)
    body = await response.json()
    assert response.status == 400
    assert body["error"] == "bad_request" and isinstance(body["reason"], str)


@pytest.mark.parametrize("body", [{"q": 1}, {"q": "a", "limit": "3"}, {"q": "a", "chat": 2}])
async def test_bad_json_arguments_are_400s(
    client: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    response = await client.post(SEARCH, json=body)
    assert response.status == 400
    assert (await response.json())["error"] == "bad_request"


async def test_a_missing_database_is_404(client: aiohttp.ClientSession) -> None:
    response = await client.get("/nope/_search/messages", params={"q": "a"})
    assert response.status == 404
    assert (await response.json())["reason"] == "Database does not exist."


async def test_only_the_readers_of_all_docs_may_search(
    server: Server, client: aiohttp.ClientSession
) -> None:
    for name in ("member", "stranger"):
        user = {"name": name, "password": "pw", "roles": [], "type": "user"}
        response = await client.put(f"/_users/org.couchdb.user:{name}", json=user)
        assert response.status == 201
    security = {"members": {"names": ["member"], "roles": []}}
    assert (await client.put("/db/_security", json=security)).status == 200
    for auth in ({}, _basic("member"), _basic("stranger")):
        async with aiohttp.ClientSession(server.url, headers=auth) as session:
            listing = await session.get("/db/_all_docs")
            searched = await session.get(SEARCH, params={"q": "rocket"})
            assert searched.status == listing.status, auth
            if listing.status != 200:
                assert await searched.json() == await listing.json()
    assert listing.status == 403  # the stranger's, as CouchDB's for a non-member


def _basic(name: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(name, "pw")}


async def test_a_deleted_and_recreated_database_starts_fresh(
    server: Server, client: aiohttp.ClientSession, remote: HttpStore
) -> None:
    await write(remote, [message("c", 1, "old words")])  # type: ignore[arg-type]
    hits = (await (await client.get(SEARCH, params={"q": "old"})).json())["hits"]
    assert len(hits) == 1
    directory = search_directory(server.data_dir, "db")
    assert await asyncio.to_thread(directory.is_dir)
    assert (await client.delete("/db")).status == 200
    assert not await asyncio.to_thread(directory.exists)
    assert (await client.put("/db")).status == 201
    await write(remote, [message("c", 2, "new words")])  # type: ignore[arg-type]
    assert (await (await client.get(SEARCH, params={"q": "old"})).json())["hits"] == []
    hits = (await (await client.get(SEARCH, params={"q": "new"})).json())["hits"]
    assert [hit["sequence"] for hit in hits] == [2]


async def test_a_database_the_server_closed_and_opened_again_is_searched_alike(
    tmp_path: Path,
) -> None:
    """With one open database at a time every request for the other reopens its store: the
    search follows the new store object and keeps its file."""
    async with serving(tmp_path / "data", max_dbs_open=1) as running:
        headers = running.auth_headers
        async with aiohttp.ClientSession(running.url, headers=headers) as session:
            for name in ("one", "two"):
                assert (await session.put(f"/{name}")).status == 201
                store = await HttpStore.open(f"{running.authed_url}/{name}")
                await write(store, [message("c", n, f"{name} words") for n in range(3)])  # type: ignore[arg-type]
                await store.close()
            for _ in range(2):
                for name in ("one", "two"):
                    found = await session.get(f"/{name}/_search/messages", params={"q": "words"})
                    hits = (await found.json())["hits"]
                    assert len(hits) == 3 and all(name in hit["snippet"] for hit in hits)
