"""``MessageSearches``: a server's message-search indexes, one per open database.

The server hands each request a store from its ``Databases``; the search of that database is
the ``MessageSearch`` built on that very store object. When the store changes (closed by the
server's LRU and opened again, or the database deleted and re-created) the old search is
closed and a new one opened on the same file; the file itself tells whether it still belongs
to that database (``index``: its identity, kept in the database's ``_local`` document), so a
re-created database starts fresh. Deleting a database through the server deletes its file too.

Files sit in the server's data directory next to the database files and their view index
directories: ``<quoted name>.sqlite.search/messages.sqlite`` (the database file's name, as
``SqliteDatabases`` quotes it, plus ``.search``), so the directory listing of databases
(``*.sqlite``) never sees them. At most ``max_open`` searches stay open, the least recently
used closed first.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

from brainlink_docs.search.index import MessageSearch
from brainlink_docs.store.api import DocumentStore

SEARCH_SUFFIX = ".sqlite.search"
MESSAGES_FILE = "messages.sqlite"
# Open searches at most: each holds a connection per pool thread that used it. CouchDB's
# max_dbs_open default (500) bounds the databases; searches are rarer than opens.
DEFAULT_MAX_OPEN = 100


def search_directory(root: Path, name: str) -> Path:
    """Where the search indexes of database ``name`` live under the data directory ``root``."""
    return root / (quote(name, safe="") + SEARCH_SUFFIX)


class MessageSearches:
    def __init__(self, root: str | Path, *, max_open: int = DEFAULT_MAX_OPEN) -> None:
        self.root = Path(root)
        self._max_open = max_open
        self._open: OrderedDict[str, MessageSearch] = OrderedDict()
        self._lock = asyncio.Lock()

    async def of(self, name: str, store: DocumentStore) -> MessageSearch:
        """The search of database ``name``, whose store is ``store`` now."""
        search = self._open.get(name)
        if search is not None and search.store is store:
            self._open.move_to_end(name)
            return search
        async with self._lock:
            search = self._open.get(name)
            if search is not None and search.store is store:
                return search
            if search is not None:
                await self._open.pop(name).close()
            directory = search_directory(self.root, name)
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            search = self._open[name] = MessageSearch(store, directory / MESSAGES_FILE)
            while len(self._open) > self._max_open:
                _, victim = self._open.popitem(last=False)
                await victim.close()
            return search

    async def forget(self, name: str) -> None:
        """Database ``name`` was deleted: close its search and delete its files."""
        async with self._lock:
            search = self._open.pop(name, None)
            if search is not None:
                await search.close()
            directory = search_directory(self.root, name)
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(shutil.rmtree, directory)

    async def close(self) -> None:
        async with self._lock:
            searches, self._open = list(self._open.values()), OrderedDict()
        for search in searches:
            await search.close()
