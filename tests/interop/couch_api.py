"""The few CouchDB HTTP calls the replication tests make, on any CouchDB-API server.

A database is named by its URL with admin credentials in it
(``http://admin:pass@127.0.0.1:PORT/db``), the form CouchDB's replicator takes too, so the same
helpers write to and read from our server and the real CouchDB. Document ids and attachment
names go into paths percent-encoded in full (``/`` too, except after ``_design``/``_local``,
which CouchDB takes literally), and the URL is handed to aiohttp already encoded so nothing is
re-quoted on the way.
"""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import aiohttp
from yarl import URL

Doc = dict[str, Any]

# Prefixes CouchDB accepts with a literal slash after them.
SLASHED_PREFIXES = ("_design/", "_local/")


class HttpError(AssertionError):
    """A request answered an unexpected status: says which request and what came back."""


def doc_path(doc_id: str) -> str:
    for prefix in SLASHED_PREFIXES:
        if doc_id.startswith(prefix):
            return prefix + quote(doc_id[len(prefix) :], safe="")
    return quote(doc_id, safe="")


def doc_url(db_url: str, doc_id: str, attachment: str | None = None, **params: str) -> URL:
    path = f"{db_url}/{doc_path(doc_id)}"
    if attachment is not None:
        path += "/" + quote(attachment, safe="")
    return url_of(path, **params)


def url_of(url: str, **params: str) -> URL:
    """``url`` (already encoded) with ``params`` as its query string."""
    query = "?" + urlencode(params) if params else ""
    return URL(url + query, encoded=True)


def server_of(db_url: str) -> str:
    """The server root of a database URL (credentials kept)."""
    parts = urlsplit(db_url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def without_credentials(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


async def request_json(
    http: aiohttp.ClientSession,
    method: str,
    url: str | URL,
    *,
    expect: tuple[int, ...] = (200, 201, 202),
    **kwargs: Any,
) -> Any:
    """``method url`` as JSON; an answer outside ``expect`` fails with the request and body."""
    target = url if isinstance(url, URL) else URL(url, encoded=True)
    headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
    if "json" in kwargs:
        # A corpus batch with inline attachments is several MB; aiohttp warns (an error here)
        # when a body that large is handed over as bytes rather than a stream.
        kwargs["data"] = io.BytesIO(json.dumps(kwargs.pop("json")).encode())
        headers["Content-Type"] = "application/json"
    async with http.request(method, target, headers=headers, **kwargs) as response:
        raw = await response.read()
        if response.status not in expect:
            where = without_credentials(str(target))
            raise HttpError(f"{method} {where}: {response.status} {raw[:2000]!r}")
        return json.loads(raw) if raw else None


async def create_db(http: aiohttp.ClientSession, db_url: str) -> None:
    await request_json(http, "PUT", db_url)


async def delete_db(http: aiohttp.ClientSession, db_url: str) -> None:
    await request_json(http, "DELETE", db_url, expect=(200, 202, 404))


async def bulk_docs(
    http: aiohttp.ClientSession, db_url: str, docs: list[Doc], *, new_edits: bool = True
) -> list[Doc]:
    """``POST _bulk_docs``; every row must be a success (a per-document error fails here)."""
    body = {"docs": docs, "new_edits": new_edits}
    rows: list[Doc] = await request_json(http, "POST", f"{db_url}/_bulk_docs", json=body)
    failed = [row for row in rows if "error" in row]
    assert not failed, f"_bulk_docs on {without_credentials(db_url)}: {failed[:5]}"
    return rows


async def get_doc(http: aiohttp.ClientSession, db_url: str, doc_id: str, **params: str) -> Doc:
    doc: Doc = await request_json(http, "GET", doc_url(db_url, doc_id, **params))
    return doc


async def put_doc(http: aiohttp.ClientSession, db_url: str, doc: Doc) -> str:
    row = await request_json(http, "PUT", doc_url(db_url, doc["_id"]), json=doc)
    rev: str = row["rev"]
    return rev


async def open_revs_multipart(
    http: aiohttp.ClientSession, url: URL
) -> list[tuple[Doc, dict[str, bytes]]]:
    """``GET`` an ``open_revs`` URL as CouchDB's replicator does (``Accept: multipart/mixed``):
    each revision as its JSON and the bytes of every attachment sent after it (a revision with
    attachments comes as a nested ``multipart/related``, one part per ``follows`` stub)."""
    revisions: list[tuple[Doc, dict[str, bytes]]] = []
    async with http.get(url, headers={"Accept": "multipart/mixed"}) as response:
        assert response.status == 200, f"GET {without_credentials(str(url))}: {response.status}"
        reader = aiohttp.MultipartReader.from_response(response)
        while (part := await reader.next()) is not None:
            if isinstance(part, aiohttp.MultipartReader):
                revisions.append(await _related(part))
            else:
                revisions.append((json.loads(await part.read()), {}))
    return revisions


async def _related(reader: aiohttp.MultipartReader) -> tuple[Doc, dict[str, bytes]]:
    first = await reader.next()
    assert isinstance(first, aiohttp.BodyPartReader), first
    doc: Doc = json.loads(await first.read())
    data: dict[str, bytes] = {}
    while (part := await reader.next()) is not None:
        assert isinstance(part, aiohttp.BodyPartReader), part
        data[part.filename or ""] = bytes(await part.read(decode=True))
    return doc, data
