"""JSON responses with CouchDB's headers, serialized by orjson."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from aiohttp import web

# What CouchDB sends with every JSON answer: clients must revalidate, never cache blindly.
BASE_HEADERS = {"Cache-Control": "must-revalidate", "Server": "brainlink-docs (CouchDB/3.5.0)"}
_JSON_HEADERS = {**BASE_HEADERS, "Content-Type": "application/json"}


def json_body(value: Any) -> bytes:
    return orjson.dumps(value) + b"\n"


def json_response(
    value: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    # One header mapping built once: cheaper than content_type= plus updates on every response.
    all_headers = {**_JSON_HEADERS, **headers} if headers else _JSON_HEADERS
    return web.Response(body=json_body(value), status=status, headers=all_headers)


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
