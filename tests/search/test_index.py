"""The index follows the store: after any writes, edits and deletions, updated step by step, it
holds what an index built from scratch holds, which is every current chat message."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainlink_docs.errors import NotFound
from brainlink_docs.search import MessageSearch, index
from brainlink_docs.search.index import IDENTITY_DOC
from brainlink_docs.store.sqlite.store import SqliteStore

from .messages import message, write

WORDS = ["alpha", "beta", "gamma", "delta", "café", "épée", "zeta"]
_files = itertools.count()

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.integers(0, 5),
            st.lists(st.sampled_from(WORDS), min_size=1, max_size=4).map(" ".join),
        ),
        st.tuples(st.just("not_a_message"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("delete"), st.integers(0, 5), st.just("")),
        st.tuples(st.just("update"), st.just(0), st.just("")),
    ),
    max_size=25,
)


async def apply(store: SqliteStore, search: MessageSearch, op: tuple[str, int, str]) -> None:
    kind, n, text = op
    if kind == "update":
        await search.update()
        return
    doc_id = message("c", n, "")["_id"]
    try:
        current: dict[str, Any] | None = await store.get(doc_id)
    except NotFound:
        current = None
    rev = {"_rev": current["_rev"]} if current else {}
    if kind == "put":
        await store.put({**message(f"c{n % 2}", n, text), **rev, "_id": doc_id})
    elif kind == "not_a_message":
        await store.put({"_id": doc_id, **rev, "type": "note", "content": "alpha"})
    elif current is not None:
        await store.delete(doc_id, current["_rev"])


async def expected(store: SqliteStore) -> list[tuple[Any, ...]]:
    rows = []
    for row in (await store.all_docs()).rows:
        doc = await store.get(row["id"])
        if doc.get("type") == "chatMessage":
            rows.append((doc["_id"], doc["userId"], doc["chatId"], doc["sequence"], doc["content"]))
    return sorted(rows)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
async def test_an_index_updated_step_by_step_equals_one_built_from_scratch(
    tmp_path: Path, steps: list[tuple[str, int, str]]
) -> None:
    n = next(_files)
    store = await SqliteStore.open(tmp_path / f"db{n}.sqlite", name="db")
    search = MessageSearch(store, tmp_path / f"search{n}.sqlite")
    fresh = MessageSearch(store, tmp_path / f"fresh{n}.sqlite")
    try:
        for step in steps:
            await apply(store, search, step)
        want = await expected(store)
        assert list(await search.dump()) == want
        assert list(await fresh.dump()) == want
        for word in WORDS:
            got = await search.search(word, limit=50)
            again = await fresh.search(word, limit=50)
            assert [h.id for h in got.hits] == [h.id for h in again.hits]
    finally:
        await search.close()
        await fresh.close()
        await store.close()


async def test_an_edit_replaces_the_text(store: SqliteStore, search: MessageSearch) -> None:
    doc = message("c", 1, "first words")
    await write(store, [doc])
    assert len((await search.search("first")).hits) == 1
    current = await store.get(doc["_id"])
    await store.put({**current, "content": "second words"})
    assert (await search.search("first")).hits == []
    assert len((await search.search("second")).hits) == 1


async def test_an_updated_index_is_at_the_store_sequence(
    store: SqliteStore, search: MessageSearch
) -> None:
    await write(store, [message("c", 1, "words")])
    await search.update()
    seq = search.state.seq
    await search.update()
    assert search.state.seq == seq == (await store.info()).update_seq


async def test_the_index_resumes_where_its_file_stopped(store: SqliteStore, tmp_path: Path) -> None:
    path = tmp_path / "resume.sqlite"
    first = MessageSearch(store, path)
    await write(store, [message("c", n, f"word{n} common") for n in range(5)])
    await first.update()
    await first.close()
    await write(store, [message("c", n, f"word{n} common") for n in range(5, 8)])
    second = MessageSearch(store, path)
    try:
        assert len((await second.search("common", limit=50)).hits) == 8
    finally:
        await second.close()


async def test_a_purge_rebuilds_the_index(store: SqliteStore, search: MessageSearch) -> None:
    await write(store, [message("c", 1, "purged words"), message("c", 2, "kept words")])
    assert len((await search.search("words")).hits) == 2
    doc = await store.get(message("c", 1, "")["_id"])
    await store.purge({doc["_id"]: [doc["_rev"]]})
    page = await search.search("words")
    assert [hit.sequence for hit in page.hits] == [2]


async def test_another_database_behind_the_same_file_starts_fresh(tmp_path: Path) -> None:
    """A database deleted and re-created (here: its file removed) is not the indexed one,
    even where its sequences look alike."""
    db_path, search_path = tmp_path / "db.sqlite", tmp_path / "search.sqlite"
    store = await SqliteStore.open(db_path, name="db")
    search = MessageSearch(store, search_path)
    await write(store, [message("c", n, "old text") for n in range(3)])
    assert len((await search.search("old")).hits) == 3
    await search.close()
    await store.close()
    for suffix in ("", "-wal", "-shm"):
        await asyncio.to_thread(Path(str(db_path) + suffix).unlink, missing_ok=True)
    store = await SqliteStore.open(db_path, name="db")
    search = MessageSearch(store, search_path)
    try:
        await write(store, [message("c", n, "new text") for n in range(3)])
        assert (await search.search("old")).hits == []
        assert len((await search.search("new")).hits) == 3
        assert (await store.get(IDENTITY_DOC))["identity"] == search.state.identity
    finally:
        await search.close()
        await store.close()


async def test_a_closed_search_refuses_to_run(search: MessageSearch) -> None:
    await search.close()
    with pytest.raises(RuntimeError):
        await search.search("anything")


async def test_a_large_update_merges_segments_and_answers_alike(
    store: SqliteStore, search: MessageSearch, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index, "OPTIMIZE_AFTER", 2)
    await write(store, [message("c", n, f"word{n} common") for n in range(5)])
    assert len((await search.search("common")).hits) == 5
    await write(store, [message("c", 9, "common once more")])
    assert [hit.sequence for hit in (await search.search("once")).hits] == [9]
