"""``replicate`` between two stores of every backend (embedded, our server, the real CouchDB,
pouchdb-server), and across backends: the target ends holding what the source holds.

The corpus has what replication must carry: edits, deletions, a conflict grafted with
``new_edits=false``, a resolved conflict, attachments (compressible and binary, one added in a
later revision), a design document and awkward ids; and a ``_local`` document, which must stay
home. Every document is compared in full: the winner, ``_conflicts``, ``_deleted_conflicts`` and
every leaf with its ``_revisions`` and attachments (digests included).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import StoreFactory
from couch import CouchServer
from hypothesis import given, settings
from hypothesis import strategies as st
from peers import fresh_database
from store.helpers import BIN, backend, inline, replicated, rev

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.replication import (
    Progress,
    ReplicationOptions,
    replicate,
    replicate_continuously,
)
from brainlink_docs.store.api import DocumentStore, ReadOptions, iter_changes
from brainlink_docs.store.sqlite import SqliteStore

TEXT = b"a transcript line, compressible. " * 50
PNG = bytes(range(256)) * 4
AWKWARD = ["a/b", "sp ace", "100%", "plus+sign", "caf\u00e9", "\U0001f389 party"]
STATE_READ = ReadOptions(revs=True, attachments=True)


async def write_corpus(store: DocumentStore) -> list[str]:
    """The corpus; answers the ids written (the ``_local`` one aside)."""
    ids = [f"msg-{i:03d}" for i in range(40)] + AWKWARD
    revs = {}
    for doc_id in ids:
        revs[doc_id] = (await store.put({"_id": doc_id, "text": f"hello {doc_id}"})).rev
    for doc_id in ids[:10]:  # edited twice
        for n in (1, 2):
            body = {"_id": doc_id, "_rev": revs[doc_id], "text": f"edit {n}"}
            revs[doc_id] = (await store.put(body)).rev
    for doc_id in ids[10:14]:
        await store.delete(doc_id, revs[doc_id])
    with_atts = {
        "_id": "with-atts",
        "_attachments": {"t.txt": inline(TEXT, "text/plain")},
    }
    first = (await store.put(with_atts)).rev
    later = await store.get("with-atts")
    later["_attachments"]["p.png"] = inline(PNG, "image/png")
    await store.put({**later, "_rev": first})
    await store.put({"_id": "_design/app", "views": {"by": {"map": "function(d){emit(d._id)}"}}})
    branch = replicated(
        "msg-020",
        [revs["msg-020"], rev(2, "b")],
        text="offline edit",
        _attachments={"b.bin": {**inline(b"branch bytes", BIN), "revpos": 2}},
    )
    resolved = replicated("msg-021", [revs["msg-021"], rev(2, "c")], text="loser")
    assert all(r.ok for r in await store.bulk_docs([branch, resolved], new_edits=False))
    await store.delete("msg-021", rev(2, "c"))
    await store.put({"_id": "_local/draft", "text": "stays home"})
    return [*ids, "with-atts", "_design/app"]


async def state(store: DocumentStore) -> dict[str, Any]:
    """Every document: the winner with its conflicts, and every leaf in full."""
    out: dict[str, Any] = {}
    async for change in iter_changes(store):
        leaves = await store.open_revs(change.id, None, STATE_READ)
        try:
            winner = await store.get(
                change.id, options=ReadOptions(conflicts=True, deleted_conflicts=True)
            )
        except NotFound:
            winner = {"deleted": True}
        out[change.id] = {
            "winner": {k: winner.get(k) for k in ("_rev", "_conflicts", "_deleted_conflicts")},
            "leaves": sorted((leaf["ok"] for leaf in leaves), key=lambda d: d["_rev"]),
        }
    return out


async def assert_local_stayed_home(target: DocumentStore) -> None:
    with pytest.raises(NotFound):
        await target.get("_local/draft")


def without_revpos(snapshot: dict[str, Any]) -> dict[str, Any]:
    """pouchdb-server gives an attachment written with ``new_edits=false`` the generation of the
    revision that brought it as ``revpos``, whatever revpos it carries (PouchDB's rule)."""
    for doc in snapshot.values():
        for leaf in doc["leaves"]:
            for att in (leaf.get("_attachments") or {}).values():
                att.pop("revpos", None)
    return snapshot


def assert_same(
    target: dict[str, Any], source: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    if "pouchdb" in backend(request):
        target, source = without_revpos(target), without_revpos(source)
    assert target == source


async def test_replication_copies_every_revision_tree_and_attachment(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    source, target = await store_factory("source"), await store_factory("target")
    ids = await write_corpus(source)
    result = await replicate(source, target)
    expected = await state(source)
    assert sorted(expected) == sorted(ids)
    assert_same(await state(target), expected, request)
    await assert_local_stayed_home(target)
    assert result.stats["doc_write_failures"] == 0, result.failures
    assert result.stats["docs_written"] == result.stats["missing_found"] > 0


async def test_a_second_run_resumes_from_its_checkpoint(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    source, target = await store_factory("source"), await store_factory("target")
    await write_corpus(source)
    first = await replicate(source, target, ReplicationOptions(batch_size=7))
    again = await replicate(source, target)
    assert again.no_changes
    assert again.start_last_seq == first.source_last_seq
    doc = await source.get("msg-030")
    await source.put({**doc, "text": "after the first run"})
    await source.put({"_id": "new-one"})
    third = await replicate(source, target)
    assert third.stats["docs_read"] == third.stats["docs_written"] == 2
    assert_same(await state(target), await state(source), request)


async def test_doc_ids_replicate_only_those_documents(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    source, target = await store_factory("source"), await store_factory("target")
    await write_corpus(source)
    result = await replicate(source, target, ReplicationOptions(doc_ids=("msg-001", "with-atts")))
    target_state = await state(target)
    assert sorted(target_state) == ["msg-001", "with-atts"]
    source_state = await state(source)
    assert_same(target_state, {k: source_state[k] for k in target_state}, request)
    assert result.stats["docs_written"] == 2


async def test_a_selector_replicates_only_the_documents_it_matches(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    source, target = await store_factory("source"), await store_factory("target")
    await write_corpus(source)
    await source.bulk_docs(
        [{"_id": f"ws-{n}", "type": "workspace", "owner": n % 2} for n in range(6)]
    )
    mine = ReplicationOptions(selector={"type": "workspace", "owner": 1}, batch_size=2)
    result = await replicate(source, target, mine)
    target_state = await state(target)
    assert sorted(target_state) == ["ws-1", "ws-3", "ws-5"]
    source_state = await state(source)
    assert_same(target_state, {k: source_state[k] for k in target_state}, request)
    assert result.stats["docs_written"] == 3
    # Another filter is another replication: its own id, its own checkpoints.
    theirs = await replicate(source, target, ReplicationOptions(selector={"owner": 0}))
    assert theirs.rep_id != result.rep_id
    assert theirs.start_last_seq == "0"


def test_only_one_filter_per_replication_as_in_couchdb() -> None:
    with pytest.raises(BadRequest, match="mutually exclusive"):
        ReplicationOptions(doc_ids=("a",), selector={"a": 1})
    with pytest.raises(BadRequest, match="designname/filtername"):
        ReplicationOptions(filter="nofilter")


async def test_a_named_filter_runs_on_the_real_couchdb_with_its_query_params(
    tmp_path: Path, couchdb: CouchServer
) -> None:
    """A device syncs one user's workspaces: CouchDB runs the filter function with the
    replication's ``query_params`` as ``req.query``. Editing the function is a new replication."""
    target = await SqliteStore.open(tmp_path / "device.sqlite")
    try:
        async with fresh_database(couchdb.url, "repl-named-filter") as source:
            by_owner = "function(doc, req) { return doc.owner === req.query.owner; }"
            await source.put({"_id": "_design/sync", "filters": {"by_owner": by_owner}})
            await source.bulk_docs([{"_id": f"ws-{n}", "owner": f"u{n % 3}"} for n in range(9)])
            options = ReplicationOptions(filter="sync/by_owner", query_params={"owner": "u2"})
            first = await replicate(source, target, options)
            assert sorted(row["id"] for row in (await target.all_docs()).rows) == [
                "ws-2",
                "ws-5",
                "ws-8",
            ]
            assert first.stats["docs_written"] == 3
            ddoc = await source.get("_design/sync")
            edited = "function(doc, req) { return doc.owner === req.query.owner && false; }"
            await source.put({**ddoc, "filters": {"by_owner": edited}})
            second = await replicate(source, target, options)
            assert second.rep_id != first.rep_id
    finally:
        await target.close()


async def test_a_named_filter_runs_on_the_embedded_store(
    tmp_path: Path,
) -> None:
    """The embedded store runs filter functions itself (it answered 501 before it could)."""
    source = await SqliteStore.open(tmp_path / "s.sqlite")
    target = await SqliteStore.open(tmp_path / "t.sqlite")
    try:
        mine = "function(d){ return d.mine === true }"
        await source.put({"_id": "_design/sync", "filters": {"mine": mine}})
        await source.bulk_docs([{"_id": "a", "mine": True}, {"_id": "b", "mine": False}])
        result = await replicate(source, target, ReplicationOptions(filter="sync/mine"))
        assert result.stats["docs_written"] == 1
        assert [c.id async for c in iter_changes(target)] == ["a"]
        with pytest.raises(NotFound):
            await replicate(source, target, ReplicationOptions(filter="sync/missing"))
    finally:
        await source.close()
        await target.close()


async def test_progress_events_count_what_the_result_counts(
    store_factory: StoreFactory,
) -> None:
    """Events arrive per batch done, their counters only grow, the checkpointed sequence is
    always one the run has finished, and the last event says what the result says."""
    source, target = await store_factory("source"), await store_factory("target")
    await write_corpus(source)
    events: list[Progress] = []
    options = ReplicationOptions(batch_size=5, batches_in_flight=3, checkpoint_interval=0.0)
    result = await replicate(source, target, options, on_progress=events.append)
    assert len(events) >= 10
    for before, after in itertools.pairwise(events):
        assert after.docs_written >= before.docs_written
        assert after.revisions_checked >= before.revisions_checked
    last = events[-1]
    assert last.status == "idle"
    assert last.checkpointed_source_seq == result.source_last_seq
    assert (last.docs_read, last.docs_written, last.doc_write_failures) == (
        result.stats["docs_read"],
        result.stats["docs_written"],
        result.stats["doc_write_failures"],
    )
    assert last.missing_revisions_found == result.stats["missing_found"]
    assert last.changes_pending == 0
    checkpointed = {e.checkpointed_source_seq for e in events}
    assert len(checkpointed) > 2  # checkpoint_interval 0: every batch done is recorded


async def test_a_document_the_target_refuses_is_counted_and_named(
    tmp_path: Path, couchdb: CouchServer
) -> None:
    """The real CouchDB refusing one document (its ``validate_doc_update`` throws): that one is
    a failure, named with CouchDB's reason; the others are written."""
    source = await SqliteStore.open(tmp_path / "s.sqlite")
    try:
        docs = [{"_id": "fine-1"}, {"_id": "bad-1", "bad": True}, {"_id": "fine-2"}]
        await source.bulk_docs(docs)
        guard = "function(doc) { if (doc.bad) { throw({forbidden: 'no bad documents'}); } }"
        async with fresh_database(couchdb.url, "repl-refusing") as target:
            await target.put({"_id": "_design/guard", "validate_doc_update": guard})
            result = await replicate(source, target)
            assert result.stats["doc_write_failures"] == 1
            assert [(f.id, f.error, f.reason) for f in result.failures] == [
                ("bad-1", "forbidden", "no bad documents")
            ]
            assert result.stats["docs_written"] == 2
            for doc_id in ("fine-1", "fine-2"):
                assert (await target.get(doc_id))["_id"] == doc_id
    finally:
        await source.close()


async def test_a_batch_the_target_refuses_whole_is_retried_to_name_the_document(
    tmp_path: Path, couchdb: CouchServer
) -> None:
    """CouchDB stores bytes said to be gzip without checking them; our store refuses such a
    document, and refuses the whole batch for it (CouchDB's rule for non-conflict errors).
    The replicator writes that batch again document by document: one failure, named."""
    target = await SqliteStore.open(tmp_path / "t.sqlite")
    try:
        async with fresh_database(couchdb.url, "repl-not-gzip") as source:
            spec = {"content_type": "text/plain", "revpos": 1, "encoding": "gzip", "data": b"no"}
            broken = replicated("broken", [rev(1, "a")], _attachments={"t.txt": spec})
            assert all(r.ok for r in await source.bulk_docs([broken], new_edits=False))
            await source.bulk_docs([{"_id": "fine-1"}, {"_id": "fine-2"}])
            result = await replicate(source, target)
        assert [(f.id, f.error) for f in result.failures] == [("broken", "bad_request")]
        assert result.stats["doc_write_failures"] == 1
        assert result.stats["docs_written"] == 2
        assert sorted(row["id"] for row in (await target.all_docs()).rows) == ["fine-1", "fine-2"]
        # Alone in its batch, it is a failure row too, not the end of the run.
        alone = await SqliteStore.open(tmp_path / "alone.sqlite")
        try:
            async with fresh_database(couchdb.url, "repl-not-gzip-alone") as source:
                assert all(r.ok for r in await source.bulk_docs([broken], new_edits=False))
                result = await replicate(source, alone)
            assert [(f.id, f.error) for f in result.failures] == [("broken", "bad_request")]
            assert result.stats["doc_write_failures"] == 1
        finally:
            await alone.close()
    finally:
        await target.close()


# --- across backends ----------------------------------------------------------------------------


Opener = Callable[[str], Any]


async def test_embedded_and_real_couchdb_replicate_both_ways_keeping_digests(
    tmp_path: Path, couchdb: CouchServer
) -> None:
    """Embedded → CouchDB → a fresh embedded store: CouchDB ends as our store is, gzip digests
    and all, and so does the copy that came back."""
    device = await SqliteStore.open(tmp_path / "device.sqlite")
    back = await SqliteStore.open(tmp_path / "back.sqlite")
    try:
        await write_corpus(device)
        async with fresh_database(couchdb.url, "repl-embedded-couch") as remote:
            pushed = await replicate(device, remote)
            assert pushed.stats["doc_write_failures"] == 0, pushed.failures
            device_state = await state(device)
            assert await state(remote) == device_state
            await assert_local_stayed_home(remote)
            pulled = await replicate(remote, back)
            assert pulled.stats["doc_write_failures"] == 0, pulled.failures
            assert await state(back) == device_state
            stub = (await remote.get("with-atts", options=ReadOptions(att_encoding_info=True)))[
                "_attachments"
            ]["t.txt"]
            assert stub["encoding"] == "gzip"
            assert (
                stub["digest"] == (await device.get("with-atts"))["_attachments"]["t.txt"]["digest"]
            )
    finally:
        await device.close()
        await back.close()


# --- laws ---------------------------------------------------------------------------------------

edits = st.lists(
    st.tuples(st.sampled_from("abcd"), st.sampled_from(["put", "delete", "branch"])),
    min_size=1,
    max_size=25,
)


pipelines = st.builds(
    ReplicationOptions,
    batch_size=st.integers(min_value=1, max_value=5),
    batches_in_flight=st.integers(min_value=1, max_value=4),
    checkpoint_interval=st.sampled_from([0.0, 1.0]),
)


@settings(max_examples=25, deadline=None)
@given(edits, pipelines)
def test_replication_converges_whatever_the_history_batches_and_pipelining(
    tmp_path_factory: pytest.TempPathFactory,
    history: list[tuple[str, str]],
    options: ReplicationOptions,
) -> None:
    asyncio.run(_converges(tmp_path_factory.mktemp("law"), history, options))


async def _converges(
    directory: Path, history: list[tuple[str, str]], options: ReplicationOptions
) -> None:
    source = await SqliteStore.open(directory / "s.sqlite")
    target = await SqliteStore.open(directory / "t.sqlite")
    try:
        for n, (doc_id, action) in enumerate(history):
            await _apply(source, doc_id, action, n)
            if n % 7 == 3:  # replicate part-way, so later runs are incremental
                await replicate(source, target, options)
        done = await replicate(source, target, options)
        assert await state(target) == await state(source)
        # Caught up, the run checkpointed the source's last sequence: nothing is left to check.
        assert done.source_last_seq == (await source.changes()).last_seq
        again = await replicate(source, target, options)
        assert again.no_changes
    finally:
        await source.close()
        await target.close()


async def _apply(store: DocumentStore, doc_id: str, action: str, n: int) -> None:
    try:
        current = await store.get(doc_id)
    except NotFound:
        current = None
    if action == "put" or current is None:
        body: dict[str, Any] = {"_id": doc_id, "n": n}
        if current is not None:
            body["_rev"] = current["_rev"]
        if n % 3 == 0:
            body["_attachments"] = {"n.txt": inline(str(n).encode() * 40, "text/plain")}
        await store.put(body)
    elif action == "delete":
        await store.delete(doc_id, current["_rev"])
    else:
        gen = int(current["_rev"].split("-")[0]) + 1
        leaf = f"{gen}-{base64.b16encode(f'{doc_id}{n}'.encode()).decode().lower()[:32]:0<32}"
        branch = replicated(doc_id, [current["_rev"], leaf], n=n, device="other")
        assert all(r.ok for r in await store.bulk_docs([branch], new_edits=False))


# --- continuous -----------------------------------------------------------------------------------

# A write on the source must reach the target well within this (it takes milliseconds).
LIVE_DEADLINE_S = 10.0


async def wait_for_doc(store: DocumentStore, doc_id: str, rev: str | None) -> float:
    """Seconds until ``store`` holds ``doc_id`` at ``rev`` (fails past the deadline)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < LIVE_DEADLINE_S:
        try:
            if (await store.get(doc_id))["_rev"] == rev:
                return loop.time() - began
        except NotFound:
            pass
        await asyncio.sleep(0.005)
    raise AssertionError(f"{doc_id}@{rev} did not arrive within {LIVE_DEADLINE_S}s")


async def test_continuous_replication_carries_each_new_write_until_cancelled(
    store_factory: StoreFactory, request: pytest.FixtureRequest
) -> None:
    source, target = await store_factory("source"), await store_factory("target")
    await write_corpus(source)
    job = asyncio.create_task(
        replicate_continuously(source, target, ReplicationOptions(batch_size=50))
    )
    try:
        await wait_for_doc(target, "with-atts", (await source.get("with-atts"))["_rev"])
        for n in range(5):
            written = await source.put({"_id": f"live-{n}", "n": n})
            await wait_for_doc(target, f"live-{n}", written.rev)
        doc = await source.get("msg-001")
        edited = await source.put({**doc, "text": "edited live"})
        await wait_for_doc(target, "msg-001", edited.rev)
        assert not job.done()
    finally:
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
    assert_same(await state(target), await state(source), request)
    # The checkpoints it left let a one-shot run start where it stopped: nothing to write. (The
    # last batch may not be checkpointed yet when the job is cancelled, since a checkpoint
    # follows its write; the next run then checks that batch again and finds it all there.)
    after = await replicate(source, target)
    assert after.stats["missing_found"] == after.stats["docs_written"] == 0
    assert after.stats["missing_checked"] <= 1
