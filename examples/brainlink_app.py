"""Brainlink's entities on a device, synced to a server, queried there through the same
repositories.

    python examples/brainlink_app.py http://admin:PASSWORD@127.0.0.1:5984/brainlink-ana

On an embedded store (the device) it installs the design documents, creates a user, a
workspace with panels, a chat with messages, a pipeline with nodes and edges and a GitHub
integration whose token is sealed with a key; syncs the device with the server (any
CouchDB-compatible one; the database is created if missing); then asks the server, through the
same ``Brainlink`` repositories over HTTP, for the workspaces, the panels, the chat's messages
page by page and the pipeline, prints the integration as the server stores it (sealed), and
searches Ana's messages on the server (ours; on a plain CouchDB, which has no message search,
on the device). One JSON object per line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from brainlink_docs.credentials import Key, Keyring
from brainlink_docs.errors import NotFound
from brainlink_docs.models import (
    Brainlink,
    Chat,
    Panel,
    PipelineEdge,
    PipelineNode,
    PromptPipeline,
    User,
    Workspace,
    now_iso,
)
from brainlink_docs.models.design import push_design
from brainlink_docs.models.pipelines import NodePosition
from brainlink_docs.models.queries import message_search
from brainlink_docs.models.secrets import sealed_integration, secret_of
from brainlink_docs.models.workspaces import Position, Size
from brainlink_docs.replication import sync
from brainlink_docs.search import MessageSearch
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore


async def create_on_device(app: Brainlink, key: Key) -> str:
    """Ana's data, as the app creates it; answers the integration's document id."""
    t = now_iso()
    mine = {"user_id": "ana", "created_at": t, "updated_at": t}
    await app.users.create(
        User(id="ana", email="ana@example.com", display_name="Ana", created_at=t, updated_at=t)
    )
    await app.workspaces.create(Workspace(id="ws-1", name="brainlink", kind="project", **mine))
    for i, kind in enumerate(["code-editor", "terminal", "chat"]):
        await app.panels.create(
            Panel(
                id=f"panel-{i}",
                workspace_id="ws-1",
                kind=kind,
                title=kind.replace("-", " ").title(),
                position=Position(x=i * 400, y=0),
                size=Size(width=400, height=600),
                **mine,
            )
        )
    chat = await app.chats.create(Chat(id="chat-1", title="Sync design", **mine))
    for i, text in enumerate(["How do devices sync?", "Through CouchDB's protocol.", "Thanks!"]):
        await app.append_message(chat, "user" if i % 2 == 0 else "assistant", text)
    await app.pipelines.create(PromptPipeline(id="pl-1", name="summarize", **mine))
    for node in ("fetch", "summarize", "store"):
        await app.nodes.create(
            PipelineNode(
                id=node, pipeline_id="pl-1", kind=node, position=NodePosition(x=0, y=0), **mine
            )
        )
    for source, target in (("fetch", "summarize"), ("summarize", "store")):
        edge = PipelineEdge(
            id=f"{source}-{target}", pipeline_id="pl-1", source=source, target=target, **mine
        )
        await app.edges.create(edge)
    github = sealed_integration(key, "ana", "github", "oauth", "ghp_example-token")
    await app.integrations.create(github)
    return github.doc_id()


async def search(server: DocumentStore, device: DocumentStore, folder: Path) -> dict[str, Any]:
    """Ana's messages matching "sync*", searched on the server (ours serves
    ``_search/messages``); a server without it (a plain CouchDB) answers 404, and the device's
    own index answers instead."""
    try:
        on_server = Brainlink(server, search=message_search(server))
        page = await on_server.search_messages("sync*", user_id="ana")
        where = "server"
    except NotFound:
        index = MessageSearch(device, folder / "messages.search.sqlite")
        try:
            page = await Brainlink(device, search=index).search_messages("sync*", user_id="ana")
        finally:
            await index.close()
        where = "device"
    return {"where": where, "snippets": [hit.snippet for hit in page.hits]}


async def main(url: str, folder: Path) -> None:
    key = Key.generate()  # a real device loads it: brainlink-docs new-key FILE, load_key_file
    device = await SqliteStore.open(folder / "device.sqlite")
    server = await open_endpoint(url, create=True)
    try:
        await push_design(device)  # the design documents replicate with the data
        integration_id = await create_on_device(Brainlink.open(device, "laptop"), key)
        await sync(device, server)

        there = Brainlink(server)  # the same repositories, over HTTP
        workspaces = (await there.user_workspaces("ana")).items
        panels = await there.workspace_panels("ws-1")
        first = await there.chat_messages("chat-1", limit=2)
        rest = await there.chat_messages("chat-1", limit=2, cursor=first.next)
        graph = await there.pipeline_graph("pl-1")
        print(json.dumps({"workspaces": [w.name for w in workspaces]}))
        print(json.dumps({"panels": [p.title for p in panels]}))
        print(json.dumps({"messages": [m.content for m in first.items + rest.items]}))
        print(json.dumps({"pipeline": [n.id for n in graph.nodes] + [e.id for e in graph.edges]}))
        at_rest = await server.get(integration_id)
        print(json.dumps({"credentials_at_rest": at_rest["credentials"]}))
        integration = await there.integrations.get(integration_id)
        print(json.dumps({"opened_with_the_key": secret_of(integration, Keyring([key])).reveal()}))
        print(json.dumps({"search": await search(server, device, folder)}))
    finally:
        await device.close()
        await server.close()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(sys.argv[1], Path(tmp)))
