"""Mango selector normalization: ``mango_selector:normalize``, step by step.

CouchDB matches, plans and explains the *normalized* selector, and normalizing changes meaning
at the edges, so it is replicated exactly:

1. ``norm_ops``: validate operators and arguments (CouchDB's 400s), make ``$eq`` explicit and
   turn every object with several members into ``$and``;
2. ``norm_fields``: push field paths down to the terminal operators (``{"a": {"b": 1}}`` is
   ``{"a.b": {"$eq": 1}}``); ``$elemMatch``/``$allMatch``/``$keyMapMatch`` arguments are
   normalized on their own, with the empty field name standing for the element itself;
3. ``norm_negations``: push ``$not`` inward and rewrite ``$nor``, so ``{"$not": {"x": {"$gt":
   1}}}`` becomes ``{"x": {"$lte": 1}}`` (which no longer matches a document without ``x``).

A normalized selector is ``{}``, or one member: ``$and``/``$or`` with a list, ``$not`` with a
selector, or a field with exactly one operator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest

Selector = dict[str, Any]
_COMPARISONS = ("$eq", "$ne", "$lt", "$lte", "$gt", "$gte")
# mango_selector's negate/1: the operators $not turns into their complement.
_NEGATED = {
    "$lt": "$gte",
    "$lte": "$gt",
    "$eq": "$ne",
    "$ne": "$eq",
    "$gte": "$lt",
    "$gt": "$lte",
    "$in": "$nin",
    "$nin": "$in",
}
SUB_SELECTORS = ("$elemMatch", "$allMatch", "$keyMapMatch")


def _bad_arg(op: str, arg: Any) -> BadRequest:
    return BadRequest(f"Bad argument for operator {op}: {_show(arg)}", error="bad_arg")


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _norm_ops(sel: Any) -> Any:
    if not _is_object(sel):
        raise BadRequest(
            f"Selector must be a JSON object, not: {_show(sel)}", error="invalid_selector_json"
        )
    if not sel:
        return {}
    if len(sel) > 1:
        return {"$and": [_norm_ops({k: v}) for k, v in sel.items()]}
    ((key, arg),) = sel.items()
    if key.startswith("$"):
        return {key: _norm_op_arg(key, arg)}
    if _is_object(arg) and arg:
        return {key: _norm_ops(arg)}
    return {key: {"$eq": arg}}


def _norm_op_arg(op: str, arg: Any) -> Any:
    if op in ("$and", "$or", "$nor"):
        if not isinstance(arg, list):
            raise _bad_arg(op, arg)
        return [_norm_ops(a) for a in arg]
    if op == "$not":
        if not _is_object(arg):
            raise _bad_arg(op, arg)
        return _norm_ops(arg)
    if op in ("$in", "$nin", "$all"):
        if not isinstance(arg, list):
            raise _bad_arg(op, arg)
        return arg
    if op in SUB_SELECTORS:
        if not _is_object(arg):
            raise _bad_arg(op, arg)
        return _norm_ops(arg)
    if op == "$size":
        if not is_int(arg) or arg < 0:
            raise _bad_arg(op, arg)
        return arg
    if op in ("$regex", "$beginsWith") and not isinstance(arg, str):
        # norm_ops has clauses for these with a string only: anything else falls through to
        # the unknown-operator clause.
        raise BadRequest(f"Invalid operator: {op}", error="invalid_operator")
    if op == "$regex":
        if compile_regex(arg) is None:
            raise _bad_arg(op, arg)
        return arg
    if op == "$beginsWith":
        return arg
    if op == "$mod":
        if not (isinstance(arg, list) and len(arg) == 2 and all(map(is_int, arg))):
            raise _bad_arg(op, arg)
        if arg[0] == 0:
            # CouchDB fails with a 500 (badarith) on every document; refuse up front instead.
            raise _bad_arg(op, arg)
        return arg
    if op == "$exists":
        if not isinstance(arg, bool):
            raise _bad_arg(op, arg)
        return arg
    if op == "$type":
        # Any string: an unknown type name matches nothing (CouchDB does not refuse it).
        if not isinstance(arg, str):
            raise _bad_arg(op, arg)
        return arg
    if op in _COMPARISONS:
        return arg
    raise BadRequest(f"Invalid operator: {op}", error="invalid_operator")


def _join(path: str, field: str) -> str:
    return field if not path else f"{path}.{field}"


def _norm_fields(sel: Any, path: str = "") -> Any:
    if not sel:
        return {path: {}} if path else {}
    ((key, arg),) = sel.items()
    if key in ("$and", "$or", "$nor"):
        return {key: [_norm_fields(a, path) for a in arg]}
    if key == "$not":
        if not arg and not path:
            # {"$not": {}} negates a condition on no field at all.
            raise BadRequest(
                "One or more conditions is missing a field name.", error="invalid_selector"
            )
        return {"$not": _norm_fields(arg, path)}
    if key in SUB_SELECTORS:
        return {path: {key: _norm_fields(arg)}}
    if key.startswith("$"):
        return {path: {key: arg}}
    return _norm_fields(arg, _join(path, key))


def _norm_negations(sel: Any) -> Any:
    if not _is_object(sel) or not sel:
        return sel
    ((key, arg),) = sel.items()
    if key in ("$and", "$or"):
        return {key: [_norm_negations(a) for a in arg]}
    if key == "$nor":
        return {"$and": [_negate(a) for a in arg]}
    if key == "$not":
        return _negate(arg)
    if key in SUB_SELECTORS:
        return {key: _norm_negations(arg)}
    if key.startswith("$"):
        return sel
    return {key: _norm_negations(arg)}


def _negate(sel: Any) -> Any:
    if not sel:
        # {"x": {"$not": {}}} is {"x": {"$ne": {}}} (CouchDB 3.5, observed).
        return {"$ne": {}}
    ((key, arg),) = sel.items()
    if key == "$not":
        return _norm_negations(arg)
    if key == "$and":
        return {"$or": [_negate(a) for a in arg]}
    if key == "$or":
        return {"$and": [_negate(a) for a in arg]}
    if key == "$nor":
        return {"$or": [_norm_negations(a) for a in arg]}
    if key in _NEGATED:
        return {_NEGATED[key]: arg}
    if key == "$exists":
        return {"$exists": not arg}
    if key.startswith("$"):
        return {"$not": _norm_negations(sel)}
    return {key: _negate(arg)}


def normalize(selector: Any) -> Selector:
    """``mango_selector:normalize``: validated, fields pushed down, negations pushed in."""
    sel = _norm_negations(_norm_fields(_norm_ops(selector)))
    if "" in sel:
        raise BadRequest(
            "One or more conditions is missing a field name.", error="invalid_selector"
        )
    return sel  # type: ignore[no-any-return]


def validate_selector(selector: Any) -> Mapping[str, Any]:
    """Check a selector's shape; raise CouchDB's 400s for one it cannot run."""
    normalize(selector)
    return selector  # type: ignore[no-any-return]


@lru_cache(maxsize=256)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None
