"""An audit log entry: who wrote which sensitive document, when, from where.

The server appends them to its ``_audit`` database (``http``'s audit log); users cannot edit or
delete them. Their document ids sort by time (``{timestamp}-{random}``), so the entity has no
id scheme of its own: it is read from the ``_audit`` database as it is.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from brainlink_docs.merge.policies import Policy
from brainlink_docs.models.base import Entity, Timestamp


class AuditLogEntry(Entity):
    TYPE: ClassVar[str] = "auditLogEntry"
    POLICY: ClassVar[Policy] = Policy("lww")
    type: Literal["auditLogEntry"] = "auditLogEntry"
    user_id: str | None = None
    action: Literal["create", "update", "delete", "replicate"]
    resource_type: str
    resource_id: str
    database: str
    # The revision the audited write made ("rev" in the document).
    revision: str | None = Field(default=None, alias="rev")
    timestamp: Timestamp
    ip_address: str | None = None
    user_agent: str | None = None

    def doc_id(self) -> str:
        return f"{self.timestamp}-{self.id}"
