"""Contract: database info, ``revs_limit`` and compaction.

CouchDB's GET /db: ``doc_count`` counts documents whose winner is live, ``doc_del_count`` those
whose winner is deleted; ``_local`` docs count in neither. ``revs_limit`` (default 1000) bounds
each branch's remembered history (stemmed on write). Compaction keeps the revision tree and
every leaf, but drops the bodies of non-leaf revisions (they read as ``missing``).
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from brainlink_docs import errors
from brainlink_docs.store.api import AllDocsQuery, ChangesQuery, DocumentStore, ReadOptions

from .helpers import COUCHDB, backend, edits, gen, inline

# --- info ---------------------------------------------------------------------------------------


async def test_info_of_an_empty_database(store: DocumentStore) -> None:
    info = await store.info()
    # "testdb" (the shared fixture's name; on CouchDB with a suffix that makes it unique).
    assert info.db_name == store.name
    assert store.name.startswith("testdb")
    assert info.doc_count == 0
    assert info.doc_del_count == 0
    assert isinstance(info.update_seq, str)
    assert min(info.sizes.file, info.sizes.active, info.sizes.external) >= 0


async def test_counts_follow_creates_and_deletes(store: DocumentStore) -> None:
    results = await store.bulk_docs([{"_id": i} for i in "abcd"])
    await store.put({"_id": "_design/app"})
    for r in results[:2]:
        assert r.rev is not None
        await store.delete(r.id, r.rev)
    info = await store.info()
    assert info.doc_count == 3
    assert info.doc_del_count == 2


async def test_recreating_moves_a_doc_back_to_doc_count(store: DocumentStore) -> None:
    (first,) = await edits(store, "a", 1)
    await store.delete("a", first)
    await store.put({"_id": "a"})
    info = await store.info()
    assert (info.doc_count, info.doc_del_count) == (1, 0)


async def test_a_conflicted_doc_counts_once(store: DocumentStore) -> None:
    await store.bulk_docs(
        [{"_id": "c", "_rev": "1-" + d * 32} for d in "abc"],
        new_edits=False,
    )
    info = await store.info()
    assert (info.doc_count, info.doc_del_count) == (1, 0)


async def test_local_docs_are_not_counted(store: DocumentStore) -> None:
    await store.put({"_id": "_local/x"})
    info = await store.info()
    assert (info.doc_count, info.doc_del_count) == (0, 0)


async def test_update_seq_is_the_feeds_head(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    info = await store.info()
    assert (await store.changes(ChangesQuery(since=info.update_seq))).results == []
    await store.put({"_id": "b"})
    later = await store.info()
    assert later.update_seq != info.update_seq
    rows = (await store.changes(ChangesQuery(since=info.update_seq))).results
    assert [c.id for c in rows] == ["b"]


async def test_file_size_is_reported_for_file_databases(
    store: DocumentStore, request: pytest.FixtureRequest
) -> None:
    if backend(request) != "sqlite":
        pytest.skip("only file-backed databases have a file size")
    await store.put({"_id": "a", "blob": "x" * 10_000})
    assert (await store.info()).sizes.file > 0


async def test_external_size_grows_with_content(store: DocumentStore) -> None:
    before = (await store.info()).sizes
    await store.put({"_id": "big", "blob": "y" * 100_000})
    after = (await store.info()).sizes
    assert after.external >= before.external + 50_000
    assert after.active > before.active


# --- revs_limit ---------------------------------------------------------------------------------


async def test_revs_limit_defaults_to_1000(store: DocumentStore) -> None:
    assert await store.get_revs_limit() == 1000


async def test_revs_limit_can_be_set(store: DocumentStore) -> None:
    await store.set_revs_limit(7)
    assert await store.get_revs_limit() == 7


@pytest.mark.parametrize("limit", [0, -1])
async def test_revs_limit_must_be_positive(
    store: DocumentStore, limit: int, request: pytest.FixtureRequest
) -> None:
    # CouchDB 3.5 refuses it by crashing: 500 unknown_error "function_clause" (the guard of
    # couch_db:set_revs_limit), which HttpStore reads as Unavailable; we answer 400 bad_request
    # (a departure listed in the README: our server never answers a client's mistake with a 500).
    refused = errors.Unavailable if backend(request) == COUCHDB else errors.BadRequest
    with pytest.raises(refused):
        await store.set_revs_limit(limit)
    assert await store.get_revs_limit() == 1000


async def test_history_is_stemmed_to_revs_limit_on_write(store: DocumentStore) -> None:
    await store.set_revs_limit(3)
    revs = await edits(store, "a", 8)
    doc = await store.get("a", options=ReadOptions(revs=True, revs_info=True))
    assert doc["_rev"] == revs[-1]
    assert 1 <= len(doc["_revisions"]["ids"]) <= 3
    assert doc["_revisions"]["start"] == 8
    assert len(doc["_revs_info"]) <= 3
    # A stemmed-away revision is no longer part of the tree.
    assert "a" in await store.revs_diff({"a": [revs[0]]})


async def test_edits_continue_after_stemming(store: DocumentStore) -> None:
    await store.set_revs_limit(2)
    revs = await edits(store, "a", 5)
    more = await store.put({"_id": "a", "_rev": revs[-1], "n": "more"})
    assert more.rev is not None
    assert gen(more.rev) == 6


# --- compaction ---------------------------------------------------------------------------------


async def snapshot(store: DocumentStore, doc_id: str) -> dict[str, Any]:
    options = ReadOptions(revs=True, conflicts=True, deleted_conflicts=True)
    leaves = await store.open_revs(doc_id, None, ReadOptions(revs=True))
    return {
        "doc": await store.get(doc_id, options=options),
        "leaves": sorted(leaves, key=lambda item: item["ok"]["_rev"]),
    }


async def test_compaction_drops_old_bodies(store: DocumentStore) -> None:
    revs = await edits(store, "a", 3)
    assert (await store.get("a", rev=revs[0]))["n"] == 0
    await store.compact()
    for old in revs[:2]:
        with pytest.raises(errors.NotFound):
            await store.get("a", rev=old)
    assert await store.open_revs("a", [revs[0]]) == [{"missing": revs[0]}]


async def test_compaction_keeps_winner_history_and_conflicts(store: DocumentStore) -> None:
    revs = await edits(store, "a", 3)
    root = revs[0]
    await store.bulk_docs(
        [
            {
                "_id": "a",
                "_rev": "2-" + "f" * 32,
                "_revisions": {"start": 2, "ids": ["f" * 32, root.split("-", 1)[1]]},
                "side": "branch",
            },
            {
                "_id": "a",
                "_rev": "2-" + "0" * 32,
                "_deleted": True,
                "_revisions": {"start": 2, "ids": ["0" * 32, root.split("-", 1)[1]]},
            },
        ],
        new_edits=False,
    )
    before = await snapshot(store, "a")
    assert before["doc"]["_conflicts"] == ["2-" + "f" * 32]
    await store.compact()
    assert await snapshot(store, "a") == before


async def test_compaction_marks_old_revs_missing_in_revs_info(store: DocumentStore) -> None:
    revs = await edits(store, "a", 3)
    await store.compact()
    doc = await store.get("a", options=ReadOptions(revs_info=True))
    assert doc["_revs_info"] == [
        {"rev": revs[2], "status": "available"},
        {"rev": revs[1], "status": "missing"},
        {"rev": revs[0], "status": "missing"},
    ]


async def test_compaction_keeps_revs_known_to_revs_diff(store: DocumentStore) -> None:
    revs = await edits(store, "a", 3)
    await store.compact()
    assert await store.revs_diff({"a": revs}) == {}


async def test_compaction_keeps_feeds_and_tombstones(store: DocumentStore) -> None:
    await edits(store, "a", 2)
    b_revs = await edits(store, "b", 2)
    await store.delete("b", b_revs[-1])
    changes_before = (await store.changes(ChangesQuery(style="all_docs"))).results
    docs_before = await store.all_docs(AllDocsQuery(include_docs=True))
    info_before = await store.info()
    await store.compact()
    assert (await store.changes(ChangesQuery(style="all_docs"))).results == changes_before
    assert await store.all_docs(AllDocsQuery(include_docs=True)) == docs_before
    info = await store.info()
    assert (info.doc_count, info.doc_del_count) == (info_before.doc_count, 1)
    with pytest.raises(errors.NotFound) as exc:
        await store.get("b")
    assert exc.value.reason == "deleted"


async def test_compaction_is_idempotent_and_writes_continue(store: DocumentStore) -> None:
    await store.compact()
    revs = await edits(store, "a", 2)
    await store.compact()
    await store.compact()
    result = await store.put({"_id": "a", "_rev": revs[-1], "n": "after"})
    assert (await store.get("a"))["_rev"] == result.rev


async def test_compaction_keeps_leaf_attachments(store: DocumentStore) -> None:
    data = os.urandom(5000)
    first = await store.put({"_id": "a", "_attachments": {"keep": inline(data, "image/png")}})
    doc = await store.get("a")
    doc["n"] = 2
    await store.put(doc)
    await store.compact()
    assert (await store.get_attachment("a", "keep")).data == data
    with pytest.raises(errors.NotFound):
        await store.get_attachment("a", "keep", rev=first.rev)


async def test_compaction_keeps_attachments_of_losing_leaves(store: DocumentStore) -> None:
    data = os.urandom(3000)
    await store.bulk_docs(
        [
            {"_id": "c", "_rev": "1-" + "f" * 32, "v": "winner"},
            {
                "_id": "c",
                "_rev": "1-" + "0" * 32,
                "_attachments": {"only-loser": {**inline(data), "revpos": 1}},
            },
        ],
        new_edits=False,
    )
    await store.compact()
    loser = await store.get_attachment("c", "only-loser", rev="1-" + "0" * 32)
    assert loser.data == data


# --- attachments are stored once ----------------------------------------------------------------

BLOB = 256 * 1024


async def test_identical_attachments_are_stored_once(
    store: DocumentStore, request: pytest.FixtureRequest
) -> None:
    if backend(request) != "sqlite":
        pytest.skip("measured through the file size of file-backed databases")
    data = os.urandom(BLOB)  # incompressible, so size differences are real
    start = (await store.info()).sizes.file
    await store.put({"_id": "d0", "_attachments": {"f": inline(data)}})
    one = (await store.info()).sizes.file
    assert one - start >= BLOB // 2, "the first copy must show in the file size"
    for n in range(1, 6):
        await store.put({"_id": f"d{n}", "_attachments": {"f": inline(data)}})
    six = (await store.info()).sizes.file
    assert six - one < 2 * BLOB, f"five more copies grew the file by {six - one} bytes"


async def test_shared_attachment_survives_deleting_one_owner(store: DocumentStore) -> None:
    data = os.urandom(4096)
    x = await store.put({"_id": "x", "_attachments": {"f": inline(data)}})
    await store.put({"_id": "y", "_attachments": {"g": inline(data)}})
    assert x.rev is not None
    await store.delete("x", x.rev)
    await store.compact()
    assert (await store.get_attachment("y", "g")).data == data
