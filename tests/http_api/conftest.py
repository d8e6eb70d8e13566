"""Our server on a loopback port, in the test's own event loop, over a fresh data directory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from brainlink_docs.config import AuthSettings, Settings
from brainlink_docs.http.server import start
from brainlink_docs.security.passwords import hash_password

from .helpers import create_db

ADMIN = "admin"
PASSWORD = "s3cret-pass"
# Tests hash with few PBKDF2 rounds: the server's cost per login is not what they measure.
TEST_ITERATIONS = 1000


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    data_dir: Path
    admin: str = ADMIN
    password: str = PASSWORD

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": aiohttp.encode_basic_auth(self.admin, self.password)}

    @property
    def authed_url(self) -> str:
        return f"http://{self.admin}:{self.password}@127.0.0.1:{self.port}"


def test_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "port": 0,
        "admins": {ADMIN: hash_password(PASSWORD, iterations=TEST_ITERATIONS)},
        "access_log": False,
        "synchronous": "NORMAL",
        "server_uuid": "0123456789abcdef0123456789abcdef",
        "auth": AuthSettings(secret="test-cookie-secret", iterations=TEST_ITERATIONS),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def serving(data_dir: Path, **overrides: object) -> AsyncIterator[Server]:
    """Our server over ``data_dir`` (``test_settings`` with ``overrides``) for the block."""
    runner, port = await start(test_settings(data_dir, **overrides))
    try:
        yield Server(f"http://127.0.0.1:{port}", port, data_dir)
    finally:
        await runner.cleanup()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    async with serving(tmp_path / "data") as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(server.url, headers=server.auth_headers) as session:
        yield session


@pytest.fixture
async def db(client: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """``client`` once it has created the database ``db``."""
    await create_db(client)
    return client
