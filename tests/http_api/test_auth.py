"""Authentication, as a CouchDB 3.x with ``[chttpd] require_valid_user = true`` answers.

Every request but the welcome page and ``/_up`` needs the admin's basic-auth credentials:
without them it is 401 ``Authentication required.`` (``couch_httpd_auth:party_mode_handler``),
with a wrong name or password it is 401 ``Name or password is incorrect.``
(``default_authentication_handler``), and a malformed ``Authorization`` header is the client's
error (400 or 401), never the server's.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from brainlink_docs.config import AuthSettings

from .conftest import TEST_ITERATIONS, Server, serving
from .helpers import SYSTEM_DBS, create_db, json_of, put_doc

AUTH_REQUIRED = {"error": "unauthorized", "reason": "Authentication required."}
BAD_CREDENTIALS = {"error": "unauthorized", "reason": "Name or password is incorrect."}

# (method, path, JSON body) across every resource family the server routes.
PROTECTED: list[tuple[str, str, Any]] = [
    ("GET", "/_all_dbs", None),
    ("GET", "/_dbs_info", None),
    ("POST", "/_dbs_info", {"keys": ["db"]}),
    ("GET", "/_uuids", None),
    ("GET", "/_session", None),
    ("GET", "/_active_tasks", None),
    ("GET", "/db", None),
    ("HEAD", "/db", None),
    ("PUT", "/newdb", None),
    ("DELETE", "/db", None),
    ("POST", "/db", {"a": 1}),
    ("GET", "/db/doc", None),
    ("PUT", "/db/doc", {"a": 1}),
    ("DELETE", "/db/doc?rev=1-abc", None),
    ("GET", "/db/doc/att.txt", None),
    ("GET", "/db/_design/ddoc", None),
    ("GET", "/db/_local/loc", None),
    ("GET", "/db/_all_docs", None),
    ("POST", "/db/_all_docs", {"keys": ["doc"]}),
    ("POST", "/db/_bulk_docs", {"docs": [{"_id": "x"}]}),
    ("POST", "/db/_bulk_get", {"docs": [{"id": "doc"}]}),
    ("POST", "/db/_revs_diff", {"doc": ["1-abc"]}),
    ("GET", "/db/_changes", None),
    ("GET", "/db/_security", None),
    ("PUT", "/db/_security", {}),
    ("GET", "/db/_revs_limit", None),
    ("POST", "/db/_compact", {}),
    ("POST", "/db/_purge", {"doc": ["1-abc"]}),
    ("GET", "/nonexistent/doc", None),
]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    """Our server with ``require_valid_user`` (CouchDB's default is off: see test_access)."""
    auth = AuthSettings(secret="s", iterations=TEST_ITERATIONS, require_valid_user=True)
    async with serving(tmp_path / "data", auth=auth) as running:
        yield running


def basic(raw: str) -> str:
    return "Basic " + base64.b64encode(raw.encode()).decode()


@pytest.fixture
async def anonymous(
    server: Server, client: aiohttp.ClientSession
) -> AsyncIterator[aiohttp.ClientSession]:
    """A session without credentials, after the admin created ``db`` with one document."""
    await create_db(client)
    await put_doc(client, "/db/doc", {"a": 1})
    async with aiohttp.ClientSession(server.url) as session:
        yield session


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED)
async def test_request_without_credentials_is_401_authentication_required(
    anonymous: aiohttp.ClientSession, method: str, path: str, body: Any
) -> None:
    async with anonymous.request(method, path, json=body) as r:
        assert r.status == 401
        if method != "HEAD":
            assert await json_of(r) == AUTH_REQUIRED


async def test_401_without_credentials_challenges_for_basic_auth(
    anonymous: aiohttp.ClientSession,
) -> None:
    # With require_valid_user, chttpd:error_headers sends the basic-auth challenge on every
    # 401 "unauthorized" so that clients (and browsers) know to retry with credentials.
    async with anonymous.get("/_all_dbs") as r:
        assert r.status == 401
        assert r.headers.get("WWW-Authenticate", "").lower().startswith("basic")


@pytest.mark.parametrize("path", ["/", "/_up"])
async def test_welcome_and_up_answer_without_credentials(
    anonymous: aiohttp.ClientSession, path: str
) -> None:
    async with anonymous.get(path) as r:
        assert r.status == 200


async def test_unauthenticated_write_changes_nothing(
    anonymous: aiohttp.ClientSession, client: aiohttp.ClientSession
) -> None:
    async with anonymous.put("/sneaky") as r:
        assert r.status == 401
    async with anonymous.put("/db/planted", json={"evil": True}) as r:
        assert r.status == 401
    async with anonymous.delete("/db") as r:
        assert r.status == 401
    async with client.get("/sneaky") as r:
        assert r.status == 404
    async with client.get("/db/planted") as r:
        assert r.status == 404
    async with client.get("/db") as r:
        assert r.status == 200
        assert (await json_of(r))["doc_count"] == 1


@pytest.mark.parametrize(
    "credentials",
    [
        ("admin", "wrong-password"),
        ("admin", ""),
        ("nobody", "s3cret-pass"),
        ("Admin", "s3cret-pass"),
        ("", ""),
    ],
)
@pytest.mark.parametrize("path", ["/_all_dbs", "/db/doc", "/"])
async def test_wrong_name_or_password_is_401_name_or_password_incorrect(
    anonymous: aiohttp.ClientSession, credentials: tuple[str, str], path: str
) -> None:
    header = aiohttp.encode_basic_auth(*credentials)
    async with anonymous.get(path, headers={"Authorization": header}) as r:
        assert r.status == 401
        assert await json_of(r) == BAD_CREDENTIALS


async def test_right_password_after_a_wrong_one_is_accepted(
    anonymous: aiohttp.ClientSession, server: Server
) -> None:
    wrong = aiohttp.encode_basic_auth(server.admin, "nope")
    async with anonymous.get("/_all_dbs", headers={"Authorization": wrong}) as r:
        assert r.status == 401
    async with anonymous.get("/_all_dbs", headers=server.auth_headers) as r:
        assert r.status == 200
        assert await json_of(r) == [*SYSTEM_DBS, "db"]


async def test_cached_credentials_do_not_accept_another_password(
    anonymous: aiohttp.ClientSession, server: Server
) -> None:
    # A verified password is remembered; a different one for the same name must still fail.
    for _ in range(2):
        async with anonymous.get("/_all_dbs", headers=server.auth_headers) as r:
            assert r.status == 200
    wrong = aiohttp.encode_basic_auth(server.admin, server.password + "x")
    async with anonymous.get("/_all_dbs", headers={"Authorization": wrong}) as r:
        assert r.status == 401


async def test_session_names_the_authenticated_admin(
    client: aiohttp.ClientSession, server: Server
) -> None:
    async with client.get("/_session") as r:
        assert r.status == 200
        body = await json_of(r)
    assert body["ok"] is True
    assert body["userCtx"]["name"] == server.admin
    assert "_admin" in body["userCtx"]["roles"]


MALFORMED = [
    "Basic",
    "Basic ",
    "Basic !!!not-base64!!!",
    "Basic " + "A" * 5,  # bad padding
    basic("no-colon-here"),
    "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),  # not UTF-8
    "Bearer some.jwt.token",
    "Digest username=admin",
    "basic",
    "Basic " + base64.b64encode(b"admin:" + b"p" * 20000).decode(),
    "Basic YWRtaW46czNjcmV0LXBhc3M=extra",
    "\tBasic YWRtaW4=",
]


@pytest.mark.parametrize("header", MALFORMED)
async def test_malformed_authorization_header_is_a_client_error_never_500(
    anonymous: aiohttp.ClientSession, header: str
) -> None:
    async with anonymous.get("/_all_dbs", headers={"Authorization": header}) as r:
        assert r.status in {400, 401}, await r.text()
        body = await json_of(r)
    assert body["error"] in {"bad_request", "unauthorized"}
    assert isinstance(body["reason"], str)


async def test_server_still_answers_after_malformed_headers(
    anonymous: aiohttp.ClientSession, server: Server
) -> None:
    for header in MALFORMED:
        async with anonymous.get("/_all_dbs", headers={"Authorization": header}) as r:
            assert r.status < 500
    async with anonymous.get("/_all_dbs", headers=server.auth_headers) as r:
        assert r.status == 200
