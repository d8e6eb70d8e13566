"""``Brainlink``: the layer the app calls. A repository per entity over one ``DocumentStore``
and the app's queries, each one range of a view of ``_design/brainlink`` or a Mango index
(``models.design``), the same on a device's embedded store, our server and a real CouchDB.

``Brainlink.open(store, replica)`` wraps the store in the merger's ``StampingStore`` with the
entities' policies, so every edit carries this device's clock and concurrent edits from other
devices merge by each type's policy when replicated (``brainlink-docs sync --resolve``, or a
server running the background resolver).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from brainlink_docs.errors import BadRequest, NotFound
from brainlink_docs.merge.stamping import StampingStore, wall_ms
from brainlink_docs.models.base import Entity, new_id, now_iso
from brainlink_docs.models.chats import Chat, ChatMessage
from brainlink_docs.models.design import mango_indexes
from brainlink_docs.models.documents import load
from brainlink_docs.models.files import Directory, File, VirtualFileSystem
from brainlink_docs.models.pipelines import PipelineEdge, PipelineNode, PromptPipeline
from brainlink_docs.models.plugins import Permission, Plugin
from brainlink_docs.models.registry import POLICIES
from brainlink_docs.models.repository import (
    HIGH,
    Page,
    Repository,
    ViewRange,
    read_all,
    read_page,
    view_rows,
)
from brainlink_docs.models.users import ApiKey, Integration, User, UserSettings
from brainlink_docs.models.workspaces import Panel, Workspace
from brainlink_docs.search import HttpMessageSearch, MessageSearch, SearchPage
from brainlink_docs.store.api import DocumentStore
from brainlink_docs.store.http.store import HttpStore

_FILES_BY_KIND = mango_indexes()[0]


@dataclass(frozen=True, slots=True)
class PipelineGraph:
    pipeline: PromptPipeline
    nodes: list[PipelineNode]
    edges: list[PipelineEdge]


@dataclass(frozen=True, slots=True)
class PluginGrants:
    plugin: Plugin
    permissions: list[Permission]


class MessageSearcher(Protocol):
    """What searches a user's messages: ``search.MessageSearch`` (an FTS5 file next to an
    embedded store) or ``search.HttpMessageSearch`` (our server's ``_search/messages``)."""

    async def search(
        self,
        text: str,
        *,
        user_id: str | None = None,
        chat_id: str | None = None,
        limit: int = ...,
        bookmark: str | None = None,
    ) -> SearchPage: ...


def message_search(store: DocumentStore, index_file: Path | None = None) -> MessageSearcher:
    """The message search for ``store``: its server's, over HTTP, or an index in
    ``index_file`` kept from the store's changes (a device's)."""
    if isinstance(store, HttpStore):
        return HttpMessageSearch.of(store)
    if index_file is None:
        raise BadRequest("an embedded store's message search needs an index file")
    return MessageSearch(store, index_file)


class Brainlink:
    """Repositories and queries over ``store`` (and ``search`` for the message search)."""

    def __init__(
        self,
        store: DocumentStore,
        *,
        now: Callable[[], str] = now_iso,
        search: MessageSearcher | None = None,
    ) -> None:
        self.store = store
        self.search = search
        self.users = Repository(store, User, now=now)
        self.settings = Repository(store, UserSettings, now=now)
        self.integrations = Repository(store, Integration, now=now)
        self.api_keys = Repository(store, ApiKey, now=now)
        self.workspaces = Repository(store, Workspace, now=now)
        self.panels = Repository(store, Panel, now=now)
        self.file_systems = Repository(store, VirtualFileSystem, now=now)
        self.directories = Repository(store, Directory, now=now)
        self.files = Repository(store, File, now=now)
        self.chats = Repository(store, Chat, now=now)
        self.messages = Repository(store, ChatMessage, now=now)
        self.pipelines = Repository(store, PromptPipeline, now=now)
        self.nodes = Repository(store, PipelineNode, now=now)
        self.edges = Repository(store, PipelineEdge, now=now)
        self.plugins = Repository(store, Plugin, now=now)
        self.permissions = Repository(store, Permission, now=now)
        self._now = now

    @classmethod
    def open(
        cls,
        store: DocumentStore,
        replica: str,
        *,
        now: Callable[[], str] = now_iso,
        now_ms: Callable[[], int] = wall_ms,
        search: MessageSearcher | None = None,
    ) -> Brainlink:
        """The app's data on ``store`` as the device ``replica`` edits it (stamped edits;
        ``now_ms`` is the merger's wall clock, ``now`` the entities' timestamps)."""
        stamped = StampingStore(store, replica, now_ms, policies=POLICIES)
        return cls(cast(DocumentStore, stamped), now=now, search=search)

    # --- the app's queries ---------------------------------------------------------------------

    async def user_workspaces(
        self, user_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Workspace]:
        """A user's workspaces by name."""
        where = ViewRange("workspaces", [user_id], [user_id, HIGH])
        return cast(Page[Workspace], await read_page(self.store, where, limit, cursor))

    async def workspace_panels(self, workspace_id: str) -> list[Panel]:
        """A workspace's panels, by kind."""
        where = ViewRange("panels", [workspace_id], [workspace_id, HIGH])
        return cast(list[Panel], await read_all(self.store, where))

    async def chat_messages(
        self,
        chat_id: str,
        *,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[ChatMessage]:
        """A chat's messages in order (or newest first), one page at a time."""
        low, high = [chat_id], [chat_id, HIGH]
        where = (
            ViewRange("messages", high, low, True)
            if newest_first
            else ViewRange("messages", low, high)
        )
        return cast(Page[ChatMessage], await read_page(self.store, where, limit, cursor))

    async def user_chats(
        self, user_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Chat]:
        """A user's chats, most recently updated first."""
        where = ViewRange("chats", [user_id, HIGH], [user_id], descending=True)
        return cast(Page[Chat], await read_page(self.store, where, limit, cursor))

    async def directory_children(
        self,
        file_system_id: str,
        directory_id: str | None,
        *,
        limit: int = 200,
        cursor: str | None = None,
    ) -> Page[Entity]:
        """A directory's subdirectories then files, each by name (``None``: the roots)."""
        low = [file_system_id, directory_id]
        where = ViewRange("children", low, [*low, HIGH])
        return await read_page(self.store, where, limit, cursor)

    async def file_by_path(self, file_system_id: str, path: str) -> File:
        """The file at ``path`` (``NotFound`` when there is none)."""
        key = [file_system_id, path]
        for found in await read_all(self.store, ViewRange("by_path", key, key)):
            if isinstance(found, File):
                return found
        raise NotFound(f"no file at {path!r}")

    async def files_by_kind(
        self, file_system_id: str, kind: str, *, limit: int = 50, bookmark: str | None = None
    ) -> tuple[list[File], str | None]:
        """A file system's files of one MIME type, by path (Mango, paged by bookmark)."""
        request: dict[str, Any] = {
            "selector": {"fileSystemId": file_system_id, "kind": kind, "path": {"$gt": None}},
            "sort": [{"fileSystemId": "asc"}, {"kind": "asc"}, {"path": "asc"}],
            "use_index": [f"_design/{_FILES_BY_KIND['ddoc']}", _FILES_BY_KIND["name"]],
            "limit": limit,
        }
        if bookmark:
            request["bookmark"] = bookmark
        answer = await self.store.find(request)
        files = [cast(File, load(d)) for d in answer["docs"]]
        return files, (answer.get("bookmark") if len(files) == limit else None)

    async def recent_files(
        self, user_id: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page[File]:
        """A user's files, most recently modified first."""
        where = ViewRange("recent_files", [user_id, HIGH], [user_id], descending=True)
        return cast(Page[File], await read_page(self.store, where, limit, cursor))

    async def pipeline_graph(self, pipeline_id: str) -> PipelineGraph:
        """A pipeline with its nodes and edges, in one view read."""
        found = await read_all(
            self.store, ViewRange("pipeline_graph", [pipeline_id], [pipeline_id, HIGH])
        )
        pipelines = [e for e in found if isinstance(e, PromptPipeline)]
        if not pipelines:
            raise NotFound(f"no pipeline {pipeline_id!r}")
        return PipelineGraph(
            pipelines[0],
            [e for e in found if isinstance(e, PipelineNode)],
            [e for e in found if isinstance(e, PipelineEdge)],
        )

    async def user_plugins(self, user_id: str) -> list[PluginGrants]:
        """A user's plugins by name, each with its permissions (one view read: each plugin's
        row is followed by its permissions')."""
        found = await read_all(self.store, ViewRange("plugins", [user_id], [user_id, HIGH]))
        grants: dict[str, PluginGrants] = {}
        for entity in found:
            if isinstance(entity, Plugin):
                grants[entity.id] = PluginGrants(entity, [])
            elif isinstance(entity, Permission) and entity.plugin_id in grants:
                grants[entity.plugin_id].permissions.append(entity)
        return sorted(grants.values(), key=lambda g: (g.plugin.name, g.plugin.id))

    async def search_messages(
        self,
        text: str,
        *,
        user_id: str | None = None,
        chat_id: str | None = None,
        limit: int = 20,
        bookmark: str | None = None,
    ) -> SearchPage:
        """A user's (or a chat's) messages matching every word of ``text``, best first
        (``word*`` is a prefix); ``bookmark`` continues from the page it came with."""
        if self.search is None:
            raise BadRequest("this Brainlink has no message search: pass search=")
        return await self.search.search(
            text, user_id=user_id, chat_id=chat_id, limit=limit, bookmark=bookmark
        )

    # --- writes that need more than one entity ---------------------------------------------------

    async def append_message(
        self, chat: Chat, role: str, content: str, **fields: Any
    ) -> ChatMessage:
        """A new message after the chat's last one (``sequence`` one more than the greatest
        this store has seen; two devices appending offline may take the same number, and the
        view then orders them by document id, the same on every replica)."""
        newest_first = ViewRange("messages", [chat.id, HIGH], [chat.id], descending=True)
        last = await view_rows(self.store, newest_first, limit=1, include_docs=False)
        sequence = last[0]["key"][1] + 1 if last else 0
        now = self._now()
        message = ChatMessage(
            id=new_id(),
            user_id=chat.user_id,
            chat_id=chat.id,
            role=role,  # type: ignore[arg-type]
            content=content,
            sequence=sequence,
            created_at=now,
            updated_at=now,
            **fields,
        )
        return await self.messages.create(message)


__all__ = ["Brainlink", "MessageSearcher", "PipelineGraph", "PluginGrants", "message_search"]
