"""``_session`` cookies and ``_users`` accounts over real HTTP, as CouchDB 3.x answers them.

Logins (JSON and form-encoded) set an ``AuthSession`` cookie shaped by ``[chttpd_auth]``; the
cookie is ``base64url(name:HEXTIME:hmac)`` keyed by the server secret and the user's salt, so it
cannot be made without both, dies with a password change, expires ``timeout`` seconds after its
timestamp and is refreshed once 10% of its life has passed. Logout revokes it on our server (a
departure from CouchDB, where a copied cookie lives until it expires). Every forged, expired,
revoked or re-encoded cookie must leave the request anonymous; a malformed one is a 400.

The ``_users`` half: anyone signs up (unless ``public_signup`` is off), the clear-text password is
replaced by a PBKDF2 hash before anything reaches the disk, and a user reads and writes only their
own document, without its hash and without new roles.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlink_docs.config import AuthSettings
from brainlink_docs.security.sessions import make_cookie

from .conftest import TEST_ITERATIONS, Server, serving
from .helpers import json_of

SECRET = "sessions-test-secret"
TIMEOUT = 600  # CouchDB's [chttpd_auth] timeout default
BAD_CREDENTIALS = {"error": "unauthorized", "reason": "Name or password is incorrect."}
MALFORMED_COOKIE = {
    "error": "bad_request",
    "reason": "Malformed AuthSession cookie. Please clear your cookies.",
}
# Fields of a stored user document that would let its reader attack the password offline.
SECRET_FIELDS = ("derived_key", "salt", "password_sha", "password")
ALICE, ALICE_PW = "alice", "alice-pass-9f3c"
BOB, BOB_PW = "bob", "bob-pass-71ad"
PRIVATE = "private"  # a database whose only member is alice


def auth_settings(**overrides: Any) -> AuthSettings:
    values: dict[str, Any] = {"secret": SECRET, "iterations": TEST_ITERATIONS, "timeout": TIMEOUT}
    values.update(overrides)
    return AuthSettings(**values)


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(name, password)}


def with_cookie(value: str) -> dict[str, str]:
    return {"Cookie": f"AuthSession={value}"}


def user_doc(name: str, password: str | None = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user"}
    doc["roles"] = extra.pop("roles", [])
    if password is not None:
        doc["password"] = password
    return {**doc, **extra}


def set_cookie_attrs(header: str) -> tuple[str, dict[str, str]]:
    """``AuthSession`` value and the attributes (lower-cased names) of one ``Set-Cookie``."""
    first, *rest = header.split("; ")
    name, _, value = first.partition("=")
    assert name == "AuthSession", header
    attrs = {}
    for part in rest:
        key, _, val = part.partition("=")
        attrs[key.lower()] = val
    return value, attrs


def decode_cookie(value: str) -> tuple[str, int, bytes]:
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    name, issued, mac = raw.split(b":", 2)
    return name.decode(), int(issued, 16), mac


def encode_cookie(name: str, issued_text: str, mac: bytes) -> str:
    raw = f"{name}:{issued_text}:".encode() + mac
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class World:
    server: Server
    anon: aiohttp.ClientSession  # no credentials, keeps no cookies
    admin: aiohttp.ClientSession

    async def request(
        self, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any, aiohttp.ClientResponse]:
        async with self.anon.request(
            method, path, headers=headers, allow_redirects=False, **kw
        ) as r:
            raw = await r.read()
            body = json.loads(raw) if raw and method != "HEAD" else None
            return r.status, body, r

    async def signup(self, name: str, password: str, **extra: Any) -> None:
        doc = user_doc(name, password, **extra)
        status, body, _ = await self.request("PUT", f"/_users/{doc['_id']}", json=doc)
        assert status == 201, body

    async def login(self, name: str, password: str) -> str:
        """``POST /_session``; the cookie value it sets."""
        payload = {"name": name, "password": password}
        status, body, r = await self.request("POST", "/_session", json=payload)
        assert status == 200, body
        value, _ = set_cookie_attrs(r.headers["Set-Cookie"])
        return value

    async def who(self, headers: dict[str, str]) -> tuple[int, Any]:
        """``GET /_session``: the status and, when 200, the body."""
        status, body, _ = await self.request("GET", "/_session", headers=headers)
        return status, body

    async def stored(self, name: str) -> dict[str, Any]:
        async with self.admin.get(f"/_users/org.couchdb.user:{name}") as r:
            assert r.status == 200, await r.text()
            return await json_of(r)

    async def salt(self, name: str) -> str:
        return (await self.stored(name))["salt"]


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[World]:
    """A server with users alice and bob and a database only alice may use."""
    async with (
        serving(tmp_path / "data", auth=auth_settings()) as server,
        aiohttp.ClientSession(server.url, cookie_jar=aiohttp.DummyCookieJar()) as anon,
        aiohttp.ClientSession(
            server.url, headers=server.auth_headers, cookie_jar=aiohttp.DummyCookieJar()
        ) as admin,
    ):
        w = World(server, anon, admin)
        await w.signup(ALICE, ALICE_PW)
        await w.signup(BOB, BOB_PW)
        async with admin.put(f"/{PRIVATE}") as r:
            assert r.status == 201
        security = {"members": {"names": [ALICE], "roles": []}}
        async with admin.put(f"/{PRIVATE}/_security", json=security) as r:
            assert r.status == 200
        async with admin.put(f"/{PRIVATE}/doc", json={"secret": "alice-only"}) as r:
            assert r.status == 201
        yield w


async def assert_anonymous(w: World, headers: dict[str, str]) -> None:
    """The credentials in ``headers`` are no credential: anonymous, locked out of ``private``."""
    status, body = await w.who(headers)
    assert status == 200, body
    assert body["userCtx"] == {"name": None, "roles": []}
    assert "authenticated" not in body["info"]
    status, body, _ = await w.request("GET", f"/{PRIVATE}/doc", headers=headers)
    assert status == 401, body
    assert "alice-only" not in json.dumps(body)


# -- logging in ----------------------------------------------------------------------------


async def test_json_login_answers_ok_name_roles_and_sets_the_session_cookie(w: World) -> None:
    status, body, r = await w.request(
        "POST", "/_session", json={"name": ALICE, "password": ALICE_PW}
    )
    assert status == 200
    assert body == {"ok": True, "name": ALICE, "roles": []}
    value, attrs = set_cookie_attrs(r.headers["Set-Cookie"])
    assert r.headers["Set-Cookie"].startswith(f"AuthSession={value}; Version=1; Path=/; HttpOnly")
    assert attrs["version"] == "1"
    assert attrs["path"] == "/"
    assert "httponly" in attrs
    assert decode_cookie(value)[0] == ALICE
    assert abs(decode_cookie(value)[1] - time.time()) < 5


async def test_form_login_is_the_same_login(w: World) -> None:
    form = aiohttp.FormData({"name": ALICE, "password": ALICE_PW})
    status, body, r = await w.request("POST", "/_session", data=form)
    assert status == 200
    assert body == {"ok": True, "name": ALICE, "roles": []}
    value, _ = set_cookie_attrs(r.headers["Set-Cookie"])
    status, body = await w.who(with_cookie(value))
    assert body["userCtx"] == {"name": ALICE, "roles": []}


async def test_server_admin_login_has_the_admin_role(w: World) -> None:
    payload = {"name": w.server.admin, "password": w.server.password}
    status, body, _ = await w.request("POST", "/_session", json=payload)
    assert status == 200
    assert body == {"ok": True, "name": w.server.admin, "roles": ["_admin"]}


@pytest.mark.parametrize(
    ("overrides", "present", "absent"),
    [
        ({}, {"max-age": str(TIMEOUT)}, ["domain", "samesite", "secure"]),
        ({"allow_persistent_cookies": False}, {}, ["max-age", "expires"]),
        ({"cookie_domain": "example.test"}, {"domain": "example.test"}, []),
        ({"same_site": "Strict"}, {"samesite": "Strict"}, ["secure"]),
        ({"same_site": "Lax"}, {"samesite": "Lax"}, []),
        ({"same_site": "None", "secure_cookie": True}, {"samesite": "None", "secure": ""}, []),
        ({"secure_cookie": True, "timeout": 60}, {"secure": "", "max-age": "60"}, []),
    ],
)
async def test_set_cookie_attributes_follow_the_config(
    tmp_path: Path, overrides: dict[str, Any], present: dict[str, str], absent: list[str]
) -> None:
    async with (
        serving(tmp_path / "data", auth=auth_settings(**overrides)) as server,
        aiohttp.ClientSession(server.url, cookie_jar=aiohttp.DummyCookieJar()) as s,
    ):
        payload = {"name": server.admin, "password": server.password}
        async with s.post("/_session", json=payload) as r:
            assert r.status == 200
            header = r.headers["Set-Cookie"]
    _, attrs = set_cookie_attrs(header)
    for key, value in present.items():
        assert attrs.get(key) == value, header
    for key in absent:
        assert key not in attrs, header
    assert {"version", "path", "httponly"} <= attrs.keys()
    if "max-age" in attrs:
        expires = parsedate_to_datetime(attrs["expires"]).timestamp()
        assert abs(expires - (time.time() + int(attrs["max-age"]))) < 5, header


async def test_login_with_next_redirects_there_with_the_cookie(w: World) -> None:
    payload = {"name": ALICE, "password": ALICE_PW}
    status, body, r = await w.request("POST", f"/_session?next=/{PRIVATE}", json=payload)
    assert status == 302
    assert r.headers["Location"].endswith(f"/{PRIVATE}")
    assert body["ok"] is True
    value, _ = set_cookie_attrs(r.headers["Set-Cookie"])
    assert decode_cookie(value)[0] == ALICE


def lands_on_this_server(location: str) -> bool:
    """Whether a browser following ``Location`` stays on our origin: the URL standard strips
    tabs and newlines and reads a backslash as a slash, so ``/\\evil`` means ``//evil``."""
    url = "".join(c for c in location if c not in "\t\n\r").replace("\\", "/")
    return url.startswith("/") and not url.startswith("//")


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "/\\evil.example/", "/%09/evil.example/", "http://evil.example/"],
)
async def test_next_never_sends_the_browser_to_another_site(w: World, target: str) -> None:
    # CouchDB makes ``next`` absolute on its own host (couch_httpd:absolute_uri).
    payload = {"name": ALICE, "password": ALICE_PW}
    status, _, r = await w.request("POST", f"/_session?next={target}", json=payload)
    assert status in {200, 302, 400}
    if status == 302:
        location = r.headers["Location"]
        assert location.startswith(w.server.url) or lands_on_this_server(location), location


async def test_next_with_a_line_break_is_answered_not_a_dropped_connection(w: World) -> None:
    payload = {"name": ALICE, "password": ALICE_PW}
    status, _, r = await w.request("POST", "/_session?next=/x%0d%0aX-Injected:%201", json=payload)
    assert status < 500
    assert "X-Injected" not in r.headers


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ALICE, "password": "wrong"},
        {"name": ALICE, "password": ""},
        {"name": ALICE.upper(), "password": ALICE_PW},
        {"name": "nobody", "password": ALICE_PW},
        {"name": ALICE},
        {"username": ALICE, "password": BOB_PW},
    ],
)
@pytest.mark.parametrize("encoding", ["json", "form"])
async def test_wrong_or_missing_credentials_are_401_and_clear_the_cookie(
    w: World, payload: dict[str, str], encoding: str
) -> None:
    kw: dict[str, Any] = {"json": payload} if encoding == "json" else {"data": payload}
    if encoding == "form" and not payload:
        kw = {"data": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    status, body, r = await w.request("POST", "/_session", **kw)
    assert status == 401
    assert body == BAD_CREDENTIALS
    # CouchDB answers a failed login with an empty AuthSession: no session, the old one gone.
    assert r.headers.getall("Set-Cookie")[0].startswith("AuthSession=; "), r.headers
    assert len(r.headers.getall("Set-Cookie")) == 1


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"password": ALICE_PW}, "request body must contain a username"),
        ({}, "request body must contain a username"),
        (
            {"name": ALICE, "username": BOB, "password": ALICE_PW},
            "request body contains different usernames",
        ),
    ],
)
@pytest.mark.parametrize("encoding", ["json", "form"])
async def test_a_login_without_one_username_is_400_as_chttpd_auth_extract_username(
    w: World, payload: dict[str, str], reason: str, encoding: str
) -> None:
    kw: dict[str, Any] = {"json": payload} if encoding == "json" else {"data": payload}
    if encoding == "form" and not payload:
        kw = {"data": b"", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}
    status, body, r = await w.request("POST", "/_session", **kw)
    assert status == 400
    assert body == {"error": "bad_request", "reason": reason}
    assert "Set-Cookie" not in r.headers


# -- who am I ------------------------------------------------------------------------------


async def test_get_session_says_which_handler_authenticated(w: World) -> None:
    cookie = await w.login(ALICE, ALICE_PW)
    status, body = await w.who(with_cookie(cookie))
    assert status == 200
    assert body["ok"] is True
    assert body["userCtx"] == {"name": ALICE, "roles": []}
    assert body["info"]["authenticated"] == "cookie"
    assert body["info"]["authentication_db"] == "_users"
    assert {"cookie", "default"} <= set(body["info"]["authentication_handlers"])
    status, body = await w.who(basic(ALICE, ALICE_PW))
    assert body["userCtx"] == {"name": ALICE, "roles": []}
    assert body["info"]["authenticated"] == "default"
    status, body = await w.who({})
    assert body["userCtx"] == {"name": None, "roles": []}
    assert "authenticated" not in body["info"]


async def test_cookie_opens_a_member_only_database_and_only_for_its_member(w: World) -> None:
    alice = with_cookie(await w.login(ALICE, ALICE_PW))
    status, body, _ = await w.request("GET", f"/{PRIVATE}/doc", headers=alice)
    assert status == 200
    assert body["secret"] == "alice-only"
    status, body, _ = await w.request("PUT", f"/{PRIVATE}/new", headers=alice, json={"a": 1})
    assert status == 201, body
    bob = with_cookie(await w.login(BOB, BOB_PW))
    status, body, _ = await w.request("GET", f"/{PRIVATE}/doc", headers=bob)
    assert status == 403
    assert body["error"] == "forbidden"
    status, body, _ = await w.request("GET", f"/{PRIVATE}/doc")
    assert status == 401


# -- logging out ---------------------------------------------------------------------------


async def test_logout_expires_the_cookie_and_the_old_one_is_refused(w: World) -> None:
    cookie = await w.login(ALICE, ALICE_PW)
    status, body, r = await w.request("DELETE", "/_session", headers=with_cookie(cookie))
    assert status == 200
    assert body == {"ok": True}
    value, attrs = set_cookie_attrs(r.headers["Set-Cookie"])
    assert value == ""
    assert attrs.get("max-age") == "0" or parsedate_to_datetime(attrs["expires"]).year < 2000
    assert attrs["path"] == "/"
    await assert_anonymous(w, with_cookie(cookie))


async def test_a_logged_out_cookie_stays_refused_after_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    jar = aiohttp.DummyCookieJar()
    async with (
        serving(data, auth=auth_settings()) as server,
        aiohttp.ClientSession(server.url, cookie_jar=jar) as anon,
        aiohttp.ClientSession(server.url, headers=server.auth_headers, cookie_jar=jar) as admin,
    ):
        w = World(server, anon, admin)
        await w.signup(ALICE, ALICE_PW)
        cookie = await w.login(ALICE, ALICE_PW)
        status, _, _ = await w.request("DELETE", "/_session", headers=with_cookie(cookie))
        assert status == 200
        kept = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - 1)
    async with (
        serving(data, auth=auth_settings()) as server,
        aiohttp.ClientSession(server.url, cookie_jar=jar) as anon,
    ):
        w = World(server, anon, anon)
        _, body = await w.who(with_cookie(cookie))
        assert body["userCtx"]["name"] is None
        _, body = await w.who(with_cookie(kept))
        assert body["userCtx"]["name"] == ALICE  # the other session survived the restart


async def test_a_login_right_after_a_logout_gets_a_working_cookie(w: World) -> None:
    for _ in range(3):  # within one second: the same name and time would give the same cookie
        cookie = await w.login(ALICE, ALICE_PW)
        _, body = await w.who(with_cookie(cookie))
        assert body["userCtx"]["name"] == ALICE
        status, _, _ = await w.request("DELETE", "/_session", headers=with_cookie(cookie))
        assert status == 200
        await assert_anonymous(w, with_cookie(cookie))


async def test_logout_of_one_cookie_leaves_another_session_alone(w: World) -> None:
    first = await w.login(ALICE, ALICE_PW)
    second = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - 1)
    assert second != first
    status, _, _ = await w.request("DELETE", "/_session", headers=with_cookie(first))
    assert status == 200
    status, body = await w.who(with_cookie(second))
    assert body["userCtx"]["name"] == ALICE


def reencodings(cookie: str) -> dict[str, str]:
    """Other spellings of the same cookie: the same name, time and MAC in another text."""
    name, issued, mac = decode_cookie(cookie)
    hex_time = f"{issued:X}"
    return {
        "padded": cookie + "=" * (-len(cookie) % 4 or 4),
        "same bytes, other last character": same_bytes_last_char(cookie),
        "junk after the padding": cookie + "=" * (-len(cookie) % 4 or 4) + "AAAA",
        "non-base64 characters inside": cookie[:8] + "...." + cookie[8:],
        "lower-case time": encode_cookie(name, hex_time.lower(), mac),
        "0x time": encode_cookie(name, "0x" + hex_time, mac),
        "leading zero time": encode_cookie(name, "0" + hex_time, mac),
        "underscored time": encode_cookie(name, hex_time[:2] + "_" + hex_time[2:], mac),
        "spaced time": encode_cookie(name, f" {hex_time} ", mac),
    }


@pytest.mark.parametrize(
    "variant",
    [
        "padded",
        "same bytes, other last character",
        "junk after the padding",
        "non-base64 characters inside",
        "lower-case time",
        "0x time",
        "leading zero time",
        "underscored time",
        "spaced time",
    ],
)
async def test_a_logged_out_cookie_is_refused_in_any_spelling(w: World, variant: str) -> None:
    cookie = await w.login(ALICE, ALICE_PW)
    status, _, _ = await w.request("DELETE", "/_session", headers=with_cookie(cookie))
    assert status == 200
    replay = reencodings(cookie)[variant]
    assert replay != cookie
    status, body = await w.who(with_cookie(replay))
    assert status == 400 or body["userCtx"]["name"] is None, (variant, replay, body)
    status, body, _ = await w.request("GET", f"/{PRIVATE}/doc", headers=with_cookie(replay))
    assert status in {400, 401}, (variant, replay, body)


# -- forged and expired cookies ------------------------------------------------------------


async def forgeries(w: World) -> dict[str, str]:
    alice = await w.login(ALICE, ALICE_PW)
    name, issued, mac = decode_cookie(alice)
    flipped = bytes([mac[0] ^ 0x01]) + mac[1:]
    alice_salt = await w.salt(ALICE)
    return {
        "bob with alice's MAC": encode_cookie(BOB, f"{issued:X}", mac),
        "admin with alice's MAC": encode_cookie(w.server.admin, f"{issued:X}", mac),
        "flipped MAC byte": encode_cookie(name, f"{issued:X}", flipped),
        "truncated MAC": encode_cookie(name, f"{issued:X}", mac[:-1]),
        "empty MAC": encode_cookie(name, f"{issued:X}", b""),
        "other secret": make_cookie("not-the-secret", alice_salt, ALICE),
        "no secret": make_cookie("", alice_salt, ALICE),
        "other user's salt": make_cookie(SECRET, await w.salt(BOB), ALICE),
        "no salt": make_cookie(SECRET, "", ALICE),
        "time moved forward": encode_cookie(name, f"{issued + 3600:X}", mac),
        "time moved back": encode_cookie(name, f"{issued - 1:X}", mac),
        "unknown user": make_cookie(SECRET, alice_salt, "mallory"),
    }


FORGERIES = [
    "bob with alice's MAC",
    "admin with alice's MAC",
    "flipped MAC byte",
    "truncated MAC",
    "empty MAC",
    "other secret",
    "no secret",
    "other user's salt",
    "no salt",
    "time moved forward",
    "time moved back",
    "unknown user",
]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_forged_cookies_never_authenticate(w: World, forgery: str) -> None:
    await assert_anonymous(w, with_cookie((await forgeries(w))[forgery]))


@pytest.mark.parametrize("age", [TIMEOUT + 1, TIMEOUT + 60, 10 * TIMEOUT, 10**9])
async def test_expired_cookies_with_a_true_mac_never_authenticate(w: World, age: int) -> None:
    expired = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - age)
    await assert_anonymous(w, with_cookie(expired))


async def test_a_cookie_made_with_the_true_secret_and_salt_authenticates(w: World) -> None:
    # The control for the two tests above: the same recipe, fresh, is a credential.
    fresh = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - 5)
    status, body = await w.who(with_cookie(fresh))
    assert status == 200
    assert body["userCtx"] == {"name": ALICE, "roles": []}


async def test_a_cookie_past_a_tenth_of_its_life_is_refreshed(w: World) -> None:
    salt = await w.salt(ALICE)
    old = make_cookie(SECRET, salt, ALICE, int(time.time()) - TIMEOUT // 5)
    for path in ("/_session", f"/{PRIVATE}/doc"):
        status, body, r = await w.request("GET", path, headers=with_cookie(old))
        assert status == 200, body
        value, attrs = set_cookie_attrs(r.headers["Set-Cookie"])
        assert value != old
        assert abs(decode_cookie(value)[1] - time.time()) < 5
        assert attrs["path"] == "/"
        assert "httponly" in attrs
        status, body = await w.who(with_cookie(value))
        assert body["userCtx"]["name"] == ALICE


async def test_a_fresh_cookie_is_not_refreshed(w: World) -> None:
    cookie = await w.login(ALICE, ALICE_PW)
    status, _, r = await w.request("GET", f"/{PRIVATE}/doc", headers=with_cookie(cookie))
    assert status == 200
    assert "Set-Cookie" not in r.headers


@pytest.mark.parametrize(
    "value",
    [
        "!!!",
        "abc",
        "A",
        base64.urlsafe_b64encode(b"no colons at all").decode(),
        base64.urlsafe_b64encode(b"alice:not-hex:mac").decode(),
        base64.urlsafe_b64encode(b"alice::mac").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe:1:mac").decode(),
        base64.urlsafe_b64encode(b"alice:\xff:mac").decode(),
        "A" * 5000,
    ],
)
@pytest.mark.parametrize("path", ["/_session", f"/{PRIVATE}/doc", "/"])
async def test_malformed_cookies_are_400_bad_request(w: World, value: str, path: str) -> None:
    status, body, _ = await w.request("GET", path, headers=with_cookie(value))
    assert status == 400, body
    assert body == MALFORMED_COOKIE


B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def same_bytes_last_char(cookie: str) -> str:
    """The cookie with its last character swapped for one that decodes to the same bytes (the
    low bits of a final partial base64 group carry no data)."""
    last = B64URL.index(cookie[-1])
    return cookie[:-1] + B64URL[last ^ 1]


def raw_of(cookie: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    except ValueError:
        return None


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_single_character_change_of_a_valid_cookie_is_refused(
    w: World, data: st.DataObject
) -> None:
    # The law holds for every change of what the cookie says; a change of spelling only (the
    # unused low bits of the last character) decodes to the very same cookie and may pass.
    cookie = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - 5)
    time_chars = (len(ALICE) + 1) * 4 // 3, (len(ALICE) + 10) * 4 // 3 + 1
    index = data.draw(
        st.one_of(
            st.integers(0, len(cookie) - 1),
            st.integers(*time_chars),  # the timestamp: hex case, digits
            st.just(len(cookie) - 1),
        ),
        label="index",
    )
    # Drawn without looking at the cookie: its bytes change with the clock between replays.
    char = data.draw(st.sampled_from(B64URL), label="char")
    if char == cookie[index]:
        return
    mutated = cookie[:index] + char + cookie[index + 1 :]
    status, body = await w.who(with_cookie(mutated))
    if raw_of(mutated) == raw_of(cookie):
        return
    assert status == 400 or body["userCtx"]["name"] is None, (cookie, mutated, raw_of(mutated))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_single_byte_change_of_a_cookies_content_is_refused(
    w: World, data: st.DataObject
) -> None:
    cookie = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - 5)
    raw = bytearray(raw_of(cookie) or b"")
    index = data.draw(st.integers(0, len(raw) - 1), label="index")
    # XOR with a non-zero mask: a change whatever the byte was (the bytes move with the clock).
    raw[index] ^= data.draw(st.integers(1, 255), label="mask")
    mutated = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    status, body = await w.who(with_cookie(mutated))
    assert status == 400 or body["userCtx"]["name"] is None, (cookie, bytes(raw))


HEXISH = "0123456789abcdefABCDEFxX_ +-"


async def test_every_respelling_of_the_cookie_timestamp_is_refused(w: World) -> None:
    # CouchDB MACs the time text as sent (couch_httpd_auth:cookie_authentication_handler), so
    # only the exact text the server wrote verifies; one character more, less or other fails.
    cookie = make_cookie(SECRET, await w.salt(ALICE), ALICE, int(time.time()) - 5)
    name, issued, mac = decode_cookie(cookie)
    text = f"{issued:X}"
    spellings = {text[:i] + c + text[i + 1 :] for i in range(len(text)) for c in HEXISH}
    spellings |= {text[:i] + c + text[i:] for i in range(len(text) + 1) for c in HEXISH}
    spellings.discard(text)
    accepted = []
    for spelling in sorted(spellings):
        status, body = await w.who(with_cookie(encode_cookie(name, spelling, mac)))
        if status == 200 and body["userCtx"]["name"] is not None:
            accepted.append(spelling)
    assert accepted == [], f"{text!r} also accepted as {accepted}"


# -- passwords and user documents ----------------------------------------------------------


async def test_a_password_change_kills_old_cookies_and_the_old_password(w: World) -> None:
    cookie = await w.login(ALICE, ALICE_PW)
    doc = (
        await w.request("GET", f"/_users/org.couchdb.user:{ALICE}", headers=basic(ALICE, ALICE_PW))
    )[1]
    doc["password"] = "alice-new-pass"
    status, body, _ = await w.request(
        "PUT", f"/_users/org.couchdb.user:{ALICE}", headers=with_cookie(cookie), json=doc
    )
    assert status == 201, body
    await assert_anonymous(w, with_cookie(cookie))
    status, body = await w.who(basic(ALICE, ALICE_PW))
    assert status == 401
    assert body == BAD_CREDENTIALS
    status, body, _ = await w.request(
        "POST", "/_session", json={"name": ALICE, "password": ALICE_PW}
    )
    assert status == 401
    new_cookie = await w.login(ALICE, "alice-new-pass")
    status, body = await w.who(with_cookie(new_cookie))
    assert body["userCtx"]["name"] == ALICE


async def test_signup_stores_a_pbkdf2_hash_and_no_password(w: World) -> None:
    doc = user_doc("carol", "carol-pw-5521", nickname="c")
    status, body, _ = await w.request("PUT", f"/_users/{doc['_id']}", json=doc)
    assert status == 201
    assert body["ok"] is True
    assert "carol-pw-5521" not in json.dumps(body)
    stored = await w.stored("carol")
    assert "password" not in stored
    assert stored["password_scheme"] == "pbkdf2"
    assert stored["pbkdf2_prf"] == "sha256"
    assert stored["iterations"] == TEST_ITERATIONS
    assert isinstance(stored["derived_key"], str)
    assert len(stored["derived_key"]) == 64  # hex of a SHA-256 sized key
    int(stored["derived_key"], 16)
    assert isinstance(stored["salt"], str)
    assert stored["salt"]
    assert stored["nickname"] == "c"
    assert stored["roles"] == []
    assert (await w.salt(ALICE)) != stored["salt"]


async def test_signed_up_users_log_in_with_basic_and_session(w: World) -> None:
    status, body = await w.who(basic(ALICE, ALICE_PW))
    assert status == 200
    assert body["userCtx"] == {"name": ALICE, "roles": []}
    cookie = await w.login(ALICE, ALICE_PW)
    status, body = await w.who(with_cookie(cookie))
    assert body["userCtx"] == {"name": ALICE, "roles": []}


def files_bytes(data_dir: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in data_dir.rglob("*") if p.is_file()}


async def test_the_clear_text_password_reaches_neither_the_disk_nor_a_response(
    tmp_path: Path,
) -> None:
    password = "plain-text-canary-5b1e9"
    changed = "second-canary-77c0d3"
    data_dir = tmp_path / "data"
    bodies: list[bytes] = []
    async with (
        serving(data_dir, auth=auth_settings()) as server,
        aiohttp.ClientSession(server.url, cookie_jar=aiohttp.DummyCookieJar()) as s,
    ):

        async def call(method: str, path: str, **kw: Any) -> Any:
            async with s.request(method, path, **kw) as r:
                raw = await r.read()
                bodies.append(raw + str(r.headers).encode())
                return json.loads(raw)

        doc = user_doc("dave", password)
        await call("PUT", f"/_users/{doc['_id']}", json=doc)
        await call("GET", "/_session", headers=basic("dave", password))
        await call("POST", "/_session", json={"name": "dave", "password": password})
        mine = await call("GET", "/_users/org.couchdb.user:dave", headers=basic("dave", password))
        await call(
            "PUT",
            f"/_users/{doc['_id']}",
            headers=basic("dave", password),
            json={**mine, "password": changed},
        )
        for path in ("/_users/_all_docs?include_docs=true", "/_users/_changes?include_docs=true"):
            await call("GET", path, headers=server.auth_headers)
        await call(
            "GET",
            "/_users/org.couchdb.user:dave?revs=true&open_revs=all",
            headers={**server.auth_headers, "Accept": "application/json"},
        )
        while_running = files_bytes(data_dir)
    after = files_bytes(data_dir)
    assert any(name.endswith(".sqlite") for name in while_running)
    for secret in (password, changed):
        for name, content in {**while_running, **after}.items():
            assert secret.encode() not in content, name
        for body in bodies:
            assert secret.encode() not in body


async def test_a_user_reads_their_own_doc_without_its_hash(w: World) -> None:
    status, body, _ = await w.request(
        "GET", f"/_users/org.couchdb.user:{ALICE}", headers=basic(ALICE, ALICE_PW)
    )
    assert status == 200
    assert body["name"] == ALICE
    for field in SECRET_FIELDS:
        assert field not in body
    stored = await w.stored(ALICE)
    raw = json.dumps(body)
    assert stored["derived_key"] not in raw
    assert stored["salt"] not in raw


READ_VARIANTS = [
    "",
    "?rev={first}",
    "?open_revs=all",
    '?open_revs=["{first}"]',
    "?revs=true&revs_info=true&conflicts=true&deleted_conflicts=true&meta=true&local_seq=true",
    "?attachments=true&att_encoding_info=true",
    "?latest=true&rev={first}",
]


@pytest.mark.parametrize("query", READ_VARIANTS)
async def test_no_way_of_reading_user_docs_hands_a_user_a_hash(w: World, query: str) -> None:
    # Alice changes her password, so her first revision holds the hash she had before.
    alice = basic(ALICE, ALICE_PW)
    path = f"/_users/org.couchdb.user:{ALICE}"
    first = (await w.stored(ALICE))["_rev"]
    mine = (await w.request("GET", path, headers=alice))[1]
    status, body, _ = await w.request("PUT", path, headers=alice, json={**mine, "password": "p2"})
    assert status == 201, body
    old_hash = await w.request("GET", f"{path}?rev={first}", headers=w.server.auth_headers)
    assert old_hash[0] == 200
    secrets = [old_hash[1]["derived_key"], old_hash[1]["salt"]]
    secrets += [(await w.stored(name))[f] for name in (ALICE, BOB) for f in ("derived_key", "salt")]
    headers = {**basic(ALICE, "p2"), "Accept": "application/json"}
    for name, expected in ((ALICE, {200}), (BOB, {404})):
        target = f"/_users/org.couchdb.user:{name}{query.format(first=first)}"
        if name == BOB:
            target = target.replace(first, (await w.stored(BOB))["_rev"])
        async with w.anon.get(target, headers=headers) as r:
            raw = await r.read()
        assert r.status in expected, (target, r.status, raw)
        for secret in secrets:
            assert secret.encode() not in raw, (target, raw)
        for field in ("derived_key", "password_sha", '"salt"'):
            assert field.encode() not in raw, (target, raw)
        if name == BOB:
            assert b"bob" not in raw.replace(b"org.couchdb.user:bob", b""), raw


async def test_a_user_cannot_read_or_write_another_users_doc(w: World) -> None:
    alice = basic(ALICE, ALICE_PW)
    bob_id = f"org.couchdb.user:{BOB}"
    status, body, _ = await w.request("GET", f"/_users/{bob_id}", headers=alice)
    assert status == 404
    assert body == {"error": "not_found", "reason": "missing"}
    rev = (await w.stored(BOB))["_rev"]
    takeover = {**user_doc(BOB, "taken-over"), "_rev": rev}
    status, body, _ = await w.request("PUT", f"/_users/{bob_id}", headers=alice, json=takeover)
    assert status == 404, body
    status, body, _ = await w.request("DELETE", f"/_users/{bob_id}?rev={rev}", headers=alice)
    assert status == 404, body
    status, body = await w.who(basic(BOB, BOB_PW))
    assert body["userCtx"]["name"] == BOB
    status, body = await w.who(basic(BOB, "taken-over"))
    assert status == 401


async def test_a_user_cannot_grant_themself_roles(w: World) -> None:
    alice = basic(ALICE, ALICE_PW)
    path = f"/_users/org.couchdb.user:{ALICE}"
    mine = (await w.request("GET", path, headers=alice))[1]
    for roles in (["boss"], ["_admin"]):
        status, body, _ = await w.request("PUT", path, headers=alice, json={**mine, "roles": roles})
        assert status == 403, body
        assert body["error"] == "forbidden"
    status, body = await w.who(alice)
    assert body["userCtx"] == {"name": ALICE, "roles": []}
    # Nor at signup.
    doc = user_doc("eve", "eve-pw", roles=["boss"])
    status, body, _ = await w.request("PUT", f"/_users/{doc['_id']}", json=doc)
    assert status == 403
    assert body["error"] == "forbidden"


async def test_updating_own_doc_without_password_keeps_the_password(w: World) -> None:
    alice = basic(ALICE, ALICE_PW)
    cookie = await w.login(ALICE, ALICE_PW)
    path = f"/_users/org.couchdb.user:{ALICE}"
    mine = (await w.request("GET", path, headers=alice))[1]
    status, body, _ = await w.request("PUT", path, headers=alice, json={**mine, "theme": "dark"})
    assert status == 201, body
    stored = await w.stored(ALICE)
    assert stored["theme"] == "dark"
    assert stored["password_scheme"] == "pbkdf2"
    status, body = await w.who(alice)
    assert body["userCtx"]["name"] == ALICE
    status, body = await w.who(with_cookie(cookie))
    assert body["userCtx"]["name"] == ALICE


async def test_signup_can_be_turned_off(tmp_path: Path) -> None:
    async with (
        serving(tmp_path / "data", auth=auth_settings(public_signup=False)) as server,
        aiohttp.ClientSession(server.url, cookie_jar=aiohttp.DummyCookieJar()) as s,
    ):
        doc = user_doc("frank", "frank-pw")
        async with s.put(f"/_users/{doc['_id']}", json=doc) as r:
            assert r.status == 403
            assert (await json_of(r))["error"] == "forbidden"
        async with s.put(f"/_users/{doc['_id']}", json=doc, headers=server.auth_headers) as r:
            assert r.status == 201
        async with s.get("/_session", headers=basic("frank", "frank-pw")) as r:
            assert (await json_of(r))["userCtx"]["name"] == "frank"


@pytest.mark.parametrize("removal", ["delete", "purge"])
async def test_a_removed_user_can_no_longer_log_in(w: World, removal: str) -> None:
    cookie = await w.login(ALICE, ALICE_PW)
    status, body = await w.who(basic(ALICE, ALICE_PW))  # warm every cache
    assert body["userCtx"]["name"] == ALICE
    rev = (await w.stored(ALICE))["_rev"]
    doc_id = f"org.couchdb.user:{ALICE}"
    if removal == "delete":
        async with w.admin.delete(f"/_users/{doc_id}?rev={rev}") as r:
            assert r.status == 200
    else:
        async with w.admin.post("/_users/_purge", json={doc_id: [rev]}) as r:
            assert r.status == 201
    async with w.admin.get(f"/_users/{doc_id}") as r:
        assert r.status == 404
    status, body = await w.who(basic(ALICE, ALICE_PW))
    assert status == 401, body
    await assert_anonymous(w, with_cookie(cookie))
