"""Documents to entities and back, with the migrations between them, and the check a typed
document must pass wherever it is written (repositories on a device, the server's writes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from brainlink_docs.errors import Forbidden
from brainlink_docs.models.base import Entity
from brainlink_docs.models.migrations import MIGRATIONS, Migrations
from brainlink_docs.models.registry import entity_class, readable_errors


def load(doc: Mapping[str, Any], migrations: Migrations = MIGRATIONS) -> Entity:
    """The entity a stored document is, migrated to the current schema on the way (the store
    keeps the old body until someone writes). ``Forbidden`` says why a document is not one."""
    cls = entity_class(doc)
    if cls is None:
        raise Forbidden(
            f"document {doc.get('_id')!r} is not a Brainlink entity (type {doc.get('type')!r})"
        )
    body = migrations.upgrade(doc)
    try:
        entity = cls.from_body(body, doc.get("_rev"))
    except ValidationError as exc:
        raise Forbidden(f"invalid {cls.TYPE} {doc.get('_id')!r}: {readable_errors(exc)}") from exc
    _check_id(entity, doc)
    return entity


def refusal(doc: Mapping[str, Any], migrations: Migrations = MIGRATIONS) -> str | None:
    """Why a document being written must be refused (``None``: it may be written). Untyped
    documents and deletions pass; a typed one must be its entity, under its own id."""
    if doc.get("_deleted") or entity_class(doc) is None:
        return None
    try:
        load(doc, migrations)
    except Forbidden as exc:
        return exc.reason
    return None


async def check_entity(doc: dict[str, Any]) -> dict[str, Any]:
    """``refusal`` as a write check (the server's ``[entities] validate``): the document as it
    is, or 403 ``forbidden`` with the reason, as a ``validate_doc_update`` refusing it."""
    doc_id = doc.get("_id")
    if isinstance(doc_id, str) and doc_id.startswith("_"):
        return doc  # design and local documents are code and checkpoints, not entities
    reason = refusal(doc)
    if reason is not None:
        raise Forbidden(reason)
    return doc


def _check_id(entity: Entity, doc: Mapping[str, Any]) -> None:
    stored_id = doc.get("_id")
    if stored_id is None or entity.TYPE == "auditLogEntry":
        return
    expected = entity.doc_id()
    if stored_id != expected:
        raise Forbidden(
            f"a {entity.TYPE} with these fields has the id {expected!r}, not {stored_id!r}"
        )
