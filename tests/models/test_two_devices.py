"""Two devices edit the same entities offline and converge through a server (ours and the real
CouchDB), each entity type merging by its own policy: settings and panels field by field, the
chat's token counter adding every device's tokens, a message and a file taking the latest edit
whole, a sealed credential never spliced."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import example_runs
import pytest
from couch import CouchServer
from http_api.conftest import serving

from brainlink_docs.credentials import Key, Keyring
from brainlink_docs.merge.resolver import resolve_all
from brainlink_docs.models import POLICIES, Brainlink, UserSettings
from brainlink_docs.models.design import push_design
from brainlink_docs.models.secrets import reseal, sealed_integration, secret_of
from brainlink_docs.replication import sync
from brainlink_docs.store.api import AllDocsQuery, DocumentStore
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.sqlite import SqliteStore

from .scenario import T0, build


@pytest.fixture(params=["ours", pytest.param("couchdb", marks=pytest.mark.couchdb)])
async def server_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "ours":
        async with serving(tmp_path / "server") as server:
            yield f"{server.authed_url}/brainlink"
        return
    couchdb: CouchServer = request.getfixturevalue("couchdb")
    name = f"two-devices-{uuid.uuid4().hex[:8]}"
    yield f"{couchdb.url}/{name}"
    await example_runs.drop_database(couchdb, name)


async def sync_and_resolve(device: DocumentStore, server: DocumentStore) -> None:
    await sync(device, server)
    for store in (device, server):
        await resolve_all(store, POLICIES)


async def test_each_entity_merges_by_its_policy(server_url: str, tmp_path: Path) -> None:
    server = await open_endpoint(server_url, create=True)
    laptop_store = await SqliteStore.open(tmp_path / "laptop.sqlite")
    desktop_store = await SqliteStore.open(tmp_path / "desktop.sqlite")
    # The desktop's clock is a second ahead: its edits are the later ones, whatever the order
    # they run in here (the merger's clocks order concurrent edits by wall time).
    laptop = Brainlink.open(laptop_store, "laptop", now_ms=lambda: 1_800_000_000_000)
    desktop = Brainlink.open(desktop_store, "desktop", now_ms=lambda: 1_800_000_001_000)
    key = Key.generate()
    try:
        await push_design(laptop_store)
        s = await build(laptop, messages=3)
        assert s.chat is not None
        await laptop.settings.create(
            UserSettings(id="ana", user_id="ana", created_at=T0, updated_at=T0)
        )
        github = await laptop.integrations.create(
            sealed_integration(key, "ana", "github", "oauth", "token-0")
        )
        for device in (laptop_store, desktop_store):
            await sync(device, server)

        # Offline, the same entities on both devices.
        for app, theme, size in ((laptop, "dark", None), (desktop, None, 18)):
            settings = await app.settings.get("u/ana/settings")
            if theme:
                settings.theme = theme
            if size:
                settings.editor_config.font_size = size
            await app.settings.update(settings)
        panel_id = s.panels["ws-alpha"][0].doc_id()
        moved = await laptop.panels.get(panel_id)
        moved.position.x = 500
        await laptop.panels.update(moved)
        resized = await desktop.panels.get(panel_id)
        resized.size.width = 640
        await desktop.panels.update(resized)
        for app, replica, tokens in ((laptop, "laptop", 100), (desktop, "desktop", 50)):
            chat = await app.chats.get(s.chat.doc_id())
            chat.add_tokens(replica, tokens)
            await app.chats.update(chat)
        message_id = s.messages[0].doc_id()
        for app, text in ((laptop, "laptop's words"), (desktop, "desktop's words")):
            message = await app.messages.get(message_id)
            message.content = text
            await app.messages.update(message)
        for app, token in ((laptop, "token-laptop"), (desktop, "token-desktop")):
            integration = await app.integrations.get(github.doc_id())
            reseal(integration, key, token)
            integration.metadata = {"scopes": [token]}
            await app.integrations.update(integration)

        for device in (laptop_store, desktop_store, laptop_store):
            await sync_and_resolve(device, server)

        replicas = [laptop, desktop, Brainlink(server)]
        docs = [await _all(r.store) for r in replicas]
        assert docs[0] == docs[1] == docs[2]
        for app in replicas:
            settings = await app.settings.get("u/ana/settings")
            assert (settings.theme, settings.editor_config.font_size) == ("dark", 18)
            panel = await app.panels.get(panel_id)
            assert (panel.position.x, panel.size.width) == (500, 640)
            assert (await app.chats.get(s.chat.doc_id())).tokens_used == 150
            assert (await app.messages.get(message_id)).content == "desktop's words"
            integration = await app.integrations.get(github.doc_id())
            secret = secret_of(integration, Keyring([key])).reveal()
            assert integration.metadata == {"scopes": [secret]}  # one edit, whole
    finally:
        for store in (laptop_store, desktop_store, server):
            await store.close()


async def _all(store: DocumentStore) -> dict[str, Any]:
    """Every document's winning revision and conflicts (none may be left)."""
    page = await store.all_docs(AllDocsQuery(include_docs=True, conflicts=True))
    out = {}
    for row in page.rows:
        doc = row["doc"]
        assert "_conflicts" not in doc, doc["_id"]
        out[row["id"]] = doc["_rev"]
    return out
