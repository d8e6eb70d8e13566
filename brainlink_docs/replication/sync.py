"""Bidirectional sync: two replications, one each way, run together.

A device and a server each keep edits the other lacks; ``sync`` replicates both ways at once
(PouchDB's ``sync``), each direction with its own replication id and checkpoints, so either one
resumes on its own. Conflicting edits end as CouchDB conflicts on both sides, with the same
winner (the merger resolves them). A failure of one direction cancels the other: a sync either
finishes both ways or reports why not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, NoReturn, TypeVar

from brainlink_docs.replication.options import ReplicationOptions
from brainlink_docs.replication.replicate import (
    OnProgress,
    ReplicationResult,
    replicate,
    replicate_continuously,
)
from brainlink_docs.store.api import DocumentStore

T = TypeVar("T")


async def sync(
    a: DocumentStore,
    b: DocumentStore,
    options: ReplicationOptions | None = None,
    *,
    on_progress: OnProgress | None = None,
) -> tuple[ReplicationResult, ReplicationResult]:
    """Replicate ``a`` → ``b`` and ``b`` → ``a`` together; answers both results, in that order."""
    push, pull = await _together(
        replicate(a, b, options, on_progress=on_progress),
        replicate(b, a, options, on_progress=on_progress),
    )
    return push, pull


async def sync_continuously(
    a: DocumentStore,
    b: DocumentStore,
    options: ReplicationOptions | None = None,
    *,
    on_progress: OnProgress | None = None,
) -> NoReturn:
    """Follow both sides until cancelled: every write on either reaches the other."""
    await _together(
        replicate_continuously(a, b, options, on_progress=on_progress),
        replicate_continuously(b, a, options, on_progress=on_progress),
    )
    raise AssertionError("continuous replications only end by cancellation or failure")


async def _together(*runs: Coroutine[Any, Any, T]) -> list[T]:
    """Run both directions; the first failure (the error itself, not a group) cancels the
    other and is raised, as is a cancellation of the caller."""
    tasks = [asyncio.create_task(run) for run in runs]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
