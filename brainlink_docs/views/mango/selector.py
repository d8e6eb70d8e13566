"""Mango selectors: CouchDB's ``_find`` language, normalized and matched in pure Python.

A selector is a JSON object: field paths (dotted, ``\\.`` escapes a dot) map to a value (implicit
``$eq``) or to operator objects; ``$and``/``$or``/``$nor``/``$not`` combine selectors.

``normalize`` is ``mango_selector:normalize`` step by step, because CouchDB matches, plans and
explains the *normalized* selector and normalizing changes meaning at the edges:

1. ``norm_ops``: validate operators and arguments (CouchDB's 400s), make ``$eq`` explicit and
   turn every object with several members into ``$and``;
2. ``norm_fields``: push field paths down to the terminal operators (``{"a": {"b": 1}}`` is
   ``{"a.b": {"$eq": 1}}``); ``$elemMatch``/``$allMatch``/``$keyMapMatch`` arguments are
   normalized on their own, with the empty field name standing for the element itself;
3. ``norm_negations``: push ``$not`` inward and rewrite ``$nor``, so ``{"$not": {"x": {"$gt":
   1}}}`` becomes ``{"x": {"$lte": 1}}`` (which no longer matches a document without ``x``).

A normalized selector is ``{}``, or one member: ``$and``/``$or`` with a list, ``$not`` with a
selector, or a field with exactly one operator. ``match`` follows ``mango_selector:match`` on
that shape: a missing field matches nothing but ``$exists: false``; comparisons use CouchDB's
collation except on ``_id``, which compares raw (strings byte by byte).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from brainlink_docs.errors import BadRequest
from brainlink_docs.views.collation import collate

Selector = dict[str, Any]
MISSING: Any = object()
# mango_doc:get_field's answer for a path that runs into a scalar or an out-of-range index.
BAD_PATH: Any = object()

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
_SUB_SELECTORS = ("$elemMatch", "$allMatch", "$keyMapMatch")
JSON_TYPES = ("null", "boolean", "number", "string", "array", "object")


def split_field(path: str) -> list[str]:
    """``a.b\\.c`` -> ``["a", "b.c"]`` (mango_util:parse_field)."""
    parts = re.split(r"(?<!\\)\.", path)
    return [p.replace("\\.", ".") for p in parts]


@lru_cache(maxsize=4096)
def _parts(path: str) -> tuple[str, ...]:
    return tuple(split_field(path))


def get_field(doc: Any, path: str) -> Any:
    """``mango_doc:get_field``: the value at ``path``, ``MISSING`` or ``BAD_PATH``.

    A path segment that is a non-negative integer indexes into an array (``tags.0``)."""
    value = doc
    for part in _parts(path):
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list):
            if not part.isdigit() or int(part) >= len(value):
                return BAD_PATH
            value = value[int(part)]
        else:
            return BAD_PATH
    return value


# -- validation and normalization --------------------------------------------------------------


def _bad_arg(op: str, arg: Any) -> BadRequest:
    return BadRequest(f"Bad argument for operator {op}: {_show(arg)}", error="bad_arg")


def _show(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


def _is_object(value: Any) -> bool:
    return isinstance(value, dict)


def _is_int(value: Any) -> bool:
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
    if op in _SUB_SELECTORS:
        if not _is_object(arg):
            raise _bad_arg(op, arg)
        return _norm_ops(arg)
    if op == "$size":
        if not _is_int(arg) or arg < 0:
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
        if not (isinstance(arg, list) and len(arg) == 2 and all(map(_is_int, arg))):
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
    if key in _SUB_SELECTORS:
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
    if key in _SUB_SELECTORS:
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


# -- matching ----------------------------------------------------------------------------------

Cmp = Callable[[Any, Any], int]


def _erlang_rank(value: Any) -> int:
    # Erlang term order of decoded JSON: number < atom (false, null, true) < tuple (object)
    # < list (array) < binary (string).
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float):
        return 0
    if isinstance(value, dict):
        return 2
    if isinstance(value, list):
        return 3
    return 4


_ATOMS = {False: 0, None: 1, True: 2}


def cmp_raw(a: Any, b: Any) -> int:
    """``mango_json:cmp_raw``: Erlang term order, which is what ``_id`` compares by."""
    ra, rb = _erlang_rank(a), _erlang_rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 1:
        x, y = _ATOMS[a], _ATOMS[b]
    elif ra == 4:
        x, y = a.encode(), b.encode()
    elif ra == 0:
        x, y = a, b
    else:
        return collate(a, b)  # objects and arrays as ids are an edge nobody queries by
    return (x > y) - (x < y)


def match(sel: Selector, value: Any, cmp: Cmp = collate) -> bool:
    """``mango_selector:match`` of a *normalized* selector against ``value``."""
    if not sel:
        return True
    ((key, arg),) = sel.items()
    if key == "$and":
        return all(match(s, value, cmp) for s in arg)
    if key == "$or":
        # An empty $or is true here; only a whole selector {"$or": []} answers nothing
        # (mango_cursor:maybe_noop_range), so {"age": 22, "$or": []} is {"age": 22}.
        return not arg or any(match(s, value, cmp) for s in arg)
    if key == "$not":
        return not match(arg, value, cmp)
    if key == "":
        return match(arg, value, cmp)
    if not key.startswith("$"):
        sub = get_field(value, key)
        if sub is MISSING:
            return arg == {"$exists": False}
        if sub is BAD_PATH:
            return False
        return match(arg, sub, cmp_raw if key == "_id" else cmp)
    return _operator(key, arg, value, cmp)


def _operator(op: str, arg: Any, value: Any, cmp: Cmp) -> bool:
    if op == "$eq":
        return cmp(value, arg) == 0
    if op == "$ne":
        return cmp(value, arg) != 0
    if op == "$lt":
        return cmp(value, arg) < 0
    if op == "$lte":
        return cmp(value, arg) <= 0
    if op == "$gt":
        return cmp(value, arg) > 0
    if op == "$gte":
        return cmp(value, arg) >= 0
    if op == "$in":
        if isinstance(value, list):
            return any(cmp(v, a) == 0 for a in arg for v in value)
        return any(cmp(value, a) == 0 for a in arg)
    if op == "$nin":
        if isinstance(value, list):
            return not any(cmp(v, a) == 0 for a in arg for v in value)
        return all(cmp(value, a) != 0 for a in arg)
    if op == "$exists":
        return bool(arg)  # the value is there; a missing field never gets here
    if op == "$type":
        return arg == json_type(value)
    if op == "$mod":
        return _is_int(value) and _erlang_rem(value, arg[0]) == arg[1]
    if op == "$beginsWith":
        return isinstance(value, str) and value.startswith(arg)
    if op == "$regex":
        pattern = compile_regex(arg)
        return isinstance(value, str) and pattern is not None and pattern.search(value) is not None
    if op == "$size":
        return isinstance(value, list) and len(value) == arg
    if op == "$all":
        return _all(arg, value)
    if op == "$elemMatch":
        return isinstance(value, list) and any(match(arg, v, cmp) for v in value)
    if op == "$allMatch":
        return isinstance(value, list) and bool(value) and all(match(arg, v, cmp) for v in value)
    if op == "$keyMapMatch":
        return isinstance(value, dict) and any(match(arg, k, cmp) for k in value)
    raise BadRequest(f"Invalid operator: {op}", error="invalid_operator")


def _erlang_rem(value: int, divisor: int) -> int:
    """Erlang's ``rem``: the remainder takes the dividend's sign (``-5 rem 3`` is ``-2``)."""
    rem = abs(value) % abs(divisor)
    return -rem if value < 0 else rem


def _same_term(a: Any, b: Any) -> bool:
    """Erlang ``==`` on decoded JSON: ``1 == 1.0``, objects compare member lists in order."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(map(_same_term, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return len(a) == len(b) and all(
            ka == kb and _same_term(va, vb)
            for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=True)
        )
    return type(a) is type(b) and a == b


def _all(args: list[Any], value: Any) -> bool:
    # mango_selector: every argument is a member of the array (Erlang term equality, not
    # collation), or the only argument is an array equal to the value; $all: [] matches nothing.
    if not isinstance(value, list) or not args:
        return False
    if all(any(_same_term(a, v) for v in value) for a in args):
        return True
    return len(args) == 1 and isinstance(args[0], list) and _same_term(args[0], value)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def matches(selector: Mapping[str, Any], doc: Any) -> bool:
    """Whether ``doc`` satisfies ``selector`` (normalized here; ``{}`` matches everything)."""
    return match(normalize(selector), doc)


def fields_of(sel: Selector) -> list[str]:
    """``mango_selector:fields``: every field path the selector names (for explain's hints)."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if not _is_object(node) or not node:
            return
        ((key, arg),) = node.items()
        if key in ("$and", "$or", "$nor"):
            for a in arg:
                walk(a)
        elif key == "$not":
            walk(arg)
        elif not key.startswith("$") and key != "":
            out.append(key)

    walk(sel)
    return out
