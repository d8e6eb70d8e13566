"""A long-lived Node script the async tests talk to: one JSON line in, one JSON line out.

Started with ``asyncio.create_subprocess_exec`` so the in-process servers keep serving while a
test awaits a reply. The script's stderr goes to a file whose tail is quoted when a command
fails, times out, or the script dies. Used by the PouchDB (Node) interop tests and the
headless-browser tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any, Self

from conftest import ROOT


class DriverError(RuntimeError):
    """The driver answered ``{"ok": false}``, died, or did not answer in time."""


class NodeDriver:
    """``await call(op, **args)`` sends ``{"op", ...args}`` and returns the reply's result."""

    # Seconds one command may take unless the call says otherwise; only bounds a hang.
    command_timeout = 30.0

    def __init__(self, proc: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self._proc = proc
        self._stderr_path = stderr_path
        # After a timeout the reply may still come, half-read: the conversation is out of step.
        self._broken = False

    @classmethod
    async def start(
        cls, script: Path, args: list[str], stderr_path: Path, *, line_limit: int
    ) -> Self:
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(script),
                *args,
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                limit=line_limit,
            )
        return cls(proc, stderr_path)

    def stderr_tail(self, chars: int = 6000) -> str:
        try:
            return self._stderr_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def call(self, op: str, wait: float | None = None, **args: Any) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if self._broken:
            raise DriverError(f"{op}: an earlier command timed out")
        wait = self.command_timeout if wait is None else wait
        self._proc.stdin.write(json.dumps({"op": op, **args}).encode() + b"\n")
        await self._proc.stdin.drain()
        what = f"{op} {json.dumps(args)[:300]}"
        try:
            async with asyncio.timeout(wait):
                line = await self._proc.stdout.readline()
        except TimeoutError as exc:
            self._broken = True
            raise DriverError(f"{what}: no reply in {wait}s\n{self.stderr_tail()}") from exc
        if not line:
            code = await self._proc.wait()
            raise DriverError(f"{op}: driver exited with {code}\n{self.stderr_tail()}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise DriverError(
                f"{what}: {reply['error']}\n{reply.get('stack', '')}\n"
                f"--- driver stderr (tail) ---\n{self.stderr_tail()}"
            )
        return reply.get("result")

    async def close(self) -> None:
        """Ask the driver to clean up and exit; kill it if it cannot or does not."""
        if self._proc.returncode is None and not self._broken:
            with contextlib.suppress(DriverError, ConnectionError):
                await self.call("close", wait=10.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._proc.wait()
        if self._proc.returncode is None:
            self._proc.kill()
        await self._proc.wait()
