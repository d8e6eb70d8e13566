"""CouchDB's built-in reduces in Python: `_count`, `_sum`, `_stats`, `_approx_count_distinct`.

Pure functions, no engine. Each built-in has ``reduce(kvs)`` over map rows as CouchDB's query
protocol hands them over (``[[key, doc_id], value]``), ``rereduce(reductions)`` over earlier
results, and ``finalize(reduction)`` giving what a query answers. Every reduction is plain JSON,
so an index can store it; ``reduce(all) == rereduce(reduce(part) for part in any partition)``.

Semantics restate ``couch_query_servers`` (Erlang), checked against CouchDB 3.5:
- ``_sum`` adds numbers, arrays of numbers (element-wise; the shorter is padded) and objects of
  those (key-wise, nested); anything else makes the *value* an error object
  ``{"error": "builtin_reduce_error", "reason": …, "caused_by": <offending term>}`` (the query
  still answers 200), and an error object rereduced stays that error.
- ``_stats`` answers ``{sum, count, min, max, sumsqr}`` (a list of them for arrays) and accepts
  such objects as pre-reduced input; a non-numeric value fails the whole query (500
  ``invalid_value``, "non-numeric _stats input: <term>").
- ``_approx_count_distinct`` counts distinct keys. CouchDB estimates with HyperLogLog; here the
  count is exact (a sorted list of 64-bit key digests is the reduction), which is what
  CouchDB's estimator answers for the small sets checked in the differential tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from brainlink_docs.errors import QueryServerError

SUM_ERROR = (
    "The _sum function requires that map values be numbers, arrays of numbers, or objects. "
    "Objects cannot be mixed with other data structures. Objects can be arbitrarily nested, "
    "provided that the values for all fields are themselves numbers, arrays of numbers, or "
    "objects."
)
_STATS_FIELDS = ("sum", "count", "min", "max", "sumsqr")


@dataclass(frozen=True, slots=True)
class BuiltinReduce:
    """One built-in: its three steps (see the module docstring)."""

    name: str
    reduce: Callable[[Sequence[Any]], Any]
    rereduce: Callable[[Sequence[Any]], Any]
    finalize: Callable[[Any], Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _identity(value: Any) -> Any:
    return value


# ---- _count ----


def count_reduce(kvs: Sequence[Any]) -> int:
    return len(kvs)


def count_rereduce(counts: Sequence[Any]) -> Any:
    return sum(counts)


# ---- _sum ----


class _SumError(Exception):
    """A value _sum cannot add; ``cause`` is the term CouchDB reports as ``caused_by``."""

    def __init__(self, cause: Any) -> None:
        super().__init__("sum error")
        self.cause = cause


class _EarlierError(Exception):
    """A rereduced input that is already an error object: it becomes the result."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__("earlier error")
        self.error = error


def sum_values(values: Sequence[Any]) -> Any:
    """``builtin_sum_rows``: fold from 0 in the given order; the first failure is the result."""
    acc: Any = 0
    for value in values:
        try:
            acc = _sum_value(value, acc)
        except _EarlierError as earlier:
            return earlier.error
        except _SumError as failure:
            return {
                "error": "builtin_reduce_error",
                "reason": SUM_ERROR,
                "caused_by": failure.cause,
            }
    return acc


def sum_reduce(kvs: Sequence[Any]) -> Any:
    return sum_values([kv[1] for kv in kvs])


def _sum_value(value: Any, acc: Any) -> Any:
    if _is_number(value) and _is_number(acc):
        return acc + value
    if isinstance(value, list) and isinstance(acc, list):
        return _sum_arrays(acc, value)
    if _is_number(value) and isinstance(acc, list):
        return _sum_arrays(acc, [value])
    if isinstance(value, list) and _is_number(acc):
        return _sum_arrays([acc], value)
    if isinstance(value, dict):
        return _sum_object(value, acc)
    raise _SumError(value)


def _sum_object(value: dict[str, Any], acc: Any) -> Any:
    if value.get("error") == "builtin_reduce_error":
        raise _EarlierError(value)
    # Erlang's `case Acc of 0 -> …`: only the integer 0 that starts the fold, not 0.0.
    if acc == 0 and type(acc) is int:
        return value
    if not isinstance(acc, dict):
        # CouchDB's sum_values has no clause for an object after a list or a non-zero number:
        # the reduce crashes and the query answers 500 with the unmatched accumulator.
        raise QueryServerError(crash_reason(acc), error="case_clause")
    merged = dict(acc)
    for key, item in value.items():
        merged[key] = _sum_value(item, merged[key]) if key in merged else item
    return dict(sorted(merged.items()))


def _sum_arrays(xs: list[Any], ys: list[Any]) -> list[Any]:
    """Element-wise; the longer list's tail is kept unchecked, as CouchDB's sum_arrays."""
    out: list[Any] = []
    for i in range(min(len(xs), len(ys))):
        x, y = xs[i], ys[i]
        if not (_is_number(x) and _is_number(y)):
            raise _SumError(xs[i:])
        out.append(x + y)
    longer = xs if len(xs) > len(ys) else ys
    return out + longer[len(out) :]


# ---- _stats ----

Stats = tuple[Any, Any, Any, Any, Any]


def stats_reduce(kvs: Sequence[Any]) -> Any:
    return stats_values([kv[1] for kv in kvs])


def stats_values(values: Sequence[Any]) -> Any:
    """``builtin_stats``: the first value seeds the accumulator, the rest fold into it."""
    if not values:
        return _stats_json((0, 0, 0, 0, 0))
    acc = _initial_stats(values[0])
    for value in values[1:]:
        acc = _stat_value(value, acc)
    return _stats_json(acc)


def _initial_stats(value: Any) -> Any:
    if isinstance(value, list):
        return [_initial_stats(item) for item in value]
    if _is_number(value):
        return (value, 1, value, value, value * value)
    if isinstance(value, dict):
        return _unpack_stats(value)
    raise _stats_error(value)


def _stat_value(value: Any, acc: Any) -> Any:
    if isinstance(value, list) and isinstance(acc, list):
        if len(value) != len(acc):
            raise _stats_error(value)
        return [_stat_value(v, a) for v, a in zip(value, acc, strict=True)]
    if isinstance(value, dict):
        return _stat_value(_unpack_stats(value), acc)
    if _is_number(value):
        return _stat_value((value, 1, value, value, value * value), acc)
    if _is_number(acc):
        return _stat_value(value, (acc, 1, acc, acc, acc * acc))
    if isinstance(value, tuple) and isinstance(acc, tuple):
        return (
            value[0] + acc[0],
            value[1] + acc[1],
            min(value[2], acc[2]),
            max(value[3], acc[3]),
            value[4] + acc[4],
        )
    raise QueryServerError(
        "The _stats function requires that map values be numbers or arrays of numbers, "
        f"not '{erlang_p(value)}'",
        error="invalid_value",
    )


def _unpack_stats(props: dict[str, Any]) -> Stats:
    fields = []
    for name in _STATS_FIELDS:
        if name not in props:
            raise QueryServerError(
                f"user _stats input missing required field {name} ({erlang_p(props)[1:-1]})",
                error="invalid_value",
            )
        number = props[name]
        if not _is_number(number):
            raise QueryServerError(
                f"non-numeric _stats input received for {name}: {erlang_w(number)}",
                error="invalid_value",
            )
        fields.append(number)
    return (fields[0], fields[1], fields[2], fields[3], fields[4])


def _stats_json(acc: Any) -> Any:
    if isinstance(acc, list):
        return [_stats_json(item) for item in acc]
    return dict(zip(_STATS_FIELDS, acc, strict=True))


def _stats_error(value: Any) -> QueryServerError:
    return QueryServerError(f"non-numeric _stats input: {erlang_w(value)}", error="invalid_value")


# ---- _approx_count_distinct ----


def _key_digest(key: Any) -> int:
    # Distinct as CouchDB's term_to_binary(Key): the JSON text as emitted, object key order kept.
    return int.from_bytes(hashlib.blake2b(orjson.dumps(key), digest_size=8).digest(), "big")


def distinct_reduce(kvs: Sequence[Any]) -> list[int]:
    return sorted({_key_digest(kv[0][0]) for kv in kvs})


def distinct_rereduce(reductions: Sequence[Any]) -> list[int]:
    return sorted({digest for reduction in reductions for digest in reduction})


def distinct_finalize(reduction: Any) -> int:
    return len(reduction)


BUILTINS: dict[str, BuiltinReduce] = {
    "_count": BuiltinReduce("_count", count_reduce, count_rereduce, _identity),
    "_sum": BuiltinReduce("_sum", sum_reduce, sum_values, _identity),
    "_stats": BuiltinReduce("_stats", stats_reduce, stats_values, _identity),
    "_approx_count_distinct": BuiltinReduce(
        "_approx_count_distinct", distinct_reduce, distinct_rereduce, distinct_finalize
    ),
}


# ---- Erlang's ~w and ~p, for the error reasons CouchDB formats with them ----


def erlang_w(value: Any) -> str:
    """``io_lib:format("~w", [Term])`` of a JSON value in CouchDB's EJSON form: strings are
    binaries written as bytes (``"x"`` is ``<<120>>``)."""
    return _erlang(value, _binary_bytes)


def erlang_p(value: Any) -> str:
    """``~p`` of the same, but for its line breaks: printable ASCII strings as ``<<"x">>``."""
    return _erlang(value, _binary_text)


def _erlang(value: Any, binary: Callable[[str], str]) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _erlang_float(value)
    if isinstance(value, str):
        return binary(value)
    if isinstance(value, list | tuple):
        inner = ",".join(_erlang(item, binary) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"{{{inner}}}"
    if isinstance(value, dict):
        props = ",".join(f"{{{binary(k)},{_erlang(v, binary)}}}" for k, v in value.items())
        return "{[" + props + "]}"
    return repr(value)


def _erlang_float(value: float) -> str:
    text = repr(value)
    mantissa, _, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return f"{mantissa}e{int(exponent)}" if exponent else mantissa


def _binary_bytes(text: str) -> str:
    return "<<" + ",".join(str(byte) for byte in text.encode("utf-8", "surrogatepass")) + ">>"


def _binary_text(text: str) -> str:
    if not all(32 <= ord(char) < 127 for char in text):
        return _binary_bytes(text)
    return '<<"' + text.replace("\\", "\\\\").replace('"', '\\"') + '">>'


def crash_reason(term: Any) -> str:
    """How chttpd renders the term of an Erlang crash as a reason (a list of small integers
    is a string: CouchDB answers the accumulator ``[1, 2]`` as "\\x01\\x02")."""
    if isinstance(term, list) and all(isinstance(i, int) and 0 <= i < 256 for i in term):
        return "".join(chr(i) for i in term)
    return erlang_w(term)
