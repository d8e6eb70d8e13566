"""Plain helpers shared by the HTTP API tests: JSON bodies and the requests tests set up with."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

ACCEPT_JSON = {"Accept": "application/json"}
BAD_CTYPE = {"error": "bad_content_type", "reason": "Content-Type must be application/json"}

# The databases every server has from its first start (CouchDB lists `_users` too; `_audit` is
# the audit log of sensitive writes, ours).
SYSTEM_DBS = ["_audit", "_users"]


async def json_of(response: aiohttp.ClientResponse) -> Any:
    return json.loads(await response.read())


async def create_db(client: aiohttp.ClientSession, name: str = "db") -> None:
    async with client.put(f"/{name}") as r:
        assert r.status == 201, await r.text()


async def db_info(client: aiohttp.ClientSession, name: str = "db") -> dict[str, Any]:
    async with client.get(f"/{name}") as r:
        assert r.status == 200, await r.text()
        return await json_of(r)


async def put_doc(client: aiohttp.ClientSession, path: str, body: dict[str, Any], **kw: Any) -> str:
    """PUT a JSON document at ``path`` (201 expected); returns its new rev."""
    async with client.put(path, json=body, **kw) as r:
        assert r.status == 201, await r.text()
        return (await json_of(r))["rev"]


async def get_doc(client: aiohttp.ClientSession, path: str, **params: str) -> dict[str, Any]:
    """GET ``path`` as JSON (200 expected)."""
    async with client.get(path, params=params, headers=ACCEPT_JSON) as r:
        assert r.status == 200, await r.text()
        return await json_of(r)


async def bulk(
    client: aiohttp.ClientSession, docs: list[dict[str, Any]], **extra: Any
) -> list[dict[str, Any]]:
    """POST ``docs`` to ``/db/_bulk_docs`` (201 expected); ``extra`` joins the body."""
    async with client.post("/db/_bulk_docs", json={"docs": docs, **extra}) as r:
        assert r.status == 201, await r.text()
        return await json_of(r)
