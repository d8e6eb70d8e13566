"""Fixtures for ``HttpStore`` tests: a real peer per session, a fresh database per test.

``server_url`` is pouchdb-server unless a test asks for more with ``@ON_BOTH_PEERS``, which
runs it on pouchdb-server (marked ``node``) and on the real CouchDB (marked ``couchdb``): for
what only the client end to end can show (URL encoding of ids and attachment names, longpoll,
background compaction, database lifecycle), beyond the semantics the contract suite
(``tests/store``) already checks on both.

``store`` here overrides the shared contract ``store`` for this directory: these tests talk to
``HttpStore`` directly (its URL, its session), not through the backend parametrization.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from peers import fresh_database

from brainlink_docs.store.http import HttpDatabases, HttpStore

__all__ = ["ON_BOTH_PEERS", "databases", "db_name", "server_url", "store"]

ON_BOTH_PEERS = pytest.mark.parametrize(
    "server_url",
    [
        pytest.param("pouchdb-server", marks=pytest.mark.node),
        pytest.param("couchdb", marks=pytest.mark.couchdb),
    ],
    indirect=True,
)


@pytest.fixture
def server_url(request: pytest.FixtureRequest) -> str:
    """The root URL (with credentials) of the peer: ``pouchdb-server`` unless parametrized."""
    peer = getattr(request, "param", "pouchdb-server")
    if peer == "couchdb":
        return str(request.getfixturevalue("couchdb").url)
    return str(request.getfixturevalue("pouchdb_server").url)


@pytest.fixture
def db_name() -> str:
    """A database name no other test uses (CouchDB names start with a lowercase letter)."""
    return f"t{uuid.uuid4().hex}"


@pytest.fixture
async def store(server_url: str, db_name: str) -> AsyncIterator[HttpStore]:
    async with fresh_database(server_url, db_name) as db:
        yield db


@pytest.fixture
async def databases(server_url: str) -> AsyncIterator[HttpDatabases]:
    dbs = await HttpDatabases.connect(server_url)
    try:
        yield dbs
    finally:
        await dbs.close()
