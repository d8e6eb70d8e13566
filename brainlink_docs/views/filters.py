"""``_changes?filter=ddoc/name`` and ``filter=_view``: design-function filters over any store.

A filtered feed is the unfiltered feed with each change kept when its document passes:

- ``filter=ddoc/name``: the JavaScript ``filters.name(doc, req)`` of ``_design/ddoc`` answers
  truthy. ``req`` is CouchDB's request object: ``query`` (the request's query string; for a
  store without a request, the ``query_params`` given), ``userCtx``, ``secObj``, ``method``,
  ``info.db_name`` and the rest of its members with neutral values.
- ``filter=_view&view=ddoc/name``: the view's map function emits at least one row for the
  document (CouchDB runs the map on the document; no index is read).

With ``style=all_docs`` each leaf revision is judged on its own and a change lists only the
leaves that pass (CouchDB's ``filter_revs``); a change none passes is left out. Deleted
documents are filtered like any other (as ``{_id, _rev, _deleted: true}``).

Errors, as CouchDB 3.5 answers them: a ``filter`` without a slash is 400; a missing design
document 404 ``missing``; a missing filter or view 404 ``missing json key: name``;
``filter=_view`` without ``view`` 400; a filter that throws fails the feed with a 500.

Pages: the unfiltered feed is read ``FILTER_PAGE`` changes at a time and each page's documents
cross into the engine once, so a sparse filter over a long feed does not hold it all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.store.api import Change, ChangesPage, ChangesQuery, DocumentStore
from brainlink_docs.views.js.design import design_doc, design_functions
from brainlink_docs.views.js.server import QueryServer

# Unfiltered changes read per step of a filtered feed (one engine crossing each).
FILTER_PAGE = 500
VIEW_FILTER = "_view"
Judge = Callable[[list[dict[str, Any]]], Awaitable[list[bool]]]


def filter_parts(name: str, what: str = "filter") -> tuple[str, str]:
    """``ddoc/name`` as the design document id and the function name."""
    ddoc, slash, function = name.partition("/")
    if not slash or not ddoc or not function:
        raise BadRequest(f"`{what}` must be of the form `designname/{what}name`")
    return f"_design/{ddoc}", function


def filter_request(
    db: str,
    query_params: Mapping[str, Any] | None,
    user_ctx: Mapping[str, Any],
    sec_obj: Mapping[str, Any],
) -> dict[str, Any]:
    """CouchDB's ``req`` for a filter function (``chttpd_external:json_req_obj``'s members)."""
    return {
        "info": {"db_name": db},
        "id": None,
        "method": "GET",
        "path": [db, "_changes"],
        "query": dict(query_params or {}),
        "headers": {},
        "body": "undefined",
        "peer": "127.0.0.1",
        "form": {},
        "cookie": {},
        "userCtx": dict(user_ctx),
        "secObj": dict(sec_obj),
    }


async def filtered_changes(
    store: DocumentStore,
    query: ChangesQuery,
    query_server: QueryServer,
    user_ctx: Mapping[str, Any],
) -> ChangesPage:
    """One page of ``store``'s feed filtered by ``query.filter`` (see the module docstring)."""
    assert query.filter is not None
    judge = await _judge(store, query, query_server, user_ctx)
    base = replace(query, filter=None, query_params=None)
    if query.limit is not None and query.limit <= 0:
        return await store.changes(base)
    kept: list[Change] = []
    since = query.since
    while True:
        want = FILTER_PAGE if query.limit is None else min(FILTER_PAGE, query.limit - len(kept))
        page = await store.changes(replace(base, since=since, limit=want))
        passing = await _passing(store, page.results, query.style, judge)
        for index, change in enumerate(passing):
            if change is None:
                continue
            kept.append(change)
            if query.limit is not None and len(kept) >= query.limit:
                rest = len(page.results) - index - 1
                return ChangesPage(kept, change.seq, page.pending + rest)
        since = page.last_seq
        if not page.pending or not page.results:
            return ChangesPage(kept, page.last_seq, 0)


async def _judge(
    store: DocumentStore,
    query: ChangesQuery,
    query_server: QueryServer,
    user_ctx: Mapping[str, Any],
) -> Judge:
    """The function that says which documents pass; raises CouchDB's errors for a filter
    that does not exist before any change is read."""
    assert query.filter is not None
    params = query.query_params or {}
    if query.filter == VIEW_FILTER:
        view = params.get("view")
        if not view:
            raise BadRequest("`view` filter parameter is not provided.")
        ddoc_id, name = filter_parts(str(view), "view")
        view_ddoc = design_doc(await store.get(ddoc_id))
        if name not in view_ddoc.views:
            raise NotFound(f"missing json key: {name}")

        async def emits(docs: list[dict[str, Any]]) -> list[bool]:
            rows = await query_server.map_docs(view_ddoc, [name], docs)
            return [bool(per_view[0]) for per_view in rows]

        return emits
    ddoc_id, name = filter_parts(query.filter)
    functions = design_functions(await store.get(ddoc_id))
    if name not in functions.filters:
        raise NotFound(f"missing json key: {name}")
    req = filter_request(store.name, params, user_ctx, await store.get_security())

    async def passes(docs: list[dict[str, Any]]) -> list[bool]:
        return await query_server.filter_docs(functions, name, docs, req)

    return passes


async def _passing(
    store: DocumentStore, changes: Sequence[Change], style: str, judge: Judge
) -> list[Change | None]:
    """Each change with only its passing revisions, or None when none pass."""
    if not changes:
        return []
    answers = await store.bulk_get([{"id": change.id} for change in changes])
    revisions: list[list[dict[str, Any]]] = []
    for change, answer in zip(changes, answers, strict=True):
        leaves = {entry["ok"]["_rev"]: entry["ok"] for entry in answer["docs"] if "ok" in entry}
        judged = change.changes if style == "all_docs" else change.changes[:1]
        revisions.append([leaves[rev] for rev in judged if rev in leaves])
    flat = [doc for docs in revisions for doc in docs]
    verdicts = iter(await judge(flat))
    out: list[Change | None] = []
    for change, docs in zip(changes, revisions, strict=True):
        passed = [doc["_rev"] for doc in docs if next(verdicts)]
        out.append(replace(change, changes=passed) if passed else None)
    return out
