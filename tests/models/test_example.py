"""The README's entities example (``examples/brainlink_app.py``), run as a user runs it against
our server and the real CouchDB: what the device created is what the server answers through the
same repositories, and the credential is sealed at rest."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import example_runs
from couch import CouchServer
from http_api.conftest import serving


def check(out: dict[str, Any], searched_on: str) -> None:
    assert out["workspaces"] == ["brainlink"]
    assert sorted(out["panels"]) == ["Chat", "Code Editor", "Terminal"]
    assert out["messages"] == ["How do devices sync?", "Through CouchDB's protocol.", "Thanks!"]
    assert sorted(out["pipeline"]) == sorted(
        ["fetch", "summarize", "store", "fetch-summarize", "summarize-store"]
    )
    sealed = out["credentials_at_rest"]
    assert sealed["alg"] == "A256GCM" and "ghp_" not in str(sealed)
    assert out["opened_with_the_key"] == "ghp_example-token"
    assert out["search"] == {
        "where": searched_on,
        "snippets": ["How do devices <mark>sync</mark>?"],
    }


async def test_the_example_through_our_server(tmp_path: Path) -> None:
    async with serving(tmp_path / "data") as server:
        out = await example_runs.run_example("brainlink_app.py", f"{server.authed_url}/ana")
        check(out, "server")


async def test_the_example_through_the_real_couchdb(couchdb: CouchServer) -> None:
    name = f"example-{uuid.uuid4().hex[:8]}"
    try:
        check(await example_runs.run_example("brainlink_app.py", f"{couchdb.url}/{name}"), "device")
    finally:
        await example_runs.drop_database(couchdb, name)
