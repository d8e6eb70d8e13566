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

import base64
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
from conftest import NODE_MODULES
from http_api.conftest import Server, serving
from node_driver import NodeDriver

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


class BrowserDriver(NodeDriver):
    """``node browser_driver.js CHROMIUM``: playwright-core driving the system Chromium."""

    command_timeout = COMMAND_TIMEOUT

    @classmethod
    async def launch(cls, chromium: Path, workdir: Path) -> BrowserDriver:
        return await cls.start(
            DRIVER, [str(chromium)], workdir / "browser.stderr", line_limit=1 << 24
        )

    async def open(self, name: str, url: str) -> Page:
        """A new page in a context of its own (fresh cookies and IndexedDB) at ``url``."""
        await self.call("open", page=name, url=url)
        return Page(self, name)


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
    driver = await BrowserDriver.launch(chromium, browser_dir)
    try:
        yield driver
    finally:
        await driver.close()
