"""A view query, checked and turned into index ranges: CouchDB's ``couch_mrview_util`` rules.

``plan`` validates a ``ViewQuery`` against the view it runs on (map-only or reduce) with
CouchDB's ``query_parse_error`` messages, and says what to read: the key ranges (one per key
of ``keys``, else one), in which direction, whether to reduce and at which group level.

Ranges are built on ``row_sort_key`` bytes: a start key with no ``startkey_docid`` starts
before every id of that key (``b""``) and an inclusive end key with no ``endkey_docid`` ends
after every id (``b"\\xff"``, above any UTF-8 byte), mirrored when descending, exactly as
CouchDB's ``update_args`` fills the missing ids with ``<<>>`` and ``<<255>>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from brainlink_docs.errors import BadRequest
from brainlink_docs.store.api import UNSET, ViewQuery
from brainlink_docs.views.collation import sort_key
from brainlink_docs.views.index.rows import to_json
from brainlink_docs.views.index.storage import Range

LOWEST_ID = b""
HIGHEST_ID = b"\xff"

GroupLevel = int | Literal["exact"]


@dataclass(frozen=True, slots=True)
class Plan:
    ranges: list[Range]
    reduce: bool
    group_level: GroupLevel
    # Whether the query named keys (rows come key by key, in the order given).
    keyed: bool


def query_parse_error(reason: str) -> BadRequest:
    return BadRequest(reason, error="query_parse_error")


def plan(query: ViewQuery, *, has_reduce: bool) -> Plan:
    reduce = has_reduce if query.reduce is None else query.reduce
    group_level = _group_level(query)
    _validate(query, reduce=reduce, has_reduce=has_reduce, group_level=group_level)
    if query.keys is not None:
        ranges = [_range(query, key, key) for key in query.keys]
        if query.descending:
            # CouchDB 3.5 walks the keys last to first when descending (checked against it).
            ranges.reverse()
        return Plan(ranges, reduce, group_level, keyed=True)
    start = query.key if query.key is not UNSET else query.startkey
    end = query.key if query.key is not UNSET else query.endkey
    span = _range(query, start, end)
    _check_order(query, start, end, span)
    return Plan([span], reduce, group_level, keyed=False)


def _group_level(query: ViewQuery) -> GroupLevel:
    if query.group is None and query.group_level is None:
        return 0
    if query.group is False and query.group_level is None:
        return 0
    if query.group is False and query.group_level is not None and query.group_level > 0:
        raise query_parse_error("Can't specify group=false and group_level>0 at the same time")
    if query.group is True and query.group_level is None:
        return "exact"
    return query.group_level if query.group_level is not None else 0


def _validate(query: ViewQuery, *, reduce: bool, has_reduce: bool, group_level: GroupLevel) -> None:
    """couch_mrview_util:validate_args, in its order."""
    view_type = "red" if has_reduce and reduce else "map"
    if not has_reduce and query.reduce is True:
        raise query_parse_error("Reduce is invalid for map-only views.")
    # CouchDB 3.5 (fabric) allows one key without group=true, reduced as key=K would be.
    if (
        view_type == "red"
        and group_level != "exact"
        and query.keys is not None
        and len(query.keys) != 1
    ):
        raise query_parse_error("Multi-key fetches for reduce views must use `group=true`")
    given = query.key is not UNSET or query.startkey is not UNSET or query.endkey is not UNSET
    # One key is served as that key (fabric), whatever else was given.
    if query.keys is not None and len(query.keys) > 1 and given:
        raise query_parse_error("`keys` is incompatible with `key`, `start_key` and `end_key`")
    if group_level != 0 and view_type == "map":
        raise query_parse_error("Invalid use of grouping on a map view.")
    if view_type == "red" and query.include_docs:
        raise query_parse_error("`include_docs` is invalid for reduce")
    if view_type == "red" and query.conflicts:
        raise query_parse_error("`conflicts` is invalid for reduce views.")


def _range(query: ViewQuery, start: Any, end: Any) -> Range:
    start_id = _id_bytes(query.startkey_docid)
    end_id = _id_bytes(query.endkey_docid)
    start_bytes = None if start is UNSET else sort_key(start)
    end_bytes = None if end is UNSET else sort_key(end)
    if not query.descending:
        low = None if start_bytes is None else start_bytes + _or(start_id, LOWEST_ID)
        if end_bytes is None:
            return Range(low=low)
        if query.inclusive_end:
            return Range(low=low, high=end_bytes + _or(end_id, HIGHEST_ID))
        return Range(low=low, high=end_bytes + _or(end_id, LOWEST_ID), high_inclusive=False)
    high = None if start_bytes is None else start_bytes + _or(start_id, HIGHEST_ID)
    if end_bytes is None:
        return Range(high=high, descending=True)
    if query.inclusive_end:
        return Range(low=end_bytes + _or(end_id, LOWEST_ID), high=high, descending=True)
    low = end_bytes + _or(end_id, HIGHEST_ID)
    return Range(low=low, low_inclusive=False, high=high, descending=True)


def _check_order(query: ViewQuery, start: Any, end: Any, span: Range) -> None:
    """couch_mrview_util:check_range: a range that cannot match is a 400, not an empty page."""
    if start is UNSET or end is UNSET or to_json(start) == to_json(end):
        return
    first = _or(_id_bytes(query.startkey_docid), HIGHEST_ID if query.descending else LOWEST_ID)
    last = _or(_id_bytes(query.endkey_docid), LOWEST_ID if query.descending else HIGHEST_ID)
    start_row, end_row = sort_key(start) + first, sort_key(end) + last
    if not query.descending and not start_row < end_row:
        raise query_parse_error(
            "No rows can match your key range, reverse your start_key and end_key or set "
            "descending=true"
        )
    if query.descending and start_row < end_row:
        raise query_parse_error(
            "No rows can match your key range, reverse your start_key and end_key or set "
            "descending=false"
        )


def _id_bytes(doc_id: str | None) -> bytes | None:
    return None if doc_id is None else doc_id.encode("utf-8", "surrogatepass")


def _or(value: bytes | None, default: bytes) -> bytes:
    return default if value is None else value
