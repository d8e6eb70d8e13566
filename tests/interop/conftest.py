"""Software others wrote, against our server: PouchDB (Node) and a Python CouchDB client.

``pouch`` is one long-lived ``node pouch_driver.js`` per test, started with
``asyncio.create_subprocess_exec`` so the in-process server keeps serving while a test awaits
the driver's reply. The driver speaks one JSON line in, one JSON line out; its stderr goes to a
file whose tail is quoted when a command fails or times out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import ROOT
from http_api.conftest import Server, client, server

__all__ = ["DB", "PouchDriver", "client", "pouch", "remote_db", "server"]

DRIVER = Path(__file__).with_name("pouch_driver.js")
# The database the tests replicate with on our server.
DB = "chat"
# Seconds one driver command may take; a whole replication of the 1,000-document corpus takes
# a few seconds, so this only bounds a hang.
COMMAND_TIMEOUT = 30.0
# A dump of the corpus is one line of a few MB; asyncio's default line limit is 64 KiB.
LINE_LIMIT = 1 << 28


class DriverError(RuntimeError):
    """The driver answered ``{"ok": false}``, died, or did not answer in time."""


class PouchDriver:
    """``node pouch_driver.js``: ``await call(op, **args)`` sends a command, returns its result."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self._proc = proc
        self._stderr_path = stderr_path
        # After a timeout the reply may still come, half-read: the conversation is out of step.
        self._broken = False

    @classmethod
    async def start(cls, remote_url: str, workdir: Path) -> PouchDriver:
        stderr_path = workdir / "driver.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(DRIVER),
                remote_url,
                str(workdir),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                limit=LINE_LIMIT,
            )
        return cls(proc, stderr_path)

    def stderr_tail(self, chars: int = 4000) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def call(self, op: str, wait: float = COMMAND_TIMEOUT, **args: Any) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if self._broken:
            raise DriverError(f"{op}: an earlier command timed out")
        self._proc.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self._proc.stdin.drain()
        try:
            async with asyncio.timeout(wait):
                line = await self._proc.stdout.readline()
        except TimeoutError as exc:
            self._broken = True
            raise DriverError(f"{op}: no reply in {wait}s\n{self.stderr_tail()}") from exc
        if not line:
            code = await self._proc.wait()
            raise DriverError(f"{op}: driver exited with {code}\n{self.stderr_tail()}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise DriverError(f"{op}: {reply['error']}\n{reply.get('stack', '')}")
        return reply["result"]

    async def close(self) -> None:
        """Ask the driver to close its databases and exit; kill it if it cannot or does not."""
        if self._proc.returncode is None and not self._broken:
            with contextlib.suppress(DriverError, ConnectionError):
                await self.call("close", wait=10.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._proc.wait()
        if self._proc.returncode is None:
            self._proc.kill()
        await self._proc.wait()


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
    driver = await PouchDriver.start(remote_db, pouch_dir)
    try:
        yield driver
    finally:
        await driver.close()
