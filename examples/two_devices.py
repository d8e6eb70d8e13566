"""Two devices edit one workspace offline and converge through a server.

    python examples/two_devices.py http://admin:PASSWORD@127.0.0.1:5984/demo-workspace

The server is any CouchDB-compatible one (``bash scripts/run``, a real CouchDB); the database is
created if missing. Each device is an embedded store whose edits carry the merger's clocks. Both
devices sync, go offline, edit the same workspace (the laptop switches the theme and opens a
terminal; the desktop opens a chat; both count an opening), then each syncs with the server and
resolves, as ``brainlink-docs sync DEVICE URL --resolve`` does. It prints the workspace as each
replica holds it: the same document everywhere, with every edit kept and no conflict left.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from brainlink_docs.merge import crdt
from brainlink_docs.merge.fields import user_fields
from brainlink_docs.merge.policies import Policies, Policy
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.merge.stamping import StampingStore
from brainlink_docs.replication import sync
from brainlink_docs.store.api import DocumentStore, ReadOptions
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore

# Workspaces merge field by field; their panels record by record (keyed by id); `opened` is a
# counter every device increments.
POLICIES = Policies({"workspace": Policy(keyed_lists=("/panels",), crdts={"/opened": "counter"})})


async def edit(device: StampingStore, replica: str, change: dict[str, Any], panel: str) -> None:
    doc = await device.get("workspace")
    opened = crdt.increment(doc["opened"], replica, 1)
    panels = [*doc["panels"], {"id": panel, "title": panel.title()}]
    await device.put({**doc, **change, "panels": panels, "opened": opened})


async def sync_and_resolve(device: DocumentStore, server: DocumentStore) -> None:
    await sync(device, server)
    for store in (device, server):
        await resolve_all(store, POLICIES)


async def main(url: str, folder: Path) -> None:
    server = await open_endpoint(url, create=True)
    laptop = StampingStore(
        await SqliteStore.open(folder / "laptop.db"), "laptop", policies=POLICIES
    )
    desktop = StampingStore(
        await SqliteStore.open(folder / "desktop.db"), "desktop", policies=POLICIES
    )
    try:
        await laptop.put(
            {
                "_id": "workspace",
                "type": "workspace",
                "theme": "dark",
                "panels": [{"id": "editor", "title": "Editor"}],
                "opened": {},
            }
        )
        for device in (laptop, desktop):
            await sync(device, server)
        # Offline: both edit the same document.
        await edit(laptop, "laptop", {"theme": "light"}, "terminal")
        await edit(desktop, "desktop", {}, "chat")
        # Back online: each syncs with the server and resolves; the laptop once more to get
        # the desktop's merge.
        for device in (laptop, desktop, laptop):
            await sync_and_resolve(device, server)
        for name, store in (("laptop", laptop), ("desktop", desktop), ("server", server)):
            doc = await store.get("workspace", options=ReadOptions(conflicts=True))
            shown = {**user_fields(doc), "opened": crdt.counter_value(doc["opened"])}
            shown["_rev"], shown["_conflicts"] = doc["_rev"], doc.get("_conflicts", [])
            print(json.dumps({name: shown}))
    finally:
        for store in (laptop, desktop, server):
            await store.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(sys.argv[1], Path(tmp)))
