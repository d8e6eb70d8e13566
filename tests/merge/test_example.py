"""The README's example (``examples/two_devices.py``), run as a user runs it, against our server
and the real CouchDB: every replica prints the same workspace, with both devices' edits kept
(the theme, both new panels, both counter increments) and no conflict left."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

from couch import CouchServer
from http_api.conftest import serving

from brainlink_docs.store.http import HttpDatabases

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_devices.py"


async def run_example(url: str) -> dict[str, dict[str, object]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    replicas: dict[str, dict[str, object]] = {}
    for line in out.decode().splitlines():
        replicas.update(json.loads(line))
    return replicas


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
        databases = await HttpDatabases.connect(couchdb.url)
        await databases.delete(name)
        await databases.close()
