"""The ``_replicator`` watcher's law: whatever the history of writes and deletions, once it has
caught up, every live document has exactly one entry in the scheduler (its job, or the reason it
failed) for the replication it now describes, and a deleted document has none.

Real SQLite databases under a real watcher and scheduler; the endpoints are a port nothing
listens on, so jobs crash and wait without touching anything.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from interop.couch_replicator import wait_until

from brainlink_docs.errors import Conflict, NotFound
from brainlink_docs.replication.jobs import DocRef, Scheduler
from brainlink_docs.replication.replicator_db import REPLICATOR_DB, ReplicatorDocs
from brainlink_docs.replication.spec import parse_spec, refuse_local
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.sqlite.databases import SqliteDatabases

NOWHERE = "http://127.0.0.1:9"
# Few ids and few replications, so documents are rewritten, deleted and duplicated.
DOC_IDS = ["a", "b", "c"]
SOURCES = ["s1", "s2"]

# ("put", doc id, source index, continuous) or ("delete", doc id)
operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("put"),
            st.sampled_from(DOC_IDS),
            st.sampled_from(SOURCES),
            st.booleans(),
        ),
        st.tuples(st.just("delete"), st.sampled_from(DOC_IDS)),
    ),
    min_size=1,
    max_size=12,
)


async def _apply(store: DocumentStore, operation: tuple[object, ...]) -> None:
    """One user's write, done again over the newer revision when the watcher's own write-back
    (a duplicate marked failed) got there first, as a client does on a conflict."""
    while True:
        try:
            await _write(store, operation)
            return
        except Conflict:
            continue


async def _write(store: DocumentStore, operation: tuple[object, ...]) -> None:
    kind, doc_id = operation[0], str(operation[1])
    try:
        current = await store.get(doc_id)
    except NotFound:
        current = None
    if kind == "delete":
        if current is not None:
            await store.delete(doc_id, current["_rev"])
        return
    _, _, source, continuous = operation
    doc = {
        "_id": doc_id,
        "source": f"{NOWHERE}/{source}",
        "target": f"{NOWHERE}/target",
        "continuous": continuous,
    }
    if current is not None:
        doc["_rev"] = current["_rev"]
    await store.put(doc)


async def _run(directory: Path, history: list[tuple[object, ...]]) -> None:
    databases = SqliteDatabases(directory)
    scheduler = Scheduler()
    docs = ReplicatorDocs(databases, scheduler)
    scheduler.on_finished = docs.job_finished
    await databases.create(REPLICATOR_DB)
    docs.start()
    try:
        async with databases.use(REPLICATOR_DB) as store:
            for operation in history:
                await _apply(store, operation)

            async def caught_up() -> bool:
                return docs.since == (await store.info()).update_seq

            await wait_until(caught_up, "the watcher caught up", seconds=30)
            await _assert_one_entry_per_live_document(store, scheduler, docs)
    finally:
        await docs.stop()
        await scheduler.stop()
        await databases.close()


async def _assert_one_entry_per_live_document(
    store: DocumentStore, scheduler: Scheduler, docs: ReplicatorDocs
) -> None:
    for doc_id in DOC_IDS:
        ref = DocRef(REPLICATOR_DB, doc_id)
        job = scheduler.for_doc(ref)
        failure = docs.failures.get(doc_id)
        try:
            doc = await store.get(doc_id)
        except NotFound:
            assert job is None and failure is None, doc_id
            continue
        assert (job is None) != (failure is None), (doc_id, job, failure)
        spec = parse_spec(doc, refuse_local)
        if job is not None:
            assert job.spec == spec
            assert [j for j in scheduler.jobs.values() if j.doc == ref] == [job]
        else:
            assert failure is not None and failure.spec == spec
            assert doc["_replication_state"] == "failed"
            assert "already started" in doc["_replication_state_reason"]


@settings(max_examples=25, deadline=None)
@given(operations)
def test_the_scheduler_follows_the_replicator_documents(
    tmp_path_factory: object, history: list[tuple[object, ...]]
) -> None:
    directory = tmp_path_factory.mktemp("replicator")  # type: ignore[attr-defined]
    asyncio.run(_run(directory, history))
