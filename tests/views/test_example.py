"""The README's views example (``examples/chat_views.py``), run as a user runs it, against our
server and the real CouchDB: the device and the server answer the same rows and documents."""

from __future__ import annotations

import uuid
from pathlib import Path

import example_runs
from couch import CouchServer
from http_api.conftest import serving

EXPECTED = {
    "c1": ["hello", "how do I open a terminal?", "thanks"],
    "tokens": {"c1": 20, "c2": 9},
    "costly": [
        {"text": "how do I open a terminal?", "tokens": 12},
        {"text": "summarize this file", "tokens": 9},
    ],
}


async def run_example(url: str) -> dict[str, object]:
    return await example_runs.run_example("chat_views.py", url)


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
        await example_runs.drop_database(couchdb, name)
    assert sides == {"device": EXPECTED, "server": EXPECTED}
