"""Full-text search of chat messages (SQLite FTS5), kept up to date from a store's changes."""

from brainlink_docs.search.client import HttpMessageSearch
from brainlink_docs.search.databases import MessageSearches
from brainlink_docs.search.index import MessageSearch
from brainlink_docs.search.query import SearchHit, SearchPage

__all__ = ["HttpMessageSearch", "MessageSearch", "MessageSearches", "SearchHit", "SearchPage"]
