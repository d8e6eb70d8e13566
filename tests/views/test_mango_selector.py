"""Mango selectors normalize and match as CouchDB 3.5's ``mango_selector`` (table cases).

The normalized forms are what CouchDB 3.5's ``_explain`` answered for these selectors; the
match cases pin the places where Mango is not what a reader would guess: negation pushed
into operators, Erlang's ``rem``, ``$all`` by term equality, raw ``_id`` order, empty lists.
"""

from __future__ import annotations

from typing import Any

import pytest

from brainlink_docs.errors import BadRequest
from brainlink_docs.views.mango import matches, normalize

NORMALIZED = [
    ({"z": {"$not": {"$regex": "a"}}}, {"z": {"$not": {"$regex": "a"}}}),
    ({"z": {"$not": {"$in": [1]}}}, {"z": {"$nin": [1]}}),
    ({"z": {"$not": {"$nin": [1]}}}, {"z": {"$in": [1]}}),
    ({"z": {"$not": {"$exists": True}}}, {"z": {"$exists": False}}),
    ({"$not": {"z": 1}}, {"z": {"$ne": 1}}),
    ({"$not": {"z": 1, "y": 2}}, {"$or": [{"z": {"$ne": 1}}, {"y": {"$ne": 2}}]}),
    ({"$nor": [{"z": 1}, {"y": 2}]}, {"$and": [{"z": {"$ne": 1}}, {"y": {"$ne": 2}}]}),
    ({"$not": {"$or": [{"z": 1}, {"y": 2}]}}, {"$and": [{"z": {"$ne": 1}}, {"y": {"$ne": 2}}]}),
    ({"z": {"$not": {"$not": {"$gt": 1}}}}, {"z": {"$gt": 1}}),
    (
        {"z": {"$elemMatch": {"a": 1, "b": {"c": 2}}}},
        {"z": {"$elemMatch": {"$and": [{"a": {"$eq": 1}}, {"b.c": {"$eq": 2}}]}}},
    ),
    ({"z": {"$elemMatch": {"$gt": 1}}}, {"z": {"$elemMatch": {"": {"$gt": 1}}}}),
    ({"z": {"$gt": 1, "$lt": 5}}, {"$and": [{"z": {"$gt": 1}}, {"z": {"$lt": 5}}]}),
    ({"z": {"a": {"$gt": 1}, "b": 2}}, {"$and": [{"z.a": {"$gt": 1}}, {"z.b": {"$eq": 2}}]}),
    ({"z": {"$and": [{"a": 1}, {"$gt": 2}]}}, {"$and": [{"z.a": {"$eq": 1}}, {"z": {"$gt": 2}}]}),
    ({"$or": [{"z": 1}]}, {"$or": [{"z": {"$eq": 1}}]}),
    ({"z": {"$eq": {"a": 1}}}, {"z": {"$eq": {"a": 1}}}),
    ({"z": {"a": 1}}, {"z.a": {"$eq": 1}}),
    ({"z": {}}, {"z": {"$eq": {}}}),
    ({"z": [1, 2]}, {"z": {"$eq": [1, 2]}}),
    ({"$and": []}, {"$and": []}),
    ({"$nor": []}, {"$and": []}),
    ({"$not": {"$and": []}}, {"$or": []}),
    ({"x": {"$not": {}}}, {"x": {"$ne": {}}}),
    ({"w": {"$not": {"$gt": 1}}}, {"w": {"$lte": 1}}),
    ({"$nor": [{"z": {"$gt": 1}}]}, {"$and": [{"z": {"$lte": 1}}]}),
    (
        {"$nor": [{"x": 1}, {"$nor": []}]},
        {"$and": [{"x": {"$ne": 1}}, {"$or": []}]},
    ),
]


@pytest.mark.parametrize(("selector", "normalized"), NORMALIZED)
def test_selectors_normalize_as_couchdb(selector: Any, normalized: Any) -> None:
    assert normalize(selector) == normalized


REFUSED = [
    ([], "invalid_selector_json"),
    ({"x": {"$foo": 1}}, "invalid_operator"),
    ({"x": {"$in": 1}}, "bad_arg"),
    ({"x": {"$regex": 1}}, "invalid_operator"),
    ({"x": {"$regex": "("}}, "bad_arg"),
    ({"x": {"$size": -1}}, "bad_arg"),
    ({"x": {"$mod": [2.5, 1]}}, "bad_arg"),
    ({"$and": {}}, "bad_arg"),
    ({"$not": {}}, "invalid_selector"),
]


@pytest.mark.parametrize(("selector", "error"), REFUSED)
def test_malformed_selectors_are_couchdbs_400s(selector: Any, error: str) -> None:
    with pytest.raises(BadRequest) as raised:
        normalize(selector)
    assert raised.value.error == error


MATCHES = [
    # A negation is pushed into the operator, so a missing field matches neither.
    ({"$not": {"x": {"$gt": 1}}}, {}, False),
    ({"$not": {"x": {"$regex": "a"}}}, {}, False),
    ({"x": {"$exists": False}}, {}, True),
    # Erlang's rem: the remainder has the dividend's sign; a negative divisor is allowed.
    ({"x": {"$mod": [3, -2]}}, {"x": -5}, True),
    ({"x": {"$mod": [3, 1]}}, {"x": -5}, False),
    ({"x": {"$mod": [-2, 1]}}, {"x": 3}, True),
    ({"x": {"$mod": [2, 0]}}, {"x": 2.0}, False),
    # $all compares terms, not collation; the single-array form; an empty $all.
    ({"x": {"$all": [1]}}, {"x": [1.0]}, True),
    ({"x": {"$all": [{"a": 1}]}}, {"x": [{"a": 1}]}, True),
    ({"x": {"$all": [[1, 2]]}}, {"x": [1, 2]}, True),
    ({"x": {"$all": []}}, {"x": [1]}, False),
    # _id compares raw (bytes), other fields by collation.
    ({"_id": {"$gt": "B"}}, {"_id": "a"}, True),
    ({"_id": {"$lt": "B"}}, {"_id": "a"}, False),
    ({"n": {"$lt": "B"}}, {"n": "a"}, True),
    # Empty lists: $or [] inside a selector is true; $in [] matches nothing, $nin [] all.
    ({"x": 1, "$or": []}, {"x": 1}, True),
    ({"x": {"$in": []}}, {"x": 1}, False),
    ({"x": {"$nin": []}}, {"x": 1}, True),
    # Array positions in paths; an unknown $type matches nothing.
    ({"tags.1": "b"}, {"tags": ["a", "b"]}, True),
    ({"tags.2": {"$exists": False}}, {"tags": ["a", "b"]}, False),
    ({"x": {"$type": "int"}}, {"x": 1}, False),
    ({"x": {"$keyMapMatch": {"$eq": "k"}}}, {"x": {"k": 1}}, True),
    ({"x": {"$allMatch": {"$gt": 0}}}, {"x": []}, False),
    ({"x": {"$elemMatch": {"a": 1}}}, {"x": [{"a": 1}]}, True),
    ({"x": {"$beginsWith": "ab"}}, {"x": "abc"}, True),
]


@pytest.mark.parametrize(("selector", "doc", "expected"), MATCHES)
def test_matching_follows_mango_selector(selector: Any, doc: Any, expected: bool) -> None:
    assert matches(selector, doc) is expected
