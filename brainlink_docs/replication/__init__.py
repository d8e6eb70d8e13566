"""Replication over the ``DocumentStore`` interface: CouchDB's protocol between any two stores
(an embedded database, our server, a real CouchDB, pouchdb-server). See ``replicate``."""

from brainlink_docs.replication.backoff import RetryPolicy
from brainlink_docs.replication.options import ReplicationOptions
from brainlink_docs.replication.replicate import (
    Progress,
    ReplicationResult,
    ReplicationState,
    rep_id_of,
    replicate,
    replicate_continuously,
)
from brainlink_docs.replication.sync import sync, sync_continuously

__all__ = [
    "Progress",
    "ReplicationOptions",
    "ReplicationResult",
    "ReplicationState",
    "RetryPolicy",
    "rep_id_of",
    "replicate",
    "replicate_continuously",
    "sync",
    "sync_continuously",
]
