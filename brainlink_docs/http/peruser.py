"""Per-user databases (CouchDB's ``couch_peruser``): every user gets a private database.

When a user document is written, the user's database ``userdb-<hex of the UTF-8 name>`` is
created if missing, with the user as its admin and only member (names, no roles: nobody else
gets in, server admins aside). When the user is deleted, the database goes too if
``delete_dbs`` says so. Unlike CouchDB, which follows ``_users`` changes in the background, the
database exists when the write that created the user is answered: a client may sync right away.
"""

from __future__ import annotations

import contextlib
import logging

from brainlink_docs.config import PeruserSettings
from brainlink_docs.errors import CouchError, FileExists, NotFound
from brainlink_docs.security.users import (
    USER_PREFIX,
    USERS_DB,
    UserRecord,
    user_db_name,
    user_doc_id,
)
from brainlink_docs.store.api import AllDocsQuery, Databases, iter_all_docs

log = logging.getLogger("brainlink_docs.peruser")


def private_security(name: str) -> dict[str, dict[str, list[str]]]:
    return {
        "admins": {"names": [name], "roles": []},
        "members": {"names": [name], "roles": []},
    }


class UserDatabases:
    def __init__(self, settings: PeruserSettings, databases: Databases) -> None:
        self._settings = settings
        self._databases = databases

    def name_for(self, user: str) -> str:
        return user_db_name(user, self._settings.database_prefix)

    async def users_written(self, names: list[str]) -> None:
        for name in dict.fromkeys(names):
            if await self._is_live_user(name):
                await self.ensure(name)
            elif self._settings.delete_dbs:
                await self._drop(name)

    async def _is_live_user(self, name: str) -> bool:
        try:
            async with self._databases.use(USERS_DB) as store:
                doc = await store.get(user_doc_id(name))
        except NotFound:
            return False
        return UserRecord.from_doc(doc) is not None

    async def ensure(self, name: str) -> None:
        db = self.name_for(name)
        try:
            store = await self._databases.create(db)
        except FileExists:
            return
        except CouchError:
            log.exception("could not create the database of user %r", name)
            raise
        await store.set_security(private_security(name))

    async def reconcile(self) -> int:
        """At start: a database for every user who has none (per-user databases may have been
        switched on after users signed up, or a crash came between a user write and its
        database). Answers how many were created."""
        created = 0
        query = AllDocsQuery(startkey=USER_PREFIX, endkey=USER_PREFIX + "\uffff", include_docs=True)
        async with self._databases.use(USERS_DB) as store:
            async for row in iter_all_docs(store, query):
                record = UserRecord.from_doc(row.get("doc") or {})
                if record is not None and not await self._databases.exists(
                    self.name_for(record.name)
                ):
                    await self.ensure(record.name)
                    created += 1
        return created

    async def _drop(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self._databases.delete(self.name_for(name))
