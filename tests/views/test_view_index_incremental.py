"""An index kept up to date incrementally equals one built from scratch (hypothesis, stateful),
and a process killed in the middle of an index update loses no document's rows.

The state machine writes, updates and deletes documents from a small pool of ids, makes
conflicts the way replication does (``new_edits=false`` branches, whose winner may change),
purges leaves, edits the design document (a new signature, a new index) and queries now and
then, which brings the index up to date from where it was. At any step every view's rows and
reductions equal those of a brand-new index over the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from brainlink_docs.errors import NotFound
from brainlink_docs.store.api import ViewQuery
from brainlink_docs.store.sqlite import SqliteStore
from brainlink_docs.views.index.service import ViewIndexes

IDS = st.sampled_from(["a", "b", "c", "d", "e", "_design/x"])
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
VIEWS = {
    "by_v": {"map": "function(doc){ if (doc.v !== undefined) emit(doc.v, doc._id); }"},
    "pairs": {
        "map": "function(doc){ (doc.tags || []).forEach(function(t){ emit([t, doc.v], 1); }); }",
        "reduce": "_sum",
    },
}
EDITED = {"map": "function(doc){ emit(doc._id, doc.v === undefined ? 0 : 1); }", "reduce": "_count"}


async def answers(indexes: ViewIndexes, views: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, view in views.items():
        out[name] = (await indexes.query("t", name, ViewQuery(reduce=False))).to_json()
        if "reduce" in view:
            grouped = ViewQuery(group_level=1)
            out[name + "/1"] = (await indexes.query("t", name, grouped)).to_json()
            out[name + "/exact"] = (await indexes.query("t", name, ViewQuery(group=True))).to_json()
    return out


class IncrementalIndex(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.run = self.loop.run_until_complete
        self.dir = Path(tempfile.mkdtemp(prefix="incremental-"))
        self.store = self.run(SqliteStore.open(self.dir / "db.sqlite"))
        self.views: dict[str, Any] = dict(VIEWS)
        self.run(self.store.put({"_id": "_design/t", "views": self.views}))
        self.revs = 0

    async def _winner_rev(self, doc_id: str) -> str | None:
        try:
            return (await self.store.get(doc_id))["_rev"]
        except Exception:
            return None

    @rule(doc_id=IDS, value=VALUES, tags=st.lists(st.sampled_from("xyz"), max_size=3))
    def put(self, doc_id: str, value: Any, tags: list[str]) -> None:
        rev = self.run(self._winner_rev(doc_id))
        doc: dict[str, Any] = {"_id": doc_id, "v": value, "tags": tags}
        if rev:
            doc["_rev"] = rev
        self.run(self.store.bulk_docs([doc]))

    @rule(doc_id=IDS)
    def delete(self, doc_id: str) -> None:
        rev = self.run(self._winner_rev(doc_id))
        if rev:
            self.run(self.store.delete(doc_id, rev))

    @rule(doc_id=IDS, value=VALUES, depth=st.integers(1, 4))
    def replicated_branch(self, doc_id: str, value: Any, depth: int) -> None:
        self.revs += 1
        ids = [f"{self.revs:04x}{i}" for i in range(depth)]
        doc = {
            "_id": doc_id,
            "_rev": f"{depth}-{ids[0]}",
            "_revisions": {"start": depth, "ids": ids},
            "v": value,
            "tags": ["y"],
        }
        self.run(self.store.bulk_docs([doc], new_edits=False))

    @rule(doc_id=IDS)
    def purge_a_leaf(self, doc_id: str) -> None:
        try:
            leaves = self.run(self.store.open_revs(doc_id, None))
        except Exception:
            return
        revs = [leaf["ok"]["_rev"] for leaf in leaves if "ok" in leaf]
        if revs:
            self.run(self.store.purge({doc_id: revs[-1:]}))

    @precondition(lambda self: "edited" not in self.views)
    @rule()
    def edit_design(self) -> None:
        self.views = {**self.views, "edited": EDITED}
        rev = self.run(self._winner_rev("_design/t"))
        self.run(self.store.put({"_id": "_design/t", "_rev": rev, "views": self.views}))

    @rule()
    def query(self) -> None:
        self.run(answers(self.store.views, self.views))

    @rule()
    def equals_a_fresh_build(self) -> None:
        fresh_dir = Path(tempfile.mkdtemp(dir=self.dir))
        fresh = ViewIndexes(self.store, fresh_dir)
        try:
            expected = self.run(answers(fresh, self.views))
        finally:
            self.run(fresh.close())
        assert self.run(answers(self.store.views, self.views)) == expected

    def teardown(self) -> None:
        self.run(self.store.close())
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


IncrementalIndex.TestCase.settings = settings(
    max_examples=40, stateful_step_count=25, deadline=None
)
TestIncrementalIndex = IncrementalIndex.TestCase


# ---- a crash in the middle of an update ----

SLOW_MAP = """function(doc){
    var until = Date.now() + 1; while (Date.now() < until) {}
    emit(doc.n, doc._id);
}"""
CHILD = """
import asyncio, sys
from brainlink_docs.errors import NotFound
from brainlink_docs.store.api import ViewQuery
from brainlink_docs.store.sqlite import SqliteStore
from brainlink_docs.views.index import index

index.COMMIT_DOCS = 1000  # several commits within this small build

async def main():
    store = await SqliteStore.open(sys.argv[1])
    print("started", flush=True)
    await store.query_view("slow", "by_n", ViewQuery(limit=1))

asyncio.run(main())
"""
CRASH_DOCS = 3000


async def _seed(path: Path) -> None:
    store = await SqliteStore.open(path)
    docs = [{"_id": f"doc{i:05d}", "n": i % 97} for i in range(CRASH_DOCS)]
    await store.bulk_docs(docs)
    await store.put({"_id": "_design/slow", "views": {"by_n": {"map": SLOW_MAP}}})
    await store.close()


async def _answers_after_crash(path: Path) -> tuple[dict[str, Any], dict[str, Any], int]:
    store = await SqliteStore.open(path)
    try:
        index_files = await asyncio.to_thread(
            lambda: list(Path(str(path) + ".views").glob("*.sqlite"))
        )
        partial = (await store.query_view("slow", "by_n", ViewQuery(update="false"))).total_rows
        resumed = (await store.query_view("slow", "by_n")).to_json()
        fresh = ViewIndexes(store, Path(tempfile.mkdtemp(dir=path.parent)))
        try:
            rebuilt = (await fresh.query("slow", "by_n", ViewQuery())).to_json()
        finally:
            await fresh.close()
        assert index_files, "the killed process had created its index file"
        return resumed, rebuilt, partial or 0
    finally:
        await store.close()


def _wait_for_a_committed_batch(directory: Path, timeout: float = 60.0) -> None:
    """Until the child's index has committed its first batch (of three, ~1 s each)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for file in directory.glob("*.sqlite"):
            with (
                contextlib.suppress(sqlite3.Error),
                contextlib.closing(sqlite3.connect(f"file:{file}?mode=ro", uri=True)) as conn,
            ):
                if conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone():
                    return
        time.sleep(0.02)
    raise AssertionError("the child never committed a batch")


def test_an_update_killed_midway_resumes_without_losing_rows(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    asyncio.run(_seed(path))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"started"
        _wait_for_a_committed_batch(Path(str(path) + ".views"))
        child.send_signal(signal.SIGKILL)
        child.wait()
    resumed, rebuilt, partial = asyncio.run(_answers_after_crash(path))
    assert 0 < partial < CRASH_DOCS, "the kill landed mid-build (else this test tests nothing)"
    assert resumed == rebuilt
    assert resumed["total_rows"] == CRASH_DOCS


async def test_a_design_document_deleted_while_its_index_builds(tmp_path: Path) -> None:
    """The query in flight finishes (its rows or CouchDB's 404), nothing hangs or breaks, the
    next query is 404 ``deleted``, and ``_view_cleanup`` then removes the orphaned index."""
    store = await SqliteStore.open(tmp_path / "db.sqlite")
    try:
        await store.bulk_docs([{"_id": f"doc{i:05d}", "n": i} for i in range(3000)])
        design = {"_id": "_design/slow", "views": {"by_n": {"map": SLOW_MAP}}}
        rev = (await store.put(design)).rev
        assert rev is not None
        query = asyncio.ensure_future(store.query_view("slow", "by_n", ViewQuery(limit=1)))
        await asyncio.sleep(0.3)
        await store.delete("_design/slow", rev)
        outcome = (await asyncio.gather(query, return_exceptions=True))[0]
        assert isinstance(outcome, NotFound) or outcome.total_rows == 3000
        with pytest.raises(NotFound) as gone:
            await store.query_view("slow", "by_n")
        assert gone.value.reason == "deleted"
        index_dir = Path(str(tmp_path / "db.sqlite") + ".views")
        assert await asyncio.to_thread(lambda: list(index_dir.glob("*.sqlite")))
        await store.view_cleanup()
        assert not await asyncio.to_thread(lambda: list(index_dir.glob("*.sqlite")))
    finally:
        await store.close()
