"""Searching a user's messages through the repositories: on a device (an FTS5 index next to the
embedded store) and on our server (``_search/messages`` through ``HttpStore``), the same hits."""

from __future__ import annotations

from pathlib import Path

import pytest
from http_api.conftest import serving

from brainlink_docs.errors import BadRequest
from brainlink_docs.models import Brainlink
from brainlink_docs.models.design import push_design
from brainlink_docs.models.queries import message_search
from brainlink_docs.search import MessageSearch
from brainlink_docs.store.endpoints import open_endpoint
from brainlink_docs.store.http.store import HttpStore
from brainlink_docs.store.sqlite import SqliteStore

from .scenario import build


async def hits(app: Brainlink, text: str, **where: str) -> list[tuple[int | None, str]]:
    """The hits as (sequence, snippet): message ids are random, so each store has its own."""
    page = await app.search_messages(text, limit=50, **where)
    return sorted((h.sequence, h.snippet) for h in page.hits)


async def test_the_same_hits_on_a_device_and_on_our_server(tmp_path: Path) -> None:
    device = await SqliteStore.open(tmp_path / "device.sqlite")
    index = MessageSearch(device, tmp_path / "device.search.sqlite")
    async with serving(tmp_path / "server") as server:
        remote = await open_endpoint(f"{server.authed_url}/ana", create=True)
        assert isinstance(remote, HttpStore)
        try:
            for store in (device, remote):
                await push_design(store)
                await build(Brainlink(store), messages=12)
            here = Brainlink(device, search=index)
            there = Brainlink(remote, search=message_search(remote))
            for text, where in (
                ("message", {"user_id": "ana"}),
                ("1*", {"chat_id": "chat-1"}),
                ("message 11", {}),
                ("nothing", {"user_id": "ana"}),
            ):
                assert await hits(here, text, **where) == await hits(there, text, **where)
            assert [seq for seq, _ in await hits(there, "message 11")] == [11]
            assert len(await hits(there, "message", user_id="ana")) == 12
            assert await hits(there, "message", user_id="bob") == []
        finally:
            await index.close()
            await remote.close()
            await device.close()


async def test_a_device_store_needs_an_index_file(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "d.sqlite")
    try:
        with pytest.raises(BadRequest):
            message_search(store)
        with pytest.raises(BadRequest):
            await Brainlink(store).search_messages("x")
    finally:
        await store.close()
