"""The ``validate_doc_update`` workload: what design functions cost a bulk write.

  plain        ``bulk_docs`` of N new documents (batches of BATCH) into a fresh embedded store.
  ddoc         the same, the database holding a design document with views and filters but no
               ``validate_doc_update``: must cost nothing measurable (the store remembers that
               no design document validates; one boolean test per batch).
  validate     the same with a trivial ``validate_doc_update`` (reads one field): every
               document crosses into QuickJS once per batch, with its stored parent looked up.

REPEATS runs of each, the order rotated each round (a shared, noisy machine), medians reported
in documents per second. Checks before figures: every document was written.

Run: ``cd scripts && ../.venv/bin/python -m benchmarks.validate [N]``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from brainlink_docs.store.sqlite import SqliteStore

DEFAULT_DOCS = 10_000
# Batches the size a replicator or an app import sends.
BATCH = 1_000
REPEATS = 5
DESIGNS: dict[str, dict[str, Any] | None] = {
    "plain": None,
    "ddoc": {
        "_id": "_design/app",
        "views": {"by_n": {"map": "function(doc) { emit(doc.n, null); }"}},
        "filters": {"mine": "function(doc, req) { return doc.owner === req.userCtx.name; }"},
    },
    "validate": {
        "_id": "_design/rules",
        "validate_doc_update": (
            "function(doc) { if (doc.n < 0) throw({forbidden: 'n must not be negative'}); }"
        ),
    },
}


async def one_run(kind: str, count: int, directory: Path) -> float:
    """Seconds to write ``count`` documents into a fresh store of ``kind``."""
    store = await SqliteStore.open(directory / f"{kind}-{time.monotonic_ns()}.sqlite")
    try:
        design = DESIGNS[kind]
        if design is not None:
            await store.put(design)
        docs = [
            {"_id": f"doc-{i:06d}", "n": i, "owner": "ann", "text": "x" * 100} for i in range(count)
        ]
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            rows = await store.bulk_docs(docs[start : start + BATCH])
            assert all(row.ok for row in rows), [row for row in rows if not row.ok][:3]
        elapsed = time.perf_counter() - started
        info = await store.info()
        assert info.doc_count == count + (design is not None), info
        return elapsed
    finally:
        await store.close()


async def measure(count: int) -> dict[str, float]:
    """Median documents per second of each kind."""
    kinds = list(DESIGNS)
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(REPEATS):
            order = kinds[round_ % len(kinds) :] + kinds[: round_ % len(kinds)]
            for kind in order:
                times[kind].append(await one_run(kind, count, Path(tmp)))
    return {kind: count / statistics.median(spent) for kind, spent in times.items()}


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DOCS
    rates = asyncio.run(measure(count))
    for kind, rate in rates.items():
        print(f"{kind:10s} {rate:12,.0f} docs/s")
    print(f"ddoc/plain {rates['ddoc'] / rates['plain']:.3f}")
    print(f"validate/plain {rates['validate'] / rates['plain']:.3f}")


if __name__ == "__main__":
    main()
