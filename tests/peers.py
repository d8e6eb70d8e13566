"""Real peers for tests: pouchdb-server on a free loopback port, and fresh databases on it.

``start_pouchdb_server`` runs ``node node_modules/pouchdb-server/bin/pouchdb-server`` bound to
127.0.0.1 with its config, log and data inside a directory the caller owns, and returns once
the server answers ``GET /``; ``stop`` ends exactly that process. The ``pouchdb_server``
session fixture starts one per test session (import it into a conftest to use it), and
``fresh_database`` gives a test a newly created database and deletes it afterwards.

Callers are skipped, not failed, when Node or the npm package is missing (``npm ci`` installs it
from package-lock.json).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from brainlink_docs.store.http import HttpDatabases, HttpStore

ROOT = Path(__file__).resolve().parent.parent
POUCHDB_SERVER = ROOT / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"
HOST = "127.0.0.1"
# Node, express and leveldown load in about a second; a loaded CI machine may take several.
START_TIMEOUT_S = 30.0
# How long a stopped server gets to exit on SIGTERM before SIGKILL.
STOP_TIMEOUT_S = 5.0
# Starting on a port another process grabbed between our probe and its bind fails fast; retry.
START_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class PouchServer:
    """A running pouchdb-server: ``url`` is its root, e.g. ``http://127.0.0.1:40123``."""

    url: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def db_url(self, name: str) -> str:
        return f"{self.url}/{name}"


def pouchdb_server_available() -> bool:
    return shutil.which("node") is not None and POUCHDB_SERVER.is_file()


def require_pouchdb_server() -> None:
    """Skip the calling test (or fixture) when pouchdb-server cannot run here."""
    if not pouchdb_server_available():
        pytest.skip("needs node and node_modules/pouchdb-server (npm ci)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def start_pouchdb_server(directory: Path, *, in_memory: bool = True) -> PouchServer:
    """Start pouchdb-server with everything it writes under ``directory``.

    ``in_memory`` (memdown) is the fast default; ``False`` stores LevelDB files in
    ``directory/data``, for tests that need a server restart to keep data.
    """
    require_pouchdb_server()
    directory.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    for _ in range(START_ATTEMPTS):
        port = free_port()
        process = _spawn(directory, port, in_memory=in_memory)
        url = f"http://{HOST}:{port}"
        if _wait_until_up(url, process):
            return PouchServer(url, port, directory, process)
        stop_process(process)
        failures.append(_log_tail(directory))
    raise RuntimeError("pouchdb-server did not start:\n" + "\n---\n".join(failures))


def _spawn(directory: Path, port: int, *, in_memory: bool) -> subprocess.Popen[bytes]:
    node = shutil.which("node")
    assert node is not None
    args = [
        node,
        str(POUCHDB_SERVER),
        "--host",
        HOST,
        "--port",
        str(port),
        "--dir",
        str(directory / "data"),
        "--config",
        str(directory / "config.json"),
        "--no-color",
    ]
    if in_memory:
        args.append("--in-memory")
    (directory / "data").mkdir(exist_ok=True)
    with open(directory / "server.log", "ab") as log:
        # cwd: pouchdb-server writes log.txt into its working directory.
        return subprocess.Popen(
            args,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_until_up(url: str, process: subprocess.Popen[bytes]) -> bool:
    # No proxies: an http_proxy in the environment must not intercept a loopback probe.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with opener.open(url + "/", timeout=1.0) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    return False


def _log_tail(directory: Path, size: int = 2000) -> str:
    with contextlib.suppress(OSError):
        return (directory / "server.log").read_bytes()[-size:].decode(errors="replace")
    return "(no log)"


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL: only this process, which we started."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def stop(server: PouchServer) -> None:
    stop_process(server.process)


@contextlib.contextmanager
def running_pouchdb_server(directory: Path, *, in_memory: bool = True) -> Iterator[PouchServer]:
    server = start_pouchdb_server(directory, in_memory=in_memory)
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="session")
def pouchdb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PouchServer]:
    """One in-memory pouchdb-server for the whole session (about a second to start)."""
    require_pouchdb_server()
    with running_pouchdb_server(tmp_path_factory.mktemp("pouchdb-server")) as server:
        yield server


@contextlib.asynccontextmanager
async def fresh_database(server_url: str, name: str) -> AsyncIterator[HttpStore]:
    """Create ``name`` on the server (dropping a leftover of an interrupted run first), yield an
    ``HttpStore`` for it, then close the store and delete the database."""
    databases = await HttpDatabases.connect(server_url)
    try:
        if await databases.exists(name):
            await databases.delete(name)
        await databases.create(name)
        store = await HttpStore.open(f"{server_url}/{name}")
        try:
            yield store
        finally:
            await store.close()
            await databases.delete(name)
    finally:
        await databases.close()
