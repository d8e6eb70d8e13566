"""Plugins, their manifests and permissions (the data model's plugin domain).

A plugin's permissions are documents of their own (``{plugin doc id}/permission/{id}``), as
the SQL schema's ``plugin_permissions``: the user grants and revokes them one by one, often on
another device than the one that installed the plugin.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from brainlink_docs.models.base import EntityId, Owned, Part
from brainlink_docs.models.chats import Tool

PermissionKind = Literal[
    "filesystem:read",
    "filesystem:write",
    "network:external",
    "llm:access",
    "workspace:modify",
    "terminal:execute",
    "storage:read",
    "storage:write",
]


class Command(Part):
    id: str
    title: str = ""
    keybinding: str | None = None


class PanelDefinition(Part):
    id: str
    title: str = ""


class PluginManifest(Part):
    name: str
    version: str
    min_app_version: str
    max_app_version: str | None = None
    main: str
    resources: list[str] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    panels: list[PanelDefinition] = Field(default_factory=list)
    tools: list[Tool] = Field(default_factory=list)
    api_version: str


class Plugin(Owned):
    TYPE: ClassVar[str] = "plugin"
    COLLECTION: ClassVar[str] = "plugin"
    type: Literal["plugin"] = "plugin"
    name: str = Field(min_length=1)
    version: str
    author: str
    description: str = ""
    homepage: str | None = None
    repository: str | None = None
    license: str | None = None
    entry_point: str
    manifest: PluginManifest
    state: Literal["enabled", "disabled", "error"] = "disabled"


class Permission(Owned):
    TYPE: ClassVar[str] = "permission"
    COLLECTION: ClassVar[str] = "permission"
    PARENT: ClassVar[tuple[str, str] | None] = ("plugin", "plugin_id")
    type: Literal["permission"] = "permission"
    plugin_id: EntityId
    kind: PermissionKind
    scope: str | None = None
    granted: bool = False
