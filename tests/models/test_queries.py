"""The app's queries through the repositories, on every backend: the embedded store, our
server, the real CouchDB and pouchdb-server answer them the same, from the design documents
``push_design`` installs."""

from __future__ import annotations

import pytest

from brainlink_docs.errors import BadRequest, Conflict, Forbidden, NotFound
from brainlink_docs.models import Brainlink, Workspace
from brainlink_docs.models.design import push_design
from brainlink_docs.store.api import DocumentStore

from .scenario import T0, Scenario, build


@pytest.fixture
async def app(store: DocumentStore) -> Brainlink:
    await push_design(store)
    return Brainlink(store)


@pytest.fixture
async def scenario(app: Brainlink) -> Scenario:
    return await build(app)


async def test_pushing_the_design_again_writes_nothing(app: Brainlink) -> None:
    assert await push_design(app.store) == []


async def test_a_users_workspaces_by_name(app: Brainlink, scenario: Scenario) -> None:
    page = await app.user_workspaces("ana")
    assert [w.name for w in page.items] == ["alpha", "mid", "zeta"]
    assert page.next is None
    first = await app.user_workspaces("ana", limit=2)
    rest = await app.user_workspaces("ana", limit=2, cursor=first.next)
    assert [w.name for w in first.items + rest.items] == ["alpha", "mid", "zeta"]
    assert (await app.user_workspaces("nobody")).items == []


async def test_a_workspaces_panels(app: Brainlink, scenario: Scenario) -> None:
    panels = await app.workspace_panels("ws-mid")
    assert sorted(p.id for p in panels) == sorted(p.id for p in scenario.panels["ws-mid"])
    assert [p.kind for p in panels] == ["chat", "code-editor", "terminal"]


async def test_a_chats_messages_page_by_page_in_order(app: Brainlink, scenario: Scenario) -> None:
    seen, cursor = [], None
    while True:
        page = await app.chat_messages("chat-1", limit=5, cursor=cursor)
        seen += page.items
        if page.next is None:
            break
        cursor = page.next
    assert [m.sequence for m in seen] == list(range(len(scenario.messages)))
    assert seen == scenario.messages
    newest = await app.chat_messages("chat-1", limit=3, newest_first=True)
    assert [m.sequence for m in newest.items] == [22, 21, 20]


async def test_a_directorys_children_and_a_file_by_path(app: Brainlink, scenario: Scenario) -> None:
    roots = await app.directory_children("fs-1", None)
    assert [e.id for e in roots.items] == ["d-src", "d-src2"]
    src = await app.directory_children("fs-1", "d-src")
    assert [(e.TYPE, e.name) for e in src.items] == [  # type: ignore[attr-defined]
        ("directory", "lib"),
        ("file", "a.py"),
        ("file", "main.py"),
        ("file", "readme.md"),
    ]
    assert (await app.file_by_path("fs-1", "/src/lib/util.py")).id == "f2"
    with pytest.raises(NotFound):
        await app.file_by_path("fs-1", "/src/lib")  # a directory, not a file
    with pytest.raises(NotFound):
        await app.file_by_path("fs-1", "/nowhere.py")


PYTHON_FILES = ["/src/a.py", "/src/lib/util.py", "/src/main.py", "/src2/other.py"]


async def test_files_by_type(app: Brainlink, scenario: Scenario) -> None:
    files, _ = await app.files_by_kind("fs-1", "text/x-python", limit=10)
    assert [f.path for f in files] == PYTHON_FILES
    markdown, _ = await app.files_by_kind("fs-1", "text/markdown")
    assert [f.id for f in markdown] == ["f1"]


async def test_files_by_type_page_by_bookmark(app: Brainlink, scenario: Scenario) -> None:
    python, bookmark = await app.files_by_kind("fs-1", "text/x-python", limit=3)
    more, _ = await app.files_by_kind("fs-1", "text/x-python", limit=3, bookmark=bookmark)
    assert [f.path for f in python + more] == PYTHON_FILES


async def test_recent_files(app: Brainlink, scenario: Scenario) -> None:
    recent = await app.recent_files("ana", limit=3)
    expected = sorted(scenario.files, key=lambda f: (f.updated_at, f.doc_id()), reverse=True)
    assert [f.id for f in recent.items] == [f.id for f in expected[:3]]


async def test_a_pipeline_with_its_nodes_and_edges(app: Brainlink, scenario: Scenario) -> None:
    graph = await app.pipeline_graph("pl-1")
    assert graph.pipeline == scenario.pipeline
    assert sorted(n.id for n in graph.nodes) == ["n0", "n1", "n2", "n3"]
    assert sorted(e.id for e in graph.edges) == ["e0", "e1", "e2", "e3"]
    with pytest.raises(NotFound):
        await app.pipeline_graph("pl-none")


async def test_a_users_plugins_and_their_permissions(app: Brainlink, scenario: Scenario) -> None:
    found = await app.user_plugins("ana")
    assert [g.plugin.name for g in found] == ["formatter", "linter"]
    assert all(
        sorted(p.kind for p in g.permissions) == ["filesystem:read", "llm:access"] for g in found
    )


async def test_list_pages_every_entity_of_a_type(app: Brainlink, scenario: Scenario) -> None:
    first = await app.panels.list("ana", limit=4)
    second = await app.panels.list("ana", limit=4, cursor=first.next)
    third = await app.panels.list("ana", limit=4, cursor=second.next)
    listed = first.items + second.items + third.items
    assert third.next is None
    assert sorted(p.id for p in listed) == sorted(
        p.id for ps in scenario.panels.values() for p in ps
    )
    with pytest.raises(BadRequest):
        await app.panels.list("ana", cursor="not a cursor")


async def test_deleting_cascades_as_the_data_model_says(app: Brainlink, scenario: Scenario) -> None:
    await app.workspaces.delete(scenario.workspaces[2])  # "mid"
    assert await app.workspace_panels("ws-mid") == []
    assert len(await app.workspace_panels("ws-zeta")) == 3
    src = next(d for d in scenario.directories if d.id == "d-src")
    await app.directories.delete(src)
    left = (await app.directory_children("fs-1", None)).items
    assert [e.id for e in left] == ["d-src2"]  # /src2 is not under /src
    assert (await app.file_by_path("fs-1", "/src2/other.py")).id == "f3"
    for path in ("/src/main.py", "/src/lib/util.py"):
        with pytest.raises(NotFound):
            await app.file_by_path("fs-1", path)
    await app.nodes.delete(scenario.nodes[0])
    graph = await app.pipeline_graph("pl-1")
    assert sorted(e.id for e in graph.edges) == ["e1", "e2"]  # e0 and e3 touched n0
    await app.users.delete(scenario.user)
    assert (await app.store.info()).doc_count == len(await _design_docs(app.store))


async def test_updates_conflict_and_validate(app: Brainlink, scenario: Scenario) -> None:
    ws = await app.workspaces.get(scenario.workspaces[0].doc_id())
    stale = await app.workspaces.get(ws.doc_id())
    ws.name = "renamed"
    updated = await app.workspaces.update(ws)
    assert updated.updated_at > T0 and updated.rev != stale.rev
    stale.name = "lost"
    with pytest.raises(Conflict):
        await app.workspaces.update(stale)
    with pytest.raises(Conflict):
        await app.workspaces.create(
            Workspace(id=ws.id, user_id="ana", name="x", created_at=T0, updated_at=T0)
        )
    ws.name = ""
    with pytest.raises(Forbidden, match="name"):
        await app.workspaces.update(ws)
    with pytest.raises(Forbidden, match="is a chat"):
        await app.workspaces.get(scenario.chat.doc_id())  # type: ignore[union-attr]


async def _design_docs(store: DocumentStore) -> list[str]:
    from brainlink_docs.store.api import AllDocsQuery

    page = await store.all_docs(AllDocsQuery(startkey="_design/", endkey="_design0"))
    return [r["id"] for r in page.rows]
