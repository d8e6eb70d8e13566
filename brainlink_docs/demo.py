"""A short tour of the embedded engine, printed step by step (``brainlink-docs demo``).

It shows what the rest of Brainlink relies on: deterministic revisions, a 409 on a stale edit, a
conflict arriving by replication (``new_edits=false``), CouchDB's winner, and ``_changes``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from brainlink_docs.errors import Conflict
from brainlink_docs.store.api import ChangesQuery, ReadOptions
from brainlink_docs.store.sqlite import SqliteStore

Printer = Callable[[str, object], None]


async def run_demo(path: Path, show: Printer) -> None:
    store = await SqliteStore.open(path, name="demo")
    try:
        first = await store.put({"_id": "chat:1", "type": "chat", "title": "Plans"})
        show("put chat:1", first.to_json())
        second = await store.put({"_id": "chat:1", "_rev": first.rev, "title": "Plans for Q1"})
        show("update with its rev", second.to_json())
        try:
            await store.put({"_id": "chat:1", "_rev": first.rev, "title": "stale"})
        except Conflict as exc:
            show("update with a stale rev", exc.to_json())
        other_device = {
            "_id": "chat:1",
            "_rev": f"2-{'f' * 32}",
            "_revisions": {"start": 2, "ids": ["f" * 32, first.rev.split("-", 1)[1]]},
            "title": "Plans (edited offline)",
        }
        await store.bulk_docs([other_device], new_edits=False)
        doc = await store.get("chat:1", options=ReadOptions(conflicts=True, revs=True))
        show("after a replicated concurrent edit: the winner and its _conflicts", doc)
        show("changes", (await store.changes(ChangesQuery(style="all_docs"))).to_json())
        show("info", (await store.info()).to_json())
    finally:
        await store.close()
