"""Multipart on the wire of the server: answers built from ``brainlink_docs.multipart``, and
``multipart/related`` uploads read.

- ``multipart/mixed`` answers (``open_revs``, ``_bulk_get``): one part per document (see
  ``brainlink_docs.multipart``); ``GET /db/doc?attachments=true`` answers one
  ``multipart/related`` document alone.
- ``multipart/related`` uploads (``PUT /db/doc``): the first part is the JSON document whose
  ``_attachments`` entries say ``"follows": true``; the next parts are those attachments' bytes,
  in the order the entries appear, kept as sent (gzip ones stay gzip, with their digest).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from brainlink_docs.errors import BadRequest, TooLarge, UnsupportedMediaType
from brainlink_docs.http.requests import check_content_encoding
from brainlink_docs.http.responses import BASE_HEADERS
from brainlink_docs.multipart import Part, doc_part, error_part, mixed_body


def result_part(result: dict[str, Any]) -> Part:
    """One ``open_revs`` answer as a part."""
    return doc_part(result["ok"]) if "ok" in result else error_part(result)


def multipart_response(body: bytes, content_type: str) -> web.Response:
    response = web.Response(body=body, status=200)
    response.headers.update(BASE_HEADERS)
    response.headers["Content-Type"] = content_type
    return response


def mixed_response(parts: Sequence[Part]) -> web.Response:
    body, boundary = mixed_body(parts)
    return multipart_response(body, f'multipart/mixed; boundary="{boundary}"')


async def read_related(request: web.Request, max_attachment_size: int) -> dict[str, Any]:
    """Read a ``multipart/related`` document upload into a document with inline bytes."""
    if check_content_encoding(request):
        raise UnsupportedMediaType("multipart/related uploads must not be gzip-encoded as a whole")
    try:
        return await _read_related(request, max_attachment_size)
    except (ValueError, AssertionError, HttpProcessingError, zlib.error) as exc:
        # aiohttp's multipart reader signals a malformed body with these; it is the client's.
        raise BadRequest(f"Malformed multipart/related body: {exc}") from exc


async def _read_related(request: web.Request, max_attachment_size: int) -> dict[str, Any]:
    reader = await request.multipart()
    first = await reader.next()
    if not isinstance(first, BodyPartReader):
        raise BadRequest("multipart/related body must start with the JSON document")
    try:
        doc = orjson.loads(await first.read())
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid UTF-8 JSON") from exc
    if not isinstance(doc, dict):
        raise BadRequest("Document must be a JSON object")
    atts = doc.get("_attachments")
    following = [
        (name, spec)
        for name, spec in (atts.items() if isinstance(atts, dict) else [])
        if isinstance(spec, dict) and spec.get("follows")
    ]
    for name, spec in following:
        part = await reader.next()
        if not isinstance(part, BodyPartReader):
            raise BadRequest(f"Missing attachment body for {name}")
        data = bytes(await part.read(decode=False))
        if len(data) > max_attachment_size:
            raise TooLarge(name, error="attachment_too_large")
        # CouchDB's replicator sends compressible attachments as stored: gzip, and their
        # digest is that of the gzip bytes. The store keeps both as they are.
        encoding = spec.get("encoding") or part.headers.get("Content-Encoding") or "identity"
        if encoding.strip().lower() not in ("gzip", "identity"):
            raise BadRequest(f"Unsupported encoding {encoding!r} for attachment {name}")
        spec["encoding"] = encoding.strip().lower()
        for member in ("follows", "length", "encoded_length"):
            spec.pop(member, None)
        spec["data"] = data
        if "content_type" not in spec and part.headers.get("Content-Type"):
            spec["content_type"] = part.headers["Content-Type"]
    return doc
