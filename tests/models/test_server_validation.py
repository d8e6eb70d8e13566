"""Our server with ``[entities] validate`` refuses typed documents that fail their model —
403 ``forbidden`` with a reason naming the field, on a PUT, a ``_bulk_docs`` row and a
replicated write — so a buggy client cannot replicate a malformed entity into a shared
database; untyped documents and system databases pass as before, and the default (off) stores
whatever it is given, as CouchDB does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from http_api.conftest import Server, serving

from brainlink_docs.models import Workspace
from brainlink_docs.replication.replicate import replicate
from brainlink_docs.store.http.store import HttpStore
from brainlink_docs.store.sqlite import SqliteStore

T0 = "2026-01-01T00:00:00.000Z"
GOOD = Workspace(id="w1", user_id="ana", name="main", created_at=T0, updated_at=T0).to_doc()
BAD = {**GOOD, "_id": "u/ana/workspace/w2", "id": "w2", "name": 42}


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path / "data", validate_entities=True) as running:
        yield running


async def call(server: Server, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as http,
        http.request(method, path, json=body) as answer,
    ):
        return answer.status, await answer.json()


def doc_url(doc_id: str) -> str:
    """``/db/{id}`` with the id's slashes escaped, as CouchDB wants ids with slashes."""
    return "/db/" + quote(doc_id, safe="")


async def test_a_malformed_entity_is_refused_naming_the_field(strict: Server) -> None:
    await call(strict, "PUT", "/db")
    status, body = await call(strict, "PUT", doc_url(BAD["_id"]), BAD)
    assert status == 403 and body["error"] == "forbidden"
    assert "name" in body["reason"] and "workspace" in body["reason"]
    assert (await call(strict, "PUT", doc_url(GOOD["_id"]), GOOD))[0] == 201
    status, body = await call(strict, "PUT", doc_url("u/ana/workspace/w9"), {**GOOD})
    assert status == 403 and "id" in body["reason"]  # the fields say w1, the id says w9


async def test_bulk_rows_and_replicated_writes_are_checked(strict: Server) -> None:
    await call(strict, "PUT", "/db")
    plain = {"_id": "note", "type": "note", "anything": [1, 2]}
    status, rows = await call(strict, "POST", "/db/_bulk_docs", {"docs": [BAD, GOOD, plain]})
    assert status == 201
    assert rows[0]["error"] == "forbidden" and "name" in rows[0]["reason"]
    assert [r.get("ok") for r in rows[1:]] == [True, True]
    replicated = {**BAD, "_rev": "1-" + "a" * 32}
    status, rows = await call(
        strict, "POST", "/db/_bulk_docs", {"docs": [replicated], "new_edits": False}
    )
    assert rows and rows[0]["error"] == "forbidden"
    assert (await call(strict, "GET", doc_url(BAD["_id"])))[0] == 404


async def test_a_device_cannot_replicate_a_malformed_entity_in(
    strict: Server, tmp_path: Path
) -> None:
    device = await SqliteStore.open(tmp_path / "device.sqlite")
    await device.bulk_docs([GOOD, BAD])
    await call(strict, "PUT", "/db")
    target = await HttpStore.open(f"{strict.authed_url}/db")
    try:
        result = await replicate(device, target)
        assert result.stats["doc_write_failures"] == 1 and result.stats["docs_written"] == 1
        assert [(f.id, f.error) for f in result.failures] == [(BAD["_id"], "forbidden")]
        assert (await call(strict, "GET", doc_url(GOOD["_id"])))[0] == 200
        assert (await call(strict, "GET", doc_url(BAD["_id"])))[0] == 404
    finally:
        await target.close()
        await device.close()


async def test_system_databases_and_the_default_server_are_unchecked(
    strict: Server, tmp_path: Path
) -> None:
    user = {
        "_id": "org.couchdb.user:bo",
        "type": "user",
        "name": "bo",
        "roles": [],
        "password": "x",
    }
    assert (await call(strict, "PUT", f"/_users/{user['_id']}", user))[0] == 201
    async with serving(tmp_path / "plain") as lenient:
        await call(lenient, "PUT", "/db")
        assert (await call(lenient, "PUT", doc_url(BAD["_id"]), BAD))[0] == 201
