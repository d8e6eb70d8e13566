"""Password hashing as CouchDB 3.5 stores it: PBKDF2 with a random salt, never the plaintext.

A stored hash is ``-pbkdf2:<prf>-<derived key hex>,<salt hex>,<iterations>`` in the config file
(CouchDB's ``[admins]`` form) and the same four fields in a ``_users`` document. Verification is
constant-time, and a verified (name, password) pair is cached by a keyed digest so PBKDF2 runs
once per login, not once per request.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from brainlink_docs.errors import BadRequest

# CouchDB 3.5's defaults: pbkdf2 with sha256 and 600,000 iterations (OWASP's 2023 figure).
DEFAULT_PRF = "sha256"
DEFAULT_ITERATIONS = 600_000
SALT_BYTES = 16


@dataclass(frozen=True, slots=True)
class PasswordHash:
    prf: str
    derived_key: str
    salt: str
    iterations: int

    def to_config(self) -> str:
        return f"-pbkdf2:{self.prf}-{self.derived_key},{self.salt},{self.iterations}"


def hash_password(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, prf: str = DEFAULT_PRF
) -> PasswordHash:
    salt = os.urandom(SALT_BYTES).hex()
    key = _derive(password, salt, iterations, prf)
    return PasswordHash(prf, key, salt, iterations)


def _derive(password: str, salt: str, iterations: int, prf: str) -> str:
    return hashlib.pbkdf2_hmac(prf, password.encode(), salt.encode(), iterations).hex()


def verify_password(password: str, stored: PasswordHash) -> bool:
    candidate = _derive(password, stored.salt, stored.iterations, stored.prf)
    return hmac.compare_digest(candidate, stored.derived_key)


def parse_config_hash(text: str) -> PasswordHash:
    """Read ``-pbkdf2:<prf>-<key>,<salt>,<iterations>`` (or CouchDB's older ``-pbkdf2-`` form)."""
    if text.startswith("-pbkdf2:"):
        head, _, rest = text[len("-pbkdf2:") :].partition("-")
        prf = head
    elif text.startswith("-pbkdf2-"):
        prf, rest = "sha1", text[len("-pbkdf2-") :]
    else:
        raise BadRequest("not a pbkdf2 password hash")
    parts = rest.split(",")
    if len(parts) != 3 or not parts[2].isdigit():
        raise BadRequest("malformed pbkdf2 password hash")
    return PasswordHash(prf, parts[0], parts[1], int(parts[2]))
