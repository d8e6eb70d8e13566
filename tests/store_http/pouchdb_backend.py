"""Run the ``tests/store`` contract suite against ``HttpStore`` on pouchdb-server, unedited.

A pytest plugin standing in for ``tests/conftest.py``, whose ``store`` fixture would otherwise
win (a conftest fixture overrides a plugin's). ``--confcutdir`` keeps that conftest unloaded::

    PYTHONPATH=tests .venv/bin/pytest -p store_http.pouchdb_backend --confcutdir=tests/store \\
        -m node -p no:cacheprovider tests/store

It restates the hypothesis profiles of ``tests/conftest.py`` and provides ``store`` with the
param id ``http-pouchdb-server`` (the id the shared fixture gets), one fresh ``testdb`` per test
on one session-wide server: the suite checks ``info().db_name == "testdb"``. Known failures
(``pouchdb_deviations.py``) run as xfails, so anything else that fails is news.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings
from peers import PouchServer, fresh_database, pouchdb_server

from brainlink_docs.store.api import DocumentStore

from .pouchdb_deviations import mark_known_deviation

__all__ = ["pouchdb_server", "store"]

settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile("nightly", max_examples=2000, deadline=None)
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(params=[pytest.param("http-pouchdb-server", marks=pytest.mark.node)])
async def store(
    request: pytest.FixtureRequest, pouchdb_server: PouchServer
) -> AsyncIterator[DocumentStore]:
    mark_known_deviation(request)
    async with fresh_database(pouchdb_server.url, "testdb") as db:
        yield db
