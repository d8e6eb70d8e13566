"""``AuthSession`` cookies as CouchDB makes them: ``base64url(name:hex_time:hmac)``.

The HMAC key is the server secret followed by the user's password salt, so a cookie dies with a
password change and cannot be made without the secret. A cookie is good for ``timeout`` seconds
after its timestamp; once less than 90% of that is left, the server hands out a fresh one
(CouchDB's refresh rule). CouchDB's cookies stay valid after logout until they expire; ours do
not: a logged-out cookie is remembered (by digest) until its expiry and refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass

from brainlink_docs.errors import BadRequest

COOKIE_NAME = "AuthSession"
# A cookie longer than this is not one we made (names are short, the MAC is 32 bytes).
MAX_COOKIE_CHARS = 4096
MALFORMED = "Malformed AuthSession cookie. Please clear your cookies."


@dataclass(frozen=True, slots=True)
class SessionCookie:
    name: str
    issued: int  # seconds since the epoch
    mac: bytes

    def expires(self, timeout: int) -> int:
        return self.issued + timeout


def _mac(secret: str, salt: str, name: str, issued: int) -> bytes:
    message = f"{name}:{issued:X}".encode()
    return hmac.digest((secret + salt).encode(), message, hashlib.sha256)


def make_cookie(secret: str, salt: str, name: str, issued: int | None = None) -> str:
    issued = int(time.time()) if issued is None else issued
    raw = f"{name}:{issued:X}:".encode() + _mac(secret, salt, name, issued)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_cookie(value: str) -> SessionCookie:
    """Split a cookie; ``BadRequest`` (CouchDB's 400) when it is not one of ours in shape."""
    if len(value) > MAX_COOKIE_CHARS:
        raise BadRequest(MALFORMED)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        name_bytes, time_bytes, mac = raw.split(b":", 2)
        name = name_bytes.decode("utf-8")
        issued = int(time_bytes.decode("ascii"), 16)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(MALFORMED) from exc
    return SessionCookie(name, issued, mac)


def cookie_valid(cookie: SessionCookie, secret: str, salt: str, now: float, timeout: int) -> bool:
    if cookie.expires(timeout) < now:
        return False
    return hmac.compare_digest(cookie.mac, _mac(secret, salt, cookie.name, cookie.issued))


def needs_refresh(cookie: SessionCookie, now: float, timeout: int) -> bool:
    return cookie.expires(timeout) - now < timeout * 0.9


def cookie_digest(value: str) -> bytes:
    """What the logout list keeps of a cookie: enough to recognise it, useless to replay it."""
    return hashlib.sha256(value.encode()).digest()
