"""Contract: the replicator's read side, ``revs_diff`` and ``bulk_get``.

``revs_diff`` is CouchDB's POST /db/_revs_diff (``couch_db:get_missing_revs``): a revision is
known if it is anywhere in the tree, even as an id-only ancestor; ``possible_ancestors`` are the
leaves whose generation is below some missing revision's. ``bulk_get`` is POST /db/_bulk_get
(``chttpd_db:bulk_get_open_doc_revs1``): a request without ``rev`` is ``open_revs=all``, so it
answers every leaf, deleted ones included.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.store.api import DocumentStore, ReadOptions

from .helpers import (
    COUCHDB,
    STORE_EXAMPLES,
    backend,
    gen,
    leaf_paths,
    replicated,
    rev,
    rev_of,
    rev_path,
    write,
)


def as_sets(diff: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, set[str]]]:
    return {k: {field: set(v) for field, v in entry.items()} for k, entry in diff.items()}


# --- revs_diff ----------------------------------------------------------------------------------


async def test_revs_diff_of_nothing_is_empty(store: DocumentStore) -> None:
    assert await store.revs_diff({}) == {}


async def test_every_rev_of_an_unknown_doc_is_missing(store: DocumentStore) -> None:
    diff = await store.revs_diff({"new": [rev(1, "a"), rev(2, "b")]})
    assert as_sets(diff) == {"new": {"missing": {rev(1, "a"), rev(2, "b")}}}


async def test_known_revs_are_not_reported(store: DocumentStore) -> None:
    first = await store.put({"_id": "d", "v": 1})
    second = await store.put({"_id": "d", "_rev": first.rev, "v": 2})
    assert first.rev is not None
    assert second.rev is not None
    assert await store.revs_diff({"d": [first.rev, second.rev]}) == {}


async def test_only_the_missing_revs_of_a_doc_are_reported(store: DocumentStore) -> None:
    first = await store.put({"_id": "d"})
    assert first.rev is not None
    diff = await store.revs_diff({"d": [first.rev, rev(2, "f")]})
    assert diff["d"]["missing"] == [rev(2, "f")]


async def test_id_only_ancestors_count_as_known(store: DocumentStore) -> None:
    # A stemmed-in history names revisions whose bodies we never had; they are in the tree, so
    # a replicator must not be asked to send them (couch_key_tree:find_missing).
    await write(store, replicated("d", [rev(1, "1"), rev(2, "2"), rev(3, "3")]))
    assert await store.revs_diff({"d": [rev(1, "1"), rev(2, "2"), rev(3, "3")]}) == {}


async def test_deleted_leaves_count_as_known(store: DocumentStore) -> None:
    first = await store.put({"_id": "d"})
    assert first.rev is not None
    tomb = await store.delete("d", first.rev)
    assert tomb.rev is not None
    assert await store.revs_diff({"d": [tomb.rev]}) == {}


async def test_possible_ancestors_are_leaves_below_a_missing_rev(store: DocumentStore) -> None:
    await write(
        store,
        replicated("d", [rev(1, "1"), rev(2, "a")]),
        replicated("d", [rev(1, "1"), rev(2, "b"), rev(3, "b")]),
        replicated("d", [rev(1, "1"), rev(2, "c")], deleted=True),
        replicated("d", [rev(1, "1"), rev(2, "d"), rev(3, "d"), rev(4, "d"), rev(5, "d")]),
    )
    diff = await store.revs_diff({"d": [rev(4, "e"), rev(1, "1")]})
    assert as_sets(diff) == {
        "d": {
            "missing": {rev(4, "e")},
            # Leaves of generation < 4: both live and deleted; 5-d is not below 4.
            "possible_ancestors": {rev(2, "a"), rev(3, "b"), rev(2, "c")},
        }
    }


async def test_no_possible_ancestors_key_when_none_qualify(store: DocumentStore) -> None:
    await write(store, replicated("d", [rev(1, "1"), rev(2, "2"), rev(3, "3")]))
    diff = await store.revs_diff({"d": [rev(2, "f"), rev(3, "f")]})
    assert as_sets(diff) == {"d": {"missing": {rev(2, "f"), rev(3, "f")}}}


async def test_revs_diff_answers_many_docs_at_once(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    assert a.rev is not None
    diff = await store.revs_diff({"a": [a.rev], "b": [rev(1, "b")], "c": [rev(1, "c")]})
    assert as_sets(diff) == {"b": {"missing": {rev(1, "b")}}, "c": {"missing": {rev(1, "c")}}}


async def test_writing_the_missing_revs_closes_the_diff(store: DocumentStore) -> None:
    await store.put({"_id": "d"})
    path = [rev(1, "9"), rev(2, "9")]
    assert "d" in await store.revs_diff({"d": [path[-1]]})
    await write(store, replicated("d", path, v=2))
    assert await store.revs_diff({"d": [path[-1]]}) == {}


# --- bulk_get -----------------------------------------------------------------------------------


def oks(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["ok"]["_rev"]: item["ok"] for item in entry["docs"] if "ok" in item}


async def test_bulk_get_by_id_and_rev(store: DocumentStore) -> None:
    first = await store.put({"_id": "d", "v": 1})
    await store.put({"_id": "d", "_rev": first.rev, "v": 2})
    result = await store.bulk_get([{"id": "d", "rev": first.rev}])
    assert result == [{"id": "d", "docs": [{"ok": {"_id": "d", "_rev": first.rev, "v": 1}}]}]


async def test_bulk_get_without_rev_answers_every_leaf(store: DocumentStore) -> None:
    await write(
        store,
        replicated("d", [rev(1, "1"), rev(2, "a")], v="a"),
        replicated("d", [rev(1, "1"), rev(2, "b")], v="b"),
        replicated("d", [rev(1, "1"), rev(2, "c")], deleted=True),
    )
    (entry,) = await store.bulk_get([{"id": "d"}])
    assert entry["id"] == "d"
    found = oks(entry)
    assert set(found) == {rev(2, "a"), rev(2, "b"), rev(2, "c")}
    assert found[rev(2, "a")]["v"] == "a"
    assert found[rev(2, "c")]["_deleted"] is True


async def test_bulk_get_keeps_request_order_and_duplicates(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    b = await store.put({"_id": "b"})
    result = await store.bulk_get([{"id": "b"}, {"id": "a"}, {"id": "b", "rev": b.rev}])
    assert [entry["id"] for entry in result] == ["b", "a", "b"]
    assert list(oks(result[1])) == [a.rev]
    assert list(oks(result[2])) == [b.rev]


async def test_bulk_get_of_a_missing_doc_is_an_error_entry(store: DocumentStore) -> None:
    (entry,) = await store.bulk_get([{"id": "nope"}])
    assert entry["id"] == "nope"
    (item,) = entry["docs"]
    assert item["error"]["id"] == "nope"
    assert item["error"]["error"] == "not_found"
    assert item["error"]["reason"] == "missing"


async def test_bulk_get_of_a_missing_rev_is_an_error_entry(store: DocumentStore) -> None:
    await store.put({"_id": "d"})
    wanted = rev(5, "f")
    (entry,) = await store.bulk_get([{"id": "d", "rev": wanted}])
    assert entry == {
        "id": "d",
        "docs": [{"error": {"id": "d", "rev": wanted, "error": "not_found", "reason": "missing"}}],
    }


async def test_bulk_get_of_a_malformed_rev_is_an_error_entry(store: DocumentStore) -> None:
    await store.put({"_id": "d"})
    (entry,) = await store.bulk_get([{"id": "d", "rev": "garbage"}])
    (item,) = entry["docs"]
    assert item["error"]["error"] == "bad_request"


async def test_bulk_get_errors_do_not_spoil_other_entries(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    result = await store.bulk_get([{"id": "nope"}, {"id": "a"}])
    assert "error" in result[0]["docs"][0]
    assert list(oks(result[1])) == [a.rev]


async def test_bulk_get_latest_answers_a_non_leaf_with_its_leaf(store: DocumentStore) -> None:
    first = await store.put({"_id": "d", "v": 1})
    second = await store.put({"_id": "d", "_rev": first.rev, "v": 2})
    (entry,) = await store.bulk_get([{"id": "d", "rev": first.rev}], ReadOptions(latest=True))
    assert entry["docs"] == [{"ok": {"_id": "d", "_rev": second.rev, "v": 2}}]


async def test_bulk_get_with_revs_adds_histories(store: DocumentStore) -> None:
    first = await store.put({"_id": "d"})
    second = await store.put({"_id": "d", "_rev": first.rev})
    assert first.rev is not None
    assert second.rev is not None
    (entry,) = await store.bulk_get([{"id": "d", "rev": second.rev}], ReadOptions(revs=True))
    doc = entry["docs"][0]["ok"]
    assert doc["_revisions"] == {
        "start": 2,
        "ids": [second.rev.split("-", 1)[1], first.rev.split("-", 1)[1]],
    }


async def test_open_revs_then_bulk_docs_replicates_a_whole_tree(store: DocumentStore) -> None:
    # What a replicator does: read every leaf with its history, write it with new_edits=False.
    first = await store.put({"_id": "src", "v": 1})
    assert first.rev is not None
    mine = await store.put({"_id": "src", "_rev": first.rev, "v": "mine"})
    await write(store, replicated("src", [first.rev, rev(2, "0"), rev(3, "0")], v="theirs"))
    assert mine.rev is not None
    await store.delete("src", mine.rev)
    leaves = await store.open_revs("src", None, ReadOptions(revs=True))
    copies = [{**item["ok"], "_id": "dst"} for item in leaves]
    await write(store, *copies)
    options = ReadOptions(revs=True, conflicts=True, deleted_conflicts=True)
    src = await store.get("src", options=options)
    dst = await store.get("dst", options=options)
    assert {**src, "_id": "dst"} == dst
    assert await store.revs_diff({"dst": [first.rev, rev(3, "0")]}) == {}


async def test_a_revision_listed_twice(
    store: DocumentStore, request: pytest.FixtureRequest
) -> None:
    first = await store.put({"_id": "d"})
    assert first.rev is not None
    diff = await store.revs_diff({"d": [first.rev, first.rev, rev(2, "f"), rev(2, "f")]})
    if backend(request) in {COUCHDB, "http-pouchdb-server"}:
        # couch_key_tree:find_missing subtracts each revision it finds once (``--``): the second
        # copy of a known revision is reported missing, and a missing one once per copy
        # (PouchDB's revsDiff does the same).
        assert as_sets(diff) == {
            "d": {"missing": {first.rev, rev(2, "f")}, "possible_ancestors": {first.rev}}
        }
        assert len(diff["d"]["missing"]) == 3
        return
    # Ours (a departure listed in the README): the list is read as a set, so a revision we
    # hold is never reported missing, and a missing one is listed once.
    assert diff == {"d": {"missing": [rev(2, "f")], "possible_ancestors": [first.rev]}}


# --- laws ---------------------------------------------------------------------------------------

# Trees are built from token paths (see ``helpers``).
PATHS = st.lists(st.lists(st.sampled_from("ab"), max_size=4), min_size=1, max_size=5)


@STORE_EXAMPLES
@given(
    paths=PATHS,
    known_picks=st.lists(st.integers(0, 50), max_size=4),
    unknown=st.lists(st.tuples(st.integers(1, 7), st.sampled_from("0123")), max_size=4),
)
async def test_revs_diff_matches_a_model_of_the_tree(
    store: DocumentStore,
    paths: list[list[str]],
    known_picks: list[int],
    unknown: list[tuple[int, str]],
) -> None:
    doc_id = uuid.uuid4().hex
    for tokens in paths:
        await write(store, replicated(doc_id, rev_path(tokens)))
    nodes = sorted({r for p in paths for r in rev_path(p)})
    leaves = {rev_of(p) for p in leaf_paths(paths)}
    # Each known revision once: duplicates are a departure of ours, tested on their own below.
    known = sorted({nodes[i % len(nodes)] for i in known_picks})
    missing = {rev(n, digit) for n, digit in unknown}
    diff = await store.revs_diff({doc_id: known + sorted(missing)})
    if not missing:
        assert diff == {}
        return
    top = max(gen(r) for r in missing)
    expected: dict[str, set[str]] = {"missing": missing}
    ancestors = {leaf for leaf in leaves if gen(leaf) < top}
    if ancestors:
        expected["possible_ancestors"] = ancestors
    assert as_sets(diff) == {doc_id: expected}
