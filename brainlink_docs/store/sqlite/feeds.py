"""Range reads: ``_all_docs`` (by id) and ``_changes`` (by sequence), one page per call.

Ids collate as raw UTF-8 bytes, which is both CouchDB's ``_all_docs`` order and SQLite's BINARY
collation, so the ``doc_id`` index answers ranges directly. ``_changes`` walks the ``docs`` table
in rowid (= sequence) order: each document appears once, at its latest change.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest
from brainlink_docs.revs import sorted_leaves
from brainlink_docs.store.api import (
    AllDocsPage,
    AllDocsQuery,
    Change,
    ChangesPage,
    ChangesQuery,
    Doc,
    ReadOptions,
)
from brainlink_docs.store.sqlite.reads import DocRow, build_doc, load_row
from brainlink_docs.store.sqlite.sequences import format_seq, parse_since
from brainlink_docs.views.mango import matches

_COLUMNS = "doc_id, seq, rev, deleted, tree, body, atts"
# Rows fetched per statement while a selector or doc_ids filter discards rows.
SCAN_CHUNK = 2000


def _doc_of(conn: sqlite3.Connection, row: DocRow, opts: ReadOptions, token: str) -> Doc:
    stored = (row.body, row.atts) if row.body is not None else (b"{}", None)
    return build_doc(conn, row, row.rev, row.deleted, stored, opts, token)


def all_docs(
    conn: sqlite3.Connection, query: AllDocsQuery, meta: dict[str, Any], token: str
) -> AllDocsPage:
    opts = ReadOptions(conflicts=query.conflicts, attachments=query.attachments)
    if query.keys is not None:
        rows = _rows_for_keys(conn, query, opts, token)
    else:
        rows = _rows_for_range(conn, query, opts, token)
    update_seq = format_seq(int(meta["update_seq"]), token) if query.update_seq else None  # type: ignore[call-overload]
    # PouchDB reports ``offset`` as the rows skipped; CouchDB's exact position would need a
    # count over the id index on every page, which costs more than the page itself.
    return AllDocsPage(int(meta["doc_count"]), query.skip, rows, update_seq)  # type: ignore[call-overload]


def _row_json(
    conn: sqlite3.Connection, row: DocRow, query: AllDocsQuery, opts: ReadOptions, token: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.doc_id, "key": row.doc_id, "value": {"rev": row.rev}}
    if row.deleted:
        out["value"]["deleted"] = True
        if query.include_docs:
            out["doc"] = None
    elif query.include_docs:
        out["doc"] = _doc_of(conn, row, opts, token)
    return out


def _rows_for_keys(
    conn: sqlite3.Connection, query: AllDocsQuery, opts: ReadOptions, token: str
) -> list[dict[str, Any]]:
    keys = list(query.keys or ())
    if query.descending:
        keys.reverse()
    out: list[dict[str, Any]] = []
    for key in keys:
        row = load_row(conn, key) if isinstance(key, str) else None
        if row is None:
            out.append({"key": key, "error": "not_found"})
        else:
            out.append(_row_json(conn, row, query, opts, token))
    end = None if query.limit is None else query.skip + query.limit
    return out[query.skip : end]


def _bounds(query: AllDocsQuery) -> tuple[str | None, str | None, str, str]:
    """The id range of a query as (low, high, low operator, high operator)."""
    for key in (query.startkey, query.endkey):
        if key is not None and not isinstance(key, str):
            raise BadRequest("_all_docs keys must be strings")
    if query.descending:
        return query.endkey, query.startkey, (">=" if query.inclusive_end else ">"), "<="
    return query.startkey, query.endkey, ">=", ("<=" if query.inclusive_end else "<")


def _range_sql(table: str, columns: str, base: str, query: AllDocsQuery) -> tuple[str, list[Any]]:
    """One page of an id range of ``table``: the SQL and its parameters."""
    low, high, low_op, high_op = _bounds(query)
    where, params = [base], []
    if low is not None:
        where.append(f"doc_id {low_op} ?")
        params.append(low)
    if high is not None:
        where.append(f"doc_id {high_op} ?")
        params.append(high)
    order = "DESC" if query.descending else "ASC"
    sql = (
        f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY doc_id {order} LIMIT ? OFFSET ?"
    )
    params += [-1 if query.limit is None else query.limit, query.skip]
    return sql, params


def _rows_for_range(
    conn: sqlite3.Connection, query: AllDocsQuery, opts: ReadOptions, token: str
) -> list[dict[str, Any]]:
    columns = _COLUMNS if query.include_docs else "doc_id, seq, rev, deleted, tree, NULL, NULL"
    sql, params = _range_sql("docs", columns, "deleted = 0", query)
    return [_row_json(conn, DocRow(*r), query, opts, token) for r in conn.execute(sql, params)]


def changes(conn: sqlite3.Connection, query: ChangesQuery, current: int, token: str) -> ChangesPage:
    """One page of ``_changes``; ``current`` is the committed sequence of this snapshot."""
    since = 0 if query.descending else parse_since(query.since, token, current)
    limit = query.limit
    if limit is not None and limit <= 0:
        return ChangesPage([], format_seq(since, token), 0)
    opts = ReadOptions(conflicts=query.conflicts, attachments=query.attachments)
    needs_body = query.include_docs or query.selector is not None
    columns = _COLUMNS if needs_body else "doc_id, seq, rev, deleted, tree, NULL, NULL"
    results: list[Change] = []
    cursor = since if not query.descending else current + 1
    scanned = False
    exhausted = False
    while limit is None or len(results) < limit:
        batch = _scan(conn, query, columns, cursor, SCAN_CHUNK if limit is None else limit)
        if not batch:
            exhausted = True
            break
        for raw in batch:
            row = DocRow(*raw)
            cursor, scanned = row.seq, True
            change = _change_of(conn, row, query, opts, token)
            if change is not None:
                results.append(change)
                if limit is not None and len(results) >= limit:
                    break
        if len(batch) < (SCAN_CHUNK if limit is None else limit):
            exhausted = True
            break
    if query.descending:
        last = cursor if scanned else 0
    elif exhausted:
        last = max(current, since)
    else:
        last = cursor
    pending = 0 if exhausted else _pending(conn, cursor, current, query.descending)
    return ChangesPage(results, format_seq(last, token), pending)


def _scan(
    conn: sqlite3.Connection, query: ChangesQuery, columns: str, cursor: int, size: int
) -> list[tuple[Any, ...]]:
    op, order = ("<", "DESC") if query.descending else (">", "ASC")
    where = f"seq {op} ?"
    params: list[Any] = [cursor]
    if query.doc_ids is not None:
        where += f" AND doc_id IN ({','.join('?' * len(query.doc_ids))})"
        params.extend(query.doc_ids)
    sql = f"SELECT {columns} FROM docs WHERE {where} ORDER BY seq {order} LIMIT ?"
    return conn.execute(sql, [*params, size]).fetchall()


def _change_of(
    conn: sqlite3.Connection, row: DocRow, query: ChangesQuery, opts: ReadOptions, token: str
) -> Change | None:
    doc = None
    if query.selector is not None or query.include_docs:
        doc = _doc_of(conn, row, opts, token)
        if query.selector is not None and not matches(query.selector, doc):
            return None
        if not query.include_docs:
            doc = None
    if query.style == "all_docs":
        revs = [leaf.rev for leaf in sorted_leaves(row.tree)]
    else:
        revs = [row.rev]
    return Change(format_seq(row.seq, token), row.doc_id, revs, bool(row.deleted), doc)


def _pending(conn: sqlite3.Connection, cursor: int, current: int, descending: bool) -> int:
    """Rows left after this page, as an upper bound: the sequences not yet passed, capped by
    the number of documents. Exact while no document was updated twice; counting exactly would
    walk every remaining row (or cost an extra index on every write), for a figure clients use
    only to show progress. CouchDB's clustered ``pending`` is an estimate too.
    """
    remaining = cursor - 1 if descending else current - cursor
    total = conn.execute(
        "SELECT sum(value) FROM meta WHERE key IN ('doc_count', 'doc_del_count')"
    ).fetchone()[0]
    return max(0, min(remaining, int(total)))


def local_docs(conn: sqlite3.Connection, query: AllDocsQuery) -> AllDocsPage:
    """``_local_docs``: local documents by id, with ``_all_docs``'s range options."""
    if query.keys is not None:
        keys = list(query.keys)[::-1] if query.descending else list(query.keys)
        marks = ",".join("?" * len(keys))
        sql = f"SELECT doc_id, rev, body FROM local_docs WHERE doc_id IN ({marks})"
        found = {r[0]: r for r in conn.execute(sql, keys)}
        rows = [
            _local_row(found[k], query) if k in found else {"key": k, "error": "not_found"}
            for k in keys
        ]
        end = None if query.limit is None else query.skip + query.limit
        return AllDocsPage(None, None, rows[query.skip : end])
    sql, params = _range_sql("local_docs", "doc_id, rev, body", "1", query)
    rows = [_local_row(r, query) for r in conn.execute(sql, params)]
    # CouchDB 2.1+ answers _local_docs with null total_rows and offset (COUCHDB-3337).
    return AllDocsPage(None, None, rows)


def _local_row(row: tuple[Any, ...], query: AllDocsQuery) -> dict[str, Any]:
    rev = f"0-{row[1]}"
    out: dict[str, Any] = {"id": row[0], "key": row[0], "value": {"rev": rev}}
    if query.include_docs:
        out["doc"] = {"_id": row[0], "_rev": rev, **orjson.loads(row[2])}
    return out
