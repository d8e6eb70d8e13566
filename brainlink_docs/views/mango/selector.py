"""Mango selectors matched against documents in pure Python (``mango_selector:match``).

A selector is a JSON object: field paths (dotted, ``\\.`` escapes a dot) map to a value (implicit
``$eq``) or to operator objects; ``$and``/``$or``/``$nor``/``$not`` combine selectors. Matching
runs on the *normalized* selector (``normalize``): a missing field matches nothing but
``$exists: false``; comparisons use CouchDB's collation except on ``_id``, which compares raw
(strings byte by byte); an empty ``$or`` inside a selector is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from brainlink_docs.errors import BadRequest
from brainlink_docs.views.collation import collate
from brainlink_docs.views.mango.normalize import (
    Selector,
    compile_regex,
    is_int,
    normalize,
)

MISSING: Any = object()
# mango_doc:get_field's answer for a path that runs into a scalar or an out-of-range index.
BAD_PATH: Any = object()

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
        return is_int(value) and _erlang_rem(value, arg[0]) == arg[1]
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
        if not isinstance(node, dict) or not node:
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
