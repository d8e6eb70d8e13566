"""Group commit: concurrent writes share a transaction, yet each succeeds or fails alone."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from brainlink_docs.store.sqlite.engine import Engine
from brainlink_docs.store.sqlite.schema import initialize
from brainlink_docs.store.sqlite.store import SqliteStore


def _put_meta(conn: sqlite3.Connection, key: str) -> str:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 1)", (key,))
    return key


def _put_meta_then_fail(conn: sqlite3.Connection, key: str) -> str:
    conn.execute("INSERT INTO meta (key, value) VALUES (?, 1)", (key,))
    raise ValueError(f"{key} refused")


def _keys(conn: sqlite3.Connection) -> set[str]:
    return {k for (k,) in conn.execute("SELECT key FROM meta")}


async def _grouped(engine: Engine, jobs: list[tuple[object, str]]) -> list[object]:
    """Hold the writer on a bare job while ``jobs`` queue up, so they land in one group."""
    gate = threading.Event()
    blocker = asyncio.ensure_future(engine.on_writer(lambda conn: gate.wait(5)))
    await asyncio.sleep(0.05)
    tasks = [asyncio.ensure_future(engine.write(fn, key)) for fn, key in jobs]  # type: ignore[arg-type]
    await asyncio.sleep(0.05)
    gate.set()
    await blocker
    return await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("where", ["file", "memory"])
async def test_a_failing_write_rolls_back_alone_inside_a_group(tmp_path: Path, where: str) -> None:
    engine = Engine(str(tmp_path / "w.sqlite") if where == "file" else ":memory:")
    try:
        await engine.on_writer(initialize)
        results = await _grouped(
            engine, [(_put_meta, "a"), (_put_meta_then_fail, "b"), (_put_meta, "c")]
        )
        assert results[0] == "a"
        assert isinstance(results[1], ValueError)
        assert results[2] == "c"
        keys = await engine.read(_keys)
        assert {"a", "c"} <= keys
        assert "b" not in keys
    finally:
        engine.close()


async def test_later_writes_in_a_group_see_earlier_ones(tmp_path: Path) -> None:
    engine = Engine(str(tmp_path / "w.sqlite"))
    try:
        await engine.on_writer(initialize)
        results = await _grouped(engine, [(_put_meta, "x"), (_put_meta, "x")])
        assert results[0] == "x"
        assert isinstance(results[1], sqlite3.IntegrityError)
    finally:
        engine.close()


async def test_concurrent_edits_of_one_document_yield_one_winner_per_generation(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "c.sqlite")
    try:
        first = await store.put({"_id": "d", "n": 0})
        outcomes = await asyncio.gather(
            *(store.put({"_id": "d", "_rev": first.rev, "n": i}) for i in range(1, 21)),
            return_exceptions=True,
        )
        winners = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(winners) == 1
        assert all(type(o).__name__ == "Conflict" for o in outcomes if o not in winners)
        doc = await store.get("d")
        assert doc["_rev"] == winners[0].rev  # type: ignore[union-attr]
        assert doc["_rev"].startswith("2-")
    finally:
        await store.close()


async def test_many_concurrent_writers_all_land_with_distinct_sequences(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "m.sqlite", synchronous="FULL")
    try:
        results = await asyncio.gather(*(store.put({"_id": f"doc{i}"}) for i in range(200)))
        assert len({r.id for r in results}) == 200
        page = await store.changes()
        assert len(page.results) == 200
        assert len({c.seq for c in page.results}) == 200
        assert (await store.info()).doc_count == 200
    finally:
        await store.close()
