"""What a replication is asked to do: which changes travel, in what batches, retried how.

One frozen value, so the CLI, ``POST /_replicate`` and ``_replicator`` documents all describe a
job the same way, and the replication id is computed from the same fields every time. The
filtering fields are CouchDB's: ``doc_ids``, a Mango ``selector``, or a named filter function
``"ddoc/name"`` with ``query_params`` (run by servers that have a JavaScript engine). CouchDB
accepts one of them per replication; so do we.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from brainlink_docs.errors import BadRequest
from brainlink_docs.replication.backoff import DEFAULT_RETRY, RetryPolicy
from brainlink_docs.store.api import ChangesQuery

# Changes per batch: CouchDB's replicator reads 500 at a time (worker_batch_size).
DEFAULT_BATCH_SIZE = 500
# Batches being diffed, read and written at once. CouchDB runs 4 workers per job
# (worker_processes); more only queue behind the target's single writer.
DEFAULT_BATCHES_IN_FLIGHT = 4
# Seconds between checkpoints while batches keep finishing (CouchDB: checkpoint_interval, 5 s).
# Shorter, because a device's replication is often cut off: what a restart resends is at most
# this much work. A run always checkpoints when it catches up.
DEFAULT_CHECKPOINT_INTERVAL_S = 1.0


@dataclass(frozen=True, slots=True)
class ReplicationOptions:
    """A replication's filter, batching and retry settings."""

    doc_ids: tuple[str, ...] | None = None
    selector: Mapping[str, Any] | None = None
    # A filter function of the source's, as ``"ddoc/name"`` (``_design/`` not repeated).
    filter: str | None = None
    query_params: Mapping[str, str] = field(default_factory=dict)
    batch_size: int = DEFAULT_BATCH_SIZE
    batches_in_flight: int = DEFAULT_BATCHES_IN_FLIGHT
    checkpoint_interval: float = DEFAULT_CHECKPOINT_INTERVAL_S
    retry: RetryPolicy = DEFAULT_RETRY

    def __post_init__(self) -> None:
        if self.doc_ids is not None and not isinstance(self.doc_ids, tuple):
            object.__setattr__(self, "doc_ids", tuple(self.doc_ids))
        if self.batch_size < 1 or self.batches_in_flight < 1:
            raise ValueError("batch_size and batches_in_flight must be at least 1")
        if self.checkpoint_interval < 0:
            raise ValueError("checkpoint_interval must not be negative")
        chosen = [n for n in ("doc_ids", "selector", "filter") if getattr(self, n) is not None]
        if len(chosen) > 1:
            raise BadRequest(f"`{chosen[0]}` and `{chosen[1]}` are mutually exclusive")
        if self.filter is not None:
            filter_parts(self.filter)

    def changes_query(self) -> ChangesQuery:
        """The source's ``_changes`` page this replication reads (``since`` set per page)."""
        return ChangesQuery(
            style="all_docs",
            limit=self.batch_size,
            doc_ids=self.doc_ids,
            selector=self.selector,
            filter=self.filter,
            query_params=self.query_params or None,
        )


def filter_parts(name: str) -> tuple[str, str]:
    """``("_design/ddoc", "name")`` of a named filter, or CouchDB's 400 for a malformed one."""
    ddoc, sep, fname = name.removeprefix("_design/").partition("/")
    if not sep or not ddoc or not fname:
        raise BadRequest("`filter` must be of the form `designname/filtername`")
    return f"_design/{ddoc}", fname
