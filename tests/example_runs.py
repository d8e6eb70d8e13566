"""Running the README's example scripts as a user runs them: a fresh Python process, a server
URL as the argument, one JSON object per line of output (merged into one dict)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from couch import CouchServer

from brainlink_docs.store.http import HttpDatabases

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


async def run_example(script: str, url: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLES / script),
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    merged: dict[str, Any] = {}
    for line in out.decode().splitlines():
        merged.update(json.loads(line))
    return merged


async def drop_database(couchdb: CouchServer, name: str) -> None:
    """Delete a database an example made on the real CouchDB."""
    databases = await HttpDatabases.connect(couchdb.url)
    try:
        await databases.delete(name)
    finally:
        await databases.close()
