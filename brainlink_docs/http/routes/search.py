"""Message search: ``GET /{db}/_search/messages?q=&chat=&user=&limit=&bookmark=`` and the same
as a JSON body to ``POST``.

Whoever may read the database (``_all_docs``'s access) may search it; the answer is
``{"hits": [{"id", "chatId", "sequence", "score", "snippet"}], "bookmark"}`` (``search.query``).
A missing or blank ``q`` and a bad ``limit`` or ``bookmark`` are CouchDB-style 400s
``{"error": "bad_request", "reason": ...}``. System databases are searched by admins only:
their readers see other people's documents only through filtered views, which the index does
not apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from brainlink_docs.errors import BadRequest, Forbidden
from brainlink_docs.http.keys import SEARCHES, USER_CTX
from brainlink_docs.http.requests import databases_of, json_object, require_json_type, use_store
from brainlink_docs.http.responses import json_response
from brainlink_docs.search.query import DEFAULT_LIMIT, MAX_LIMIT

_FIELDS = ("q", "chat", "user", "bookmark")


async def messages(request: web.Request, db: str) -> web.StreamResponse:
    arguments: dict[str, Any] = dict(request.query)
    if "limit" in arguments:
        arguments["limit"] = _limit_text(arguments["limit"])
    return await _search(request, db, arguments)


async def messages_post(request: web.Request, db: str) -> web.StreamResponse:
    require_json_type(request)
    return await _search(request, db, await json_object(request))


def _limit_text(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}") from None


async def _search(request: web.Request, db: str, arguments: Mapping[str, Any]) -> web.Response:
    for name in _FIELDS:
        if arguments.get(name) is not None and not isinstance(arguments[name], str):
            raise BadRequest(f"{name} must be a string")
    text = arguments.get("q")
    if text is None:
        raise BadRequest("q (the words to search for) is required")
    limit = arguments.get("limit", DEFAULT_LIMIT)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    if db.startswith("_") and not request[USER_CTX].is_admin:
        raise Forbidden("Only admins may search a system database.")
    async with use_store(request, db), databases_of(request).use(db) as store:
        # The readers' check passed on the guarded store; the index follows the database's
        # own store (the same object for every request while it is open).
        search = await request.app[SEARCHES].of(db, store)
        page = await search.search(
            text,
            user_id=arguments.get("user"),
            chat_id=arguments.get("chat"),
            limit=limit,
            bookmark=arguments.get("bookmark"),
        )
    return json_response(page.to_json())
