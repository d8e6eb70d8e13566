"""A long-lived Node script as a synchronous differential oracle: one JSON line in, one out.

Hypothesis runs hundreds of examples per test; one ``node`` process per test module answers them
all, so an example costs a round trip, not a process start. The script replies ``{"error": ...}``
when it fails on a request; that, or the script exiting, raises ``RuntimeError`` here.
(``node_driver.py`` is the async counterpart, for tests that keep servers running meanwhile.)
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from conftest import ROOT

# Seconds Node may take to exit once its input is closed.
EXIT_TIMEOUT_S = 10


class NodeOracle:
    """``ask(request)`` writes the request as a JSON line and returns the reply line, parsed."""

    def __init__(self, proc: subprocess.Popen[str], name: str) -> None:
        self._proc = proc
        self._name = name

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self._name} exited with {self._proc.poll()}")
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"{self._name} failed: {reply['error']}")
        return reply


@contextlib.contextmanager
def node_oracle(script: Path) -> Iterator[NodeOracle]:
    """Run ``node script`` from the project root for the block, then end it by closing its input."""
    with subprocess.Popen(
        ["node", str(script)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        encoding="utf-8",
    ) as proc:
        try:
            yield NodeOracle(proc, script.name)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()  # end of input: the script's readline closes and Node exits
            try:
                proc.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
