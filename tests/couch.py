"""The real Apache CouchDB as a test peer: where it comes from, and fresh databases on it.

The ``couchdb`` session fixture yields a ``CouchServer`` (its root URL with admin credentials):
- ``COUCHDB_URL`` set (``.ci/run`` starts ``../shared/couchdb`` and exports it, or a user points
  it at any CouchDB 3.x): that server, never stopped here;
- otherwise, when ``../shared/couchdb/start`` exists beside the project: one instance started
  for the session and stopped after it;
- otherwise the ``couchdb``-marked tests skip with the reason, unless
  ``BRAINLINK_REQUIRE_COUCHDB=1`` (CI sets it): then they fail, so a CouchDB that could not start
  never passes as a skip.
"""

from __future__ import annotations

import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_COUCHDB = ROOT.parent / "shared" / "couchdb"
# `start` waits up to 60 s for CouchDB itself; give it that plus the unpacking.
START_TIMEOUT_S = 120.0


@dataclass(frozen=True, slots=True)
class CouchServer:
    """A running CouchDB: ``url`` carries admin credentials (``http://user:pass@host:port``)."""

    url: str

    @property
    def bare_url(self) -> str:
        """The root URL without credentials (for anonymous requests and replication ids)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, "", "", ""))

    @property
    def auth(self) -> tuple[str, str]:
        parts = urlsplit(self.url)
        return parts.username or "", parts.password or ""

    def db_url(self, name: str) -> str:
        return f"{self.url}/{name}"


def _unavailable(reason: str) -> None:
    if os.environ.get("BRAINLINK_REQUIRE_COUCHDB") == "1":
        pytest.fail(f"a real CouchDB is required (BRAINLINK_REQUIRE_COUCHDB=1): {reason}")
    pytest.skip(reason)


def _answers(url: str) -> str | None:
    """``None`` when ``GET /_up`` answers 200, else why not."""
    parts = urlsplit(url)
    manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    manager.add_password(None, CouchServer(url).bare_url, parts.username or "", parts.password)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPBasicAuthHandler(manager)
    )
    try:
        with opener.open(CouchServer(url).bare_url + "/_up", timeout=10) as response:
            return None if response.status == 200 else f"GET /_up answered {response.status}"
    except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
        return f"GET /_up failed: {exc}"


def _start_shared() -> tuple[str, str]:
    """Start ``../shared/couchdb``; answers (url, instance directory)."""
    done = subprocess.run(
        ["bash", str(SHARED_COUCHDB / "start")],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"../shared/couchdb/start failed: {done.stderr[-2000:]}")
    values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return values["COUCHDB_URL"], values["COUCHDB_DIR"]


@pytest.fixture(scope="session")
def couchdb() -> Iterator[CouchServer]:
    """The real CouchDB for this session (see the module docstring for where it comes from)."""
    url = os.environ.get("COUCHDB_URL")
    if url:
        problem = _answers(url)
        if problem is not None:
            _unavailable(f"COUCHDB_URL={CouchServer(url).bare_url}: {problem}")
        yield CouchServer(url.rstrip("/"))
        return
    if not (SHARED_COUCHDB / "start").is_file():
        _unavailable("no COUCHDB_URL and no ../shared/couchdb to start one from")
    try:
        url, directory = _start_shared()
    except (RuntimeError, subprocess.TimeoutExpired, KeyError) as exc:
        _unavailable(str(exc))
        raise AssertionError("unreachable") from exc
    try:
        yield CouchServer(url)
    finally:
        subprocess.run(
            ["bash", str(SHARED_COUCHDB / "stop"), directory],
            capture_output=True,
            timeout=60,
            check=False,
        )
