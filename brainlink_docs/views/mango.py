"""Mango selectors (CouchDB's ``_find`` language), matched against a document in pure Python.

A selector is a JSON object: field paths (dotted, ``\\.`` escapes a dot) map to a value (implicit
``$eq``) or to operator objects; ``$and``/``$or``/``$nor``/``$not`` combine selectors. Matching
follows ``mango_selector:match``: a missing field matches nothing but ``$exists: false``, and
comparisons order values by CouchDB's collation. ``validate_selector`` rejects malformed selectors
up front so a bad ``_changes?filter=_selector`` is a 400, not a silent non-match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from brainlink_docs.errors import BadRequest
from brainlink_docs.views.collation import collate

_MISSING = object()

_COMBINATORS = frozenset({"$and", "$or", "$nor", "$not"})
_JSON_TYPES = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def split_field(path: str) -> list[str]:
    """``a.b\\.c`` -> ``["a", "b.c"]``."""
    parts = re.split(r"(?<!\\)\.", path)
    return [p.replace("\\.", ".") for p in parts]


def _get_field(doc: Any, parts: list[str]) -> Any:
    value = doc
    for part in parts:
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _cmp_ok(value: Any, arg: Any, test: Callable[[int], bool]) -> bool:
    return value is not _MISSING and test(collate(value, arg))


def _op_match(op: str, arg: Any, value: Any) -> bool:
    if op == "$eq":
        return _cmp_ok(value, arg, lambda c: c == 0)
    if op == "$ne":
        return value is not _MISSING and collate(value, arg) != 0
    if op == "$gt":
        return _cmp_ok(value, arg, lambda c: c > 0)
    if op == "$gte":
        return _cmp_ok(value, arg, lambda c: c >= 0)
    if op == "$lt":
        return _cmp_ok(value, arg, lambda c: c < 0)
    if op == "$lte":
        return _cmp_ok(value, arg, lambda c: c <= 0)
    if op == "$exists":
        return (value is not _MISSING) == bool(arg)
    if value is _MISSING:
        return False
    return _value_op(op, arg, value)


def _value_op(op: str, arg: Any, value: Any) -> bool:
    if op == "$in":
        values = value if isinstance(value, list) else [value]
        return any(collate(v, a) == 0 for v in values for a in arg)
    if op == "$nin":
        values = value if isinstance(value, list) else [value]
        return not any(collate(v, a) == 0 for v in values for a in arg)
    if op == "$type":
        return _JSON_TYPES[arg](value)
    if op == "$size":
        return isinstance(value, list) and len(value) == arg
    if op == "$mod":
        return isinstance(value, int) and not isinstance(value, bool) and value % arg[0] == arg[1]
    if op == "$regex":
        return isinstance(value, str) and re.search(arg, value) is not None
    if op == "$all":
        return isinstance(value, list) and all(any(collate(v, a) == 0 for v in value) for a in arg)
    if op == "$elemMatch":
        return isinstance(value, list) and any(_match_value(arg, v) for v in value)
    if op == "$allMatch":
        return isinstance(value, list) and bool(value) and all(_match_value(arg, v) for v in value)
    if op == "$keyMapMatch":
        return isinstance(value, dict) and any(_match_value(arg, k) for k in value)
    if op == "$beginsWith":
        return isinstance(value, str) and value.startswith(arg)
    raise BadRequest(f"Invalid operator: {op}", error="invalid_operator")


def _match_value(cond: Any, value: Any) -> bool:
    """Match a field's value against a condition (operator object, sub-selector or literal)."""
    if isinstance(cond, Mapping) and cond and all(k.startswith("$") for k in cond):
        return all(
            _combine(op, arg, value) if op in _COMBINATORS else _op_match(op, arg, value)
            for op, arg in cond.items()
        )
    if isinstance(cond, Mapping) and cond:
        return isinstance(value, dict) and matches(cond, value)
    return _op_match("$eq", cond, value)


def _combine(op: str, arg: Any, doc: Any) -> bool:
    if op == "$and":
        return all(_match_value(s, doc) for s in arg)
    if op == "$or":
        return any(_match_value(s, doc) for s in arg)
    if op == "$nor":
        return not any(_match_value(s, doc) for s in arg)
    return not _match_value(arg, doc)


def matches(selector: Mapping[str, Any], doc: Any) -> bool:
    """Whether ``doc`` satisfies ``selector`` (an empty selector matches everything)."""
    for key, cond in selector.items():
        if key in _COMBINATORS:
            if not _combine(key, cond, doc):
                return False
            continue
        if not _match_value(cond, _get_field(doc, split_field(key))):
            return False
    return True


_ARRAY_OPS = frozenset({"$and", "$or", "$nor", "$in", "$nin", "$all"})
_KNOWN_OPS = _ARRAY_OPS | {
    "$not",
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$exists",
    "$type",
    "$size",
    "$mod",
    "$regex",
    "$elemMatch",
    "$allMatch",
    "$keyMapMatch",
    "$beginsWith",
}


def validate_selector(selector: Any) -> Mapping[str, Any]:
    """Check a selector's shape; raise CouchDB-style 400s for what ``matches`` cannot run."""
    if not isinstance(selector, dict):
        raise BadRequest("Selector must be a JSON object", error="invalid_selector")
    _validate(selector)
    return selector


def _validate(node: Any) -> None:
    if not isinstance(node, dict):
        return
    for key, arg in node.items():
        if not key.startswith("$"):
            _validate(arg)
            continue
        if key not in _KNOWN_OPS:
            raise BadRequest(f"Invalid operator: {key}", error="invalid_operator")
        if key in _ARRAY_OPS and not isinstance(arg, list):
            raise BadRequest(f"{key} requires an array argument", error="invalid_operator")
        if key in ("$and", "$or", "$nor"):
            for sub in arg:
                _validate(sub)
        elif key == "$type" and arg not in _JSON_TYPES:
            raise BadRequest("$type requires a JSON type name", error="invalid_operator")
        elif key == "$mod" and not (
            isinstance(arg, list)
            and len(arg) == 2
            and all(isinstance(x, int) for x in arg)
            and arg[0] != 0
        ):
            raise BadRequest("$mod requires [divisor, remainder]", error="invalid_operator")
        elif key == "$size" and not isinstance(arg, int):
            raise BadRequest("$size requires an integer", error="invalid_operator")
        elif key == "$regex":
            _check_regex(arg)
        else:
            _validate(arg)


def _check_regex(arg: Any) -> None:
    if not isinstance(arg, str):
        raise BadRequest("$regex requires a string", error="invalid_operator")
    try:
        re.compile(arg)
    except re.error as exc:
        raise BadRequest(f"Invalid regex: {exc}", error="invalid_operator") from exc
