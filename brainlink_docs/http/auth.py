"""Authentication: one place that turns a request into a ``UserCtx``.

This server runs like a fresh CouchDB 3 with ``require_valid_user``: every request but the
welcome page and ``/_up`` needs the server admin's basic-auth credentials. PBKDF2 is slow on
purpose, so a verified ``(name, password)`` is remembered by a keyed digest for a while: PBKDF2
runs once per login, and the plaintext is never kept.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import os
import time
from dataclasses import dataclass, field

from aiohttp import web

from brainlink_docs.config import Settings
from brainlink_docs.errors import BadRequest, Unauthorized
from brainlink_docs.security.passwords import verify_password

# How long a verified credential is trusted without running PBKDF2 again.
CACHE_SECONDS = 600.0
# An Authorization header longer than this is malformed, not a credential.
MAX_AUTH_HEADER = 8192
ANONYMOUS_PATHS = frozenset({"/", "/_up"})


@dataclass(frozen=True, slots=True)
class UserCtx:
    name: str | None
    roles: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return "_admin" in self.roles

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "roles": list(self.roles)}


ANONYMOUS = UserCtx(None, ())


@dataclass
class PasswordCache:
    """Digests of recently verified credentials (keyed by a per-process secret)."""

    secret: bytes = field(default_factory=lambda: os.urandom(32))
    verified: dict[str, tuple[bytes, float]] = field(default_factory=dict)

    def _digest(self, password: str) -> bytes:
        return hmac.digest(self.secret, password.encode(), "sha256")

    def check(self, name: str, password: str) -> bool:
        entry = self.verified.get(name)
        if entry is None or entry[1] < time.monotonic():
            return False
        return hmac.compare_digest(entry[0], self._digest(password))

    def remember(self, name: str, password: str) -> None:
        self.verified[name] = (self._digest(password), time.monotonic() + CACHE_SECONDS)


def _basic_credentials(header: str) -> tuple[str, str]:
    if len(header) > MAX_AUTH_HEADER:
        raise BadRequest("Authorization header too large")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized("Authentication required.")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("Malformed basic authorization header") from exc
    name, sep, password = decoded.partition(":")
    if not sep:
        raise BadRequest("Malformed basic authorization header")
    return name, password


async def authenticate(request: web.Request, settings: Settings, cache: PasswordCache) -> UserCtx:
    header = request.headers.get("Authorization")
    if header is None:
        return ANONYMOUS
    name, password = _basic_credentials(header)
    stored = settings.admins.get(name)
    if stored is None:
        raise Unauthorized("Name or password is incorrect.")
    if not cache.check(name, password):
        ok = await asyncio.to_thread(verify_password, password, stored)
        if not ok:
            raise Unauthorized("Name or password is incorrect.")
        cache.remember(name, password)
    return UserCtx(name, ("_admin",))


def require_admin(user: UserCtx) -> None:
    if user.name is None:
        raise Unauthorized("Authentication required.")
    if not user.is_admin:
        raise Unauthorized("You are not a server admin.")
