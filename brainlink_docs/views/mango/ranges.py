"""Key ranges of a Mango query: what an index scan can skip (``mango_idx_view:range``).

A field's range is ``(low_op, low, high_op, high)``, narrowed by the comparisons ``$and``ed on
it at the top of the normalized selector (``$beginsWith`` too), or ``EMPTY`` when no value can
match. ``MIN``/``MAX`` bound every JSON value; ``MAX`` in a key is shown as ``"<MAX>"`` by
``_explain``. Ranges only narrow a scan: every row is matched against the whole selector.
"""

from __future__ import annotations

from typing import Any

from brainlink_docs.views.collation import collate
from brainlink_docs.views.mango.normalize import Selector


class _Bound:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MIN: Any = _Bound("MIN")
MAX: Any = _Bound("MAX")
EMPTY: Any = _Bound("EMPTY")
MAX_JSON = "<MAX>"  # how CouchDB's explain renders its max key
Range = tuple[str, Any, str, Any]
FULL: Range = ("$gt", MIN, "$lt", MAX)
# mango_idx_view:indexable/1. $exists narrows no range but counts, so that an index whose
# fields a query only requires to exist can still cover it.
_RANGED = ("$lt", "$lte", "$eq", "$gt", "$gte", "$beginsWith", "$exists")
# mango_idx_view: a $beginsWith prefix ranges up to the prefix followed by U+FFFF, which ICU's
# root collation puts above every other character.
_LAST_CODE_POINT = "\uffff"


def bound_cmp(a: Any, b: Any) -> int:
    """``mango_json:cmp`` with the MIN/MAX bounds."""
    if a is b:
        return 0
    if a is MIN or b is MAX:
        return -1
    if a is MAX or b is MIN:
        return 1
    return collate(a, b)


def key_cmp(a: Any, b: Any) -> int:
    """Compare view keys where arrays may end in MAX (a range's end key)."""
    if isinstance(a, list) and isinstance(b, list):
        for x, y in zip(a, b, strict=False):
            c = key_cmp(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    return bound_cmp(a, b)


# -- what the selector says about fields -------------------------------------------------------


def single(sel: Selector) -> tuple[str, Any] | None:
    return next(iter(sel.items())) if sel else None


def indexable_fields(sel: Selector) -> list[str]:
    """Fields under top-level ``$and`` with a comparison an index scan can serve."""
    item = single(sel)
    if item is None:
        return []
    key, arg = item
    if key == "$and":
        return sorted({f for a in arg for f in indexable_fields(a)}, key=str.encode)
    if key.startswith("$"):
        return []
    op = next(iter(arg), "")
    return [key] if op in _RANGED else []


def _range_of(sel: Selector, name: str, current: Range | Any) -> Range | Any:
    if current is EMPTY:
        return EMPTY
    item = single(sel)
    if item is None:
        return current
    key, arg = item
    if key == "$and":
        for sub in arg:
            current = _range_of(sub, name, current)
        return current
    if key != name:
        return current
    ((op, value),) = arg.items()
    return _narrow(op, value, current)


def _pos(low: Any, arg: Any, high: Any) -> str:
    c = bound_cmp(arg, low)
    if c < 0:
        return "min"
    if c == 0:
        return "low"
    c = bound_cmp(arg, high)
    return "mid" if c < 0 else "high" if c == 0 else "max"


def _narrow(op: str, arg: Any, r: Range) -> Range | Any:
    lcmp, low, hcmp, high = r
    if op == "$beginsWith":
        narrowed = _narrow("$gte", arg, r)
        return narrowed if narrowed is EMPTY else _narrow("$lte", arg + _LAST_CODE_POINT, narrowed)
    pos = _pos(low, arg, high)
    if op == "$lt":
        if pos in ("min", "low"):
            return EMPTY
        return (lcmp, low, "$lt", arg) if pos in ("mid", "high") else r
    if op == "$lte":
        if pos == "min" or (pos == "low" and lcmp not in ("$gte", "$eq")):
            return EMPTY
        if pos == "low":
            return ("$eq", arg, "$eq", arg)
        return (lcmp, low, "$lte", arg) if pos == "mid" else r
    if op == "$eq":
        if pos == "mid" or (pos == "low" and lcmp in ("$gte", "$eq")):
            return ("$eq", arg, "$eq", arg)
        if pos == "high" and hcmp in ("$lte", "$eq"):
            return ("$eq", arg, "$eq", arg)
        return EMPTY
    if op == "$gte":
        if pos in ("min", "low"):
            return r
        if pos == "mid":
            return ("$gte", arg, hcmp, high)
        if pos == "high" and hcmp in ("$lte", "$eq"):
            return ("$eq", arg, "$eq", arg)
        return EMPTY
    if op == "$gt":
        if pos == "min":
            return r
        return ("$gt", arg, hcmp, high) if pos in ("low", "mid") else EMPTY
    return r


def field_ranges(sel: Selector) -> list[tuple[str, Any]]:
    """``mango_idx_view:field_ranges``: each indexable field's range; an empty one ends it."""
    out: list[tuple[str, Any]] = []
    for name in indexable_fields(sel):
        r = _range_of(sel, name, FULL)
        if r is EMPTY:
            return [(name, EMPTY)]
        out.append((name, r))
    return out


def with_max_as(key: Any, stand_in: Any) -> Any:
    """``key`` with every ``MAX`` replaced by ``stand_in``."""
    if key is MAX:
        return stand_in
    if isinstance(key, list):
        return [with_max_as(k, stand_in) for k in key]
    return key


def to_json_key(key: Any) -> Any:
    """``key`` as CouchDB's ``_explain`` renders it."""
    return with_max_as(key, MAX_JSON)
