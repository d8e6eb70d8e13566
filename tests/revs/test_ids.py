"""Revision ids: parsing ``N-id``, deterministic ``new_rev``, and ``_revisions`` conversion."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.canonical import attachment_digest, canonical_json
from brainlink_docs.errors import BadRequest
from brainlink_docs.revs import (
    Rev,
    new_rev,
    parse_rev,
    path_to_revisions,
    rev_pos,
    revisions_to_path,
)

MD5_REV = re.compile(r"[1-9][0-9]*-[0-9a-f]{32}")

# orjson (canonical_json) serializes integers only within 64 bits.
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | int64 | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
digests = st.lists(st.binary(max_size=8).map(attachment_digest), max_size=3)
parents = st.none() | st.builds(
    lambda pos, body: new_rev(None, False, canonical_json(body)).replace("1-", f"{pos}-", 1),
    st.integers(min_value=1, max_value=10_000),
    int64,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1-967a00dff5e02add41819138abb3284d", Rev(1, "967a00dff5e02add41819138abb3284d")),
        ("12-abc", Rev(12, "abc")),
        ("1000-x", Rev(1000, "x")),
        # CouchDB splits at the first dash only: the rest, dashes included, is the id.
        ("3-abc-def", Rev(3, "abc-def")),
    ],
)
def test_parse_rev_splits_generation_and_id(text: str, expected: Rev) -> None:
    assert parse_rev(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1",
        "1-",
        "-abc",
        "a-abc",
        "0-abc",
        "-1-abc",
        " 1-abc",
        "1.5-abc",
        "+1-abc",
        "\u0661-abc",  # ARABIC-INDIC DIGIT ONE: str.isdigit() but not a CouchDB generation
        "\u00b2-abc",  # SUPERSCRIPT TWO: str.isdigit() too
        None,
        1,
        b"1-abc",
        ["1-abc"],
        Rev(1, "abc"),
    ],
)
def test_parse_rev_rejects_malformed_revs_as_bad_request(text: object) -> None:
    with pytest.raises(BadRequest) as excinfo:
        parse_rev(text)
    assert excinfo.value.reason == "Invalid rev format"
    assert excinfo.value.status == 400
    assert excinfo.value.to_json() == {"error": "bad_request", "reason": "Invalid rev format"}


@given(pos=st.integers(min_value=1), rev_id=st.text(min_size=1))
def test_parse_rev_inverts_str(pos: int, rev_id: str) -> None:
    rev = Rev(pos, rev_id)
    assert parse_rev(str(rev)) == rev
    assert rev_pos(str(rev)) == pos


def test_rev_pos_reads_multi_digit_generations() -> None:
    assert rev_pos("10-abc") == 10
    assert rev_pos("3-abc-def") == 3


@given(parent=parents, deleted=st.booleans(), body=json_values, atts=digests)
def test_new_rev_is_deterministic(
    parent: str | None, deleted: bool, body: object, atts: list[str]
) -> None:
    first = new_rev(parent, deleted, canonical_json(body), atts)
    again = new_rev(parent, deleted, canonical_json(body), list(atts))
    assert first == again


@given(parent=parents, deleted=st.booleans(), body=json_values, atts=digests)
def test_new_rev_is_one_generation_after_its_parent(
    parent: str | None, deleted: bool, body: object, atts: list[str]
) -> None:
    rev = new_rev(parent, deleted, canonical_json(body), atts)
    assert MD5_REV.fullmatch(rev)
    assert rev_pos(rev) == (rev_pos(parent) + 1 if parent else 1)


def test_new_rev_counts_generations_numerically() -> None:
    assert new_rev("9-abc", False, b"{}").startswith("10-")
    assert new_rev("10-abc", False, b"{}").startswith("11-")


@given(
    edit_a=st.tuples(parents, st.booleans(), json_values, digests),
    edit_b=st.tuples(parents, st.booleans(), json_values, digests),
)
def test_new_rev_differs_when_any_input_differs(
    edit_a: tuple[str | None, bool, object, list[str]],
    edit_b: tuple[str | None, bool, object, list[str]],
) -> None:
    parent_a, deleted_a, body_a, atts_a = edit_a
    parent_b, deleted_b, body_b, atts_b = edit_b
    same_edit = (parent_a, deleted_a, canonical_json(body_a), sorted(atts_a)) == (
        parent_b,
        deleted_b,
        canonical_json(body_b),
        sorted(atts_b),
    )
    rev_a = new_rev(parent_a, deleted_a, canonical_json(body_a), atts_a)
    rev_b = new_rev(parent_b, deleted_b, canonical_json(body_b), atts_b)
    assert (rev_a == rev_b) == same_edit


@pytest.mark.parametrize(
    ("changed", "kwargs"),
    [
        ("parent", {"parent": "1-967a00dff5e02add41819138abb3284d"}),
        ("deleted", {"deleted": True}),
        ("body", {"canonical_body": b'{"a":2}'}),
        ("attachments", {"att_digests": [attachment_digest(b"x")]}),
        ("attachment count", {"att_digests": [attachment_digest(b"")] * 2}),
    ],
)
def test_new_rev_changes_with_each_input(changed: str, kwargs: dict[str, Any]) -> None:
    base: dict[str, Any] = {
        "parent": "1-2f8d7b9e3f1d2c4b5a6978877665544a",
        "deleted": False,
        "canonical_body": b'{"a":1}',
        "att_digests": [attachment_digest(b"")],
    }
    assert new_rev(**base) != new_rev(**(base | kwargs)), changed


@given(parent=parents, body=json_values, atts=digests, data=st.data())
def test_new_rev_ignores_attachment_order(
    parent: str | None, body: object, atts: list[str], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(atts))
    assert new_rev(parent, False, canonical_json(body), atts) == new_rev(
        parent, False, canonical_json(body), shuffled
    )


def test_new_rev_key_order_does_not_matter_for_canonical_bodies() -> None:
    # Two devices serialize the same edit with different key orders: same revision, no conflict.
    a = new_rev("1-abc", False, canonical_json({"x": 1, "y": [1, 2]}))
    b = new_rev("1-abc", False, canonical_json({"y": [1, 2], "x": 1}))
    assert a == b


def test_revisions_to_path_lists_newest_first() -> None:
    assert revisions_to_path(3, ["c", "b", "a"]) == ["3-c", "2-b", "1-a"]
    assert revisions_to_path(7, ["g"]) == ["7-g"]
    assert revisions_to_path(5, []) == []


def test_path_to_revisions_of_a_stemmed_path_keeps_its_start() -> None:
    assert path_to_revisions(["12-l", "11-k"]) == {"start": 12, "ids": ["l", "k"]}
    assert path_to_revisions([]) == {"start": 0, "ids": []}


@given(
    start=st.integers(min_value=1, max_value=10_000),
    ids=st.lists(st.text(min_size=1), min_size=1, max_size=20),
)
def test_revisions_round_trip_through_a_path(start: int, ids: list[str]) -> None:
    start = max(start, len(ids))  # generations stay positive
    path = revisions_to_path(start, ids)
    assert [rev_pos(rev) for rev in path] == list(range(start, start - len(ids), -1))
    assert path_to_revisions(path) == {"start": start, "ids": ids}
