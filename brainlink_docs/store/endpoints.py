"""Stores named as a user names them (a replication's endpoints): an ``http(s)://…/db`` URL or
a database file's path.

A URL opens an ``HttpStore``: credentials in the URL or as ``auth`` (``store.http.auth``: Basic,
a JWT ``Bearer``, a ``CookieSession``), ``headers`` sent with every request (a replication
document's endpoint ``headers``), and ``ca_file`` for an https server whose certificate a private
CA signed; anything else is an embedded database file. ``create`` makes a missing target first
(CouchDB's ``create_target``); without it a missing database is CouchDB's 404 ``Database does
not exist.``, never a silently created empty one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from yarl import URL

from brainlink_docs.errors import FileExists, NotFound
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.http.auth import AuthOption
from brainlink_docs.store.http.transport import CaFile
from brainlink_docs.store.sqlite import SqliteStore

_MISSING = "Database does not exist."


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without its userinfo, and the (login, password) it carried, percent-decoded: so
    credentials typed into a URL can log in another way (``CookieSession(*credentials)``)
    than the Basic auth the URL alone means."""
    parsed = URL(url)
    if parsed.user is None:
        return url, None
    return str(parsed.with_user(None)), (parsed.user, parsed.password or "")


@dataclass(frozen=True, slots=True)
class Remote:
    """How to reach a URL endpoint: what ``HttpStore.open`` takes besides the URL."""

    auth: AuthOption | None = None
    headers: Mapping[str, str] | None = None
    ca_file: CaFile | None = None


async def open_endpoint(
    spec: str,
    *,
    create: bool = False,
    headers: Mapping[str, str] | None = None,
    auth: AuthOption | None = None,
    ca_file: CaFile | None = None,
) -> DocumentStore:
    """The store ``spec`` names; ``NotFound`` when it does not exist and ``create`` is off.
    ``headers``, ``auth`` and ``ca_file`` apply to a URL only (a file has no server)."""
    if is_url(spec):
        return await _open_remote(spec, create=create, remote=Remote(auth, headers, ca_file))
    path = Path(spec)
    if not create and not await asyncio.to_thread(path.is_file):
        raise NotFound(_MISSING)
    return await SqliteStore.open(path)


async def _open_remote(url: str, *, create: bool, remote: Remote) -> HttpStore:
    store = await HttpStore.open(
        url, auth=remote.auth, headers=remote.headers, ca_file=remote.ca_file
    )
    try:
        await store.info()  # 404 for a missing database, 401/403 for bad credentials
        return store
    except NotFound:
        if not create:
            await store.close()
            raise
    except BaseException:
        await store.close()
        raise
    parsed = URL(url)
    root = parsed.with_path("/".join(parsed.path.rstrip("/").split("/")[:-1]) or "/")
    databases = await HttpDatabases.connect(
        root, auth=remote.auth, headers=remote.headers, ca_file=remote.ca_file
    )
    try:
        with contextlib.suppress(FileExists):  # created meanwhile by someone else: it exists
            await databases.create(store.name)
    finally:
        await databases.close()
    return store
