"""Attachment encodings: which attachments are stored gzip-compressed, and the gzip itself.

CouchDB stores attachments of compressible types (``[attachments] compressible_types``) gzipped
at ``compression_level`` and makes the attachment's digest the MD5 of the *gzip bytes*; its
replicator then sends those bytes as they are (``encoding: gzip``). Peers compare digests
verbatim, so a replica must keep the bytes and digest it was given, and must compress what it
is handed in clear exactly as CouchDB does: zlib's deflate at the same level, window and memory
level, with a gzip wrapper whose header has no name and no time. With the same zlib that gives
the same bytes, hence the same digest, on both sides (checked against a real CouchDB in tests).

Pure functions, no I/O: the store calls them inside its write transaction and its reads.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

# CouchDB 3.x's default.ini [attachments] values.
DEFAULT_COMPRESSIBLE_TYPES = "text/*, application/javascript, application/json, application/xml"
DEFAULT_COMPRESSION_LEVEL = 8
GZIP = "gzip"
# zlib's window for a gzip wrapper (16 + 15) and its default memory level: couch_stream's
# zlib:deflateInit(Z, Level, deflated, 31, 8, default).
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_MEM_LEVEL = 8
# Inflating in bounded steps keeps a hostile gzip bomb from taking memory while it is measured.
_INFLATE_STEP = 1 << 20


@dataclass(frozen=True, slots=True)
class AttachmentEncoding:
    """The ``[attachments]`` settings: which content types are stored gzipped, and how hard.

    ``compression_level`` 0 stores everything as sent (couch_stream treats levels outside 1-9
    as identity).
    """

    compressible_types: str = DEFAULT_COMPRESSIBLE_TYPES
    compression_level: int = DEFAULT_COMPRESSION_LEVEL
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", compile_types(self.compressible_types))

    def compresses(self, content_type: str) -> bool:
        """Whether an attachment of ``content_type`` sent in clear is stored gzipped."""
        if not 1 <= self.compression_level <= 9:
            return False
        return any(p.match(content_type) for p in self._patterns)


def compile_types(types: str) -> tuple[re.Pattern[str], ...]:
    """``couch_util:compressible_att_type``: each comma-separated pattern, ``*`` a wildcard,
    matched case-insensitively against the whole type, parameters (``; charset=...``) allowed."""
    patterns = []
    for item in re.split(r"\s*,\s*", types.strip()):
        if not item:
            continue
        body = ".*".join(re.escape(piece) for piece in item.split("*"))
        patterns.append(re.compile(rf"^\s*{body}(?:\s*;.*?)?\s*$", re.IGNORECASE | re.DOTALL))
    return tuple(patterns)


DEFAULT_ENCODING = AttachmentEncoding()


def gzip_bytes(data: bytes, level: int) -> bytes:
    """``data`` gzipped as CouchDB's couch_stream does it (same bytes with the same zlib)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS, _MEM_LEVEL)
    return compressor.compress(data) + compressor.flush()


def gunzip_bytes(data: bytes) -> bytes:
    """The clear bytes of a stored gzip attachment (whose length was checked on write)."""
    return zlib.decompress(data, _GZIP_WBITS)


def gzip_length(data: bytes) -> int:
    """The length of ``data`` once inflated; ``ValueError`` unless it is one whole gzip stream.

    Counts in bounded steps instead of inflating at once, so measuring needs little memory.
    """
    inflater = zlib.decompressobj(_GZIP_WBITS)
    total = 0
    try:
        chunk = inflater.decompress(data, _INFLATE_STEP)
        total += len(chunk)
        while inflater.unconsumed_tail:
            chunk = inflater.decompress(inflater.unconsumed_tail, _INFLATE_STEP)
            total += len(chunk)
        total += len(inflater.flush())
    except zlib.error as exc:
        raise ValueError(f"not a gzip stream: {exc}") from exc
    if not inflater.eof or inflater.unused_data:
        raise ValueError("not one whole gzip stream")
    return total
