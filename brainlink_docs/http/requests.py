"""Reading a request: its JSON body (with CouchDB's size and type rules) and its database."""

from __future__ import annotations

import zlib
from contextlib import AbstractAsyncContextManager
from typing import Any

import orjson
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from brainlink_docs.config import Settings
from brainlink_docs.errors import BadRequest, TooLarge, UnsupportedMediaType
from brainlink_docs.http.access import GuardedLease
from brainlink_docs.http.keys import (
    ACCESS,
    AUDIT_LOG,
    DATABASES,
    SETTINGS,
    USER_CTX,
    USERS_OPTIONS,
)
from brainlink_docs.security.audit import AUDIT_DB, AuditLog, Writer
from brainlink_docs.store.api import Databases, DocumentStore


def settings_of(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def databases_of(request: web.Request) -> Databases:
    return request.app[DATABASES]


def use_store(request: web.Request, db: str) -> AbstractAsyncContextManager[DocumentStore]:
    """The store behind ``db`` for the duration of the request, as the requesting user may
    see it: 404 if it does not exist, 401/403 if its ``_security`` keeps them out."""
    app = request.app
    lease = app[DATABASES].use(db)
    read_only = request.method in ("GET", "HEAD")
    return GuardedLease(
        lease,
        db,
        request[USER_CTX],
        request[ACCESS],
        app[USERS_OPTIONS],
        read_only=read_only,
        audit=None if read_only or db == AUDIT_DB else _audit_of(request),
    )


def _audit_of(request: web.Request) -> tuple[AuditLog, Writer] | None:
    audit_log = request.app.get(AUDIT_LOG)
    if audit_log is None:
        return None
    trusted = settings_of(request).audit.trust_forwarded
    writer = Writer(
        request[USER_CTX].name, client_address(request, trusted), request.headers.get("User-Agent")
    )
    return audit_log, writer


def client_address(request: web.Request, trust_forwarded: bool) -> str | None:
    """The peer's address; behind a proxy (``[audit] trust_forwarded``) the first
    ``X-Forwarded-For`` hop, the client as the first proxy saw it (later hops are proxies)."""
    if trust_forwarded:
        forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
        if forwarded:
            return forwarded
    return request.remote


def require_json_type(request: web.Request) -> None:
    """CouchDB's ``chttpd:validate_ctype``: POSTed bodies must be ``application/json``."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")


def check_content_encoding(request: web.Request) -> bool:
    """``chttpd:maybe_decompress``: gzip or identity, else 415; True when gzip."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("gzip", "identity", ""):
        raise UnsupportedMediaType("Only gzip and identity content-encodings are supported")
    return encoding == "gzip"


def gunzip(data: bytes, limit: int) -> bytes:
    """Inflate a gzip body, refusing to grow past ``limit`` (a zip bomb is a 413, not OOM)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest("Request body is not properly gzipped.") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise TooLarge("the request entity is too large", error="too_large")
    if not inflater.eof:
        raise BadRequest("Request body is not properly gzipped.")
    return out


async def read_body(request: web.Request, limit: int) -> bytes:
    gzipped = check_content_encoding(request)
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge("the request entity is too large", error="too_large")
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise TooLarge("the request entity is too large", error="too_large") from exc
    except HttpProcessingError as exc:
        raise BadRequest("Request body is not properly gzipped.") from exc
    if gzipped:
        data = gunzip(data, limit)
    if len(data) > limit:
        raise TooLarge("the request entity is too large", error="too_large")
    return data


async def json_body(request: web.Request, *, limit: int | None = None) -> Any:
    """Parse the body as JSON; malformed JSON is CouchDB's 400 ``bad_request``."""
    data = await read_body(request, limit or settings_of(request).max_request_size)
    if not data:
        raise BadRequest("Request body must be a JSON object", error="bad_request")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("invalid UTF-8 JSON", error="bad_request") from exc


async def json_object(
    request: web.Request, *, limit: int | None = None, what: str = "Request body"
) -> dict[str, Any]:
    value = await json_body(request, limit=limit)
    if not isinstance(value, dict):
        raise BadRequest(f"{what} must be a JSON object")
    return value


def check_doc_size(doc: Any, max_size: int, max_attachment_size: int) -> None:
    """CouchDB's 413s: ``document_too_large`` for the JSON body (attachments not counted) and
    ``attachment_too_large`` for an inline attachment over ``max_attachment_size``."""
    if not isinstance(doc, dict):
        return
    atts = doc.get("_attachments")
    body = {k: v for k, v in doc.items() if k != "_attachments"} if atts is not None else doc
    if len(orjson.dumps(body)) > max_size:
        raise TooLarge(str(doc.get("_id") or ""), error="document_too_large")
    if not isinstance(atts, dict):
        return
    for name, spec in atts.items():
        data = spec.get("data") if isinstance(spec, dict) else None
        size = (
            len(data)
            if isinstance(data, bytes)
            else len(data) * 3 // 4
            if isinstance(data, str)
            else 0
        )
        if size > max_attachment_size:
            raise TooLarge(str(name), error="attachment_too_large")
