"""Laws and table cases for ``collate`` and ``sort_key`` (pure code, no peer needed).

The tables restate what CouchDB 3.5 answered when asked (``tests/views/test_collation_couchdb.py``
asks it again on every run); the laws say ``collate`` is a total order and ``sort_key``'s bytes
order keys exactly as ``collate`` does, ties included.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.views.collation import collate, row_sort_key, sort_key, sort_keys
from brainlink_docs.views.mango import matches

from .strategies import IDIOM_KEYS, TIED_NUMBERS, json_keys


def _sign(x: int) -> int:
    return (x > 0) - (x < 0)


def _bytes_order(a: bytes, b: bytes) -> int:
    return (a > b) - (a < b)


# Each row: keys in CouchDB's view order, every neighbour strictly below the next.
ASCENDING = [
    pytest.param([None, False, True, 0, "", [], {}], id="types"),
    pytest.param([-(2**64), -1.5, -1, 0, 0.5, 1, 2**53, 2**53 + 1, 2**64, 1e300], id="numbers"),
    pytest.param([2.0**53, 2**53 + 1, 2**53 + 2, 2.0**53 + 4], id="past-2**53"),
    pytest.param(["", "😀", "a", "a b", "a-b", "ab", "e", "E", "é", "É", "z", "Z"], id="icu"),
    pytest.param(["z", "中", "\ufff0", "\uffff"], id="high-strings"),
    pytest.param([[], [None], [1], [1, 2], ["a"], [[]], [{}]], id="arrays"),
    pytest.param([{}, {"a": 2}, {"a": 2, "b": 1}, {"b": 1, "a": 2}], id="objects-in-order"),
    pytest.param([["a"], ["a", 1], ["a", "\ufff0"], ["a", {}], ["b"]], id="range-idioms"),
]

# Each row: two keys CouchDB ties (their rows then follow document ids).
TIES = [
    pytest.param(1, 1.0, id="int-float"),
    pytest.param(0, -0.0, id="negative-zero"),
    pytest.param(2**64, 2.0**64, id="big-int-float"),
    pytest.param("a", "a\u0000", id="ignorable-control"),
    pytest.param("ab", "a\u200bb", id="zero-width-space"),
    pytest.param("é", "e\u0301", id="canonical-equivalents"),
    pytest.param("", "\u0000", id="empty-vs-ignorable"),
    pytest.param([1, "a"], [1.0, "a\u0000"], id="array-of-ties"),
    pytest.param({"a": 1}, {"a\u0000": 1.0}, id="object-of-ties"),
]


@pytest.mark.parametrize("keys", ASCENDING)
def test_keys_order_as_couchdb_orders_them(keys: list[Any]) -> None:
    for low, high in itertools.pairwise(keys):
        assert collate(low, high) == -1, (low, high)
        assert collate(high, low) == 1, (high, low)
        assert sort_key(low) < sort_key(high), (low, high)


@pytest.mark.parametrize(("a", "b"), TIES)
def test_couchdb_ties_are_ties(a: Any, b: Any) -> None:
    assert collate(a, b) == 0
    assert sort_key(a) == sort_key(b)


@pytest.mark.parametrize(("a", "b"), TIES)
def test_tied_rows_follow_document_id_bytes(a: Any, b: Any) -> None:
    # Erlang compares ids as binaries: "B" (0x42) < "a" (0x61) < "z" < "é" (0xC3 0xA9).
    ids = ["é", "z", "a", "B"]
    rows = sorted(
        [(a, ids[0]), (b, ids[1]), (a, ids[2]), (b, ids[3])], key=lambda r: row_sort_key(*r)
    )
    assert [doc_id for _, doc_id in rows] == ["B", "a", "z", "é"]


def test_a_tied_key_never_reaches_the_next_key_through_its_id() -> None:
    # The id bytes only decide between tied keys: a long id does not jump a bigger key.
    assert row_sort_key("a", "\U0010ffff" * 10) < row_sort_key("a\u0001b", "")
    assert row_sort_key([1], "zzz") < row_sort_key([1, None], "")


def test_sort_keys_is_sort_key_of_each() -> None:
    assert sort_keys(IDIOM_KEYS) == [sort_key(k) for k in IDIOM_KEYS]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), (1, 2), {1, 2}, b"a", object()])
def test_what_json_cannot_hold_is_refused(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        sort_key(value)
    with pytest.raises((TypeError, ValueError)):
        collate(value, 1)


def test_integers_past_the_double_range_still_order() -> None:
    huge = [-(2**1100), -(2**1030), -1.7976931348623157e308, 0, 1.7976931348623157e308]
    huge += [2**1024 - 1, 2**1024, 2**1100]
    assert sorted(reversed(huge), key=sort_key) == huge
    assert sorted(reversed(huge), key=functools.cmp_to_key(collate)) == huge


def test_mango_compares_by_collation() -> None:
    # mango_json:cmp is couch_ejson_compare:less: ICU order and ICU ties, not code points.
    # ICU: a < A < b < B; code points: A < B < a < b.
    assert matches({"name": {"$lt": "B"}}, {"name": "b"})
    assert matches({"name": {"$gt": "a"}}, {"name": "B"})
    assert not matches({"name": {"$lt": "a"}}, {"name": "B"})
    assert matches({"name": "é"}, {"name": "e\u0301"})
    assert matches({"n": {"$eq": 1}}, {"n": 1.0})


@given(json_keys, json_keys)
def test_collate_is_antisymmetric(a: Any, b: Any) -> None:
    assert collate(a, b) == -collate(b, a)


@given(json_keys)
def test_collate_is_reflexive(a: Any) -> None:
    assert collate(a, a) == 0


@given(json_keys, json_keys, json_keys)
def test_collate_is_transitive(a: Any, b: Any, c: Any) -> None:
    low, mid, high = sorted([a, b, c], key=functools.cmp_to_key(collate))
    assert collate(low, mid) <= 0 and collate(mid, high) <= 0
    assert collate(low, high) <= 0
    if collate(low, mid) == 0 and collate(mid, high) == 0:
        assert collate(low, high) == 0


@given(json_keys, json_keys)
def test_sort_key_bytes_order_as_collate(a: Any, b: Any) -> None:
    assert _bytes_order(sort_key(a), sort_key(b)) == collate(a, b)


@given(st.sampled_from(IDIOM_KEYS), json_keys)
def test_sort_key_orders_idioms_as_collate(a: Any, b: Any) -> None:
    assert _bytes_order(sort_key(a), sort_key(b)) == collate(a, b)


@given(st.lists(json_keys, max_size=3), st.lists(json_keys, max_size=3))
def test_sort_key_is_prefix_free(a: list[Any], b: list[Any]) -> None:
    # Arrays concatenate element encodings: that is only sound if no encoding is a proper
    # prefix of another, so a tie is decided by what follows, never by length alone.
    for x in a:
        for y in b:
            kx, ky = sort_key(x), sort_key(y)
            assert kx == ky or not (kx.startswith(ky) or ky.startswith(kx))


@given(st.sampled_from(TIED_NUMBERS), st.sampled_from(TIED_NUMBERS))
def test_numbers_collate_by_exact_value(a: int | float, b: int | float) -> None:
    exact = _sign((a > b) - (a < b))
    assert collate(a, b) == exact
    assert _bytes_order(sort_key(a), sort_key(b)) == exact
