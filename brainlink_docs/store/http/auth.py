"""How an ``HttpStore`` proves who it is to a remote: the ways, as values, and their live state.

The ways a caller chooses (``auth=`` of ``HttpStore.open``, ``HttpDatabases.connect`` and
``open_endpoint``), each a frozen value:

- ``Basic(login, password)``: an ``Authorization: Basic`` header on every request (CouchDB's
  ``default_authentication_handler``). A ``(login, password)`` tuple, an ``aiohttp.BasicAuth`` and
  URL userinfo all mean this.
- ``Bearer(token)``: ``Authorization: Bearer <JWT>`` on every request (CouchDB's
  ``jwt_authentication_handler``; the token is the caller's to mint and renew).
- ``CookieSession(login, password)``: one ``POST /_session`` at the server root, then the
  ``AuthSession`` cookie on every request (``cookie_authentication_handler``): the server checks
  the password (PBKDF2, deliberately slow) once per session instead of once per request.

At run time each becomes a ``Credential`` shared by a store and the transports derived from it:
``headers`` is a prebuilt dict, so a request costs an attribute read and a dict merge, never a
login. ``CookieLogin`` is the only stateful one: it logs in before the first request, takes the
refreshed cookie CouchDB sends in ``Set-Cookie`` once a tenth of ``[chttpd_auth] timeout`` has
passed, and when a request is refused with 401 (CouchDB treats an expired cookie as no credential,
so a protected database answers 401) logs in again once and lets the transport retry once. Two
requests that fail together share one new login (the lock, and a check that the cookie they used
is still the current one).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp
from multidict import CIMultiDictProxy

from brainlink_docs.errors import Unauthorized

# CouchDB's cookie name (couch_httpd_auth); the server refreshes it under the same name.
COOKIE_NAME = "AuthSession"


@dataclass(frozen=True, slots=True)
class Basic:
    """HTTP Basic credentials, sent with every request."""

    login: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if ":" in self.login:
            raise ValueError('a ":" is not allowed in a Basic auth login (RFC 7617)')

    def header(self) -> str:
        """The ``Authorization`` value (UTF-8, as CouchDB decodes it)."""
        pair = f"{self.login}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


@dataclass(frozen=True, slots=True)
class Bearer:
    """A bearer token (a JWT the server verifies with its ``[jwt_keys]``), sent as is."""

    token: str = field(repr=False)

    def header(self) -> str:
        return f"Bearer {self.token}"


@dataclass(frozen=True, slots=True)
class CookieSession:
    """A login at ``POST /_session``; requests then carry the ``AuthSession`` cookie."""

    login: str
    password: str = field(repr=False)


Auth = Basic | Bearer | CookieSession
# What the ``auth=`` arguments accept: a way, or Basic credentials in the older spellings.
AuthOption = Auth | aiohttp.BasicAuth | tuple[str, str]


def as_auth(option: AuthOption) -> Auth:
    """The way ``option`` names (a tuple or an ``aiohttp.BasicAuth`` is ``Basic``)."""
    if isinstance(option, Basic | Bearer | CookieSession):
        return option
    if isinstance(option, aiohttp.BasicAuth):
        return Basic(option.login, option.password)
    login, password = option
    return Basic(login, password)


# POST ``url`` with a JSON body; answers the reply headers or raises the server's CouchError.
Post = Callable[[str, Mapping[str, str]], Awaitable[CIMultiDictProxy[str]]]


class Credential(Protocol):
    """The live side of a way to authenticate, as the transport uses it around each request."""

    @property
    def headers(self) -> Mapping[str, str]:
        """What the next request carries; a new object after every login (see ``renew``)."""
        ...

    @property
    def renewable(self) -> bool:
        """Whether a 401 may be cured by logging in again."""
        ...

    async def ready(self, post: Post) -> None:
        """Log in if there is no session yet."""
        ...

    async def renew(self, stale: Mapping[str, str], post: Post) -> None:
        """A request sent with ``stale`` headers got a 401: log in again unless another
        request already did."""
        ...

    def observe(self, headers: CIMultiDictProxy[str]) -> None:
        """Take what a response says about the session (a refreshed cookie)."""
        ...


class FixedHeaders:
    """No credentials, Basic or Bearer: the same headers every time, nothing to renew."""

    renewable = False

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = dict(headers)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def ready(self, post: Post) -> None:
        return None

    async def renew(self, stale: Mapping[str, str], post: Post) -> None:
        return None

    def observe(self, headers: CIMultiDictProxy[str]) -> None:
        return None


class CookieLogin:
    """A ``CookieSession`` in use: the current ``AuthSession`` cookie of one server."""

    renewable = True

    def __init__(self, session: CookieSession, login_url: str) -> None:
        self._credentials = {"name": session.login, "password": session.password}
        self._login_url = login_url
        self._headers: dict[str, str] = {}
        self._lock = asyncio.Lock()

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    async def ready(self, post: Post) -> None:
        if self._headers:
            return
        async with self._lock:
            if not self._headers:
                await self._login(post)

    async def renew(self, stale: Mapping[str, str], post: Post) -> None:
        async with self._lock:
            if self._headers is stale or not self._headers:
                await self._login(post)

    def observe(self, headers: CIMultiDictProxy[str]) -> None:
        if "Set-Cookie" not in headers:
            return
        value = session_cookie(headers)
        if value is None:
            return
        # An emptied cookie (a logout) means no session: the next request logs in first.
        self._headers = {"Cookie": f"{COOKIE_NAME}={value}"} if value else {}

    async def _login(self, post: Post) -> None:
        self._headers = {}
        reply_headers = await post(self._login_url, self._credentials)
        value = session_cookie(reply_headers)
        if not value:
            raise Unauthorized(f"POST {self._login_url} answered without an {COOKIE_NAME} cookie")
        self._headers = {"Cookie": f"{COOKIE_NAME}={value}"}


def session_cookie(headers: CIMultiDictProxy[str]) -> str | None:
    """The ``AuthSession`` value a response sets (``""`` when it clears it), else None."""
    for line in headers.getall("Set-Cookie", ()):
        name, _, rest = line.partition("=")
        if name.strip() == COOKIE_NAME:
            return rest.partition(";")[0].strip().strip('"')
    return None


def credential_for(auth: Auth | None, login_url: str) -> Credential:
    """The live credential of ``auth``; ``login_url`` is the server's ``/_session``."""
    if auth is None:
        return FixedHeaders({})
    if isinstance(auth, CookieSession):
        return CookieLogin(auth, login_url)
    return FixedHeaders({"Authorization": auth.header()})
