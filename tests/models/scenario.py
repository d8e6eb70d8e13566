"""One user's data, as the app would create it: the fixture of the query tests."""

from __future__ import annotations

from dataclasses import dataclass, field

from brainlink_docs.models import (
    Brainlink,
    Chat,
    ChatMessage,
    Directory,
    File,
    Panel,
    Permission,
    PipelineEdge,
    PipelineNode,
    Plugin,
    PluginManifest,
    PromptPipeline,
    User,
    VirtualFileSystem,
    Workspace,
)
from brainlink_docs.models.pipelines import NodePosition
from brainlink_docs.models.workspaces import Position, Size

T0 = "2026-01-01T00:00:00.000Z"


def at(minute: int) -> str:
    return f"2026-01-01T{minute // 60:02d}:{minute % 60:02d}:00.000Z"


@dataclass
class Scenario:
    user: User
    workspaces: list[Workspace] = field(default_factory=list)
    panels: dict[str, list[Panel]] = field(default_factory=dict)
    chat: Chat | None = None
    messages: list[ChatMessage] = field(default_factory=list)
    fs: VirtualFileSystem | None = None
    directories: list[Directory] = field(default_factory=list)
    files: list[File] = field(default_factory=list)
    pipeline: PromptPipeline | None = None
    nodes: list[PipelineNode] = field(default_factory=list)
    edges: list[PipelineEdge] = field(default_factory=list)
    plugins: list[Plugin] = field(default_factory=list)
    permissions: dict[str, list[Permission]] = field(default_factory=dict)


async def build(app: Brainlink, user_id: str = "ana", messages: int = 23) -> Scenario:
    own = {"user_id": user_id, "created_at": T0, "updated_at": T0}
    s = Scenario(
        await app.users.create(
            User(
                id=user_id,
                email=f"{user_id}@x.io",
                display_name=user_id,
                created_at=T0,
                updated_at=T0,
            )
        )
    )
    for name in ("zeta", "alpha", "mid"):
        ws = await app.workspaces.create(Workspace(id=f"ws-{name}", name=name, **own))
        s.workspaces.append(ws)
        s.panels[ws.id] = [
            await app.panels.create(
                Panel(
                    id=f"{ws.id}-p{i}",
                    workspace_id=ws.id,
                    kind=kind,
                    title=f"{kind} {i}",
                    position=Position(x=i, y=0),
                    size=Size(width=100, height=50),
                    **own,
                )
            )
            for i, kind in enumerate(("terminal", "code-editor", "chat"))
        ]
    s.chat = await app.chats.create(Chat(id="chat-1", title="first", **own))
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        s.messages.append(await app.append_message(s.chat, role, f"message {i}"))
    s.fs = await app.file_systems.create(VirtualFileSystem(id="fs-1", name="project", **own))
    fs_id = s.fs.id
    for dir_id, path, parent in (
        ("d-src", "/src", None),
        ("d-src2", "/src2", None),
        ("d-lib", "/src/lib", "d-src"),
    ):
        s.directories.append(
            await app.directories.create(
                Directory(
                    id=dir_id,
                    file_system_id=fs_id,
                    name=path.rsplit("/", 1)[1],
                    path=path,
                    parent_id=parent,
                    **own,
                )
            )
        )
    for i, (path, parent, kind) in enumerate(
        [
            ("/src/main.py", "d-src", "text/x-python"),
            ("/src/readme.md", "d-src", "text/markdown"),
            ("/src/lib/util.py", "d-lib", "text/x-python"),
            ("/src2/other.py", "d-src2", "text/x-python"),
            ("/src/a.py", "d-src", "text/x-python"),
        ]
    ):
        s.files.append(
            await app.files.create(
                File(
                    id=f"f{i}",
                    file_system_id=fs_id,
                    parent_id=parent,
                    name=path.rsplit("/", 1)[1],
                    path=path,
                    kind=kind,
                    size=10 * i,
                    content={"text": f"print({i})"},
                    user_id=user_id,
                    created_at=T0,
                    updated_at=at(10 + (i * 7) % 5),
                )
            )
        )
    s.pipeline = await app.pipelines.create(PromptPipeline(id="pl-1", name="summarize", **own))
    for i in range(4):
        s.nodes.append(
            await app.nodes.create(
                PipelineNode(
                    id=f"n{i}",
                    pipeline_id="pl-1",
                    kind="llm",
                    position=NodePosition(x=i, y=i),
                    **own,
                )
            )
        )
    for i, (a, b) in enumerate([("n0", "n1"), ("n1", "n2"), ("n2", "n3"), ("n0", "n3")]):
        s.edges.append(
            await app.edges.create(
                PipelineEdge(id=f"e{i}", pipeline_id="pl-1", source=a, target=b, **own)
            )
        )
    manifest = PluginManifest(
        name="x", version="1.0.0", min_app_version="1.0", main="x.js", api_version="1"
    )
    for name in ("linter", "formatter"):
        plugin = await app.plugins.create(
            Plugin(
                id=f"pg-{name}",
                name=name,
                version="1.0.0",
                author="me",
                entry_point="x.js",
                manifest=manifest,
                **own,
            )
        )
        s.plugins.append(plugin)
        s.permissions[plugin.id] = [
            await app.permissions.create(
                Permission(
                    id=f"{plugin.id}-{kind}", plugin_id=plugin.id, kind=kind, granted=True, **own
                )
            )
            for kind in ("filesystem:read", "llm:access")
        ]
    return s
