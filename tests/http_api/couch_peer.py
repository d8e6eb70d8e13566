"""The real CouchDB as the other side of differential tests: one request sent to it and to our
server, and CouchDB's config changed for a test and put back afterwards.

CouchDB reads most settings live (``[cors]``, ``[jwt_keys]``), but ``[chttpd]
authentication_handlers`` only when chttpd starts, so a test that needs the JWT handler asks for
a restart (``POST /_node/_local/_restart``, about 5 s) on the way in and on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from couch import CouchServer
from multidict import CIMultiDictProxy

# How long a restarted CouchDB may take to answer again (it took ~5 s on the test machine).
RESTART_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON, else the raw bytes
    headers: CIMultiDictProxy[str]

    def cookie(self) -> str | None:
        """The ``AuthSession`` value the answer sets, if it sets one."""
        for value in self.headers.getall("Set-Cookie", []):
            name, _, rest = value.partition("=")
            if name.strip() == "AuthSession":
                return rest.partition(";")[0]
        return None


async def ask(
    base_url: str,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    json_body: Any = None,
    data: bytes | None = None,
    auth: tuple[str, str] | None = None,
) -> Answer:
    """One request (``auth``: basic credentials), without cookies kept and without redirects
    followed."""
    kwargs: dict[str, Any] = {"headers": dict(headers or {}), "allow_redirects": False}
    if auth is not None:
        kwargs["headers"]["Authorization"] = aiohttp.encode_basic_auth(*auth)
    if json_body is not None:
        kwargs["data"] = json.dumps(json_body).encode()
        kwargs["headers"].setdefault("Content-Type", "application/json")
    elif data is not None:
        kwargs["data"] = data
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session,
        session.request(method, base_url + path, **kwargs) as r,
    ):
        raw = await r.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return Answer(r.status, body, r.headers)


def admin_auth(couch: CouchServer) -> tuple[str, str]:
    return couch.auth


async def _config_value(couch: CouchServer, section: str, key: str) -> str | None:
    answer = await ask(
        couch.bare_url, "GET", f"/_node/_local/_config/{section}/{key}", auth=admin_auth(couch)
    )
    if answer.status == 404:
        return None
    assert answer.status == 200, answer
    return str(answer.body)


async def _set_config(couch: CouchServer, section: str, key: str, value: str | None) -> None:
    path = f"/_node/_local/_config/{section}/{key}"
    if value is None:
        answer = await ask(couch.bare_url, "DELETE", path, auth=admin_auth(couch))
        assert answer.status in (200, 404), answer
        return
    answer = await ask(couch.bare_url, "PUT", path, json_body=value, auth=admin_auth(couch))
    assert answer.status == 200, answer


async def _uptime(couch: CouchServer) -> float:
    answer = await ask(couch.bare_url, "GET", "/_node/_local/_system", auth=admin_auth(couch))
    assert answer.status == 200, answer
    return float(answer.body["uptime"])


async def restart(couch: CouchServer) -> None:
    """Restart CouchDB and wait until it answers with its system databases again."""
    before = await _uptime(couch)
    answer = await ask(
        couch.bare_url, "POST", "/_node/_local/_restart", json_body={}, auth=admin_auth(couch)
    )
    assert answer.status == 200, answer
    deadline = time.monotonic() + RESTART_TIMEOUT_S
    went_down = False
    while time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        try:
            if not went_down:
                went_down = await _uptime(couch) < before
                continue
            # Up, with _users and the _auth design document chttpd_auth_cache writes into it.
            auth_ddoc = await ask(
                couch.bare_url, "GET", "/_users/_design/_auth", auth=admin_auth(couch)
            )
            if auth_ddoc.status == 200:
                return
        except (aiohttp.ClientError, AssertionError):
            went_down = True
    raise TimeoutError("CouchDB did not come back after _restart")


@contextlib.asynccontextmanager
async def couch_config(
    couch: CouchServer, values: Mapping[tuple[str, str], str], *, restart_needed: bool = False
) -> AsyncIterator[None]:
    """CouchDB with ``{(section, key): value}`` set for the block, the old values put back
    after it (a key that was unset is deleted again)."""
    previous = {k: await _config_value(couch, *k) for k in values}
    try:
        for (section, key), value in values.items():
            await _set_config(couch, section, key, value)
        if restart_needed:
            await restart(couch)
        yield
    finally:
        for (section, key), value in previous.items():
            await _set_config(couch, section, key, value)
        if restart_needed:
            await restart(couch)


# How long a freshly (re)started CouchDB may take to put its own rules in force.
WARM_UP_TIMEOUT_S = 30.0


async def wait_for_users_rules(couch: CouchServer) -> None:
    """Wait until an opened ``_users`` enforces its ``validate_doc_update``.

    Observed on CouchDB 3.5.0: for about 4 s after a start, an anonymous sign-up with roles is
    accepted (201), the ``_auth`` design document's rules not yet in force. Probes with such
    sign-ups (deleting any that got in) until one is refused.
    """
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    while True:
        name = f"warm-up-{time.time_ns():x}"
        path = f"/_users/org.couchdb.user:{name}"
        doc = {"name": name, "password": "x", "roles": ["warm-up"], "type": "user"}
        answer = await ask(couch.bare_url, "PUT", path, json_body=doc)
        if answer.status == 403:
            return
        if answer.status in (201, 202):
            gone = await ask(
                couch.bare_url, "DELETE", f"{path}?rev={answer.body['rev']}", auth=couch.auth
            )
            assert gone.status in (200, 202), gone.body
        assert time.monotonic() < deadline, f"_users rules not in force: {answer.body}"
        await asyncio.sleep(0.2)


async def wait_until(
    couch: CouchServer,
    path: str,
    headers: Mapping[str, str],
    ready: Callable[[Answer], bool],
    what: str,
) -> None:
    """Wait until ``GET path`` answers as ``ready`` wants (a restarted CouchDB answered a valid
    JWT with a 500 ``badarg`` for a moment)."""
    deadline = time.monotonic() + WARM_UP_TIMEOUT_S
    while True:
        answer = await ask(couch.bare_url, "GET", path, headers=headers)
        if ready(answer):
            return
        assert time.monotonic() < deadline, f"{what}: {answer.status} {answer.body}"
        await asyncio.sleep(0.2)
