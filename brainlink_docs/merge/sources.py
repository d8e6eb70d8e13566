"""Where merge policies come from outside code, all in ``Policies.to_json``'s shape: a JSON file
(``--policies`` of the commands, the server's ``[merge] policies``) and a database's design
document ``_design/merge``, whose ``merge_policies`` field gives that database's policies.

A design document with a bad ``merge_policies`` is refused when it is written, as CouchDB
refuses an invalid design document (``couch_mrview:validate_ddoc_fields``): 400
``invalid_design_doc`` for a single write, and that error as the document's row of a bulk or a
replicated write (CouchDB 3.5 answers both so, checked against it). One that got in anyway (a
database file written by an older server) is logged by the resolver and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from brainlink_docs.errors import BadRequest
from brainlink_docs.merge.policies import Policies
from brainlink_docs.store.api import Doc

POLICIES_DDOC = "_design/merge"
POLICIES_FIELD = "merge_policies"


def parse_policies(value: object) -> Policies:
    """``Policies.from_json``, with every malformed input a ``BadRequest`` (a CRDT kind that is
    not a string reaches a dict lookup there and raises ``TypeError``)."""
    try:
        return Policies.from_json(value)
    except TypeError as exc:
        raise BadRequest(f"merge policies: {exc}") from exc


def load_policies(path: Path | None, what: str = "--policies") -> Policies:
    """The policies in ``path`` (the default without one); ``what`` names the setting in errors."""
    if path is None:
        return Policies()
    try:
        return parse_policies(orjson.loads(path.read_bytes()))
    except OSError as exc:
        raise BadRequest(f"{what}: {exc.strerror}: {path}") from exc
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{what}: {path} is not valid JSON: {exc}") from exc
    except BadRequest as exc:
        raise BadRequest(f"{what}: {path}: {exc.reason}") from exc


def design_policies(ddoc: Mapping[str, Any]) -> Policies | None:
    """The policies ``_design/merge`` gives (``None``: it gives none); ``BadRequest`` (CouchDB's
    ``invalid_design_doc``) when its ``merge_policies`` is not valid."""
    if ddoc.get("_deleted") or POLICIES_FIELD not in ddoc:
        return None
    try:
        return parse_policies(ddoc[POLICIES_FIELD])
    except BadRequest as exc:
        raise BadRequest(f"`{POLICIES_FIELD}`: {exc.reason}", error="invalid_design_doc") from exc


async def check_design_doc(doc: Doc) -> Doc:
    """``doc`` as it is, unless it is a ``_design/merge`` whose policies are not valid (a check
    for ``guarded_bulk``, hence async)."""
    if doc.get("_id") == POLICIES_DDOC:
        design_policies(doc)
    return doc
