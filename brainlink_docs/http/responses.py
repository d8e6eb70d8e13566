"""JSON responses with CouchDB's headers, serialized by orjson."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

# What CouchDB sends with every JSON answer: clients must revalidate, never cache blindly.
BASE_HEADERS = {"Cache-Control": "must-revalidate", "Server": "brainlink-docs (CouchDB/3.5.0)"}


def json_body(value: Any) -> bytes:
    return orjson.dumps(value) + b"\n"


def json_response(
    value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.Response(body=json_body(value), status=status, content_type="application/json")
    response.headers.update(BASE_HEADERS)
    if headers:
        response.headers.update(headers)
    return response


def etag(rev: str) -> str:
    return f'"{rev}"'


def etag_matches(header: str | None, tag: str) -> bool:
    """``chttpd:etag_match``: a list of tags, weak ``W/`` ones included, or ``*``."""
    if header is None:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip().removeprefix("W/")
        if candidate in (tag, "*"):
            return True
    return False
