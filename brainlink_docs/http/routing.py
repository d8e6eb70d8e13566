"""CouchDB's path grammar: which handler serves a (method, raw path).

Segments are split on ``/`` before percent-decoding, so an encoded slash stays inside its
segment (``/a%2Fb/doc`` is database ``a/b``). ``_design/x`` and ``_local/x`` ids may come with a
literal slash; everything after a document id is an attachment name, slashes included.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from brainlink_docs.errors import BadRequest, MethodNotAllowed, NotFound, NotImplementedYet
from brainlink_docs.http.access import Access
from brainlink_docs.http.routes import (
    attachments,
    bulk,
    changes,
    database,
    documents,
    mango,
    replicate,
    search,
    server,
    session,
    views,
)

RouteHandler = Callable[..., Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Route:
    handler: RouteHandler
    args: tuple[Any, ...] = ()
    access: Access = Access.SERVER_ADMIN


def _methods(
    table: dict[str, RouteHandler], method: str, *args: Any, access: Access = Access.MEMBER
) -> Route:
    handler = table.get(method) or (table.get("GET") if method == "HEAD" else None)
    if handler is None:
        allowed = sorted(set(table) | ({"HEAD"} if "GET" in table else set()))
        exc = MethodNotAllowed(f"Only {','.join(allowed)} allowed")
        exc.allow = ",".join(allowed)  # type: ignore[attr-defined]
        raise exc
    return Route(handler, args, access)


_SERVER: dict[str, dict[str, RouteHandler]] = {
    "_up": {"GET": server.up},
    "_all_dbs": {"GET": server.all_dbs},
    "_dbs_info": {"GET": server.dbs_info, "POST": server.dbs_info_post},
    "_uuids": {"GET": server.uuids},
    "_session": {"GET": session.get, "POST": session.login, "DELETE": session.logout},
    "_active_tasks": {"GET": replicate.active_tasks},
    "_replicate": {"POST": replicate.replicate},
}
# CouchDB 3: _all_dbs and _dbs_info are admin-only ([chttpd] admin_only_all_dbs = true).
_SERVER_ACCESS = {
    "_up": Access.PUBLIC,
    "_uuids": Access.PUBLIC,
    "_session": Access.PUBLIC,
    "_all_dbs": Access.SERVER_ADMIN,
    "_dbs_info": Access.SERVER_ADMIN,
    "_active_tasks": Access.SERVER_ADMIN,
    # Any authenticated user may replicate (checked in the handler: CouchDB's 401 reason).
    "_replicate": Access.PUBLIC,
}
_SCHEDULER: dict[str, dict[str, RouteHandler]] = {
    "jobs": {"GET": replicate.scheduler_jobs},
    "docs": {"GET": replicate.scheduler_docs},
}

_DB: dict[str, dict[str, RouteHandler]] = {
    "_all_docs": {"GET": bulk.all_docs, "POST": bulk.all_docs_post},
    "_design_docs": {"GET": bulk.design_docs, "POST": bulk.design_docs_post},
    "_local_docs": {"GET": bulk.local_docs, "POST": bulk.local_docs_post},
    "_bulk_docs": {"POST": bulk.bulk_docs},
    "_bulk_get": {"POST": bulk.bulk_get},
    "_revs_diff": {"POST": bulk.revs_diff},
    "_missing_revs": {"POST": bulk.missing_revs},
    "_changes": {"GET": changes.changes, "POST": changes.changes_post},
    "_compact": {"POST": database.compact},
    "_view_cleanup": {"POST": database.view_cleanup},
    "_revs_limit": {"GET": database.get_revs_limit, "PUT": database.put_revs_limit},
    "_ensure_full_commit": {"POST": database.ensure_full_commit},
    "_purge": {"POST": database.purge},
    "_security": {"GET": database.get_security, "PUT": database.put_security},
    "_find": {"POST": mango.find},
    "_index": {"GET": mango.list_indexes, "POST": mango.create_index},
    "_explain": {"POST": mango.explain},
}

# Database endpoints only the database's admins may call (CouchDB's check_is_admin callers).
# Purge is for server admins only since CouchDB 2.3.1 (apache/couchdb#1799).
_DB_OPS_ACCESS = {
    ("_compact", "POST"): Access.DB_ADMIN_REQUIRED,
    ("_view_cleanup", "POST"): Access.DB_ADMIN_REQUIRED,
    ("_revs_limit", "PUT"): Access.DB_ADMIN,
    ("_security", "PUT"): Access.DB_ADMIN,
    ("_purge", "POST"): Access.SERVER_ADMIN,
    # An index is a design document: creating or deleting one is a db admin's write.
    ("_index", "POST"): Access.DB_ADMIN,
}
_INDEX_DELETE = {"DELETE": mango.delete_index}
# Full-text search of the database's chat messages (ours; CouchDB has no such endpoint).
_SEARCH = {"messages": {"GET": search.messages, "POST": search.messages_post}}

_DOC = {
    "GET": documents.get_doc,
    "PUT": documents.put_doc,
    "DELETE": documents.delete_doc,
    "COPY": documents.copy_doc,
}
_ATT = {"GET": attachments.get_att, "PUT": attachments.put_att, "DELETE": attachments.delete_att}
_DB_ROOT = {
    "GET": database.info,
    "PUT": database.create,
    "DELETE": database.delete,
    "POST": documents.post_doc,
}
_VIEW = {"GET": views.view_get, "POST": views.view_post}
# The handlers that change a database or its documents: none may touch the audit log, which
# only the server writes (creating or deleting it included).
WRITE_HANDLERS: frozenset[RouteHandler] = frozenset(
    {
        database.create,
        database.delete,
        database.purge,
        database.put_security,
        database.put_revs_limit,
        documents.put_doc,
        documents.post_doc,
        documents.delete_doc,
        documents.copy_doc,
        attachments.put_att,
        attachments.delete_att,
        bulk.bulk_docs,
        mango.create_index,
        mango.delete_index,
    }
)
_DESIGN_FUNCTIONS = frozenset(
    {"_view", "_show", "_list", "_update", "_rewrite", "_search", "_info"}
)


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def resolve(method: str, raw_path: str) -> Route:
    if _BAD_ESCAPE.search(raw_path):
        raise BadRequest("invalid_url_encoding")  # chttpd:check_url_encoding
    parts = raw_path.split("/")[1:]
    if parts and parts[-1] == "":
        parts.pop()
    segs = [unquote(p) for p in parts]
    if not segs:
        return _methods({"GET": server.welcome}, method, access=Access.PUBLIC)
    head = segs[0]
    if head in _SERVER and len(segs) == 1:
        return _methods(_SERVER[head], method, access=_SERVER_ACCESS[head])
    if head == "_scheduler" and len(segs) > 1 and segs[1] in _SCHEDULER:
        return _methods(_SCHEDULER[segs[1]], method, *segs[2:], access=Access.SERVER_ADMIN)
    db = head
    if len(segs) == 1:
        admin_only = method in ("PUT", "DELETE")
        return _methods(
            _DB_ROOT, method, db, access=Access.SERVER_ADMIN if admin_only else Access.MEMBER
        )
    second = segs[1]
    if second in _DB and len(segs) == 2:
        access = _DB_OPS_ACCESS.get((second, method), Access.MEMBER)
        return _methods(_DB[second], method, db, access=access)
    if second == "_search" and len(segs) == 3 and segs[2] in _SEARCH:
        return _methods(_SEARCH[segs[2]], method, db)
    if second == "_index" and len(segs) > 2:
        return _index_route(method, db, segs[2:])
    if second == "_compact" and len(segs) == 3:
        return _methods(
            {"POST": views.compact}, method, db, segs[2], access=Access.DB_ADMIN_REQUIRED
        )
    if second == "_local" and len(segs) == 2:
        raise BadRequest("Invalid _local document id.")
    if second in ("_design", "_local") and len(segs) >= 3:
        return _prefixed(method, db, second, segs[2:])
    return _doc_or_attachment(method, db, second, segs[2:])


def writes_to(route: Route, db: str) -> bool:
    """Whether ``route`` would write to the database ``db``."""
    return bool(route.args) and route.args[0] == db and route.handler in WRITE_HANDLERS


def _index_route(method: str, db: str, rest: list[str]) -> Route:
    """``DELETE /{db}/_index/[_design/]{ddoc}/json/{name}``."""
    if rest[0] == "_design" and len(rest) > 1:
        rest = [f"_design/{rest[1]}", *rest[2:]]
    if len(rest) != 3 or rest[1] != "json":
        raise NotFound("missing")
    return _methods(_INDEX_DELETE, method, db, rest[0], rest[2], access=Access.DB_ADMIN)


def _prefixed(method: str, db: str, prefix: str, rest: list[str]) -> Route:
    doc_id = f"{prefix}/{rest[0]}"
    if prefix == "_design" and len(rest) > 1 and rest[1] in _DESIGN_FUNCTIONS:
        return _design_function(method, db, rest)
    if prefix == "_local" and len(rest) > 1:
        raise BadRequest("_local documents do not accept attachments.")
    return _doc_or_attachment(method, db, doc_id, rest[1:])


def _design_function(method: str, db: str, rest: list[str]) -> Route:
    ddoc, function = rest[0], rest[1]
    if function == "_view" and len(rest) == 3:
        return _methods(_VIEW, method, db, ddoc, rest[2])
    if function == "_view" and len(rest) == 4 and rest[3] == "queries":
        return _methods({"POST": views.view_queries}, method, db, ddoc, rest[2])
    if function == "_info" and len(rest) == 2:
        return _methods({"GET": views.info}, method, db, ddoc)
    # Shows, lists, updates and rewrites are deprecated in CouchDB 3 and not served here.
    raise NotImplementedYet(f"Design document function `{function}` is not implemented.")


def _doc_or_attachment(method: str, db: str, doc_id: str, rest: list[str]) -> Route:
    if not rest:
        return _methods(_DOC, method, db, doc_id)
    return _methods(_ATT, method, db, doc_id, "/".join(rest))
