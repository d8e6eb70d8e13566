"""Our side of the replicator benchmark: one replication with ``brainlink_docs.replication``
between a remote database (``HttpStore``) and an embedded one (``SqliteStore`` file), in this
process alone, so its peak RSS (VmHWM) is the replicator's (the twin of pouchdb_replicate.js):

  python ours_replicate.py pull REMOTE_URL DB_FILE     one-shot ``replicate``, remote -> local
  python ours_replicate.py push DB_FILE REMOTE_URL     one-shot ``replicate``, local -> remote
  python ours_replicate.py live REMOTE_URL DB_FILE WRITES WARMUP PREFIX
      ``replicate_continuously`` pulling; then WARMUP untimed and WRITES timed writes to the
      remote, each timed from the write until the embedded database holds it

The embedded file opens with the store's defaults (``SqliteStore.open``): what an app gets.
Prints one JSON object on stdout; an error is ``{"error": ...}`` and exit status 1. It imports
only the installed package, so it runs as a plain file (``py-spy record -- python this.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from brainlink_docs.errors import NotFound
from brainlink_docs.replication import replicate, replicate_continuously
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.http import HttpStore
from brainlink_docs.store.sqlite import SqliteStore

# A live write not seen locally within this long is lost, not slow: fail the run.
LIVE_WAIT_S = 60.0


def peak_rss_bytes() -> int | None:
    """This process's peak resident set size (VmHWM; Linux), every thread's memory included."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


async def one_shot(
    source: DocumentStore, target: DocumentStore, local: DocumentStore
) -> dict[str, Any]:
    """One replication, timed; ``local`` is the end whose documents are counted after."""
    began = time.perf_counter()
    result = await replicate(source, target)
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        **result.stats,
        "failures": [row.id for row in result.failures[:5]],
        "local_doc_count": (await local.info()).doc_count,
    }


async def arrival(local: SqliteStore, doc_id: str) -> int:
    """perf_counter_ns when ``doc_id`` is in ``local``: woken by each commit, no polling."""
    while True:
        seq = (await local.info()).update_seq
        with contextlib.suppress(NotFound):
            await local.get(doc_id)
            return time.perf_counter_ns()
        await local.wait_for_change(seq)


async def live(
    remote: HttpStore, local: SqliteStore, writes: int, warmup: int, prefix: str
) -> dict[str, Any]:
    follower = asyncio.create_task(replicate_continuously(remote, local))
    latencies = []
    try:
        for i in range(warmup + writes):
            doc_id = f"{prefix}{i:06d}"
            t0 = time.perf_counter_ns()
            await remote.put({"_id": doc_id, "type": "latency_probe", "n": i})
            waiting = asyncio.create_task(arrival(local, doc_id))
            done, _ = await asyncio.wait(
                {waiting, follower}, timeout=LIVE_WAIT_S, return_when=asyncio.FIRST_COMPLETED
            )
            if follower in done:
                follower.result()  # raises what stopped the replication
            if waiting not in done:
                waiting.cancel()
                raise RuntimeError(f"write {doc_id} not replicated within {LIVE_WAIT_S} s")
            if i >= warmup:
                latencies.append((waiting.result() - t0) / 1e6)
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    return {"latencies_ms": latencies, "doc_count": (await local.info()).doc_count}


async def main(argv: list[str]) -> dict[str, Any]:
    mode, a, b, *rest = argv
    remote_url, db_file = (b, a) if mode == "push" else (a, b)
    remote = await HttpStore.open(remote_url)
    local = await SqliteStore.open(db_file)
    try:
        if mode == "pull":
            out = await one_shot(remote, local, local)
        elif mode == "push":
            out = await one_shot(local, remote, local)
        elif mode == "live":
            writes, warmup, prefix = rest
            out = await live(remote, local, int(writes), int(warmup), prefix)
        else:
            raise ValueError(f"unknown mode {mode}")
    finally:
        await local.close()
        await remote.close()
    return {**out, "peak_rss_bytes": peak_rss_bytes()}


def answer(main: Callable[[list[str]], Awaitable[dict[str, Any]]]) -> None:
    """Run a worker's ``main`` on this process's arguments and print its one JSON line (the
    harness reads the last); a failure is ``{"error": traceback}`` and exit status 1."""
    try:
        report = asyncio.run(main(sys.argv[1:]))
    except Exception:
        print(json.dumps({"error": traceback.format_exc()[-2000:]}))
        sys.exit(1)
    print(json.dumps(report))


if __name__ == "__main__":
    answer(main)
