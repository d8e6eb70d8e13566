"""MIME multipart in both directions, as CouchDB's replicator speaks it.

- ``multipart/mixed`` answers (``open_revs``, ``_bulk_get``): one ``application/json`` part per
  document; attachments travel inline as base64 inside the JSON, which CouchDB's and PouchDB's
  parsers both accept.
- ``multipart/related`` uploads (``PUT /db/doc``): the first part is the JSON document whose
  ``_attachments`` entries say ``"follows": true``; the next parts are those attachments' bytes,
  in the order the entries appear.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from brainlink_docs.errors import BadRequest, TooLarge, UnsupportedMediaType
from brainlink_docs.http.requests import check_content_encoding, gunzip
from brainlink_docs.http.responses import BASE_HEADERS


def mixed_body(parts: Sequence[tuple[dict[str, str], bytes]]) -> tuple[bytes, str]:
    """Encode parts (headers, body) as one multipart/mixed body; returns (body, boundary)."""
    boundary = uuid.uuid4().hex
    chunks: list[bytes] = []
    for headers, body in parts:
        chunks.append(f"--{boundary}\r\n".encode())
        for name, value in headers.items():
            chunks.append(f"{name}: {value}\r\n".encode())
        chunks.append(b"\r\n")
        chunks.append(body)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--".encode())
    return b"".join(chunks), boundary


def result_part(result: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    """One ``open_revs`` answer as a part; a missing revision is flagged ``error="true"``."""
    if "ok" in result:
        return {"Content-Type": "application/json"}, orjson.dumps(result["ok"])
    return {"Content-Type": 'application/json; error="true"'}, orjson.dumps(result)


def mixed_response(results: Sequence[dict[str, Any]]) -> web.Response:
    body, boundary = mixed_body([result_part(r) for r in results])
    response = web.Response(body=body, status=200)
    response.headers.update(BASE_HEADERS)
    response.headers["Content-Type"] = f'multipart/mixed; boundary="{boundary}"'
    return response


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
        if "gzip" in (part.headers.get("Content-Encoding", ""), spec.get("encoding")):
            # CouchDB's replicator sends compressible attachments as stored: gzip-encoded.
            data = gunzip(data, max_attachment_size)
            spec.pop("encoding", None)
            spec.pop("encoded_length", None)
            spec.pop("digest", None)
        if len(data) > max_attachment_size:
            raise TooLarge(name, error="attachment_too_large")
        spec.pop("follows", None)
        spec.pop("length", None)
        spec["data"] = data
        if "content_type" not in spec and part.headers.get("Content-Type"):
            spec["content_type"] = part.headers["Content-Type"]
    return doc
