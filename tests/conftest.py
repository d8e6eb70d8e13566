"""Shared fixtures: the ``store`` fixture runs the contract suite on every backend we have.

Backends: ``sqlite`` (a real SQLite file in ``tmp_path``), ``sqlite-memory``, ``http`` (our
server on a loopback port, reached through ``HttpStore``), ``http-couchdb`` (``HttpStore``
against the real Apache CouchDB of the ``couchdb`` session fixture: the reference, since the
real CouchDB decides what the contract is) and ``http-pouchdb-server`` (``HttpStore`` against
npm's pouchdb-server; its known differences from CouchDB are xfailed with reasons in
``store_http/pouchdb_deviations.py``). ``store_factory`` opens more stores of the same backend
(a ``twin`` for cross-store checks); on the HTTP backends each is a fresh database, deleted
after the test.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from couch import couchdb  # noqa: F401  (session fixture)
from hypothesis import settings
from peers import fresh_database, pouchdb_server  # noqa: F401  (session fixture)
from store_http.pouchdb_deviations import mark_known_deviation

from brainlink_docs.store.api import DocumentStore

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"

settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

StoreFactory = Callable[[str], Awaitable[DocumentStore]]


def node_available(package: str) -> bool:
    """Node tests need the node binary and the npm package installed from package-lock.json."""
    return shutil.which("node") is not None and (NODE_MODULES / package).is_dir()


BACKENDS = [
    "sqlite",
    "sqlite-memory",
    "http",
    pytest.param("http-couchdb", marks=pytest.mark.couchdb),
    pytest.param("http-pouchdb-server", marks=pytest.mark.node),
]


@pytest.fixture(params=BACKENDS)
async def store_factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    async with contextlib.AsyncExitStack() as stack:
        yield await _factory(request, tmp_path, stack)


async def open_backend(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    stack: contextlib.AsyncExitStack,
    backend: str,
) -> StoreFactory:
    """A store factory of a named backend, for tests that pair backends (replication)."""
    directory = tmp_path / backend
    directory.mkdir(exist_ok=True)
    return await _factory(request, directory, stack, backend)


async def _factory(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    stack: contextlib.AsyncExitStack,
    backend: str | None = None,
) -> StoreFactory:
    """Opens stores of ``backend`` (default: the test's parameter)."""
    backend = backend or request.param
    if backend.startswith("sqlite"):
        from brainlink_docs.store.sqlite import SqliteStore

        async def open_sqlite(name: str) -> DocumentStore:
            path = tmp_path / f"{name}.sqlite" if backend == "sqlite" else ":memory:"
            db = await SqliteStore.open(path, name=name)
            stack.push_async_callback(db.close)
            return db

        return open_sqlite
    if backend == "http":
        from http_api.conftest import ADMIN, PASSWORD
        from http_api.conftest import test_settings as server_settings

        from brainlink_docs.http.server import start

        runner, port = await start(server_settings(tmp_path / "server"))
        stack.push_async_callback(runner.cleanup)
        url = f"http://{ADMIN}:{PASSWORD}@127.0.0.1:{port}"
    elif backend == "http-couchdb":
        url = request.getfixturevalue("couchdb").url
    else:
        mark_known_deviation(request)
        url = request.getfixturevalue("pouchdb_server").url
    # CouchDB re-creating a database it has just deleted may still hold the old shard and answer
    # 500 "No DB shards could be opened" (couch log: missing_target); pouchdb-server's LevelDB
    # deletion is not synchronous either, and its one process serves every test of the session:
    # a fresh name each time on both, so no test meets another's leftovers.
    suffix = f"-{uuid.uuid4().hex[:12]}" if backend != "http" else ""

    async def open_http(name: str) -> DocumentStore:
        return await stack.enter_async_context(fresh_database(url, name + suffix))

    return open_http


@pytest.fixture
async def store(store_factory: StoreFactory) -> DocumentStore:
    return await store_factory("testdb")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the real CouchDB carries the ``couchdb`` marker (``-m couchdb``)."""
    for item in items:
        if "couchdb" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.couchdb)
