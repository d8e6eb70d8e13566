"""Attachment endpoints: GET/HEAD/PUT/DELETE ``/{db}/{docid}/{attname}`` (names may hold ``/``).

Reads honour a single ``Range`` (206 with ``Content-Range``, 416 when unsatisfiable) and
``If-None-Match`` on the digest. Compressible types (CouchDB's ``[attachments]
compressible_types``) are sent gzip-encoded to clients that accept it.
"""

from __future__ import annotations

import fnmatch
import gzip
import re

from aiohttp import web

from brainlink_docs.errors import Conflict, TooLarge
from brainlink_docs.http.multipart import mixed_body
from brainlink_docs.http.requests import read_body, settings_of, use_store
from brainlink_docs.http.responses import BASE_HEADERS, etag, etag_matches, json_response

_RANGE_ITEM = re.compile(r"^(\d*)-(\d*)$")
# chttpd_db:send_ranges_multipart serves at most this many ranges; more get the whole body.
MAX_RANGES = 10
# Below this size gzip costs more than it saves (CouchDB's compression_level applies above it).
MIN_GZIP_BYTES = 1024


def _compressible(content_type: str, patterns: str) -> bool:
    base = content_type.split(";")[0].strip().lower()
    return any(fnmatch.fnmatch(base, p.strip()) for p in patterns.split(",") if p.strip())


async def get_att(request: web.Request, db: str, doc_id: str, name: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        att = await store.get_attachment(doc_id, name, request.query.get("rev"))
    tag = etag(att.digest.removeprefix("md5-"))
    headers = {
        **BASE_HEADERS,
        "ETag": tag,
        "Accept-Ranges": "bytes",
        "Content-MD5": att.digest.removeprefix("md5-"),
    }
    if etag_matches(request.headers.get("If-None-Match"), tag):
        return web.Response(status=304, headers=headers)
    data = att.data
    range_header = request.headers.get("Range")
    if range_header:
        return _ranged(data, range_header, att.content_type, headers)
    settings = settings_of(request)
    if (
        len(data) >= MIN_GZIP_BYTES
        and "gzip" in request.headers.get("Accept-Encoding", "")
        and _compressible(att.content_type, settings.compressible_types)
    ):
        headers["Content-Encoding"] = "gzip"
        data = gzip.compress(data, compresslevel=6)
    return _raw(data, att.content_type, headers, 200)


def _raw(data: bytes, content_type: str, headers: dict[str, str], status: int) -> web.Response:
    response = web.Response(body=data, status=status, headers=headers)
    response.headers["Content-Type"] = content_type
    return response


def _parse_ranges(header: str, size: int) -> list[tuple[int, int]] | None:
    """``bytes=a-b[,c-d...]`` as inclusive (start, end) pairs; None if it does not parse."""
    unit, _, spec = header.strip().partition("=")
    if unit.strip() != "bytes" or not spec:
        return None
    ranges = []
    for item in spec.split(","):
        match = _RANGE_ITEM.match(item.strip())
        if not match or (not match.group(1) and not match.group(2)):
            return None
        if match.group(1):
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
        else:
            start, end = max(0, size - int(match.group(2))), size - 1
        ranges.append((start, end))
    return ranges


def _ranged(data: bytes, header: str, content_type: str, headers: dict[str, str]) -> web.Response:
    size = len(data)
    ranges = _parse_ranges(header, size)
    if ranges is None or len(ranges) > MAX_RANGES:
        return _raw(data, content_type, headers, 200)
    if any(start >= size or start > end for start, end in ranges):
        response = json_response(
            {
                "error": "requested_range_not_satisfiable",
                "reason": "Requested range not satisfiable",
            },
            status=416,
        )
        response.headers["Content-Range"] = f"bytes */{size}"
        return response
    if len(ranges) == 1:
        start, end = ranges[0]
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return _raw(data[start : end + 1], content_type, headers, 206)
    parts = [
        (
            {"Content-Type": content_type, "Content-Range": f"bytes {start}-{end}/{size}"},
            data[start : end + 1],
        )
        for start, end in ranges
    ]
    body, boundary = mixed_body(parts)
    return _raw(body, f'multipart/byteranges; boundary="{boundary}"', headers, 206)


def _rev(request: web.Request) -> str | None:
    rev = request.query.get("rev")
    if rev is None and "If-Match" in request.headers:
        rev = request.headers["If-Match"].strip('"')
    return rev


async def put_att(request: web.Request, db: str, doc_id: str, name: str) -> web.StreamResponse:
    settings = settings_of(request)
    if request.content_length is not None and request.content_length > settings.max_attachment_size:
        raise TooLarge(name, error="attachment_too_large")
    data = await read_body(request, settings.max_attachment_size)
    content_type = request.headers.get("Content-Type", "application/octet-stream")
    async with use_store(request, db) as store:
        result = await store.put_attachment(doc_id, name, data, content_type, _rev(request))
    return json_response(
        {"ok": True, "id": result.id, "rev": result.rev},
        status=201,
        headers={"ETag": etag(result.rev or ""), "Location": f"/{db}/{doc_id}/{name}"},
    )


async def delete_att(request: web.Request, db: str, doc_id: str, name: str) -> web.StreamResponse:
    rev = _rev(request)
    async with use_store(request, db) as store:
        if rev is None:
            # chttpd opens the document first: a missing one (or attachment) is a 404.
            await store.get_attachment(doc_id, name)
            raise Conflict()
        result = await store.delete_attachment(doc_id, name, rev)
    return json_response(
        {"ok": True, "id": result.id, "rev": result.rev}, headers={"ETag": etag(result.rev or "")}
    )
