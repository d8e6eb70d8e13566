"""Query-string decoding with CouchDB's rules (``chttpd_db:parse_doc_query``, ``couch_mrview``).

Booleans are the words ``true``/``false``; integers must be integers; keys (``key``,
``startkey``, ``keys``...) and revision lists (``open_revs``, ``atts_since``) are JSON. Anything
else is CouchDB's 400 ``bad_request``/``query_parse_error``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest

_MISSING = object()


def _query_error(reason: str) -> BadRequest:
    return BadRequest(reason, error="query_parse_error")


def boolean(query: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = query.get(name)
    if value is None:
        return default
    # couch_mrview_http:parse_boolean compares case-insensitively.
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    # couch_httpd:parse_boolean names the value, not the parameter.
    raise _query_error(f'Invalid boolean parameter: "{value}"')


def integer(query: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    value = query.get(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise _query_error(f'Invalid value for integer: "{value}"') from None
    if number < 0:
        raise _query_error(f'Invalid value for positive integer: "{value}"')
    return number


def json_value(query: Mapping[str, str], name: str, default: Any = _MISSING) -> Any:
    value = query.get(name)
    if value is None:
        return None if default is _MISSING else default
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        # CouchDB's (jiffy's) answer for any parameter that is not JSON.
        raise BadRequest("invalid UTF-8 JSON", error="bad_request") from None


def string_key(query: Mapping[str, str], *names: str) -> str | None:
    """A JSON-encoded key (the first of its aliases given, e.g. ``startkey``/``start_key``)."""
    for name in names:
        if name in query:
            value = json_value(query, name)
            if value is not None and not isinstance(value, str):
                raise _query_error(f"{name} must be a JSON string for this endpoint")
            return value
    return None


def rev_list(query: Mapping[str, str], name: str) -> list[str] | None:
    value = json_value(query, name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) for r in value):
        raise BadRequest(f"{name} must be a JSON array of revisions")
    return value
