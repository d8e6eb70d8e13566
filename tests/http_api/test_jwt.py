"""JWT bearer tokens over real HTTP, as CouchDB 3.x's ``jwt_authentication_handler`` reads them.

Keys come from ``[jwt_keys]``: ``hmac:<kid>`` a base64 secret, ``rsa:<kid>`` a PEM public key,
``_default`` for tokens without ``kid``. ``sub`` names the user, roles come from
``roles_claim_path`` (``_couchdb.roles`` unless configured), ``exp``/``nbf`` are checked and the
configured claims are required. Anything else about a token (a bad signature, the wrong key or
kid, ``alg: none``, an HMAC signed with the RSA public key, garbage, a huge token) is a 401 or a
400, never a 500 and never a user.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlink_docs.config import AuthSettings

from .conftest import TEST_ITERATIONS, serving

HMAC_KEY = b"default-hmac-key-for-the-jwt-tests-0123"
KID1_KEY = b"the-key-of-kid1-is-another-one-4567"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


RSA_KEY = _rsa_key()
OTHER_RSA_KEY = _rsa_key()
RSA_PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
JWT_KEYS = {
    "hmac:_default": base64.b64encode(HMAC_KEY).decode(),
    "hmac:kid1": base64.b64encode(KID1_KEY).decode(),
    # One ini line, as CouchDB's config holds it: newlines written \n.
    "rsa:_default": RSA_PUBLIC_PEM.decode().replace("\n", "\\n"),
}
PRIVATE = "private"
# An exp for tokens that must outlive the test run (exp is required, as in CouchDB).
EXP = int(time.time()) + 86400


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hs256(claims: dict[str, Any], key: bytes = HMAC_KEY, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers=header or None)


def rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey = RSA_KEY, **header: Any) -> str:
    return jwt.encode(claims, key, algorithm="RS256", headers=header or None)


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A token built by hand (PyJWT refuses to sign some of these): HMAC-SHA256 with ``key``,
    or no signature at all."""
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if key is None:
        return signing_input + "."
    return signing_input + "." + b64url(hmac.digest(key, signing_input.encode(), hashlib.sha256))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def claims_for(sub: str = "jwtuser", roles: list[str] | None = None, **more: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "iat": now, "exp": now + 300, "_couchdb": {"roles": roles or []}, **more}


@dataclass
class Jwt:
    url: str
    client: aiohttp.ClientSession  # no credentials, keeps no cookies
    admin: dict[str, str]

    async def call(
        self, method: str, path: str, headers: dict[str, str], **kw: Any
    ) -> tuple[int, Any]:
        async with self.client.request(method, path, headers=headers, **kw) as r:
            raw = await r.read()
            return r.status, (json.loads(raw) if raw else None)

    async def who(self, headers: dict[str, str]) -> tuple[int, Any]:
        return await self.call("GET", "/_session", headers)


async def start(tmp_path: Path, **overrides: Any) -> AsyncIterator[Jwt]:
    values: dict[str, Any] = {
        "secret": "jwt-test-secret",
        "iterations": TEST_ITERATIONS,
        "jwt_keys": JWT_KEYS,
        # The failed tokens below are not passwords; lockout is the lockout test's business.
        "lockout_mode": "off",
    }
    values.update(overrides)
    async with (
        serving(tmp_path / "data", auth=AuthSettings(**values)) as server,
        aiohttp.ClientSession(server.url, cookie_jar=aiohttp.DummyCookieJar()) as client,
    ):
        async with client.put(f"/{PRIVATE}", headers=server.auth_headers) as r:
            assert r.status == 201
        security = {"members": {"names": ["jwtuser"], "roles": ["readers"]}}
        async with client.put(
            f"/{PRIVATE}/_security", json=security, headers=server.auth_headers
        ) as r:
            assert r.status == 200
        async with client.put(
            f"/{PRIVATE}/doc", json={"secret": "members-only"}, headers=server.auth_headers
        ) as r:
            assert r.status == 201
        yield Jwt(server.url, client, server.auth_headers)


@pytest.fixture
async def j(tmp_path: Path) -> AsyncIterator[Jwt]:
    async for running in start(tmp_path):
        yield running


# -- good tokens ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sign",
    [
        pytest.param(lambda c: hs256(c), id="HS256 default key"),
        pytest.param(lambda c: rs256(c), id="RS256 default key"),
        pytest.param(lambda c: hs256(c, KID1_KEY, kid="kid1"), id="HS256 kid1"),
        pytest.param(lambda c: hs256(c, kid="_default"), id="HS256 explicit _default kid"),
    ],
)
async def test_a_valid_token_authenticates_its_sub_with_its_roles(
    j: Jwt, sign: Callable[[dict[str, Any]], str]
) -> None:
    token = sign(claims_for("jwtuser", ["writers", "readers"]))
    status, body = await j.who(bearer(token))
    assert status == 200, body
    assert body["userCtx"] == {"name": "jwtuser", "roles": ["writers", "readers"]}
    assert body["info"]["authenticated"] == "jwt"
    assert body["info"]["authentication_handlers"][0] == "jwt"
    status, body = await j.call("GET", f"/{PRIVATE}/doc", bearer(token))
    assert status == 200, body
    assert body["secret"] == "members-only"


async def test_a_token_grants_only_what_its_user_may(j: Jwt) -> None:
    outsider = hs256(claims_for("outsider", ["nobody"]))
    status, body = await j.call("GET", f"/{PRIVATE}/doc", bearer(outsider))
    assert status == 403
    assert body["error"] == "forbidden"
    assert "members-only" not in json.dumps(body)
    by_role = hs256(claims_for("someone", ["readers"]))
    status, body = await j.call("GET", f"/{PRIVATE}/doc", bearer(by_role))
    assert status == 200
    status, body = await j.call("GET", "/_all_dbs", bearer(by_role))
    assert status == 401
    assert body == {"error": "unauthorized", "reason": "You are not a server admin."}


async def test_a_token_with_the_admin_role_is_a_server_admin(j: Jwt) -> None:
    token = rs256(claims_for("boss", ["_admin"]))
    status, body = await j.who(bearer(token))
    assert body["userCtx"] == {"name": "boss", "roles": ["_admin"]}
    status, body = await j.call("GET", "/_all_dbs", bearer(token))
    assert status == 200
    assert PRIVATE in body
    status, body = await j.call("PUT", "/made-by-jwt", bearer(token))
    assert status == 201


async def test_roles_come_from_a_configured_dotted_claim_path(tmp_path: Path) -> None:
    async for jj in start(tmp_path, jwt_roles_claim_path="app.auth.roles"):
        exp = int(time.time()) + 300
        claims = {"sub": "jwtuser", "exp": exp, "app": {"auth": {"roles": ["readers", "x"]}}}
        status, body = await jj.who(bearer(hs256(claims)))
        assert status == 200, body
        assert body["userCtx"] == {"name": "jwtuser", "roles": ["readers", "x"]}
        # The default path means nothing now.
        status, body = await jj.who(
            bearer(hs256({"sub": "u", "exp": exp, "_couchdb": {"roles": ["r"]}}))
        )
        assert body["userCtx"] == {"name": "u", "roles": []}


async def test_configured_required_claims_are_required(tmp_path: Path) -> None:
    async for jj in start(tmp_path, jwt_required_claims=("exp", "iss")):
        status, body = await jj.who(bearer(hs256(claims_for(iss="idp"))))
        assert status == 200, body
        assert body["userCtx"]["name"] == "jwtuser"
        status, body = await jj.who(bearer(hs256(claims_for())))
        # jwtf: a missing required claim is a malformed request, 400.
        assert (status, body) == (400, {"error": "bad_request", "reason": "Missing iss claim"})
        no_exp = {k: v for k, v in claims_for(iss="idp").items() if k != "exp"}
        status, body = await jj.who(bearer(hs256(no_exp)))
        assert (status, body) == (400, {"error": "bad_request", "reason": "Missing exp claim"})


async def test_a_token_stops_working_when_it_expires(j: Jwt) -> None:
    # Verified tokens are cached; the cache must not outlive the token.
    exp = int(time.time()) + 1
    token = hs256({"sub": "jwtuser", "exp": exp})
    status, body = await j.who(bearer(token))
    assert body["userCtx"]["name"] == "jwtuser"
    await asyncio.sleep(exp + 0.1 - time.time())
    status, body = await j.who(bearer(token))
    assert status == 401, body


# -- bad tokens ----------------------------------------------------------------------------


def _bad_tokens() -> dict[str, str]:
    now = int(time.time())
    good = claims_for()
    signed = hs256(good)
    head, payload, signature = signed.split(".")
    other_sub = b64url(
        json.dumps({**good, "sub": "boss", "_couchdb": {"roles": ["_admin"]}}).encode()
    )
    return {
        "expired": hs256({**good, "exp": now - 10}),
        "long expired": rs256({**good, "exp": now - 86400}),
        "not yet valid": hs256({**good, "nbf": now + 3600}),
        "no sub": hs256({k: v for k, v in good.items() if k != "sub"}),
        "empty sub": hs256({**good, "sub": ""}),
        "numeric sub": hs256({**good, "sub": 42}),
        "roles not a list": hs256({**good, "_couchdb": {"roles": "_admin"}}),
        "roles not strings": hs256({**good, "_couchdb": {"roles": [1, 2]}}),
        "wrong hmac key": hs256(good, b"not-the-key-but-just-as-long-as-one-0000"),
        "kid1 token signed with the default key": hs256(good, HMAC_KEY, kid="kid1"),
        "default token signed with kid1's key": hs256(good, KID1_KEY),
        "unknown kid": hs256(good, HMAC_KEY, kid="nope"),
        "RS256 by another key": rs256(good, OTHER_RSA_KEY),
        "RS256 with an unknown kid": rs256(good, RSA_KEY, kid="kid1"),
        "alg none": hand_signed({"alg": "none", "typ": "JWT"}, good, None),
        "alg None with a signature": hand_signed({"alg": "None"}, good, HMAC_KEY),
        "HS256 keyed with the RSA public key": hand_signed({"alg": "HS256"}, good, RSA_PUBLIC_PEM),
        "HS256 keyed with the RSA ini line": hand_signed(
            {"alg": "HS256"}, good, JWT_KEYS["rsa:_default"].encode()
        ),
        "HS256 with kid rsa": hand_signed({"alg": "HS256", "kid": "rsa"}, good, RSA_PUBLIC_PEM),
        "HS512 header over an HS256 signature": hand_signed({"alg": "HS512"}, good, HMAC_KEY),
        "unknown alg": hand_signed({"alg": "XX256"}, good, HMAC_KEY),
        "alg not a string": hand_signed({"alg": ["HS256"]}, good, HMAC_KEY),
        "kid not a string": hand_signed({"alg": "HS256", "kid": 5}, good, HMAC_KEY),
        "header not an object": b64url(b"[1]") + "." + payload + "." + signature,
        "payload not an object": hand_signed({"alg": "HS256"}, [1], HMAC_KEY),  # type: ignore[arg-type]
        "claims swapped under the signature": f"{head}.{other_sub}.{signature}",
        "signature dropped": f"{head}.{payload}.",
        "two segments": f"{head}.{payload}",
        "four segments": f"{signed}.{signature}",
        "garbage": "garbage",
        "empty": "",
        "dots": "...",
        "not base64": "!!!.@@@.###",
        "non-ascii": "ééé.ééé.ééé",
        "oversized": hs256({**good, "pad": "x" * 9000}),
    }


BAD_TOKENS = list(_bad_tokens())


@pytest.mark.parametrize("name", BAD_TOKENS)
async def test_a_bad_token_is_401_or_400_never_a_user(j: Jwt, name: str) -> None:
    token = _bad_tokens()[name]
    for path in ("/_session", f"/{PRIVATE}/doc", "/_all_dbs"):
        status, body = await j.call("GET", path, bearer(token))
        assert status in {400, 401}, (name, path, status, body)
        assert body["error"] in {"unauthorized", "bad_request"}
        assert isinstance(body["reason"], str)


async def test_a_big_token_under_the_header_limit_still_works(j: Jwt) -> None:
    token = hs256({**claims_for(), "pad": "x" * 5900})
    assert 7000 < len(token) < 8100
    status, body = await j.who(bearer(token))
    assert status == 200
    assert body["userCtx"]["name"] == "jwtuser"


async def test_without_keys_a_bearer_token_is_no_credential(tmp_path: Path) -> None:
    # Without [jwt_keys] the handler is off; CouchDB's other handlers skip a scheme they do
    # not know, so the request is anonymous: it may ask who it is, and nothing else.
    admin_token = bearer(hs256(claims_for("boss", ["_admin"])))
    async for jj in start(tmp_path, jwt_keys={}):
        status, body = await jj.who(admin_token)
        assert status in {200, 401}, body
        if status == 200:
            assert body["userCtx"] == {"name": None, "roles": []}
            assert "jwt" not in body["info"]["authentication_handlers"]
        for path in ("/_all_dbs", f"/{PRIVATE}/doc"):
            status, body = await jj.call("GET", path, admin_token)
            assert status == 401, (path, body)
            assert body["error"] == "unauthorized"


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_changed_token_is_refused_or_means_exactly_the_same(
    j: Jwt, data: st.DataObject
) -> None:
    # Base64url's last character may carry unused bits, so a respelling can still verify; but
    # no change to a token can make it say anything but what it said.
    token = data.draw(
        st.sampled_from(
            [
                hs256({"sub": "jwtuser", "exp": EXP, "_couchdb": {"roles": ["readers"]}}),
                rs256({"sub": "jwtuser", "exp": EXP, "_couchdb": {"roles": ["readers"]}}),
            ]
        ),
        label="token",
    )
    index = data.draw(st.integers(0, len(token) - 1), label="index")
    char = data.draw(
        st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ "),
        label="char",
    )
    how = data.draw(st.sampled_from(["replace", "insert", "delete"]), label="how")
    if how == "replace":
        mutated = token[:index] + char + token[index + 1 :]
    elif how == "insert":
        mutated = token[:index] + char + token[index:]
    else:
        mutated = token[:index] + token[index + 1 :]
    status, body = await j.who(bearer(mutated))
    assert status in {200, 400, 401}, (mutated, status, body)
    if status == 200 and body["userCtx"]["name"] is not None:
        assert body["userCtx"] == {"name": "jwtuser", "roles": ["readers"]}, mutated
