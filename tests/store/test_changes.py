"""Contract: the ``changes`` feed (CouchDB's GET /db/_changes) and ``wait_for_change``.

Each document appears once, at the sequence of its latest update (the by-seq index holds one
entry per document). ``since`` is exclusive. Sequences are opaque: tests only hand them back as
``since`` and read order from the order of rows. ``_local`` documents are not in the by-seq index.
The ``selector`` filter is Mango's (``mango_selector:match`` on the winning revision's JSON).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brainlink_docs.store.api import ChangesQuery, DocumentStore, iter_changes

from .helpers import STORE_EXAMPLES


def ids(changes: list[Any]) -> list[str]:
    return [c.id for c in changes]


async def feed(store: DocumentStore, **kwargs: Any) -> list[Any]:
    return (await store.changes(ChangesQuery(**kwargs))).results


async def current_seq(store: DocumentStore) -> str:
    return (await store.info()).update_seq


# --- rows ---------------------------------------------------------------------------------------


async def test_empty_database_has_no_changes(store: DocumentStore) -> None:
    page = await store.changes()
    assert page.results == []
    assert isinstance(page.last_seq, str)


async def test_each_write_appears_with_its_rev(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    b = await store.put({"_id": "b"})
    results = await feed(store)
    assert [(c.id, c.changes, c.deleted, c.doc) for c in results] == [
        ("a", [a.rev], False, None),
        ("b", [b.rev], False, None),
    ]
    assert all(isinstance(c.seq, str) for c in results)


async def test_one_row_per_doc_at_its_latest_seq(store: DocumentStore) -> None:
    a1 = await store.put({"_id": "a", "v": 1})
    await store.put({"_id": "b"})
    a2 = await store.put({"_id": "a", "_rev": a1.rev, "v": 2})
    results = await feed(store)
    assert ids(results) == ["b", "a"]
    assert results[1].changes == [a2.rev]


async def test_deleted_docs_appear_as_deleted(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    assert a.rev is not None
    tomb = await store.delete("a", a.rev)
    (row,) = await feed(store)
    assert row.id == "a"
    assert row.deleted
    assert row.changes == [tomb.rev]


async def test_deleted_flag_is_a_bool(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    assert a.rev is not None
    await store.put({"_id": "b"})
    await store.delete("a", a.rev)
    assert [type(c.deleted) for c in await feed(store)] == [bool, bool]


async def test_recreated_doc_is_live_again(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    assert a.rev is not None
    await store.delete("a", a.rev)
    again = await store.put({"_id": "a"})
    (row,) = await feed(store)
    assert not row.deleted
    assert row.changes == [again.rev]


async def test_include_docs_adds_the_winning_doc(store: DocumentStore) -> None:
    a = await store.put({"_id": "a", "v": 1})
    b = await store.put({"_id": "b"})
    assert b.rev is not None
    tomb = await store.delete("b", b.rev)
    results = await feed(store, include_docs=True)
    assert [c.doc for c in results] == [
        {"_id": "a", "_rev": a.rev, "v": 1},
        {"_id": "b", "_rev": tomb.rev, "_deleted": True},
    ]


async def test_local_docs_make_no_rows(store: DocumentStore) -> None:
    seq = await current_seq(store)
    local = await store.put({"_id": "_local/x", "v": 1})
    await store.put({"_id": "_local/x", "_rev": local.rev, "v": 2})
    assert await feed(store, since=seq) == []
    assert await feed(store) == []


# --- conflicts ----------------------------------------------------------------------------------

WINNER = "2-" + "b" * 32
LOSER = "2-" + "a" * 32
DEAD = "3-" + "c" * 32


async def make_conflicted(store: DocumentStore) -> None:
    """Doc ``c``: live leaves WINNER and LOSER and a longer deleted branch DEAD, root 1-1."""
    await store.bulk_docs(
        [
            {"_id": "c", "_rev": LOSER, "_revisions": {"start": 2, "ids": ["a" * 32, "1" * 32]}},
            {"_id": "c", "_rev": WINNER, "_revisions": {"start": 2, "ids": ["b" * 32, "1" * 32]}},
            {
                "_id": "c",
                "_rev": DEAD,
                "_deleted": True,
                "_revisions": {"start": 3, "ids": ["c" * 32, "d" * 32, "1" * 32]},
            },
        ],
        new_edits=False,
    )


async def test_main_only_lists_the_winning_rev(store: DocumentStore) -> None:
    await make_conflicted(store)
    (row,) = await feed(store)
    assert row.changes == [WINNER]
    assert not row.deleted


async def test_style_all_docs_lists_every_leaf_winner_first(store: DocumentStore) -> None:
    await make_conflicted(store)
    (row,) = await feed(store, style="all_docs")
    assert row.changes[0] == WINNER
    assert sorted(row.changes) == sorted([WINNER, LOSER, DEAD])


async def test_conflicts_option_adds_conflicts_to_included_docs(store: DocumentStore) -> None:
    await make_conflicted(store)
    (row,) = await feed(store, include_docs=True, conflicts=True)
    assert row.doc is not None
    assert row.doc["_rev"] == WINNER
    assert row.doc["_conflicts"] == [LOSER]
    (plain,) = await feed(store, include_docs=True)
    assert plain.doc is not None
    assert "_conflicts" not in plain.doc


# --- since, limit, descending -------------------------------------------------------------------


async def test_since_is_exclusive(store: DocumentStore) -> None:
    for i in "abcde":
        await store.put({"_id": i})
    results = await feed(store)
    for n, change in enumerate(results):
        assert ids(await feed(store, since=change.seq)) == ids(results[n + 1 :])


async def test_since_last_seq_sees_only_later_writes(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    last = (await store.changes()).last_seq
    assert await feed(store, since=last) == []
    await store.put({"_id": "b"})
    assert ids(await feed(store, since=last)) == ["b"]


async def test_last_seq_without_rows_is_the_current_seq(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    page = await store.changes(ChangesQuery(since=await current_seq(store)))
    assert page.results == []
    await store.put({"_id": "b"})
    assert ids(await feed(store, since=page.last_seq)) == ["b"]


async def test_info_update_seq_is_a_valid_since(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    seq = await current_seq(store)
    await store.put({"_id": "b"})
    assert ids(await feed(store, since=seq)) == ["b"]


async def test_an_updated_doc_moves_past_since(store: DocumentStore) -> None:
    a = await store.put({"_id": "a"})
    await store.put({"_id": "b"})
    seq = await current_seq(store)
    await store.put({"_id": "a", "_rev": a.rev})
    assert ids(await feed(store, since=seq)) == ["a"]


async def test_limit_pages_and_last_seq_resumes(store: DocumentStore) -> None:
    for i in "abcde":
        await store.put({"_id": i})
    page = await store.changes(ChangesQuery(limit=2))
    assert ids(page.results) == ["a", "b"]
    assert ids(await feed(store, since=page.last_seq)) == ["c", "d", "e"]
    assert page.pending == 3


async def test_pending_is_zero_on_the_last_page(store: DocumentStore) -> None:
    for i in "abc":
        await store.put({"_id": i})
    page = await store.changes(ChangesQuery(limit=5))
    assert ids(page.results) == ["a", "b", "c"]
    assert page.pending == 0


async def test_descending_lists_newest_first(store: DocumentStore) -> None:
    for i in "abc":
        await store.put({"_id": i})
    assert ids(await feed(store, descending=True)) == ["c", "b", "a"]
    assert ids(await feed(store, descending=True, limit=1)) == ["c"]


async def test_seqs_only_grow(store: DocumentStore) -> None:
    seen: list[str] = []
    last = (await store.changes()).last_seq
    prev: dict[str, str] = {}
    for n in range(6):
        doc_id = "ab"[n % 2]
        doc: dict[str, Any] = {"_id": doc_id, "n": n}
        if doc_id in prev:
            doc["_rev"] = prev[doc_id]
        result = await store.put(doc)
        assert result.rev is not None
        prev[doc_id] = result.rev
        newer = await feed(store, since=last)
        assert ids(newer) == [doc_id]
        last = newer[0].seq
        seen.append(last)
    assert len(set(seen)) == len(seen)


# --- filters ------------------------------------------------------------------------------------


async def test_doc_ids_filters_rows(store: DocumentStore) -> None:
    for i in "abcde":
        await store.put({"_id": i})
    results = await feed(store, doc_ids=("d", "b", "zz"))
    assert ids(results) == ["b", "d"]


SELECTOR_DOCS: list[dict[str, Any]] = [
    {"_id": "d1", "type": "a", "n": 1, "nested": {"k": 1}},
    {"_id": "d2", "type": "b", "n": 5, "nested": {"k": 2}},
    {"_id": "d3", "type": "a", "n": 10},
    {"_id": "d4", "other": True},
]


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"type": "a"}, ["d1", "d3"]),
        ({"type": {"$eq": "b"}}, ["d2"]),
        ({"n": {"$gt": 1}}, ["d2", "d3"]),
        ({"n": {"$gte": 5}}, ["d2", "d3"]),
        ({"n": {"$lt": 5}}, ["d1"]),
        ({"n": {"$lte": 5}}, ["d1", "d2"]),
        # A missing field matches no operator but {"$exists": false} (mango_selector:match).
        ({"type": {"$ne": "a"}}, ["d2"]),
        ({"type": {"$in": ["b", "c"]}}, ["d2"]),
        ({"nested": {"$exists": True}}, ["d1", "d2"]),
        ({"type": {"$exists": False}}, ["d4", "gone"]),
        ({"type": "a", "n": 1}, ["d1"]),
        ({"$and": [{"type": "a"}, {"n": {"$gt": 1}}]}, ["d3"]),
        ({"$or": [{"type": "b"}, {"n": 10}]}, ["d2", "d3"]),
        ({"nested.k": 2}, ["d2"]),
        ({"nested": {"k": 1}}, ["d1"]),
        ({"nested.k": {"$gte": 1}}, ["d1", "d2"]),
        ({}, ["d1", "d2", "d3", "d4", "gone"]),
    ],
)
async def test_selector_filters_on_the_winning_doc(
    store: DocumentStore, selector: dict[str, Any], expected: list[str]
) -> None:
    results = await store.bulk_docs(SELECTOR_DOCS)
    assert all(r.ok for r in results)
    # A deleted doc is matched as {"_id", "_rev", "_deleted": true}: its old body is gone.
    gone = await store.put({"_id": "gone", "type": "a", "n": 1})
    assert gone.rev is not None
    await store.delete("gone", gone.rev)
    assert ids(await feed(store, selector=selector)) == expected


async def test_limit_counts_only_rows_that_pass_the_filter(store: DocumentStore) -> None:
    await store.bulk_docs(SELECTOR_DOCS)
    page = await store.changes(ChangesQuery(selector={"type": "a"}, limit=1))
    assert ids(page.results) == ["d1"]
    rest = await store.changes(ChangesQuery(selector={"type": "a"}, since=page.last_seq))
    assert ids(rest.results) == ["d3"]
    only = await store.changes(ChangesQuery(doc_ids=("d4", "d2"), limit=1))
    assert ids(only.results) == ["d2"]


async def test_selector_sees_the_latest_revision(store: DocumentStore) -> None:
    first = await store.put({"_id": "x", "type": "a"})
    await store.put({"_id": "x", "_rev": first.rev, "type": "b"})
    assert await feed(store, selector={"type": "a"}) == []
    assert ids(await feed(store, selector={"type": "b"})) == ["x"]


# --- wait_for_change ----------------------------------------------------------------------------


async def test_wait_for_change_returns_at_once_when_behind(store: DocumentStore) -> None:
    before = await current_seq(store)
    await store.put({"_id": "a"})
    async with asyncio.timeout(2):
        await store.wait_for_change(before)


async def test_wait_for_change_blocks_without_writes(store: DocumentStore) -> None:
    await store.put({"_id": "a"})
    seq = await current_seq(store)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await store.wait_for_change(seq)


async def test_wait_for_change_wakes_on_a_write(store: DocumentStore) -> None:
    seq = (await store.changes()).last_seq
    waiter = asyncio.create_task(store.wait_for_change(seq))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    await store.put({"_id": "a"})
    async with asyncio.timeout(5):
        await waiter
    assert ids(await feed(store, since=seq)) == ["a"]


async def test_wait_for_change_wakes_every_waiter(store: DocumentStore) -> None:
    seq = await current_seq(store)
    waiters = [asyncio.create_task(store.wait_for_change(seq)) for _ in range(3)]
    await asyncio.sleep(0.05)
    await store.bulk_docs([{"_id": "x", "_rev": "1-" + "a" * 32}], new_edits=False)
    async with asyncio.timeout(5):
        await asyncio.gather(*waiters)


async def test_local_writes_do_not_wake_waiters(store: DocumentStore) -> None:
    seq = await current_seq(store)
    waiter = asyncio.create_task(store.wait_for_change(seq))
    await asyncio.sleep(0.02)
    await store.put({"_id": "_local/x"})
    await asyncio.sleep(0.2)
    assert not waiter.done()
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter


# --- laws ---------------------------------------------------------------------------------------

OPS = st.lists(
    st.tuples(st.sampled_from(["put", "delete"]), st.sampled_from("abcdef")), max_size=25
)


@STORE_EXAMPLES
@given(ops=OPS, page_size=st.integers(1, 5))
async def test_paging_visits_every_doc_once_in_last_write_order(
    store: DocumentStore, ops: list[tuple[str, str]], page_size: int
) -> None:
    prefix = uuid.uuid4().hex
    start = await current_seq(store)
    state: dict[str, tuple[str, bool]] = {}  # id -> (rev, deleted)
    order: list[str] = []
    for action, name in ops:
        doc_id = f"{prefix}-{name}"
        rev, deleted = state.get(doc_id, (None, True))
        if action == "delete":
            if deleted:
                continue
            assert rev is not None
            result = await store.delete(doc_id, rev)
        else:
            doc: dict[str, Any] = {"_id": doc_id, "op": len(order)}
            if not deleted:
                doc["_rev"] = rev
            result = await store.put(doc)
        assert result.rev is not None
        state[doc_id] = (result.rev, action == "delete")
        if doc_id in order:
            order.remove(doc_id)
        order.append(doc_id)
    seen = [c async for c in iter_changes(store, ChangesQuery(since=start), page_size=page_size)]
    assert [(c.id, c.changes, c.deleted) for c in seen] == [
        (doc_id, [state[doc_id][0]], state[doc_id][1]) for doc_id in order
    ]
