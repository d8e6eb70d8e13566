"""Shared fixtures: the ``store`` fixture runs the contract suite on every backend we have.

Backends: ``sqlite`` (a real SQLite file in ``tmp_path``) and ``sqlite-memory``. The HTTP backend
(our server on a loopback port) and ``pouchdb-server`` join the parametrization with the server.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import settings

from brainlink_docs.store.api import DocumentStore

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "node_modules"

settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def node_available(package: str) -> bool:
    """Node tests need the node binary and the npm package installed from package-lock.json."""
    return shutil.which("node") is not None and (NODE_MODULES / package).is_dir()


@pytest.fixture(params=["sqlite", "sqlite-memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DocumentStore]:
    from brainlink_docs.store.sqlite import SqliteStore

    path = tmp_path / "db.sqlite" if request.param == "sqlite" else ":memory:"
    db = await SqliteStore.open(path, name="testdb")
    try:
        yield db
    finally:
        await db.close()
