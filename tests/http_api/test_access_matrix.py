"""The access matrix: anonymous, wrong password, an authenticated non-member, a member (by name
and by role), a database admin and the server admin, against every endpoint of the server.

Each cell of ``access_table`` (status, error token and reason, or the success body's shape) is
what CouchDB 3.x answers; the rules and their sources are in that module's docstring. One
server serves the whole module; every cell makes the state it needs (its own document ids,
scratch databases, users) as the server admin first and undoes anything that would outlive it,
so cells do not depend on each other or on their order.

Besides its status and body, no cell may hand a non-admin a password hash: no ``derived_key``,
``salt``, ``password_scheme`` or ``password_sha`` anywhere in the response. A user reading their
own ``_users`` document, which CouchDB returns whole (U3), gets it without ``derived_key``,
``salt`` and ``password_sha``: issue 9 asks that no password hash reach a non-admin, a
deliberate departure (``password_scheme`` and ``iterations`` stay, they reveal nothing).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from brainlink_docs.config import AuthSettings
from brainlink_docs.errors import MethodNotAllowed
from brainlink_docs.http import routing

from .access_table import (
    ATT_DATA,
    CELLS,
    ENDPOINTS,
    PASSWORD,
    PRINCIPALS,
    SECURITY,
    USERS,
    Endpoint,
    Principal,
    expected,
)
from .conftest import TEST_ITERATIONS, Server, serving

# The wrong-password principal fails on every endpoint; the lockout (its own test's business)
# must not turn those 401s into 403s here.
NO_LOCKOUT = 1_000_000
HASH_FIELDS = (b"derived_key", b"salt", b"password_scheme", b"password_sha")
# What even the owner of a user document never reads back (our departure from U3).
SECRET_FIELDS = (b"derived_key", b"salt", b"password_sha")


@dataclass
class World:
    server: Server
    sessions: dict[str, aiohttp.ClientSession]

    @property
    def admin(self) -> aiohttp.ClientSession:
        return self.sessions["server_admin"]


def _headers(p: Principal) -> dict[str, str]:
    if p.name is None or p.password is None:
        return {}
    return {"Authorization": aiohttp.encode_basic_auth(p.name, p.password)}


async def _expect(response: aiohttp.ClientResponse, *statuses: int) -> Any:
    raw = await response.read()
    assert response.status in statuses, (
        f"{response.method} {response.url}: {response.status} {raw!r}"
    )
    return json.loads(raw) if raw else None


async def _put_user(admin: aiohttp.ClientSession, name: str, roles: list[str]) -> None:
    doc = {"name": name, "password": PASSWORD, "roles": roles, "type": "user"}
    async with admin.put(f"/_users/org.couchdb.user:{name}", json=doc) as r:
        await _expect(r, 201, 202)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    auth = AuthSettings(
        iterations=TEST_ITERATIONS,
        secret="x" * 32,
        lockout_threshold=NO_LOCKOUT,
        lockout_seconds=300.0,
    )
    data_dir: Path = tmp_path_factory.mktemp("access") / "data"
    async with serving(data_dir, auth=auth) as server:
        sessions = {
            # No cookie jar: POST /_session's cookie must not turn anonymous into carol.
            p.key: aiohttp.ClientSession(
                server.url, headers=_headers(p), cookie_jar=aiohttp.DummyCookieJar()
            )
            for p in PRINCIPALS
        }
        try:
            admin = sessions["server_admin"]
            async with admin.put("/_users") as r:
                await _expect(r, 201, 202, 412)
            for name, roles in USERS:
                await _put_user(admin, name, list(roles))
            # A design doc of _users that is not CouchDB's own _auth (U3 holds for any). Should
            # the server refuse it, the users_design_put-server_admin cell says so.
            async with admin.put("/_users/_design/probe", json={}) as r:
                await _expect(r, 201, 202, 403)
            for db in ("db", "fresh"):
                async with admin.put(f"/{db}") as r:
                    await _expect(r, 201, 202)
            async with admin.put("/db/_security", json=SECURITY) as r:
                await _expect(r, 200)
            async with admin.put("/db/doc", json={"v": 0}) as r:
                rev = (await _expect(r, 201))["rev"]
            async with admin.put(
                f"/db/doc/att.txt?rev={rev}",
                data=ATT_DATA,
                headers={"Content-Type": "text/plain"},
            ) as r:
                await _expect(r, 201)
            for doc_id in ("_design/x", "_local/x"):
                async with admin.put(f"/db/{doc_id}", json={}) as r:
                    await _expect(r, 201)
            yield World(server, sessions)
        finally:
            for session in sessions.values():
                await session.close()


# ---- per-cell state ---------------------------------------------------------------------------


def cell_vars(endpoint: Endpoint, p: Principal) -> dict[str, str]:
    cell = f"{endpoint.key}-{p.key}".replace("_", "-")
    doc_id = f"c-{cell}"
    values = {
        "id": doc_id,
        "ddoc_id": f"_design/{doc_id}",
        "local_id": f"_local/{doc_id}",
        "dbname": f"scratch-{cell}",
        "user": f"u-{cell}",
        "rev": "",
    }
    values["target"] = endpoint.target.format(**values)
    return values


async def setup_cell(admin: aiohttp.ClientSession, endpoint: Endpoint, v: dict[str, str]) -> None:
    kind = endpoint.setup
    if kind in ("doc", "ddoc", "local"):
        doc_id = {"doc": v["id"], "ddoc": v["ddoc_id"], "local": v["local_id"]}[kind]
        async with admin.put(f"/db/{doc_id}", json={"v": 0}) as r:
            v["rev"] = (await _expect(r, 201))["rev"]
    elif kind == "doc_att":
        async with admin.put(
            f"/db/{v['id']}/att.txt", data=ATT_DATA, headers={"Content-Type": "text/plain"}
        ) as r:
            v["rev"] = (await _expect(r, 201))["rev"]
    elif kind == "scratch_db":
        async with admin.put(f"/{v['dbname']}") as r:
            await _expect(r, 201, 202)
        async with admin.put(f"/{v['dbname']}/_security", json=SECURITY) as r:
            await _expect(r, 200)
    elif kind == "mona_doc":
        async with admin.get("/_users/org.couchdb.user:mona") as r:
            v["rev"] = (await _expect(r, 200))["_rev"]
    else:
        assert kind in (None, "new_db", "new_user"), kind


async def cleanup_cell(admin: aiohttp.ClientSession, endpoint: Endpoint, v: dict[str, str]) -> None:
    kind = endpoint.setup
    if kind in ("scratch_db", "new_db"):
        async with admin.delete(f"/{v['dbname']}") as r:
            await _expect(r, 200, 202, 404)
    elif kind == "new_user":
        path = f"/_users/org.couchdb.user:{v['user']}"
        async with admin.get(path) as r:
            doc = await _expect(r, 200, 404)
        if doc.get("_rev"):
            async with admin.delete(f"{path}?rev={doc['_rev']}") as r:
                await _expect(r, 200, 202)
    elif kind == "mona_doc":
        async with admin.get("/_users/org.couchdb.user:mona") as r:
            doc = await _expect(r, 200)
        if doc.get("roles") != []:
            restored = {**doc, "roles": [], "password": PASSWORD}
            async with admin.put("/_users/org.couchdb.user:mona", json=restored) as r:
                await _expect(r, 201, 202)


async def send(
    session: aiohttp.ClientSession, endpoint: Endpoint, v: Mapping[str, str]
) -> tuple[int, bytes, str]:
    kwargs: dict[str, Any] = {
        "headers": {k: value.format(**v) for k, value in endpoint.headers.items()},
        "allow_redirects": False,
    }
    if endpoint.body is not None:
        kwargs["json"] = endpoint.body(v)
    elif endpoint.raw is not None:
        kwargs["data"] = endpoint.raw
        kwargs["headers"]["Content-Type"] = "text/plain"
    async with session.request(endpoint.method, endpoint.path.format(**v), **kwargs) as r:
        return r.status, await r.read(), r.headers.get("Content-Type", "")


# ---- the matrix -------------------------------------------------------------------------------


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("endpoint", "principal"), CELLS, ids=[f"{e.key}-{p.key}" for e, p in CELLS]
)
async def test_each_principal_gets_couchdbs_answer(
    world: World, endpoint: Endpoint, principal: Principal
) -> None:
    v = cell_vars(endpoint, principal)
    await setup_cell(world.admin, endpoint, v)
    try:
        status, raw, ctype = await send(world.sessions[principal.key], endpoint, v)
    finally:
        await cleanup_cell(world.admin, endpoint, v)
    want = expected(endpoint, principal)
    shown = raw[:400]
    assert status == want.status, f"expected {want.status}, got {status}: {shown!r}"
    if endpoint.method == "HEAD":
        assert raw == b"", shown
    elif want.error is not None:
        body = json.loads(raw)
        assert body.get("error") == want.error, body
        if want.reason is not None:
            assert body.get("reason") == want.reason, body
    elif want.check is not None:
        body = json.loads(raw) if "json" in ctype and raw else raw
        want.check(body, principal, v)
    owner_read = endpoint.owner_read and principal.name == "mona"
    if not principal.is_server_admin:
        leaked = [f for f in (SECRET_FIELDS if owner_read else HASH_FIELDS) if f in raw]
        assert not leaked, f"{leaked} in a non-admin's response: {shown!r}"


def test_the_table_covers_every_route() -> None:
    """Every handler the router can reach is hit by some endpoint of the table."""
    routed = {
        handler
        for table in (*routing._SERVER.values(), *routing._DB.values())
        for handler in table.values()
    }
    routed |= {*routing._DOC.values(), *routing._ATT.values(), *routing._DB_ROOT.values()}
    covered = set()
    for endpoint in ENDPOINTS:
        v = cell_vars(endpoint, PRINCIPALS[0])
        path = endpoint.path.format(**v).partition("?")[0]
        # A route the server does not have (yet) is skipped: the matrix still expects CouchDB's.
        with contextlib.suppress(MethodNotAllowed):
            covered.add(routing.resolve(endpoint.method, path).handler)
    missing = {getattr(h, "__qualname__", repr(h)) for h in routed - covered}
    assert not missing, f"routes no endpoint of the table reaches: {sorted(missing)}"
