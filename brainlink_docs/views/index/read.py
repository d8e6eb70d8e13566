"""Reading a view: map rows with ``total_rows``/``offset``, or reduced rows by group.

Synchronous functions run on the index files' thread pool (``IndexFile.run``); the reduce step
itself runs afterwards on the caller's side, since a JavaScript reduce is an engine call.

``offset`` follows what CouchDB 3.5 answers (checked against it): the number of rows before
the range (for ``keys``, the first key's range that has rows, else the last key's), plus
``skip``, at most ``total_rows``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from itertools import islice
from typing import Any

from brainlink_docs.index_files import snapshot
from brainlink_docs.views.collation import collate
from brainlink_docs.views.index import storage
from brainlink_docs.views.index.plan import GroupLevel, Plan
from brainlink_docs.views.index.rows import from_json


@dataclass(frozen=True, slots=True)
class MapRows:
    total_rows: int
    offset: int
    rows: list[dict[str, Any]]


def map_rows(
    conn: sqlite3.Connection, view: int, plan: Plan, skip: int, limit: int | None
) -> MapRows:
    with snapshot(conn):
        return _map_rows(conn, view, plan, skip, limit)


def _map_rows(
    conn: sqlite3.Connection, view: int, plan: Plan, skip: int, limit: int | None
) -> MapRows:
    total = storage.row_count(conn, view)
    if not plan.keyed:
        span = plan.ranges[0]
        scanned = storage.scan(conn, view, span, skip=skip, limit=limit)
        offset = min(total, storage.count_before(conn, view, span) + skip)
        return MapRows(total, offset, [_row(r) for r in scanned])
    rows_iter = (row for span in plan.ranges for row in storage.iter_scan(conn, view, span))
    end = None if limit is None else skip + limit
    rows = [_row(r) for r in islice(rows_iter, skip, end)]
    return MapRows(total, _keys_offset(conn, view, plan, skip, total), rows)


def _keys_offset(conn: sqlite3.Connection, view: int, plan: Plan, skip: int, total: int) -> int:
    for span in plan.ranges:
        if storage.scan(conn, view, span, limit=1):
            return min(total, storage.count_before(conn, view, span) + skip)
    before = storage.count_before(conn, view, plan.ranges[-1]) if plan.ranges else 0
    return min(total, before + skip)


def _row(scanned: storage.ScannedRow) -> dict[str, Any]:
    _skey, doc_id, key, value = scanned
    return {"id": doc_id, "key": from_json(key), "value": from_json(value)}


@dataclass(slots=True)
class Group:
    """One output row of a reduce query: its key and the map rows it reduces."""

    key: Any
    kvs: list[list[Any]]


def groups(conn: sqlite3.Connection, view: int, plan: Plan) -> list[Group]:
    """The range's rows, grouped at ``plan.group_level`` (one group when not grouping).

    Rows arrive in collation order, so a group is a run of keys that collate equal at the
    level; a key is parsed and compared only where its text changes (runs of one key are
    the common case).
    """
    with snapshot(conn):
        return _groups(conn, view, plan)


def _groups(conn: sqlite3.Connection, view: int, plan: Plan) -> list[Group]:
    level = plan.group_level
    out: list[Group] = []
    current: Group | None = None
    for span in plan.ranges:
        last_text: str | None = None
        key: Any = None
        for _skey, doc_id, key_text, value_text in storage.iter_scan(conn, view, span):
            if key_text != last_text or current is None:
                key = from_json(key_text)
                last_text = key_text
                current = _group_of(key, level, current, out)
            current.kvs.append([[key, doc_id], from_json(value_text)])
        if level != 0:
            current = None  # each key of ``keys`` is its own group
    return out


def _group_of(key: Any, level: GroupLevel, current: Group | None, out: list[Group]) -> Group:
    """The group a row of ``key`` belongs to: ``current`` or a new one appended to ``out``."""
    if level == 0:
        if current is None:
            current = Group(None, [])
            out.append(current)
        return current
    group_key = _group_key(key, level)
    if current is not None and collate(group_key, current.key) == 0:
        return current
    group = Group(group_key, [])
    out.append(group)
    return group


def _group_key(key: Any, level: GroupLevel) -> Any:
    if level == "exact" or not isinstance(key, list):
        return key
    return key[:level]


# Built-in reduces SQLite can fold itself over numbers (``_approx_count_distinct`` needs keys).
SQL_REDUCES = frozenset({"_count", "_sum", "_stats"})
# Integers with more digits than this may not fit SQLite's 64-bit SUM: Python folds those.
_SAFE_DIGITS = 15


def sql_reduce(
    conn: sqlite3.Connection, view: int, plan: Plan, builtin: str
) -> list[dict[str, Any]] | None:
    """Grouped (or whole-range) ``_count``/``_sum``/``_stats`` folded by SQLite, without
    parsing each row in Python: one aggregate per key (``group=true``) or per range. Answers
    ``None`` — fold in Python instead — when a value is not a plain number, a sum overflows,
    or two distinct key texts collate equal (``1`` and ``1.0``), so answers are exactly the
    Python path's."""
    if plan.group_level not in (0, "exact"):
        return None
    out: list[dict[str, Any]] = []
    with snapshot(conn):
        for span in plan.ranges:
            try:
                folded = _fold(conn, view, span, builtin, grouped=plan.group_level == "exact")
            except sqlite3.OperationalError:  # integer overflow
                return None
            if folded is None:
                return None
            out.extend(_reduced_row(key, stats, builtin) for key, stats in folded)
    if plan.group_level == 0 and len(out) > 1:
        return None
    return out


_NOT_NUMBER = f"""SUM(json_type(value) NOT IN ('integer', 'real')
        OR (json_type(value) = 'integer' AND length(value) > {_SAFE_DIGITS}))"""
_NUMBER = "(value ->> '$')"
# SQLite turns an integer product past 64 bits into a double; Erlang (and Python) stay exact.
# _stats squares its values, so integers beyond this square root fold in Python.
_MAX_SQUARED = 3_037_000_499
_NOT_NUMBER_OR_SQUARE = (
    f"SUM(json_type(value) NOT IN ('integer', 'real') OR (json_type(value) = 'integer' "
    f"AND (length(value) > {_SAFE_DIGITS} OR abs({_NUMBER}) > {_MAX_SQUARED})))"
)
# Per built-in: COUNT(*), how many values are not plain numbers, then its own aggregates.
_AGGREGATES = {
    "_count": "COUNT(*), 0",
    "_sum": f"COUNT(*), {_NOT_NUMBER}, SUM({_NUMBER})",
    "_stats": (
        f"COUNT(*), {_NOT_NUMBER_OR_SQUARE}, SUM({_NUMBER}), MIN({_NUMBER}), MAX({_NUMBER}), "
        f"SUM({_NUMBER} * {_NUMBER})"
    ),
}


def _fold(
    conn: sqlite3.Connection, view: int, span: storage.Range, builtin: str, *, grouped: bool
) -> list[tuple[Any, tuple[Any, ...]]] | None:
    where, params = span.where()
    aggregates = _AGGREGATES[builtin]
    if grouped:
        order = "DESC" if span.descending else "ASC"
        sql = (
            f"SELECT key, {aggregates}, MIN(skey) AS first FROM rows WHERE {where} "
            f"GROUP BY key ORDER BY first {order}"
        )
    else:
        sql = f"SELECT NULL, {aggregates} FROM rows WHERE {where}"
    folded: list[tuple[Any, tuple[Any, ...]]] = []
    for key_text, count, other, *values in conn.execute(sql, [view, *params]):
        if count == 0:
            continue
        if other:
            return None
        key = None if key_text is None else from_json(key_text)
        if folded and grouped and collate(folded[-1][0], key) == 0:
            return None
        folded.append((key, (count, *values[: len(values) - grouped])))
    return folded


def _reduced_row(key: Any, stats: tuple[Any, ...], builtin: str) -> dict[str, Any]:
    if builtin == "_count":
        return {"key": key, "value": stats[0]}
    if builtin == "_sum":
        return {"key": key, "value": stats[1]}
    count, total, low, high, squares = stats
    value = {"sum": total, "count": count, "min": low, "max": high, "sumsqr": squares}
    return {"key": key, "value": value}
