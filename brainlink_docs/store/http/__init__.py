"""The HTTP client side: ``HttpStore`` and ``HttpDatabases`` over any CouchDB-compatible server.

``transport`` owns the session, URL encoding and the status-to-``CouchError`` mapping; ``wire``
translates ``store.api`` values to CouchDB's query parameters and back; ``store`` and
``databases`` are the two Protocol implementations.
"""

from brainlink_docs.store.http.databases import HttpDatabases
from brainlink_docs.store.http.store import HttpStore

__all__ = ["HttpDatabases", "HttpStore"]
