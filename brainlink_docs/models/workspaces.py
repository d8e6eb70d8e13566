"""Workspaces and their panels (the data model's workspace domain).

A workspace's panels are documents of their own (``{workspace doc id}/panel/{id}``), not the
interface's ``panels`` array: panels are opened, moved and closed concurrently on several
devices, and one document per panel makes those edits touch different documents.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from brainlink_docs.models.base import EntityId, Owned, Part

PanelKind = Literal[
    "code-editor",
    "terminal",
    "chat",
    "preview",
    "file-explorer",
    "node-editor",
    "markdown",
    "pdf-viewer",
    "whiteboard",
    "graph",
    "custom",
]


class Workspace(Owned):
    TYPE: ClassVar[str] = "workspace"
    COLLECTION: ClassVar[str] = "workspace"
    type: Literal["workspace"] = "workspace"
    name: str = Field(min_length=1)
    description: str | None = None
    kind: Literal["personal", "project"] = "personal"
    layout_version: int = 1
    root_directories: list[str] | None = None
    variables: dict[str, str] | None = None


class Position(Part):
    x: float
    y: float
    z: float = 0


class Size(Part):
    width: float = Field(ge=0)
    height: float = Field(ge=0)
    min_width: float | None = None
    min_height: float | None = None
    max_width: float | None = None
    max_height: float | None = None


class Panel(Owned):
    """A panel: its position and size merge field by field (a move on one device and a resize
    on another both stay), as every field does by default."""

    TYPE: ClassVar[str] = "panel"
    COLLECTION: ClassVar[str] = "panel"
    PARENT: ClassVar[tuple[str, str] | None] = ("workspace", "workspace_id")
    type: Literal["panel"] = "panel"
    workspace_id: EntityId
    kind: PanelKind
    title: str
    position: Position
    size: Size
    state: dict[str, Any] = Field(default_factory=dict)
    visible: bool = True
