"""The view tests' shared query server: one engine thread for a module's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from brainlink_docs.views.js import QueryServer


@pytest.fixture(scope="module")
def query_server() -> Iterator[QueryServer]:
    server = QueryServer()
    yield server
    server.close_blocking()
