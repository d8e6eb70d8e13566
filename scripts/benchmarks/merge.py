"""The merger workload (``scripts/bench --merge N``, issue 18): how fast conflicts are resolved,
what clock stamping costs a write, and how long two devices take to converge.

  resolve      N conflicted workspace-settings documents (three live leaves each, every leaf
               stamped; ``merge_workload``) resolved by ``resolve_all`` with its policies
               (fields merged one by one, a CRDT counter): on the embedded ``SqliteStore``,
               on our server through ``HttpStore``, and, as a peer row, on the CouchDB at
               ``COUCHDB_URL`` when it is set. Each place first receives the conflicted
               database from our replicator (``replicate``, every leaf): that run, timed, is
               the replicator reference, the same documents moved by the replicator.
  stamping     bulk writes of N documents in batches of 1,000, first as new documents, then as
               updates of each (which make ``StampingStore`` read the revisions edited), through
               ``StampingStore(SqliteStore)`` and through the plain ``SqliteStore`` (its
               default synchronous NORMAL): REPEATS runs of each, alternating which goes first,
               and the median of each (a noisy shared machine).
  end_to_end   two devices and our server converge by ``sync --resolve`` (``merge_sync``).

Every measured replication, resolution and bulk write runs in a fresh process
(``ours_merge.py``), pinned to one CPU while our server has the other, as the replicator
benchmark's runs are; the end-to-end run is this process's own (the devices are embedded in it,
as in the app). Checks before figures: a replication wrote every leaf (N documents of three
leaves each at the target); a resolution resolved every document, after which none has
``_conflicts``, each has its resolution record and each merged body is exactly the base with
all three replicas' field changes and all three counted opens; a bulk write wrote every
document. A run failing its check is a row with its error and no figure.

Goals: ``resolve_at_least_replicator_speed`` (resolve docs/s >= replicate docs/s, on the
embedded store and on our server; CouchDB's ratio is shown, not judged) and
``stamping_overhead_under_10pct`` (1 - stamped/plain docs/s < 0.10, for new documents and for
updates).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_server as bs
import orjson

from benchmarks import merge_sync, report, targets
from benchmarks.merge_workload import (
    BATCH_SIZE,
    POLICIES,
    REPLICAS,
    build_conflicted,
    check_merged,
    edited,
    expect,
    leaf_counts,
    snapshot,
    write_batches,
)
from benchmarks.merge_workload import batches as workload_batches
from benchmarks.targets import Remote
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore

HOWS = ("plain", "stamped")
PHASES = ("new", "update")
# The goals.
STAMPING_OVERHEAD_GOAL = 0.10
RESOLVE_TO_REPLICATE_GOAL = 1.0
# Where the goal is judged (CouchDB's row is a peer's, for comparison).
JUDGED = ("embedded", "ours_server")
RESOLVE_DB = "bench-merge-resolve"
# Below the run's work directory: the conflicted database's making, the bulk writes, the
# end-to-end run's devices and the profiled runs' databases.
SUBDIRECTORIES = ("setup", "writes", "sync", "profile")
POLICIES_JSON = orjson.dumps(POLICIES.to_json()).decode()


@dataclass(frozen=True, slots=True)
class Options:
    """N documents to resolve (and to bulk-write), the end-to-end run's documents, how many
    times each bulk write is timed (scripts/bench holds the defaults: 10,000, 1,000, 5)."""

    docs: int
    sync_docs: int
    repeats: int
    couchdb_url: str | None
    profile_dir: Path | None = None


Log = Callable[[str], None]


async def _row(what: str, run: Callable[[], Awaitable[dict[str, Any]]], log: Log) -> dict[str, Any]:
    """``run``'s row, or (a failed check, a crashed run) a row with its error and no figure."""
    try:
        row = await run()
    except Exception as exc:
        log(f"merge: {what} failed: {exc}")
        return {"error": str(exc)[-1500:]}
    figures = {k: v for k, v in row.items() if k in ("seconds", "docs_per_s", "overhead")}
    log(f"merge: {what}: {figures}")
    return row


@contextlib.asynccontextmanager
async def _opened(spec: str) -> AsyncIterator[DocumentStore]:
    store = await open_endpoint(spec)
    try:
        yield store
    finally:
        await store.close()


# --- resolve, and the replicator reference -------------------------------------------------


async def place_rows(name: str, spec: str, source: Path, n: int, log: Log) -> dict[str, Any]:
    """The conflicted database replicated into ``spec`` (timed: the reference), then resolved
    there (timed), each checked."""
    replicated = await _row(f"{name} replicate", lambda: _replicate(source, spec, n), log)
    if "error" in replicated:
        return {"replicate": replicated}
    resolved = await _row(f"{name} resolve", lambda: _resolve(spec, n), log)
    ratio = report.ratio(resolved.get("docs_per_s"), replicated["docs_per_s"])
    return {"replicate": replicated, "resolve": resolved, "resolve_to_replicate": ratio}


async def _replicate(source: Path, spec: str, n: int) -> dict[str, Any]:
    row = await targets.run_worker(targets.merge_command(["replicate", str(source), spec]))
    expect("doc_write_failures", row["doc_write_failures"], 0)
    expect("leaf revisions written", row["docs_written"], len(REPLICAS) * n)
    async with _opened(spec) as store:
        expect("documents by number of leaves", await leaf_counts(store), {len(REPLICAS): n})
    return {**row, "docs": n, "docs_per_s": n / row["seconds"]}


async def _resolve(spec: str, n: int) -> dict[str, Any]:
    row = await targets.run_worker(targets.merge_command(["resolve", spec, POLICIES_JSON]))
    expect("failed resolutions", row["failed"], [])
    expect("documents resolved", row["resolved"], n)
    async with _opened(spec) as store:
        check_merged(await snapshot(store), n, REPLICAS)
    return {**row, "docs": n, "docs_per_s": n / row["seconds"]}


async def new_file(path: Path) -> str:
    """An empty database file (a replication target must exist)."""
    await (await SqliteStore.open(path)).close()
    return str(path)


async def new_db(remote: Remote, db: str) -> str:
    await remote.client.create_db(db)
    return remote.url(db)


# --- stamping overhead ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteFiles:
    """The same documents as new ones and as their updates, for every bulk-write run."""

    new: Path
    update: Path

    @classmethod
    def write(cls, directory: Path, n: int) -> WriteFiles:
        updates = ([edited(doc, REPLICAS[0]) for doc in b] for b in workload_batches(n))
        return cls(
            write_batches(directory / "new.ndjson", workload_batches(n)),
            write_batches(directory / "update.ndjson", updates),
        )

    def args(self, db: Path, how: str) -> list[str]:
        return ["write", str(db), str(self.new), str(self.update), how]


async def stamping_rows(files: WriteFiles, directory: Path, options: Options) -> dict[str, Any]:
    """Plain and stamped bulk writes, ``repeats`` of each in alternating order; medians."""
    docs_per_s: dict[str, dict[str, list[float]]] = {h: {p: [] for p in PHASES} for h in HOWS}
    for r in range(options.repeats):
        for how in HOWS if r % 2 == 0 else HOWS[::-1]:
            db = directory / f"{how}-{r}.sqlite"
            row = await targets.run_worker(targets.merge_command(files.args(db, how)))
            _remove_db(db)
            expect(f"{how}: documents in the database", row["doc_count"], options.docs)
            for phase in PHASES:
                expect(f"{how} {phase}: failed writes", row[phase]["failed"], [])
                expect(f"{how} {phase}: documents written", row[phase]["docs"], options.docs)
                docs_per_s[how][phase].append(options.docs / row[phase]["seconds"])
    medians = {h: {p: statistics.median(v) for p, v in by.items()} for h, by in docs_per_s.items()}
    overhead = {p: 1 - medians["stamped"][p] / medians["plain"][p] for p in PHASES}
    return {
        "docs": options.docs,
        "batch_size": BATCH_SIZE,
        "repeats": options.repeats,
        "median_docs_per_s": medians,
        "overhead": overhead,
        "runs_docs_per_s": docs_per_s,
    }


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# --- profiles ------------------------------------------------------------------------------


async def profile(source: Path, files: WriteFiles, directory: Path, out: Path) -> dict[str, Any]:
    """Extra runs under py-spy (no measured row is perturbed): an embedded resolution and a
    stamped bulk write (new documents, then updates)."""
    spec = await new_file(directory / "profiled.sqlite")
    await targets.run_worker(targets.merge_command(["replicate", str(source), spec]))
    runs = {
        "resolve_embedded": ["resolve", spec, POLICIES_JSON],
        "write_stamped": files.args(directory / "profiled-write.sqlite", "stamped"),
    }
    found: dict[str, Any] = {}
    for name, args in runs.items():
        raw = out / f"merge-{name}.txt"
        row = await targets.run_worker(targets.profiled(targets.merge_command(args), raw))
        seconds = row.get("seconds") or sum(row[phase]["seconds"] for phase in PHASES)
        found[name] = {
            "collapsed_stacks": str(raw),
            "seconds_while_profiled": seconds,
            "threads": bs.hot_spots(raw, int(targets.PROFILE_RATE * seconds)),
        }
    return found


# --- the run -------------------------------------------------------------------------------


async def measure(options: Options, workdir: Path, log: Log) -> dict[str, Any]:
    n = options.docs
    log(f"merge: building {n} conflicted documents (3 stamped leaves each)")
    source = await build_conflicted(workdir / "setup", n)
    writes = workdir / "writes"
    files = WriteFiles.write(writes, n)
    log(f"merge: bulk writes, plain and stamped, {options.repeats} runs each")
    stamping = await _row("stamping", lambda: stamping_rows(files, writes, options), log)
    embedded = await new_file(workdir / "resolve-embedded.sqlite")
    resolve = {"embedded": await place_rows("embedded", embedded, source, n, log)}
    servers: dict[str, Any] = {}
    for name in ("ours_server", "couchdb") if options.couchdb_url else ("ours_server",):
        try:
            servers[name] = await server_rows(name, source, options, workdir, log)
        except Exception as exc:  # a server that falls over is a row with its error
            log(f"merge: {name} failed: {exc}")
            servers[name] = {"error": str(exc)[-1500:]}
        resolve[name] = servers[name].pop("resolve", servers[name])
    result: dict[str, Any] = {
        "resolve": resolve,
        "stamping": stamping,
        "end_to_end": servers["ours_server"].pop("end_to_end", servers["ours_server"]),
        "servers": servers,
    }
    if options.profile_dir is not None:
        result["profile"] = await profile(source, files, workdir / "profile", options.profile_dir)
    return result


async def server_rows(
    name: str, source: Path, options: Options, workdir: Path, log: Log
) -> dict[str, Any]:
    """One server: what it is, its resolve row and (ours) the end-to-end row."""
    async with targets.started(name, workdir / name, options.couchdb_url or "") as remote:
        spec = await new_db(remote, RESOLVE_DB)
        try:
            resolve = await place_rows(name, spec, source, options.docs, log)
        finally:
            await remote.drop(RESOLVE_DB)
        out = {"about": remote.target.about, "resolve": resolve}
        if name == "ours_server":
            sync_dir, docs = workdir / "sync", options.sync_docs
            run = lambda: merge_sync.end_to_end(remote, sync_dir, docs)  # noqa: E731
            out["end_to_end"] = await _row("end_to_end", run, log)
        return out


def goals(resolve: dict[str, Any], stamping: dict[str, Any]) -> dict[str, dict[str, Any]]:
    speed = {name: resolve.get(name, {}).get("resolve_to_replicate") for name in JUDGED}
    overhead = stamping.get("overhead", {})
    return {
        "resolve_at_least_replicator_speed": report.every(
            speed, lambda v: v >= RESOLVE_TO_REPLICATE_GOAL
        ),
        f"stamping_overhead_under_{STAMPING_OVERHEAD_GOAL:.0%}".replace("%", "pct"): report.every(
            {phase: overhead.get(phase) for phase in PHASES},
            lambda v: v < STAMPING_OVERHEAD_GOAL,
        ),
    }


def run(options: Options, workdir: Path, log: Log) -> dict[str, Any]:
    """Measure everything once, then judge it."""
    source_before = bs.source_digest()
    # Made here: the async code does no blocking file-system calls of its own.
    for directory in (*(workdir / d for d in SUBDIRECTORIES), options.profile_dir):
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
    rows = asyncio.run(measure(options, workdir, log))
    sample = next(workload_batches(1))[0]
    return bs.tidy(
        {
            "docs": options.docs,
            "sync_docs": options.sync_docs,
            "sample_doc_bytes": len(orjson.dumps(sample)),
            "policies": POLICIES.to_json(),
            **rows,
            "resolve_to_replicate": {
                name: place.get("resolve_to_replicate") for name, place in rows["resolve"].items()
            },
            "goals": goals(rows["resolve"], rows["stamping"]),
            "source_sha256": source_before,
            "source_changed_during_run": bs.source_digest() != source_before,
            "notes": __doc__,
        }
    )
