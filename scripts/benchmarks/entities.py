"""The entities workload (``scripts/bench --entities N``, issue 19 item 8): the app's queries
(``brainlink_docs.models.Brainlink``) on realistic Brainlink data, on the embedded store, our
server and the real CouchDB, in the same run.

N documents made by the entity models' ``to_doc()`` (``entities_workload``: a user per ~1,000
documents, each with workspaces and panels, chats and their messages (~70%), a file system of
directories and files (~20%), pipelines with nodes and edges, plugins with permissions), seeded.
Each target, in a fresh database and process (``entities_ours.py``):

  write    the documents with ``bulk_docs`` in batches of 1,000 (not through the repositories:
           writing is not what is measured; docs/s reported for reference)
  design   ``push_design`` (``_design/brainlink``, the merge policies, the Mango index)
  build    the first query of each view, then the Mango index's first ``_find``: docs/s
  queries  QUERIES random calls of each of the app's queries, p50/p99 ms: user_workspaces,
           workspace_panels, user_chats, chat_messages (the first page of 50, and a deep
           page by cursor), directory_children, file_by_path, files_by_kind (Mango),
           recent_files, pipeline_graph, user_plugins

Targets: ``embedded`` (``Brainlink`` over ``SqliteStore``), ``ours_server`` (``Brainlink`` over
``HttpStore`` to our server, started as the other benchmarks start it) and ``couchdb``
(``Brainlink`` over ``HttpStore`` to ``COUCHDB_URL``: the same view and ``_find`` requests,
with include_docs, that the app would make; skipped with a note when unset). Workers run
pinned to one CPU, our server to the other. With ``--entities-1m``, the embedded store again
at 1,000,000 documents.

Every answer is checked first (``entities_report``). Ratios are CouchDB's p99 over ours per
query (>1: ours faster); the goal: every query's p99 under 5 ms at 1M on the embedded store.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bench_server as bs

from benchmarks import entities_report, targets
from benchmarks.entities_workload import Expected, make_plan, min_docs
from benchmarks.views import load, missing_tools

HERE = Path(__file__).resolve().parent
WORKER = HERE / "entities_ours.py"
TARGETS = ("embedded", "ours_server", "couchdb")
DB = "bench-entities"
BIG_SIZE = 1_000_000

Log = Callable[[str], None]

__all__ = ["BIG_SIZE", "Options", "failed_rows", "min_docs", "missing_tools", "run"]


@dataclass(frozen=True, slots=True)
class Options:
    """N documents, calls per query, the CouchDB (None: its row is skipped), and whether to
    add the embedded store at 1,000,000 documents."""

    docs: int
    queries: int
    couchdb_url: str | None
    big: bool = False


def worker(args: list[str]) -> list[str]:
    return [sys.executable, str(WORKER), *args]


async def run_target(name: str, plan: Path, directory: Path, options: Options) -> dict[str, Any]:
    """One target's raw answers, in a fresh database (``directory`` made beforehand)."""
    if name == "embedded":
        return await targets.run_worker(worker([str(plan), str(directory / "entities.sqlite")]))
    return await targets.run_on_remote(
        name, directory, options.couchdb_url or "", DB, lambda url: worker([str(plan), url])
    )


def measure(
    names: tuple[str, ...], size: tuple[Path, Expected], workdir: Path, options: Options, log: Log
) -> dict[str, Any]:
    """Every target in ``names`` on one size's plan, one after the other: their rows."""
    plan, expected = size
    return asyncio.run(
        targets.measure_each(
            names,
            f"entities at {expected.docs} documents",
            lambda name: run_target(name, plan, workdir / name, options),
            lambda raw: entities_report.figures(raw, expected),
            summary,
            log,
        )
    )


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """One line of progress: build docs/s and each query's p99, or that it failed."""
    out: dict[str, Any] = {"build": row["build"].get("docs_per_s", "error")}
    queries = row["queries"]
    if "error" in queries:
        return {**out, "queries": "error"}
    return out | {name: q.get("p99_ms", "error") for name, q in queries.items()}


def size_run(n: int, workdir: Path, options: Options, log: Log) -> tuple[Path, Expected]:
    directory = workdir / f"workload-{n}"
    directory.mkdir(parents=True, exist_ok=True)
    log(f"entities: generating {n} documents")
    return make_plan(directory, n, options.queries)


def target_names(options: Options) -> tuple[tuple[str, ...], dict[str, str]]:
    if options.couchdb_url:
        return TARGETS, {}
    names = tuple(t for t in TARGETS if t != "couchdb")
    return names, {"couchdb": "skipped: COUCHDB_URL is not set"}


def run(options: Options, workdir: Path, log: Log) -> dict[str, Any]:
    """Measure every target at N (and the embedded store at 1M with ``big``), then judge."""
    source_before = bs.source_digest()
    names, skipped = target_names(options)
    for name in names:
        (workdir / name).mkdir(parents=True, exist_ok=True)
    plan, expected = size_run(options.docs, workdir, options, log)
    rows = measure(names, (plan, expected), workdir, options, log)
    rows |= {name: {"note": note} for name, note in skipped.items()}
    plan_json = load(plan)
    result: dict[str, Any] = {
        "docs": options.docs,
        "users": expected.users,
        "types": plan_json["types"],
        "avg_doc_bytes": plan_json["avg_doc_bytes"],
        "queries": options.queries,
        "targets": rows,
    }
    embedded_1m = None
    if options.big:
        shutil.rmtree(workdir / "embedded", ignore_errors=True)
        shutil.rmtree(plan.parent, ignore_errors=True)
        (workdir / "1m" / "embedded").mkdir(parents=True, exist_ok=True)
        big_size = size_run(BIG_SIZE, workdir / "1m", options, log)
        big = measure(("embedded",), big_size, workdir / "1m", options, log)
        embedded_1m = big["embedded"]
        result["embedded_1m"] = embedded_1m
    result["ratios"] = entities_report.all_ratios({k: v for k, v in rows.items() if k in names})
    result["goals"] = entities_report.goals(rows.get("embedded", {}), embedded_1m)
    return targets.finished(result, source_before, __doc__)


def failed_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of ours that failed (CouchDB failing is its finding, not a failed run)."""
    entities = result.get("entities")
    if entities is None:
        return []
    rows = [entities["targets"].get(name, {}) for name in entities_report.OURS]
    rows.append(entities.get("embedded_1m") or {})
    phases = [row.get(p, {}) for row in rows for p in ("write", "design", "build", "queries")]
    queries = [q for p in phases for q in p.values() if isinstance(q, dict)]
    return [row for row in [*rows, *phases, *queries] if "error" in row]
