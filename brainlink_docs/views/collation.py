"""CouchDB's view collation, exactly: ``collate`` compares two keys, ``sort_key`` encodes one.

The order is ``couch_ejson_compare``'s (CouchDB 3.5):

- by type first: ``null < false < true < numbers < strings < arrays < objects``;
- numbers by exact value, integers and floats alike (Erlang's term order): ``1`` and ``1.0`` are
  equal, ``2**53 + 1`` is above ``2.0**53``; ``-0.0`` equals ``0``;
- strings by ICU's root collator with its default attributes (``ucol_open("")``: tertiary
  strength, no normalization mode), so ``"a" < "B" < "b"`` and ``"é"`` equals ``"e\\u0301"``;
  ICU calls some different strings equal (ignorable characters: ``"a\\u0000"`` equals ``"a"``);
- arrays element by element, then the shorter first;
- objects member by member *in their written order* (key by ICU, then value), then the one with
  fewer members first: ``{"b": 1, "a": 2}`` is above ``{"a": 2, "c": 0}``.

Keys that collate equal are a tie: CouchDB then orders view rows by document id, byte by byte
(Erlang binary order, which is UTF-8 bytes = code points). ``sort_key`` keeps ties as ties (equal
bytes), so ``row_sort_key`` = ``sort_key(key) + id bytes`` orders rows exactly as a view does.

``sort_key`` is a byte string whose plain ``memcmp`` order (SQLite's BLOB order) is ``collate``'s
order, so an index can answer ``startkey``/``endkey`` with B-tree range scans. Every encoding is
prefix-free (no encoding is a proper prefix of another), which is what lets arrays concatenate
their elements' encodings and rows append their document id. Layout: one type byte, then

- numbers: the 8 bytes of the IEEE double at or below the value, bit-flipped into unsigned order;
  when that double is at least 2**53 in magnitude (where integers and doubles part), one byte
  ``0x00`` if the value is that double, else ``0x01`` and the integer remainder above it in a
  width fixed by the double's ulp; integers beyond the double range follow the encoding of an
  infinity with their length and magnitude (CouchDB 3.5 refuses such documents with a 500, but
  they can still arrive as query keys);
- strings: ICU's sort key, which ends in the only ``0x00`` byte it holds;
- arrays: the elements' encodings, then ``0x00``; objects: key and value encodings, then ``0x00``.

ICU sort keys belong to one ICU version: an index that stores them must be rebuilt when
``COLLATION_VERSION`` changes (CouchDB records its collator version in each view for the same
reason). Exactness is against the ICU CouchDB links (72.1 in ``shared/couchdb``); see
``design_docs/collation.md``.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable
from typing import Any

import icu

__all__ = ["COLLATION_VERSION", "collate", "row_sort_key", "sort_key", "sort_keys"]

# ICU's root locale with default attributes is what couch_ejson_compare opens (ucol_open("")).
# PyICU holds the GIL through compare and getSortKey, so one collator serves every thread.
_COLLATOR = icu.Collator.createInstance(icu.Locale.getRoot())
_compare_strings: Callable[[str, str], int] = _COLLATOR.compare
_string_sort_key: Callable[[str], bytes] = _COLLATOR.getSortKey

# Stored sort keys are valid only under the ICU (and so Unicode) version that made them.
COLLATION_VERSION = f"icu-{icu.ICU_VERSION}/unicode-{icu.UNICODE_VERSION}"

# Type bytes, in CouchDB's type order. 0x00 ends an array or object, so it sorts below any
# element: a shorter array (or an object with fewer members) comes first.
_END = b"\x00"
_NULL = b"\x01"
_FALSE = b"\x02"
_TRUE = b"\x03"
_NUMBER = b"\x04"
_STRING = b"\x05"
_ARRAY = b"\x06"
_OBJECT = b"\x07"

# Above 2**53 not every integer is a double, so encodings of doubles that large carry a remainder.
_EXACT_LIMIT = 2.0**53
_EXACT_INT_LIMIT = 2**53
_SIGN_BIT = 1 << 63
_ALL_BITS = (1 << 64) - 1
# A huge integer's magnitude length in bytes, big-endian: 4 bytes cover any integer Python parses.
_LENGTH_BYTES = 4
_DOUBLE = struct.Struct(">d")
_WORD = struct.Struct(">Q")

# collate's type ranks, for values whose exact type is a JSON type (subclasses take the slow path).
_NULL_RANK, _FALSE_RANK, _TRUE_RANK, _NUMBER_RANK = 0, 1, 2, 3
_STRING_RANK, _ARRAY_RANK, _OBJECT_RANK = 4, 5, 6


def _type_rank(value: Any) -> int:
    """CouchDB's type order; raises TypeError for what JSON cannot hold."""
    if value is None:
        return _NULL_RANK
    if value is False:
        return _FALSE_RANK
    if value is True:
        return _TRUE_RANK
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a JSON number: {value!r}")
        return _NUMBER_RANK
    if isinstance(value, str):
        return _STRING_RANK
    if isinstance(value, list):
        return _ARRAY_RANK
    if isinstance(value, dict):
        return _OBJECT_RANK
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def _sign(difference: int) -> int:
    return (difference > 0) - (difference < 0)


def collate(a: Any, b: Any) -> int:
    """-1, 0 or 1 as CouchDB orders view keys (``couch_ejson_compare:less``); 0 is a tie."""
    rank_a, rank_b = _type_rank(a), _type_rank(b)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    if rank_a == _NUMBER_RANK:
        # Python compares int with float exactly, as Erlang's term order does.
        return (a > b) - (a < b)
    if rank_a == _STRING_RANK:
        return _sign(_compare_strings(a, b))
    if rank_a == _ARRAY_RANK:
        return _collate_arrays(a, b)
    if rank_a == _OBJECT_RANK:
        return _collate_objects(a, b)
    return 0


def _collate_arrays(a: list[Any], b: list[Any]) -> int:
    for x, y in zip(a, b, strict=False):
        order = collate(x, y)
        if order:
            return order
    return _sign(len(a) - len(b))


def _collate_objects(a: dict[str, Any], b: dict[str, Any]) -> int:
    """Members pairwise in written order (not sorted by key), as ``less_props`` walks them."""
    for (key_a, value_a), (key_b, value_b) in zip(a.items(), b.items(), strict=False):
        order = _sign(_compare_strings(key_a, key_b)) or collate(value_a, value_b)
        if order:
            return order
    return _sign(len(a) - len(b))


def sort_key(value: Any) -> bytes:
    """Bytes whose ``memcmp`` order is ``collate``'s order; equal exactly when ``collate`` ties."""
    out = bytearray()
    _encode(value, out)
    return bytes(out)


def sort_keys(values: Iterable[Any]) -> list[bytes]:
    """``sort_key`` of each value, for indexing a batch of emitted rows."""
    return [sort_key(value) for value in values]


def row_sort_key(key: Any, doc_id: str) -> bytes:
    """A view row's position: its key, then (for tied keys) its document id's UTF-8 bytes.

    ``sort_key`` is prefix-free, so the id bytes only ever decide between tied keys, and
    Erlang compares ids as bytes: this is the order of CouchDB's view B-tree.
    """
    return sort_key(key) + doc_id.encode()


def _encode(value: Any, out: bytearray) -> None:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        encoder = _ENCODERS_BY_RANK[_type_rank(value)]
    encoder(value, out)


def _encode_null(_value: None, out: bytearray) -> None:
    out += _NULL


def _encode_bool(value: bool, out: bytearray) -> None:
    out += _TRUE if value else _FALSE


def _encode_string(value: str, out: bytearray) -> None:
    out += _STRING
    out += _string_sort_key(value)


def _encode_array(value: list[Any], out: bytearray) -> None:
    out += _ARRAY
    for item in value:
        _encode(item, out)
    out += _END


def _encode_object(value: dict[str, Any], out: bytearray) -> None:
    out += _OBJECT
    for key, item in value.items():
        _encode_string(key, out)
        _encode(item, out)
    out += _END


def _encode_number(value: int | float, out: bytearray) -> None:
    out += _NUMBER
    if type(value) is float or -_EXACT_INT_LIMIT <= value <= _EXACT_INT_LIMIT:
        _encode_double(float(value), out)
        return
    _encode_big_int(int(value), out)


def _encode_double(value: float, out: bytearray) -> None:
    """A double is its own floor: no remainder, so the suffix (if any) says 'exact'."""
    if not math.isfinite(value):
        raise ValueError(f"not a JSON number: {value!r}")
    out += _double_bytes(value)
    if abs(value) >= _EXACT_LIMIT:
        out += b"\x00"


def _double_bytes(value: float) -> bytes:
    """IEEE bits made unsigned-ordered: positives get the sign bit set, negatives are inverted."""
    (bits,) = _WORD.unpack(_DOUBLE.pack(value + 0.0))  # + 0.0 turns -0.0 into 0.0
    bits = bits ^ _ALL_BITS if bits & _SIGN_BIT else bits | _SIGN_BIT
    return _WORD.pack(bits)


def _encode_big_int(value: int, out: bytearray) -> None:
    """An integer past 2**53: the double at or below it, then the exact remainder above that."""
    try:
        floor = float(value)
    except OverflowError:
        _encode_huge_int(value, out)
        return
    if floor > value:
        floor = math.nextafter(floor, -math.inf)
    remainder = value - int(floor)
    out += _double_bytes(floor)
    if remainder == 0:
        out += b"\x00"
        return
    # remainder < ulp(floor), a power of two: the same width for every value on this double.
    width = (int(math.ulp(floor)).bit_length() + 6) // 8
    out += b"\x01"
    out += remainder.to_bytes(width, "big")


def _encode_huge_int(value: int, out: bytearray) -> None:
    """Beyond every double: after +inf by length then magnitude, or before -inf mirrored."""
    magnitude = abs(value).to_bytes((abs(value).bit_length() + 7) // 8, "big")
    tail = len(magnitude).to_bytes(_LENGTH_BYTES, "big") + magnitude
    if value > 0:
        out += _double_bytes(math.inf)
        out += tail
        return
    out += _double_bytes(-math.inf)
    out += bytes(byte ^ 0xFF for byte in tail)


_ENCODERS: dict[type, Callable[[Any, bytearray], None]] = {
    type(None): _encode_null,
    bool: _encode_bool,
    int: _encode_number,
    float: _encode_number,
    str: _encode_string,
    list: _encode_array,
    dict: _encode_object,
}
_ENCODERS_BY_RANK: tuple[Callable[[Any, bytearray], None], ...] = (
    _encode_null,
    _encode_bool,
    _encode_bool,
    _encode_number,
    _encode_string,
    _encode_array,
    _encode_object,
)
