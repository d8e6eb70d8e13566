"""The entities benchmark's workload: N documents of Brainlink's data, each made by its entity
model's ``to_doc()``, the queries to ask of them and what each answer must be
(``scripts/bench --entities``).

Per user, about 1,000 documents (users = N / 1,000, at least one; the last user takes what
rounding leaves): the user and their settings, ``WORKSPACES`` workspaces of ``PANELS`` panels,
``PIPELINES`` pipelines of ``NODES`` nodes and ``EDGES`` edges, ``PLUGINS`` plugins of
``PERMISSIONS`` permissions, a file system holding a fifth of the user's documents (a fifth of
those directories, two levels deep, the rest files) and chats holding the rest (about 70%: chats
of about ``MESSAGES_PER_CHAT`` messages each). Everything is drawn from one seeded generator, so
a size always makes byte-identical documents.

Names are lowercase letters and digits (and ``.``, ``/`` in paths), so Python's string order
is the views' ICU collation order and the expectations here need no collator. Timestamps are
distinct per user, so "most recent first" has no ties.

The workload file is the views benchmark's format (one 1,000-document JSON array a line:
``views_ours.bulk_write`` replays it). The plan names each query's arguments, drawn with the
same seed; the expectations stay here, on the orchestrator's side, in the worker's answer
shape (``entities_ours``): one piece of code judges every target alike.
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from brainlink_docs import models
from brainlink_docs.models.base import Entity, now_iso
from brainlink_docs.models.chats import MessageMetadata, Tokens
from brainlink_docs.models.files import FileContent
from brainlink_docs.models.pipelines import NodePosition
from brainlink_docs.models.repository import encode_cursor
from brainlink_docs.models.workspaces import Position, Size

SEED = 20_261_204
# The app's shape (the brief's proportions): a user per ~1,000 documents, ~70% of them chat
# messages, ~20% the file system, the rest workspaces, pipelines and plugins.
DOCS_PER_USER = 1_000
FILE_SYSTEM_SHARE = 0.2
MESSAGES_PER_CHAT = 100
WORKSPACES, PANELS = 3, 5
PIPELINES, NODES, EDGES = 2, 8, 10
PLUGINS, PERMISSIONS = 3, 4
ROOT_DIRECTORIES = 4
BATCH_SIZE = 1_000  # a replication batch, as every other benchmark writes
# The app's page sizes (models.queries' defaults).
CHATS_PAGE, MESSAGES_PAGE, CHILDREN_PAGE, FILES_PAGE, RECENT_PAGE = 50, 50, 200, 50, 20
QUERIES = 1_000
QUERY_NAMES = (
    "user_workspaces",
    "workspace_panels",
    "user_chats",
    "chat_messages",
    "chat_messages_deep",
    "directory_children",
    "file_by_path",
    "files_by_kind",
    "recent_files",
    "pipeline_graph",
    "user_plugins",
)
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
# Lowercase letters only: Python's order of names made of them is ICU's.
WORDS = ("alpha", "beta", "gamma", "delta", "notes", "draft", "model", "prompt", "index", "query")
WORDS += ("sync", "store", "agent", "tool")
PANEL_KINDS = ("code-editor", "terminal", "chat", "preview", "markdown", "graph", "whiteboard")
PERMISSION_KINDS = ("filesystem:read", "filesystem:write", "network:external", "llm:access")
FILE_KINDS = {
    "py": "text/x-python",
    "md": "text/markdown",
    "ts": "text/typescript",
    "json": "application/json",
    "png": "image/png",
}
MANIFEST = models.PluginManifest(
    name="bench", version="1.0.0", min_app_version="1.0", main="main.js", api_version="1"
)


@dataclass(slots=True)
class Expected:
    """Documents per view (after the build) and, per query, each planned call's answer."""

    docs: int
    users: int = 0
    view_rows: Counter[str] = field(default_factory=Counter)
    answers: dict[str, list[Any]] = field(default_factory=dict)


@dataclass(slots=True)
class UserData:
    """What the queries of one user need to know (ids in the order each query answers)."""

    id: str
    workspaces: list[tuple[str, list[str]]] = field(default_factory=list)
    chats: list[tuple[str, list[str]]] = field(default_factory=list)  # chat, its messages
    recent_chats: list[str] = field(default_factory=list)  # most recently updated first
    fs: str = ""
    # Directory id (None: the roots) -> its children's ids, directories then files, by name.
    children: dict[str | None, list[str]] = field(default_factory=dict)
    files: list[tuple[str, str, str, str]] = field(default_factory=list)  # path, id, kind, time
    pipelines: list[tuple[str, list[str], list[str]]] = field(default_factory=list)
    plugins: list[tuple[str, list[str]]] = field(default_factory=list)


class Maker:
    """The seeded generator: ids, times and text."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def text(self, low: int, high: int) -> str:
        words = self.rng.choices(WORDS, k=self.rng.randint(low, high) // 6)
        return " ".join(words)

    def times(self, k: int) -> list[str]:
        """``k`` distinct timestamps within a year, in random order."""
        seconds = self.rng.sample(range(365 * 86_400), k)
        return [now_iso(T0 + datetime.timedelta(seconds=s)) for s in seconds]


def user_sizes(n: int) -> list[int]:
    users = max(1, round(n / DOCS_PER_USER))
    sizes = [n // users] * users
    sizes[-1] += n - sum(sizes)
    return sizes


def fixed_docs() -> int:
    """A user's documents that do not scale: user, settings, workspaces, pipelines, plugins,
    the file system and its root directories."""
    return (
        2
        + WORKSPACES * (1 + PANELS)
        + PIPELINES * (1 + NODES + EDGES)
        + PLUGINS * (1 + PERMISSIONS)
        + 1
        + ROOT_DIRECTORIES
    )


def min_docs() -> int:
    """The smallest N that holds one whole user (a chat of one message and one file)."""
    return fixed_docs() + 2 + 1


def make_user(m: Maker, index: int, size: int) -> tuple[list[Entity], UserData]:
    """One user's entities (``size`` of them) and what their queries must answer."""
    uid = f"user{index:05d}"
    data = UserData(uid)
    own = {"user_id": uid, "created_at": now_iso(T0), "updated_at": now_iso(T0)}
    out: list[Entity] = [
        models.User(id=uid, email=f"{uid}@brainlink.io", display_name=uid, **own_times(own)),
        models.UserSettings(id=uid, **own),
    ]
    out += workspaces(m, own, data)
    out += pipelines(m, own, data)
    out += plugins(m, own, data)
    budget = size - fixed_docs()
    fs_docs = max(1, round(size * FILE_SYSTEM_SHARE) - 1 - ROOT_DIRECTORIES)
    fs_docs = min(fs_docs, budget - 2)
    out += file_system(m, own, data, fs_docs)
    out += chats(m, own, data, budget - fs_docs)
    return out, data


def own_times(own: dict[str, str]) -> dict[str, str]:
    return {"created_at": own["created_at"], "updated_at": own["updated_at"]}


def workspaces(m: Maker, own: dict[str, str], data: UserData) -> list[Entity]:
    out: list[Entity] = []
    names = m.rng.sample(WORDS, WORKSPACES)
    for name in names:
        ws = models.Workspace(id=m.id(), name=name, description=m.text(20, 80), **own)
        panels = [
            models.Panel(
                id=m.id(),
                workspace_id=ws.id,
                kind=m.rng.choice(PANEL_KINDS),  # type: ignore[arg-type]
                title=m.text(6, 24),
                position=Position(x=m.rng.randint(0, 1600), y=m.rng.randint(0, 900)),
                size=Size(width=m.rng.randint(200, 800), height=m.rng.randint(100, 600)),
                **own,
            )
            for _ in range(PANELS)
        ]
        out += [ws, *panels]
        data.workspaces.append((ws.id, sorted(p.id for p in panels)))
    order = sorted(range(WORKSPACES), key=lambda i: names[i])
    data.workspaces = [data.workspaces[i] for i in order]
    return out


def pipelines(m: Maker, own: dict[str, str], data: UserData) -> list[Entity]:
    out: list[Entity] = []
    for _ in range(PIPELINES):
        pipeline = models.PromptPipeline(id=m.id(), name=m.text(6, 20) or "pipeline", **own)
        nodes = [
            models.PipelineNode(
                id=m.id(),
                pipeline_id=pipeline.id,
                kind=m.rng.choice(("llm", "prompt", "tool", "output")),
                position=NodePosition(x=m.rng.randint(0, 900), y=m.rng.randint(0, 600)),
                data={"prompt": m.text(20, 120)},
                **own,
            )
            for _ in range(NODES)
        ]
        edges = []
        for _ in range(EDGES):
            source, target = m.rng.sample(nodes, 2)
            edges.append(
                models.PipelineEdge(
                    id=m.id(), pipeline_id=pipeline.id, source=source.id, target=target.id, **own
                )
            )
        out += [pipeline, *nodes, *edges]
        data.pipelines.append(
            (pipeline.id, sorted(n.id for n in nodes), sorted(e.id for e in edges))
        )
    return out


def plugins(m: Maker, own: dict[str, str], data: UserData) -> list[Entity]:
    out: list[Entity] = []
    for name in sorted(m.rng.sample(WORDS, PLUGINS)):
        plugin = models.Plugin(
            id=m.id(),
            name=name,
            version="1.0.0",
            author="bench",
            description=m.text(20, 80),
            entry_point="main.js",
            manifest=MANIFEST,
            **own,
        )
        grants = [
            models.Permission(id=m.id(), plugin_id=plugin.id, kind=kind, granted=True, **own)  # type: ignore[arg-type]
            for kind in m.rng.sample(PERMISSION_KINDS, PERMISSIONS)
        ]
        out += [plugin, *grants]
        data.plugins.append((plugin.id, sorted(g.id for g in grants)))
    return out


def file_system(m: Maker, own: dict[str, str], data: UserData, docs: int) -> list[Entity]:
    """A file system: ``ROOT_DIRECTORIES`` roots, then ``docs`` more (a fifth subdirectories
    of the roots, the rest files in any directory)."""
    fs = models.VirtualFileSystem(id=m.id(), name="project", **own)
    data.fs = fs.id
    subdirs = docs // 5
    files = docs - subdirs
    under = {"file_system_id": fs.id, **own}
    dirs: list[models.Directory] = []
    for i in range(ROOT_DIRECTORIES + subdirs):
        parent = None if i < ROOT_DIRECTORIES else dirs[i % ROOT_DIRECTORIES]
        name = f"{m.rng.choice(WORDS)}{i:03d}"
        path = f"{parent.path if parent else ''}/{name}"
        dirs.append(
            models.Directory(
                id=m.id(), name=name, path=path, parent_id=parent and parent.id, **under
            )
        )
    times = m.times(files)
    made: list[models.File] = []
    for i in range(files):
        parent = m.rng.choice(dirs)
        ext = m.rng.choice(tuple(FILE_KINDS))
        name = f"{m.rng.choice(WORDS)}{i:04d}.{ext}"
        text = None if ext == "png" else FileContent(text=m.text(40, 600))
        made.append(
            models.File(
                id=m.id(),
                file_system_id=fs.id,
                parent_id=parent.id,
                name=name,
                path=f"{parent.path}/{name}",
                kind=FILE_KINDS[ext],
                size=len(text.text or "") if text else m.rng.randint(1_000, 500_000),
                content=text,
                user_id=own["user_id"],
                created_at=own["created_at"],
                updated_at=times[i],
            )
        )
    fs.root_directory_id = dirs[0].id
    for d in [None, *(d.id for d in dirs)]:
        kids = [x for x in dirs if x.parent_id == d]
        kids_files = [f for f in made if f.parent_id == d]
        data.children[d] = [x.id for x in sorted(kids, key=lambda x: x.name)] + [
            f.id for f in sorted(kids_files, key=lambda f: f.name)
        ]
    data.files = [(f.path, f.id, f.kind, f.updated_at) for f in made]
    return [fs, *dirs, *made]


def chats(m: Maker, own: dict[str, str], data: UserData, docs: int) -> list[Entity]:
    """Chats of about ``MESSAGES_PER_CHAT`` messages, ``docs`` documents in all."""
    count = max(1, round(docs / (MESSAGES_PER_CHAT + 1)))
    messages = docs - count
    per = [messages // count + (1 if i < messages % count else 0) for i in range(count)]
    out: list[Entity] = []
    updated = m.times(count)
    for n, at in zip(per, updated, strict=True):
        chat = models.Chat(id=m.id(), title=m.text(10, 40), **{**own, "updated_at": at})
        out.append(chat)
        ids = []
        for seq in range(n):
            role = "user" if seq % 2 == 0 else "assistant"
            message = models.ChatMessage(
                id=m.id(),
                chat_id=chat.id,
                role=role,
                content=m.text(100, 1_200),
                sequence=seq,
                metadata=MessageMetadata(
                    model="gpt-4o", tokens=Tokens(prompt=m.rng.randint(10, 900))
                )
                if role == "assistant"
                else None,
                **own,
            )
            out.append(message)
            ids.append(message.id)
        data.chats.append((chat.id, ids))
    newest = sorted(zip(updated, data.chats, strict=True), reverse=True)
    data.recent_chats = [chat for _, (chat, _) in newest]
    return out


def write(directory: Path, n: int) -> tuple[Path, list[UserData], Counter[str], float]:
    """Generate the workload file; returns it, each user's data, documents per type and the
    mean document size in bytes."""
    m = Maker(SEED)
    users, types = [], Counter[str]()
    total_bytes = 0
    path = directory / "entities.jsonl"
    batch: list[dict[str, Any]] = []
    with path.open("wb") as out:
        for index, size in enumerate(user_sizes(n)):
            entities, data = make_user(m, index, size)
            users.append(data)
            for entity in entities:
                doc = entity.to_doc()
                types[entity.TYPE] += 1
                batch.append(doc)
                if len(batch) == BATCH_SIZE:
                    line = orjson.dumps(batch)
                    total_bytes += len(line)
                    out.write(line + b"\n")
                    batch = []
        if batch:
            line = orjson.dumps(batch)
            total_bytes += len(line)
            out.write(line + b"\n")
    if types.total() != n:
        raise RuntimeError(f"the workload holds {types.total()} documents, expected {n}")
    return path, users, types, total_bytes / n


def view_rows(types: Counter[str]) -> Counter[str]:
    """Rows of each ``_design/brainlink`` view once every document is indexed."""
    fs = types["directory"] + types["file"]
    return Counter(
        {
            "by_owner": types.total() - types["user"],
            "workspaces": types["workspace"],
            "panels": types["panel"],
            "messages": types["chatMessage"],
            "chats": types["chat"],
            "children": fs,
            "by_path": fs,
            "recent_files": types["file"],
            "pipeline_graph": types["pipeline"] + types["pipelineNode"] + types["pipelineEdge"],
            "edges_by_node": 2 * types["pipelineEdge"],  # no edge joins a node to itself
            "plugins": types["plugin"] + types["permission"],  # each plugin, then its grants
        }
    )


def make_plan(directory: Path, n: int, queries: int) -> tuple[Path, Expected]:
    """The workload, then ``queries`` calls of each query with their expected answers."""
    workload, users, types, doc_bytes = write(directory, n)
    rng = random.Random(SEED + 1)
    expected = Expected(n, len(users), view_rows(types))
    calls: dict[str, list[Any]] = {name: [] for name in QUERY_NAMES}
    for _ in range(queries):
        for name in QUERY_NAMES:
            args, answer = PICKS[name](rng, rng.choice(users))
            calls[name].append(args)
            expected.answers.setdefault(name, []).append(answer)
    plan = {
        "docs": n,
        "workload": str(workload),
        "avg_doc_bytes": doc_bytes,
        "types": dict(types),
        "calls": calls,
    }
    plan_file = directory / "plan.json"
    plan_file.write_bytes(orjson.dumps(plan))
    return plan_file, expected


# --- each query's arguments and answer, for one random user -----------------------------------

Pick = tuple[list[Any], Any]


def pick_workspaces(rng: random.Random, u: UserData) -> Pick:
    return [u.id], [ws for ws, _ in u.workspaces]


def pick_panels(rng: random.Random, u: UserData) -> Pick:
    ws, panels = rng.choice(u.workspaces)
    return [ws], panels


def pick_chats(rng: random.Random, u: UserData) -> Pick:
    return [u.id], u.recent_chats[:CHATS_PAGE]


def pick_messages(rng: random.Random, u: UserData) -> Pick:
    chat, ids = rng.choice(u.chats)
    return [chat, None], ids[:MESSAGES_PAGE]


def pick_deep_messages(rng: random.Random, u: UserData) -> Pick:
    """A page from deep in a chat (its second half), by the cursor a previous page returned."""
    chat, ids = rng.choice(u.chats)
    start = rng.randrange(len(ids) // 2, len(ids))
    doc_id = f"u/{u.id}/chat/{chat}/message/{ids[start]}"
    return [chat, encode_cursor([chat, start], doc_id)], ids[start : start + MESSAGES_PAGE]


def pick_children(rng: random.Random, u: UserData) -> Pick:
    directory = rng.choice(list(u.children))
    return [u.fs, directory], u.children[directory][:CHILDREN_PAGE]


def pick_by_path(rng: random.Random, u: UserData) -> Pick:
    path, file_id, _, _ = rng.choice(u.files)
    return [u.fs, path], [file_id, path]


def pick_by_kind(rng: random.Random, u: UserData) -> Pick:
    kind = rng.choice(sorted({f[2] for f in u.files}))
    same = sorted((path, fid) for path, fid, k, _ in u.files if k == kind)
    return [u.fs, kind], [fid for _, fid in same[:FILES_PAGE]]


def pick_recent(rng: random.Random, u: UserData) -> Pick:
    newest = sorted(u.files, key=lambda f: f[3], reverse=True)
    return [u.id], [fid for _, fid, _, _ in newest[:RECENT_PAGE]]


def pick_pipeline(rng: random.Random, u: UserData) -> Pick:
    pipeline, nodes, edges = rng.choice(u.pipelines)
    return [pipeline], [pipeline, nodes, edges]


def pick_plugins(rng: random.Random, u: UserData) -> Pick:
    return [u.id], [[plugin, grants] for plugin, grants in u.plugins]


PICKS = {
    "user_workspaces": pick_workspaces,
    "workspace_panels": pick_panels,
    "user_chats": pick_chats,
    "chat_messages": pick_messages,
    "chat_messages_deep": pick_deep_messages,
    "directory_children": pick_children,
    "file_by_path": pick_by_path,
    "files_by_kind": pick_by_kind,
    "recent_files": pick_recent,
    "pipeline_graph": pick_pipeline,
    "user_plugins": pick_plugins,
}
