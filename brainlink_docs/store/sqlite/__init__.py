"""The embedded store: one SQLite file per database, behind the async ``DocumentStore``."""

from brainlink_docs.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
