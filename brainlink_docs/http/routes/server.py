"""Server-level endpoints: welcome, ``_up``, ``_all_dbs``, ``_dbs_info``, ``_uuids``."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from brainlink_docs.errors import BadRequest, CouchError
from brainlink_docs.http import params
from brainlink_docs.http.requests import (
    databases_of,
    json_object,
    require_json_type,
    settings_of,
    use_store,
)
from brainlink_docs.http.responses import json_response

VERSION = "3.5.0"
# CouchDB caps _uuids?count= at [uuids] max_count, 1000 by default.
MAX_UUIDS = 1000
# CouchDB's [chttpd] max_db_number_for_dbs_info_req default.
MAX_DBS_INFO = 100
# CouchDB 3.5 lists quickjs, access-ready, partitioned, pluggable-storage-engines, reshard and
# scheduler; we have only the replication scheduler (_scheduler/jobs, _scheduler/docs), and none
# of the others (no JS engine, no _access, no partitions, one storage engine, no shards): a
# client reading the list must not think we do.
FEATURES: list[str] = ["scheduler"]


async def welcome(request: web.Request) -> web.StreamResponse:
    return json_response(
        {
            "couchdb": "Welcome",
            "version": VERSION,
            "git_sha": "brainlink",
            "uuid": settings_of(request).server_uuid,
            "features": FEATURES,
            "vendor": {"name": "Brainlink (brainlink-docs)", "version": "0.1.0"},
        }
    )


async def up(request: web.Request) -> web.StreamResponse:
    return json_response({"status": "ok", "seeds": {}})


async def all_dbs(request: web.Request) -> web.StreamResponse:
    names = await databases_of(request).list()
    q = request.query
    descending = params.boolean(q, "descending")
    start = params.string_key(q, "startkey", "start_key")
    end = params.string_key(q, "endkey", "end_key")
    if descending:
        names.reverse()
    if start is not None:
        names = [n for n in names if (n <= start if descending else n >= start)]
    if end is not None:
        inclusive = params.boolean(q, "inclusive_end", True)
        names = [n for n in names if _before_end(n, end, descending, inclusive)]
    skip = params.integer(q, "skip", 0) or 0
    limit = params.integer(q, "limit")
    names = names[skip:] if limit is None else names[skip : skip + limit]
    return json_response(names)


def _before_end(name: str, end: str, descending: bool, inclusive: bool) -> bool:
    if descending:
        return name >= end if inclusive else name > end
    return name <= end if inclusive else name < end


async def _db_info_entry(request: web.Request, name: str) -> dict[str, Any]:
    try:
        async with use_store(request, name) as store:
            return {"key": name, "info": (await store.info()).to_json()}
    except CouchError:
        return {"key": name, "error": "not_found"}


async def dbs_info(request: web.Request) -> web.StreamResponse:
    names = await databases_of(request).list()
    limit = params.integer(request.query, "limit")
    names = names if limit is None else names[:limit]
    return json_response([await _db_info_entry(request, n) for n in names])


async def dbs_info_post(request: web.Request) -> web.StreamResponse:
    require_json_type(request)
    keys = (await json_object(request)).get("keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise BadRequest("`keys` member must exist and be a list of strings.")
    if len(keys) > MAX_DBS_INFO:
        raise BadRequest(f"`keys` member must be less than or equal to {MAX_DBS_INFO}")
    return json_response([await _db_info_entry(request, n) for n in keys])


async def uuids(request: web.Request) -> web.StreamResponse:
    raw = request.query.get("count", "1")
    if not raw.isascii() or not raw.isdigit():
        raise BadRequest("count must be a positive integer")
    count = int(raw)
    if count > MAX_UUIDS:
        raise BadRequest("count parameter too large")
    return json_response(
        {"uuids": [uuid.uuid4().hex for _ in range(count)]},
        headers={"Cache-Control": "must-revalidate, no-cache", "Pragma": "no-cache"},
    )
