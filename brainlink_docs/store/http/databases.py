"""``HttpDatabases``: the ``Databases`` of a CouchDB-compatible server, over its root URL.

``PUT``/``HEAD``/``DELETE /{db}`` and ``GET /_all_dbs``. Stores it opens share its session and
credentials; closing the ``HttpDatabases`` closes that session under them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

import aiohttp
from yarl import URL

from brainlink_docs.errors import NotFound
from brainlink_docs.store.api import validate_db_name
from brainlink_docs.store.http.auth import AuthOption
from brainlink_docs.store.http.store import HttpStore
from brainlink_docs.store.http.transport import (
    DEFAULT_TIMEOUT,
    CaFile,
    Transport,
    db_segment,
)

# HEAD answers carry no body, so a missing database's reason is restated as CouchDB words it.
_NO_DB = "Database does not exist."


class HttpDatabases:
    """The databases of one server (``http://host:5984``)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    @classmethod
    async def connect(
        cls,
        url: str | URL,
        *,
        session: aiohttp.ClientSession | None = None,
        auth: AuthOption | None = None,
        timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounds each later request
        headers: Mapping[str, str] | None = None,
        ca_file: CaFile | None = None,
    ) -> HttpDatabases:
        """Bind to the server at ``url`` (credentials in the userinfo or ``auth``, https
        verified against ``ca_file`` when given: see ``HttpStore.open``); without ``session``
        it owns one. Async because an aiohttp session must be made in the loop. The stores it
        opens share its credential: one cookie session serves them all."""
        return cls(
            Transport.create(
                url,
                session=session,
                auth=auth,
                timeout=timeout,
                headers=headers,
                ca_file=ca_file,
            )
        )

    def _store(self, name: str) -> HttpStore:
        return HttpStore(self._t.child(db_segment(name)), name)

    async def create(self, name: str) -> HttpStore:
        """PUT /{db}; the name is checked first with CouchDB's rule, since some servers
        (pouchdb-server) accept names CouchDB would reject."""
        validate_db_name(name)
        await self._t.call("PUT", db_segment(name))
        return self._store(name)

    async def open(self, name: str) -> HttpStore:
        if not await self.exists(name):
            raise NotFound(_NO_DB)
        return self._store(name)

    async def delete(self, name: str) -> None:
        await self._t.call("DELETE", db_segment(name))

    @contextlib.asynccontextmanager
    async def use(self, name: str) -> AsyncIterator[HttpStore]:
        """The store for ``name`` for a block (nothing to pin: a remote store holds no handle)."""
        yield await self.open(name)

    async def exists(self, name: str) -> bool:
        try:
            await self._t.send("HEAD", db_segment(name))
        except NotFound:
            return False
        return True

    async def list(self) -> list[str]:
        names: list[str] = await self._t.call("GET", "_all_dbs")
        return names

    async def close(self) -> None:
        await self._t.close()
