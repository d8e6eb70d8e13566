"""An embedded store and its message search, both on real SQLite files in ``tmp_path``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from brainlink_docs.search import MessageSearch
from brainlink_docs.store.sqlite.store import SqliteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = await SqliteStore.open(tmp_path / "db.sqlite", name="db")
    yield opened
    await opened.close()


@pytest.fixture
async def search(store: SqliteStore, tmp_path: Path) -> AsyncIterator[MessageSearch]:
    index = MessageSearch(store, tmp_path / "search.sqlite")
    yield index
    await index.close()
