"""The audit log: one ``auditLogEntry`` document in the ``_audit`` database per write to a
sensitive document (an ``integration``, ``apiKey``, ``permission`` or ``user``) made through the
server.

An entry (``models.audit.AuditLogEntry``'s document) names the writer (the request's user
name, ``None`` when anonymous), the ``action`` (``create`` when the document had no live revision
before, ``update``, ``delete``, or ``replicate`` for a ``new_edits=false`` write), the written
document's ``type`` and ``_id``, the database, the new revision, the time, the client's address
and user agent. Its ``_id`` is
``{timestamp}-{id}``, the timestamp the entities' fixed-width UTC format (to the millisecond), so
``_all_docs`` lists the log in time order; the entries of one batch share their timestamp (they
committed together) and the random part of their ``id``, and list in the order of the batch's
rows.

``_audit`` is written by the server alone, after the audited write commits, one ``bulk_docs``
per audited write (a batch's N entries together). Clients only read it, and only server admins:
``AppendOnlyView`` is the store they get, every write refused with 403 ``forbidden``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from brainlink_docs.errors import CouchError, Forbidden
from brainlink_docs.models.base import now_iso
from brainlink_docs.store.api import BulkResult, Databases, Doc
from brainlink_docs.store.view import StoreView

AUDIT_DB = "_audit"
APPEND_ONLY = "the audit log is append-only"
ENTRY_TYPE = "auditLogEntry"
SCHEMA_VERSION = 1
# An entry's ``id``, after the timestamp in its ``_id``: a random part per batch, so two batches
# of the same millisecond get distinct ids, then the row's index in its batch (6 hex digits: 16M
# rows), so a batch's entries list in the order of its rows.
_BATCH_ENTROPY_BYTES = 5
_INDEX_DIGITS = 6

log = logging.getLogger("brainlink_docs.audit")
Clock = Callable[[], datetime]
_T = TypeVar("_T")


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """ISO 8601 UTC to the millisecond, as every entity's timestamps (JavaScript's
    ``toISOString``): fixed width, so strings sort as times do."""
    return now_iso(moment)


@dataclass(frozen=True, slots=True)
class Writer:
    """Who made a request's writes: the user's name and where the request came from."""

    user: str | None
    ip_address: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class Audited:
    """One committed write to a sensitive document, before it becomes an entry."""

    action: str
    resource_type: str
    resource_id: str
    rev: str | None


def audit_entry(
    writer: Writer, written: Audited, database: str, when: str, entry_id: str
) -> dict[str, Any]:
    """The ``auditLogEntry`` document for ``written``; pure. Built as a dict, not through the
    pydantic model: a batch of 1,000 entries is a hot path (the tests check the model takes
    it)."""
    return {
        "_id": f"{when}-{entry_id}",
        "type": ENTRY_TYPE,
        "schemaVersion": SCHEMA_VERSION,
        "id": entry_id,
        "createdAt": when,
        "userId": writer.user,
        "action": written.action,
        "resourceType": written.resource_type,
        "resourceId": written.resource_id,
        "database": database,
        "rev": written.rev,
        "timestamp": when,
        "ipAddress": writer.ip_address,
        "userAgent": writer.user_agent,
    }


class AuditLog:
    """Writes entries to ``_audit`` through the server's ``Databases``, never through a
    request's store: the server's own writes are neither guarded nor audited.

    ``record`` runs in a task of its own that the request awaits shielded, so a client that
    hangs up after its write committed still gets its entry written; ``drain`` waits for the
    tasks still running when the server shuts down, before the databases close.
    """

    def __init__(
        self, databases: Databases, types: Sequence[str], *, clock: Clock = utc_now
    ) -> None:
        self._databases = databases
        self.types = frozenset(types)
        self._clock = clock
        self._tasks: set[asyncio.Task[Any]] = set()

    def entries(self, writer: Writer, database: str, written: Sequence[Audited]) -> list[Doc]:
        when = timestamp(self._clock())
        batch = secrets.token_hex(_BATCH_ENTROPY_BYTES)
        return [
            audit_entry(writer, w, database, when, f"{batch}{i:0{_INDEX_DIGITS}x}")
            for i, w in enumerate(written)
        ]

    async def record(self, entries: list[Doc]) -> None:
        """One ``bulk_docs`` into ``_audit``. A failure is logged, not raised: the audited
        write has committed and its answer must say so (a client told otherwise retries)."""
        try:
            async with self._databases.use(AUDIT_DB) as store:
                rows = await store.bulk_docs(entries)
        except (CouchError, OSError):
            log.exception("audit entries lost: %s", [e["resourceId"] for e in entries])
            return
        failed = [row.id for row in rows if not row.ok]
        if failed:
            log.error("audit entries refused: %s", failed)

    async def shielded(self, work: Coroutine[Any, Any, _T]) -> _T:
        """Run the coroutine ``work`` to its end even if the awaiting request is cancelled."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return await asyncio.shield(task)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a write whose requester left may still have failed

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class AppendOnlyView(StoreView):
    """``_audit`` as a server admin reads it: every read, no write (purge and ``_security``
    included)."""

    async def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise Forbidden(APPEND_ONLY)

    put = delete = put_attachment = delete_attachment = _refuse
    purge = set_security = set_revs_limit = create_index = delete_index = _refuse

    async def bulk_docs(self, docs: Sequence[Doc], *, new_edits: bool = True) -> list[BulkResult]:
        raise Forbidden(APPEND_ONLY)
