"""Replication over the ``DocumentStore`` interface: CouchDB's protocol between any two stores
(an embedded database, our server, a real CouchDB, pouchdb-server). See ``replicate``."""

from brainlink_docs.replication.replicate import (
    ReplicationResult,
    replicate,
    replicate_continuously,
)

__all__ = ["ReplicationResult", "replicate", "replicate_continuously"]
