"""``StoreView``: a ``DocumentStore`` that wraps another and delegates whatever it does not
override, for the layers that watch or guard a store without being one (the server's
document-level access rules, the merge-aware stores of the background resolver).

``guarded_bulk`` is the part of ``bulk_docs`` such a layer shares: each document is checked on
its own and a refused one becomes an error row in its place, as CouchDB answers a batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from brainlink_docs.errors import CouchError
from brainlink_docs.store.api import BulkResult, Doc, DocumentStore

# The DocumentStore methods a view hands straight to the wrapped store unless it overrides them.
_DELEGATED = (
    "info",
    "get",
    "open_revs",
    "put",
    "delete",
    "bulk_docs",
    "all_docs",
    "changes",
    "wait_for_change",
    "revs_diff",
    "bulk_get",
    "get_attachment",
    "put_attachment",
    "delete_attachment",
    "get_revs_limit",
    "purge",
    "get_security",
    "set_security",
    "local_docs",
    "set_revs_limit",
    "compact",
    "close",
)


class StoreView:
    """Delegates everything it does not override to the wrapped store."""

    def __init__(self, inner: DocumentStore) -> None:
        self._inner = inner
        # Bound once: a member's every read would otherwise go through __getattr__.
        for attr in _DELEGATED:
            if not hasattr(type(self), attr):
                setattr(self, attr, getattr(inner, attr))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._inner, attr)

    @property
    def name(self) -> str:
        return self._inner.name


async def guarded_bulk(
    docs: Sequence[Doc],
    check: Callable[[Doc], Awaitable[Doc]],
    write: Callable[[list[Doc]], Awaitable[list[BulkResult]]],
) -> list[BulkResult]:
    """Run ``check`` on each doc; refused docs become error rows in their place."""
    rows: list[BulkResult | None] = []
    accepted: list[Doc] = []
    for doc in docs:
        try:
            accepted.append(await check(doc))
            rows.append(None)
        except CouchError as exc:
            rows.append(BulkResult(str(doc.get("_id", "")), error=exc.error, reason=exc.reason))
    written = iter(await write(accepted)) if accepted else iter(())
    return [row if row is not None else next(written) for row in rows]
