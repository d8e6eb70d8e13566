"""The merger benchmark's end-to-end row: two devices and our server converge by
``sync --resolve``.

Two devices (embedded ``SqliteStore`` files, each editing through its ``StampingStore``) and a
database on our server. N documents are created on the first device and synced everywhere
(untimed); then each device edits every document offline, a field of its own and one counted
open (``merge_workload.edited``). Timed: one device after the other does what
``brainlink-docs sync DEVICE SERVER --resolve`` does (``sync`` both ways, then ``resolve_all``
on both ends, with the benchmark's policies), until no replica has a ``_conflicts`` and all
three hold identical documents (checked between syncs, untimed). Expected: three syncs (the
first device carries its edits; the second carries its own, meets the first's and resolves on
both ends; the first fetches the resolutions), so two rounds of both devices, the second cut
short when the first device's sync has converged. The final documents must each be the merge
of both devices' edits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.merge_workload import (
    BATCH_SIZE,
    POLICIES,
    Check,
    batches,
    check_merged,
    conflicted,
    edited,
    expect,
    snapshot,
)
from benchmarks.targets import Remote
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.replication import sync
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore

DEVICES = ("laptop", "phone")
SERVER_DB = "bench-merge-sync"
# Syncs before a run counts as not converging: twice the three it needs (see above).
MAX_SYNCS = 6


async def end_to_end(remote: Remote, directory: Path, n: int) -> dict[str, Any]:
    await remote.client.create_db(SERVER_DB)
    server = await open_endpoint(remote.url(SERVER_DB))
    devices = {
        name: await SqliteStore.open(directory / f"{name}.sqlite", name=name) for name in DEVICES
    }
    try:
        await _everywhere(devices, server, n)
        for name, store in devices.items():
            await _edit_offline(StampingStore(store, name), name)
        steps = await _converge(devices, server)
        check_merged(await snapshot(server), n, DEVICES)
    finally:
        for store in (*devices.values(), server):
            await store.close()
        await remote.client.request("DELETE", f"/{SERVER_DB}")
    return {
        "docs": n,
        "devices": list(DEVICES),
        "seconds": sum(step["seconds"] for step in steps),
        "syncs": len(steps),
        "rounds": (len(steps) + 1) // len(DEVICES),
        "steps": steps,
    }


async def _everywhere(devices: dict[str, SqliteStore], server: DocumentStore, n: int) -> None:
    """The documents created on the first device, then synced to the server and the other."""
    first = DEVICES[0]
    creator = StampingStore(devices[first], first)
    for batch in batches(n):
        rows = await creator.bulk_docs(batch)
        expect("failed creations", [row.id for row in rows if not row.ok][:3], [])
    for store in devices.values():
        await sync(store, server)
    for name, store in {**devices, "server": server}.items():
        expect(f"documents on {name} before the edits", (await store.info()).doc_count, n)


async def _edit_offline(store: StampingStore, replica: str) -> None:
    """Every document edited on one device (its own field, one counted open)."""
    docs = [edited(doc, replica) for doc in (await snapshot(store)).values()]
    for start in range(0, len(docs), BATCH_SIZE):
        rows = await store.bulk_docs(docs[start : start + BATCH_SIZE])
        expect(f"failed edits on {replica}", [row.id for row in rows if not row.ok][:3], [])


async def _converge(devices: dict[str, SqliteStore], server: DocumentStore) -> list[dict[str, Any]]:
    """Each device in turn syncs with the server and resolves, until the three agree."""
    steps = []
    for i in range(MAX_SYNCS):
        name = DEVICES[i % len(DEVICES)]
        device = devices[name]
        began = time.perf_counter()
        push, pull = await sync(device, server)
        on_device = await resolve_all(device, POLICIES)
        on_server = await resolve_all(server, POLICIES)
        seconds = time.perf_counter() - began
        expect("replication failures", len(push.failures) + len(pull.failures), 0)
        failed = [r.doc_id for r in (*on_device, *on_server) if not r.ok]
        expect("failed resolutions", failed[:3], [])
        replicas = {k: await snapshot(s) for k, s in {**devices, "server": server}.items()}
        conflicts = {k: len(conflicted(docs)) for k, docs in replicas.items()}
        identical = all(docs == replicas["server"] for docs in replicas.values())
        steps.append(
            {
                "device": name,
                "seconds": seconds,
                "pushed": push.stats["docs_written"],
                "pulled": pull.stats["docs_written"],
                "resolved_on_device": len(on_device),
                "resolved_on_server": len(on_server),
                "conflicted_after": conflicts,
                "identical_after": identical,
            }
        )
        if identical and not any(conflicts.values()):
            return steps
    raise Check(f"not converged after {MAX_SYNCS} syncs: {steps[-1]}")
