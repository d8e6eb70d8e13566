"""JWT bearer tokens as CouchDB's ``jwt_authentication_handler`` reads them.

Keys come from the config's ``[jwt_keys]``: ``hmac:<kid>`` holds a base64 secret, ``rsa:<kid>``
and ``ec:<kid>`` a PEM public key (newlines may be written ``\\n`` to fit one ini line); a token
without ``kid`` uses ``_default``. ``sub`` names the user; roles come from the claim at
``roles_claim_path`` (a top-level key of that exact name first, then a dotted path);
``exp``/``nbf`` are always checked when present and the configured claims are required. A
verified token is remembered until it expires, so a client that sends one token with every
request pays for the signature check once.
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

from brainlink_docs.errors import Unauthorized
from brainlink_docs.security.acl import UserCtx

# Bounded caches: a flood of distinct tokens costs memory no more than this many entries.
MAX_CACHED_TOKENS = 10_000
MAX_TOKEN_CHARS = 8192
_FAMILIES = {"HS": "hmac", "RS": "rsa", "PS": "rsa", "ES": "ec"}


class TokenVerifier:
    def __init__(
        self,
        keys: Mapping[str, str],
        *,
        required_claims: tuple[str, ...] = (),
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
            raise Unauthorized("Token too large.")
        try:
            header = jwt.get_unverified_header(token)
            alg = header.get("alg")
            if not isinstance(alg, str) or alg[:2] not in _FAMILIES:
                raise Unauthorized("Unsupported token algorithm.")
            kid = header.get("kid") or "_default"
            key = self._keys.get(f"{_FAMILIES[alg[:2]]}:{kid}")
            if key is None:
                raise Unauthorized("No key for the token's algorithm and kid.")
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
            raise Unauthorized(_reason(exc)) from exc
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("Token missing sub claim.")
        roles = self._roles(claims)
        exp = claims.get("exp")
        # Without exp a token never expires; re-verify it now and then anyway.
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


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "exp not in future"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "nbf not in past"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"Missing required claim: {exc.claim}"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "Signature verification failed"
    return "Invalid token"
