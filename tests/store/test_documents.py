"""Contract: single-document writes and reads (CouchDB's PUT/GET/DELETE /db/doc).

Semantics follow CouchDB 3.x: ``couch_db:update_docs`` (revision checks), ``couch_doc``
(``validate_docid``, special ``_`` members), ``chttpd_db:db_doc_req`` (404 ``missing``/``deleted``).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from conftest import StoreFactory

from brainlink_docs import errors
from brainlink_docs.store.api import DocumentStore, ReadOptions

from .helpers import COUCHDB, backend, gen

REV = re.compile(r"^[1-9][0-9]*-[0-9a-zA-Z]+$")


def body(doc: dict[str, Any]) -> dict[str, Any]:
    """The user fields of a read document (what the caller wrote)."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


@pytest.fixture
async def twin(store: DocumentStore, store_factory: StoreFactory) -> DocumentStore:
    """A second, independent store of the same backend, for cross-store determinism."""
    return await store_factory("twin")


# --- create and read -----------------------------------------------------------------------------


async def test_put_returns_the_id_and_a_first_generation_rev(store: DocumentStore) -> None:
    result = await store.put({"_id": "a", "x": 1})
    assert result.ok
    assert result.id == "a"
    assert result.rev is not None
    assert REV.match(result.rev)
    assert gen(result.rev) == 1


async def test_get_returns_the_body_with_id_and_rev(store: DocumentStore) -> None:
    result = await store.put({"_id": "a", "x": 1, "nested": {"list": [1, "two", None, True]}})
    doc = await store.get("a")
    assert doc == {
        "_id": "a",
        "_rev": result.rev,
        "x": 1,
        "nested": {"list": [1, "two", None, True]},
    }


async def test_missing_id_gets_a_generated_uuid(store: DocumentStore) -> None:
    result = await store.put({"x": 1})
    assert re.fullmatch(r"[0-9a-f]{32}", result.id)
    assert (await store.get(result.id))["x"] == 1


async def test_generated_ids_are_unique(store: DocumentStore) -> None:
    ids = {(await store.put({"n": n})).id for n in range(20)}
    assert len(ids) == 20


async def test_get_of_a_missing_doc_is_not_found_missing(store: DocumentStore) -> None:
    with pytest.raises(errors.NotFound) as info:
        await store.get("nope")
    assert info.value.reason == "missing"


async def test_ids_are_case_sensitive(store: DocumentStore) -> None:
    await store.put({"_id": "Doc", "v": "upper"})
    await store.put({"_id": "doc", "v": "lower"})
    assert (await store.get("Doc"))["v"] == "upper"
    assert (await store.get("doc"))["v"] == "lower"


@pytest.mark.parametrize(
    "doc_id",
    [
        "with space",
        "slash/in/id",
        "émoji-😀",
        "中文",
        "a" * 300,
        "_design/ddoc",
        "x" + "\u00e9" * 3,
    ],
)
async def test_any_unicode_id_round_trips(store: DocumentStore, doc_id: str) -> None:
    result = await store.put({"_id": doc_id, "v": 1})
    assert result.id == doc_id
    assert (await store.get(doc_id))["_id"] == doc_id


async def test_json_values_round_trip(store: DocumentStore) -> None:
    value = {
        "str": 'h\u00e9llo \u2603 \U0001f600 "quoted" \\ back',
        "int": 12345678901234,
        "neg": -7,
        "float": 1.5,
        "true": True,
        "false": False,
        "null": None,
        "empty_obj": {},
        "empty_list": [],
        "deep": {"a": {"b": {"c": [1, [2, [3]]]}}},
    }
    await store.put({"_id": "j", **value})
    assert body(await store.get("j")) == value


async def test_mutating_the_input_or_the_result_does_not_change_the_stored_doc(
    store: DocumentStore,
) -> None:
    doc: dict[str, Any] = {"_id": "m", "list": [1, 2], "obj": {"k": "v"}}
    await store.put(doc)
    doc["list"].append(3)
    doc["obj"]["k"] = "changed"
    read = await store.get("m")
    assert read["list"] == [1, 2]
    assert read["obj"] == {"k": "v"}
    read["list"].append(99)
    assert (await store.get("m"))["list"] == [1, 2]


# --- updates and revision checks -----------------------------------------------------------------


async def test_update_with_the_current_rev_makes_the_next_generation(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    second = await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    assert second.rev is not None
    assert gen(second.rev) == 2
    assert second.rev != first.rev
    assert await store.get("a") == {"_id": "a", "_rev": second.rev, "v": 2}


async def test_update_replaces_the_whole_body(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "old": 1, "keep": 1})
    await store.put({"_id": "a", "_rev": first.rev, "keep": 2})
    assert body(await store.get("a")) == {"keep": 2}


async def test_stale_rev_is_a_conflict(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    with pytest.raises(errors.Conflict):
        await store.put({"_id": "a", "_rev": first.rev, "v": 3})


async def test_missing_rev_on_an_existing_doc_is_a_conflict(store: DocumentStore) -> None:
    await store.put({"_id": "a", "v": 1})
    with pytest.raises(errors.Conflict):
        await store.put({"_id": "a", "v": 2})


async def test_rev_on_a_nonexistent_doc_is_a_conflict(store: DocumentStore) -> None:
    # couch_db:prep_and_validate_updates: "old revs specified but none exist, a conflict".
    with pytest.raises(errors.Conflict):
        await store.put({"_id": "ghost", "_rev": "1-0123456789abcdef0123456789abcdef"})
    with pytest.raises(errors.NotFound):
        await store.get("ghost")


async def test_rev_on_a_nonexistent_doc_in_a_written_database(
    store: DocumentStore, request: pytest.FixtureRequest
) -> None:
    await store.put({"_id": "other"})
    parent = "1-0123456789abcdef0123456789abcdef"
    if backend(request) != COUCHDB:
        # Ours (a departure listed in the README): the named revision does not exist, a conflict.
        with pytest.raises(errors.Conflict):
            await store.put({"_id": "ghost", "_rev": parent})
        with pytest.raises(errors.NotFound):
            await store.get("ghost")
        return
    # CouchDB 3.5, once the database has had a write: the document is created on top of the
    # named revision, which joins its tree as an id-only ancestor (an empty database says 409).
    result = await store.put({"_id": "ghost", "_rev": parent})
    assert result.rev is not None
    assert gen(result.rev) == 2
    doc = await store.get("ghost", options=ReadOptions(revs_info=True))
    assert doc["_revs_info"][1] == {"rev": parent, "status": "missing"}


async def test_unknown_rev_of_an_existing_doc_is_a_conflict(store: DocumentStore) -> None:
    await store.put({"_id": "a", "v": 1})
    with pytest.raises(errors.Conflict):
        await store.put({"_id": "a", "_rev": "1-0123456789abcdef0123456789abcdef", "v": 2})


async def test_a_conflict_writes_nothing(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    second = await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    with pytest.raises(errors.Conflict):
        await store.put({"_id": "a", "_rev": first.rev, "v": "lost"})
    assert await store.get("a") == {"_id": "a", "_rev": second.rev, "v": 2}
    leaves = await store.open_revs("a", None)
    assert [leaf["ok"]["_rev"] for leaf in leaves] == [second.rev]


async def test_conflict_error_has_couchdb_status_and_token(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    with pytest.raises(errors.CouchError) as info:
        await store.put({"_id": "a"})
    assert info.value.status == 409
    assert info.value.error == "conflict"


async def test_concurrent_creates_of_one_id_admit_exactly_one(store: DocumentStore) -> None:
    outcomes = await asyncio.gather(
        *(store.put({"_id": "race", "writer": n}) for n in range(8)), return_exceptions=True
    )
    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    losses = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(o, errors.Conflict) for o in losses)
    assert (await store.get("race"))["_rev"] == wins[0].rev


async def test_concurrent_updates_from_one_rev_admit_exactly_one(store: DocumentStore) -> None:
    first = await store.put({"_id": "race", "v": 0})
    outcomes = await asyncio.gather(
        *(store.put({"_id": "race", "_rev": first.rev, "v": n}) for n in range(1, 9)),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(o, errors.Conflict) for o in outcomes if isinstance(o, BaseException))


# --- deletion -----------------------------------------------------------------------------------


async def test_delete_makes_the_next_generation(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    deleted = await store.delete("a", first.rev)
    assert deleted.ok
    assert deleted.id == "a"
    assert deleted.rev is not None
    assert gen(deleted.rev) == 2


async def test_get_of_a_deleted_doc_is_not_found_deleted(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    await store.delete("a", first.rev)
    with pytest.raises(errors.NotFound) as info:
        await store.get("a")
    assert info.value.reason == "deleted"


async def test_get_of_the_deleted_rev_returns_a_tombstone(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    deleted = await store.delete("a", first.rev)
    assert await store.get("a", rev=deleted.rev) == {
        "_id": "a",
        "_rev": deleted.rev,
        "_deleted": True,
    }


async def test_delete_with_a_stale_rev_is_a_conflict(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    with pytest.raises(errors.Conflict):
        await store.delete("a", first.rev)
    assert (await store.get("a"))["v"] == 2


async def test_delete_of_a_missing_doc_is_not_found(store: DocumentStore) -> None:
    # chttpd_db:db_doc_req('DELETE') opens the doc first "to handle the 404 case".
    with pytest.raises(errors.NotFound):
        await store.delete("nope", "1-0123456789abcdef0123456789abcdef")


async def test_put_with_deleted_true_deletes(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    result = await store.put({"_id": "a", "_rev": first.rev, "_deleted": True})
    assert result.rev is not None
    assert gen(result.rev) == 2
    with pytest.raises(errors.NotFound) as info:
        await store.get("a")
    assert info.value.reason == "deleted"


async def test_recreating_a_deleted_doc_without_rev_extends_the_deleted_leaf(
    store: DocumentStore,
) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    deleted = await store.delete("a", first.rev)
    assert deleted.rev is not None
    again = await store.put({"_id": "a", "v": "again"})
    assert again.rev is not None
    assert gen(again.rev) == gen(deleted.rev) + 1
    doc = await store.get("a", options=ReadOptions(revs=True))
    assert doc["v"] == "again"
    ids = doc["_revisions"]["ids"]
    assert [f"{doc['_revisions']['start'] - i}-{h}" for i, h in enumerate(ids)] == [
        again.rev,
        deleted.rev,
        first.rev,
    ]


async def test_recreated_doc_has_no_conflicts(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    assert first.rev is not None
    await store.delete("a", first.rev)
    await store.put({"_id": "a", "v": 2})
    doc = await store.get("a", options=ReadOptions(conflicts=True, deleted_conflicts=True))
    assert "_conflicts" not in doc
    assert "_deleted_conflicts" not in doc


# --- reading old revisions -----------------------------------------------------------------------


async def test_get_with_rev_returns_that_revision(store: DocumentStore) -> None:
    first = await store.put({"_id": "a", "v": 1})
    await store.put({"_id": "a", "_rev": first.rev, "v": 2})
    # Non-leaf bodies stay readable until compaction (couch_db_updater keeps them on disk).
    assert await store.get("a", rev=first.rev) == {"_id": "a", "_rev": first.rev, "v": 1}


async def test_get_with_an_unknown_rev_is_not_found_missing(store: DocumentStore) -> None:
    await store.put({"_id": "a", "v": 1})
    with pytest.raises(errors.NotFound) as info:
        await store.get("a", rev="1-0123456789abcdef0123456789abcdef")
    assert info.value.reason == "missing"


async def test_get_with_a_rev_of_a_missing_doc_is_not_found(store: DocumentStore) -> None:
    with pytest.raises(errors.NotFound):
        await store.get("nope", rev="1-0123456789abcdef0123456789abcdef")


# --- deterministic revision ids ------------------------------------------------------------------


async def test_same_edit_on_two_stores_yields_the_same_revs(
    store: DocumentStore, twin: DocumentStore
) -> None:
    revs = []
    for db in (store, twin):
        first = await db.put({"_id": "same", "v": 1, "nested": {"k": [1, 2]}})
        second = await db.put({"_id": "same", "_rev": first.rev, "v": 2})
        assert second.rev is not None
        third = await db.delete("same", second.rev)
        revs.append((first.rev, second.rev, third.rev))
    assert revs[0] == revs[1]


async def test_different_edits_yield_different_revs(
    store: DocumentStore, twin: DocumentStore
) -> None:
    one = await store.put({"_id": "d", "v": 1})
    other = await twin.put({"_id": "d", "v": 2})
    assert one.rev != other.rev


async def test_delete_and_edit_from_one_parent_yield_different_revs(
    store: DocumentStore, twin: DocumentStore
) -> None:
    first = await store.put({"_id": "d"})
    assert first.rev is not None
    assert (await twin.put({"_id": "d"})).rev == first.rev
    deleted = await store.put({"_id": "d", "_rev": first.rev, "_deleted": True})
    edited = await twin.put({"_id": "d", "_rev": first.rev})
    assert deleted.rev != edited.rev


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("doc_id", ["_foo", "_", "_design", "_localx", "_users"])
async def test_reserved_underscore_ids_are_bad_requests(store: DocumentStore, doc_id: str) -> None:
    with pytest.raises(errors.BadRequest):
        await store.put({"_id": doc_id})


async def test_empty_id_is_a_bad_request(store: DocumentStore) -> None:
    with pytest.raises(errors.BadRequest):
        await store.put({"_id": ""})


@pytest.mark.parametrize("doc_id", [5, None, ["a"], {"a": 1}, True])
async def test_non_string_id_is_a_bad_request(store: DocumentStore, doc_id: object) -> None:
    with pytest.raises(errors.BadRequest):
        await store.put({"_id": doc_id})


async def test_design_ids_are_allowed(store: DocumentStore) -> None:
    result = await store.put({"_id": "_design/app", "views": {}})
    assert (await store.get("_design/app"))["_rev"] == result.rev


@pytest.mark.parametrize("field", ["_foo", "_bar", "_id2", "_attachment"])
async def test_unknown_special_member_is_doc_validation(store: DocumentStore, field: str) -> None:
    with pytest.raises(errors.DocValidation) as info:
        await store.put({"_id": "a", field: 1})
    assert info.value.status == 400
    assert info.value.error == "doc_validation"
    with pytest.raises(errors.NotFound):
        await store.get("a")


@pytest.mark.parametrize("rev", ["abc", "1", "x-abc", "-abc", 5, ["1-a"]])
async def test_malformed_rev_is_a_bad_request(store: DocumentStore, rev: object) -> None:
    await store.put({"_id": "a"})
    with pytest.raises(errors.BadRequest):
        await store.put({"_id": "a", "_rev": rev})


async def test_malformed_rev_on_read_is_a_bad_request(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    with pytest.raises(errors.BadRequest):
        await store.get("a", rev="not-a-rev")


async def test_read_only_meta_fields_are_ignored_on_write(store: DocumentStore) -> None:
    # couch_doc:transfer_fields drops _revs_info, _local_seq, _conflicts, _deleted_conflicts,
    # so a document read with every meta option can be written straight back.
    first = await store.put({"_id": "a", "v": 1})
    read = await store.get(
        "a",
        options=ReadOptions(revs_info=True, conflicts=True, deleted_conflicts=True, local_seq=True),
    )
    read.update({"_conflicts": [], "_deleted_conflicts": [], "_local_seq": "1", "v": 2})
    result = await store.put(read)
    assert result.rev is not None
    assert gen(result.rev) == 2
    assert await store.get("a") == {"_id": "a", "_rev": result.rev, "v": 2}
    assert first.rev != result.rev
