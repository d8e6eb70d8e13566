"""Stores named as a user names them (a replication's endpoints): an ``http(s)://…/db`` URL or
a database file's path.

A URL opens an ``HttpStore`` (credentials in the URL, or ``headers`` sent with every request:
a replication document's endpoint ``headers``, a JWT bearer token); anything else is an embedded
database file. ``create`` makes a missing target first (CouchDB's ``create_target``); without it
a missing database is CouchDB's 404 ``Database does not exist.``, never a silently created empty
one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path

from yarl import URL

from brainlink_docs.errors import FileExists, NotFound
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.sqlite import SqliteStore

_MISSING = "Database does not exist."


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


async def open_endpoint(
    spec: str, *, create: bool = False, headers: Mapping[str, str] | None = None
) -> DocumentStore:
    """The store ``spec`` names; ``NotFound`` when it does not exist and ``create`` is off."""
    if is_url(spec):
        return await _open_remote(spec, create=create, headers=headers)
    path = Path(spec)
    if not create and not await asyncio.to_thread(path.is_file):
        raise NotFound(_MISSING)
    return await SqliteStore.open(path)


async def _open_remote(url: str, *, create: bool, headers: Mapping[str, str] | None) -> HttpStore:
    store = await HttpStore.open(url, headers=headers)
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
    databases = await HttpDatabases.connect(root, headers=headers)
    try:
        with contextlib.suppress(FileExists):  # created meanwhile by someone else: it exists
            await databases.create(store.name)
    except BaseException:  # refused, unreachable or cancelled: the store is nobody's to close
        await store.close()
        raise
    finally:
        await databases.close()
    return store
