"""The typed entity: a pydantic model that is one revisioned JSON document.

Every entity document carries ``type`` (which entity: the merger's policies, the views and the
server's validation key on it), ``schemaVersion`` (what its migrations start from), its own
``id`` and camelCase fields as the data model's TypeScript interfaces name them. Where an
interface has a ``type`` field of its own (a workspace's ``personal|project``, a panel's kind, a
file's MIME type...), the document calls it ``kind``: ``type`` is taken by the entity's name.

Document ids keep one user's documents, and one parent's children, together in ``_all_docs``
order: ``u/{userId}`` for the user, ``u/{userId}/{collection}/{id}`` for what the user owns and
``{parent's document id}/{collection}/{id}`` for a child. So a parent and everything that
cascades from it are one id range, and every owned document names its ``userId``.

Fields the model does not know are kept (``extra="allow"``): a device on an older version
must not drop what a newer one wrote when it saves the document back. Timestamps are the
format JavaScript's ``toISOString`` writes (UTC, milliseconds), so they sort as strings in
views.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, StringConstraints
from pydantic.alias_generators import to_camel

from brainlink_docs.merge.policies import Policy

# An entity's own id: one path segment of its document id.
EntityId = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^/\s]+$")]
# JavaScript's Date.prototype.toISOString: fixed width, so string order is time order.
Timestamp = Annotated[
    str,
    StringConstraints(
        # [0-9], not \d: the pattern engine's \d takes every script's digits.
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
    ),
]
USER_PREFIX = "u/"
# After every id that starts with a given prefix (CouchDB's usual "\ufff0" range end).
RANGE_END = "\ufff0"
# Body fields that belong to the store or the merger, not to the entity.
MERGE_FIELD = "$merge"


def now_iso(now: datetime.datetime | None = None) -> str:
    """A timestamp in the entities' format (now, UTC, unless given)."""
    moment = (now or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_id() -> str:
    return str(uuid.uuid4())


def user_doc_id(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}"


class Part(BaseModel):
    """A value inside an entity (a panel's position, a message's token counts): camelCase JSON,
    unknown fields kept."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class Entity(Part):
    """One document. Subclasses set ``TYPE``, their ``type`` literal, ``doc_id`` and, when the
    default field merge is wrong for them, ``POLICY``."""

    TYPE: ClassVar[str]
    # The version the code writes; older documents are migrated on read (models.migrations).
    SCHEMA_VERSION: ClassVar[int] = 1
    POLICY: ClassVar[Policy] = Policy()

    schema_version: int = 1
    id: EntityId
    created_at: Timestamp

    _rev: str | None = PrivateAttr(default=None)
    # The stored revision's attachment stubs: written back with every update, or the update
    # would drop them (a file's content attachment).
    _attachments: dict[str, Any] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        """A new entity is written at the code's schema version (a read one keeps its own)."""
        if "schema_version" not in self.model_fields_set:
            self.schema_version = self.SCHEMA_VERSION

    @property
    def rev(self) -> str | None:
        """The revision this entity was read at (``None``: not stored yet)."""
        return self._rev

    def doc_id(self) -> str:
        raise NotImplementedError

    def to_doc(self) -> dict[str, Any]:
        """The document: camelCase body, ``_id``, and ``_rev`` when it was read from a store."""
        body = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        body["_id"] = self.doc_id()
        if self._rev is not None:
            body["_rev"] = self._rev
        if self._attachments:
            body["_attachments"] = self._attachments
        return body

    @classmethod
    def from_body(cls, body: Mapping[str, Any], rev: str | None = None) -> Entity:
        """The entity of a document body already at the current schema version (``_`` fields
        and the merger's metadata are not the entity's)."""
        fields = {k: v for k, v in body.items() if not k.startswith("_") and k != MERGE_FIELD}
        entity = cls.model_validate(fields)
        entity._rev = rev
        stored = body.get("_attachments")
        if isinstance(stored, Mapping) and stored:
            entity._attachments = {
                name: {**{k: v for k, v in att.items() if k != "data"}, "stub": True}
                for name, att in stored.items()
            }
        return entity


class Owned(Entity):
    """An entity one user owns: its document id starts with the user's prefix."""

    user_id: EntityId
    updated_at: Timestamp

    # The collection name in the document id (``u/{userId}/{COLLECTION}/{id}``).
    COLLECTION: ClassVar[str]
    # A child's parent, as (the parent's collection, the field naming the parent's id): its
    # document id is then ``{parent's document id}/{COLLECTION}/{id}``.
    PARENT: ClassVar[tuple[str, str] | None] = None

    def doc_id(self) -> str:
        if self.PARENT is None:
            return owned_id(self.user_id, self.COLLECTION, self.id)
        collection, field = self.PARENT
        parent = owned_id(self.user_id, collection, getattr(self, field))
        return f"{parent}/{self.COLLECTION}/{self.id}"


def owned_id(user_id: str, collection: str, entity_id: str) -> str:
    """The document id of an entity ``user_id`` owns directly."""
    return f"{user_doc_id(user_id)}/{collection}/{entity_id}"
