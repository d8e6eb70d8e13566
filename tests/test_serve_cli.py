"""``brainlink-docs serve`` as an operator runs it: first start, credentials, clean shutdown."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import pytest

# The real PBKDF2 cost (600k rounds) makes a first login take ~0.3 s; allow for a slow machine.
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serve(data_dir: Path, *extra: str) -> Iterator[tuple[subprocess.Popen[str], int, list[str]]]:
    port = _free_port()
    cmd = [sys.executable, "-m", "brainlink_docs.cli", "serve", "--data-dir", str(data_dir)]
    cmd += ["--port", str(port), "--no-access-log", *extra]
    env = {k: v for k, v in os.environ.items() if k != "BRAINLINK_ADMIN"}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + START_TIMEOUT
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "listening on" in line and line.startswith("brainlink-docs"):
                break
        assert any("listening on" in line for line in lines), "".join(lines)
        yield proc, port, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def _auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(user, password)}


async def test_first_start_prints_a_generated_password_once_and_stores_only_its_hash(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    with _serve(data) as (proc, port, lines):
        printed = "".join(lines)
        match = re.search(r"Created server admin 'admin' with password: (\S+)", printed)
        assert match, printed
        password = match.group(1)
        async with aiohttp.ClientSession() as http:
            ok = await http.get(
                f"http://127.0.0.1:{port}/_all_dbs", headers=_auth("admin", password)
            )
            assert ok.status == 200
            bad = await http.get(f"http://127.0.0.1:{port}/_all_dbs", headers=_auth("admin", "x"))
            assert bad.status == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    config = (data / "local.ini").read_text()
    assert password not in config
    assert "-pbkdf2:sha256-" in config
    with _serve(data) as (proc, _port, lines):
        assert not any("Created server admin" in line for line in lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


async def test_sigterm_finishes_writes_and_the_data_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    headers = _auth("admin", "pw-for-test")
    with _serve(data, "--admin", "admin:pw-for-test") as (proc, port, _lines):
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession(base, headers=headers) as http:
            assert (await http.put("/chat")).status == 201
            docs = [{"_id": f"m{i:04d}", "n": i} for i in range(500)]
            resp = await http.post("/chat/_bulk_docs", json={"docs": docs})
            assert resp.status == 201
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    assert not (data / "chat.sqlite-wal").exists() or (data / "chat.sqlite-wal").stat().st_size == 0
    with _serve(data, "--admin", "admin:pw-for-test") as (proc, port, _lines):
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", headers=headers) as http:
            info = await (await http.get("/chat")).json()
            assert info["doc_count"] == 500
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize("flag", ["--admin=nocolon", "--admin=:pw"])
def test_a_malformed_admin_flag_is_refused(tmp_path: Path, flag: str) -> None:
    cmd = [sys.executable, "-m", "brainlink_docs.cli", "serve", "--data-dir", str(tmp_path), flag]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0
    assert "user:password" in done.stderr
