"""Contract: ``bulk_docs`` (CouchDB's POST /db/_bulk_docs) in both edit modes.

``new_edits=True`` is ``couch_db:update_docs(..., interactive_edit)``: each document is checked
against its current leaf and conflicts are per-document rows. Every document is validated before
any is written (``chttpd_db``), so one invalid document fails the whole request.
``new_edits=False`` is the replicator's write path (``replicated_changes``): revisions and their
``_revisions`` histories are merged into the tree as given (``couch_key_tree:merge``), never
rejected as conflicts, and stemmed to ``revs_limit``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs import errors
from brainlink_docs.store.api import AllDocsQuery, ChangesQuery, DocumentStore, ReadOptions

from .helpers import STORE_EXAMPLES, gen, leaf_paths, path_of, replicated, rev, rev_of, rev_path


async def leaves(store: DocumentStore, doc_id: str) -> set[str]:
    return {item["ok"]["_rev"] for item in await store.open_revs(doc_id, None)}


async def changes_since(store: DocumentStore, since: str) -> list[str]:
    return [c.id for c in (await store.changes(ChangesQuery(since=since))).results]


# --- new_edits=True -----------------------------------------------------------------------------


async def test_empty_batch_returns_no_rows(store: DocumentStore) -> None:
    assert await store.bulk_docs([]) == []


async def test_one_row_per_doc_in_input_order(store: DocumentStore) -> None:
    ids = ["m", "b", "z", "a"]
    results = await store.bulk_docs([{"_id": i, "n": n} for n, i in enumerate(ids)])
    assert [r.id for r in results] == ids
    assert all(r.ok and r.rev and gen(r.rev) == 1 for r in results)
    for n, i in enumerate(ids):
        assert (await store.get(i))["n"] == n


async def test_docs_without_id_get_generated_ids(store: DocumentStore) -> None:
    results = await store.bulk_docs([{"v": 1}, {"v": 2}])
    assert all(r.ok for r in results)
    assert len({r.id for r in results}) == 2
    assert [(await store.get(r.id))["v"] for r in results] == [1, 2]


async def test_a_conflict_is_a_row_and_the_rest_is_written(store: DocumentStore) -> None:
    await store.put({"_id": "taken", "v": 1})
    results = await store.bulk_docs([{"_id": "new1"}, {"_id": "taken", "v": 2}, {"_id": "new2"}])
    assert results[0].ok
    assert results[1].id == "taken"
    assert results[1].error == "conflict"
    assert results[1].reason == "Document update conflict."
    assert results[1].rev is None
    assert results[2].ok
    assert (await store.get("taken"))["v"] == 1
    await store.get("new1")
    await store.get("new2")


async def test_conflict_row_serializes_like_couchdb(store: DocumentStore) -> None:
    await store.put({"_id": "taken"})
    (row,) = await store.bulk_docs([{"_id": "taken"}])
    assert row.to_json() == {
        "id": "taken",
        "error": "conflict",
        "reason": "Document update conflict.",
    }


@pytest.mark.parametrize(
    ("invalid", "error"),
    [
        ({"_id": "_bad"}, errors.BadRequest),
        ({"_id": "ok2", "_foo": 1}, errors.DocValidation),
        ({"_id": "ok3", "_rev": "garbage"}, errors.BadRequest),
        ({"_id": 5}, errors.BadRequest),
        (7, errors.BadRequest),
    ],
)
async def test_an_invalid_doc_fails_the_whole_batch(
    store: DocumentStore, invalid: Any, error: type[errors.CouchError]
) -> None:
    # chttpd_db validates every document (couch_db:doc_from_json_obj_validate) before writing.
    with pytest.raises(error):
        await store.bulk_docs([{"_id": "ok1"}, invalid, {"_id": "ok4"}])
    assert (await store.all_docs()).rows == []
    assert (await store.info()).doc_count == 0


async def test_update_and_delete_in_one_batch(store: DocumentStore) -> None:
    a = await store.put({"_id": "a", "v": 1})
    b = await store.put({"_id": "b", "v": 1})
    results = await store.bulk_docs(
        [{"_id": "a", "_rev": a.rev, "v": 2}, {"_id": "b", "_rev": b.rev, "_deleted": True}]
    )
    assert all(r.ok and r.rev and gen(r.rev) == 2 for r in results)
    assert (await store.get("a"))["v"] == 2
    assert [row["id"] for row in (await store.all_docs()).rows] == ["a"]


async def test_same_id_twice_in_a_batch_the_second_conflicts(store: DocumentStore) -> None:
    # couch_db_updater applies a bucket of edits to one id in order: the second create finds a
    # live document and, without a _rev, conflicts.
    results = await store.bulk_docs([{"_id": "dup", "v": 1}, {"_id": "dup", "v": 2}])
    assert results[0].ok
    assert results[1].error == "conflict"
    assert (await store.get("dup"))["v"] == 1
    assert len(await leaves(store, "dup")) == 1


async def test_a_batch_becomes_visible_all_at_once(store: DocumentStore) -> None:
    # One transaction per call: a concurrent reader sees none of the batch or all of it.
    docs = [{"_id": f"{n:04d}", "n": n} for n in range(400)]
    write = asyncio.create_task(store.bulk_docs(docs))
    seen: set[int] = set()
    while not write.done():
        seen.add((await store.all_docs(AllDocsQuery(limit=0))).total_rows)
        seen.add(len((await store.changes()).results))
    assert all(r.ok for r in await write)
    seen.add((await store.info()).doc_count)
    assert seen <= {0, 400}
    assert 400 in seen


async def test_edits_in_one_batch_each_get_a_new_seq_row(store: DocumentStore) -> None:
    start = (await store.info()).update_seq
    await store.bulk_docs([{"_id": "x"}, {"_id": "y"}])
    assert sorted(await changes_since(store, start)) == ["x", "y"]


# --- new_edits=False: the replication write path --------------------------------------------------


async def test_replicated_history_is_stored_as_given(store: DocumentStore) -> None:
    path = [rev(1, "1"), rev(2, "2"), rev(3, "3")]
    results = await store.bulk_docs([replicated("r", path, v=3)], new_edits=False)
    assert all(r.ok for r in results)
    doc = await store.get("r", options=ReadOptions(revs=True))
    assert doc["_rev"] == rev(3, "3")
    assert doc["v"] == 3
    assert path_of(doc) == list(reversed(path))


async def test_replicated_rev_without_revisions_is_a_root(store: DocumentStore) -> None:
    results = await store.bulk_docs([{"_id": "r", "_rev": rev(5, "5"), "v": 5}], new_edits=False)
    assert all(r.ok for r in results)
    doc = await store.get("r", options=ReadOptions(revs=True))
    assert doc["_rev"] == rev(5, "5")
    assert path_of(doc) == [rev(5, "5")]


async def test_replicated_branch_creates_a_conflict_not_an_error(store: DocumentStore) -> None:
    first = await store.put({"_id": "d", "v": 1})
    assert first.rev is not None
    await store.put({"_id": "d", "_rev": first.rev, "v": "local"})
    results = await store.bulk_docs(
        [replicated("d", [first.rev, rev(2, "f")], v="remote")], new_edits=False
    )
    assert all(r.ok for r in results)
    assert len(await leaves(store, "d")) == 2
    doc = await store.get("d", options=ReadOptions(conflicts=True))
    assert len(doc["_conflicts"]) == 1


async def test_replicated_history_extending_a_leaf_is_not_a_conflict(
    store: DocumentStore,
) -> None:
    first = await store.put({"_id": "d", "v": 1})
    assert first.rev is not None
    path = [first.rev, rev(2, "2"), rev(3, "3")]
    await store.bulk_docs([replicated("d", path, v=3)], new_edits=False)
    assert await leaves(store, "d") == {rev(3, "3")}
    doc = await store.get("d", options=ReadOptions(conflicts=True, revs=True))
    assert "_conflicts" not in doc
    assert path_of(doc) == list(reversed(path))


async def test_interactive_edit_of_a_replicated_leaf(store: DocumentStore) -> None:
    await store.bulk_docs([replicated("d", [rev(1, "1"), rev(2, "2")], v=2)], new_edits=False)
    result = await store.put({"_id": "d", "_rev": rev(2, "2"), "v": 3})
    assert result.rev is not None
    assert gen(result.rev) == 3
    assert await leaves(store, "d") == {result.rev}


async def test_resending_a_revision_changes_nothing(store: DocumentStore) -> None:
    doc = replicated("d", [rev(1, "1"), rev(2, "2")], v=2)
    await store.bulk_docs([doc], new_edits=False)
    seq = (await store.info()).update_seq
    again = await store.bulk_docs([dict(doc)], new_edits=False)
    assert all(r.ok for r in again)
    assert await changes_since(store, seq) == []
    assert await leaves(store, "d") == {rev(2, "2")}


async def test_resending_an_ancestor_we_hold_changes_nothing(store: DocumentStore) -> None:
    await store.bulk_docs([replicated("d", [rev(1, "1")], v=1)], new_edits=False)
    await store.bulk_docs(
        [replicated("d", [rev(1, "1"), rev(2, "2"), rev(3, "3")], v=3)], new_edits=False
    )
    seq = (await store.info()).update_seq
    await store.bulk_docs([replicated("d", [rev(1, "1")], v="other")], new_edits=False)
    assert await changes_since(store, seq) == []
    assert await leaves(store, "d") == {rev(3, "3")}
    assert (await store.get("d", rev=rev(1, "1")))["v"] == 1


async def test_resending_an_ancestor_known_by_id_stores_its_body(store: DocumentStore) -> None:
    # couch_key_tree:merge keeps a body over ?REV_MISSING: the ancestor's body is filled in,
    # and the document moves to a new sequence with the same winner.
    await store.bulk_docs(
        [replicated("d", [rev(1, "1"), rev(2, "2"), rev(3, "3")], v=3)], new_edits=False
    )
    with pytest.raises(errors.NotFound):
        await store.get("d", rev=rev(2, "2"))
    seq = (await store.info()).update_seq
    await store.bulk_docs([replicated("d", [rev(1, "1"), rev(2, "2")], v=2)], new_edits=False)
    assert (await store.get("d", rev=rev(2, "2")))["v"] == 2
    assert await changes_since(store, seq) == ["d"]
    assert await leaves(store, "d") == {rev(3, "3")}
    assert (await store.get("d"))["_rev"] == rev(3, "3")


async def test_replicated_deletion_is_a_deleted_leaf(store: DocumentStore) -> None:
    await store.bulk_docs([replicated("d", [rev(1, "1")], v=1)], new_edits=False)
    await store.bulk_docs(
        [replicated("d", [rev(1, "1"), rev(2, "2")], deleted=True)], new_edits=False
    )
    assert (await store.open_revs("d", None))[0]["ok"]["_deleted"] is True
    assert [row["id"] for row in (await store.all_docs()).rows] == []


async def test_a_live_leaf_beats_a_longer_deleted_branch(store: DocumentStore) -> None:
    await store.bulk_docs(
        [
            replicated("d", [rev(1, "1"), rev(2, "2"), rev(3, "3")], deleted=True),
            replicated("d", [rev(1, "1"), rev(2, "a")], v="live"),
        ],
        new_edits=False,
    )
    doc = await store.get("d", options=ReadOptions(deleted_conflicts=True))
    assert doc["_rev"] == rev(2, "a")
    assert doc["_deleted_conflicts"] == [rev(3, "3")]


async def test_the_higher_generation_wins(store: DocumentStore) -> None:
    await store.bulk_docs(
        [
            replicated("d", [rev(1, "1"), rev(2, "f")], v="short"),
            replicated("d", [rev(1, "1"), rev(2, "2"), rev(3, "0")], v="long"),
        ],
        new_edits=False,
    )
    doc = await store.get("d", options=ReadOptions(conflicts=True))
    assert doc["v"] == "long"
    assert doc["_conflicts"] == [rev(2, "f")]


async def test_equal_generations_are_won_by_the_higher_rev_id(store: DocumentStore) -> None:
    for digit in "3a7":
        await store.bulk_docs(
            [replicated("d", [rev(1, "1"), rev(2, digit)], v=digit)], new_edits=False
        )
    doc = await store.get("d", options=ReadOptions(conflicts=True))
    assert doc["_rev"] == rev(2, "a")
    assert doc["_conflicts"] == [rev(2, "7"), rev(2, "3")]


async def test_disjoint_histories_of_one_id_are_conflicts(store: DocumentStore) -> None:
    await store.bulk_docs(
        [
            replicated("d", [rev(1, "a"), rev(2, "a")], v="a"),
            replicated("d", [rev(1, "b"), rev(2, "b")], v="b"),
        ],
        new_edits=False,
    )
    doc = await store.get("d", options=ReadOptions(conflicts=True))
    assert doc["_rev"] == rev(2, "b")
    assert doc["_conflicts"] == [rev(2, "a")]


async def test_replicated_history_is_stemmed_to_revs_limit(store: DocumentStore) -> None:
    await store.set_revs_limit(3)
    path = [rev(n, str(n)) for n in range(1, 8)]
    await store.bulk_docs([replicated("d", path, v=7)], new_edits=False)
    doc = await store.get("d", options=ReadOptions(revs=True, revs_info=True))
    assert doc["_rev"] == rev(7, "7")
    assert path_of(doc) == [rev(7, "7"), rev(6, "6"), rev(5, "5")]
    assert len(doc["_revs_info"]) == 3


async def test_stemming_keeps_every_leaf(store: DocumentStore) -> None:
    await store.set_revs_limit(2)
    long_path = [rev(n, str(n)) for n in range(1, 7)]
    await store.bulk_docs(
        [
            replicated("d", long_path, v="long"),
            replicated("d", [rev(1, "1"), rev(2, "b")], v="short"),
        ],
        new_edits=False,
    )
    assert await leaves(store, "d") == {rev(6, "6"), rev(2, "b")}
    doc = await store.get("d", options=ReadOptions(conflicts=True))
    assert doc["_rev"] == rev(6, "6")
    assert doc["_conflicts"] == [rev(2, "b")]


# --- laws ---------------------------------------------------------------------------------------

# Token paths (see ``helpers``): an upper-case last token marks the path's leaf as a deletion.
TOKENS = st.sampled_from("abAB")
PATHS = st.lists(st.lists(TOKENS, min_size=0, max_size=4), min_size=1, max_size=6)


def doc_for(doc_id: str, tokens: list[str]) -> dict[str, Any]:
    deleted = bool(tokens) and tokens[-1].isupper()
    fields = {} if deleted else {"tokens": "/".join(tokens)}
    return replicated(doc_id, rev_path(tokens), deleted=deleted, **fields)


def model_leaves(paths: list[list[str]]) -> list[tuple[str, bool]]:
    """Leaves (rev, deleted) in CouchDB's order: live first, higher generation, higher id."""
    out = [(rev_of(p), bool(p) and p[-1].isupper()) for p in leaf_paths(paths)]
    out.sort(key=lambda x: (not x[1], gen(x[0]), x[0].split("-", 1)[1]), reverse=True)
    return out


@STORE_EXAMPLES
@given(paths=PATHS)
async def test_winner_and_conflicts_follow_couchdb_order(
    store: DocumentStore, paths: list[list[str]]
) -> None:
    doc_id = uuid.uuid4().hex
    for tokens in paths:
        results = await store.bulk_docs([doc_for(doc_id, tokens)], new_edits=False)
        assert all(r.ok for r in results)
    expected = model_leaves(paths)
    assert await leaves(store, doc_id) == {r for r, _ in expected}
    winner, winner_deleted = expected[0]
    if winner_deleted:
        page = await store.all_docs()
        assert doc_id not in [row["id"] for row in page.rows]
        return
    doc = await store.get(doc_id, options=ReadOptions(conflicts=True, deleted_conflicts=True))
    assert doc["_rev"] == winner
    assert doc.get("_conflicts", []) == [r for r, d in expected[1:] if not d]
    assert doc.get("_deleted_conflicts", []) == [r for r, d in expected[1:] if d]


@STORE_EXAMPLES
@given(paths=PATHS, data=st.data())
async def test_merging_is_independent_of_arrival_order(
    store: DocumentStore, paths: list[list[str]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(paths))
    one, other = uuid.uuid4().hex, uuid.uuid4().hex
    await store.bulk_docs([doc_for(one, p) for p in paths], new_edits=False)
    for p in shuffled:
        await store.bulk_docs([doc_for(other, p)], new_edits=False)
    assert await leaves(store, one) == await leaves(store, other)
    options = ReadOptions(revs=True, conflicts=True, deleted_conflicts=True)
    a = await store.open_revs(one, None, options)
    b = await store.open_revs(other, None, options)
    strip = [{k: v for k, v in item["ok"].items() if k != "_id"} for item in a]
    strip_b = [{k: v for k, v in item["ok"].items() if k != "_id"} for item in b]
    assert sorted(strip, key=lambda d: d["_rev"]) == sorted(strip_b, key=lambda d: d["_rev"])
