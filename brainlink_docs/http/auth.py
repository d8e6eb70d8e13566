"""Authentication: one place that turns a request into a ``UserCtx``.

CouchDB's handlers, in the order a request offers them: an ``Authorization: Bearer`` JWT, an
``Authorization: Basic`` name and password, an ``AuthSession`` cookie; nothing is anonymous.
Names resolve to the config's server admins first, then to ``_users`` documents (cached until a
write to ``_users`` changes them). PBKDF2 is slow on purpose, so a verified password is
remembered by a keyed digest bound to the stored salt: PBKDF2 runs once per login, a password
change forgets it, and the plaintext is never kept. Failed logins count towards a lockout of the
(user, address) pair.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.errors import BadRequest, CouchError, Forbidden, NotFound, Unauthorized
from brainlink_docs.security.acl import ANONYMOUS, SERVER_ADMIN_ROLE, UserCtx
from brainlink_docs.security.lockout import Lockout, account
from brainlink_docs.security.passwords import PasswordHash, verify_password
from brainlink_docs.security.sessions import (
    COOKIE_NAME,
    SessionCookie,
    cookie_valid,
    make_cookie,
    needs_refresh,
    parse_cookie,
)
from brainlink_docs.security.tokens import TokenVerifier
from brainlink_docs.security.users import USERS_DB, UserRecord, user_doc_id
from brainlink_docs.store.api import Databases

log = logging.getLogger("brainlink_docs.auth")

# How long a verified credential is trusted without running PBKDF2 again.
CACHE_SECONDS = 600.0
# An Authorization header longer than this is malformed, not a credential.
MAX_AUTH_HEADER = 8192
# Bound on cached user documents (a server with 10,000 users keeps the active ones).
MAX_CACHED_USERS = 10_000
MAX_CACHED_COOKIES = 10_000
BAD_CREDENTIALS = "Name or password is incorrect."
# Where logged-out cookies are remembered across restarts (never replicated: a _local doc).
LOGOUTS_DOC = "_local/brainlink-logouts"
LOCKED = "Account is temporarily locked due to multiple authentication failures"


@dataclass
class PasswordCache:
    """Digests of recently verified credentials, keyed by a per-process secret.

    The digest covers the stored salt, so a changed password never matches an old entry.
    """

    secret: bytes = field(default_factory=lambda: os.urandom(32))
    verified: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def _digest(self, stored: PasswordHash, password: str) -> bytes:
        return hmac.digest(self.secret, f"{stored.salt}\0{password}".encode(), "sha256")

    def check(self, name: str, stored: PasswordHash, password: str) -> bool:
        entry = self.verified.get(name)
        if entry is None or entry[1] < time.monotonic():
            return False
        return hmac.compare_digest(entry[0], self._digest(stored, password))

    def remember(self, name: str, stored: PasswordHash, password: str) -> None:
        if len(self.verified) >= MAX_CACHED_USERS:
            self.verified.clear()
        self.verified[name] = (self._digest(stored, password), time.monotonic() + CACHE_SECONDS)


@dataclass(frozen=True, slots=True)
class Authenticated:
    user: UserCtx
    # Which handler vouched for the user: "jwt", "default" (basic) or "cookie".
    handler: str | None = None
    # A fresh AuthSession cookie to send back (CouchDB's refresh), when one is due.
    refresh: str | None = None


def basic_credentials(header: str) -> tuple[str, str]:
    """``Basic <base64 name:password>`` (the caller checked the scheme)."""
    _, _, token = header.partition(" ")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("Malformed basic authorization header") from exc
    name, sep, password = decoded.partition(":")
    if not sep:
        raise BadRequest("Malformed basic authorization header")
    return name, password


def session_cookie(header: str | None) -> str | None:
    """The ``AuthSession`` value of a ``Cookie`` header, without parsing every other cookie
    (aiohttp's full parse showed in the cookie GET profile)."""
    if header is None or COOKIE_NAME not in header:
        return None
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == COOKIE_NAME:
            return value
    return None


class Authenticator:
    def __init__(self, settings: Settings, databases: Databases) -> None:
        self.settings = settings
        self._databases = databases
        self._passwords = PasswordCache()
        auth = settings.auth
        self._lockout = Lockout(
            auth.lockout_threshold, auth.lockout_seconds, auth.lockout_max_objects
        )
        self.tokens = TokenVerifier(
            auth.jwt_keys,
            required_claims=auth.jwt_required_claims,
            roles_claim_path=auth.jwt_roles_claim_path,
        )
        self._users: OrderedDict[str, UserRecord | None] = OrderedDict()
        self._admins = {
            name: UserRecord(name, (SERVER_ADMIN_ROLE,), stored)
            for name, stored in settings.admins.items()
        }
        # Verified AuthSession values: a request with a known cookie costs a dict lookup, not
        # a base64 decode and an HMAC (measured: cookie GETs at 0.83x basic auth without it).
        self._cookies: OrderedDict[str, tuple[SessionCookie, UserRecord, UserCtx]] = OrderedDict()
        # Logged-out cookies (name, time, MAC) until they would have expired anyway.
        self._revoked: dict[tuple[str, str, bytes], float] = {}
        self._revoked_lock = asyncio.Lock()

    # -- who is asking -------------------------------------------------------------------
    async def authenticate(self, request: web.Request) -> Authenticated:
        header = request.headers.get("Authorization")
        if header is not None:
            if len(header) > MAX_AUTH_HEADER:
                raise BadRequest("Authorization header too large")
            scheme, _, token = header.partition(" ")
            scheme = scheme.lower()
            if scheme == "bearer" and self.tokens.enabled:
                return Authenticated(self.tokens.verify(token.strip()), "jwt")
            if scheme != "basic":
                # CouchDB's handlers skip a scheme they do not know: the request is anonymous
                # (a 401 challenge here would make browsers pop up a login dialog).
                return await self._without_header(request)
            name, password = basic_credentials(header)
            record = await self.login(name, password, request.remote or "")
            return Authenticated(UserCtx(record.name, record.roles), "default")
        return await self._without_header(request)

    async def _without_header(self, request: web.Request) -> Authenticated:
        value = session_cookie(request.headers.get("Cookie"))
        if value:
            return await self._from_cookie(value)
        return Authenticated(ANONYMOUS)

    async def login(self, name: str, password: str, address: str) -> UserRecord:
        """Check a name and password (basic auth and ``POST /_session``)."""
        auth = self.settings.auth
        record = await self.user(name)
        # CouchDB keys the lockout by the salt too: an admin's new password unlocks the user.
        key = account(name, record.salt if record is not None else "")
        if auth.lockout_mode != "off" and self._lockout.locked(key, address):
            log.warning("login of %r from %s refused: locked out", name, address)
            if auth.lockout_mode == "enforce":
                raise Forbidden(LOCKED)
        stored = record.password if record is not None else None
        if stored is None or record is None:
            self._failed(key, address)
            raise Unauthorized(BAD_CREDENTIALS)
        if not self._passwords.check(name, stored, password):
            ok = await asyncio.to_thread(verify_password, password, stored)
            if not ok:
                self._failed(key, address)
                raise Unauthorized(BAD_CREDENTIALS)
            self._passwords.remember(name, stored, password)
        self._lockout.succeed(key, address)
        return record

    def _failed(self, key: str, address: str) -> None:
        if self.settings.auth.lockout_mode != "off":
            self._lockout.fail(key, address)

    async def _from_cookie(self, value: str) -> Authenticated:
        now = time.time()
        hit = self._cookies.get(value)
        if hit is not None:
            # Verified before: still good while the user record is the one it was checked
            # against (a password change replaces it), it has not expired nor been logged out.
            cookie, record, user = hit
            if (
                await self.user(cookie.name) is record
                and cookie.expires(self.settings.auth.timeout) >= now
                and not self._is_revoked(cookie, now)
            ):
                return self._cookie_session(cookie, record, user, now)
            del self._cookies[value]
        cookie = parse_cookie(value)
        if self._is_revoked(cookie, now):
            return Authenticated(ANONYMOUS)
        found = await self.user(cookie.name)
        if found is None or not self._cookie_ok(cookie, found, now):
            # CouchDB: an expired or forged cookie is no credential; the request is anonymous.
            return Authenticated(ANONYMOUS)
        user = UserCtx(found.name, found.roles)
        self._cookies[value] = (cookie, found, user)
        while len(self._cookies) > MAX_CACHED_COOKIES:
            self._cookies.popitem(last=False)
        return self._cookie_session(cookie, found, user, now)

    def _cookie_session(
        self, cookie: SessionCookie, record: UserRecord, user: UserCtx, now: float
    ) -> Authenticated:
        if needs_refresh(cookie, now, self.settings.auth.timeout):
            return Authenticated(user, "cookie", self.new_cookie(record))
        return Authenticated(user, "cookie")

    def _cookie_ok(self, cookie: SessionCookie, record: UserRecord, now: float) -> bool:
        auth = self.settings.auth
        if not auth.secret:
            return False
        return cookie_valid(cookie, auth.secret, record.salt, now, auth.timeout)

    # -- sessions ------------------------------------------------------------------------
    def new_cookie(self, record: UserRecord) -> str:
        issued = int(time.time())
        while True:
            value = make_cookie(self.settings.auth.secret, record.salt, record.name, issued)
            # A login in the same second as a logout would get the logged-out cookie back.
            if not self._is_revoked(parse_cookie(value), issued):
                return value
            issued += 1

    async def revoke(self, value: str) -> None:
        """Logout: this cookie is refused from now on, even before it expires, and after a
        restart too (the list is kept in a ``_local`` document of ``_users``)."""
        try:
            cookie = parse_cookie(value)
        except CouchError:
            return
        now = time.time()
        self._revoked = {d: t for d, t in self._revoked.items() if t >= now}
        self._revoked[cookie.identity] = cookie.expires(self.settings.auth.timeout)
        async with self._revoked_lock:
            await self._save_revoked()

    async def _save_revoked(self) -> None:
        entries = [[n, t, mac.hex(), exp] for (n, t, mac), exp in self._revoked.items()]
        doc: dict[str, object] = {"_id": LOGOUTS_DOC, "cookies": entries}
        async with self._databases.use(USERS_DB) as store:
            with contextlib.suppress(NotFound):
                doc["_rev"] = (await store.get(LOGOUTS_DOC))["_rev"]
            await store.put(doc)

    async def load_revoked(self) -> None:
        """At start: the logouts of cookies that have not expired yet."""
        try:
            async with self._databases.use(USERS_DB) as store:
                doc = await store.get(LOGOUTS_DOC)
        except NotFound:
            return
        now = time.time()
        for name, time_text, mac, expiry in doc.get("cookies", []):
            if expiry >= now:
                self._revoked[(name, time_text, bytes.fromhex(mac))] = expiry

    def _is_revoked(self, cookie: SessionCookie, now: float) -> bool:
        if not self._revoked:
            return False
        expiry = self._revoked.get(cookie.identity)
        return expiry is not None and expiry >= now

    # -- users ---------------------------------------------------------------------------
    async def user(self, name: str) -> UserRecord | None:
        admin = self._admins.get(name)
        if admin is not None:
            return admin
        if name in self._users:
            self._users.move_to_end(name)
            return self._users[name]
        record = await self._load_user(name)
        self._users[name] = record
        while len(self._users) > MAX_CACHED_USERS:
            self._users.popitem(last=False)
        return record

    async def _load_user(self, name: str) -> UserRecord | None:
        try:
            async with self._databases.use(USERS_DB) as store:
                doc = await store.get(user_doc_id(name))
        except CouchError:
            return None
        return UserRecord.from_doc(doc)

    def forget_all_users(self) -> None:
        """``_users`` itself was deleted or created: nothing cached about it holds."""
        self._users.clear()
        self._passwords.verified.clear()

    def forget_users(self, names: list[str]) -> None:
        """A write to ``_users`` changed these users: read them again next time."""
        for name in names:
            self._users.pop(name, None)
            self._passwords.verified.pop(name, None)
