"""View rows as an index stores them: sort key bytes, a duplicate rank, key and value JSON.

A row's place is ``row_sort_key(key, doc_id)`` (collation of the key, then the id's bytes), so
a B-tree over those bytes answers ``startkey``/``endkey`` with range scans in CouchDB's order.
A document may emit the same key more than once; CouchDB keeps every such row and orders them
by their values in *Erlang term order* (its updater sorts the emitted pairs with
``lists:sort`` before storing them as ``{dups, Values}``): numbers < ``false`` < ``null`` <
``true`` (atoms, alphabetical) < objects (tuples) < arrays (lists, ``[]`` first) < strings
(binaries, by bytes). ``dup`` is a row's rank among its document's rows of that key, so the
stored order is CouchDB's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import orjson

from brainlink_docs.views.collation import sort_key

# One stored row: (sort key bytes incl. document id, duplicate rank, key JSON, value JSON).
StoredRow = tuple[bytes, int, str, str]

_ATOMS = {False: "false", None: "null", True: "true"}


def to_json(value: Any) -> str:
    """JSON text of a value; lone surrogates and integers past 64 bits take the slow path."""
    try:
        return orjson.dumps(value).decode()
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def from_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # lone surrogates, integers past 64 bits
        return json.loads(text)


def term_order(value: Any) -> Any:
    """A Python sort key giving Erlang's term order of the value as CouchDB holds it (EJSON)."""
    if value is None or value is True or value is False:
        return (1, _ATOMS[value])
    if isinstance(value, int | float):
        return (0, value)
    if isinstance(value, dict):
        return (2, [(name.encode(), term_order(item)) for name, item in value.items()])
    if isinstance(value, list):
        return (3, [term_order(item) for item in value])
    return (4, str(value).encode("utf-8", "surrogatepass"))


def stored_rows(doc_id: str, rows: Sequence[Sequence[Any]]) -> list[StoredRow]:
    """One document's emitted ``[key, value]`` rows for one view, ready to store."""
    id_bytes = doc_id.encode("utf-8", "surrogatepass")
    if len(rows) == 1:
        key, value = rows[0]
        return [(sort_key(key) + id_bytes, 0, to_json(key), to_json(value))]
    by_place: dict[bytes, list[tuple[Any, str, str]]] = {}
    for key, value in rows:
        place = sort_key(key) + id_bytes
        by_place.setdefault(place, []).append((value, to_json(key), to_json(value)))
    out: list[StoredRow] = []
    for place, dups in by_place.items():
        if len(dups) > 1:
            dups.sort(key=lambda dup: term_order(dup[0]))
        out.extend((place, rank, key, value) for rank, (_v, key, value) in enumerate(dups))
    return out
