"""brainlink_docs: Brainlink's data layer, revisioned JSON documents with CouchDB's semantics.

Public API: the ``DocumentStore`` interface and its value types, the embedded ``SqliteStore``,
and the ``CouchError`` family.
"""

from brainlink_docs.errors import (
    BadRequest,
    Conflict,
    CouchError,
    DocValidation,
    FileExists,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PreconditionFailed,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from brainlink_docs.store.api import (
    AllDocsPage,
    AllDocsQuery,
    Attachment,
    BulkResult,
    Change,
    ChangesPage,
    ChangesQuery,
    Databases,
    DbInfo,
    DocumentStore,
    ReadOptions,
    iter_all_docs,
    iter_changes,
)
from brainlink_docs.store.http import HttpDatabases, HttpStore
from brainlink_docs.store.sqlite import SqliteStore

__all__ = [
    "AllDocsPage",
    "AllDocsQuery",
    "Attachment",
    "BadRequest",
    "BulkResult",
    "Change",
    "ChangesPage",
    "ChangesQuery",
    "Conflict",
    "CouchError",
    "Databases",
    "DbInfo",
    "DocValidation",
    "DocumentStore",
    "FileExists",
    "Forbidden",
    "HttpDatabases",
    "HttpStore",
    "MethodNotAllowed",
    "NotFound",
    "PreconditionFailed",
    "ReadOptions",
    "SqliteStore",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "iter_all_docs",
    "iter_changes",
]
