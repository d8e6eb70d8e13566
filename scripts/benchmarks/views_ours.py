"""Our side of the views benchmark: one run of the plan's phases against one database, in this
process alone (the twin of ``pouchdb_views.js``; ``views_workload`` describes the plan):

  python views_ours.py PLAN SPEC [PLAIN_SPEC]

SPEC is a new database file (the embedded ``SqliteStore``, its defaults) or the URL of a new,
empty database (our server or CouchDB, through ``HttpStore``). With PLAIN_SPEC, the documents
are first bulk-written there without the design document (the baseline of "bulk writes with two
views defined"). Phases, in order, each timed on its store calls alone:

  write        the design document, then every batch in one ``bulk_docs``
  build        the first query of each view (``update=true``, limit 1), timed from the first
  incremental  the plan's edits written (untimed); the next query of each view, timed
  keyed        per chat: startkey [chat], endkey [chat, {}], limit 20
  range        the same with limit 100 and include_docs
  reduce       ``tokens`` with group=true, a few times
  find         ``create_index`` then ``find`` {"chat_id": chat}, limit 20

Answers come back raw and compact (per request: rows, and rows that belong to the chat) for
``views_report`` to judge. A phase that fails is ``{"error": ...}``; later phases still run
when they can. Mango goes through ``DocumentStore.create_index`` and ``find``.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from ours_replicate import answer, peak_rss_bytes

from brainlink_docs.store.api import DocumentStore, ViewQuery
from brainlink_docs.store.endpoints import is_url, open_endpoint
from brainlink_docs.store.http import HttpStore

Row = dict[str, Any]
# HttpStore's default bounds each request at 30 s; a first query builds the whole index before
# it answers (CouchDB: about 3,900 docs/s, so 100,000 documents take longer than that).
HTTP_TIMEOUT_S = 1_800.0


class Run:
    """One store, the plan, and what each phase left for the next (the edited revisions)."""

    def __init__(self, plan: dict[str, Any], store: DocumentStore) -> None:
        self.plan = plan
        self.store = store
        self.ddoc: str = plan["ddoc"]
        self.edits: list[dict[str, Any]] = load(plan["edits"])
        self.edit_ids = {doc["_id"] for doc in self.edits}
        self.revs: dict[str, str] = {}

    async def write(self) -> Row:
        await self.store.put(dict(self.plan["design_doc"]))
        row = await bulk_write(self.store, Path(self.plan["workload"]), self.edit_ids)
        self.revs = row.pop("revs")
        return row

    async def both_views(self) -> list[int | None]:
        """The first row of each view (each brought up to date first): their total_rows."""
        keyed = await self.store.query_view(self.ddoc, "by_chat", ViewQuery(limit=1))
        tokens = await self.store.query_view(self.ddoc, "tokens", ViewQuery(reduce=False, limit=1))
        return [keyed.total_rows, tokens.total_rows]

    async def tokens_sum(self) -> Any:
        """The _sum of every row (the check that the edits reached the index; not timed: a
        full reduce is its own row, not part of bringing the index up to date)."""
        total = await self.store.query_view(self.ddoc, "tokens", ViewQuery())
        return total.rows[0]["value"] if total.rows else None

    async def build(self) -> Row:
        began = time.perf_counter()
        total_rows = await self.both_views()
        return {"seconds": time.perf_counter() - began, "total_rows": total_rows}

    async def incremental(self) -> Row:
        edits = [{**doc, "_rev": self.revs[doc["_id"]]} for doc in self.edits]
        results = await self.store.bulk_docs(edits)
        began = time.perf_counter()
        total_rows = await self.both_views()
        seconds = time.perf_counter() - began
        failed = [r.id for r in results if not r.ok][:5]
        return {
            "seconds": seconds,
            "edited": len(results),
            "failed": failed,
            "total_rows": total_rows,
            "tokens_sum": await self.tokens_sum(),
        }

    async def keyed(self, chats_key: str, limit_key: str, include_docs: bool) -> Row:
        latencies, answers = [], []
        limit = self.plan[limit_key]
        for chat in self.plan[chats_key]:
            query = ViewQuery(
                startkey=[chat], endkey=[chat, {}], limit=limit, include_docs=include_docs
            )
            began = time.perf_counter()
            page = await self.store.query_view(self.ddoc, "by_chat", query)
            latencies.append((time.perf_counter() - began) * 1000)
            answers.append(
                [len(page.rows), sum(belongs(row, chat, include_docs) for row in page.rows)]
            )
        return {"latencies_ms": latencies, "answers": answers}

    async def reduce(self) -> Row:
        seconds, rows = [], []
        for _ in range(self.plan["reduce_repeats"]):
            began = time.perf_counter()
            page = await self.store.query_view(self.ddoc, "tokens", ViewQuery(group=True))
            seconds.append(time.perf_counter() - began)
            rows = [[row["key"], row["value"]] for row in page.rows]
        return {"runs_seconds": seconds, "rows": rows}

    async def find(self) -> Row:
        limit = self.plan["find_limit"]
        began = time.perf_counter()
        await self.store.create_index(self.plan["find_index"])
        first = self.plan["find_chats"][0]
        await self.store.find({"selector": {"chat_id": first}, "limit": limit})
        index_seconds = time.perf_counter() - began
        latencies, answers = [], []
        for chat in self.plan["find_chats"]:
            request = {"selector": {"chat_id": chat}, "limit": limit}
            began = time.perf_counter()
            docs = (await self.store.find(request))["docs"]
            latencies.append((time.perf_counter() - began) * 1000)
            answers.append([len(docs), sum(doc.get("chat_id") == chat for doc in docs)])
        return {"index_seconds": index_seconds, "latencies_ms": latencies, "answers": answers}


def load(path: str) -> Any:
    """A JSON file (read before anything is timed; the worker's inputs are small)."""
    return orjson.loads(Path(path).read_bytes())


def belongs(row: Row, chat: str, include_docs: bool) -> bool:
    """A row of ``chat``'s range: its key starts with the chat, and its doc (when asked for) is
    the row's own document of that chat."""
    if row["key"][0] != chat:
        return False
    if not include_docs:
        return True
    doc = row.get("doc") or {}
    return doc.get("_id") == row["id"] and doc.get("chat_id") == chat


async def bulk_write(store: DocumentStore, workload: Path, keep: set[str]) -> Row:
    """Every batch in one ``bulk_docs``, timed on the calls alone; the revisions of ``keep``."""
    seconds, docs, failed, revs = 0.0, 0, [], {}
    with workload.open("rb") as lines:
        for line in lines:
            batch = orjson.loads(line)
            began = time.perf_counter()
            results = await store.bulk_docs(batch)
            seconds += time.perf_counter() - began
            docs += len(results)
            failed += [r.id for r in results if not r.ok][:5]
            revs |= {r.id: r.rev for r in results if r.id in keep and r.rev is not None}
    return {"docs": docs, "seconds": seconds, "failed": failed[:5], "revs": revs}


async def phase(name: str, run: Callable[[], Awaitable[Row]]) -> Row:
    try:
        return await run()
    except Exception:
        return {"error": f"{name}: {traceback.format_exc()[-1500:]}"}


async def open_store(spec: str) -> DocumentStore:
    """A new database: a file, or a URL created first, then bound with a long timeout."""
    store = await open_endpoint(spec, create=True)
    if not is_url(spec):
        return store
    await store.close()
    return await HttpStore.open(spec, timeout=HTTP_TIMEOUT_S)


async def main(argv: list[str]) -> dict[str, Any]:
    plan_file, spec, *plain = argv
    plan = load(plan_file)
    out: dict[str, Any] = {}
    if plain:
        store = await open_endpoint(plain[0], create=True)
        try:
            row = await phase(
                "write_plain", lambda: bulk_write(store, Path(plan["workload"]), set())
            )
            row.pop("revs", None)
            out["write_plain"] = row
        finally:
            await store.close()
    store = await open_store(spec)
    run = Run(plan, store)
    phases: dict[str, Callable[[], Awaitable[Row]]] = {
        "write": run.write,
        "build": run.build,
        "incremental": run.incremental,
        "keyed": lambda: run.keyed("keyed_chats", "keyed_limit", include_docs=False),
        "range": lambda: run.keyed("range_chats", "range_limit", include_docs=True),
        "reduce": run.reduce,
        "find": run.find,
    }
    try:
        for name in plan["phases"]:
            out[name] = await phase(name, phases[name])
            if name == "write" and "error" in out[name]:
                break  # nothing after it means anything
    finally:
        await store.close()
    out["peak_rss_bytes"] = peak_rss_bytes()
    out["python"] = sys.version.split()[0]
    return out


if __name__ == "__main__":
    answer(main)
