"""``HttpStore`` authenticating to real remotes: Basic, a JWT ``Bearer``, a ``_session`` cookie
(logged in once, refreshed from ``Set-Cookie``, logged in again once it expired), and https
verified against a test CA (``trustme``).

The peers are our server and the real CouchDB 3.5, both with a short ``[chttpd_auth] timeout``
so a cookie really expires during a test; the user is an ordinary ``_users`` member of a
database nobody else may read, so an expired cookie (which CouchDB treats as no credential)
really meets a 401. What the client sent is observed with aiohttp's request tracing on a session
the test lends the store; nothing of ours is replaced.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import jwt
import pytest
import pytest_asyncio
import trustme
from aiohttp import web
from couch import CouchServer
from http_api.conftest import ADMIN, PASSWORD, TEST_ITERATIONS, serving
from http_api.conftest import test_settings as server_settings
from http_api.couch_peer import ask, couch_config, wait_until
from hypothesis import given
from hypothesis import strategies as st
from replication.test_replicate import state, write_corpus

from brainlink_docs.config import AuthSettings
from brainlink_docs.errors import BadRequest, Unauthorized, Unavailable, UntrustedPeer
from brainlink_docs.http.auth import basic_credentials
from brainlink_docs.http.server import start
from brainlink_docs.replication import replicate
from brainlink_docs.store.endpoints import open_endpoint, split_userinfo
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.http.auth import Basic, Bearer, CookieSession, as_auth
from brainlink_docs.store.sqlite import SqliteStore

# Seconds a session cookie lives on both peers during these tests: long enough for a test's
# requests, short enough to wait out. Both refresh it once a tenth of it has passed.
COOKIE_TIMEOUT_S = 4
# Cookies carry whole seconds: past this a cookie issued at any instant has expired.
EXPIRED_AFTER_S = COOKIE_TIMEOUT_S + 1.2
# Past a tenth of the timeout, well before expiry: the next answer carries a fresh cookie.
REFRESH_AFTER_S = 1.2
HMAC_KEY = b"remote-auth-test-key-0123456789abcdef"
BAD_PASSWORD = "Name or password is incorrect."
NOT_MEMBER = "You are not authorized to access this db."


@dataclass(frozen=True, slots=True)
class Peer:
    """A server under test: its root URL (no credentials) and its admin."""

    kind: str
    url: str
    admin: tuple[str, str]


@dataclass(frozen=True, slots=True)
class Account:
    """An ordinary user and the database only that user (and admins) may use."""

    peer: Peer
    name: str
    password: str
    db_url: str


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request as it left the client, with the status it got."""

    method: str
    path: str
    status: int
    cookie: str | None
    authorization: str | None


def our_auth_settings() -> AuthSettings:
    return AuthSettings(
        secret="remote-auth-cookie-secret",
        iterations=TEST_ITERATIONS,
        timeout=COOKIE_TIMEOUT_S,
        jwt_keys={"hmac:_default": base64.b64encode(HMAC_KEY).decode()},
        # Wrong-password tests must not lock the next test out.
        lockout_mode="off",
    )


@pytest.fixture(params=["ours", pytest.param("couchdb", marks=pytest.mark.couchdb)])
async def peer(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Peer]:
    if request.param == "ours":
        async with serving(tmp_path / "data", auth=our_auth_settings()) as server:
            yield Peer("ours", server.url, (ADMIN, PASSWORD))
        return
    couch: CouchServer = request.getfixturevalue("couchdb")
    timeout = {("chttpd_auth", "timeout"): str(COOKIE_TIMEOUT_S)}
    async with couch_config(couch, timeout):
        yield Peer("couchdb", couch.bare_url, couch.auth)


@pytest.fixture
async def account(peer: Peer) -> AsyncIterator[Account]:
    """A fresh user (a fresh name each time: CouchDB's lockout counts failures per user) and a
    database whose ``_security`` admits only that user."""
    name, password, db = (
        f"u{uuid.uuid4().hex[:10]}",
        "pw-" + uuid.uuid4().hex,
        f"t{uuid.uuid4().hex}",
    )
    user_path = f"/_users/org.couchdb.user:{name}"
    user = {"_id": user_path.rpartition("/")[2], "name": name, "password": password}
    user |= {"roles": [], "type": "user"}
    made = await ask(peer.url, "PUT", user_path, json_body=user, auth=peer.admin)
    assert made.status in (201, 202), made.body
    databases = await HttpDatabases.connect(peer.url, auth=peer.admin)
    try:
        await databases.create(db)
        security = {"members": {"names": [name], "roles": []}}
        put = await ask(peer.url, "PUT", f"/{db}/_security", json_body=security, auth=peer.admin)
        assert put.status == 200, put.body
        yield Account(peer, name, password, f"{peer.url}/{db}")
        await databases.delete(db)
    finally:
        await databases.close()


@contextlib.asynccontextmanager
async def traced() -> AsyncIterator[tuple[aiohttp.ClientSession, list[Exchange]]]:
    """A session to lend a store, recording each request it sends."""
    seen: list[Exchange] = []

    async def on_end(
        _session: aiohttp.ClientSession, _ctx: SimpleNamespace, p: aiohttp.TraceRequestEndParams
    ) -> None:
        seen.append(
            Exchange(
                p.method,
                p.url.path,
                p.response.status,
                p.headers.get("Cookie"),
                p.headers.get("Authorization"),
            )
        )

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(on_end)
    jar = aiohttp.DummyCookieJar()  # what the store sends is its own doing, not a jar's
    async with aiohttp.ClientSession(trace_configs=[trace], cookie_jar=jar) as session:
        yield session, seen


def bearer(exp_in: float, key: bytes = HMAC_KEY) -> Bearer:
    """A token for a server admin (roles in CouchDB's default claim) expiring in ``exp_in`` s."""
    claims = {"sub": "jwt-admin", "exp": int(time.time() + exp_in), "_couchdb.roles": ["_admin"]}
    return Bearer(jwt.encode(claims, key, algorithm="HS256"))


def logins(seen: list[Exchange]) -> list[Exchange]:
    return [e for e in seen if e.path == "/_session"]


# --- Basic, as a law ------------------------------------------------------------------------


@given(
    login=st.text(st.characters(blacklist_characters=":", blacklist_categories=["Cs"])),
    password=st.text(st.characters(blacklist_categories=["Cs"])),
)
def test_a_basic_header_is_read_back_as_the_same_login_and_password(
    login: str, password: str
) -> None:
    # The server's own reader (chttpd's rule: UTF-8, split at the first colon) is the judge.
    header = Basic(login, password).header()
    assert header.startswith("Basic ")
    assert basic_credentials(header) == (login, password)
    assert as_auth((login, password)) == Basic(login, password)


@pytest.mark.parametrize(
    ("url", "bare", "credentials"),
    [
        ("https://al%40ice:p%3Ass@h:6984/db", "https://h:6984/db", ("al@ice", "p:ss")),
        ("http://bob@h/db", "http://h/db", ("bob", "")),
        ("http://h/db", "http://h/db", None),
    ],
)
def test_userinfo_splits_off_decoded(
    url: str, bare: str, credentials: tuple[str, str] | None
) -> None:
    assert split_userinfo(url) == (bare, credentials)


# --- the protected database is protected --------------------------------------------------


async def test_without_credentials_the_members_database_is_refused(account: Account) -> None:
    store = await HttpStore.open(account.db_url)
    try:
        with pytest.raises(Unauthorized) as refused:
            await store.info()
    finally:
        await store.close()
    assert refused.value.reason == NOT_MEMBER


@pytest.mark.parametrize("way", ["basic", "cookie"])
async def test_the_member_reads_and_writes_with_basic_or_a_cookie(
    account: Account, way: str
) -> None:
    auth = (Basic if way == "basic" else CookieSession)(account.name, account.password)
    async with traced() as (session, seen):
        store = await HttpStore.open(account.db_url, auth=auth, session=session)
        result = await store.put({"_id": "note", "by": way})
        assert (await store.get("note"))["_rev"] == result.rev
        await store.close()
    if way == "basic":
        assert logins(seen) == []
        assert all(e.authorization and e.authorization.startswith("Basic ") for e in seen)
        return
    # One login at the server root, then the cookie and no password on every request.
    assert [(e.method, e.status) for e in logins(seen)] == [("POST", 200)]
    assert seen[0].path == "/_session"
    assert all(e.cookie and e.cookie.startswith("AuthSession=") for e in seen[1:])
    assert all(e.authorization is None for e in seen)


# --- cookie sessions ----------------------------------------------------------------------


async def test_a_refreshed_cookie_replaces_the_old_one_without_a_login(account: Account) -> None:
    auth = CookieSession(account.name, account.password)
    async with traced() as (session, seen):
        store = await HttpStore.open(account.db_url, auth=auth, session=session)
        await store.info()
        await asyncio.sleep(REFRESH_AFTER_S)
        await store.info()  # answered with a refreshed cookie
        await store.info()
        await store.close()
    # The second answer came past a tenth of the timeout: it set a new cookie, which the third
    # request carries (the first may have been refreshed too on a slow machine: not checked).
    before, after = seen[2].cookie, seen[3].cookie
    assert before is not None and after is not None and before != after
    assert len(logins(seen)) == 1


async def test_an_expired_cookie_is_renewed_by_one_login_and_one_retry(account: Account) -> None:
    auth = CookieSession(account.name, account.password)
    async with traced() as (session, seen):
        store = await HttpStore.open(account.db_url, auth=auth, session=session)
        await store.put({"_id": "before"})
        await asyncio.sleep(EXPIRED_AFTER_S)
        await store.put({"_id": "after"})  # 401 with the dead cookie, login, the same PUT again
        assert (await store.get("after"))["_id"] == "after"
        await store.close()
    db_path = seen[1].path.rpartition("/")[0]
    assert [(e.method, e.path, e.status) for e in seen[:6]] == [
        ("POST", "/_session", 200),
        ("PUT", f"{db_path}/before", 201),
        ("PUT", f"{db_path}/after", 401),
        ("POST", "/_session", 200),
        ("PUT", f"{db_path}/after", 201),
        ("GET", f"{db_path}/after", 200),
    ]
    assert seen[4].cookie != seen[2].cookie  # the retry carries the new login's cookie


async def test_concurrent_requests_share_one_login(account: Account) -> None:
    auth = CookieSession(account.name, account.password)
    async with traced() as (session, seen):
        store = await HttpStore.open(account.db_url, auth=auth, session=session)
        await asyncio.gather(*(store.put({"_id": f"d{i}"}) for i in range(8)))
        await asyncio.sleep(EXPIRED_AFTER_S)
        await asyncio.gather(*(store.get(f"d{i}") for i in range(8)))
        await store.close()
    assert len(logins(seen)) == 2  # the first one, and one for all eight expired requests


async def test_a_wrong_password_is_unauthorized_with_the_servers_reason(account: Account) -> None:
    auth = CookieSession(account.name, "not-" + account.password)
    async with traced() as (session, seen):
        store = await HttpStore.open(account.db_url, auth=auth, session=session)
        with pytest.raises(Unauthorized) as refused:
            await store.info()
        await store.close()
    assert refused.value.reason == BAD_PASSWORD
    assert [(e.path, e.status) for e in seen] == [("/_session", 401)]  # no retry, no request


async def test_a_password_changed_meanwhile_surfaces_after_one_login(account: Account) -> None:
    peer = account.peer
    auth = CookieSession(account.name, account.password)
    store = await HttpStore.open(account.db_url, auth=auth)
    try:
        await store.info()
        users = await HttpStore.open(f"{peer.url}/_users", auth=peer.admin)
        try:
            doc = await users.get(f"org.couchdb.user:{account.name}")
            await users.put({**doc, "password": "changed-" + account.password})
        finally:
            await users.close()
        # The cookie's MAC covers the old salt: both servers stop honouring it at once (CouchDB
        # after its auth cache sees the write), and the old password no longer logs in.
        with pytest.raises(Unauthorized) as refused:
            for _ in range(50):
                await store.info()
                await asyncio.sleep(0.1)
        assert refused.value.reason == BAD_PASSWORD
    finally:
        await store.close()


# --- JWT ----------------------------------------------------------------------------------

# CouchDB 3.5 reads [chttpd] authentication_handlers only at start: the JWT handler costs it two
# restarts (in and out), so one CouchDB configured for the whole module serves every JWT test.
JWT_HANDLERS = (
    "{chttpd_auth, jwt_authentication_handler}, {chttpd_auth, cookie_authentication_handler}, "
    "{chttpd_auth, default_authentication_handler}"
)


@pytest_asyncio.fixture(
    loop_scope="module",
    scope="module",
    params=["ours", pytest.param("couchdb", marks=pytest.mark.couchdb)],
)
async def jwt_peer(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Peer]:
    """A server that verifies HS256 tokens signed with ``HMAC_KEY``."""
    if request.param == "ours":
        data_dir = tmp_path_factory.mktemp("jwt") / "data"
        async with serving(data_dir, auth=our_auth_settings()) as server:
            yield Peer("ours", server.url, (ADMIN, PASSWORD))
        return
    couch: CouchServer = request.getfixturevalue("couchdb")
    key = base64.b64encode(HMAC_KEY).decode()
    jwt_on = {
        ("jwt_keys", "hmac:_default"): key,
        ("chttpd", "authentication_handlers"): JWT_HANDLERS,
    }
    async with couch_config(couch, jwt_on, restart_needed=True):
        ready = {"Authorization": bearer(600).header()}
        await wait_until(
            couch,
            "/_session",
            ready,
            lambda a: a.status == 200 and a.body["info"]["authenticated"] == "jwt",
            "a valid JWT after the restart",
        )
        yield Peer("couchdb", couch.bare_url, couch.auth)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_bearer_jwt_names_the_user(jwt_peer: Peer) -> None:
    name = f"t{uuid.uuid4().hex}"
    databases = await HttpDatabases.connect(jwt_peer.url, auth=bearer(600))
    try:
        store = await databases.create(name)  # only a server admin may: the token says so
        await store.put({"_id": "x"})
        assert name in await databases.list()
        await databases.delete(name)
    finally:
        await databases.close()


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(
    ("exp_in", "key", "error", "reason"),
    [
        (-10, HMAC_KEY, Unauthorized, "exp not in future"),
        # CouchDB 3.5 answers a token signed with another key 400, not 401 (jwtf's bad_request).
        (600, b"another-key-" * 3, BadRequest, "Bad HMAC"),
    ],
    ids=["expired", "forged"],
)
async def test_a_bad_jwt_is_refused_with_the_servers_error(
    jwt_peer: Peer, exp_in: float, key: bytes, error: type[Exception], reason: str
) -> None:
    # Minted here, not at collection: a long test run must not expire the "forged" one first.
    databases = await HttpDatabases.connect(jwt_peer.url, auth=bearer(exp_in, key))
    try:
        with pytest.raises(error) as refused:
            await databases.list()
    finally:
        await databases.close()
    assert getattr(refused.value, "reason", None) == reason


# --- https ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tls:
    url: str  # https root, no credentials
    ca_file: Path


@pytest.fixture(scope="module")
def test_ca() -> trustme.CA:
    return trustme.CA()


def ca_bundle(ca: trustme.CA, path: Path) -> Path:
    """``ca``'s certificate as a PEM file, what ``ca_file`` names."""
    ca.cert_pem.write_to_path(str(path))
    return path


@contextlib.asynccontextmanager
async def serving_tls(data_dir: Path, ca: trustme.CA, *hosts: str) -> AsyncIterator[str]:
    """Our server with a second, TLS, listener whose certificate ``ca`` issued for ``hosts``;
    answers the https root."""
    runner, _ = await start(server_settings(data_dir, auth=our_auth_settings()))
    try:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert(*hosts).configure_cert(context)
        plain = set(runner.addresses)
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        (address,) = (a for a in runner.addresses if a not in plain)
        yield f"https://127.0.0.1:{address[1]}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def tls(tmp_path: Path, test_ca: trustme.CA) -> AsyncIterator[Tls]:
    ca_file = ca_bundle(test_ca, tmp_path / "ca.pem")
    async with serving_tls(tmp_path / "data", test_ca, "127.0.0.1", "localhost") as url:
        yield Tls(url, ca_file)


async def test_https_with_the_ca_file_works(tls: Tls) -> None:
    databases = await HttpDatabases.connect(tls.url, auth=(ADMIN, PASSWORD), ca_file=tls.ca_file)
    try:
        store = await databases.create("secure")
        await store.put({"_id": "x", "v": 1})
        assert (await store.get("x"))["v"] == 1
    finally:
        await databases.close()


async def test_https_without_the_ca_is_an_untrusted_peer_not_an_outage(tls: Tls) -> None:
    store = await HttpStore.open(f"{tls.url}/secure", auth=(ADMIN, PASSWORD))
    try:
        with pytest.raises(UntrustedPeer) as refused:
            await store.info()
    finally:
        await store.close()
    assert not isinstance(refused.value, Unavailable)  # the replicator must not retry it
    assert "certificate is not trusted" in refused.value.reason
    assert "unable to get local issuer certificate" in refused.value.reason


async def test_a_certificate_for_another_host_is_untrusted_even_with_the_ca(
    tmp_path: Path, test_ca: trustme.CA
) -> None:
    ca_file = ca_bundle(test_ca, tmp_path / "ca.pem")
    async with serving_tls(tmp_path / "data", test_ca, "db.example.org") as url:
        store = await HttpStore.open(f"{url}/x", auth=(ADMIN, PASSWORD), ca_file=ca_file)
        try:
            with pytest.raises(UntrustedPeer) as refused:
                await store.info()
        finally:
            await store.close()
    assert "127.0.0.1" in refused.value.reason  # the verifier names the mismatch


async def test_the_replicator_runs_over_https_with_a_cookie_session(
    tls: Tls, tmp_path: Path
) -> None:
    source = await SqliteStore.open(tmp_path / "source.sqlite")
    target = await open_endpoint(
        f"{tls.url}/copy",
        create=True,
        auth=CookieSession(ADMIN, PASSWORD),
        ca_file=tls.ca_file,
    )
    try:
        written = await write_corpus(source)
        result = await replicate(source, target)
        assert result.stats["docs_written"] > 0
        expected: dict[str, Any] = await state(source)
        assert set(expected) >= set(written)
        assert await state(target) == expected
        assert (await replicate(source, target)).no_changes
    finally:
        await target.close()
        await source.close()
