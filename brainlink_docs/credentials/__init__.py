"""Credentials sealed in documents: AES-256-GCM with the document id as associated data.

``keys`` loads and generates 256-bit keys and names them by ``kid``; ``cipher`` seals a secret
string into the data model's ``{"alg": "A256GCM", "kid", "iv", "encrypted"}`` value and opens it
again as a ``Secret`` that never shows itself; ``rotate`` re-seals a whole database under a new
key. Design: ``design_docs/credentials.md``.
"""

from brainlink_docs.credentials.cipher import Secret, is_sealed, open_sealed, seal
from brainlink_docs.credentials.errors import CredentialError, KeyNotLoaded, SealBroken
from brainlink_docs.credentials.keys import (
    Key,
    Keyring,
    generate_key_file,
    key_from_env,
    load_key_file,
)
from brainlink_docs.credentials.rotate import (
    RotationFailure,
    RotationReport,
    reseal_document,
    rotate_key,
)

__all__ = [
    "CredentialError",
    "Key",
    "KeyNotLoaded",
    "Keyring",
    "RotationFailure",
    "RotationReport",
    "SealBroken",
    "Secret",
    "generate_key_file",
    "is_sealed",
    "key_from_env",
    "load_key_file",
    "open_sealed",
    "reseal_document",
    "rotate_key",
    "seal",
]
