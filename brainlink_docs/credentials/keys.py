"""Credential keys: 256-bit AES keys, named by a key id, gathered in a keyring.

A key comes from a key file (32 raw bytes, or their base64 text on one line, as
``generate_key_file`` writes it) or from the environment variable ``BRAINLINK_CREDENTIALS_KEY``
(base64). Its ``kid`` is the first 16 hex digits of the SHA-256 of its bytes: stored beside
every sealed value so that opening with the wrong key says "sealed with key <kid>, which is not
loaded" instead of looking like tampering, while revealing nothing usable about the key (a
64-bit digest of a random 256-bit key). A ``Keyring`` holds the keys a reader may need: during a
rotation, the old ones and the new one.

Invariants: a ``Key``'s repr shows its ``kid`` only; key bytes never reach an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from brainlink_docs.credentials.errors import CredentialError, KeyNotLoaded

# AES-256: the key is 32 bytes.
KEY_BYTES = 32
# 16 hex digits (64 bits) tell keys apart among the handful an installation ever has, and are
# short enough to read in an error message.
KID_HEX_DIGITS = 16
ENV_VAR = "BRAINLINK_CREDENTIALS_KEY"
# A key file's text form: base64 (padding and surrounding whitespace allowed).
_BASE64_TEXT = re.compile(rb"\s*[A-Za-z0-9+/]+={0,2}\s*")
# Owner read/write only: the key file is as secret as every credential it seals.
KEY_FILE_MODE = 0o600


def key_id(material: bytes) -> str:
    """The key id of ``material``: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(material).hexdigest()[:KID_HEX_DIGITS]


@dataclass(frozen=True, slots=True)
class Key:
    """A 256-bit key and its id; the bytes never show in a repr."""

    material: bytes = field(repr=False)
    kid: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise CredentialError(
                f"bad key length: {len(self.material)} bytes, an AES-256 key is {KEY_BYTES}"
            )
        object.__setattr__(self, "kid", key_id(self.material))

    @classmethod
    def generate(cls) -> Key:
        return cls(secrets.token_bytes(KEY_BYTES))

    def to_base64(self) -> str:
        return base64.b64encode(self.material).decode("ascii")


class Keyring:
    """Keys by ``kid``: what opening a sealed value looks its key up in."""

    __slots__ = ("_keys",)

    def __init__(self, keys: Iterable[Key]) -> None:
        self._keys = {key.kid: key for key in keys}

    def key_for(self, kid: str) -> Key:
        """The key named ``kid``; ``KeyNotLoaded`` when this keyring lacks it."""
        key = self._keys.get(kid)
        if key is None:
            raise KeyNotLoaded(f"sealed with key {kid}, which is not loaded")
        return key

    def __contains__(self, kid: object) -> bool:
        return kid in self._keys

    def __iter__(self) -> Iterator[Key]:
        return iter(self._keys.values())

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"Keyring({sorted(self._keys)!r})"


def key_from_text(text: str, *, source: str) -> Key:
    """A key from its base64 text (whitespace around it ignored); ``source`` names where the
    text came from, for the error message (never the text itself)."""
    try:
        material = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(f"{source}: not a base64 key") from None
    if len(material) != KEY_BYTES:
        raise CredentialError(
            f"{source}: bad key length: {len(material)} bytes, an AES-256 key is {KEY_BYTES}"
        )
    return Key(material)


def load_key_file(path: str | os.PathLike[str]) -> Key:
    """The key in ``path``: its base64 text, or exactly 32 raw bytes."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CredentialError(f"cannot read key file {path}: {exc.strerror or exc}") from None
    # Text first: 32 characters of base64 (24 bytes, a short key) must be refused for their
    # length, not taken as raw bytes; random raw bytes are all base64 characters with
    # probability (64/256)^32 = 2^-64.
    if _BASE64_TEXT.fullmatch(data):
        return key_from_text(data.decode("ascii"), source=f"key file {path}")
    if len(data) == KEY_BYTES:
        return Key(data)
    raise CredentialError(f"key file {path}: neither {KEY_BYTES} raw bytes nor base64 text")


def key_from_env(environ: Mapping[str, str] | None = None) -> Key:
    """The key in ``BRAINLINK_CREDENTIALS_KEY`` (base64)."""
    text = (os.environ if environ is None else environ).get(ENV_VAR)
    if not text:
        raise CredentialError(f"no credentials key: set {ENV_VAR} (base64) or give a key file")
    return key_from_text(text, source=ENV_VAR)


def generate_key_file(path: str | os.PathLike[str]) -> Key:
    """Write a fresh random key to ``path`` as base64 text, readable by its owner only (0600);
    refuses to replace an existing file (a lost key loses every credential it sealed)."""
    key = Key.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    except FileExistsError:
        raise CredentialError(f"key file {path} exists; not replacing a key") from None
    except OSError as exc:
        raise CredentialError(f"cannot write key file {path}: {exc.strerror or exc}") from None
    try:
        # os.open's mode is filtered by the umask; the file must end 0600 whatever it is.
        if hasattr(os, "fchmod"):  # POSIX; Windows has no such modes
            os.fchmod(fd, KEY_FILE_MODE)
        os.write(fd, (key.to_base64() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return key
