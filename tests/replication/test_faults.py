"""Replication through faults: dropped connections, stalls, 500s and a peer that stops
listening (``proxy.FaultProxy``, a real loopback hop), our server SIGKILLed and restarted, the
replicator's own process killed and started again. In every case the run completes (the
replicator retries ``Unavailable`` under a ``RetryPolicy``) and the target ends identical to
the source, every revision tree, conflict, deletion and attachment compared (``state``).

The corpus is ``write_corpus`` (attachments, conflicts, deletions, awkward ids) plus
``EXTRA_DOCS`` small documents, replicated ``BATCH`` changes at a time, so a fault can land in
the middle of the run: on the peer as source (``pull``) or as target (``push``), before a
request reaches it or after it did the work (a ``_bulk_docs`` the target wrote while the client
saw a reset: the nasty one, since the retry writes the batch again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from couch import CouchServer
from http_api.conftest import ADMIN, PASSWORD, serving
from hypothesis import given, settings
from hypothesis import strategies as st
from peers import free_port, fresh_database

from brainlink_docs.errors import Unavailable
from brainlink_docs.replication import (
    ReplicationOptions,
    RetryPolicy,
    replicate,
    replicate_continuously,
)
from brainlink_docs.store.api import ChangesQuery, DocumentStore
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.sqlite import SqliteStore

from .proxy import HOST, Exchange, Fault, FaultProxy, Kind, Message
from .test_command import run_cli
from .test_replicate import state, wait_for_doc, write_corpus

# Small documents beside the corpus: with BATCH changes per batch, about seven batches.
EXTRA_DOCS = 200
BATCH = 40
# Retries come quickly here: the faults are brief and the tests measure recovery, not patience.
FAST_RETRY = RetryPolicy(initial=0.02, maximum=0.25, give_up_after=30.0)
# A checkpoint after every batch (the default waits 1 s, longer than these runs): checkpoint
# writes happen mid-run, where a fault can hit them.
OPTIONS = ReplicationOptions(batch_size=BATCH, checkpoint_interval=0.0, retry=FAST_RETRY)
# Per-request timeout of the stores behind the proxy: a stall (Fault.seconds, 30 s) outlasts it
# by far, and a loaded CI machine answers a batch well within it.
CLIENT_TIMEOUT_S = 2.0
# A whole faulty run, retries included, ends well within this (it takes seconds).
RUN_DEADLINE_S = 90.0
DB = "faults"


async def seed(store: DocumentStore) -> None:
    await write_corpus(store)
    docs = [{"_id": f"small-{i:04d}", "n": i} for i in range(EXTRA_DOCS)]
    assert all(row.ok for row in await store.bulk_docs(docs))


# --- a peer behind the proxy ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Peer:
    """A database on a server (``direct``, for seeding and checking) and the same database seen
    through the proxy (``faulty``, what the replicator uses)."""

    direct: HttpStore
    faulty: HttpStore
    proxy: FaultProxy


@contextlib.asynccontextmanager
async def behind_proxy(
    server_url: str, port: int, auth: tuple[str, str], name: str
) -> AsyncIterator[Peer]:
    async with fresh_database(server_url, name) as direct, FaultProxy(HOST, port) as proxy:
        faulty = await HttpStore.open(f"{proxy.url}/{name}", auth=auth, timeout=CLIENT_TIMEOUT_S)
        try:
            yield Peer(direct, faulty, proxy)
        finally:
            await faulty.close()


@contextlib.asynccontextmanager
async def our_peer(directory: Path) -> AsyncIterator[Peer]:
    async with (
        serving(directory) as server,
        behind_proxy(
            f"http://{ADMIN}:{PASSWORD}@{HOST}:{server.port}", server.port, (ADMIN, PASSWORD), DB
        ) as peer,
    ):
        yield peer


@contextlib.asynccontextmanager
async def couch_peer(couchdb: CouchServer) -> AsyncIterator[Peer]:
    # A fresh name each time: CouchDB may still hold a just-deleted database's shard.
    name = f"{DB}-{uuid.uuid4().hex[:12]}"
    port = int(couchdb.bare_url.rsplit(":", 1)[1])
    async with behind_proxy(couchdb.url, port, couchdb.auth, name) as peer:
        yield peer


async def replicate_through(
    peer: Peer, local: DocumentStore, direction: str, faults: list[Fault]
) -> list[Fault]:
    """Seed the source, arm copies of ``faults`` and replicate through the proxy; assert the
    target ended identical to the source. Answers the armed copies (what fired)."""
    source, target = (local, peer.faulty) if direction == "push" else (peer.faulty, local)
    await seed(local if direction == "push" else peer.direct)
    armed = [replace(fault) for fault in faults]
    peer.proxy.arm(*armed)
    result = await asyncio.wait_for(replicate(source, target, OPTIONS), RUN_DEADLINE_S)
    assert result.stats["doc_write_failures"] == 0, result.failures
    remote_state = await state(peer.direct)
    assert remote_state == await state(local)
    assert len(remote_state) > EXTRA_DOCS
    return armed


def assert_all_fired(armed: list[Fault]) -> None:
    """Each fault hit the run as many times as it was armed for: the test tested something."""
    assert all(f.fired == f.times for f in armed), [(f.kind, f.path, f.fired) for f in armed]


# --- each fault at several points -----------------------------------------------------------------

BULK_DOCS, BULK_GET, CHANGES, REVS_DIFF, LOCAL = (
    "/_bulk_docs",
    "/_bulk_get",
    "/_changes",
    "/_revs_diff",
    "/_local/",
)

PUSH_CASES = {
    # The document with a gzip attachment goes as its own multipart PUT: written, unanswered.
    "drop-multipart-put-written-unanswered": [
        Fault(Kind.DROP, r"/with-atts\?", method="PUT", after_bytes=0)
    ],
    # The target never sees the batch / writes it but the client sees a reset / half an answer.
    "drop-bulk_docs-unsent": [Fault(Kind.DROP, BULK_DOCS, nth=2)],
    "drop-bulk_docs-written-unanswered": [Fault(Kind.DROP, BULK_DOCS, nth=2, after_bytes=0)],
    "drop-bulk_docs-mid-answer": [Fault(Kind.DROP, BULK_DOCS, nth=3, after_bytes=20)],
    # Half a batch, then the client is gone: nothing of it may be stored half-way.
    "cut-bulk_docs-upload": [Fault(Kind.CUT, BULK_DOCS, nth=2)],
    "cut-multipart-put-upload": [Fault(Kind.CUT, r"/with-atts\?", method="PUT")],
    "drop-revs_diff-twice": [Fault(Kind.DROP, REVS_DIFF, nth=3, times=2)],
    "stall-bulk_docs-written": [Fault(Kind.STALL, BULK_DOCS, nth=4, after_bytes=0)],
    "stall-revs_diff": [Fault(Kind.STALL, REVS_DIFF, nth=2)],
    "500-bulk_docs": [Fault(Kind.ERROR, BULK_DOCS, nth=3, times=3)],
    "500-bulk_docs-written": [Fault(Kind.ERROR, BULK_DOCS, nth=2, after_bytes=0)],
    "500-first-checkpoint-read": [Fault(Kind.ERROR, LOCAL, method="GET")],
    "drop-checkpoint-written-unanswered": [
        Fault(Kind.DROP, LOCAL, method="PUT", nth=2, after_bytes=0)
    ],
    "refuse-at-bulk_docs": [Fault(Kind.REFUSE, BULK_DOCS, nth=4, seconds=1.0)],
}
PULL_CASES = {
    "drop-changes-unsent": [Fault(Kind.DROP, CHANGES, nth=2)],
    "drop-changes-mid-answer": [Fault(Kind.DROP, CHANGES, nth=3, after_bytes=300)],
    "drop-bulk_get-mid-answer": [Fault(Kind.DROP, BULK_GET, nth=2, after_bytes=2000)],
    "stall-bulk_get-mid-answer": [Fault(Kind.STALL, BULK_GET, nth=3, after_bytes=500)],
    "stall-changes": [Fault(Kind.STALL, CHANGES, nth=4)],
    "500-bulk_get": [Fault(Kind.ERROR, BULK_GET, nth=1, times=2)],
    "500-changes": [Fault(Kind.ERROR, CHANGES, nth=3)],
    "500-source-checkpoint-written": [Fault(Kind.ERROR, LOCAL, method="PUT", after_bytes=0)],
    "drop-source-checkpoint-written-unanswered": [
        Fault(Kind.DROP, LOCAL, method="PUT", nth=3, after_bytes=0)
    ],
    "refuse-at-changes": [Fault(Kind.REFUSE, CHANGES, nth=3, seconds=1.0)],
}
CASES = [
    pytest.param(direction, faults, id=f"{direction}-{name}")
    for direction, table in (("push", PUSH_CASES), ("pull", PULL_CASES))
    for name, faults in table.items()
]


@pytest.mark.parametrize(("direction", "faults"), CASES)
async def test_replication_through_a_fault_ends_identical_on_our_server(
    tmp_path: Path, direction: str, faults: list[Fault]
) -> None:
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    try:
        async with our_peer(tmp_path / "server") as peer:
            assert_all_fired(await replicate_through(peer, local, direction, faults))
    finally:
        await local.close()


COUCH_CASES = [
    pytest.param("push", PUSH_CASES["drop-bulk_docs-written-unanswered"], id="push-drop-written"),
    pytest.param("push", PUSH_CASES["500-bulk_docs"], id="push-500-bulk_docs"),
    pytest.param("push", PUSH_CASES["cut-multipart-put-upload"], id="push-cut-multipart-put"),
    pytest.param("push", PUSH_CASES["refuse-at-bulk_docs"], id="push-refuse"),
    pytest.param("pull", PULL_CASES["drop-bulk_get-mid-answer"], id="pull-drop-bulk_get"),
    pytest.param("pull", PULL_CASES["stall-changes"], id="pull-stall-changes"),
]


@pytest.mark.parametrize(("direction", "faults"), COUCH_CASES)
async def test_replication_through_a_fault_ends_identical_on_the_real_couchdb(
    tmp_path: Path, couchdb: CouchServer, direction: str, faults: list[Fault]
) -> None:
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    try:
        async with couch_peer(couchdb) as peer:
            assert_all_fired(await replicate_through(peer, local, direction, faults))
    finally:
        await local.close()


# --- faults at random -----------------------------------------------------------------------------

# A stall outlasts the client's timeout; a refusal is brief (the run must still complete).
STALL_S = 30.0
REFUSE_S = 0.5


@st.composite
def random_fault(draw: st.DrawFn) -> Fault:
    kind = draw(st.sampled_from(list(Kind)))
    return Fault(
        kind,
        draw(st.sampled_from([BULK_DOCS, BULK_GET, CHANGES, REVS_DIFF, LOCAL])),
        nth=draw(st.integers(min_value=1, max_value=6)),
        times=draw(st.integers(min_value=1, max_value=2)),
        after_bytes=draw(st.none() | st.integers(min_value=0, max_value=3000)),
        seconds=REFUSE_S if kind is Kind.REFUSE else STALL_S,
    )


@settings(max_examples=6, deadline=None)
@given(st.sampled_from(["push", "pull"]), st.lists(random_fault(), min_size=1, max_size=3))
def test_replication_through_random_faults_ends_identical(
    tmp_path_factory: pytest.TempPathFactory, direction: str, faults: list[Fault]
) -> None:
    """Any mix of faults at any point: identical in the end. (A fault whose request never comes,
    such as a seventh ``_changes`` in a run of five, is not required to fire.)"""
    asyncio.run(_random_run(tmp_path_factory.mktemp("random"), direction, faults))


async def _random_run(directory: Path, direction: str, faults: list[Fault]) -> None:
    local = await SqliteStore.open(directory / "local.sqlite")
    try:
        async with our_peer(directory / "server") as peer:
            await replicate_through(peer, local, direction, faults)
    finally:
        await local.close()


# --- our server killed ----------------------------------------------------------------------------

# Our server's first start hashes the admin password (600k PBKDF2 rounds) and loads the package.
SERVE_START_S = 30.0
SERVE_PASSWORD = "pw-for-faults"


@dataclass(eq=False)
class ServerProcess:
    """``brainlink-docs serve`` as a process on a fixed port and data directory, so it can be
    SIGKILLed and started again where clients expect it."""

    data_dir: Path
    port: int
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://{ADMIN}:{SERVE_PASSWORD}@{HOST}:{self.port}"

    async def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "BRAINLINK_ADMIN"}
        log = _append(self.data_dir.parent / "serve.log")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "brainlink_docs.cli", "serve",
                "--data-dir", str(self.data_dir), "--port", str(self.port),
                "--admin", f"{ADMIN}:{SERVE_PASSWORD}", "--no-access-log",
                stdout=log, stderr=asyncio.subprocess.STDOUT, env=env,
            )  # fmt: skip
        finally:
            os.close(log)
        await self._until_up()

    async def _until_up(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SERVE_START_S
        while loop.time() < deadline:
            assert self.process is not None and self.process.returncode is None, "serve exited"
            with contextlib.suppress(OSError):
                _reader, writer = await asyncio.open_connection(HOST, self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"serve did not listen on {self.port} within {SERVE_START_S}s")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)

    async def wait_killed(self) -> None:
        assert self.process is not None
        assert await self.process.wait() == -signal.SIGKILL

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


def _append(path: Path) -> int:
    """A file descriptor appending to ``path`` (the server's log, kept across restarts)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


@contextlib.asynccontextmanager
async def served(directory: Path) -> AsyncIterator[ServerProcess]:
    server = ServerProcess(directory / "data", free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def after_nth(path: str, nth: int, action: Callable[[], None]) -> Callable[[Message], None]:
    """An ``on_forwarded`` hook that runs ``action`` once the ``nth`` request to ``path`` has
    reached the server (the server has it; it may or may not have acted on it)."""
    seen = 0

    def hook(request: Message) -> None:
        nonlocal seen
        if path in request.target:
            seen += 1
            if seen == nth:
                action()

    return hook


async def assert_acknowledged_writes_kept(delivered: list[Exchange], server: DocumentStore) -> None:
    """Every write whose success answer reached the client is on the restarted server: the
    revisions of each ``_bulk_docs`` answered 201, the revision each document PUT answered,
    and each ``_local`` checkpoint at least at the revision its PUT answered."""
    revisions: list[dict[str, str]] = []
    checkpoints = 0
    for exchange in delivered:
        request, response = exchange.request, exchange.response
        if response.status not in (201, 202):
            continue
        if request.method == "POST" and BULK_DOCS in request.target:
            docs = orjson.loads(request.payload())["docs"]
            revisions += [{"id": doc["_id"], "rev": doc["_rev"]} for doc in docs]
        elif request.method == "PUT":
            answer = orjson.loads(response.payload())
            if answer["id"].startswith("_local/"):
                kept = await server.get(answer["id"])
                assert _local_gen(kept["_rev"]) >= _local_gen(answer["rev"]), answer
                checkpoints += 1
            else:
                revisions.append({"id": answer["id"], "rev": answer["rev"]})
    assert revisions or checkpoints, "no write was acknowledged before the kill"
    found = await server.bulk_get(revisions) if revisions else []
    lost = [item for result in found for item in result["docs"] if "ok" not in item]
    assert not lost, lost


def _local_gen(rev: str) -> int:
    return int(rev.split("-", 1)[1])


async def _create_db(server_url: str) -> None:
    databases = await HttpDatabases.connect(server_url)
    try:
        await databases.create(DB)
    finally:
        await databases.close()


# Where our server dies: as the nth request to that path reaches it, at once or 10 ms later
# (mid-write). With four batches in flight, earlier batches have been answered by the fifth
# (a pull asks _bulk_get twice for a batch with attachments: JSON, then multipart: the seventh).
# Each case starts a server process twice (~4 s): two run only with the slow tests.
KILLS = [
    pytest.param("push", BULK_DOCS, 5, 0.0, id="push-bulk_docs", marks=pytest.mark.slow),
    pytest.param("push", BULK_DOCS, 5, 0.01, id="push-bulk_docs-10ms"),
    pytest.param("push", LOCAL, 3, 0.0, id="push-checkpoint"),
    pytest.param("pull", BULK_GET, 7, 0.01, id="pull-bulk_get-10ms"),
    pytest.param("pull", LOCAL, 3, 0.01, id="pull-checkpoint-10ms", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("direction", "path", "nth", "kill_after_s"), KILLS)
async def test_our_server_killed_mid_replication_loses_nothing_and_the_run_completes(
    tmp_path: Path, direction: str, path: str, nth: int, kill_after_s: float
) -> None:
    """Our server as a process, SIGKILLed as a write batch (push), a read batch (pull) or a
    checkpoint reaches it, started again on the same port and data directory. While it is down
    the proxy refuses connections, and before it lets the replicator back in, every write the
    server had acknowledged must be there; then the run completes, target identical."""
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(local.close)
        server = await stack.enter_async_context(served(tmp_path))
        await _create_db(server.url)
        direct = await stack.enter_async_context(_remote(f"{server.url}/{DB}"))
        proxy = await stack.enter_async_context(FaultProxy(HOST, server.port))
        faulty = await HttpStore.open(
            f"{proxy.url}/{DB}", auth=(ADMIN, SERVE_PASSWORD), timeout=CLIENT_TIMEOUT_S
        )
        stack.push_async_callback(faulty.close)
        await seed(local if direction == "push" else direct)
        killed = asyncio.Event()

        def kill() -> None:
            asyncio.get_running_loop().call_later(kill_after_s, server.kill)
            killed.set()

        proxy.on_forwarded = after_nth(path, nth, kill)
        source, target = (local, faulty) if direction == "push" else (faulty, local)
        job = asyncio.create_task(replicate(source, target, OPTIONS))
        stack.callback(job.cancel)
        await asyncio.wait_for(killed.wait(), RUN_DEADLINE_S)
        await proxy.stop_listening()
        await server.wait_killed()
        await server.start()
        restarted = await stack.enter_async_context(_remote(f"{server.url}/{DB}"))
        await assert_acknowledged_writes_kept(proxy.delivered, restarted)
        assert not job.done(), job  # still retrying
        await proxy.listen()
        result = await asyncio.wait_for(job, RUN_DEADLINE_S)
        assert result.stats["doc_write_failures"] == 0, result.failures
        assert await state(restarted) == await state(local)


# --- continuous replication through faults -------------------------------------------------------


@contextlib.asynccontextmanager
async def following(source: DocumentStore, target: DocumentStore) -> AsyncIterator[None]:
    """``replicate_continuously`` in the background for the block, cancelled after it."""
    job = asyncio.create_task(replicate_continuously(source, target, OPTIONS))
    try:
        yield
        assert not job.done(), job
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job


async def put_and_wait(written_on: DocumentStore, seen_on: DocumentStore, doc_id: str) -> None:
    """A new document on one side arrives on the other (``wait_for_doc``'s deadline)."""
    written = await written_on.put({"_id": doc_id})
    await wait_for_doc(seen_on, doc_id, written.rev)


async def test_continuous_push_carries_writes_made_while_the_target_was_away(
    tmp_path: Path,
) -> None:
    """Following the source into our server: the server refuses connections for a while, then
    answers a write batch with a reset after writing it; each write made meanwhile arrives."""
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    try:
        async with our_peer(tmp_path / "server") as peer, following(local, peer.faulty):
            await seed(local)
            await put_and_wait(local, peer.direct, "before")
            peer.proxy.refuse_for(1.0)
            await put_and_wait(local, peer.direct, "while-refused")
            peer.proxy.arm(Fault(Kind.DROP, BULK_DOCS, after_bytes=0))
            await put_and_wait(local, peer.direct, "written-unanswered")
            await put_and_wait(local, peer.direct, "after")
            assert peer.proxy.fired == 1
            assert await state(peer.direct) == await state(local)
    finally:
        await local.close()


async def test_continuous_pull_follows_our_server_through_a_kill_and_restart(
    tmp_path: Path,
) -> None:
    """Following our server (a process) into a file: its longpoll dropped, then the server
    SIGKILLed while the replicator waits on a longpoll and started again; writes made on the
    server after each arrive."""
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(local.close)
        server = await stack.enter_async_context(served(tmp_path))
        await _create_db(server.url)
        proxy = await stack.enter_async_context(FaultProxy(HOST, server.port))
        faulty = await stack.enter_async_context(
            _remote(f"{proxy.url}/{DB}", auth=(ADMIN, SERVE_PASSWORD))
        )
        async with _remote(f"{server.url}/{DB}") as direct:
            await seed(direct)
        await stack.enter_async_context(following(faulty, local))
        async with _remote(f"{server.url}/{DB}") as direct:
            await put_and_wait(direct, local, "before")
            proxy.arm(Fault(Kind.DROP, "feed=longpoll"))
            await put_and_wait(direct, local, "after-a-dropped-longpoll")
        await asyncio.sleep(0.2)  # the replicator is waiting on its next longpoll
        server.kill()
        await server.wait_killed()
        await server.start()
        async with _remote(f"{server.url}/{DB}") as direct:
            await put_and_wait(direct, local, "after-a-restart")
            assert proxy.fired == 1
            assert await state(direct) == await state(local)


# --- the replicator process killed ----------------------------------------------------------------

# Each request through the proxy waits this long, so a run of ~7 sequential batches (two
# proxied requests each) outlasts the replicator's 1 s checkpoint interval: the killed run has
# checkpointed part of the way.
SLOW_LINK_S = 0.15


def kill_after_first_checkpoint(kill: Callable[[], None]) -> Callable[[Message], None]:
    """An ``on_forwarded`` hook: ``kill`` once a ``_bulk_docs`` reaches the target after the
    run's first checkpoint did (a batch in flight, past the checkpoint)."""
    checkpointed = killed = False

    def hook(request: Message) -> None:
        nonlocal checkpointed, killed
        if request.method == "PUT" and LOCAL in request.target:
            checkpointed = True
        elif checkpointed and not killed and BULK_DOCS in request.target:
            killed = True
            kill()

    return hook


Hook = Callable[[Callable[[], None]], Callable[[Message], None]]
REPLICATOR_KILLS = [
    pytest.param(kill_after_first_checkpoint, id="batch-after-checkpoint"),
    # The target's second checkpoint written, the source's not (its GET, PUT, PUT): the sides
    # disagree and the next run starts at the older, common one.
    pytest.param(
        lambda kill: after_nth(LOCAL, 3, kill), id="between-checkpoints", marks=pytest.mark.slow
    ),
]


@pytest.mark.parametrize("hook", REPLICATOR_KILLS)
async def test_a_killed_replicator_process_resumes_and_resends_little(
    tmp_path: Path, hook: Hook
) -> None:
    """``brainlink-docs replicate --batch-size 40`` SIGKILLed mid-run after a checkpoint, then
    run again: the target ends identical, the second run starts at a checkpoint of the first
    (it checks only the revisions after it) and writes exactly the revisions the target lacked,
    no more than were not yet checkpointed."""
    device = tmp_path / "device.sqlite"
    async with _opened(device) as source:
        await seed(source)
        total = await _revisions_since(source, "0")
    async with serving(tmp_path / "server") as server:
        server_url = f"http://{ADMIN}:{PASSWORD}@{HOST}:{server.port}"
        await _create_db(server_url)
        async with FaultProxy(HOST, server.port, latency=SLOW_LINK_S) as proxy:
            url = f"http://{ADMIN}:{PASSWORD}@{HOST}:{proxy.port}/{DB}"
            args = (str(device), url, "--batch-size", str(BATCH), "--batches-in-flight", "1")
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "brainlink_docs.cli", "replicate", *args,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            proxy.on_forwarded = hook(lambda: process.send_signal(signal.SIGKILL))
            _out, err = await asyncio.wait_for(process.communicate(), RUN_DEADLINE_S)
            assert process.returncode == -signal.SIGKILL, err
            async with _opened(device) as source, _remote(f"{server_url}/{DB}") as target:
                lacking = _leaves(await state(source)) - _leaves(await state(target))
            proxy.latency = 0.0
            code, out, err = await run_cli(*args)
        assert code == 0, err
        second = json.loads(out)["history"][0]
        async with _opened(device) as source, _remote(f"{server_url}/{DB}") as target:
            not_checkpointed = await _revisions_since(source, second["start_last_seq"])
            assert await state(target) == await state(source)
    assert second["missing_checked"] == not_checkpointed <= total - BATCH
    assert second["docs_written"] == len(lacking) <= not_checkpointed


def _leaves(snapshot: dict[str, Any]) -> set[tuple[str, str]]:
    return {(doc_id, leaf["_rev"]) for doc_id, doc in snapshot.items() for leaf in doc["leaves"]}


async def _revisions_since(store: DocumentStore, since: str) -> int:
    """Revisions (leaves) the source lists after ``since``: what a run from there checks."""
    page = await store.changes(ChangesQuery(since=since, style="all_docs"))
    return sum(len(change.changes) for change in page.results)


@contextlib.asynccontextmanager
async def _opened(path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(path)
    try:
        yield store
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def _remote(url: str, auth: tuple[str, str] | None = None) -> AsyncIterator[HttpStore]:
    store = await HttpStore.open(url, auth=auth, timeout=CLIENT_TIMEOUT_S)
    try:
        yield store
    finally:
        await store.close()


# --- a peer that stays down -----------------------------------------------------------------------

GIVE_UP_S = 1.0
GIVE_UP = replace(OPTIONS, retry=RetryPolicy(initial=0.05, maximum=0.2, give_up_after=GIVE_UP_S))
# Past give_up_after, a run ends within one more attempt (a refused connect is instant).
GIVE_UP_SLACK_S = 3.0


async def test_a_run_against_a_peer_that_stays_down_gives_up_with_unavailable(
    tmp_path: Path,
) -> None:
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    try:
        async with our_peer(tmp_path / "server") as peer:
            await seed(local)
            await peer.proxy.stop_listening()
            loop = asyncio.get_running_loop()
            began = loop.time()
            with pytest.raises(Unavailable) as raised:
                await replicate(local, peer.faulty, GIVE_UP)
            assert GIVE_UP_S <= loop.time() - began <= GIVE_UP_S + GIVE_UP_SLACK_S
            # It names the peer and what went wrong, not just "unavailable".
            assert f"{HOST}:{peer.proxy.port}" in raised.value.reason
            assert "Cannot connect" in raised.value.reason
    finally:
        await local.close()


async def test_a_peer_that_goes_down_mid_run_and_stays_down_ends_the_run_resumably(
    tmp_path: Path,
) -> None:
    """Down from the fifth batch on (with four in flight, the first is done and checkpointed by
    then): the run gives up with ``Unavailable``; once the peer is back, the next run resumes
    from the last checkpoint and ends identical."""
    local = await SqliteStore.open(tmp_path / "local.sqlite")
    try:
        async with our_peer(tmp_path / "server") as peer:
            await seed(local)
            peer.proxy.arm(Fault(Kind.REFUSE, BULK_DOCS, nth=5, seconds=3600.0))
            with pytest.raises(Unavailable):
                await replicate(local, peer.faulty, GIVE_UP)
            partial = await state(peer.direct)
            assert 0 < len(partial) < len(await state(local))
            peer.proxy.clear()
            await peer.proxy.listen()
            again = await replicate(local, peer.faulty, GIVE_UP)
            assert again.start_last_seq != "0"
            assert await state(peer.direct) == await state(local)
    finally:
        await local.close()


async def test_the_command_against_a_peer_that_stays_down_prints_one_line_and_exits_1(
    tmp_path: Path,
) -> None:
    device = tmp_path / "device.sqlite"
    async with _opened(device) as source:
        await source.put({"_id": "a"})
    down = f"http://{ADMIN}:{PASSWORD}@{HOST}:{free_port()}/{DB}"
    loop = asyncio.get_running_loop()
    began = loop.time()
    code, out, err = await run_cli(str(device), down, "--give-up-after", str(GIVE_UP_S))
    assert loop.time() - began >= GIVE_UP_S  # it waited for the peer before giving up
    assert code == 1, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "503" in lines[0], err
    assert out == ""


async def test_the_command_gives_up_on_a_peer_that_goes_down_mid_run(tmp_path: Path) -> None:
    """The command retries for ``--give-up-after`` seconds without progress, then prints one
    line and exits 1."""
    device = tmp_path / "device.sqlite"
    async with _opened(device) as source:
        await seed(source)
    async with serving(tmp_path / "server") as server:
        await _create_db(f"http://{ADMIN}:{PASSWORD}@{HOST}:{server.port}")
        async with FaultProxy(HOST, server.port) as proxy:
            proxy.arm(Fault(Kind.REFUSE, BULK_DOCS, nth=5, seconds=3600.0))
            url = f"http://{ADMIN}:{PASSWORD}@{HOST}:{proxy.port}/{DB}"
            loop = asyncio.get_running_loop()
            began = loop.time()
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "brainlink_docs.cli", "replicate", str(device), url,
                "--batch-size", str(BATCH), "--give-up-after", str(GIVE_UP_S),
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, err = await asyncio.wait_for(process.communicate(), GIVE_UP_S + RUN_DEADLINE_S)
            elapsed = loop.time() - began
    assert process.returncode == 1, (out, err)
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "503" in lines[0], err
    assert out == b""
    assert GIVE_UP_S <= elapsed <= GIVE_UP_S + RUN_DEADLINE_S


async def test_the_command_waits_out_a_peer_that_is_briefly_down_when_it_starts(
    tmp_path: Path,
) -> None:
    device = tmp_path / "device.sqlite"
    async with _opened(device) as source:
        await source.put({"_id": "a"})
    async with serving(tmp_path / "server") as server:
        await _create_db(f"http://{ADMIN}:{PASSWORD}@{HOST}:{server.port}")
        async with FaultProxy(HOST, server.port) as proxy:
            proxy.refuse_for(1.0)
            url = f"http://{ADMIN}:{PASSWORD}@{HOST}:{proxy.port}/{DB}"
            code, _out, err = await run_cli(str(device), url)
    assert code == 0, err
