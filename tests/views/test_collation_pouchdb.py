"""Differential: our ``collate`` against npm ``pouchdb-collate`` (PouchDB's view collation).

PouchDB follows CouchDB's rules for types, numbers, arrays and objects, so on keys whose strings
order the same under ICU and under UTF-16 code units (lowercase ASCII letters) both must sort a
list identically: through ``collate`` and through ``toIndexableString``, the string form its
map/reduce index stores. Strings are where they part: PouchDB compares code units, CouchDB (and
we) use ICU. The table below pins that difference on both sides instead of hiding it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import node_available
from hypothesis import given
from hypothesis import strategies as st
from node_oracle import NodeOracle, node_oracle

from brainlink_docs.views.collation import collate, sort_key

from .strategies import pouch_safe_keys

ORACLE = Path(__file__).with_name("collate_oracle.js")

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(
        not node_available("pouchdb-collate"), reason="needs node and node_modules/pouchdb-collate"
    ),
]


@pytest.fixture(scope="module")
def oracle() -> Iterator[NodeOracle]:
    with node_oracle(ORACLE) as node:
        yield node


def our_order(keys: list[Any]) -> list[int]:
    """Indexes sorted by ``collate``, ties in list order (as the oracle breaks them)."""
    return sorted(
        range(len(keys)), key=functools.cmp_to_key(lambda i, j: collate(keys[i], keys[j]))
    )


@given(st.lists(pouch_safe_keys, max_size=30))
def test_pouchdb_collate_agrees_on_types_numbers_arrays_and_objects(
    oracle: NodeOracle, keys: list[Any]
) -> None:
    theirs = oracle.ask({"keys": keys})
    ours = our_order(keys)
    assert theirs["order"] == ours
    assert theirs["indexable_order"] == ours
    assert sorted(range(len(keys)), key=lambda i: sort_key(keys[i])) == ours


# (a, b, PouchDB's collate(a, b), ours = CouchDB's): code units against ICU.
STRING_DIFFERENCES = [
    pytest.param("B", "a", -1, 1, id="case: code units put capitals first"),
    pytest.param("b", "B", 1, -1, id="case: ICU puts lowercase first"),
    pytest.param("é", "f", 1, -1, id="accents: code units put é after z"),
    pytest.param("a-b", "a_b", -1, 1, id="punctuation: ICU puts underscore before hyphen"),
    pytest.param("中", "😀", -1, 1, id="astral: code units put emoji after CJK"),
    pytest.param("a", "a\u0000", -1, 0, id="ignorables: ICU ties them"),
    pytest.param("e\u0301", "é", -1, 0, id="canonical equivalents: ICU ties them"),
]


@pytest.mark.parametrize(("a", "b", "pouchdb", "couchdb"), STRING_DIFFERENCES)
def test_pouchdb_orders_strings_by_code_units_where_couchdb_uses_icu(
    oracle: NodeOracle, a: str, b: str, pouchdb: int, couchdb: int
) -> None:
    theirs = oracle.ask({"keys": [a, b]})["order"]
    assert theirs == ([0, 1] if pouchdb <= 0 else [1, 0])
    assert collate(a, b) == couchdb
