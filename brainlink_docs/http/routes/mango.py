"""Mango endpoints: ``_find``, ``_explain``, ``_index`` (list, create) and index deletion.

Each handler validates the request's media type, then hands the JSON body to the store, which
answers in CouchDB's shapes (``views.mango`` for the stores that run Mango themselves).
"""

from __future__ import annotations

from aiohttp import web

from brainlink_docs.http.requests import json_body, require_json_type, use_store
from brainlink_docs.http.responses import json_response


async def find(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_body(request)
    async with use_store(request, db) as store:
        return json_response(await store.find(body))


async def explain(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_body(request)
    async with use_store(request, db) as store:
        return json_response(await store.explain(body))


async def list_indexes(request: web.Request, db: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return json_response(await store.list_indexes())


async def create_index(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_body(request)
    async with use_store(request, db) as store:
        return json_response(await store.create_index(body))


async def delete_index(request: web.Request, db: str, ddoc: str, name: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        await store.delete_index(ddoc, name)
    return json_response({"ok": True})
