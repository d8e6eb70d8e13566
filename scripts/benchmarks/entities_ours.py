"""One target of the entities benchmark: the plan's documents, design and queries against one
database, in this process alone (``entities_workload`` describes the plan):

  python entities_ours.py PLAN SPEC

SPEC is a new database file (the embedded ``SqliteStore``) or the URL of a new, empty database
(our server or CouchDB, through ``HttpStore``: the app's queries are then exactly the view and
``_find`` requests CouchDB answers). Phases, in order:

  write    every batch in one ``bulk_docs`` (views_ours.bulk_write; not what is measured here)
  design   ``push_design``: ``_design/brainlink``, ``_design/merge`` and the Mango index
  build    the first query of each view (limit 1), then the Mango index's first ``_find``,
           timed from the first: every index built once
  queries  each of the app's queries (``Brainlink``), each planned call timed alone

Answers come back compact (ids in the order the query gave them) for ``entities_report`` to
judge. A phase that fails is ``{"error": ...}``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ours_replicate import answer, peak_rss_bytes
from views_ours import bulk_write, load, open_store, phase

from brainlink_docs.models import Brainlink
from brainlink_docs.models.design import VIEWS_DDOC, push_design, views_design
from brainlink_docs.store.api import DocumentStore, ViewQuery

Row = dict[str, Any]
Query = Callable[..., Awaitable[Any]]


def queries(app: Brainlink) -> dict[str, Query]:
    """Each planned query: its arguments in, its compact answer out."""

    async def workspaces(user: str) -> Any:
        return [w.id for w in (await app.user_workspaces(user)).items]

    async def panels(workspace: str) -> Any:
        return sorted(p.id for p in await app.workspace_panels(workspace))

    async def chats(user: str) -> Any:
        return [c.id for c in (await app.user_chats(user)).items]

    async def messages(chat: str, cursor: str | None) -> Any:
        page = await app.chat_messages(chat, cursor=cursor)
        return [m.id for m in page.items if m.chat_id == chat]

    async def children(fs: str, directory: str | None) -> Any:
        return [e.id for e in (await app.directory_children(fs, directory)).items]

    async def by_path(fs: str, path: str) -> Any:
        found = await app.file_by_path(fs, path)
        return [found.id, found.path]

    async def by_kind(fs: str, kind: str) -> Any:
        files, _ = await app.files_by_kind(fs, kind)
        return [f.id for f in files if f.kind == kind]

    async def recent(user: str) -> Any:
        return [f.id for f in (await app.recent_files(user)).items]

    async def graph(pipeline: str) -> Any:
        g = await app.pipeline_graph(pipeline)
        return [g.pipeline.id, sorted(n.id for n in g.nodes), sorted(e.id for e in g.edges)]

    async def plugins(user: str) -> Any:
        grants = await app.user_plugins(user)
        return [[g.plugin.id, sorted(p.id for p in g.permissions)] for g in grants]

    return {
        "user_workspaces": workspaces,
        "workspace_panels": panels,
        "user_chats": chats,
        "chat_messages": messages,
        "chat_messages_deep": messages,
        "directory_children": children,
        "file_by_path": by_path,
        "files_by_kind": by_kind,
        "recent_files": recent,
        "pipeline_graph": graph,
        "user_plugins": plugins,
    }


async def build(store: DocumentStore, first_find: list[Any]) -> Row:
    """Every view's first query, then the Mango index's (the first files_by_kind call)."""
    views = sorted(views_design()["views"])
    total_rows: dict[str, int | None] = {}
    began = time.perf_counter()
    for view in views:
        page = await store.query_view(VIEWS_DDOC, view, ViewQuery(limit=1))
        total_rows[view] = page.total_rows
    await Brainlink(store).files_by_kind(*first_find)
    return {"seconds": time.perf_counter() - began, "total_rows": total_rows}


async def run_queries(app: Brainlink, calls: dict[str, list[list[Any]]]) -> Row:
    """Each query's calls in turn (a query that fails is its row's error, not the others')."""
    out: Row = {}
    for name, call in queries(app).items():
        out[name] = await phase(name, lambda call=call, name=name: timed_calls(call, calls[name]))
    return out


async def timed_calls(call: Query, calls: list[list[Any]]) -> Row:
    """Every call of one query, each timed alone: latencies and compact answers."""
    latencies, answers = [], []
    for args in calls:
        began = time.perf_counter()
        got = await call(*args)
        latencies.append((time.perf_counter() - began) * 1000)
        answers.append(got)
    return {"latencies_ms": latencies, "answers": answers}


async def main(argv: list[str]) -> dict[str, Any]:
    plan_file, spec = argv
    plan = load(plan_file)
    out: dict[str, Any] = {}
    store = await open_store(spec)
    calls = plan["calls"]
    try:
        out["write"] = await phase(
            "write", lambda: bulk_write(store, Path(plan["workload"]), set())
        )
        out["write"].pop("revs", None)
        out["design"] = await phase("design", lambda: timed(push_design(store)))
        out["build"] = await phase("build", lambda: build(store, calls["files_by_kind"][0]))
        out["queries"] = await phase("queries", lambda: run_queries(Brainlink(store), calls))
    finally:
        await store.close()
    out["peak_rss_bytes"] = peak_rss_bytes()
    out["python"] = sys.version.split()[0]
    return out


async def timed(work: Awaitable[list[str]]) -> Row:
    began = time.perf_counter()
    written = await work
    return {"seconds": time.perf_counter() - began, "written": written}


if __name__ == "__main__":
    answer(main)
