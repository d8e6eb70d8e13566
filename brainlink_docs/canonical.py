"""Canonical JSON and digests.

Two devices that make the same edit must compute the same revision id, so the bytes hashed for a
revision cannot depend on key order or whitespace: canonical JSON here is orjson with sorted keys
and no spaces. Attachment digests use CouchDB's form, ``md5-<base64>``, because replication
peers compare them verbatim.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson

_CANONICAL = orjson.OPT_SORT_KEYS


def canonical_json(value: Any) -> bytes:
    """Serialize ``value`` deterministically (sorted keys, compact separators)."""
    return orjson.dumps(value, option=_CANONICAL)


def attachment_digest(data: bytes) -> str:
    """CouchDB's attachment digest: ``md5-`` and the base64 of the MD5 of the stored bytes."""
    return "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode("ascii")
