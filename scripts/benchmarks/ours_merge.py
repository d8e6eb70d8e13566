"""Our side of the merger benchmark: one measured run with the installed package, in this process
alone, so every figure starts from a fresh interpreter (the twin of ours_replicate.py):

  python ours_merge.py replicate SOURCE TARGET
      one-shot ``replicate`` (each a database file or a URL): the replicator reference
  python ours_merge.py resolve DB POLICIES_JSON
      ``resolve_all`` on DB (a file or a URL) with the policies given (``Policies.to_json``)
  python ours_merge.py write DB_FILE NEW_FILE UPDATE_FILE plain|stamped
      bulk-write NEW_FILE's batches (one JSON array a line) as new documents into a new
      DB_FILE, then UPDATE_FILE's as updates of the revisions just written (each document given
      the ``_rev`` its twin got), each phase timed; ``stamped`` writes through ``StampingStore``

Prints one JSON object on stdout; an error is ``{"error": ...}`` and exit status 1. Like its
twin it imports only the package (and its twin), so it runs as a plain file under py-spy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from ours_replicate import answer, one_shot

from brainlink_docs.merge.policies import Policies
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.store.api import BulkResult, Doc, DocumentStore
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore

# The replica id of the stamped writer (any non-empty id: one replica writes everything).
WRITER = "bench-writer"


async def replicate(source_spec: str, target_spec: str) -> dict[str, Any]:
    source = await open_endpoint(source_spec)
    target = await open_endpoint(target_spec)
    try:
        return await one_shot(source, target, target)
    finally:
        await source.close()
        await target.close()


async def resolve(db_spec: str, policies_json: str) -> dict[str, Any]:
    policies = Policies.from_json(orjson.loads(policies_json))
    store = await open_endpoint(db_spec)
    try:
        began = time.perf_counter()
        done = await resolve_all(store, policies)
        seconds = time.perf_counter() - began
    finally:
        await store.close()
    return {
        "seconds": seconds,
        "resolved": len(done),
        "failed": [r.doc_id for r in done if not r.ok][:5],
    }


async def write(db_file: str, new_file: str, update_file: str, how: str) -> dict[str, Any]:
    """Both phases on one new database: what a device's bulk writes of fresh and of edited
    documents cost, with or without the merger's clocks."""
    new = _batches(new_file)
    updates = _batches(update_file)
    plain = await SqliteStore.open(db_file)
    store: DocumentStore = StampingStore(plain, WRITER) if how == "stamped" else plain
    try:
        new_row, rows = await _timed(store, new)
        revs = iter([row.rev for row in rows])
        updates = [[{**doc, "_rev": next(revs)} for doc in batch] for batch in updates]
        update_row, _ = await _timed(store, updates)
        doc_count = (await plain.info()).doc_count
    finally:
        await plain.close()
    return {"how": how, "new": new_row, "update": update_row, "doc_count": doc_count}


def _batches(path: str) -> list[list[Doc]]:
    return [orjson.loads(line) for line in Path(path).read_bytes().splitlines() if line]


async def _timed(store: DocumentStore, batches: list[list[Doc]]) -> tuple[dict[str, Any], list]:
    """Each batch in one ``bulk_docs``, one after another, as a device's sync or import does."""
    rows: list[BulkResult] = []
    began = time.perf_counter()
    for batch in batches:
        rows += await store.bulk_docs(batch)
    seconds = time.perf_counter() - began
    failed = [row.id for row in rows if not row.ok]
    return {"seconds": seconds, "docs": len(rows), "failed": failed[:5]}, rows


async def main(argv: list[str]) -> dict[str, Any]:
    mode, *args = argv
    if mode == "replicate":
        return await replicate(*args)
    if mode == "resolve":
        return await resolve(*args)
    if mode == "write":
        return await write(*args)
    raise ValueError(f"unknown mode {mode}")


if __name__ == "__main__":
    answer(main)
