"""The three places a design function runs, behind one request shape, for differential tests.

``Peer.request(method, path, body, user=…)`` sends one database-relative request (``/doc``,
``/_bulk_docs``, ``/_changes?…``, ``/doc/att?rev=…``) and answers ``(status, JSON body)``:

- ``HttpPeer``: a database on the real CouchDB or on our server, over HTTP (admin unless a
  ``user`` is named; users are made with ``make_user``);
- ``EmbeddedPeer``: a ``SqliteStore`` called directly (a named user's writes go through
  ``store.as_user``), its ``CouchError``s rendered as the server renders them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import aiohttp
from couch import CouchServer
from http_api.conftest import serving

from brainlink_docs.errors import CouchError
from brainlink_docs.store.api import ChangesQuery
from brainlink_docs.store.sqlite import SqliteStore

PASSWORD = "design-peers-pw"
# Roles of the users the tests write as (the same on every peer).
USERS = {"bob": ["writer"], "eve": []}
# What CouchDB 3's new databases hold, set explicitly so every peer's secObj is the same.
SECURITY = {"admins": {"names": [], "roles": ["_admin"]}, "members": {"names": ["bob", "eve"]}}


@dataclass
class HttpPeer:
    name: str
    base: str  # server root, no credentials
    db: str
    admin: tuple[str, str]
    session: aiohttp.ClientSession

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        data: bytes | None = None,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        auth = aiohttp.encode_basic_auth(*((user, PASSWORD) if user else self.admin))
        payload = json.dumps(body).encode() if body is not None else data
        url = f"{self.base}/{self.db}{path}"
        sent = {"Content-Type": content_type, "Authorization": auth, **(headers or {})}
        async with self.session.request(method, url, data=payload, headers=sent) as r:
            raw = await r.read()
        try:
            return r.status, json.loads(raw) if raw else None
        except ValueError:
            # A feed that failed after its 200 headers: the text, for the assertion message.
            return r.status, raw.decode("utf-8", "replace")

    async def setup(self) -> None:
        status, body = await self.request("PUT", "")
        assert status == 201, body
        status, body = await self.request("PUT", "/_security", SECURITY)
        assert status == 200, body
        for name, roles in USERS.items():
            doc = {"name": name, "password": PASSWORD, "roles": roles, "type": "user"}
            async with self.session.put(
                f"{self.base}/_users/org.couchdb.user:{name}",
                json=doc,
                headers={"Authorization": aiohttp.encode_basic_auth(*self.admin)},
            ) as r:
                assert r.status in (201, 202, 409), await r.text()


@dataclass
class EmbeddedPeer:
    store: SqliteStore
    name: str = "embedded"
    users: Mapping[str, list[str]] = field(default_factory=lambda: USERS)

    async def setup(self) -> None:
        await self.store.set_security(SECURITY)

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        user: str | None = None,
        data: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        # The HTTP peers' requests come from their admin, "admin", unless a user is named.
        roles = ["_admin"] if user is None else list(self.users[user])
        store: Any = self.store.as_user(
            {"db": self.store.name, "name": user or "admin", "roles": roles}
        )
        parts = urlsplit(path)
        query = dict(parse_qsl(parts.query))
        segments = [s for s in parts.path.split("/") if s]
        try:
            return await _embedded(store, method, segments, query, body, data, content_type)
        except CouchError as exc:
            return exc.status, exc.to_json()


async def _embedded(
    store: Any,
    method: str,
    segments: list[str],
    query: dict[str, str],
    body: Any,
    data: bytes | None,
    content_type: str,
) -> tuple[int, Any]:
    if segments == ["_bulk_docs"]:
        rows = await store.bulk_docs(body["docs"], new_edits=body.get("new_edits", True))
        if body.get("new_edits", True) is False:
            return 201, [row.to_json() for row in rows if row.error is not None]
        return 201, [row.to_json() for row in rows]
    if segments == ["_changes"]:
        named = query.get("filter")
        changes = ChangesQuery(
            style=query.get("style", "main_only"),  # type: ignore[arg-type]
            filter=named,
            query_params=query if named else None,
            limit=int(query["limit"]) if "limit" in query else None,
        )
        return 200, (await store.changes(changes)).to_json()
    doc_id = segments[0] if segments[0] not in ("_design", "_local") else "/".join(segments[:2])
    rest = segments[1:] if doc_id == segments[0] else segments[2:]
    if rest:  # an attachment
        if method == "PUT":
            assert data is not None
            row = await store.put_attachment(doc_id, rest[0], data, content_type, query.get("rev"))
        else:
            row = await store.delete_attachment(doc_id, rest[0], query["rev"])
        return 201 if method == "PUT" else 200, row.to_json()
    if method == "DELETE":
        return 200, (await store.delete(doc_id, query["rev"])).to_json()
    if method == "GET":
        return 200, await store.get(doc_id)
    doc = {**body, "_id": doc_id}
    if "rev" in query:
        doc["_rev"] = query["rev"]
    return 201, (await store.put(doc)).to_json()


@asynccontextmanager
async def three_peers(couchdb: CouchServer, tmp_path: Path) -> AsyncIterator[list[Any]]:
    """A fresh database on CouchDB, on our server and in an embedded store, set up alike."""
    name = f"design-{uuid.uuid4().hex[:12]}"
    async with AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())
        ours = await stack.enter_async_context(serving(tmp_path / "server"))
        couch = HttpPeer("couchdb", couchdb.bare_url, name, couchdb.auth, session)
        server = HttpPeer("server", ours.url, name, (ours.admin, ours.password), session)
        store = await SqliteStore.open(tmp_path / f"{name}.sqlite", name=name)
        stack.push_async_callback(store.close)
        stack.push_async_callback(_drop, couch)
        peers = [couch, server, EmbeddedPeer(store)]
        for peer in peers:
            await peer.setup()
        yield peers


async def _drop(peer: HttpPeer) -> None:
    await peer.request("DELETE", "")


def att_path(doc_id: str, name: str, rev: str | None = None) -> str:
    path = f"/{doc_id}/{quote(name)}"
    return f"{path}?rev={rev}" if rev else path
