"""The real CouchDB's view answers for differential tests: a throwaway database holding given
documents and one design document, queried view by view."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from couch import CouchServer
from hypothesis import HealthCheck, Phase, settings

from brainlink_docs.views.js import QueryServer, ViewRows, design_doc

Doc = dict[str, Any]

# Each example is a CouchDB database and an index build (~0.3 s): few examples and no
# shrinking (minutes a step against a real server); failures print what differs instead.
DIFFERENTIAL = settings(
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def row_text(key: Any, value: Any) -> str:
    """A row as comparable text: JSON with sorted keys (objects compare by content)."""
    return json.dumps([key, value], sort_keys=True)


def key_text(key: Any) -> str:
    """A group key as text, object members in emitted order: CouchDB's collation tells
    ``{"a":1,"b":2}`` from ``{"b":2,"a":1}``, so grouping must too."""
    return json.dumps(key)


class CouchViews:
    """One fresh database on the real CouchDB, for one test example."""

    def __init__(self, http: aiohttp.ClientSession, db_url: str) -> None:
        self.http = http
        self.db_url = db_url

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        async with self.http.request(method, self.db_url + path, data=data, headers=headers) as r:
            return r.status, await r.json(content_type=None)

    async def put_docs(self, docs: Sequence[Doc]) -> list[Doc]:
        """Store ``docs``; answers them with the ``_rev`` CouchDB gave each."""
        status, results = await self.request("POST", "/_bulk_docs", {"docs": list(docs)})
        assert status == 201, results
        revs = {row["id"]: row["rev"] for row in results}
        return [{**doc, "_rev": revs[doc["_id"]]} for doc in docs]

    async def put_design(self, name: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        return await self.request("PUT", f"/_design/{name}", dict(body))

    async def store_and_map(
        self, server: QueryServer, name: str, design: Mapping[str, Any], docs: Sequence[Doc]
    ) -> tuple[list[Doc], list[list[ViewRows]]]:
        """Put ``docs`` and ``_design/{name}`` on CouchDB, and map the stored documents (with
        CouchDB's ``_rev``) through every view with ``server``."""
        stored = await self.put_docs(docs)
        status, body = await self.put_design(name, design)
        assert status == 201, body
        ddoc = design_doc({"_id": f"_design/{name}", **design})
        return stored, await server.map_docs(ddoc, list(ddoc.views), stored)

    async def rows_by_doc(self, ddoc: str, view: str) -> dict[str, Counter[str]]:
        """Every row of a map view (``reduce=false``), as a multiset of rows per document id."""
        status, body = await self.request("GET", f"/_design/{ddoc}/_view/{view}?reduce=false")
        assert status == 200, body
        by_doc: dict[str, Counter[str]] = {}
        for row in body["rows"]:
            by_doc.setdefault(row["id"], Counter())[row_text(row["key"], row["value"])] += 1
        return by_doc

    async def reduced(self, ddoc: str, view: str) -> Any:
        """The view's reduce over every row (``reduce=true``, no grouping)."""
        status, body = await self.request("GET", f"/_design/{ddoc}/_view/{view}")
        assert status == 200, body
        return body["rows"][0]["value"] if body["rows"] else None

    async def grouped(self, ddoc: str, view: str) -> dict[str, Any]:
        """``group=true``: the reduced value per distinct key."""
        status, body = await self.request("GET", f"/_design/{ddoc}/_view/{view}?group=true")
        assert status == 200, body
        return {key_text(row["key"]): row["value"] for row in body["rows"]}


@asynccontextmanager
async def couch_database(couchdb: CouchServer) -> AsyncIterator[CouchViews]:
    """A new database on the real CouchDB, deleted afterwards."""
    headers = {"Authorization": aiohttp.encode_basic_auth(*couchdb.auth)}
    db_url = f"{couchdb.bare_url}/views-js-{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession(headers=headers) as http:
        async with http.put(db_url) as r:
            assert r.status == 201, await r.text()
        try:
            yield CouchViews(http, db_url)
        finally:
            async with http.delete(db_url):
                pass
