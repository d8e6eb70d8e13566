"""Contract: what a read includes (CouchDB's GET /db/doc query options and ``open_revs``).

``_revisions``/``_revs_info``/``_conflicts``/``_deleted_conflicts``/``_local_seq`` are built by
``couch_db:doc_meta_info``; conflicts are the losing leaves in ``couch_doc:to_doc_info`` order
(live before deleted, higher generation, higher rev id). ``open_revs`` is
``couch_db:open_doc_revs`` (``latest`` walks to descendant leaves).
"""

from __future__ import annotations

from typing import Any

import pytest

from brainlink_docs import errors
from brainlink_docs.store.api import DocumentStore, ReadOptions

from .helpers import edits, path_of, replicated, rev, write


async def graft(
    store: DocumentStore, doc_id: str, path: list[str], *, deleted: bool = False, **fields: Any
) -> None:
    """Write one history (oldest first) as a replicator would: ``new_edits=False``."""
    await write(store, replicated(doc_id, path, deleted=deleted, **fields))


async def three_edits(store: DocumentStore, doc_id: str = "a") -> list[str]:
    return await edits(store, doc_id, 3, key="v")


@pytest.fixture
async def tree(store: DocumentStore) -> dict[str, str]:
    """Doc ``c``: live leaves 3-a, 2-c, 2-b and deleted leaves 4-d, 2-e under one root 1-1.

    CouchDB order: 3-a wins (live, highest generation); 2-c, 2-b are the conflicts (rev id
    descending); 4-d, 2-e the deleted conflicts (a deleted leaf never beats a live one, whatever
    its generation).
    """
    root = rev(1, "1")
    leaves = {
        "winner": rev(3, "a"),
        "conflict_hi": rev(2, "c"),
        "conflict_lo": rev(2, "b"),
        "deleted_hi": rev(4, "d"),
        "deleted_lo": rev(2, "e"),
    }
    await graft(store, "c", [root, rev(2, "9"), leaves["winner"]], v="winner")
    await graft(store, "c", [root, leaves["conflict_hi"]], v="conflict_hi")
    await graft(store, "c", [root, leaves["conflict_lo"]], v="conflict_lo")
    await graft(
        store,
        "c",
        [root, rev(2, "8"), rev(3, "8"), leaves["deleted_hi"]],
        deleted=True,
    )
    await graft(store, "c", [root, leaves["deleted_lo"]], deleted=True)
    return {"root": root, **leaves}


# --- _revisions and _revs_info -------------------------------------------------------------------


async def test_revs_lists_the_history_newest_first(store: DocumentStore) -> None:
    revs = await three_edits(store)
    doc = await store.get("a", options=ReadOptions(revs=True))
    assert doc["_revisions"]["start"] == 3
    assert path_of(doc) == list(reversed(revs))


async def test_revs_is_absent_unless_asked(store: DocumentStore) -> None:
    await three_edits(store)
    doc = await store.get("a")
    assert "_revisions" not in doc
    assert "_revs_info" not in doc


async def test_revs_of_an_old_rev_lists_its_own_history(store: DocumentStore) -> None:
    revs = await three_edits(store)
    doc = await store.get("a", rev=revs[1], options=ReadOptions(revs=True))
    assert doc["v"] == 1
    assert path_of(doc) == [revs[1], revs[0]]


async def test_revs_info_marks_each_ancestor_available(store: DocumentStore) -> None:
    revs = await three_edits(store)
    doc = await store.get("a", options=ReadOptions(revs_info=True))
    assert doc["_revs_info"] == [{"rev": r, "status": "available"} for r in reversed(revs)]


async def test_revs_info_marks_deleted_ancestors_deleted(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    tomb = await store.delete("a", first.rev)
    again = await store.put({"_id": "a", "v": 2})
    doc = await store.get("a", options=ReadOptions(revs_info=True))
    assert doc["_revs_info"] == [
        {"rev": again.rev, "status": "available"},
        {"rev": tomb.rev, "status": "deleted"},
        {"rev": first.rev, "status": "available"},
    ]


async def test_revs_info_marks_revs_known_only_by_id_missing(store: DocumentStore) -> None:
    # A replicated history names ancestors whose bodies this store never received.
    await graft(store, "r", [rev(1, "1"), rev(2, "2"), rev(3, "3")], v=3)
    doc = await store.get("r", options=ReadOptions(revs_info=True))
    assert doc["_revs_info"] == [
        {"rev": rev(3, "3"), "status": "available"},
        {"rev": rev(2, "2"), "status": "missing"},
        {"rev": rev(1, "1"), "status": "missing"},
    ]


async def test_ancestor_known_only_by_id_cannot_be_read(store: DocumentStore) -> None:
    await graft(store, "r", [rev(1, "1"), rev(2, "2")], v=2)
    with pytest.raises(errors.NotFound):
        await store.get("r", rev=rev(1, "1"))


# --- conflicts ----------------------------------------------------------------------------------


async def test_winner_is_the_highest_live_leaf(store: DocumentStore, tree: dict[str, str]) -> None:
    doc = await store.get("c")
    assert doc["_rev"] == tree["winner"]
    assert doc["v"] == "winner"


async def test_conflicts_lists_live_losers_in_couchdb_order(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    doc = await store.get("c", options=ReadOptions(conflicts=True))
    assert doc["_conflicts"] == [tree["conflict_hi"], tree["conflict_lo"]]
    assert "_deleted_conflicts" not in doc


async def test_deleted_conflicts_lists_deleted_losers_in_couchdb_order(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    doc = await store.get("c", options=ReadOptions(deleted_conflicts=True))
    assert doc["_deleted_conflicts"] == [tree["deleted_hi"], tree["deleted_lo"]]
    assert "_conflicts" not in doc


async def test_conflicts_are_absent_unless_asked(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    doc = await store.get("c")
    assert "_conflicts" not in doc
    assert "_deleted_conflicts" not in doc


async def test_conflicts_are_absent_when_there_are_none(store: DocumentStore) -> None:
    await three_edits(store)
    doc = await store.get("a", options=ReadOptions(conflicts=True, deleted_conflicts=True))
    assert "_conflicts" not in doc
    assert "_deleted_conflicts" not in doc


async def test_losing_leaf_is_readable_by_rev(store: DocumentStore, tree: dict[str, str]) -> None:
    doc = await store.get("c", rev=tree["conflict_lo"], options=ReadOptions(revs=True))
    assert doc["v"] == "conflict_lo"
    assert path_of(doc) == [tree["conflict_lo"], tree["root"]]


async def test_resolving_a_conflict_by_deleting_the_loser(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    await store.delete("c", tree["conflict_hi"])
    await store.delete("c", tree["conflict_lo"])
    doc = await store.get("c", options=ReadOptions(conflicts=True))
    assert doc["_rev"] == tree["winner"]
    assert "_conflicts" not in doc


async def test_deleting_the_winner_promotes_the_next_live_leaf(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    await store.delete("c", tree["winner"])
    doc = await store.get("c", options=ReadOptions(conflicts=True))
    assert doc["_rev"] == tree["conflict_hi"]
    assert doc["_conflicts"] == [tree["conflict_lo"]]


async def test_a_doc_whose_leaves_are_all_deleted_reads_as_deleted(
    store: DocumentStore,
) -> None:
    await graft(store, "gone", [rev(1, "1"), rev(2, "a")], deleted=True)
    await graft(store, "gone", [rev(1, "1"), rev(2, "b")], deleted=True)
    with pytest.raises(errors.NotFound) as info:
        await store.get("gone")
    assert info.value.reason == "deleted"


# --- _local_seq ---------------------------------------------------------------------------------


async def test_local_seq_is_present_when_asked_and_moves_on_update(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    before = await store.get("a", options=ReadOptions(local_seq=True))
    assert before.get("_local_seq") is not None
    assert "_local_seq" not in await store.get("a")
    await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    after = await store.get("a", options=ReadOptions(local_seq=True))
    assert after["_local_seq"] != before["_local_seq"]


# --- open_revs ----------------------------------------------------------------------------------


def by_rev(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in results:
        if "ok" in item:
            out[item["ok"]["_rev"]] = item
        else:
            out[item["missing"]] = item
    return out


async def test_open_revs_all_returns_every_leaf_including_deleted(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    results = await store.open_revs("c", None)
    assert all(set(item) == {"ok"} for item in results)
    found = by_rev(results)
    leaves = {k: v for k, v in tree.items() if k != "root"}
    assert set(found) == set(leaves.values())
    assert found[tree["winner"]]["ok"]["v"] == "winner"
    assert found[tree["conflict_lo"]]["ok"]["v"] == "conflict_lo"
    assert found[tree["deleted_hi"]]["ok"]["_deleted"] is True
    assert found[tree["deleted_lo"]]["ok"]["_id"] == "c"
    assert "_deleted" not in found[tree["winner"]]["ok"]


async def test_open_revs_all_of_a_plain_doc_is_its_winner(store: DocumentStore) -> None:
    revs = await three_edits(store)
    assert await store.open_revs("a", None) == [{"ok": {"_id": "a", "_rev": revs[2], "v": 2}}]


async def test_open_revs_answers_each_requested_rev(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    unknown = rev(7, "f")
    results = await store.open_revs("c", [tree["conflict_hi"], unknown, tree["deleted_lo"]])
    assert len(results) == 3
    found = by_rev(results)
    assert found[tree["conflict_hi"]]["ok"]["v"] == "conflict_hi"
    assert found[unknown] == {"missing": unknown}
    assert found[tree["deleted_lo"]]["ok"] == {
        "_id": "c",
        "_rev": tree["deleted_lo"],
        "_deleted": True,
    }


async def test_open_revs_of_a_missing_doc_reports_missing(store: DocumentStore) -> None:
    wanted = rev(1, "1")
    assert await store.open_revs("nope", [wanted]) == [{"missing": wanted}]


async def test_open_revs_of_a_non_leaf_returns_that_revision(store: DocumentStore) -> None:
    revs = await three_edits(store)
    results = await store.open_revs("a", [revs[0]])
    assert results == [{"ok": {"_id": "a", "_rev": revs[0], "v": 0}}]


async def test_open_revs_latest_answers_a_non_leaf_with_its_leaf(store: DocumentStore) -> None:
    revs = await three_edits(store)
    results = await store.open_revs("a", [revs[0]], ReadOptions(latest=True))
    assert results == [{"ok": {"_id": "a", "_rev": revs[2], "v": 2}}]


async def test_open_revs_latest_answers_a_branch_point_with_every_descendant_leaf(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    results = await store.open_revs("c", [tree["root"]], ReadOptions(latest=True))
    found = by_rev(results)
    assert set(found) == {v for k, v in tree.items() if k != "root"}


async def test_open_revs_latest_on_a_leaf_returns_the_leaf(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    results = await store.open_revs("c", [tree["winner"]], ReadOptions(latest=True))
    assert [item["ok"]["_rev"] for item in results] == [tree["winner"]]


async def test_open_revs_with_revs_adds_each_leafs_history(
    store: DocumentStore, tree: dict[str, str]
) -> None:
    results = await store.open_revs("c", None, ReadOptions(revs=True))
    found = by_rev(results)
    assert path_of(found[tree["winner"]]["ok"]) == [tree["winner"], rev(2, "9"), tree["root"]]
    assert path_of(found[tree["conflict_hi"]]["ok"]) == [tree["conflict_hi"], tree["root"]]
    assert path_of(found[tree["deleted_hi"]]["ok"]) == [
        tree["deleted_hi"],
        rev(3, "8"),
        rev(2, "8"),
        tree["root"],
    ]
