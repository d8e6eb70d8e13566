"""Software others wrote, against our server: PouchDB (Node) and a Python CouchDB client.

``pouch`` is one long-lived ``node pouch_driver.js`` per test, started with
``asyncio.create_subprocess_exec`` so the in-process server keeps serving while a test awaits
the driver's reply. The driver speaks one JSON line in, one JSON line out; its stderr goes to a
file whose tail is quoted when a command fails or times out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from http_api.conftest import Server, client, server
from node_driver import NodeDriver

__all__ = ["DB", "PouchDriver", "client", "pouch", "remote_db", "server"]

DRIVER = Path(__file__).with_name("pouch_driver.js")
# The database the tests replicate with on our server.
DB = "chat"
# Seconds one driver command may take; a whole replication of the 1,000-document corpus takes
# a few seconds, so this only bounds a hang.
COMMAND_TIMEOUT = 30.0
# A dump of the corpus is one line of a few MB; asyncio's default line limit is 64 KiB.
LINE_LIMIT = 1 << 28


class PouchDriver(NodeDriver):
    """``node pouch_driver.js REMOTE_URL WORKDIR``: PouchDB on LevelDB under Node."""

    command_timeout = COMMAND_TIMEOUT

    @classmethod
    async def open(cls, remote_url: str, workdir: Path) -> PouchDriver:
        return await cls.start(
            DRIVER, [remote_url, str(workdir)], workdir / "driver.stderr", line_limit=LINE_LIMIT
        )


@pytest.fixture
async def remote_db(server: Server, client: aiohttp.ClientSession) -> str:
    """Our server's replication database, created empty; its URL carries the credentials."""
    async with client.put(f"/{DB}") as response:
        assert response.status == 201, await response.text()
    return f"{server.authed_url}/{DB}"


@pytest.fixture
def pouch_dir(tmp_path: Path) -> Path:
    """The driver's LevelDB databases and its stderr log."""
    path = tmp_path / "pouch"
    path.mkdir()
    return path


@pytest.fixture
async def pouch(remote_db: str, pouch_dir: Path) -> AsyncIterator[PouchDriver]:
    driver = await PouchDriver.open(remote_db, pouch_dir)
    try:
        yield driver
    finally:
        await driver.close()
