"""``SqliteDatabases``: a directory of database files with a bounded set of open stores.

Each database is one file, ``<quoted name>.sqlite``: names may contain ``/`` and ``$()+``, which
are percent-encoded so every name is one flat file. Stores open lazily on first use and the least
recently used idle ones are closed past ``max_open`` (CouchDB's ``max_dbs_open``); a store in use
by a request is never closed under it, so the bound may be exceeded briefly under load.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import os
import shutil
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote, unquote

from brainlink_docs.errors import FileExists, NotFound
from brainlink_docs.store.api import validate_db_name
from brainlink_docs.store.encoding import DEFAULT_ENCODING, AttachmentEncoding
from brainlink_docs.store.sqlite.schema import DEFAULT_SYNCHRONOUS
from brainlink_docs.store.sqlite.store import SqliteStore, views_directory

SUFFIX = ".sqlite"
# CouchDB's default max_dbs_open is 500; each open store holds a few SQLite connections.
DEFAULT_MAX_OPEN = 500
_MISSING_DB = "Database does not exist."


class SqliteDatabases:
    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        max_open: int = DEFAULT_MAX_OPEN,
        synchronous: str = DEFAULT_SYNCHRONOUS,
        encoding: AttachmentEncoding = DEFAULT_ENCODING,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._max_open = max_open
        self._synchronous = synchronous
        self._encoding = encoding
        self._open: OrderedDict[str, SqliteStore] = OrderedDict()
        self._in_use: dict[str, int] = {}
        self._lock = asyncio.Lock()
        self._sorted: list[bytes] | None = None

    def _path(self, name: str) -> Path:
        return self.root / (quote(name, safe="") + SUFFIX)

    async def exists(self, name: str) -> bool:
        return name in self._open or self._path(name).exists()

    async def list(self) -> list[str]:
        return [key.decode() for key in self._names()]

    def _names(self) -> list[bytes]:
        """Every database name as UTF-8, in CouchDB's raw byte order. The directory is read
        once; creates and deletes keep the list (``_all_dbs`` over 10,000 per-user databases
        was a directory scan and a sort per request, 3x pouchdb-server's time)."""
        if self._sorted is None:
            names = (unquote(p.name[: -len(SUFFIX)]) for p in self.root.glob("*" + SUFFIX))
            self._sorted = sorted(name.encode() for name in names)
        return self._sorted

    def _listed(self, name: str) -> None:
        key = name.encode()
        names = self._names()
        at = bisect.bisect_left(names, key)
        if at == len(names) or names[at] != key:
            names.insert(at, key)

    def _unlisted(self, name: str) -> None:
        key = name.encode()
        names = self._names()
        at = bisect.bisect_left(names, key)
        if at < len(names) and names[at] == key:
            del names[at]

    async def create(self, name: str) -> SqliteStore:
        validate_db_name(name)
        async with self._lock:
            path = self._path(name)
            if name in self._open or path.exists():
                raise FileExists()
            store = await self._open_file(path, name)
            self._listed(name)
            await self._remember(name, store)
            return store

    async def open(self, name: str) -> SqliteStore:
        async with self._lock:
            store = self._open.get(name)
            if store is not None:
                self._open.move_to_end(name)
                return store
            path = self._path(name)
            if not path.exists():
                raise NotFound(_MISSING_DB)
            store = await self._open_file(path, name)
            await self._remember(name, store)
            return store

    async def _open_file(self, path: Path, name: str) -> SqliteStore:
        return await SqliteStore.open(
            path, name=name, synchronous=self._synchronous, encoding=self._encoding
        )

    def use(self, name: str) -> _Lease:
        """Open ``name`` and keep it open (not evictable) while the block runs."""
        return _Lease(self, name)

    def _pin(self, name: str) -> None:
        self._in_use[name] = self._in_use.get(name, 0) + 1

    def _unpin(self, name: str) -> None:
        left = self._in_use[name] - 1
        if left:
            self._in_use[name] = left
        else:
            del self._in_use[name]

    async def delete(self, name: str) -> None:
        async with self._lock:
            store = self._open.pop(name, None)
            path = self._path(name)
            if store is None and not path.exists():
                raise NotFound(_MISSING_DB)
            if store is not None:
                await store.close()
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(str(path) + suffix)
            await asyncio.to_thread(shutil.rmtree, views_directory(str(path)), True)
            self._unlisted(name)

    async def _remember(self, name: str, store: SqliteStore) -> None:
        self._open[name] = store
        while len(self._open) > self._max_open:
            victim = next((n for n in self._open if n not in self._in_use), None)
            if victim is None:
                return
            await self._open.pop(victim).close()

    @property
    def open_count(self) -> int:
        return len(self._open)

    async def close(self) -> None:
        async with self._lock:
            stores, self._open = list(self._open.values()), OrderedDict()
        for store in stores:
            await store.close()


class _Lease:
    """``async with databases.use(name)``: a plain class, since a generator-based context
    manager costs several frames on every request (measured in the server's GET profile)."""

    __slots__ = ("_databases", "_name")

    def __init__(self, databases: SqliteDatabases, name: str) -> None:
        self._databases = databases
        self._name = name

    async def __aenter__(self) -> SqliteStore:
        store = await self._databases.open(self._name)
        self._databases._pin(self._name)
        return store

    async def __aexit__(self, *exc: object) -> None:
        self._databases._unpin(self._name)
