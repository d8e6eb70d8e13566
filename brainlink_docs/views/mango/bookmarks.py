"""Mango bookmarks, byte for byte as CouchDB 3.5 makes them (``mango_json_bookmark``).

A bookmark is base64url (unpadded) of ``term_to_binary([{startkey_docid, Id}, {startkey, Key}],
[compressed, {minor_version, 1}])``: the last returned row's document id and index key in
Erlang's external term format, zlib-compressed unless that is longer. The key is the JSON value
as jiffy decodes it: strings are binaries, arrays lists (a list of small integers is written as
a "string"), objects ``{[{K, V}...]}``, ``true``/``false``/``null`` atoms. Making the same bytes
means a client can hand a bookmark from CouchDB to us and back (same documents, same index).

Only this subset of the format is read back; anything else is CouchDB's 400
``invalid_bookmark``.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest

_VERSION = 131
_COMPRESSED = 80
_SMALL_INTEGER = 97
_INTEGER = 98
_FLOAT = 70
_ATOM = 100
_SMALL_ATOM_UTF8 = 119
_ATOM_UTF8 = 118
_SMALL_TUPLE = 104
_NIL = 106
_STRING = 107
_LIST = 108
_BINARY = 109
_SMALL_BIG = 110
_LARGE_BIG = 111
# term_to_binary's `compressed` is zlib level 6.
_ZLIB_LEVEL = 6
_ATOMS = {None: "null", True: "true", False: "false"}
_VALUES = {"null": None, "true": True, "false": False}


def _atom(name: str) -> bytes:
    data = name.encode()
    return struct.pack(">BH", _ATOM, len(data)) + data


def _int(value: int) -> bytes:
    if 0 <= value <= 255:
        return bytes((_SMALL_INTEGER, value))
    if -(2**31) <= value < 2**31:
        return struct.pack(">Bi", _INTEGER, value)
    magnitude = abs(value)
    digits = magnitude.to_bytes((magnitude.bit_length() + 7) // 8, "little")
    if len(digits) < 256:
        return bytes((_SMALL_BIG, len(digits), value < 0)) + digits
    return struct.pack(">BIB", _LARGE_BIG, len(digits), value < 0) + digits


def _is_byte(value: Any) -> bool:
    return type(value) is int and 0 <= value <= 255


def encode_term(value: Any) -> bytes:
    """A decoded JSON value as jiffy's Erlang term, in the external format (no version byte)."""
    if value is None or isinstance(value, bool):
        return _atom(_ATOMS[value])
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, float):
        return struct.pack(">Bd", _FLOAT, value)
    if isinstance(value, str):
        data = value.encode()
        return struct.pack(">BI", _BINARY, len(data)) + data
    if isinstance(value, list):
        if not value:
            return bytes((_NIL,))
        if len(value) < 65536 and all(map(_is_byte, value)):
            return struct.pack(">BH", _STRING, len(value)) + bytes(value)
        return _list([encode_term(v) for v in value])
    if isinstance(value, dict):
        pairs = [
            bytes((_SMALL_TUPLE, 2)) + encode_term(k) + encode_term(v) for k, v in value.items()
        ]
        return bytes((_SMALL_TUPLE, 1)) + (_list(pairs) if pairs else bytes((_NIL,)))
    raise TypeError(f"not a JSON value: {value!r}")


def _pair(first: bytes, second: bytes) -> bytes:
    return bytes((_SMALL_TUPLE, 2)) + first + second


def _list(items: list[bytes]) -> bytes:
    return struct.pack(">BI", _LIST, len(items)) + b"".join(items) + bytes((_NIL,))


def create(key: Any, doc_id: str) -> str:
    """The bookmark after the row ``(key, doc_id)``."""
    body = _list(
        [
            _pair(_atom("startkey_docid"), encode_term(doc_id)),
            _pair(_atom("startkey"), encode_term(key)),
        ]
    )
    compressed = struct.pack(">BBI", _VERSION, _COMPRESSED, len(body)) + zlib.compress(
        body, _ZLIB_LEVEL
    )
    plain = bytes((_VERSION,)) + body
    # erts keeps the compressed form unless it is longer (a tie compresses, as CouchDB shows).
    data = compressed if len(compressed) <= len(plain) else plain
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _invalid(bookmark: str) -> BadRequest:
    return BadRequest(
        f"Invalid bookmark value: {orjson.dumps(bookmark).decode()}", error="invalid_bookmark"
    )


def unpack(bookmark: str) -> tuple[Any, str]:
    """``(key, doc_id)`` of a bookmark; CouchDB's 400 ``invalid_bookmark`` otherwise."""
    try:
        data = base64.urlsafe_b64decode(bookmark + "=" * (-len(bookmark) % 4))
        if data[:2] == bytes((_VERSION, _COMPRESSED)):
            (size,) = struct.unpack(">I", data[2:6])
            data = bytes((_VERSION,)) + zlib.decompress(data[6:])
            if len(data) != size + 1:
                raise ValueError("size")
        if data[:1] != bytes((_VERSION,)):
            raise ValueError("version")
        term, end = _decode(data, 1)
        if end != len(data):
            raise ValueError("trailing bytes")
        fields = dict(term)
        doc_id, key = fields["startkey_docid"], fields["startkey"]
    except (
        binascii.Error,
        ValueError,
        zlib.error,
        struct.error,
        IndexError,
        KeyError,
        TypeError,
    ) as exc:
        raise _invalid(bookmark) from exc
    if not isinstance(doc_id, str):
        raise _invalid(bookmark)
    return key, doc_id


class _Atom(str):
    """An atom other than null/true/false (only the bookmark's field names)."""


def _decode(data: bytes, at: int) -> tuple[Any, int]:
    tag = data[at]
    at += 1
    if tag == _SMALL_INTEGER:
        return data[at], at + 1
    if tag == _INTEGER:
        return struct.unpack(">i", data[at : at + 4])[0], at + 4
    if tag == _FLOAT:
        return struct.unpack(">d", data[at : at + 8])[0], at + 8
    if tag in (_ATOM, _ATOM_UTF8, _SMALL_ATOM_UTF8):
        size_bytes = 1 if tag == _SMALL_ATOM_UTF8 else 2
        size = int.from_bytes(data[at : at + size_bytes], "big")
        at += size_bytes
        name = data[at : at + size].decode()
        return (_VALUES[name] if name in _VALUES else _Atom(name)), at + size
    if tag == _BINARY:
        (size,) = struct.unpack(">I", data[at : at + 4])
        return data[at + 4 : at + 4 + size].decode(), at + 4 + size
    if tag == _NIL:
        return [], at
    if tag == _STRING:
        (size,) = struct.unpack(">H", data[at : at + 2])
        return list(data[at + 2 : at + 2 + size]), at + 2 + size
    if tag == _LIST:
        (size,) = struct.unpack(">I", data[at : at + 4])
        at += 4
        items = []
        for _ in range(size):
            item, at = _decode(data, at)
            items.append(item)
        if data[at] != _NIL:
            raise ValueError("improper list")
        return items, at + 1
    if tag in (_SMALL_BIG, _LARGE_BIG):
        size_bytes = 1 if tag == _SMALL_BIG else 4
        size = int.from_bytes(data[at : at + size_bytes], "big")
        at += size_bytes
        negative = data[at]
        magnitude = int.from_bytes(data[at + 1 : at + 1 + size], "little")
        return (-magnitude if negative else magnitude), at + 1 + size
    if tag == _SMALL_TUPLE:
        return _decode_tuple(data, at)
    raise ValueError(f"term tag {tag}")


def _decode_tuple(data: bytes, at: int) -> tuple[Any, int]:
    arity = data[at]
    at += 1
    items = []
    for _ in range(arity):
        item, at = _decode(data, at)
        items.append(item)
    if arity == 1 and isinstance(items[0], list):
        # jiffy's object: {[{Key, Value}, ...]}
        members = items[0]
        if not all(isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) for m in members):
            raise ValueError("object members")
        return {k: v for k, v in members}, at
    if arity == 2:
        return (items[0], items[1]), at
    raise ValueError("tuple")
