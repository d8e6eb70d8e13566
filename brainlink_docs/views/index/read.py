"""Reading a view: map rows with ``total_rows``/``offset``, or reduced rows by group.

Synchronous functions run on an index's reader threads (``IndexFile.read``); the reduce step
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
    with storage.snapshot(conn):
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
