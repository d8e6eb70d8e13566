"""Contract: ``_local/`` documents (replication checkpoints).

CouchDB keeps them in a separate tree (``couch_db_updater:update_local_doc_revs``): no revision
tree, revisions ``0-1``, ``0-2``..., no sequence numbers, so they never appear in ``_changes``,
``_all_docs`` or ``doc_count`` and are never replicated. CouchDB 3 checks no revision on a local
write (last writer wins): a write naming ``0-N`` stores ``0-(N+1)`` whatever is stored, one naming
none stores ``0-1``, a delete removes the document whatever revision it names.
"""

from __future__ import annotations

import pytest

from brainlink_docs import errors
from brainlink_docs.store.api import AllDocsQuery, ChangesQuery, DocumentStore

from .helpers import COUCHDB, backend


async def test_first_write_is_rev_0_1(store: DocumentStore) -> None:
    result = await store.put({"_id": "_local/cp", "seq": "1"})
    assert result.ok
    assert result.id == "_local/cp"
    assert result.rev == "0-1"


async def test_get_returns_the_local_doc(store: DocumentStore) -> None:
    await store.put({"_id": "_local/cp", "seq": "1", "history": [{"a": 1}]})
    assert await store.get("_local/cp") == {
        "_id": "_local/cp",
        "_rev": "0-1",
        "seq": "1",
        "history": [{"a": 1}],
    }


async def test_updates_count_up(store: DocumentStore) -> None:
    rev = (await store.put({"_id": "_local/cp", "n": 0})).rev
    for n in range(1, 4):
        rev = (await store.put({"_id": "_local/cp", "_rev": rev, "n": n})).rev
    assert rev == "0-4"
    assert await store.get("_local/cp") == {"_id": "_local/cp", "_rev": "0-4", "n": 3}


async def test_a_stale_rev_is_no_conflict_the_write_counts_on_from_it(
    store: DocumentStore,
) -> None:
    await store.put({"_id": "_local/cp", "n": 0})
    await store.put({"_id": "_local/cp", "_rev": "0-1", "n": 1})
    again = await store.put({"_id": "_local/cp", "_rev": "0-1", "n": 2})
    assert again.rev == "0-2"
    assert await store.get("_local/cp") == {"_id": "_local/cp", "_rev": "0-2", "n": 2}
    ahead = await store.put({"_id": "_local/cp", "_rev": "0-7", "n": 3})
    assert ahead.rev == "0-8"


async def test_no_rev_on_an_existing_local_doc_overwrites_it_as_0_1(store: DocumentStore) -> None:
    await store.put({"_id": "_local/cp", "n": 0})
    await store.put({"_id": "_local/cp", "_rev": "0-1", "n": 1})
    result = await store.put({"_id": "_local/cp", "n": 2})
    assert result.rev == "0-1"
    assert await store.get("_local/cp") == {"_id": "_local/cp", "_rev": "0-1", "n": 2}


@pytest.mark.parametrize("bad", ["1-abc", "0-x", "2-5"])
async def test_a_local_rev_that_is_not_0_n_is_refused(
    store: DocumentStore, bad: str, request: pytest.FixtureRequest
) -> None:
    await store.put({"_id": "_local/cp", "n": 0})
    # CouchDB 3.5: 500 {"error": "error", "reason": "Invalid rev format"}
    # (increment_local_doc_revs), which HttpStore reads as Unavailable; ours is a 400 with the
    # same reason (a departure listed in the README).
    refused = errors.Unavailable if backend(request) == COUCHDB else errors.BadRequest
    with pytest.raises(refused) as info:
        await store.put({"_id": "_local/cp", "_rev": bad, "n": 1})
    assert info.value.reason == "Invalid rev format"
    assert (await store.get("_local/cp"))["n"] == 0


async def test_get_of_a_missing_local_doc_is_not_found(store: DocumentStore) -> None:
    with pytest.raises(errors.NotFound):
        await store.get("_local/nope")


async def test_delete_removes_the_local_doc(store: DocumentStore) -> None:
    await store.put({"_id": "_local/cp", "n": 0})
    await store.delete("_local/cp", "0-1")
    with pytest.raises(errors.NotFound):
        await store.get("_local/cp")


async def test_a_deleted_local_doc_starts_over(store: DocumentStore) -> None:
    await store.put({"_id": "_local/cp", "n": 0})
    await store.delete("_local/cp", "0-1")
    again = await store.put({"_id": "_local/cp", "n": 1})
    assert again.rev == "0-1"
    assert (await store.get("_local/cp"))["n"] == 1


async def test_delete_with_a_stale_rev_removes_the_local_doc(store: DocumentStore) -> None:
    await store.put({"_id": "_local/cp", "n": 0})
    await store.put({"_id": "_local/cp", "_rev": "0-1", "n": 1})
    result = await store.delete("_local/cp", "0-1")
    assert result.rev == "0-0"
    with pytest.raises(errors.NotFound):
        await store.get("_local/cp")


async def test_delete_of_a_missing_local_doc_is_not_found(store: DocumentStore) -> None:
    # chttpd_db opens the document before a DELETE, local or not.
    with pytest.raises(errors.NotFound):
        await store.delete("_local/nope", "0-1")


async def test_local_docs_make_no_change_rows(store: DocumentStore) -> None:
    before = (await store.info()).update_seq
    await store.put({"_id": "_local/cp", "n": 0})
    await store.put({"_id": "_local/cp", "_rev": "0-1", "n": 1})
    await store.delete("_local/cp", "0-2")
    assert (await store.changes(ChangesQuery(since=before))).results == []
    assert (await store.changes()).results == []


async def test_local_docs_are_not_in_all_docs_or_counts(store: DocumentStore) -> None:
    await store.put({"_id": "plain"})
    await store.put({"_id": "_local/cp"})
    page = await store.all_docs(AllDocsQuery(include_docs=True))
    assert [row["id"] for row in page.rows] == ["plain"]
    assert page.total_rows == 1
    info = await store.info()
    assert info.doc_count == 1
    assert info.doc_del_count == 0


async def test_local_and_plain_docs_with_the_same_suffix_are_distinct(
    store: DocumentStore,
) -> None:
    await store.put({"_id": "cp", "kind": "plain"})
    await store.put({"_id": "_local/cp", "kind": "local"})
    assert (await store.get("cp"))["kind"] == "plain"
    assert (await store.get("_local/cp"))["kind"] == "local"


async def test_local_docs_through_bulk_docs(store: DocumentStore) -> None:
    results = await store.bulk_docs([{"_id": "_local/a", "n": 1}, {"_id": "b"}])
    assert [(r.id, r.ok) for r in results] == [("_local/a", True), ("b", True)]
    assert results[0].rev == "0-1"
    assert (await store.get("_local/a"))["n"] == 1
