"""CouchDB's wire format for ``store.api`` values: query parameters out, JSON answers in.

Pure functions, no I/O. Query values are strings as CouchDB parses them: booleans ``true`` /
``false``, keys and revision lists JSON-encoded (``chttpd:qs_json_value``). Answers are read
leniently where CouchDB-compatible servers differ: sequences may be integers (pouchdb-server)
or strings (CouchDB 2+) and always come back as strings; ``pending`` and ``sizes`` may be
missing and read as 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from brainlink_docs.errors import Unavailable
from brainlink_docs.store.api import (
    UNSET,
    AllDocsPage,
    AllDocsQuery,
    BulkResult,
    Change,
    ChangesPage,
    ChangesQuery,
    DbInfo,
    Doc,
    ReadOptions,
    Sizes,
    ViewPage,
    ViewQuery,
)
from brainlink_docs.store.http.transport import dumps

Params = dict[str, str]

_READ_FLAGS = (
    "revs",
    "revs_info",
    "conflicts",
    "deleted_conflicts",
    "local_seq",
    "attachments",
    "att_encoding_info",
    "latest",
)
# DbInfo members read into typed fields; everything else a server reports goes to ``extra``.
_INFO_FIELDS = frozenset(
    {
        "db_name",
        "doc_count",
        "doc_del_count",
        "update_seq",
        "purge_seq",
        "sizes",
        "instance_start_time",
        "compact_running",
    }
)


def flag(value: bool) -> str:
    return "true" if value else "false"


def json_param(value: object) -> str:
    return dumps(value).decode()


def seq_str(value: object) -> str:
    """A sequence as the opaque string callers hand back: CouchDB 2+ strings pass unchanged,
    pouchdb-server's integers become their decimal text (which it accepts back as ``since``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is None:
        return "0"
    # CouchDB 2.0 betas and BigCouch sent JSON arrays; their text is a valid ``since``.
    return orjson.dumps(value).decode()


# --- requests -----------------------------------------------------------------------------------


def read_params(options: ReadOptions) -> Params:
    """GET /db/doc options; false flags are CouchDB's defaults and are left out."""
    params = {name: "true" for name in _READ_FLAGS if getattr(options, name)}
    if options.atts_since is not None:
        params["atts_since"] = json_param(list(options.atts_since))
    return params


def all_docs_request(query: AllDocsQuery) -> tuple[Params, dict[str, Any] | None]:
    """Parameters and, for ``keys``, the POST body of one ``_all_docs`` call."""
    params: Params = {}
    if query.startkey is not None:
        params["startkey"] = json_param(query.startkey)
    if query.endkey is not None:
        params["endkey"] = json_param(query.endkey)
    if not query.inclusive_end:
        params["inclusive_end"] = "false"
    if query.limit is not None:
        params["limit"] = str(query.limit)
    if query.skip:
        params["skip"] = str(query.skip)
    for name in ("descending", "include_docs", "conflicts", "attachments", "update_seq"):
        if getattr(query, name):
            params[name] = "true"
    body = None if query.keys is None else {"keys": list(query.keys)}
    return params, body


_VIEW_KEYS = ("key", "startkey", "endkey")
_VIEW_FLAGS = ("descending", "include_docs", "conflicts", "attachments", "stable", "update_seq")


def view_request(query: ViewQuery) -> tuple[Params, dict[str, Any] | None]:
    """Parameters and, for ``keys``, the POST body of one ``_view`` call (defaults left out)."""
    params: Params = {}
    for name in _VIEW_KEYS:
        value = getattr(query, name)
        if value is not UNSET:
            params[name] = json_param(value)
    for name in ("startkey_docid", "endkey_docid"):
        if getattr(query, name) is not None:
            params[name] = getattr(query, name)
    for name in _VIEW_FLAGS:
        if getattr(query, name):
            params[name] = "true"
    for name in ("inclusive_end", "sorted"):
        if not getattr(query, name):
            params[name] = "false"
    for name in ("group", "reduce"):
        if getattr(query, name) is not None:
            params[name] = "true" if getattr(query, name) else "false"
    for name in ("limit", "group_level"):
        if getattr(query, name) is not None:
            params[name] = str(getattr(query, name))
    if query.skip:
        params["skip"] = str(query.skip)
    if query.update != "true":
        params["update"] = query.update
    body = None if query.keys is None else {"keys": list(query.keys)}
    return params, body


def view_page(answer: Any) -> ViewPage:
    if not isinstance(answer, dict) or not isinstance(answer.get("rows"), list):
        raise Unavailable("the peer answered a view query without rows")
    update_seq = answer.get("update_seq")
    return ViewPage(
        rows=answer["rows"],
        total_rows=answer.get("total_rows"),
        offset=answer.get("offset"),
        update_seq=None if update_seq is None else seq_str(update_seq),
    )


def changes_request(query: ChangesQuery) -> tuple[Params, dict[str, Any] | None]:
    """Parameters and, for a filter, the POST body of one ``_changes`` page."""
    params: Params = {"since": query.since}
    if query.limit is not None:
        params["limit"] = str(query.limit)
    if query.style != "main_only":
        params["style"] = query.style
    for name in ("descending", "include_docs", "conflicts", "attachments"):
        if getattr(query, name):
            params[name] = "true"
    if query.filter is not None:
        # A named filter reads its parameters from the query string (CouchDB's req.query);
        # the feed's own parameters win over a query parameter of the same name.
        return {**(query.query_params or {}), **params, "filter": query.filter}, None
    body = _changes_filter(query)
    if body is None:
        return params, None
    if "doc_ids" in body:
        params["filter"] = "_doc_ids"
        return params, body
    params["filter"] = "_selector"
    # The selector also goes in the query string: CouchDB reads it from the body and ignores
    # unknown query keys (chttpd_db:parse_changes_query), while pouchdb-server 4.2 reads only
    # the query string and, without it there, crashes looking up ``_design/_selector``.
    params["selector"] = json_param(body["selector"])
    return params, body


def _changes_filter(query: ChangesQuery) -> dict[str, Any] | None:
    """CouchDB takes one filter per feed; both asked for is the selector that means both."""
    if query.selector is None:
        return None if query.doc_ids is None else {"doc_ids": list(query.doc_ids)}
    if query.doc_ids is None:
        return {"selector": query.selector}
    by_id = {"_id": {"$in": list(query.doc_ids)}}
    return {"selector": {"$and": [query.selector, by_id]}}


def revs_diff_body(revs: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {doc_id: list(rev_list) for doc_id, rev_list in revs.items()}


# --- answers ------------------------------------------------------------------------------------


def write_result(answer: Mapping[str, Any]) -> BulkResult:
    """The ``{"ok", "id", "rev"}`` of a successful single-document write."""
    return BulkResult(id=str(answer["id"]), rev=answer.get("rev"))


def bulk_row(row: Mapping[str, Any]) -> BulkResult:
    if "error" in row:
        reason = row.get("reason")
        return BulkResult(
            id=str(row.get("id", "")),
            error=str(row["error"]),
            reason=None if reason is None else str(reason),
        )
    return BulkResult(id=str(row["id"]), rev=row.get("rev"))


def bulk_results(
    docs: Sequence[Doc], rows: Sequence[Mapping[str, Any]], *, new_edits: bool
) -> list[BulkResult]:
    """One result per input document, in input order.

    With ``new_edits=true`` CouchDB answers one row per document in order. With
    ``new_edits=false`` it answers only the failures (``chttpd_db``: replicated changes that
    succeed produce no row), so every document without an error row gets an ok row carrying the
    revision it delivered, as the SQLite store reports it.
    """
    if new_edits:
        if len(rows) != len(docs):
            raise Unavailable(f"_bulk_docs answered {len(rows)} rows for {len(docs)} documents")
        return [bulk_row(row) for row in rows]
    pool: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        pool.setdefault(str(row.get("id", "")), []).append(row)
    return [_replicated_result(doc, pool) for doc in docs]


def _replicated_result(doc: Doc, pool: dict[str, list[Mapping[str, Any]]]) -> BulkResult:
    doc_id = doc.get("_id") if isinstance(doc, Mapping) else None
    rev = doc.get("_rev") if isinstance(doc, Mapping) else None
    key = doc_id if isinstance(doc_id, str) else ""
    candidates = pool.get(key, [])
    # A row names its revision when the server says which one failed; else take the id's next.
    match = next((row for row in candidates if row.get("rev") in (None, rev)), None)
    if match is None:
        return BulkResult(id=key, rev=rev if isinstance(rev, str) else None)
    candidates.remove(match)
    result = bulk_row(match)
    return result if result.id else BulkResult(key, result.rev, result.error, result.reason)


def all_docs_page(answer: Mapping[str, Any]) -> AllDocsPage:
    update_seq = answer.get("update_seq")
    return AllDocsPage(
        total_rows=int(answer.get("total_rows") or 0),
        offset=answer.get("offset"),
        rows=list(answer.get("rows") or []),
        update_seq=None if update_seq is None else seq_str(update_seq),
    )


def change(row: Mapping[str, Any]) -> Change:
    return Change(
        seq=seq_str(row.get("seq")),
        id=str(row["id"]),
        changes=[str(entry["rev"]) for entry in row.get("changes") or []],
        deleted=bool(row.get("deleted", False)),
        doc=row.get("doc"),
    )


def changes_page(answer: Mapping[str, Any], since: str) -> ChangesPage:
    """A page; ``last_seq`` falls back to ``since`` so a resumed feed never rewinds."""
    last_seq = answer.get("last_seq")
    return ChangesPage(
        results=[change(row) for row in answer.get("results") or []],
        last_seq=since if last_seq is None else seq_str(last_seq),
        pending=int(answer.get("pending") or 0),
    )


def db_info(answer: Mapping[str, Any], name: str) -> DbInfo:
    """GET /db; ``sizes`` falls back to CouchDB 1.x's ``disk_size``/``data_size``, then 0."""
    sizes = answer.get("sizes") or {}
    return DbInfo(
        db_name=str(answer.get("db_name") or name),
        doc_count=int(answer.get("doc_count") or 0),
        doc_del_count=int(answer.get("doc_del_count") or 0),
        update_seq=seq_str(answer.get("update_seq")),
        sizes=Sizes(
            file=int(sizes.get("file") or answer.get("disk_size") or 0),
            active=int(sizes.get("active") or answer.get("data_size") or 0),
            external=int(sizes.get("external") or 0),
        ),
        purge_seq=seq_str(answer.get("purge_seq")),
        instance_start_time=str(answer.get("instance_start_time") or "0"),
        extra={k: v for k, v in answer.items() if k not in _INFO_FIELDS},
    )
