"""The README's example (``examples/two_devices.py``), run as a user runs it, against our server
and the real CouchDB: every replica prints the same workspace, with both devices' edits kept
(the theme, both new panels, both counter increments) and no conflict left."""

from __future__ import annotations

import uuid
from pathlib import Path

import example_runs
from couch import CouchServer
from http_api.conftest import serving


async def run_example(url: str) -> dict[str, dict[str, object]]:
    return await example_runs.run_example("two_devices.py", url)


def check(replicas: dict[str, dict[str, object]]) -> None:
    assert sorted(replicas) == ["desktop", "laptop", "server"]
    laptop = replicas["laptop"]
    assert replicas["desktop"] == laptop == replicas["server"]
    assert laptop["_conflicts"] == []
    assert laptop["theme"] == "light"
    assert laptop["opened"] == 2
    panels = laptop["panels"]
    assert isinstance(panels, list)
    assert sorted(p["id"] for p in panels) == ["chat", "editor", "terminal"]


async def test_the_example_converges_through_our_server(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as server:
        check(await run_example(f"{server.authed_url}/example"))


async def test_the_example_converges_through_the_real_couchdb(couchdb: CouchServer) -> None:
    name = f"example-{uuid.uuid4().hex[:8]}"
    try:
        check(await run_example(f"{couchdb.url}/{name}"))
    finally:
        await example_runs.drop_database(couchdb, name)
