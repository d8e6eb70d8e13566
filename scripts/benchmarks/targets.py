"""What the replicator and merger benchmarks run against and with: the remotes (our server,
the real CouchDB) and the worker processes (ours and PouchDB's replicators, the merger's runs:
each a fresh process per run).

The servers start as the server benchmark starts them (``bench_server``: a free loopback port,
pinned to one CPU); the replicator processes run pinned to the other, as the server
benchmark's load generator does, so a replicator and the server it talks to do not share a
core. The CouchDB at ``COUCHDB_URL`` is not started here (no pinning, no RSS of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_replication as br
import bench_server as bs

HERE = Path(__file__).resolve().parent
OURS_WORKER = HERE / "ours_replicate.py"
MERGE_WORKER = HERE / "ours_merge.py"
POUCHDB_WORKER = HERE / "pouchdb_replicate.js"
# A full replication of 100,000 documents takes a minute or two; past this it is stuck.
WORKER_TIMEOUT_S = 1800.0
# py-spy samples per second: enough for percentages that are stable to a point or two.
PROFILE_RATE = 100
REMOTES = ("ours_server", "couchdb")


@dataclass(slots=True)
class Remote:
    """A server holding the remote side of each replication, and how to reach its databases."""

    target: bs.Target
    client: bs.Client

    @property
    def name(self) -> str:
        return self.target.name

    def url(self, db: str) -> str:
        """The database's URL with credentials in it (every replicator here takes that)."""
        return br.db_url(self.target, db)

    async def doc_count(self, db: str) -> int:
        return int((await self.client.request("GET", f"/{db}"))["doc_count"])

    async def drop(self, db: str) -> None:
        """Delete ``db`` if it is there (a benchmark leaves no database behind on a peer)."""
        with contextlib.suppress(RuntimeError):
            await self.client.request("DELETE", f"/{db}")


def start_remote(name: str, directory: Path, couchdb_url: str) -> bs.Target:
    """Our server (``serve``, synchronous FULL, pinned) or the CouchDB at ``couchdb_url``."""
    (directory / "local").mkdir(parents=True, exist_ok=True)  # ours' and PouchDB's databases
    if name == "ours_server":
        server_cpus, _ = bs.cpu_split()
        return bs.start_ours(name, directory, "FULL", server_cpus)
    return bs.couchdb_target(couchdb_url, directory)


@contextlib.asynccontextmanager
async def started(name: str, directory: Path, couchdb_url: str) -> AsyncIterator[Remote]:
    """``start_remote``'s server with a client, both closed (ours stopped) afterwards."""
    target = start_remote(name, directory, couchdb_url)
    remote = Remote(target, bs.Client(target))
    try:
        yield remote
    finally:
        await remote.client.close()
        if target.process is not None:
            bs.stop_process(target.process)


async def run_on_remote(
    name: str, directory: Path, couchdb_url: str, db: str, command: Callable[[str], list[str]]
) -> dict[str, Any]:
    """A worker (``command`` of the database's URL) against a fresh ``db`` on the remote
    ``name``, dropped before and after; its answer with the remote's ``about``."""
    async with started(name, directory, couchdb_url) as remote:
        await remote.drop(db)
        try:
            raw = await run_worker(command(remote.url(db)))
        finally:
            await remote.drop(db)
        return {"about": remote.target.about, **raw}


def missing_tools(profile: bool) -> list[str]:
    """What the benchmark needs and this machine lacks, as install hints."""
    missing = []
    if shutil.which("node") is None or not (bs.ROOT / "node_modules" / "pouchdb").is_dir():
        missing.append("node and node_modules/pouchdb (npm ci)")
    if not bs.OUR_SERVER.is_file():
        missing.append(".venv/bin/brainlink-docs (bash scripts/bootstrap)")
    if profile and bs.py_spy() is None:
        missing.append("py-spy (.venv/bin/pip install py-spy)")
    return missing


def ours_command(args: list[str]) -> list[str]:
    return [sys.executable, str(OURS_WORKER), *args]


def merge_command(args: list[str]) -> list[str]:
    """The merger benchmark's worker (``ours_merge.py``): a replication, a resolution or a
    bulk write, each in a fresh process."""
    return [sys.executable, str(MERGE_WORKER), *args]


def pouchdb_command(args: list[str]) -> list[str]:
    return [shutil.which("node") or "node", str(POUCHDB_WORKER), *args]


def profiled(command: list[str], raw: Path) -> list[str]:
    """``command`` under py-spy (it starts the process, so no ptrace of a stranger is needed)."""
    return [bs.py_spy() or "py-spy", "record", "--rate", str(PROFILE_RATE), "--threads",
            "--nonblocking", "--format", "raw", "--output", str(raw), "--", *command]  # fmt: skip


async def run_worker(command: list[str]) -> dict[str, Any]:
    """Run one replicator process pinned to the generator's CPU; its JSON line, or raise."""
    _, generator_cpus = bs.cpu_split()
    process = await asyncio.create_subprocess_exec(
        *command,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=bs.ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("BRAINLINK_")},
        preexec_fn=None
        if generator_cpus is None
        else lambda: os.sched_setaffinity(0, generator_cpus),
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), WORKER_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{command[:3]} timed out after {WORKER_TIMEOUT_S} s") from None
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{command[:3]} exited {process.returncode}: {err.decode()[-1500:]}")
    answer: dict[str, Any] = json.loads(lines[-1])
    if process.returncode != 0 or "error" in answer:
        raise RuntimeError(str(answer.get("error") or err.decode()[-1500:]))
    return answer


async def measure_each(
    names: tuple[str, ...],
    label: str,
    run_one: Callable[[str], Awaitable[dict[str, Any]]],
    judge: Callable[[dict[str, Any]], dict[str, Any]],
    summary: Callable[[dict[str, Any]], dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Each target in turn (``label`` names the benchmark and size in the progress lines): its
    worker's raw answer judged into its row, with a server's ``about`` and the worker's peak
    RSS named as the HTTP client's when the store is elsewhere. A target that falls over is a
    row with its error; the others still run."""
    rows: dict[str, Any] = {}
    for name in names:
        log(f"{label}: {name}")
        try:
            raw = await run_one(name)
        except Exception as exc:
            log(f"{label}: {name} failed: {exc}")
            rows[name] = {"error": str(exc)[-1500:]}
            continue
        row = rows[name] = judge(raw)
        if "about" in raw:  # a server: the worker's memory is the HTTP client's, not the store's
            row["about"] = raw["about"]
            row["client_peak_rss_mb"] = row.pop("peak_rss_mb", None)
        row |= {
            k: raw[k] for k in ("pouchdb_version", "pouchdb_find_version", "python") if k in raw
        }
        log(f"{label}: {name}: {summary(row)}")
    return rows


def finished(result: dict[str, Any], source_before: str, notes: str | None) -> dict[str, Any]:
    """A benchmark's report with its provenance: the store's source digest at the start,
    whether it changed during the run (the figures then mix two versions), the PYTHONPATH the
    workers ran with, and the benchmark's own description; rounded for reading."""
    result["source_sha256"] = source_before
    result["source_changed_during_run"] = bs.source_digest() != source_before
    result["pythonpath"] = os.environ.get("PYTHONPATH")
    result["notes"] = notes
    tidy: dict[str, Any] = bs.tidy(result)
    return tidy
