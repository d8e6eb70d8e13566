"""Per-user databases (CouchDB's ``couch_peruser``): a private database for every user.

``userdb-<hex of the UTF-8 name>`` exists as soon as the write that created the user is answered,
with the user as its only admin and member; other users and anonymous clients are kept out;
deleting the user deletes it only with ``delete_dbs``; switching the feature on later creates
the databases of users who signed up before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from brainlink_docs.config import PeruserSettings

from .conftest import Server, serving
from .helpers import SYSTEM_DBS, json_of

ON = PeruserSettings(enable=True)


def userdb(name: str) -> str:
    return "userdb-" + name.encode("utf-8").hex()


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(name, password)}


async def signup(server: Server, name: str, password: str = "pw") -> dict[str, Any]:
    doc = {"name": name, "password": password, "roles": [], "type": "user"}
    async with (
        aiohttp.ClientSession(server.url) as anon,
        anon.put(f"/_users/org.couchdb.user:{name}", json=doc) as r,
    ):
        assert r.status == 201, await r.text()
        return await json_of(r)


async def status_of(server: Server, method: str, path: str, headers: dict[str, str]) -> int:
    async with (
        aiohttp.ClientSession(server.url) as session,
        session.request(method, path, headers=headers, json={"x": 1}) as r,
    ):
        return r.status


async def test_signup_creates_a_private_database_the_user_alone_can_use(tmp_path: Path) -> None:
    async with serving(tmp_path / "data", peruser=ON) as server:
        await signup(server, "ana", "pw-ana")
        await signup(server, "bob", "pw-bob")
        db = userdb("ana")
        async with (
            aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
            admin.get(f"/{db}/_security") as r,
        ):
            assert await json_of(r) == {
                "admins": {"names": ["ana"], "roles": []},
                "members": {"names": ["ana"], "roles": []},
            }
        ana = basic("ana", "pw-ana")
        assert await status_of(server, "PUT", f"/{db}/note", ana) == 201
        assert await status_of(server, "GET", f"/{db}/note", ana) == 200
        assert await status_of(server, "GET", f"/{db}/_changes", ana) == 200
        bob = basic("bob", "pw-bob")
        for method, path in [("GET", f"/{db}"), ("GET", f"/{db}/note"), ("PUT", f"/{db}/x")]:
            assert await status_of(server, method, path, bob) == 403
            assert await status_of(server, method, path, {}) == 401
        assert await status_of(server, "GET", f"/{db}/note", server.auth_headers) == 200


async def test_database_name_is_the_hex_of_the_utf8_name(tmp_path: Path) -> None:
    async with serving(tmp_path / "data", peruser=ON) as server:
        await signup(server, "José Ñandú")
        async with (
            aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
            admin.get("/_all_dbs") as r,
        ):
            names = await json_of(r)
        assert userdb("José Ñandú") in names
        assert userdb("José Ñandú") == "userdb-4a6f73c3a920c391616e64c3ba"


async def test_nothing_is_created_when_per_user_databases_are_off(server: Server) -> None:
    await signup(server, "ana")
    async with (
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
        admin.get("/_all_dbs") as r,
    ):
        assert await json_of(r) == SYSTEM_DBS


@pytest.mark.parametrize("delete_dbs", [True, False])
async def test_deleting_the_user_deletes_the_database_only_when_configured(
    tmp_path: Path, delete_dbs: bool
) -> None:
    settings = PeruserSettings(enable=True, delete_dbs=delete_dbs)
    async with serving(tmp_path / "data", peruser=settings) as server:
        created = await signup(server, "ana")
        async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin:
            path = f"/_users/org.couchdb.user:ana?rev={created['rev']}"
            async with admin.delete(path) as r:
                assert r.status == 200, await r.text()
            async with admin.get(f"/{userdb('ana')}") as r:
                assert r.status == (404 if delete_dbs else 200)


async def test_users_who_signed_up_before_get_their_database_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with serving(data) as server:
        await signup(server, "early")
    async with serving(data, peruser=ON) as server:
        assert await status_of(server, "GET", f"/{userdb('early')}", basic("early", "pw")) == 200


async def test_a_user_updating_their_doc_keeps_their_database_and_data(tmp_path: Path) -> None:
    async with serving(tmp_path / "data", peruser=ON) as server:
        await signup(server, "ana", "one")
        db = userdb("ana")
        assert await status_of(server, "PUT", f"/{db}/keep", basic("ana", "one")) == 201
        async with (
            aiohttp.ClientSession(server.url, headers=basic("ana", "one")) as ana,
            ana.get("/_users/org.couchdb.user:ana") as r,
        ):
            doc = await json_of(r)
            doc["password"] = "two"
            async with ana.put("/_users/org.couchdb.user:ana", json=doc) as r:
                assert r.status == 201, await r.text()
        assert await status_of(server, "GET", f"/{db}/keep", basic("ana", "two")) == 200
        assert await status_of(server, "GET", f"/{db}/keep", basic("ana", "one")) == 401


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_users/_all_docs?include_docs=true", None),
        ("GET", "/_users/_changes?include_docs=true", None),
        ("GET", "/_users/_local_docs", None),
        ("POST", "/_users/_bulk_get", {"docs": [{"id": "org.couchdb.user:ana"}]}),
        ("POST", "/_users/_revs_diff", {"org.couchdb.user:ana": ["1-x"]}),
        ("GET", "/_users/_changes?feed=longpoll&timeout=100", None),
    ],
)
async def test_no_user_lists_or_probes_the_users_database(
    server: Server, method: str, path: str, body: Any
) -> None:
    """Other users' documents and which names exist are the server admin's to know."""
    await signup(server, "ana", "pw-ana")
    await signup(server, "bob", "pw-bob")
    for headers in ({}, basic("bob", "pw-bob")):
        async with (
            aiohttp.ClientSession(server.url) as session,
            session.request(method, path, headers=headers, json=body) as r,
        ):
            assert r.status == 401
            assert await json_of(r) == {
                "error": "unauthorized",
                "reason": "You are not a server admin.",
            }
    async with (
        aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin,
        admin.request(method, path, json=body) as r,
    ):
        assert r.status == 200


async def test_a_user_replicated_in_with_a_clear_password_is_stored_hashed(server: Server) -> None:
    """``new_edits=false`` writes (the replicator's) go through CouchDB's before_doc_update
    too: the password is hashed, the revision kept, and the user can log in."""
    doc = {
        "_id": "org.couchdb.user:rita",
        "_rev": "1-abc",
        "name": "rita",
        "password": "from-elsewhere",
        "roles": [],
        "type": "user",
    }
    async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as admin:
        async with admin.post("/_users/_bulk_docs", json={"docs": [doc], "new_edits": False}) as r:
            assert r.status == 201, await r.text()
        async with admin.get("/_users/org.couchdb.user:rita") as r:
            stored = await json_of(r)
    assert stored["_rev"] == "1-abc"
    assert "password" not in stored
    assert stored["password_scheme"] == "pbkdf2" and stored["derived_key"]
    rita = basic("rita", "from-elsewhere")
    assert await status_of(server, "GET", "/_session", rita) == 200
    async with aiohttp.ClientSession(server.url) as anon:
        replicated = {**doc, "_rev": "1-def"}
        async with anon.post(
            "/_users/_bulk_docs", json={"docs": [replicated], "new_edits": False}
        ) as r:
            assert r.status == 401  # only admins replicate into _users
