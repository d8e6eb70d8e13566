"""Replication ids: one stable name per (source, target, filter) for the checkpoints of a job.

CouchDB names a replication by hashing its source, target and filtering options, so that a job
restarted with the same settings finds the checkpoints (``_local/<id>`` on both sides) of the
last run and resumes from them, while a job with other settings starts its own history. Ours
does the same from the endpoints' identities (a database URL without credentials, or the file of
an embedded store) and canonical JSON of the options, so the id does not depend on key order,
on which password was used, or on the process that computes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from yarl import URL

from brainlink_docs.canonical import canonical_json

# Part of the hashed key: a change to what identifies a job bumps it, so old checkpoints are
# not misread by a new scheme.
REPLICATION_ID_VERSION = 1


def bare_url(url: str) -> str:
    """``url`` without user and password: how an endpoint is named in ids and shown to others
    (``ValueError`` for what is not a URL)."""
    return str(URL(url).with_user(None))


def endpoint_id(store: object) -> str:
    """What identifies a store as a replication endpoint: its URL without credentials (a remote
    database), else the path of its file (an embedded one), else its name."""
    url = getattr(store, "url", None)
    if isinstance(url, str):
        return bare_url(url)
    path = getattr(store, "path", None)
    if isinstance(path, str):
        return path
    return str(getattr(store, "name", ""))


def replication_id(
    source: str,
    target: str,
    *,
    doc_ids: Sequence[str] | None = None,
    selector: Mapping[str, Any] | None = None,
    filter_code: str | None = None,
    query_params: Mapping[str, str] | None = None,
) -> str:
    """The hex id of a replication from ``source`` to ``target`` (endpoint ids) with these
    filters; ``doc_ids`` are a set, so their order does not matter. A named filter counts by
    its source code and parameters (CouchDB hashes the function's code, so an edited filter is
    a new replication); an unfiltered job's id does not depend on them."""
    key: dict[str, Any] = {
        "version": REPLICATION_ID_VERSION,
        "source": source,
        "target": target,
        "doc_ids": sorted(set(doc_ids)) if doc_ids is not None else None,
        "selector": selector,
    }
    if filter_code is not None:
        key["filter"] = {"code": filter_code, "query_params": dict(query_params or {})}
    return hashlib.md5(canonical_json(key)).hexdigest()
