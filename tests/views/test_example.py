"""The README's views example (``examples/chat_views.py``), run as a user runs it, against our
server and the real CouchDB: the device and the server answer the same rows and documents."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path

from couch import CouchServer
from http_api.conftest import serving

from brainlink_docs.store.http import HttpDatabases

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chat_views.py"
EXPECTED = {
    "c1": ["hello", "how do I open a terminal?", "thanks"],
    "tokens": {"c1": 20, "c2": 9},
    "costly": [
        {"text": "how do I open a terminal?", "tokens": 12},
        {"text": "summarize this file", "tokens": 9},
    ],
}


async def run_example(url: str) -> dict[str, object]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    sides: dict[str, object] = {}
    for line in out.decode().splitlines():
        sides.update(json.loads(line))
    return sides


async def test_the_example_answers_alike_on_the_device_and_our_server(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as server:
        sides = await run_example(f"{server.authed_url}/chat")
    assert sides == {"device": EXPECTED, "server": EXPECTED}


async def test_the_example_answers_alike_on_the_device_and_the_real_couchdb(
    couchdb: CouchServer,
) -> None:
    name = f"example-{uuid.uuid4().hex[:8]}"
    try:
        sides = await run_example(f"{couchdb.url}/{name}")
    finally:
        databases = await HttpDatabases.connect(couchdb.url)
        try:
            await databases.delete(name)
        finally:
            await databases.close()
    assert sides == {"device": EXPECTED, "server": EXPECTED}
