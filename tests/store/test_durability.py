"""Crash durability of ``SqliteStore``: SIGKILL a writer at random moments, then audit the file.

A device app can die at any instruction (the OS reclaims it, the battery runs out of patience),
and the replicator trusts that what the store acknowledged is there on the next start. So a
child process (``crash_writer.py``) writes continuously, reporting an ``intent`` line before each
write and an ``ack`` line after it returned; the parent SIGKILLs it after a delay drawn from a
seeded RNG, reopens the file and checks, after every round (or, in the mixed test, after every
few rounds, so that writers also recover files killed processes left and crashes pile up):

* the file opens, and SQLite's own ``integrity_check`` and ``foreign_key_check`` are clean;
* every acknowledged write is there: each document's only leaf is the rev the parent's model
  holds, with that write's body and attachment bytes, and nothing else exists;
* each write that may have been in flight (an intent without an ack; usually one, sometimes a
  burst of a few on disjoint documents, which the store's group commit puts in one transaction)
  landed for all of its documents or for none. This is what makes the batch-marker check sound:
  the parent keeps an exact model (updated by acks, and by deciding each in-flight write), so
  for a pending write it knows each document's state before it and can tell "old" (untouched),
  "new" (one generation on, deleted iff the write deleted it, ``batch`` marker equal to the op)
  or neither; later writes that touch the same documents again cannot confuse it, because the
  check is made before any later write exists;
* ``info()``'s ``doc_count``/``doc_del_count`` agree with ``_all_docs`` and ``_changes``, and
  ``_changes`` has exactly one row per document.

The next round's writer starts from the model, so each round continues where the acks (and the
decided in-flight write) left the database. SIGKILL tests process crashes, not power loss: data
the kernel holds in its page cache survives, so ``synchronous=NORMAL`` in WAL mode must pass.

The seed (``BRAINLINK_DURABILITY_SEED`` to choose one) fixes the workload and the kill delays; the
exact instruction a kill lands on still depends on timing, so a rerun explores the same schedule,
not necessarily the same crash.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.util
import os
import random
import signal
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, NoReturn

import orjson
import pytest

from brainlink_docs.store.api import (
    AllDocsQuery,
    ChangesQuery,
    DocumentStore,
    iter_all_docs,
    iter_changes,
)

ROOT = Path(__file__).resolve().parents[2]
WRITER = Path(__file__).with_name("crash_writer.py")
SEED_ENV = "BRAINLINK_DURABILITY_SEED"
# The intent line of a 20,000-document batch is about 1 MB; asyncio's default line limit is 64 KiB.
LINE_LIMIT = 64 * 2**20
# A round that neither reaches its kill trigger nor dies within this long is hung: fail, not wait.
ROUND_TIMEOUT = 30.0
# Mixed workload, (at least, at most) kills: enough to hit open, idle, mid-batch and mid-commit
# moments. The budgets (seconds) keep both tests together within about a minute on a busy runner.
MIXED_KILLS = (8, 12)
MIXED_BUDGET = 14.0
# Big batch: enough kills that several land inside the 20,000-document transaction (each round
# costs a few seconds: an update batch of 20,000 documents takes 1.5-6 s here).
BIG_KILLS = (5, 10)
BIG_BUDGET = 24.0
# How often the ``wal`` trigger looks at the WAL file: a big commit writes it for 10-250 ms.
WAL_POLL = 0.001
# A ``wal`` trigger that sees no WAL change this long after its intent kills anyway (a write
# that never reaches the file, or a file system with coarse timestamps, must not hang a round).
WAL_BACKSTOP = 5.0
# At most this many problems are listed in a failure message; the rest are counted.
MAX_REPORTED = 15

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs SIGKILL")


def _load_writer() -> ModuleType:
    """Import ``crash_writer.py`` by path: the very file the child runs, whatever pytest's
    import mode, so parent and child derive document contents from the same code."""
    name = "_durability_crash_writer"
    spec = importlib.util.spec_from_file_location(name, WRITER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


crash_writer = _load_writer()


def rev_pos(rev: str) -> int:
    return int(rev.split("-", 1)[0])


@dataclass
class DocState:
    """What the parent knows about one document: the write that last touched it."""

    rev: str
    deleted: bool
    op: int
    att: bool


@dataclass
class Observed:
    """One document as ``_changes`` (``style=all_docs``) reports it after a crash."""

    leaves: list[str]
    deleted: bool


@dataclass
class Model:
    """The exact state the file must be in: every acked write, and decided in-flight writes."""

    docs: dict[str, DocState] = field(default_factory=dict)
    next_op: int = 1
    next_doc: int = 0
    acked: int = 0
    in_flight_committed: int = 0
    in_flight_rolled_back: int = 0
    max_in_flight: int = 0
    # Writes left in flight by kills whose file was not audited yet; their documents are kept
    # out of later writes, so whenever the audit comes their outcome is still theirs alone.
    undecided: list[dict[str, Any]] = field(default_factory=list)
    audits: int = 0

    def live(self) -> dict[str, str]:
        return {i: s.rev for i, s in self.docs.items() if not s.deleted}

    def apply(self, intent: dict[str, Any], revs: list[str]) -> list[str]:
        """Record a write that landed; returns problems with the revs it was given."""
        problems = []
        op = intent["op"]
        for (doc_id, action, att), rev in zip(intent["docs"], revs, strict=True):
            before = self.docs.get(doc_id)
            want = rev_pos(before.rev) + 1 if before else 1
            if rev_pos(rev) != want:
                problems.append(f"op {op}: {doc_id} got rev {rev}, expected generation {want}")
            self.docs[doc_id] = DocState(rev, action == "d", op, att)
        return problems


@dataclass(frozen=True)
class KillPlan:
    """When to SIGKILL: ``delay`` seconds after spawn, the ``ready`` line, the nth intent, or
    (``wal``) the first change of the WAL file after the nth intent.

    The ``wal`` trigger is there because a big ``bulk_docs`` spends most of its time in Python
    and writes the WAL in short bursts (10-250 ms, measured), mostly at its end: a kill timed
    from the intent line rarely lands in them, and they are where a torn or lost commit would
    come from. Watching the file finds them on any machine.
    """

    trigger: Literal["spawn", "ready", "intent", "wal"]
    delay: float
    nth: int = 1


@dataclass
class RoundLog:
    """What one child said (complete lines only, with arrival times) and how it ended."""

    lines: list[tuple[float, dict[str, Any]]]
    returncode: int | None
    stderr: str
    timed_out: bool


@dataclass
class Audit:
    """Failure context: the seed to rerun with and the round a problem appeared in."""

    seed: int
    round: int = 0

    def fail(self, what: str, problems: list[str]) -> NoReturn:
        shown = "\n  ".join(problems[:MAX_REPORTED])
        more = len(problems) - MAX_REPORTED
        extra = f"\n  ... and {more} more" if more > 0 else ""
        pytest.fail(
            f"{what} (round {self.round}; seed {self.seed}, rerun with {SEED_ENV}={self.seed}):"
            f"\n  {shown}{extra}",
            pytrace=False,
        )


def make_seed() -> int:
    chosen = os.environ.get(SEED_ENV)
    return int(chosen) if chosen else random.SystemRandom().randrange(2**32)


async def run_round(db_path: Path, state: dict[str, Any], plan: KillPlan) -> RoundLog:
    """Start a writer from ``state``, SIGKILL it as ``plan`` says, and collect what it said."""
    state_path = db_path.with_name("writer-state.json")
    state_path.write_bytes(orjson.dumps(state))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(WRITER),
        str(db_path),
        str(state_path),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=ROOT,
        limit=LINE_LIMIT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    loop = asyncio.get_running_loop()
    stderr_task = asyncio.ensure_future(proc.stderr.read())
    timers: list[asyncio.TimerHandle] = []

    def kill() -> None:
        if proc.returncode is None:
            # The child may have exited since the check; that is the absorb step's to judge.
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def arm() -> None:
        timers.append(loop.call_later(plan.delay, kill))

    def wal_state() -> tuple[int, int] | None:
        try:
            st = os.stat(db_path.with_name(db_path.name + "-wal"))
        except FileNotFoundError:
            return None
        return st.st_size, st.st_mtime_ns

    async def arm_on_wal_change() -> None:
        # Polling, not an event: nothing notifies us of another process's file writes.
        before, since = wal_state(), loop.time()
        while wal_state() == before and loop.time() - since < WAL_BACKSTOP:  # noqa: ASYNC110
            await asyncio.sleep(WAL_POLL)
        arm()

    watchers: list[asyncio.Task[None]] = []
    lines: list[tuple[float, dict[str, Any]]] = []
    intents = 0
    timed_out = False
    try:
        async with asyncio.timeout(ROUND_TIMEOUT):
            if plan.trigger == "spawn":
                arm()
            async for raw in proc.stdout:
                if not raw.endswith(b"\n"):
                    break  # cut off by the kill: never written in full, so never acted on
                line = orjson.loads(raw)
                lines.append((loop.time(), line))
                if line["t"] == "ready" and plan.trigger == "ready":
                    arm()
                elif line["t"] == "intent":
                    intents += 1
                    if intents == plan.nth and plan.trigger == "intent":
                        arm()
                    elif intents == plan.nth and plan.trigger == "wal":
                        watchers.append(asyncio.ensure_future(arm_on_wal_change()))
            await proc.wait()
    except TimeoutError:
        timed_out = True
        kill()
        await proc.wait()
    finally:
        for timer in timers:
            timer.cancel()
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    stderr = (await stderr_task).decode(errors="replace")
    return RoundLog(lines, proc.returncode, stderr, timed_out)


def absorb(model: Model, log: RoundLog, audit: Audit) -> list[dict[str, Any]]:
    """Apply the round's acks to the model; return the writes left in flight (intent lines).

    Writes in flight together touch disjoint documents (the writer guarantees it), so each can
    be decided on its own against the model.
    """
    if log.timed_out or log.returncode != -signal.SIGKILL:
        errors = [line for _, line in log.lines if line["t"] == "error"]
        how = "hung" if log.timed_out else f"ended with {log.returncode}"
        audit.fail(
            f"the writer {how} before its planned kill",
            [repr(e) for e in errors] + log.stderr.strip().splitlines()[-20:],
        )
    pending: dict[int, dict[str, Any]] = {}
    problems: list[str] = []
    for _, line in log.lines:
        if line["t"] == "intent":
            pending[line["op"]] = line
            model.next_op = max(model.next_op, line["op"] + 1)
            created = [int(i[1:]) for i, action, _ in line["docs"] if action == "c"]
            model.next_doc = max([model.next_doc, *(n + 1 for n in created)])
        elif line["t"] == "ack":
            problems += model.apply(pending.pop(line["op"]), line["revs"])
            model.acked += 1
    if problems:
        audit.fail("acknowledged revs have the wrong generation", problems)
    return list(pending.values())


def writer_state(model: Model, mode: str, seed: int) -> dict[str, Any]:
    return {
        "mode": mode,
        "seed": seed,
        "next_op": model.next_op,
        "next_doc": model.next_doc,
        "live": model.live(),
        "busy": sorted({entry[0] for write in model.undecided for entry in write["docs"]}),
    }


async def read_changes(store: DocumentStore) -> tuple[dict[str, Observed], str | None, list[str]]:
    """Every document's leaves from ``_changes``; flags any document listed twice."""
    observed: dict[str, Observed] = {}
    problems: list[str] = []
    last_seq: str | None = None
    async for change in iter_changes(store, ChangesQuery(style="all_docs")):
        if change.id in observed:
            problems.append(f"_changes lists {change.id} more than once")
        observed[change.id] = Observed(sorted(change.changes), change.deleted)
        last_seq = change.seq
    return observed, last_seq, problems


def decide_pending(model: Model, pending: dict[str, Any], observed: dict[str, Observed]) -> str:
    """Classify each document of the in-flight write as old, new or neither; all must agree."""
    verdicts: dict[str, list[str]] = {"old": [], "new": [], "neither": []}
    new_revs: list[str] = []
    for doc_id, action, _ in pending["docs"]:
        before = model.docs.get(doc_id)
        seen = observed.get(doc_id)
        if seen is None:
            verdict = "old" if before is None else "neither"
        elif before is not None and seen.leaves == [before.rev] and seen.deleted == before.deleted:
            verdict = "old"
        elif (
            len(seen.leaves) == 1
            and rev_pos(seen.leaves[0]) == (rev_pos(before.rev) + 1 if before else 1)
            and seen.deleted == (action == "d")
        ):
            verdict = "new"
            new_revs.append(seen.leaves[0])
        else:
            verdict = "neither"
        verdicts[verdict].append(doc_id)
    total = len(pending["docs"])
    if len(verdicts["old"]) == total:
        return "rolled back"
    if len(verdicts["new"]) == total:
        model.apply(pending, new_revs)  # the body check then demands this op's batch marker
        return "committed"
    return (
        f"half-applied {pending['kind']} op {pending['op']} of {total} docs: "
        f"{len(verdicts['new'])} new (e.g. {verdicts['new'][:3]}), "
        f"{len(verdicts['old'])} old (e.g. {verdicts['old'][:3]}), "
        f"{len(verdicts['neither'])} neither (e.g. {verdicts['neither'][:3]})"
    )


def compare_leaves(model: Model, observed: dict[str, Observed], skip: set[str]) -> list[str]:
    """Every document has exactly the model's rev as its only leaf, and nothing else exists.

    ``skip`` holds the documents of a torn write, already reported, so they are not reported
    again as lost or unexpected.
    """
    problems = []
    for doc_id, state in model.docs.items():
        if doc_id in skip:
            continue
        seen = observed.get(doc_id)
        if seen is None:
            problems.append(f"{doc_id}: acked rev {state.rev} (op {state.op}) is gone")
        elif seen.leaves != [state.rev] or seen.deleted != state.deleted:
            problems.append(
                f"{doc_id}: leaves {seen.leaves} deleted={seen.deleted}, expected "
                f"[{state.rev}] deleted={state.deleted} (op {state.op})"
            )
    unknown = observed.keys() - model.docs.keys() - skip
    problems += [f"{i}: exists but was never written" for i in sorted(unknown)]
    return problems


def check_body(doc_id: str, doc: dict[str, Any], state: DocState) -> list[str]:
    """The winning body is the one the model's op wrote, attachment bytes included."""
    problems = []
    if doc.get("_rev") != state.rev:
        problems.append(f"{doc_id}: body rev {doc.get('_rev')}, expected {state.rev}")
    if doc.get("batch") != state.op or doc.get("v") != crash_writer.body_value(doc_id, state.op):
        problems.append(f"{doc_id}: body {doc.get('batch')}/{doc.get('v')}, expected op {state.op}")
    atts = doc.get("_attachments")
    if state.att:
        data = (atts or {}).get(crash_writer.ATTACHMENT_NAME, {}).get("data")
        want = base64.b64encode(crash_writer.attachment_bytes(doc_id, state.op)).decode()
        if data != want:
            problems.append(f"{doc_id}: attachment data differs from op {state.op}'s")
    elif atts:
        problems.append(f"{doc_id}: unexpected attachments {sorted(atts)}")
    return problems


async def check_bodies(store: DocumentStore, model: Model, skip: set[str]) -> list[str]:
    """``_all_docs`` lists exactly the live documents, each with its acked body."""
    problems = []
    listed = 0
    query = AllDocsQuery(include_docs=True, attachments=True)
    async for row in iter_all_docs(store, query):
        listed += 1
        if row["id"] in skip:
            continue
        state = model.docs.get(row["id"])
        if state is None or state.deleted:
            problems.append(f"{row['id']}: listed by _all_docs but should not be live")
            continue
        if row["value"]["rev"] != state.rev:
            problems.append(f"{row['id']}: _all_docs rev {row['value']['rev']} != {state.rev}")
        problems += check_body(row["id"], row["doc"], state)
    if not skip and listed != len(model.live()):
        problems.append(f"_all_docs lists {listed} docs, {len(model.live())} are live")
    return problems


async def check_counts(
    store: DocumentStore, observed: dict[str, Observed], last_seq: str | None
) -> list[str]:
    """``info()`` agrees with what ``_all_docs`` and ``_changes`` actually hold."""
    info = await store.info()
    page = await store.all_docs(AllDocsQuery(limit=1))
    live = sum(not o.deleted for o in observed.values())
    deleted = len(observed) - live
    problems = []
    if (info.doc_count, info.doc_del_count) != (live, deleted):
        problems.append(
            f"info() doc_count={info.doc_count} doc_del_count={info.doc_del_count}, "
            f"_changes has {live} live and {deleted} deleted"
        )
    if page.total_rows != live:
        problems.append(f"_all_docs total_rows={page.total_rows}, _changes has {live} live")
    if last_seq is not None and info.update_seq != last_seq:
        problems.append(f"info() update_seq={info.update_seq}, last _changes seq={last_seq}")
    return problems


def sqlite_checks(db_path: Path) -> list[str]:
    """SQLite's own verdict on the file, through a plain connection (not the store's)."""
    conn = sqlite3.connect(db_path)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchall()
        foreign = conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()
    problems = [] if integrity == [("ok",)] else [f"integrity_check: {integrity[:10]}"]
    return problems + ([f"foreign_key_check: {foreign[:10]}"] if foreign else [])


async def audit_file(
    db_path: Path, model: Model, pending: list[dict[str, Any]], audit: Audit
) -> None:
    """Reopen the killed writer's file and check it against the model (see module docstring)."""
    from brainlink_docs.store.sqlite import SqliteStore

    try:
        store = await SqliteStore.open(db_path, name="durability")
    except Exception as exc:
        audit.fail("the file does not reopen after the kill", [repr(exc)])
    try:
        observed, last_seq, problems = await read_changes(store)
        torn: set[str] = set()
        for write in pending:
            verdict = decide_pending(model, write, observed)
            if verdict == "committed":
                model.in_flight_committed += 1
            elif verdict == "rolled back":
                model.in_flight_rolled_back += 1
            else:
                problems.append(verdict)
                torn.update(doc_id for doc_id, _, _ in write["docs"])
        problems += compare_leaves(model, observed, torn)
        problems += await check_bodies(store, model, torn)
        problems += await check_counts(store, observed, last_seq)
    finally:
        await store.close()
    problems += await asyncio.to_thread(sqlite_checks, db_path)
    if problems:
        audit.fail("the file does not hold exactly the acknowledged writes", problems)


async def crash_loop(
    db_path: Path,
    mode: str,
    seed: int,
    kills: tuple[int, int],
    budget: float,
    plan_for: Callable[[list[RoundLog]], KillPlan],
    audit_share: float = 1.0,
) -> tuple[Model, list[RoundLog]]:
    """Run write-kill-audit rounds, each continuing from the model of the last.

    ``kills`` is ``(at least, at most)``: past the minimum, no round starts once ``budget``
    seconds have gone, so a slow or busy CI machine runs fewer rounds instead of timing out.
    ``plan_for`` sees the logs of the rounds so far, so kill timing can adapt to the machine.
    With ``audit_share`` below 1 some rounds skip the audit, so the next writer itself opens a
    file a killed process left (hot WAL and all) and crashes can pile up between clean closes;
    the last round is always audited.
    """
    model = Model()
    audit = Audit(seed)
    rng = random.Random(seed)
    logs: list[RoundLog] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    audited = False
    for round_no in range(kills[1]):
        if round_no >= kills[0] and loop.time() - started > budget:
            break
        audit.round = round_no
        state = writer_state(model, mode, rng.randrange(2**32))
        log = await run_round(db_path, state, plan_for(logs))
        logs.append(log)
        pending = absorb(model, log, audit)
        model.max_in_flight = max(model.max_in_flight, len(pending))
        model.undecided += pending
        audited = rng.random() < audit_share
        if audited:
            await audit_file(db_path, model, model.undecided, audit)
            model.undecided, model.audits = [], model.audits + 1
    if not audited:
        await audit_file(db_path, model, model.undecided, audit)
        model.undecided, model.audits = [], model.audits + 1
    return model, logs


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    """Mixed puts and bulk_docs (creates, updates, deletes, inline attachments), killed often."""
    seed = make_seed()
    print(f"{SEED_ENV}={seed}")
    rng = random.Random(seed ^ 0x5EED)

    def plan_for(_: list[RoundLog]) -> KillPlan:
        # Mostly at any moment of the workload; some just as a commit reaches the WAL; some
        # early enough to land in interpreter start-up, in SqliteStore.open (schema creation on
        # the first round, WAL recovery later) or right after it.
        roll = rng.random()
        if roll < 0.2:
            return KillPlan("spawn", rng.uniform(0.0, 0.6))
        if roll < 0.45:
            return KillPlan("wal", rng.uniform(0.0, 0.01), nth=rng.randint(1, 20))
        return KillPlan("ready", rng.uniform(0.02, 1.2))

    model, logs = await crash_loop(
        tmp_path / "db.sqlite", "mixed", seed, MIXED_KILLS, MIXED_BUDGET, plan_for, audit_share=0.6
    )
    print(
        f"kills={len(logs)} audits={model.audits} acked_writes={model.acked} "
        f"docs={len(model.docs)} "
        f"in_flight_committed={model.in_flight_committed} "
        f"in_flight_rolled_back={model.in_flight_rolled_back} max_in_flight={model.max_in_flight}"
    )
    # Guard against a vacuous pass (e.g. a writer that dies before writing anything).
    assert model.acked >= len(logs), f"only {model.acked} writes acked (seed {seed})"


async def test_large_batch_is_all_or_nothing_under_sigkill(tmp_path: Path) -> None:
    """A 20,000-document bulk_docs killed mid-flight, repeatedly, lands wholly or not at all."""
    seed = make_seed()
    print(f"{SEED_ENV}={seed}")
    rng = random.Random(seed ^ 0xB16)

    def plan_for(logs: list[RoundLog]) -> KillPlan:
        # Seconds from a batch's intent line to its ack, learned from the last update batch that
        # completed (the first batch only creates, which is faster; later ones slow down as the
        # file grows), so kills timed from the intent fit the write whatever the machine's
        # speed: anywhere in it, or near its end, where the last WAL frames and the commit go.
        durations = [d for log in logs for op, d in batch_durations(log) if op > 1]
        if durations and rng.random() < 0.4:
            low = 0.0 if rng.random() < 0.5 else 0.85 * durations[-1]
            return KillPlan("intent", rng.uniform(low, 1.1 * durations[-1]))
        # Otherwise kill within 250 ms of the WAL starting to move (a 20,000-document commit
        # takes 50-250 ms from its first WAL write to the ack here): while its pages are
        # appended, while it syncs, during a checkpoint, or just after (committed, not acked).
        # Until one batch has been acknowledged the round's first batch may finish (nth=2), so
        # the database moves on to update batches even if kills keep rolling the first back.
        nth = 1 if any(batch_durations(log) for log in logs) else 2
        return KillPlan("wal", rng.uniform(0.0, 0.25), nth=nth)

    model, logs = await crash_loop(
        tmp_path / "db.sqlite", "big", seed, BIG_KILLS, BIG_BUDGET, plan_for
    )
    durations = [round(d, 2) for log in logs for _, d in batch_durations(log)]
    print(
        f"kills={len(logs)} acked_batches={model.acked} docs={len(model.docs)} "
        f"batch_seconds={durations} in_flight_committed={model.in_flight_committed} "
        f"in_flight_rolled_back={model.in_flight_rolled_back}"
    )
    # The point of this test is kills while a batch is in flight; make sure most were.
    in_flight = model.in_flight_committed + model.in_flight_rolled_back
    assert in_flight >= len(logs) // 2, f"only {in_flight} kills hit a batch (seed {seed})"


def batch_durations(log: RoundLog) -> list[tuple[int, float]]:
    """``(op, seconds)`` from each acknowledged write's intent line to its ack line."""
    started: dict[int, float] = {}
    durations = []
    for at, line in log.lines:
        if line["t"] == "intent":
            started[line["op"]] = at
        elif line["t"] == "ack":
            durations.append((line["op"], at - started[line["op"]]))
    return durations
