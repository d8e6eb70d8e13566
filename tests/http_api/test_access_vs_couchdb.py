"""Access behaviour, the same requests to the real CouchDB 3.5 and to our server: JWT errors,
CORS preflights, ``POST /_session`` failures, a new database's ``_security``, the lockout and
the welcome page's ``features``.

Where we depart from CouchDB on purpose the test says so next to the case, with the reason; the
README's departures paragraph lists them too.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from couch import CouchServer

from brainlink_docs.config import AuthSettings, CorsSettings

from .conftest import ADMIN, TEST_ITERATIONS, Server, serving
from .conftest import PASSWORD as ADMIN_PASSWORD
from .couch_peer import Answer, admin_auth, ask, couch_config, wait_until

HMAC_KEY = b"differential-jwt-key-0123456789ab"
APP = "http://app.example:8080"
PASSWORD = "pw-Secret-1"
# How long CouchDB's chttpd_auth_cache may take to see a changed _users document.
AUTH_CACHE_LAG_S = 5.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token(header: dict[str, Any], claims: dict[str, Any], key: bytes | None = HMAC_KEY) -> str:
    """A token signed by hand (HMAC-SHA256), or unsigned with ``key=None``."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if key is None:
        return signing_input + "."
    return signing_input + "." + b64url(hmac.digest(key, signing_input.encode(), hashlib.sha256))


def error_of(answer: Answer) -> tuple[int, Any, Any]:
    body = answer.body if isinstance(answer.body, dict) else {}
    return answer.status, body.get("error"), body.get("reason")


# ---- JWT ---------------------------------------------------------------------------------


def _tokens() -> dict[str, str]:
    now = int(time.time())
    good = {"sub": "jwtuser", "exp": now + 600}
    hs = {"alg": "HS256", "typ": "JWT"}
    return {
        "good": token(hs, good),
        "bad signature": token(hs, good, b"not-the-key-but-as-long-as-it-0123"),
        "garbage": "garbage",
        "two segments": "abc.def",
        "alg none": token({"alg": "none"}, good, None),
        "unknown alg": token({"alg": "XX256"}, good),
        "unknown kid": token({**hs, "kid": "nope"}, good),
        "no exp": token(hs, {"sub": "jwtuser"}),
        "expired": token(hs, {"sub": "jwtuser", "exp": now - 10}),
        "no sub": token(hs, {"exp": now + 600}),
    }


JWT_CASES = list(_tokens())


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def jwt_servers(
    couchdb: CouchServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[str, str]]:
    """(CouchDB's URL, ours), both with ``[jwt_keys] hmac:_default`` and the JWT handler."""
    key = base64.b64encode(HMAC_KEY).decode()
    handlers = (
        "{chttpd_auth, jwt_authentication_handler}, {chttpd_auth, cookie_authentication_handler}, "
        "{chttpd_auth, default_authentication_handler}"
    )
    settings = {("jwt_keys", "hmac:_default"): key, ("chttpd", "authentication_handlers"): handlers}
    auth = AuthSettings(
        secret="s" * 32,
        iterations=TEST_ITERATIONS,
        jwt_keys={"hmac:_default": key},
        lockout_mode="off",
    )
    data_dir = tmp_path_factory.mktemp("jwt") / "data"
    async with (
        couch_config(couchdb, settings, restart_needed=True),
        serving(data_dir, auth=auth) as ours,
    ):
        good = {"Authorization": f"Bearer {_tokens()['good']}"}
        await wait_until(
            couchdb,
            "/_session",
            good,
            lambda a: a.status == 200 and a.body["userCtx"]["name"] == "jwtuser",
            "a valid JWT after the restart",
        )
        yield couchdb.bare_url, ours.url


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", JWT_CASES)
async def test_a_jwt_gets_couchdbs_status_error_and_reason(
    jwt_servers: tuple[str, str], case: str
) -> None:
    couch_url, our_url = jwt_servers
    headers = {"Authorization": f"Bearer {_tokens()[case]}"}
    couch = await ask(couch_url, "GET", "/_session", headers=headers)
    ours = await ask(our_url, "GET", "/_session", headers=headers)
    assert error_of(ours) == error_of(couch), (ours.body, couch.body)
    if couch.status == 200:
        assert ours.body["userCtx"] == couch.body["userCtx"]
        assert ours.body["info"]["authenticated"] == couch.body["info"]["authenticated"] == "jwt"


def test_a_token_without_exp_is_refused_by_default() -> None:
    # CouchDB's [jwt_auth] required_claims defaults to exp; a token without one never expires.
    assert AuthSettings().jwt_required_claims == ("exp",)


# Departures, on purpose: CouchDB 3.5 authenticates these; we refuse them (401, or 400 for a
# sub that is not a string, which PyJWT reads as a malformed token).
# - sub "" or 42: CouchDB makes a user named "" or 42; a name must be a non-empty string.
# - nbf in the future: CouchDB checks nbf only when required_claims lists it; a token that says
#   it is not valid yet is not valid yet.
# - roles claim not a list of strings: CouchDB drops it silently; we refuse the token rather than
#   guess what its issuer meant.
JWT_DEPARTURES = {
    "empty sub": lambda now: {"sub": "", "exp": now + 600},
    "numeric sub": lambda now: {"sub": 42, "exp": now + 600},
    "nbf in the future": lambda now: {"sub": "jwtuser", "exp": now + 600, "nbf": now + 3600},
    "roles not a list": lambda now: {"sub": "u", "exp": now + 600, "_couchdb": {"roles": "_admin"}},
}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("case", list(JWT_DEPARTURES))
async def test_jwt_departures_couchdb_accepts_and_we_refuse(
    jwt_servers: tuple[str, str], case: str
) -> None:
    couch_url, our_url = jwt_servers
    claims = JWT_DEPARTURES[case](int(time.time()))
    headers = {"Authorization": f"Bearer {token({'alg': 'HS256'}, claims)}"}
    couch = await ask(couch_url, "GET", "/_session", headers=headers)
    ours = await ask(our_url, "GET", "/_session", headers=headers)
    assert couch.status == 200, couch.body  # should CouchDB change, this list must too
    assert ours.status in (400, 401) and ours.body["error"] in ("unauthorized", "bad_request")


# ---- CORS --------------------------------------------------------------------------------

CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Expose-Headers",
)


@pytest_asyncio.fixture
async def cors_servers(couchdb: CouchServer, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    settings = {
        ("chttpd", "enable_cors"): "true",
        ("cors", "origins"): APP,
        ("cors", "credentials"): "true",
    }
    cors = CorsSettings(enabled=True, origins=(APP,), credentials=True)
    async with couch_config(couchdb, settings), serving(tmp_path / "data", cors=cors) as ours:
        yield couchdb.bare_url, ours.url


def cors_of(answer: Answer) -> dict[str, str | None]:
    return {h: answer.headers.get(h) for h in CORS_HEADERS}


@pytest.mark.parametrize(
    "requested",
    [None, "content-type", "Content-Type, If-Match", "authorization", "x-requested-with"],
)
async def test_an_allowed_preflight_is_couchdbs_204(
    cors_servers: tuple[str, str], requested: str | None
) -> None:
    headers = {"Origin": APP, "Access-Control-Request-Method": "PUT"}
    if requested is not None:
        headers["Access-Control-Request-Headers"] = requested
    answers = [await ask(url, "OPTIONS", "/db/doc", headers=headers) for url in cors_servers]
    couch, ours = answers
    assert couch.status == 204
    assert (ours.status, cors_of(ours)) == (couch.status, cors_of(couch))


@pytest.mark.parametrize(
    ("origin", "method", "requested"),
    [
        ("http://evil.example", "PUT", "content-type"),  # origin not listed
        (APP, "PATCH", "content-type"),  # method not allowed
        (APP, "PUT", "x-secret-header"),  # header not allowed
        (APP, "PUT", "range"),  # safelisted by browsers, not by CouchDB
    ],
)
async def test_a_refused_preflight_grants_nothing_as_on_couchdb(
    cors_servers: tuple[str, str], origin: str, method: str, requested: str
) -> None:
    # CouchDB handles a refused preflight as a plain OPTIONS request (a 401 or 405, with
    # Allow-Origin when the origin is listed); we answer 200 with no CORS header at all. Either
    # way the browser gets no Allow-Methods/Allow-Headers, which is what refuses the request.
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": requested,
    }
    for url in cors_servers:
        answer = await ask(url, "OPTIONS", "/db/doc", headers=headers)
        assert answer.status != 204, url
        assert "Access-Control-Allow-Methods" not in answer.headers, url
        assert "Access-Control-Allow-Headers" not in answer.headers, url


@pytest.mark.parametrize("path", ["/", "/nosuchdb"])
async def test_an_answer_to_an_allowed_origin_exposes_couchdbs_headers(
    cors_servers: tuple[str, str], path: str
) -> None:
    couch, ours = [await ask(url, "GET", path, headers={"Origin": APP}) for url in cors_servers]
    assert ours.status == couch.status
    assert cors_of(ours) == cors_of(couch)
    assert "x-couch-update-newrev" in (ours.headers["Access-Control-Expose-Headers"])


# ---- POST /_session ----------------------------------------------------------------------


@pytest_asyncio.fixture
async def session_servers(couchdb: CouchServer, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    """Both servers with a user ``sess-<time>`` whose password is PASSWORD."""
    name = f"sess-{time.time_ns()}"
    doc = {"name": name, "password": PASSWORD, "roles": [], "type": "user"}
    path = f"/_users/org.couchdb.user:{name}"
    async with serving(tmp_path / "data") as ours:
        for url, auth in ((couchdb.bare_url, admin_auth(couchdb)), (ours.url, _our_admin(ours))):
            created = await ask(url, "PUT", path, json_body=doc, auth=auth)
            assert created.status in (201, 202), created.body
        try:
            yield name, ours.url
        finally:
            await _delete(couchdb.bare_url, path, admin_auth(couchdb))


def _our_admin(server: Server) -> tuple[str, str]:
    return (server.admin, server.password)


async def _delete(url: str, path: str, auth: tuple[str, str]) -> None:
    current = await ask(url, "GET", path, auth=auth)
    if current.status == 200:
        gone = await ask(url, "DELETE", f"{path}?rev={current.body['_rev']}", auth=auth)
        assert gone.status in (200, 202), gone.body


@pytest.mark.parametrize("form", ["json", "form"])
async def test_a_wrong_password_is_401_and_clears_the_cookie(
    couchdb: CouchServer, session_servers: tuple[str, str], form: str
) -> None:
    name, our_url = session_servers
    if form == "json":
        kwargs: dict[str, Any] = {"json_body": {"name": name, "password": "wrong"}}
    else:
        kwargs = {
            "data": f"name={name}&password=wrong".encode(),
            "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        }
    couch = await ask(couchdb.bare_url, "POST", "/_session", **kwargs)
    ours = await ask(our_url, "POST", "/_session", **kwargs)
    assert (
        error_of(ours)
        == error_of(couch)
        == (
            401,
            "unauthorized",
            "Name or password is incorrect.",
        )
    )
    assert couch.cookie() == ""
    assert ours.cookie() == "", ours.headers.getall("Set-Cookie", [])
    assert "HttpOnly" in ours.headers["Set-Cookie"] and "Path=/" in ours.headers["Set-Cookie"]


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
async def test_a_login_body_neither_json_nor_form_is_415(
    couchdb: CouchServer, session_servers: tuple[str, str], content_type: str | None
) -> None:
    name, our_url = session_servers
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = f"name={name}&password={PASSWORD}".encode()
    answers = [
        await ask(url, "POST", "/_session", data=body, headers=headers)
        for url in (couchdb.bare_url, our_url)
    ]
    couch, ours = answers
    assert couch.status == 415
    assert (ours.status, ours.body) == (couch.status, couch.body)
    assert ours.cookie() is None


# ---- a new database's _security ----------------------------------------------------------


async def test_a_new_databases_security_reads_back_as_couchdbs(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    db = f"fresh-{time.time_ns()}"
    async with serving(tmp_path / "data") as ours:
        answers = []
        for url, auth in ((couchdb.bare_url, admin_auth(couchdb)), (ours.url, _our_admin(ours))):
            created = await ask(url, "PUT", f"/{db}", auth=auth)
            assert created.status in (201, 202), created.body
            try:
                answers.append(await ask(url, "GET", f"/{db}/_security", auth=auth))
            finally:
                await ask(url, "DELETE", f"/{db}", auth=auth)
    couch, ours_answer = answers
    assert couch.body == {"members": {"roles": ["_admin"]}, "admins": {"roles": ["_admin"]}}
    assert ours_answer.body == couch.body
    assert list(ours_answer.body) == list(couch.body)


# ---- lockout -----------------------------------------------------------------------------


async def test_a_new_password_set_by_an_admin_unlocks_a_locked_out_user(
    couchdb: CouchServer, session_servers: tuple[str, str]
) -> None:
    # CouchDB keys its lockout by the user's salt too: a new password is a new salt.
    name, our_url = session_servers
    path = f"/_users/org.couchdb.user:{name}"
    admins = {
        couchdb.bare_url: admin_auth(couchdb),
        our_url: (ADMIN, ADMIN_PASSWORD),
    }
    for url, admin in admins.items():
        wrong = (name, "wrong")
        statuses = [(await ask(url, "GET", "/_session", auth=wrong)).status for _ in range(6)]
        assert statuses[-1] == 403, (url, statuses)
        right = await ask(url, "GET", "/_session", auth=(name, PASSWORD))
        assert error_of(right)[:2] == (403, "forbidden"), (url, right.body)
        doc = (await ask(url, "GET", path, auth=admin)).body
        new = {**doc, "password": "brand-new-pw"}
        saved = await ask(url, "PUT", path, json_body=new, auth=admin)
        assert saved.status in (201, 202), saved.body
        after = await ask(url, "GET", "/_session", auth=(name, "brand-new-pw"))
        # CouchDB's auth cache follows _users' changes feed a moment later; ours at once.
        deadline = time.monotonic() + (AUTH_CACHE_LAG_S if url == couchdb.bare_url else 0)
        while after.status != 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            after = await ask(url, "GET", "/_session", auth=(name, "brand-new-pw"))
        assert after.status == 200, (url, after.body)
        assert after.body["userCtx"]["name"] == name


# ---- GET / -------------------------------------------------------------------------------

# What CouchDB 3.5 lists and why we do not: each names a part of CouchDB we do not have.
NOT_OURS = {
    "quickjs": "no JavaScript engine: no map/reduce views nor validate_doc_update functions",
    "access-ready": "no per-document _access control",
    "partitioned": "no partitioned databases (?partitioned=true, /db/_partition/...)",
    "pluggable-storage-engines": "one storage engine (SQLite); no ?engine= on PUT /db",
    "reshard": "no /_reshard: one SQLite file per database, no shards",
}
# What CouchDB 3.5 lists and we have too.
OURS = ["scheduler"]


async def test_welcome_features_are_only_what_we_implement(
    couchdb: CouchServer, server: Server
) -> None:
    couch = await ask(couchdb.bare_url, "GET", "/")
    ours = await ask(server.url, "GET", "/")
    assert set(couch.body["features"]) <= set(NOT_OURS) | set(OURS), couch.body["features"]
    assert ours.body["features"] == OURS
    assert set(OURS) <= set(couch.body["features"])  # a feature of CouchDB's, not of ours


# ---- logout ------------------------------------------------------------------------------


async def test_logout_revokes_our_cookie_where_couchdbs_lives_on(
    couchdb: CouchServer, session_servers: tuple[str, str]
) -> None:
    # A departure on purpose: CouchDB's cookie stays good until it expires, even after logout.
    name, our_url = session_servers
    still_logged_in = {}
    for url in (couchdb.bare_url, our_url):
        login = await ask(url, "POST", "/_session", json_body={"name": name, "password": PASSWORD})
        assert login.status == 200, login.body
        cookie = {"Cookie": f"AuthSession={login.cookie()}"}
        logout = await ask(url, "DELETE", "/_session", headers=cookie)
        assert logout.status == 200 and logout.cookie() == ""
        after = await ask(url, "GET", "/_session", headers=cookie)
        still_logged_in[url] = after.body["userCtx"]["name"] == name
    assert still_logged_in == {couchdb.bare_url: True, our_url: False}
