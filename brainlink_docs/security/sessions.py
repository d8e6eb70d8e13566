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
import re
import time
from dataclasses import dataclass

from brainlink_docs.errors import BadRequest

COOKIE_NAME = "AuthSession"
# A cookie longer than this is not one we made (names are short, the MAC is 32 bytes).
MAX_COOKIE_CHARS = 4096
MALFORMED = "Malformed AuthSession cookie. Please clear your cookies."
# How make_cookie spells a time: uppercase hex, no sign, no leading zero.
_HEX_TIME = re.compile(r"[1-9A-F][0-9A-F]{0,15}|0")


@dataclass(frozen=True, slots=True)
class SessionCookie:
    name: str
    time_text: str  # the timestamp exactly as the cookie spells it (the MAC covers this text)
    mac: bytes

    @property
    def issued(self) -> int:
        return int(self.time_text, 16)

    def expires(self, timeout: int) -> int:
        return self.issued + timeout

    @property
    def identity(self) -> tuple[str, str, bytes]:
        """What makes two cookies the same one, however their bytes were spelled."""
        return (self.name, self.time_text, self.mac)


def _mac(secret: str, salt: str, name: str, time_text: str) -> bytes:
    message = f"{name}:{time_text}".encode()
    return hmac.digest((secret + salt).encode(), message, hashlib.sha256)


def make_cookie(secret: str, salt: str, name: str, issued: int | None = None) -> str:
    issued = int(time.time()) if issued is None else issued
    time_text = f"{issued:X}"
    raw = f"{name}:{time_text}:".encode() + _mac(secret, salt, name, time_text)
    return _encode(raw)


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def parse_cookie(value: str) -> SessionCookie:
    """Split a cookie; ``BadRequest`` (CouchDB's 400) when it is not one of ours in shape.

    Strict on purpose: one cookie has one spelling (canonical unpadded base64url, uppercase hex
    time), so a logged-out cookie cannot come back in a different disguise.
    """
    if len(value) > MAX_COOKIE_CHARS:
        raise BadRequest(MALFORMED)
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_", validate=True)
        if _encode(raw) != value:
            raise ValueError("not canonical base64url")
        name_bytes, time_bytes, mac = raw.split(b":", 2)
        name = name_bytes.decode("utf-8")
        time_text = time_bytes.decode("ascii")
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest(MALFORMED) from exc
    if not _HEX_TIME.fullmatch(time_text):
        raise BadRequest(MALFORMED)
    return SessionCookie(name, time_text, mac)


def cookie_valid(cookie: SessionCookie, secret: str, salt: str, now: float, timeout: int) -> bool:
    if cookie.expires(timeout) < now:
        return False
    return hmac.compare_digest(cookie.mac, _mac(secret, salt, cookie.name, cookie.time_text))


def needs_refresh(cookie: SessionCookie, now: float, timeout: int) -> bool:
    return cookie.expires(timeout) - now < timeout * 0.9
