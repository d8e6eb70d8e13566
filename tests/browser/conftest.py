"""A real browser against our server: headless Chromium, PouchDB's browser build, another origin.

``page_server`` serves ``page.html`` (which loads ``node_modules/pouchdb/dist/pouchdb.js``, its
IndexedDB adapter and ``page.js``) from its own loopback port: another origin than the database
server, but the same site (127.0.0.1), so the session cookie is sent with ``credentials:
"include"`` under Chromium's default ``SameSite=Lax``. ``couch`` is our server with per-user
databases, CORS for exactly that origin (with credentials) and a JWT HMAC key.

``browser`` is one long-lived ``node browser_driver.js`` per test (playwright-core driving the
system Chromium), started with ``asyncio.create_subprocess_exec`` so the in-process servers keep
serving while a test awaits a reply. Each named page is its own browser context: its own
cookies and IndexedDB, as two people's browsers are. The driver's stderr (the page's console,
its cross-origin requests and their statuses) goes to a file whose tail is quoted on failure.

The tests skip when Chromium, Node or the npm packages are missing, and fail instead when
``BRAINLINK_REQUIRE_BROWSER=1`` (CI sets it, so a broken install cannot pass as a skip).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import NODE_MODULES, ROOT
from http_api.conftest import Server, serving

from brainlink_docs.config import AuthSettings, CorsSettings, PeruserSettings

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "browser_driver.js"
CHROMIUM = Path(os.environ.get("BRAINLINK_CHROMIUM", "/usr/bin/chromium"))
# Seconds one driver command may take; the first one also launches Chromium (about a second).
COMMAND_TIMEOUT = 30.0
# The page's files: the page itself and PouchDB's browser build with its IndexedDB adapter.
PAGE_FILES = {
    "/": HERE / "page.html",
    "/page.js": HERE / "page.js",
    "/pouchdb.js": NODE_MODULES / "pouchdb" / "dist" / "pouchdb.js",
    "/pouchdb.indexeddb.js": NODE_MODULES / "pouchdb" / "dist" / "pouchdb.indexeddb.js",
}
# The key the server verifies JWTs with ([jwt_keys] hmac:_default), and the cookie secret.
JWT_SECRET = b"browser-test-jwt-key-0123456789ab"
COOKIE_SECRET = "browser-test-cookie-secret"
# PBKDF2 rounds for the users the pages sign up: cost is not what these tests measure.
USER_ITERATIONS = 1000


def missing_for_browser() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if shutil.which("node") is None:
        return "node is missing"
    for package in ("playwright-core", "pouchdb"):
        if not (NODE_MODULES / package).is_dir():
            return f"node_modules/{package} is missing (npm ci)"
    return None


@pytest.fixture
def chromium() -> Path:
    reason = missing_for_browser()
    if reason is not None:
        if os.environ.get("BRAINLINK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"BRAINLINK_REQUIRE_BROWSER=1 but the browser test cannot run: {reason}")
        pytest.skip(reason)
    return CHROMIUM


# ---------------------------------------------------------------------------------------------
# The page's origin


@dataclass(frozen=True)
class PageServer:
    url: str  # the page, e.g. http://127.0.0.1:40123/
    origin: str  # e.g. http://127.0.0.1:40123


@pytest.fixture
async def page_server() -> AsyncIterator[PageServer]:
    async def serve_file(request: web.Request) -> web.FileResponse:
        return web.FileResponse(PAGE_FILES[request.path], headers={"Cache-Control": "no-store"})

    app = web.Application()
    for path in PAGE_FILES:
        app.router.add_get(path, serve_file)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        origin = f"http://127.0.0.1:{port}"
        yield PageServer(f"{origin}/", origin)
    finally:
        await runner.cleanup()


# ---------------------------------------------------------------------------------------------
# Our server, as a browser app would have it configured


@pytest.fixture
async def couch(tmp_path: Path, page_server: PageServer) -> AsyncIterator[Server]:
    async with serving(
        tmp_path / "data",
        peruser=PeruserSettings(enable=True, delete_dbs=False, database_prefix="userdb-"),
        cors=CorsSettings(enabled=True, origins=(page_server.origin,), credentials=True),
        auth=AuthSettings(
            secret=COOKIE_SECRET,
            iterations=USER_ITERATIONS,
            jwt_keys={"hmac:_default": base64.b64encode(JWT_SECRET).decode()},
        ),
    ) as running:
        yield running


@pytest.fixture
async def admin(couch: Server) -> AsyncIterator[aiohttp.ClientSession]:
    """The server admin over HTTP (basic auth), for what the tests write and read server-side."""
    async with aiohttp.ClientSession(couch.url, headers=couch.auth_headers) as session:
        yield session


def userdb(name: str) -> str:
    """CouchDB's per-user database name: the prefix and the hex of the UTF-8 name."""
    return "userdb-" + name.encode().hex()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(
    sub: str,
    *,
    key: bytes = JWT_SECRET,
    roles: tuple[str, ...] = (),
    lifetime: float = 300.0,
    now: float | None = None,
) -> str:
    """An HS256 token as an identity provider would issue it: ``sub`` names the user."""
    issued = int(time.time() if now is None else now)
    header = {"alg": "HS256", "typ": "JWT"}
    claims = {"sub": sub, "iat": issued, "exp": issued + int(lifetime), "_couchdb.roles": roles}
    signing_input = ".".join(
        _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.digest(key, signing_input.encode(), hashlib.sha256)
    return f"{signing_input}.{_b64url(signature)}"


# ---------------------------------------------------------------------------------------------
# The browser


class DriverError(RuntimeError):
    """The driver answered ``{"ok": false}``, died, or did not answer in time."""


class BrowserDriver:
    """``node browser_driver.js``: ``await call(op, **args)`` sends a command, gets its result."""

    def __init__(self, proc: asyncio.subprocess.Process, stderr_path: Path) -> None:
        self._proc = proc
        self._stderr_path = stderr_path
        # After a timeout the reply may still come, half-read: the conversation is out of step.
        self._broken = False

    @classmethod
    async def start(cls, chromium: Path, workdir: Path) -> BrowserDriver:
        stderr_path = workdir / "browser.stderr"
        with stderr_path.open("wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                "node",
                str(DRIVER),
                str(chromium),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                limit=1 << 24,
            )
        return cls(proc, stderr_path)

    def stderr_tail(self, chars: int = 6000) -> str:
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
            raise DriverError(
                f"{op} {json.dumps(args)[:300]}: no reply in {wait}s\n{self.stderr_tail()}"
            ) from exc
        if not line:
            code = await self._proc.wait()
            raise DriverError(f"{op}: driver exited with {code}\n{self.stderr_tail()}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise DriverError(
                f"{op} {json.dumps(args)[:300]}: {reply['error']}\n"
                f"--- driver stderr (tail) ---\n{self.stderr_tail()}"
            )
        return reply.get("result")

    async def open(self, name: str, url: str) -> Page:
        """A new page in a context of its own (fresh cookies and IndexedDB) at ``url``."""
        await self.call("open", page=name, url=url)
        return Page(self, name)

    async def close(self) -> None:
        """Ask the driver to close Chromium and exit; kill it if it cannot or does not."""
        if self._proc.returncode is None and not self._broken:
            with contextlib.suppress(DriverError, ConnectionError):
                await self.call("close", wait=10.0)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._proc.wait()
        if self._proc.returncode is None:
            self._proc.kill()
        await self._proc.wait()


@dataclass(frozen=True)
class Page:
    """One open page: ``await page("fn", *args)`` runs ``window.api`` function ``fn`` in it."""

    driver: BrowserDriver
    name: str

    async def __call__(self, fn: str, *args: Any, wait: float = COMMAND_TIMEOUT) -> Any:
        return await self.driver.call("call", wait=wait, page=self.name, fn=fn, args=list(args))

    async def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """``fetch`` from the page; fails the test if the browser could not read the answer."""
        result: dict[str, Any] = await self("request", {"method": method, "path": path, **kw})
        if "error" in result:
            raise AssertionError(
                f"{self.name}: {method} {path} failed in the browser ({result['error']}): a CORS"
                f" header is missing or the request was refused\n{self.driver.stderr_tail()}"
            )
        return result


@pytest.fixture
def browser_dir(tmp_path: Path) -> Path:
    path = tmp_path / "browser"
    path.mkdir()
    return path


@pytest.fixture
async def browser(chromium: Path, browser_dir: Path) -> AsyncIterator[BrowserDriver]:
    driver = await BrowserDriver.start(chromium, browser_dir)
    try:
        yield driver
    finally:
        await driver.close()
