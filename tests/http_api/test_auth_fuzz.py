"""Random credentials against the authentication paths: never a 5xx, never a leak, never a user.

The world: the server admin (whose hash we know), users alice and bob with private notes, a
database only alice may use and one only bob may use, and JWT keys so that Bearer tokens are
read. Hypothesis throws random ``Authorization`` headers (Basic, Bearer and junk schemes over
random bytes, text and lengths; mutated good credentials), random ``Cookie`` headers (random
``AuthSession`` values, truncated and mutated good cookies) and random ``POST /_session``
bodies and content types at a handful of endpoints. Whatever arrives:

- the status is below 500, and an error is CouchDB's ``{"error", "reason"}``;
- no answer carries any stored ``derived_key`` or ``salt``, bob's note, or a database's
  content the credentials do not open;
- a changed cookie or a wrong password never authenticates anyone.

Each test owns one server; its examples share it, as in ``test_fuzz``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from brainlink_docs.config import AuthSettings
from brainlink_docs.security.passwords import hash_password

from .conftest import ADMIN, PASSWORD, TEST_ITERATIONS, serving

REQUEST_DEADLINE = 10.0
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
)
JWT_KEY = b"fuzz-hmac-key-0123456789abcdef-0123456789"
ALICE, ALICE_PW = "alice", "alice-fuzz-pw"
BOB, BOB_PW = "bob", "bob-fuzz-pw"
BOB_NOTE = "bob-note-7f1e2d"
BOB_DOC = "bob-db-content-c41a"
ADMIN_DOC = "admin-db-content-9e0b"
ALICE_DOC = "alice-db-content-55aa"
ENDPOINTS = [
    "/_session",
    "/alicedb/doc",
    "/bobdb/doc",
    "/admindb/doc",
    "/bobdb/_all_docs?include_docs=true",
    "/_users/org.couchdb.user:x",
    f"/_users/org.couchdb.user:{ALICE}",
    f"/_users/org.couchdb.user:{BOB}",
    f"/_users/org.couchdb.user:{BOB}?open_revs=all",
    "/_users/_all_docs?include_docs=true",
    "/_users/_changes?include_docs=true",
    "/_all_dbs",
]


@dataclass
class World:
    url: str
    client: aiohttp.ClientSession  # no credentials, keeps no cookies
    forbidden: list[bytes] = field(default_factory=list)  # never in any answer
    alice_cookie: str = ""
    alice_jwt: str = ""

    async def call(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        data: bytes | None = None,
    ) -> tuple[int, bytes, aiohttp.ClientResponse]:
        described = f"{method} {path} headers={headers!r} data={data!r}"
        async with (
            asyncio.timeout(REQUEST_DEADLINE),
            self.client.request(
                method, path, headers=headers, data=data, allow_redirects=False
            ) as r,
        ):
            raw = await r.read()
        assert r.status < 500, f"{described} -> {r.status} {raw[:300]!r}"
        for secret in self.forbidden:
            assert secret not in raw, f"{described} leaked {secret!r}: {raw[:300]!r}"
            assert secret not in str(r.headers).encode(), described
        if r.status >= 400 and method != "HEAD" and raw:
            error = json.loads(raw)
            assert isinstance(error.get("error"), str), described
            assert isinstance(error.get("reason"), str), described
        return r.status, raw, r

    async def who(self, headers: dict[str, str]) -> tuple[int, str | None]:
        """``GET /_session``: the status and the name it authenticated (None: nobody)."""
        status, raw, _ = await self.call("GET", "/_session", headers)
        return status, json.loads(raw)["userCtx"]["name"] if status == 200 else None


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    admin_hash = hash_password(PASSWORD, iterations=TEST_ITERATIONS)
    auth = AuthSettings(
        secret="fuzz-secret",
        iterations=TEST_ITERATIONS,
        jwt_keys={"hmac:_default": base64.b64encode(JWT_KEY).decode()},
    )
    async with (
        serving(tmp_path / "data", auth=auth, admins={ADMIN: admin_hash}) as server,
        aiohttp.ClientSession(server.url, cookie_jar=aiohttp.DummyCookieJar()) as client,
    ):
        admin = server.auth_headers

        async def put(path: str, body: Any, headers: dict[str, str] = admin) -> None:
            async with client.put(path, json=body, headers=headers) as r:
                assert r.status in {200, 201}, await r.text()

        for name, password, extra in ((ALICE, ALICE_PW, {}), (BOB, BOB_PW, {"note": BOB_NOTE})):
            doc = {"_id": f"org.couchdb.user:{name}", "name": name, "type": "user"}
            await put(
                f"/_users/{doc['_id']}", {**doc, "roles": [], "password": password, **extra}, {}
            )
        for db, member, content in (
            ("alicedb", ALICE, ALICE_DOC),
            ("bobdb", BOB, BOB_DOC),
            ("admindb", None, ADMIN_DOC),
        ):
            async with client.put(f"/{db}", headers=admin) as r:
                assert r.status == 201
            if member is not None:
                await put(f"/{db}/_security", {"members": {"names": [member], "roles": []}})
            await put(f"/{db}/doc", {"content": content})
        forbidden = [BOB_NOTE, BOB_DOC, ADMIN_DOC, admin_hash.derived_key, admin_hash.salt]
        for name in (ALICE, BOB):
            async with client.get(f"/_users/org.couchdb.user:{name}", headers=admin) as r:
                stored = json.loads(await r.read())
            forbidden += [stored["derived_key"], stored["salt"]]
        async with client.post("/_session", json={"name": ALICE, "password": ALICE_PW}) as r:
            assert r.status == 200
            cookie = r.cookies["AuthSession"].value
        claims = {"sub": ALICE, "exp": int(time.time()) + 3600, "_couchdb": {"roles": []}}
        token = jwt.encode(claims, JWT_KEY, algorithm="HS256")
        yield World(server.url, client, [s.encode() for s in forbidden], cookie, token)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def same_cookie(a: str, b: str) -> bool:
    """Whether two cookie texts are strict base64url spellings of the same bytes (surrounding
    whitespace is the header's, not the cookie's)."""

    def strict(value: str) -> bytes | None:
        text = value.strip().rstrip("=").replace("-", "+").replace("_", "/")
        try:
            return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except ValueError:
            return None

    raw = strict(a)
    return raw is not None and raw == strict(b)


# -- strategies ----------------------------------------------------------------------------

header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"),
    max_size=60,
)
names = st.one_of(
    st.sampled_from([ALICE, BOB, ADMIN, "", "_admin", "org.couchdb.user:bob"]), header_text
)
passwords = st.one_of(st.sampled_from([ALICE_PW, BOB_PW + "x", PASSWORD + " ", ""]), header_text)


B64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/"


def mutations(text: str, alphabet: str = B64_CHARS + ". ") -> st.SearchStrategy[str]:
    """``text`` truncated, with characters inserted, deleted, replaced or appended."""
    chars = st.sampled_from(alphabet)
    index = st.integers(0, max(len(text) - 1, 0))
    return st.one_of(
        st.builds(lambda i: text[:i], index),
        st.builds(lambda i, c: text[:i] + c + text[i:], index, chars),
        st.builds(lambda i: text[:i] + text[i + 1 :], index),
        st.builds(lambda i, c: text[:i] + c + text[i + 1 :], index, chars),
        st.builds(lambda s: text + s, st.text(chars, min_size=1, max_size=8)),
        st.builds(lambda i, n: text[:i] + text[i + n :], index, st.integers(1, 8)),
    )


@st.composite
def authorization_headers(draw: st.DrawFn, world: World) -> str:
    scheme = draw(
        st.sampled_from(["Basic", "basic", "BASIC", "Bearer", "bearer", "Digest", "", "X"])
    )
    separator = draw(st.sampled_from([" ", "  ", "", "\t", " \t"]))
    credential = draw(
        st.one_of(
            st.builds(lambda n, p: b64(f"{n}:{p}".encode()), names, passwords),
            st.builds(b64, st.binary(max_size=80)),
            header_text,
            mutations(b64(f"{ALICE}:{ALICE_PW}".encode())),
            mutations(world.alice_jwt),
            st.builds(
                lambda parts: ".".join(parts),
                st.lists(st.builds(b64, st.binary(max_size=40)), min_size=1, max_size=4),
            ),
            st.builds(lambda n: "A" * n, st.sampled_from([8180, 8192, 8200, 20000])),
        )
    )
    return f"{scheme}{separator}{credential}"


@FUZZ
@given(data=st.data())
async def test_random_authorization_headers_never_fail_or_leak(
    world: World, data: st.DataObject
) -> None:
    header = data.draw(authorization_headers(world), label="Authorization")
    paths = data.draw(st.lists(st.sampled_from(ENDPOINTS), min_size=1, max_size=3), label="paths")
    status, name = await world.who({"Authorization": header})
    assert name in {None, ALICE}, (header, status, name)
    for path in paths:
        await world.call(
            data.draw(st.sampled_from(["GET", "HEAD"])), path, {"Authorization": header}
        )


@FUZZ
@given(name=names, password=passwords)
async def test_random_basic_credentials_authenticate_only_the_right_pair(
    world: World, name: str, password: str
) -> None:
    # By hand: aiohttp refuses a ":" in the name, and a server must cope with one.
    header = {"Authorization": "Basic " + b64(f"{name}:{password}".encode())}
    status, who = await world.who(header)
    if who is not None:
        assert (who, name, password) == (ALICE, ALICE, ALICE_PW)
    else:
        assert status in {200, 400, 401, 403}


@st.composite
def cookie_values(draw: st.DrawFn, world: World) -> str:
    cookie_chars = st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=.!%~"
    )
    return draw(
        st.one_of(
            st.text(cookie_chars, max_size=120),
            # No spaces: a space ends a cookie value in the header, before the server sees it.
            mutations(world.alice_cookie, B64_CHARS + ".!%~"),
            # Padding and what may follow it: the decoder must not stop reading early.
            st.builds(
                lambda pad, junk: world.alice_cookie + "=" * pad + junk,
                st.integers(0, 4),
                st.text(st.sampled_from(B64_CHARS + ".!%~"), max_size=6),
            ),
            st.builds(lambda raw: base64.urlsafe_b64encode(raw).decode(), st.binary(max_size=90)),
            st.builds(
                lambda n, t, mac: (
                    base64.urlsafe_b64encode(f"{n}:{t}:".encode() + mac).rstrip(b"=").decode()
                ),
                st.sampled_from([ALICE, BOB, ADMIN, "nobody"]),
                st.one_of(
                    st.integers(0, 2**40).map(lambda i: f"{i:X}"),
                    st.text("0123456789abcdefABCDEFx_-", max_size=12),
                ),
                st.binary(min_size=0, max_size=40),
            ),
        )
    )


@FUZZ
@given(data=st.data())
async def test_random_cookies_never_fail_leak_or_authenticate(
    world: World, data: st.DataObject
) -> None:
    value = data.draw(cookie_values(world), label="AuthSession")
    shape = data.draw(
        st.sampled_from(
            ["AuthSession={}", "AuthSession={}; other=1", 'AuthSession="{}"', "x=1; AuthSession={}"]
        ),
        label="Cookie",
    )
    headers = {"Cookie": shape.format(value)}
    status, name = await world.who(headers)
    if not same_cookie(value, world.alice_cookie):
        assert name is None, (value, status, name)
    else:
        assert name in {None, ALICE}
    path = data.draw(st.sampled_from(ENDPOINTS), label="path")
    await world.call("GET", path, headers)


CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "text/plain",
    "",
    "application/JSON",
]


@st.composite
def login_bodies(draw: st.DrawFn) -> bytes:
    json_values = st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=6,
    )
    field_values = st.one_of(names, passwords, json_values)
    keys = st.sampled_from(["name", "username", "password", "next", "x"])
    return draw(
        st.one_of(
            st.builds(
                lambda d: json.dumps(d).encode(),
                st.dictionaries(keys, field_values, max_size=4),
            ),
            st.builds(lambda v: json.dumps(v).encode(), json_values),
            st.builds(
                lambda pairs: "&".join(f"{k}={v}" for k, v in pairs).encode(
                    "utf-8", "surrogatepass"
                ),
                st.lists(st.tuples(keys, st.one_of(names, passwords)), max_size=4),
            ),
            st.binary(max_size=200),
            st.just(json.dumps({"name": ALICE, "password": ALICE_PW}).encode()),
            st.just(f"name={ALICE}&password={ALICE_PW}".encode()),
        )
    )


@FUZZ
@given(body=login_bodies(), content_type=st.sampled_from(CONTENT_TYPES))
async def test_random_session_logins_never_fail_leak_or_admit_a_wrong_password(
    world: World, body: bytes, content_type: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    status, raw, r = await world.call("POST", "/_session", headers, body)
    if status == 200:
        answer = json.loads(raw)
        assert answer["name"] == ALICE, (body, answer)
        assert ALICE_PW.encode() in body, body
        assert r.headers["Set-Cookie"].startswith("AuthSession=")
    else:
        assert status in {400, 401, 403, 413, 415}, (body, status, raw)
        # No session: a 401 clears the cookie (as CouchDB), anything else sets none.
        cookie = r.headers.get("Set-Cookie")
        if status == 401:
            assert cookie is not None and cookie.startswith("AuthSession=; "), cookie
        else:
            assert cookie is None, cookie


# -- the Authorization header, case by case ------------------------------------------------


@pytest.mark.parametrize("length", [8193, 9000, 60000])
@pytest.mark.parametrize("scheme", ["Basic ", "Bearer ", "Junk "])
async def test_an_oversized_authorization_header_is_400(
    world: World, scheme: str, length: int
) -> None:
    header = scheme + "A" * (length - len(scheme))
    for path in ("/_session", "/alicedb/doc", "/"):
        status, raw, _ = await world.call("GET", path, {"Authorization": header})
        assert status == 400, (path, raw)


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + b64(b"no-colon-here"),
        "Basic !!!not-base64!!!",
        "Basic " + "A" * 5,
        "Basic " + b64(b"\xff\xfe:\xfd"),
        "Basic " + b64(b"alice\xff:" + ALICE_PW.encode()),
        "Basic",
        "Basic ",
    ],
)
async def test_a_malformed_basic_header_is_400_or_401(world: World, header: str) -> None:
    for path in ("/_session", "/alicedb/doc", "/_all_dbs"):
        status, raw, _ = await world.call("GET", path, {"Authorization": header})
        assert status in {400, 401}, (path, status, raw)


@pytest.mark.parametrize(
    "header", ["Digest username=alice", "Negotiate abc", "Junk", "NTLM TlRMTVNTUAAB"]
)
async def test_an_unknown_scheme_is_no_credential(world: World, header: str) -> None:
    status, name = await world.who({"Authorization": header})
    assert status in {200, 401}
    assert name is None
    for path in ("/alicedb/doc", "/_all_dbs"):
        status, raw, _ = await world.call("GET", path, {"Authorization": header})
        assert status == 401, (path, raw)
