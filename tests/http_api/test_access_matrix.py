"""The access matrix: anonymous, wrong password, an authenticated non-member, a member (by name
and by role), a database admin and the server admin, against every endpoint of the server.

Each cell of ``access_table`` (status, error token and reason, or the success body's shape) is
what CouchDB 3.x answers; the rules and their sources are in that module's docstring. The table
runs twice: against our server and against the real CouchDB (``couchdb`` fixture), with the same
users, roles, databases and ``_security`` set up on each through its HTTP API (on CouchDB with
``[chttpd_auth] iterations = 1000`` and the lockout off for the run, and everything removed
afterwards). Where we answer otherwise on purpose, the cell is in ``access_table.DEPARTURES``
with the reason; CouchDB must still answer the table's way there, so a departure that stopped
being one shows up. One setup serves each server for the whole module; every cell makes the
state it needs (its own document ids, scratch databases, users) as the server admin first and
undoes anything that would outlive it, so cells do not depend on each other or on their order.

Besides its status and body, no cell may hand a non-admin a password hash: no ``derived_key``,
``salt``, ``password_scheme`` or ``password_sha`` anywhere in the response. A user reading their
own ``_users`` document, which CouchDB returns whole (U3), gets it without ``derived_key``,
``salt`` and ``password_sha``: issue 9 asks that no password hash reach a non-admin, a
deliberate departure (``password_scheme`` and ``iterations`` stay, they reveal nothing).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from couch import CouchServer

from brainlink_docs.config import AuthSettings
from brainlink_docs.errors import MethodNotAllowed
from brainlink_docs.http import routing

from .access_table import (
    ATT_DATA,
    CELLS,
    DEPARTURES,
    ENDPOINTS,
    OPEN_USERS_DB,
    PASSWORD,
    PRINCIPALS,
    SECURITY,
    SERVER_ADMIN,
    USERS,
    Endpoint,
    Expect,
    Principal,
    expected,
    expected_of_ours,
)
from .conftest import TEST_ITERATIONS, serving
from .couch_peer import ask, couch_config, wait_for_users_rules

# The wrong-password principal fails on every endpoint; the lockout (its own test's business)
# must not turn those 401s into 403s here.
NO_LOCKOUT = 1_000_000
HASH_FIELDS = (b"derived_key", b"salt", b"password_scheme", b"password_sha")
# What even the owner of a user document never reads back (our departure from U3).
SECRET_FIELDS = (b"derived_key", b"salt", b"password_sha")


@dataclass
class World:
    target: str  # "ours", "couchdb" or "couchdb-open-users"
    sessions: dict[str, aiohttp.ClientSession]
    names: dict[str, str]  # "db", "fresh" and the prefix of scratch names, per server

    @property
    def admin(self) -> aiohttp.ClientSession:
        return self.sessions["server_admin"]


def _headers(name: str | None, password: str | None) -> dict[str, str]:
    if name is None or password is None:
        return {}
    return {"Authorization": aiohttp.encode_basic_auth(name, password)}


async def _expect(response: aiohttp.ClientResponse, *statuses: int) -> Any:
    raw = await response.read()
    assert response.status in statuses, (
        f"{response.method} {response.url}: {response.status} {raw!r}"
    )
    return json.loads(raw) if raw else None


async def _put_user(admin: aiohttp.ClientSession, name: str, roles: list[str]) -> None:
    """Create the user, or reset one a crashed earlier run left on the real CouchDB."""
    doc: dict[str, Any] = {"name": name, "password": PASSWORD, "roles": roles, "type": "user"}
    path = f"/_users/org.couchdb.user:{name}"
    async with admin.get(path) as r:
        old = await _expect(r, 200, 404)
    if r.status == 200:
        doc["_rev"] = old["_rev"]
    async with admin.put(path, json=doc) as r:
        await _expect(r, 201, 202)


async def _populate(admin: aiohttp.ClientSession, names: Mapping[str, str]) -> None:
    """The users, roles, databases and ``_security`` every cell expects, made as the admin."""
    async with admin.put("/_users") as r:
        await _expect(r, 201, 202, 412)
    for name, roles in USERS:
        await _put_user(admin, name, list(roles))
    # A design doc of _users that is not CouchDB's own _auth (U3 holds for any). Should the
    # server refuse it, the users_design_put-server_admin cell says so.
    async with admin.put("/_users/_design/probe", json={}) as r:
        await _expect(r, 201, 202, 403, 409)
    for db in (names["db"], names["fresh"]):
        async with admin.put(f"/{db}") as r:
            await _expect(r, 201, 202)
    db = names["db"]
    async with admin.put(f"/{db}/_security", json=SECURITY) as r:
        await _expect(r, 200)
    async with admin.put(f"/{db}/doc", json={"v": 0}) as r:
        rev = (await _expect(r, 201))["rev"]
    async with admin.put(
        f"/{db}/doc/att.txt?rev={rev}",
        data=ATT_DATA,
        headers={"Content-Type": "text/plain"},
    ) as r:
        await _expect(r, 201)
    for doc_id in ("_design/x", "_local/x"):
        async with admin.put(f"/{db}/{doc_id}", json={}) as r:
            await _expect(r, 201)


async def _depopulate(admin: aiohttp.ClientSession, names: Mapping[str, str]) -> None:
    """Take ``_populate``'s state off a server we do not own (the real CouchDB)."""
    for db in (names["db"], names["fresh"]):
        async with admin.delete(f"/{db}") as r:
            await _expect(r, 200, 202, 404)
    paths = [f"/_users/org.couchdb.user:{name}" for name, _ in USERS] + ["/_users/_design/probe"]
    for path in paths:
        await _delete_doc(admin, path)


def _sessions(url: str, admin: tuple[str, str]) -> dict[str, aiohttp.ClientSession]:
    # No cookie jar: POST /_session's cookie must not turn anonymous into carol.
    return {
        p.key: aiohttp.ClientSession(
            url,
            headers=_headers(*(admin if p.is_server_admin else (p.name, p.password))),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        for p in PRINCIPALS
    }


@contextlib.asynccontextmanager
async def _our_world(data_dir: Path) -> AsyncIterator[World]:
    auth = AuthSettings(
        iterations=TEST_ITERATIONS,
        secret="x" * 32,
        lockout_threshold=NO_LOCKOUT,
        lockout_seconds=300.0,
    )
    names = OUR_NAMES
    async with serving(data_dir, auth=auth) as server:
        sessions = _sessions(server.url, (server.admin, server.password))
        try:
            await _populate(sessions["server_admin"], names)
            yield World("ours", sessions, names)
        finally:
            for session in sessions.values():
                await session.close()


# For the run on the real CouchDB: cheap password checks (its default is 600,000 PBKDF2
# rounds per basic-auth request) and no lockout of the wrong-password principal.
COUCHDB_SETTINGS = {
    ("chttpd_auth", "iterations"): str(TEST_ITERATIONS),
    ("chttpd_auth_lockout", "mode"): "off",
}


# What our server keeps in _users/_security (open: its own rules guard it), and how CouchDB 3.5
# keeps it (R8's admin_only, U0).
OPEN_USERS_SECURITY: dict[str, Any] = {}
ADMIN_ONLY_USERS_SECURITY = {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}


async def _set_users_security(couch: CouchServer, security: dict[str, Any]) -> None:
    """``PUT /_users/_security`` on CouchDB, which allows it only while
    ``users_db_security_editable`` is on: on just for this write, so U4 holds for the cells."""
    async with couch_config(couch, {("couchdb", "users_db_security_editable"): "true"}):
        answer = await ask(
            couch.bare_url, "PUT", "/_users/_security", json_body=security, auth=couch.auth
        )
        assert answer.status == 200, answer.body


@contextlib.asynccontextmanager
async def _couchdb_world(couch: CouchServer, *, open_users: bool) -> AsyncIterator[World]:
    admin = couch.auth
    if admin[0] != SERVER_ADMIN.name:
        pytest.skip(f"the table's server admin is named {SERVER_ADMIN.name!r}, not {admin[0]!r}")
    run = f"matrix-{time.time_ns():x}"
    names = {"db": f"{run}-db", "fresh": f"{run}-fresh", "prefix": f"{run}-"}
    target = "couchdb-open-users" if open_users else "couchdb"
    async with couch_config(couch, COUCHDB_SETTINGS):
        sessions = _sessions(couch.bare_url, admin)
        try:
            if open_users:
                await _set_users_security(couch, OPEN_USERS_SECURITY)
                await wait_for_users_rules(couch)
            await _populate(sessions["server_admin"], names)
            yield World(target, sessions, names)
        finally:
            try:
                await _depopulate(sessions["server_admin"], names)
            finally:
                if open_users:
                    await _set_users_security(couch, ADMIN_ONLY_USERS_SECURITY)
                for session in sessions.values():
                    await session.close()


TARGETS = [
    "ours",
    pytest.param("couchdb", marks=pytest.mark.couchdb),
    pytest.param("couchdb-open-users", marks=pytest.mark.couchdb),
]


@pytest_asyncio.fixture(loop_scope="module", scope="module", params=TARGETS)
async def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    if request.param == "ours":
        data_dir: Path = tmp_path_factory.mktemp("access") / "data"
        async with _our_world(data_dir) as ours:
            yield ours
        return
    couch = request.getfixturevalue("couchdb")
    async with _couchdb_world(couch, open_users=request.param == "couchdb-open-users") as w:
        yield w


def expected_on(world: World, endpoint: Endpoint, p: Principal) -> Expect:
    if world.target == "ours":
        return expected_of_ours(endpoint, p)
    return expected(endpoint, p, users_open=world.target == "couchdb-open-users")


# ---- per-cell state ---------------------------------------------------------------------------


OUR_NAMES = {"db": "db", "fresh": "fresh", "prefix": ""}


def cell_vars(endpoint: Endpoint, p: Principal, names: Mapping[str, str]) -> dict[str, str]:
    cell = f"{endpoint.key}-{p.key}".replace("_", "-")
    doc_id = f"c-{cell}"
    values = {
        "db": names["db"],
        "fresh": names["fresh"],
        "id": doc_id,
        "ddoc_id": f"_design/{doc_id}",
        "local_id": f"_local/{doc_id}",
        "dbname": f"{names['prefix']}scratch-{cell}",
        "user": f"u-{cell}",
        "rev": "",
    }
    values["target"] = endpoint.target.format(**values)
    return values


async def setup_cell(admin: aiohttp.ClientSession, endpoint: Endpoint, v: dict[str, str]) -> None:
    kind = endpoint.setup
    if kind in ("doc", "ddoc", "local"):
        doc_id = {"doc": v["id"], "ddoc": v["ddoc_id"], "local": v["local_id"]}[kind]
        async with admin.put(f"/{v['db']}/{doc_id}", json={"v": 0}) as r:
            v["rev"] = (await _expect(r, 201))["rev"]
    elif kind == "doc_att":
        async with admin.put(
            f"/{v['db']}/{v['id']}/att.txt", data=ATT_DATA, headers={"Content-Type": "text/plain"}
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
    elif kind == "users_ddoc":
        await _delete_doc(admin, f"/_users/{v['ddoc_id']}")  # left by a crashed run
    else:
        assert kind in (None, "new_db", "new_user"), kind


async def _delete_doc(admin: aiohttp.ClientSession, path: str) -> None:
    async with admin.get(path) as r:
        doc = await _expect(r, 200, 404)
    if r.status == 200:
        async with admin.delete(f"{path}?rev={doc['_rev']}") as r:
            await _expect(r, 200, 202)


async def cleanup_cell(admin: aiohttp.ClientSession, endpoint: Endpoint, v: dict[str, str]) -> None:
    kind = endpoint.setup
    if kind in ("scratch_db", "new_db"):
        async with admin.delete(f"/{v['dbname']}") as r:
            await _expect(r, 200, 202, 404)
    elif kind == "new_user":
        await _delete_doc(admin, f"/_users/org.couchdb.user:{v['user']}")
    elif kind == "users_ddoc":
        await _delete_doc(admin, f"/_users/{v['ddoc_id']}")
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
    v = cell_vars(endpoint, principal, world.names)
    await setup_cell(world.admin, endpoint, v)
    try:
        status, raw, ctype = await send(world.sessions[principal.key], endpoint, v)
    finally:
        await cleanup_cell(world.admin, endpoint, v)
    want = expected_on(world, endpoint, principal)
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
    if world.target != "ours":
        if owner_read and want.status == 200:
            # CouchDB hands the owner their hash (U3): why hiding it is a departure of ours.
            assert b"derived_key" in raw and b"salt" in raw, shown
        return
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
        v = cell_vars(endpoint, PRINCIPALS[0], OUR_NAMES)
        path = endpoint.path.format(**v).partition("?")[0]
        # A route the server does not have (yet) is skipped: the matrix still expects CouchDB's.
        with contextlib.suppress(MethodNotAllowed):
            covered.add(routing.resolve(endpoint.method, path).handler)
    missing = {getattr(h, "__qualname__", repr(h)) for h in routed - covered}
    assert not missing, f"routes no endpoint of the table reaches: {sorted(missing)}"


README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_departure_is_a_real_difference_with_its_reason_in_the_readme() -> None:
    """A departure from the table must differ from CouchDB's answer (else it is no departure),
    say why, and be in the README's departures paragraph."""
    readme = " ".join(README.read_text().split())
    by_key = {e.key: e for e in ENDPOINTS}
    principals = {p.key: p for p in PRINCIPALS}
    for (endpoint_key, principal_key), departure in DEPARTURES.items():
        couch = expected(by_key[endpoint_key], principals[principal_key])
        ours = departure.ours
        assert (ours.status, ours.error) != (couch.status, couch.error), endpoint_key
        assert departure.reason
        assert departure.readme in readme, departure.readme
    assert OPEN_USERS_DB.readme in readme
