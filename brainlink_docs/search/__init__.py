"""Full-text search of chat messages (SQLite FTS5), kept up to date from a store's changes."""

from brainlink_docs.search.index import MessageSearch
from brainlink_docs.search.query import SearchHit, SearchPage

__all__ = ["MessageSearch", "SearchHit", "SearchPage"]
