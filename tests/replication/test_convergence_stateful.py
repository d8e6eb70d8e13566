"""Convergence, as a state machine: three replicas edited at random and replicated in random
directions end up holding the same documents once the full mesh is synced.

The replicas are two embedded ``SqliteStore`` files and one database on our server (an
``HttpStore``), so every step crosses both the embedded store and the HTTP API. Edits are
``put`` (a create without ``_rev``), ``update`` and ``delete`` of the winner, and conflicting
offline edits (the same document edited on two replicas between replications) on a pool of three
ids, so conflicts, deleted branches and recreations are common; ``attach`` adds attachments to
winners and ``compact`` drops old bodies. ``replicate`` runs one
``brainlink_docs.replication.replicate`` in a random direction with a small ``batch_size``,
so runs checkpoint every few changes and the next run in the same direction resumes there.

Every revision a replica acknowledges is recorded. After syncing the full mesh until a round
replicates nothing, every replica must hold the same winners (``_rev`` and ``_deleted``), the same
``_conflicts`` and ``_deleted_conflicts``, the same leaves (bodies and histories) and every
acknowledged revision (revs_limit is CouchDB's 1000, so nothing here is stemmed away). After every
step, each replica's winner is the leaf CouchDB's rule picks and its ``update_seq`` never goes back.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_api.conftest import serving
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test
from peers import fresh_database
from store.helpers import gen, inline, path_of

from brainlink_docs.errors import Conflict, NotFound
from brainlink_docs.replication import ReplicationOptions, replicate
from brainlink_docs.store.api import ChangesQuery, DocumentStore, iter_changes
from brainlink_docs.store.sqlite import SqliteStore

from .test_replicate import state

# Steps per example: enough for several edits, conflicts and partial replications between two
# full syncs; each step is real I/O on three stores, so more steps cost CI time linearly.
STEP_COUNT = 30
# Examples: a third of the profile's budget (ci 100 -> 33, nightly 2000 -> 666), since each
# example is STEP_COUNT steps of real writes and replications rather than one call.
MAX_EXAMPLES = max(1, settings.default.max_examples // 2)
# A small pool of ids, so edits on different replicas meet on the same documents.
DOC_IDS = st.sampled_from("abc")
# Few values, so two replicas sometimes make the very same edit (and so the same revision id).
VALUES = st.integers(min_value=0, max_value=3)
# Tiny batches: a run checkpoints every one to three changes, so resumption is exercised.
MAX_BATCH_SIZE = 3
BATCH_SIZES = st.integers(min_value=1, max_value=MAX_BATCH_SIZE)
EMBEDDED = ("embedded-1", "embedded-2")
SERVER = "server"
REPLICAS = (*EMBEDDED, SERVER)
# Two distinct replicas, in either order: a replication's direction or two offline editors.
PAIRS = st.permutations(REPLICAS).map(lambda names: (names[0], names[1]))
# A full-mesh round carries every revision everywhere (the last sources to run hold everything
# by then), so the round after it must be quiet; more rounds than this mean the mesh is not
# converging.
MAX_SYNC_ROUNDS = 2
# How long the module's server may take to start or stop.
SERVER_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Our server, started once for the module on a loop of its own in a thread: each example's
    machine runs its own event loop, and the server has to keep answering between them."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="stateful-server", daemon=True)
    thread.start()
    running = serving(tmp_path_factory.mktemp("server"))
    try:
        enter = asyncio.run_coroutine_threadsafe(running.__aenter__(), loop)
        server = enter.result(SERVER_TIMEOUT_S)
        try:
            yield server.authed_url
        finally:
            leave = asyncio.run_coroutine_threadsafe(running.__aexit__(None, None, None), loop)
            leave.result(SERVER_TIMEOUT_S)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(SERVER_TIMEOUT_S)
        loop.close()


def test_replicas_converge_whatever_the_edits_and_replications(
    server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    def machine() -> Convergence:
        return Convergence(server_url, tmp_path_factory.mktemp("replicas"))

    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=MAX_EXAMPLES, stateful_step_count=STEP_COUNT, deadline=None),
    )


class Convergence(RuleBasedStateMachine):
    """Three replicas, the revisions they acknowledged, and each one's last ``update_seq``."""

    def __init__(self, server_url: str, directory: Path) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.run = self.loop.run_until_complete
        self.resources = contextlib.AsyncExitStack()
        self.replicas: dict[str, DocumentStore] = {}
        for name in EMBEDDED:
            store = self.run(SqliteStore.open(directory / f"{name}.sqlite", name=name))
            self.resources.push_async_callback(store.close)
            self.replicas[name] = store
        # A fresh database per example: the server outlives the examples.
        database = fresh_database(server_url, f"stateful-{uuid.uuid4().hex[:12]}")
        self.replicas[SERVER] = self.run(self.resources.enter_async_context(database))
        self.acknowledged: dict[str, set[str]] = {}
        self.seqs = dict.fromkeys(REPLICAS, 0)
        self.steps = 0

    def teardown(self) -> None:
        try:
            self.run(self.resources.aclose())
        finally:
            self.loop.close()

    # --- edits ------------------------------------------------------------------------------

    @rule(replica=st.sampled_from(REPLICAS), doc_id=DOC_IDS, value=VALUES)
    def put(self, replica: str, doc_id: str, value: int) -> None:
        """A create without ``_rev``: new, or over a deleted winner (CouchDB extends the deleted
        leaf); over a live winner CouchDB answers 409, and so must the replica."""
        self.steps += 1
        store = self.replicas[replica]
        try:
            written = self.run(store.put({"_id": doc_id, "v": value}))
        except Conflict:
            self.run(store.get(doc_id))  # raises NotFound unless the winner is live
            return
        self.acknowledge(doc_id, written.rev)

    @rule(replica=st.sampled_from(REPLICAS), doc_id=DOC_IDS, value=VALUES)
    def update(self, replica: str, doc_id: str, value: int) -> None:
        self.steps += 1
        self.run(self.edit(replica, doc_id, {"v": value}, create=False))

    @rule(replica=st.sampled_from(REPLICAS), doc_id=DOC_IDS)
    def delete(self, replica: str, doc_id: str) -> None:
        self.steps += 1
        store = self.replicas[replica]
        winner = self.run(live_winner(store, doc_id))
        if winner is None:
            return
        self.acknowledge(doc_id, self.run(store.delete(doc_id, winner["_rev"])).rev)

    @rule(replica=st.sampled_from(REPLICAS), doc_id=DOC_IDS, value=VALUES)
    def attach(self, replica: str, doc_id: str, value: int) -> None:
        """Add (or replace) an attachment on the live winner, keeping its others as stubs:
        compressible text, so the stored gzip bytes and digests travel too."""
        self.steps += 1
        store = self.replicas[replica]
        winner = self.run(live_winner(store, doc_id))
        if winner is None:
            return
        data = f"attachment {value} of {doc_id} ".encode() * 40
        attachments = {**winner.get("_attachments", {}), f"{value}.txt": inline(data, "text/plain")}
        self.acknowledge(doc_id, self.run(store.put({**winner, "_attachments": attachments})).rev)

    @rule(replica=st.sampled_from(REPLICAS))
    def compact(self, replica: str) -> None:
        """Compaction drops the bodies of non-leaf revisions, never a revision from the tree."""
        self.steps += 1
        self.run(self.replicas[replica].compact())

    @rule(editors=PAIRS, doc_id=DOC_IDS, value=VALUES)
    def conflicting_edits(self, editors: tuple[str, str], doc_id: str, value: int) -> None:
        """Two replicas edit the same document offline (each its own winner, or a create where
        it has none): once replicated, one edit wins and the other is a conflict."""
        self.steps += 1
        for editor in editors:
            self.run(self.edit(editor, doc_id, {"v": value, "by": editor}, create=True))

    async def edit(
        self, replica: str, doc_id: str, fields: dict[str, Any], *, create: bool
    ) -> None:
        """Update the winner with ``fields``; where there is no live winner, create the document
        if ``create`` says so (a put without ``_rev``), else do nothing."""
        store = self.replicas[replica]
        winner = await live_winner(store, doc_id)
        if winner is None and not create:
            return
        body = {"_id": doc_id, **fields}
        if winner is not None:
            body["_rev"] = winner["_rev"]
        self.acknowledge(doc_id, (await store.put(body)).rev)

    def acknowledge(self, doc_id: str, rev: str | None) -> None:
        assert rev is not None
        self.acknowledged.setdefault(doc_id, set()).add(rev)

    # --- replication ------------------------------------------------------------------------

    @rule(direction=PAIRS, batch_size=BATCH_SIZES)
    def replicate(self, direction: tuple[str, str], batch_size: int) -> None:
        self.steps += 1
        self.run(self.replicate_once(*direction, batch_size))

    async def replicate_once(self, source: str, target: str, batch_size: int) -> int:
        """One run from ``source`` to ``target``; answers how many revisions the target lacked
        (``missing_found``, from the target's ``revs_diff``: zero exactly when the run had
        nothing to carry)."""
        options = ReplicationOptions(batch_size=batch_size, checkpoint_interval=0.0)
        result = await replicate(self.replicas[source], self.replicas[target], options)
        assert result.failures == [], (source, target, result.failures)
        assert result.stats["doc_write_failures"] == 0, (source, target, result.stats)
        await self.assert_target_holds_every_leaf(source, target)
        return result.stats["missing_found"]

    async def assert_target_holds_every_leaf(self, source: str, target: str) -> None:
        """A finished run leaves no revision of the source's behind: every leaf the source
        holds is in the target's tree (a leaf there, or an ancestor of one), whatever the mesh
        may later bring the target by other routes."""
        leaves = {
            change.id: change.changes
            async for change in iter_changes(self.replicas[source], ChangesQuery(style="all_docs"))
        }
        missing = await self.replicas[target].revs_diff(leaves)
        assert not missing, f"{source} -> {target} left behind {missing}"

    @rule(batch_size=BATCH_SIZES)
    def sync_all_and_compare(self, batch_size: int) -> None:
        self.steps += 1
        self.run(self.sync_and_compare(batch_size))

    async def sync_and_compare(self, batch_size: int) -> None:
        await self.sync_until_quiet(batch_size)
        snapshots = {name: await snapshot(store) for name, store in self.replicas.items()}
        first = snapshots[REPLICAS[0]]
        for name, other in snapshots.items():
            assert other == first, f"{name} differs from {REPLICAS[0]} after a full sync"
        for name, store in self.replicas.items():
            await self.assert_acknowledged_present(name, store, snapshots[name])

    async def sync_until_quiet(self, batch_size: int) -> None:
        """Replicate every ordered pair, round after round, until a round finds nothing missing."""
        for _round in range(MAX_SYNC_ROUNDS + 1):
            found = 0
            for source in REPLICAS:
                for target in REPLICAS:
                    if source != target:
                        found += await self.replicate_once(source, target, batch_size)
            if found == 0:
                return
        raise AssertionError(f"still replicating after {MAX_SYNC_ROUNDS + 1} full-mesh rounds")

    async def assert_acknowledged_present(
        self, name: str, store: DocumentStore, snap: dict[str, Any]
    ) -> None:
        """Every acknowledged revision is in a leaf's history; an acknowledged leaf also reads
        back with ``rev=``."""
        for doc_id, revs in self.acknowledged.items():
            leaves = snap["docs"].get(doc_id, {"leaves": []})["leaves"]
            history = {rev for leaf in leaves for rev in path_of(leaf)}
            lost = revs - history
            assert not lost, f"{name} lost acknowledged revisions {lost} of {doc_id!r}"
            for leaf in leaves:
                if leaf["_rev"] in revs:
                    read = await store.get(doc_id, rev=leaf["_rev"])
                    assert read["_rev"] == leaf["_rev"]

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def winner_is_the_leaf_couchdb_picks(self) -> None:
        """The winner (from ``_changes``) is a leaf, and the one CouchDB's rule picks: live
        before deleted, then the highest generation, then the highest revision id."""
        for name, store in self.replicas.items():
            for doc_id, (winner, deleted) in self.run(winners(store)).items():
                leaves = [entry["ok"] for entry in self.run(store.open_revs(doc_id, None))]
                ranked = max(leaves, key=couchdb_rank)
                assert (winner, deleted) == (ranked["_rev"], bool(ranked.get("_deleted"))), (
                    name,
                    doc_id,
                    leaves,
                )

    @invariant()
    def update_seq_only_grows(self) -> None:
        for name, store in self.replicas.items():
            seq = int(self.run(store.info()).update_seq.split("-", 1)[0])
            assert seq >= self.seqs[name], (name, seq, self.seqs[name])
            self.seqs[name] = seq

    @invariant()
    def converged_after_the_last_step(self) -> None:
        """The final sync and comparison: edits made after the last ``sync_all_and_compare``
        must converge too. Here rather than in ``teardown``, which runs after a failed step as
        well and so only closes; an example that stops early (a shrunk one) ends without it."""
        if self.steps == STEP_COUNT:
            self.run(self.sync_and_compare(MAX_BATCH_SIZE))


def couchdb_rank(leaf: dict[str, Any]) -> tuple[bool, int, str]:
    """CouchDB's winner order over leaves (couch_doc:to_doc_info): not deleted, generation, id."""
    rev = str(leaf["_rev"])
    return not leaf.get("_deleted", False), gen(rev), rev.split("-", 1)[1]


async def live_winner(store: DocumentStore, doc_id: str) -> dict[str, Any] | None:
    """The winning revision, or ``None`` where the document is missing or deleted."""
    try:
        return await store.get(doc_id)
    except NotFound:
        return None


async def winners(store: DocumentStore) -> dict[str, tuple[str, bool]]:
    """Each document's winner and whether it is deleted, as ``_changes`` reports them."""
    return {
        change.id: (change.changes[0], change.deleted)
        async for change in iter_changes(store, ChangesQuery())
    }


async def snapshot(store: DocumentStore) -> dict[str, Any]:
    """What must agree across replicas: every document in full (``state``) and every winner."""
    return {"docs": await state(store), "winners": await winners(store)}
