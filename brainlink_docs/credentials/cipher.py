"""Sealing a credential into a document value, and opening it again: AES-256-GCM.

A sealed value is the JSON object the entity documents store in place of a secret::

    {"alg": "A256GCM", "kid": "<16 hex>", "iv": "<base64, 12 bytes>",
     "encrypted": "<base64, ciphertext + 16-byte tag>"}

``iv`` is a fresh random 96-bit nonce per seal (GCM's recommended size; random nonces stay safe
for far more seals than one key ever makes), so sealing the same secret twice gives two different
values. The associated data is the document id (its UTF-8 bytes): the tag covers it, so a sealed
value copied into another document does not open there. ``kid`` names the key, so a wrong key is
told apart from tampering. Base64 is the standard alphabet with padding, and only its canonical
form is accepted, so changing any character of a sealed value makes it fail to open.

An opened value is a ``Secret``: its repr and str are ``Secret('***')`` and only ``reveal()``
gives the text, so a secret printed, logged or put in an exception by mistake shows nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from collections.abc import Mapping
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from brainlink_docs.credentials.errors import CredentialError, SealBroken
from brainlink_docs.credentials.keys import Key, Keyring

ALG: Final = "A256GCM"  # JOSE's name for AES-256-GCM (RFC 7518), as the data model writes it
NONCE_BYTES: Final = 12  # 96 bits: GCM's native nonce size (NIST SP 800-38D)
TAG_BYTES: Final = 16  # cryptography's AESGCM appends the full 128-bit tag
SEALED_FIELDS: Final = frozenset({"alg", "kid", "iv", "encrypted"})


class Secret:
    """A credential in the clear, which does not show itself: ``reveal()`` is the only way."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: comparing secrets must not tell by its duration how much matched.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    __hash__ = None  # type: ignore[assignment]  # equal secrets need not be dict keys


def is_sealed(value: object) -> bool:
    """Whether ``value`` has a sealed value's shape (exactly its four string fields, our
    ``alg``), so a walk over a document finds sealed values and nothing else."""
    return (
        isinstance(value, dict)
        and value.keys() == SEALED_FIELDS
        and value["alg"] == ALG
        and all(isinstance(value[name], str) for name in SEALED_FIELDS)
    )


def seal(key: Key, doc_id: str, plaintext: str) -> dict[str, str]:
    """``plaintext`` sealed under ``key`` for the document ``doc_id``, with a fresh nonce."""
    data = _utf8(plaintext, "the plaintext")
    nonce = os.urandom(NONCE_BYTES)
    encrypted = AESGCM(key.material).encrypt(nonce, data, _utf8(doc_id, "the document id"))
    return {"alg": ALG, "kid": key.kid, "iv": _b64(nonce), "encrypted": _b64(encrypted)}


def open_sealed(keyring: Keyring, doc_id: str, sealed: Mapping[str, Any]) -> Secret:
    """The secret ``sealed`` holds, if it was sealed for ``doc_id`` under a key of ``keyring``.

    ``KeyNotLoaded`` names the missing ``kid``; ``SealBroken`` means the right key's tag check
    failed (altered, or sealed for another document); ``CredentialError`` for a malformed value.
    """
    if not is_sealed(sealed):
        raise CredentialError(
            f"credential in {doc_id!r} is not a sealed value "
            f'({{"alg": "{ALG}", "kid", "iv", "encrypted"}} expected)'
        )
    key = keyring.key_for(sealed["kid"])
    nonce = _unb64(sealed["iv"], doc_id, "iv")
    encrypted = _unb64(sealed["encrypted"], doc_id, "encrypted")
    if len(nonce) != NONCE_BYTES or len(encrypted) < TAG_BYTES:
        raise SealBroken(_does_not_open(doc_id))
    try:
        data = AESGCM(key.material).decrypt(nonce, encrypted, _utf8(doc_id, "the document id"))
    except InvalidTag:
        raise SealBroken(_does_not_open(doc_id)) from None
    # Authenticated, so these are the UTF-8 bytes ``seal`` encrypted.
    return Secret(data.decode("utf-8"))


def _does_not_open(doc_id: str) -> str:
    return f"credential in {doc_id!r} does not open: tampered or sealed for another document"


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # The codec's message quotes the offending character: of a secret, that is a leak.
        raise CredentialError(f"{what} is not valid Unicode (a lone surrogate)") from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, doc_id: str, name: str) -> bytes:
    """Strict base64: only the canonical encoding of some bytes (so no character of a sealed
    value can change without it failing to open)."""
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        data = None
    if data is None or _b64(data) != text:
        raise SealBroken(f"credential in {doc_id!r} does not open: {name} is not base64")
    return data
