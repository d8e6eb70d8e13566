"""JWT bearer tokens as CouchDB's ``jwt_authentication_handler`` reads them.

Keys come from the config's ``[jwt_keys]``: ``hmac:<kid>`` holds a base64 secret, ``rsa:<kid>``
and ``ec:<kid>`` a PEM public key (newlines may be written ``\\n`` to fit one ini line); a token
without ``kid`` uses ``_default``. ``sub`` names the user; roles come from the claim at
``roles_claim_path`` (a top-level key of that exact name first, then a dotted path);
``exp``/``nbf`` are always checked when present and the configured claims are required (``exp``
unless configured otherwise, as CouchDB's ``[jwt_auth] required_claims``). A verified token is
remembered until it expires, so a client that sends one token with every request pays for the
signature check once.

Errors are CouchDB's (``jwtf`` and ``chttpd_auth``, observed on 3.5.0): a token that is not one
(malformed, a bad signature, an algorithm or kid without a key, a missing required claim) is 400
``bad_request``; a well-formed token that does not name a user now (expired, not yet valid, no
``sub``) is 401 ``unauthorized``.
"""

from __future__ import annotations

import base64
import binascii
import time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from brainlink_docs.errors import BadRequest, CouchError, Unauthorized
from brainlink_docs.security.acl import UserCtx

# Bounded caches: a flood of distinct tokens costs memory no more than this many entries.
MAX_CACHED_TOKENS = 10_000
MAX_TOKEN_CHARS = 8192
_FAMILIES = {"HS": "hmac", "RS": "rsa", "PS": "rsa", "ES": "ec"}
# CouchDB's [jwt_auth] required_claims default: a token without exp would never expire.
DEFAULT_REQUIRED_CLAIMS = ("exp",)
# jwtf's reasons, word for word.
MALFORMED = "Malformed token"
BAD_ALG = "Invalid alg header parameter"
UNKNOWN_KID = "Unknown kid"


class TokenVerifier:
    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        required_claims: tuple[str, ...] = DEFAULT_REQUIRED_CLAIMS,
        roles_claim_path: str = "_couchdb.roles",
    ) -> None:
        self._keys: dict[str, Any] = {k: _load_key(k, v) for k, v in keys.items()}
        self._required = [c for c in required_claims if c]
        self._roles_path = roles_claim_path
        self._verified: OrderedDict[str, tuple[UserCtx, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def verify(self, token: str, now: float | None = None) -> UserCtx:
        now = time.time() if now is None else now
        hit = self._verified.get(token)
        if hit is not None and hit[1] > now:
            return hit[0]
        user, expires = self._decode(token)
        self._verified[token] = (user, expires)
        while len(self._verified) > MAX_CACHED_TOKENS:
            self._verified.popitem(last=False)
        return user

    def _decode(self, token: str) -> tuple[UserCtx, float]:
        if len(token) > MAX_TOKEN_CHARS:
            raise BadRequest(MALFORMED)
        alg: Any = None
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if not isinstance(alg, str) or alg[:2] not in _FAMILIES:
                raise BadRequest(BAD_ALG)
            kid = header.get("kid") or "_default"
            key = self._keys.get(f"{_FAMILIES[alg[:2]]}:{kid}")
            if key is None:
                raise BadRequest(UNKNOWN_KID)
            with warnings.catch_warnings():
                # PyJWT warns about HMAC keys shorter than the hash: the key is the operator's
                # choice, not a reason to fail a request.
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=[alg],
                    options={"require": self._required, "verify_aud": False},
                )
        except jwt.PyJWTError as exc:
            raise _error(exc, alg) from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("Token missing sub claim.")
        roles = self._roles(claims)
        exp = claims.get("exp")
        # Without exp (when not required) a token never expires; re-verify it now and then.
        expires = float(exp) if isinstance(exp, int | float) else time.time() + 60.0
        return UserCtx(sub, roles), expires

    def _roles(self, claims: Mapping[str, Any]) -> tuple[str, ...]:
        value: Any = claims.get(self._roles_path)
        if value is None:
            value = claims
            for part in self._roles_path.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
            raise Unauthorized("Token roles claim must be a list of strings.")
        return tuple(value)


def _load_key(name: str, value: str) -> Any:
    family, _, _kid = name.partition(":")
    if family == "hmac":
        try:
            return base64.b64decode(value.strip(), validate=True)
        except binascii.Error as exc:
            raise ValueError(f"[jwt_keys] {name}: not base64") from exc
    if family in ("rsa", "ec"):
        return value.replace("\\n", "\n").encode()
    raise ValueError(f"[jwt_keys] {name}: unknown key type {family!r}")


def _error(exc: jwt.PyJWTError, alg: Any) -> CouchError:
    """PyJWT's verdict as jwtf's error."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return Unauthorized("exp not in future")
    if isinstance(exc, jwt.ImmatureSignatureError):
        return Unauthorized("nbf not in past")
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return BadRequest(f"Missing {exc.claim} claim")
    if isinstance(exc, jwt.InvalidSignatureError):
        return BadRequest("Bad HMAC" if str(alg).startswith("HS") else "Bad signature")
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return BadRequest(BAD_ALG)
    return BadRequest(MALFORMED)
