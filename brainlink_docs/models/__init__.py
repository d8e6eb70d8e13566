"""Brainlink's entities as typed, revisioned documents: pydantic models (camelCase JSON), the
merger's policy of each type, migrations, and the repositories the app calls."""

from brainlink_docs.models.audit import AuditLogEntry
from brainlink_docs.models.base import Entity, new_id, now_iso
from brainlink_docs.models.chats import Chat, ChatMessage, ToolCall
from brainlink_docs.models.documents import load, refusal
from brainlink_docs.models.files import Directory, File, VirtualFileSystem
from brainlink_docs.models.migrations import MIGRATIONS, Migration, Migrations
from brainlink_docs.models.pipelines import PipelineEdge, PipelineNode, PromptPipeline
from brainlink_docs.models.plugins import Permission, Plugin, PluginManifest
from brainlink_docs.models.queries import Brainlink, PipelineGraph, PluginGrants
from brainlink_docs.models.registry import ENTITIES, POLICIES
from brainlink_docs.models.users import ApiKey, Integration, Sealed, User, UserSettings
from brainlink_docs.models.workspaces import Panel, Workspace

__all__ = [
    "ENTITIES",
    "MIGRATIONS",
    "POLICIES",
    "ApiKey",
    "AuditLogEntry",
    "Brainlink",
    "Chat",
    "ChatMessage",
    "Directory",
    "Entity",
    "File",
    "Integration",
    "Migration",
    "Migrations",
    "Panel",
    "Permission",
    "PipelineEdge",
    "PipelineGraph",
    "PipelineNode",
    "Plugin",
    "PluginGrants",
    "PluginManifest",
    "PromptPipeline",
    "Sealed",
    "ToolCall",
    "User",
    "UserSettings",
    "VirtualFileSystem",
    "Workspace",
    "load",
    "new_id",
    "now_iso",
    "refusal",
]
