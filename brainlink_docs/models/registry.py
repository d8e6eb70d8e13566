"""Every entity type, by the ``type`` its documents carry, and what follows from that list:
the merger's policies and the check a typed document must pass on every write path.

A document is *typed* when its ``type`` names one of these entities; other documents
(untyped, or another application's types) are not checked here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from brainlink_docs.merge.policies import Policies
from brainlink_docs.models.audit import AuditLogEntry
from brainlink_docs.models.base import Entity
from brainlink_docs.models.chats import Chat, ChatMessage
from brainlink_docs.models.files import Directory, File, VirtualFileSystem
from brainlink_docs.models.pipelines import PipelineEdge, PipelineNode, PromptPipeline
from brainlink_docs.models.plugins import Permission, Plugin
from brainlink_docs.models.users import ApiKey, Integration, User, UserSettings
from brainlink_docs.models.workspaces import Panel, Workspace

ENTITIES: dict[str, type[Entity]] = {
    cls.TYPE: cls
    for cls in (
        User,
        UserSettings,
        Integration,
        ApiKey,
        Workspace,
        Panel,
        VirtualFileSystem,
        Directory,
        File,
        Chat,
        ChatMessage,
        PromptPipeline,
        PipelineNode,
        PipelineEdge,
        Plugin,
        Permission,
        AuditLogEntry,
    )
}

# The merger's registry: each entity type's policy (``merge.Policies``), for the resolver, the
# stamping store and ``brainlink-docs resolve --policies`` (``POLICIES.to_json()``).
POLICIES = Policies({name: cls.POLICY for name, cls in ENTITIES.items()})


def entity_class(doc: Mapping[str, Any]) -> type[Entity] | None:
    """The entity a document is, ``None`` for an untyped one."""
    kind = doc.get("type")
    return ENTITIES.get(kind) if isinstance(kind, str) else None


def readable_errors(error: ValidationError) -> str:
    """A validation error as one line a person can act on: ``field.path: problem; …``."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "document"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
