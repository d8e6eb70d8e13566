"""Fixtures for ``HttpStore`` tests: one pouchdb-server per session, a fresh database per test.

``store`` here overrides the shared contract ``store`` for this directory: these tests talk to
``HttpStore`` directly (its URL, its session), not through the backend parametrization.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from peers import PouchServer, fresh_database

from brainlink_docs.store.http import HttpDatabases, HttpStore

__all__ = ["databases", "db_name", "store"]


@pytest.fixture
def db_name() -> str:
    """A database name no other test uses (CouchDB names start with a lowercase letter)."""
    return f"t{uuid.uuid4().hex}"


@pytest.fixture
async def store(pouchdb_server: PouchServer, db_name: str) -> AsyncIterator[HttpStore]:
    async with fresh_database(pouchdb_server.url, db_name) as db:
        yield db


@pytest.fixture
async def databases(pouchdb_server: PouchServer) -> AsyncIterator[HttpDatabases]:
    dbs = await HttpDatabases.connect(pouchdb_server.url)
    try:
        yield dbs
    finally:
        await dbs.close()
