"""Attachment endpoints: GET/HEAD/PUT/DELETE ``/{db}/{docid}/{attname}`` (names may hold ``/``).

Reads honour ``Range`` (206 with ``Content-Range``, 416 when unsatisfiable) and
``If-None-Match`` on the digest. Attachments stored gzipped (compressible types, CouchDB's
``[attachments] compressible_types``) go as stored to clients that accept gzip and in clear to
the others, and, as in CouchDB, without ranges.
"""

from __future__ import annotations

import re

from aiohttp import web

from brainlink_docs.errors import Conflict, TooLarge
from brainlink_docs.http.requests import read_body, settings_of, use_store
from brainlink_docs.http.responses import BASE_HEADERS, etag, etag_matches, json_response
from brainlink_docs.http.routes.documents import location_of
from brainlink_docs.multipart import mixed_body

_RANGE_ITEM = re.compile(r"^(\d*)-(\d*)$")
# chttpd_db:send_ranges_multipart serves at most this many ranges; more get the whole body.
MAX_RANGES = 10


async def get_att(request: web.Request, db: str, doc_id: str, name: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        att = await store.get_attachment(doc_id, name, request.query.get("rev"))
    tag = etag(att.digest.removeprefix("md5-"))
    headers = {**BASE_HEADERS, "ETag": tag}
    if att.encoding is None:
        headers["Accept-Ranges"] = "bytes"
        headers["Content-MD5"] = att.digest.removeprefix("md5-")
        body = att.stored
    else:
        # Stored gzipped (couch_att): the stored bytes to clients that take gzip, clear bytes
        # to the others, and no ranges of either (chttpd_db serves ranges of identity only).
        headers["Accept-Ranges"] = "none"
        if att.encoding in _accepted_encodings(request.headers.get("Accept-Encoding", "")):
            headers["Content-Encoding"] = att.encoding
            body = att.stored
        else:
            body = att.data
    if etag_matches(request.headers.get("If-None-Match"), tag):
        return web.Response(status=304, headers=headers)
    range_header = request.headers.get("Range")
    if range_header:
        return _ranged(body, range_header, att.content_type, headers, serve=att.encoding is None)
    return _raw(body, att.content_type, headers, 200)


def _accepted_encodings(header: str) -> set[str]:
    """The codings an ``Accept-Encoding`` header takes (``q=0`` refuses one; ``*`` takes any
    coding not named), as mochiweb's ``accepted_encodings``."""
    accepted: set[str] = set()
    refused: set[str] = set()
    for item in header.split(","):
        coding, _, params = item.strip().partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        quality = params.strip().removeprefix("q=").strip() if "q=" in params else "1"
        try:
            taken = float(quality) > 0
        except ValueError:
            taken = False
        (accepted if taken else refused).add(coding)
    if "*" in accepted:
        accepted.add("gzip")
    return accepted - refused


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


def _ranged(
    data: bytes, header: str, content_type: str, headers: dict[str, str], *, serve: bool
) -> web.Response:
    """The ranges asked for, or 416 when one cannot be satisfied. Unless ``serve``, ranges
    that can be satisfied still get the whole body (CouchDB checks the ranges of a gzipped
    attachment against what it sends, then sends it all)."""
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
        return response  # CouchDB's 416 names no Content-Range
    if not serve:
        return _raw(data, content_type, headers, 200)
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
        headers={"ETag": etag(result.rev or ""), "Location": location_of(db, doc_id, name)},
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
