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
    """The range's rows, grouped at ``plan.group_level`` (one group when not grouping)."""
    level = plan.group_level
    out: list[Group] = []
    for span in plan.ranges:
        span_groups: list[Group] = []
        last_text: str | None = None
        for _skey, doc_id, key_text, value_text in storage.iter_scan(conn, view, span):
            key = from_json(key_text)
            kv = [[key, doc_id], from_json(value_text)]
            if level == 0:
                if not span_groups:
                    span_groups.append(Group(None, []))
                span_groups[-1].kvs.append(kv)
                continue
            group_key = _group_key(key, level)
            if span_groups and _same_group(group_key, last_text, span_groups[-1].key, key_text):
                span_groups[-1].kvs.append(kv)
                continue
            span_groups.append(Group(group_key, [kv]))
            last_text = key_text if level == "exact" else None
        out.extend(span_groups)
    if level == 0 and len(out) > 1:
        # keys without group=true is refused by plan; one range gives at most one group.
        merged = Group(None, [kv for group in out for kv in group.kvs])
        return [merged]
    return out


def _group_key(key: Any, level: GroupLevel) -> Any:
    if level == "exact" or not isinstance(key, list):
        return key
    return key[:level]


def _same_group(group_key: Any, key_text: str | None, current: Any, text: str) -> bool:
    """Rows arrive in collation order, so a group is a run of keys that collate equal."""
    if key_text is not None and key_text == text:
        return True
    return collate(group_key, current) == 0
