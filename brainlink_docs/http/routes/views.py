"""Design-document views over HTTP: ``_view`` (GET/POST), ``…/queries``, ``_info``, and
``_compact/{ddoc}``.

Parameters decode as ``couch_mrview_http:parse_params`` does: from the query string keys are
JSON and booleans are words; a POST body may carry ``keys`` and any other parameter as JSON
values; ``stale=ok|update_after`` is the old spelling of ``update=false|lazy`` with ``stable``.
Unknown parameters are ignored, as CouchDB keeps them aside unread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from brainlink_docs.errors import BadRequest
from brainlink_docs.http import params
from brainlink_docs.http.requests import json_object, require_json_type, use_store
from brainlink_docs.http.responses import json_response
from brainlink_docs.store.api import ViewQuery

_KEY_NAMES = {"key": "key", "startkey": "startkey", "start_key": "startkey"}
_KEY_NAMES |= {"endkey": "endkey", "end_key": "endkey"}
_ID_NAMES = {
    "startkey_docid": "startkey_docid",
    "start_key_doc_id": "startkey_docid",
    "endkey_docid": "endkey_docid",
    "end_key_doc_id": "endkey_docid",
}
_BOOLEANS = (
    "inclusive_end",
    "descending",
    "include_docs",
    "conflicts",
    "attachments",
    "stable",
    "update_seq",
    "sorted",
)
_OPTIONAL_BOOLEANS = ("group", "reduce")
_INTEGERS = ("limit", "skip", "group_level")


def _query_error(reason: str) -> BadRequest:
    return BadRequest(reason, error="query_parse_error")


def view_query(query: Mapping[str, str], body: Mapping[str, Any] | None = None) -> ViewQuery:
    """The ``ViewQuery`` of a request: query-string parameters, then the body's (JSON)."""
    fields: dict[str, Any] = {}
    for name, text in query.items():
        _set(fields, name, _decoded(query, name, text))
    for name, value in (body or {}).items():
        if name == "keys" and not isinstance(value, list):
            raise BadRequest("`keys` member must be an array.", error="bad_request")
        _set(fields, name, value)
    return ViewQuery(**fields)


def _decoded(query: Mapping[str, str], name: str, text: str) -> Any:
    if name in _KEY_NAMES or name == "keys":
        return params.json_value(query, name)
    if name in _BOOLEANS or name in _OPTIONAL_BOOLEANS:
        return params.boolean(query, name)
    if name in _INTEGERS:
        return _integer(name, text)
    return text


def _integer(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise _query_error(f'Invalid value for integer: "{value}"') from None
    if number < 0:
        raise _query_error(f'Invalid value for positive integer: "{value}"')
    return number


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _query_error(f'Invalid boolean parameter: "{value}"')


def _set(fields: dict[str, Any], name: str, value: Any) -> None:
    handler = _SETTERS.get(name)
    if handler is not None:
        handler(fields, name, value)
    elif name in _KEY_NAMES:
        fields[_KEY_NAMES[name]] = value
    elif name in _ID_NAMES:
        if not isinstance(value, str):
            raise _query_error(f"`{_ID_NAMES[name]}` must be a string.")
        fields[_ID_NAMES[name]] = value
    elif name in _BOOLEANS or name in _OPTIONAL_BOOLEANS:
        fields[name] = _boolean(value)
    elif name in _INTEGERS:
        fields[name] = _integer(name, value)


def _set_keys(fields: dict[str, Any], _name: str, value: Any) -> None:
    if not isinstance(value, list):
        raise _query_error("`keys` must be an array of strings.")
    fields["keys"] = tuple(value)


def _set_update(fields: dict[str, Any], _name: str, value: Any) -> None:
    text = {True: "true", False: "false"}.get(value, value) if isinstance(value, bool) else value
    if text not in ("true", "false", "lazy"):
        raise _query_error("Invalid value for `update`.")
    fields["update"] = text


def _set_stale(fields: dict[str, Any], _name: str, value: Any) -> None:
    if value == "ok":
        fields.update(update="false", stable=True)
    elif value == "update_after":
        fields.update(update="lazy", stable=True)
    else:
        raise _query_error("Invalid value for `stale`.")


_SETTERS: dict[str, Callable[[dict[str, Any], str, Any], None]] = {
    "keys": _set_keys,
    "update": _set_update,
    "stale": _set_stale,
}


async def view_get(request: web.Request, db: str, ddoc: str, view: str) -> web.StreamResponse:
    return await _answer(request, db, ddoc, view, view_query(request.query))


async def view_post(request: web.Request, db: str, ddoc: str, view: str) -> web.StreamResponse:
    require_json_type(request)
    body = await json_object(request)
    return await _answer(request, db, ddoc, view, view_query(request.query, body))


async def _answer(
    request: web.Request, db: str, ddoc: str, view: str, query: ViewQuery
) -> web.StreamResponse:
    async with use_store(request, db) as store:
        page = await store.query_view(ddoc, view, query)
    return json_response(page.to_json())


async def view_queries(request: web.Request, db: str, ddoc: str, view: str) -> web.StreamResponse:
    """``POST …/_view/{view}/queries``: ``{"queries": [{…}, …]}`` answers ``{"results": […]}``."""
    require_json_type(request)
    body = await json_object(request)
    queries = body.get("queries")
    if not isinstance(queries, list) or not all(isinstance(q, dict) for q in queries):
        raise BadRequest("`queries` member must be an array of objects.", error="bad_request")
    parsed = [view_query(request.query, q) for q in queries]
    async with use_store(request, db) as store:
        results = [(await store.query_view(ddoc, view, q)).to_json() for q in parsed]
    return json_response({"results": results})


async def info(request: web.Request, db: str, ddoc: str) -> web.StreamResponse:
    async with use_store(request, db) as store:
        return json_response(await store.view_info(ddoc))


async def compact(request: web.Request, db: str, ddoc: str) -> web.StreamResponse:
    require_json_type(request)
    async with use_store(request, db) as store:
        await store.compact_views(ddoc)
    return json_response({"ok": True}, status=202)
