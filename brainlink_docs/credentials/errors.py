"""The failures of sealing and opening credentials: one ``CredentialError`` family.

Not a ``CouchError``, on purpose. A ``CouchError`` is a CouchDB-shaped answer to a request: it
carries an HTTP status, the server renders it as a response body, ``HttpStore`` rebuilds it from
one, and the replicator decides whether to retry by its class. A missing key file, a key of the
wrong length or a sealed value that does not open is none of that: it is this process's
configuration or its data, never a client's request, so it must not be mistaken for a 4xx, must
not cross the wire, and must not be swallowed by code that catches ``CouchError`` to report a
peer's refusal. Callers that hold credentials catch ``CredentialError`` themselves.

Every message names the file, the key id (``kid``) or the document id, never a key's bytes nor a
plaintext: these exceptions end up in logs and on terminals.
"""

from __future__ import annotations


class CredentialError(Exception):
    """A key could not be loaded, or a sealed value could not be made or opened."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.reason!r})"


class KeyNotLoaded(CredentialError):
    """The value was sealed under a key (by its ``kid``) that the keyring does not hold: the
    wrong key file was given, not a damaged value."""


class SealBroken(CredentialError):
    """The value's authentication tag does not verify under the right key: the value was
    altered, or it was sealed for another document (the document id is authenticated)."""
