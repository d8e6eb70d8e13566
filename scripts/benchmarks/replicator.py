"""The replicator workload (``scripts/bench --replicator N``): our replicator
(``brainlink_docs.replication``) against PouchDB's (``PouchDB.replicate``, Node, LevelDB) and
CouchDB's own (``POST /_replicate`` on the CouchDB at ``COUCHDB_URL``), on the same documents
in the same run.

For each remote (our server, then the real CouchDB), on N chat messages (the embedded
benchmark's generator, about 1 KB each) loaded into a source database there:

  pull         each replicator copies the source into a fresh local database: ours into a new
               ``SqliteStore`` file, PouchDB into a new LevelDB PouchDB, CouchDB into a new
               CouchDB database
  push         each copies the local database it just pulled into a fresh remote database
  incremental  CHANGED documents of the source get a new revision; each pulls again into its
               local database, resuming from its checkpoint
  latency      each pulls live (ours ``replicate_continuously``, PouchDB ``live: true``,
               CouchDB ``continuous``) while WRITES documents are written to the source one at
               a time; each write is timed until the local database holds it (the embedded
               store's commit wake-up, PouchDB's local change feed, CouchDB's longpoll
               ``_changes`` on the target)

Ours and PouchDB's run in a fresh process per replication (their peak RSS is VmHWM of that
process). Every run is checked before its figure counts: the target holds every document, the
replicator wrote exactly the documents it should and reports no write failure, and every live
write arrived; a run failing its check is a row with its error and no figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_replication as br
import bench_server as bs
import orjson

from benchmarks import report, targets
from benchmarks.targets import Remote

REPLICATORS = ("ours", "pouchdb", "couchdb")
# Writes before the timed ones: the first pays for connections and the feed settling.
LATENCY_WARMUP = 3
# CouchDB's longpoll wait on the target while a write travels (it answers at the change).
LONGPOLL_MS = 60_000
# Documents per _bulk_docs when editing the source for the incremental run.
EDIT_BATCH = 500


@dataclass(frozen=True, slots=True)
class Options:
    """N documents, the documents changed before the incremental pull, the timed live writes
    (scripts/bench holds the issue's defaults: 100,000, 1,000 and 200)."""

    docs: int
    changed: int
    writes: int
    couchdb_url: str
    profile_dir: Path | None = None


class Check(RuntimeError):
    """A run whose result is wrong: it reports no figure."""


def _expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise Check(f"{what}: {got!r}, expected {want!r}")


@dataclass(slots=True)
class Bench:
    """One remote's run: the remote, the CouchDB whose replicator runs (and holds its "local"
    databases), and where ours and PouchDB's keep theirs."""

    remote: Remote
    couch: Remote
    options: Options
    local_dir: Path
    # CouchDB's replicator resumes its stats from the checkpoint: a resumed run's docs_written
    # counts every earlier run's too, so its check needs the running total.
    couch_pulled: int = 0

    @property
    def tag(self) -> str:
        return self.remote.name.replace("_", "-")

    @property
    def src(self) -> str:
        return f"bench-rr-src-{self.tag}"

    def local(self, who: str) -> str:
        """``who``'s local database: a file, a LevelDB directory, a CouchDB database name."""
        if who == "couchdb":
            return f"bench-rr-pulled-{self.tag}"
        return str(self.local_dir / ("ours.sqlite" if who == "ours" else "pouchdb"))

    def pushed(self, who: str) -> str:
        return f"bench-rr-push-{who}-{self.tag}"

    async def pull(self, who: str, written: int) -> dict[str, Any]:
        """One one-shot pull by ``who`` into its local database, checked."""
        n, remote = self.options.docs, self.remote
        if who == "couchdb":
            source, db = remote.url(self.src), self.local(who)
            row = await self._couchdb_run(source, self.couch, db, written, self.couch_pulled)
            self.couch_pulled += written
            return row
        command = targets.ours_command if who == "ours" else targets.pouchdb_command
        row = await targets.run_worker(command(["pull", remote.url(self.src), self.local(who)]))
        return _checked(row, n, written, row["local_doc_count"])

    async def push(self, who: str) -> dict[str, Any]:
        """One one-shot push by ``who`` from its local database into a fresh remote one."""
        n, remote, dst = self.options.docs, self.remote, self.pushed(who)
        await remote.client.create_db(dst)
        if who == "couchdb":
            return await self._couchdb_run(self.couch.url(self.local(who)), remote, dst, n)
        command = targets.ours_command if who == "ours" else targets.pouchdb_command
        row = await targets.run_worker(command(["push", self.local(who), remote.url(dst)]))
        return _checked(row, n, n, await remote.doc_count(dst))

    async def _couchdb_run(
        self, source: str, into: Remote, db: str, written: int, before: int = 0
    ) -> dict[str, Any]:
        """``POST /_replicate`` on CouchDB (one-shot), timed and checked as the others are;
        ``before`` is what earlier runs of the same replication wrote."""
        try:
            row = await br.replicate(self.couch.client, source, into.url(db), before + written)
        except RuntimeError as exc:
            raise Check(str(exc)) from exc
        _expect("documents in the target", await into.doc_count(db), self.options.docs)
        seconds = row["seconds"]
        return {"seconds": seconds, "docs_written": written, "docs_per_s": written / seconds}

    async def edit(self, workload: bs.Workload) -> None:
        """Give ``changed`` documents spread over the source a new revision (an edit each)."""
        changed = self.options.changed
        step = max(1, workload.docs // changed)
        docs = (doc for line in bs.batch_lines(workload) for doc in orjson.loads(line))
        picked = [doc for i, doc in enumerate(docs) if i % step == 0][:changed]
        client, src = self.remote.client, self.src
        keys = orjson.dumps({"keys": [doc["_id"] for doc in picked]})
        revs = {
            row["id"]: row["value"]["rev"]
            for row in (await client.request("POST", f"/{src}/_all_docs", keys))["rows"]
        }
        for start in range(0, len(picked), EDIT_BATCH):
            batch = [
                {**doc, "_rev": revs[doc["_id"]], "metadata": {**doc["metadata"], "edited": True}}
                for doc in picked[start : start + EDIT_BATCH]
            ]
            answer = await client.request(
                "POST", f"/{src}/_bulk_docs", orjson.dumps({"docs": batch})
            )
            failed = [row for row in answer if "error" in row]
            if failed:
                raise RuntimeError(f"editing the source failed: {failed[:3]}")

    async def latency(self, who: str) -> dict[str, Any]:
        """Live pull by ``who`` while the writes go to the source one at a time."""
        writes, prefix = self.options.writes, f"latency:{who}:"
        if who == "couchdb":
            row: dict[str, Any] = {"latencies_ms": await self._couchdb_latency(prefix)}
        else:
            command = targets.ours_command if who == "ours" else targets.pouchdb_command
            args = [self.remote.url(self.src), self.local(who), str(writes), str(LATENCY_WARMUP)]
            row = await targets.run_worker(command(["live", *args, prefix]))
        times = row.pop("latencies_ms")
        _expect("timed writes that arrived", len(times), writes)
        return {
            **row,
            "writes": writes,
            "p50_ms": report.percentile(times, 0.5),
            "p95_ms": report.percentile(times, 0.95),
            "max_ms": max(times),
        }

    async def _couchdb_latency(self, prefix: str) -> list[float]:
        couch, db = self.couch.client, self.local("couchdb")
        spec = {
            "source": self.remote.url(self.src),
            "target": self.couch.url(db),
            "continuous": True,
        }
        await couch.request("POST", "/_replicate", orjson.dumps(spec))
        times = []
        try:
            for i in range(LATENCY_WARMUP + self.options.writes):
                doc_id = f"{prefix}{i:06d}"
                seq = (await couch.request("GET", f"/{db}"))["update_seq"]
                began = time.perf_counter_ns()
                body = orjson.dumps({"type": "latency_probe", "n": i})
                await self.remote.client.request("PUT", f"/{self.src}/{doc_id}", body)
                await _arrival(couch, db, doc_id, seq)
                if i >= LATENCY_WARMUP:
                    times.append((time.perf_counter_ns() - began) / 1e6)
        finally:
            with contextlib.suppress(RuntimeError):
                await couch.request("POST", "/_replicate", orjson.dumps({**spec, "cancel": True}))
        return times

    async def profile(self, directory: Path, log: bs.Log) -> dict[str, Any]:
        """Extra runs of ours, pull then push, under py-spy (so no measured row is perturbed)."""
        local = str(self.local_dir / "profiled.sqlite")
        dst = self.pushed("profiled")
        await self.remote.client.create_db(dst)
        out: dict[str, Any] = {}
        try:
            for direction, args in (
                ("pull", ["pull", self.remote.url(self.src), local]),
                ("push", ["push", local, self.remote.url(dst)]),
            ):
                raw = directory / f"ours-{direction}-{self.remote.name}.txt"
                row = await targets.run_worker(targets.profiled(targets.ours_command(args), raw))
                possible = int(targets.PROFILE_RATE * row["seconds"])
                out[direction] = {
                    "collapsed_stacks": str(raw),
                    "seconds_while_profiled": row["seconds"],
                    "threads": bs.hot_spots(raw, possible),
                }
                log(
                    f"{self.remote.name}: profiled ours {direction} ({row['seconds']:.1f} s): {raw}"
                )
        finally:
            await self.remote.drop(dst)
        return out


def _checked(row: dict[str, Any], n: int, written: int, doc_count: int) -> dict[str, Any]:
    _expect("doc_write_failures", row["doc_write_failures"], 0)
    _expect("docs_written", row["docs_written"], written)
    _expect("documents in the target", doc_count, n)
    row["docs_per_s"] = written / row["seconds"]
    row["peak_rss_mb"] = row["peak_rss_bytes"] / 1e6 if row.get("peak_rss_bytes") else None
    return row


async def _arrival(couch: bs.Client, db: str, doc_id: str, since: str) -> None:
    """Return when ``db``'s change feed shows ``doc_id`` (longpoll: CouchDB answers at once)."""
    deadline = time.monotonic() + LONGPOLL_MS / 1000
    while time.monotonic() < deadline:
        path = f"/{db}/_changes?feed=longpoll&timeout={LONGPOLL_MS}&since={since}"
        answer = await couch.request("GET", path)
        if any(row["id"] == doc_id for row in answer["results"]):
            return
        since = answer["last_seq"]
    raise Check(f"write {doc_id} not replicated within {LONGPOLL_MS} ms")


async def measure(bench: Bench, workload: bs.Workload, log: bs.Log) -> dict[str, Any]:
    """Every phase of every replicator against one remote; one row per (phase, replicator)."""
    remote, options = bench.remote, bench.options
    await remote.client.create_db(bench.src)
    await bs.bulk_load(remote.client, bench.src, workload)
    await bench.couch.client.create_db(bench.local("couchdb"))
    rows: dict[str, dict[str, Any]] = {"pull": {}, "push": {}, "incremental": {}, "latency": {}}

    async def phase(name: str, who: str, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            rows[name][who] = await run()
            log(f"{remote.name}: {who} {name}: {_summary(rows[name][who])}")
        except Exception as exc:  # one failed run is a row with its error, not a crash
            log(f"{remote.name}: {who} {name} failed: {exc}")
            rows[name][who] = {"error": str(exc)[-1500:]}

    try:
        for who in REPLICATORS:
            await phase("pull", who, lambda w=who: bench.pull(w, options.docs))
        for who in REPLICATORS:
            await phase("push", who, lambda w=who: bench.push(w))
        await bench.edit(workload)
        for who in REPLICATORS:
            await phase("incremental", who, lambda w=who: bench.pull(w, options.changed))
        for who in REPLICATORS:
            await phase("latency", who, lambda w=who: bench.latency(w))
        if options.profile_dir is not None:
            rows["profile"] = await bench.profile(options.profile_dir, log)
    finally:
        for db in (bench.src, *(bench.pushed(who) for who in REPLICATORS)):
            await remote.drop(db)
        await bench.couch.drop(bench.local("couchdb"))
    return rows


def _summary(row: dict[str, Any]) -> str:
    keys = ("seconds", "docs_per_s", "p50_ms", "p95_ms", "peak_rss_mb")
    return ", ".join(f"{k} {row[k]:.3g}" for k in keys if isinstance(row.get(k), float))


async def _measure_remote(
    name: str, workload: bs.Workload, options: Options, workdir: Path, log: bs.Log
) -> dict[str, Any]:
    directory = workdir / "remotes" / name
    async with (
        targets.started("couchdb", workdir / "couchdb", options.couchdb_url) as couch,
        targets.started(name, directory, options.couchdb_url) as remote,
    ):
        target = remote.target
        bench = Bench(remote, couch, options, target.directory / "local")
        rows = await measure(bench, workload, log)
        return {"about": target.about, **rows, "server_memory": bs.memory_mb(target.pid)}


def run(
    options: Options, workdir: Path, write_workload: Callable[..., Any], log: bs.Log
) -> dict[str, Any]:
    """Generate the workload once, then measure every replicator against each remote in turn."""
    # Our replicator's processes import the package afresh: an edit mid-run mixes versions.
    source_before = bs.source_digest()
    workload = bs.generate(workdir / "workload", options.docs, write_workload, log)
    if options.profile_dir is not None:
        options.profile_dir.mkdir(parents=True, exist_ok=True)
    remotes: dict[str, Any] = {}
    for name in targets.REMOTES:
        try:
            remotes[name] = asyncio.run(_measure_remote(name, workload, options, workdir, log))
        except Exception as exc:
            log(f"{name}: failed: {exc}")
            remotes[name] = {"error": str(exc)[-1500:]}
    all_ratios = {name: report.ratios(rows) for name, rows in remotes.items()}
    rss = [
        rows.get(phase, {}).get("ours", {}).get("peak_rss_mb")
        for rows in remotes.values()
        for phase in ("pull", "push")
    ]
    peak = max((v for v in rss if v is not None), default=None) if None not in rss else None
    return bs.tidy(
        {
            "docs": options.docs,
            "avg_doc_bytes": workload.avg_doc_bytes,
            "changed_docs": options.changed,
            "latency_writes": options.writes,
            "remotes": remotes,
            "ratios": all_ratios,
            "ours_peak_rss_mb": peak,
            "goals": report.goals(all_ratios, remotes, peak),
            "source_sha256": source_before,
            "source_changed_during_run": bs.source_digest() != source_before,
            "notes": __doc__,
        }
    )
