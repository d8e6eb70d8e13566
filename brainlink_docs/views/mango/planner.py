"""The Mango planner: which index answers a query, and over which key range (CouchDB 3.5's).

Given the normalized selector, the ``sort`` and the database's indexes, ``plan`` follows
``mango_idx:get_usable_indexes`` and ``mango_cursor:create``:

- an index with a ``partial_filter_selector`` is a candidate only when ``use_index`` names it;
- a JSON index is usable when the selector requires every column to exist (sort fields and
  ``_id``/``_rev`` excepted), and the sort is a prefix of its columns after columns the
  selector pins with ``$eq``; ``_all_docs`` is usable without a sort, or sorted by ``_id``
  when the selector ranges over ``_id``;
- ``use_index`` narrows the usable set when it matches one (else a warning, or with
  ``allow_fallback: false`` a 400); JSON indexes beat ``_all_docs``;
- among JSON indexes: the one whose column prefix covers the most of the selector's ranged
  fields, then the longest prefix, then the fewest columns, then the smallest design document
  id and name.

The chosen index's key range comes from ``ranges``; ``Plan`` turns it into start and end keys.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.errors import BadRequest
from brainlink_docs.views.mango.indexes import ALL_DOCS_INDEX, Index
from brainlink_docs.views.mango.normalize import Selector
from brainlink_docs.views.mango.ranges import (
    EMPTY,
    FULL,
    MAX,
    MIN,
    field_ranges,
    indexable_fields,
    single,
)
from brainlink_docs.views.mango.selector import fields_of


def has_required_fields(sel: Selector, required: Sequence[str]) -> bool:
    return not _remaining([sel] if sel else [], list(required))


def _remaining(sels: list[Selector], required: list[str]) -> list[str]:
    for sel in sels:
        if not required:
            return []
        key, arg = next(iter(sel.items()))
        if key == "$and":
            required = _remaining(arg, required)
        elif key == "$or":
            left: set[str] = set()
            for sub in arg:
                left |= set(_remaining([sub], required))
            required = [f for f in required if f in left]
        elif key.startswith("$"):
            continue
        elif arg != {"$exists": False}:
            required = [f for f in required if f != key]
    return required


def is_constant_field(sel: Selector, name: str) -> bool:
    item = single(sel)
    if item is None:
        return False
    key, arg = item
    if key == "$and":
        return any(is_constant_field(a, name) for a in arg)
    return key == name and isinstance(arg, dict) and next(iter(arg), "") == "$eq"


def can_use_sort(columns: list[str], sort_fields: list[str], sel: Selector) -> bool:
    if not sort_fields:
        return True
    for i, column in enumerate(columns):
        if column == sort_fields[0]:
            return columns[i : i + len(sort_fields)] == sort_fields
        if not is_constant_field(sel, column):
            return False
    return False


def usability(index: Index, sel: Selector, sort_fields: list[str]) -> str | None:
    """``None`` when usable, else the reason ``_explain`` gives."""
    if index.type == "special":
        if not sort_fields:
            return None
        if "_id" in indexable_fields(sel) and sort_fields == ["_id"]:
            return None
        return "sort_order_mismatch" if "_id" in indexable_fields(sel) else "field_mismatch"
    columns = index.columns
    required = sorted(
        set(columns) - set(sort_fields) - {"_id", "_rev"},
        key=str.encode,
    )
    if not has_required_fields(sel, required):
        return "field_mismatch"
    if not can_use_sort(columns, sort_fields, sel):
        return "sort_order_mismatch"
    return None


# -- choosing ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """The chosen index (``None``: none is usable) and how the planner got there."""

    index: Index | None
    ranges: list[Any]
    descending: bool
    warnings: list[str] = field(default_factory=list)
    candidates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return EMPTY in self.ranges

    def start_key(self) -> Any:
        if self.is_empty:
            return None
        return self._end() if self.descending else self._start()

    def end_key(self) -> Any:
        if self.is_empty:
            return None
        return self._start() if self.descending else self._end()

    def _start(self) -> Any:
        if self.index is not None and self.index.type == "special":
            # No _id range: no start key (null); an _id range open below: the empty id.
            if not self.ranges:
                return None
            low = self.ranges[0][1]
            return "" if low is MIN else low
        key: list[Any] = []
        for _, low, _, _ in (r for r in self.ranges if r is not EMPTY):
            if low is MIN:
                break
            key.append(low)
        return key

    def _end(self) -> Any:
        if self.index is not None and self.index.type == "special":
            r = self.ranges[0] if self.ranges else FULL
            return MAX if r[3] is MAX else r[3]
        key: list[Any] = []
        for _, _, _, high in (r for r in self.ranges if r is not EMPTY):
            if high is MAX:
                return [*key, MAX]
            key.append(high)
        return [*key, MAX]


def _use_index_filter(indexes: list[Index], use_index: list[str]) -> list[Index]:
    if not use_index:
        return []
    ddoc = use_index[0] if use_index[0].startswith("_design/") else "_design/" + use_index[0]
    chosen = [i for i in indexes if i.ddoc == ddoc]
    if len(use_index) > 1:
        chosen = [i for i in chosen if i.name == use_index[1]]
    return chosen


def _invalid_index_warning(index: Index | None, use_index: list[str]) -> list[str]:
    if not use_index or (index is not None and _use_index_filter([index], use_index)):
        return []
    name = use_index[0].removeprefix("_design/")
    if len(use_index) == 1:
        return [
            f"_design/{name} was not used because it does not contain a valid index for this query."
        ]
    return [
        f"_design/{name}, {use_index[1]} was not used because it is not a valid index for this "
        "query."
    ]


def _noop(sel: Selector) -> bool:
    # mango_cursor:maybe_noop_range: {"$or": []} (and $and, $all, $in) answers nothing at all.
    item = single(sel)
    return item is not None and item[0] in ("$all", "$and", "$or", "$in") and item[1] == []


def plan(
    sel: Selector,
    json_indexes: list[Index],
    sort: Sequence[tuple[str, str]],
    use_index: list[str],
    allow_fallback: bool,
    fields: list[str] | None = None,
) -> Plan:
    sort_fields = [f for f, _ in sort]
    descending = bool(sort) and sort[0][1] == "desc"
    every = [ALL_DOCS_INDEX, *json_indexes]
    specified = _use_index_filter(every, use_index)
    considered = [i for i in every if not i.is_partial or i in specified]
    reasons = {i: usability(i, sel, sort_fields) for i in considered}
    usable = [i for i in considered if reasons[i] is None]
    filtered = _use_index_filter(usable, use_index)
    if use_index and not filtered and not allow_fallback:
        raise BadRequest(
            f"{use_index[0] if use_index[0].startswith('_design/') else '_design/' + use_index[0]}"
            " specified by `use_index` could not be found or it is not suitable.",
            error="invalid_index",
        )
    pool = filtered or usable
    of_type = [i for i in pool if i.type == "json"] or [i for i in pool if i.type == "special"]
    ranges = field_ranges(sel)
    ranked = _rank(of_type, ranges)
    chosen = ranked[0][0] if ranked else None
    prefix = ranked[0][1] if ranked else []
    if _noop(sel):
        prefix = [EMPTY]
    result = Plan(chosen, prefix, descending, _invalid_index_warning(chosen, use_index))
    result.candidates = _candidates(
        every, considered, reasons, usable, pool, of_type, ranked, chosen, fields
    )
    return result


Ranked = list[tuple[Index, list[Any], int]]


def _rank(indexes: list[Index], ranges: list[tuple[str, Any]]) -> Ranked:
    named = dict(ranges)
    composited = []
    for index in indexes:
        prefix: list[Any] = []
        for column in index.columns:
            if column not in named:
                break
            prefix.append(named[column])
        composited.append((index, prefix, len(ranges) - len(prefix)))
    return sorted(
        composited,
        # Last tie-break: the smaller index record in Erlang term order, i.e. by design
        # document id, then name (CouchDB 3.5 picks _design/one's by_n over _design/two's by_k).
        key=lambda c: (
            c[2],
            -len(c[1]),
            len(c[0].columns),
            (c[0].ddoc or "").encode(),
            c[0].name.encode(),
        ),
    )


def _candidates(
    every: list[Index],
    considered: list[Index],
    reasons: dict[Index, str | None],
    usable: list[Index],
    filtered: list[Index],
    of_type: list[Index],
    ranked: list[tuple[Index, list[Any], int]],
    chosen: Index | None,
    fields: list[str] | None,
) -> list[dict[str, Any]]:
    """``mango_cursor:extract_candidate_indexes``: why each other index lost.

    Each index collects tags from every group it falls in, merged as CouchDB merges them:
    usable if every tag says so, reasons appended (the first is shown), rankings added."""
    partial = [i for i in every if i.is_partial]
    not_usable = [i for i in considered if reasons[i] is not None]
    excluded = [i for i in usable if i not in filtered]
    unfavored = [i for i in filtered if i not in of_type]
    # The fold in extract_candidate_indexes: each later group ranks one below the previous
    # one when that previous group is not empty.
    unfavored_rank = max(1, len(ranked))
    excluded_rank = unfavored_rank + bool(unfavored)
    not_usable_rank = excluded_rank + bool(excluded)
    partial_rank = not_usable_rank + bool(not_usable)
    tags: dict[Index, dict[str, Any]] = {i: {} for i in every}

    def tag(index: Index, usable: bool | None, reason: str | None, ranking: int | None) -> None:
        current = tags[index]
        if usable is not None:
            current["usable"] = current.get("usable", True) and usable
        if reason is not None:
            current.setdefault("reasons", []).append(reason)
        if ranking is not None:
            current["ranking"] = current.get("ranking", 0) + ranking

    for i in partial:
        tag(i, False, "is_partial", partial_rank)
    for i in not_usable:
        tag(i, False, None, not_usable_rank)
    for i in excluded:
        tag(i, True, "excluded_by_user", excluded_rank)
    for i in unfavored:
        tag(i, True, "unfavored_type", unfavored_rank)
    for i in of_type:
        tag(i, True, None, None)
    for i in not_usable:
        tag(i, None, reasons[i], None)
    width = len(chosen.columns) if chosen is not None else 0
    for n, (index, _prefix, distance) in enumerate(ranked):
        if distance > 0:
            reason = "less_overlap"
        elif len(index.columns) > width:
            reason = "too_many_fields"
        else:
            reason = "alphabetically_comes_after"
        tag(index, None, reason, n)
    out = []
    ordered = sorted(
        (i for i in tags if i != chosen and tags[i]),
        key=lambda i: ((i.ddoc or "_all_docs").encode(), i.name.encode()),
        reverse=True,
    )
    for index in ordered:
        found = tags[index]
        out.append(
            {
                "index": index.to_json(),
                "analysis": {
                    "usable": found.get("usable", True),
                    "reasons": [{"name": found.get("reasons", ["unknown"])[0]}],
                    "ranking": found.get("ranking", 0),
                    "covering": None if index.type == "special" else covers(index, fields),
                },
            }
        )
    return out


def covers(index: Index | None, fields: list[str] | None) -> bool:
    """``mango_idx_view:covers``: a JSON index holds every requested field (or ``_id``), so
    the documents need not be read."""
    if index is None or index.type != "json" or not fields:
        return False
    return set(fields) <= {"_id", *index.columns}


def selector_hints(sel: Selector) -> list[dict[str, Any]]:
    indexable = indexable_fields(sel)
    others = sorted({f for f in fields_of(sel) if f not in indexable}, key=str.encode)
    return [{"type": "json", "indexable_fields": indexable, "unindexable_fields": others}]
