"""``validate_doc_update`` on CouchDB 3.5, our server and the embedded store: the same writes
get the same statuses, errors and rows, and the functions see the same arguments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from couch import CouchServer

from tests.views.design_peers import att_path, three_peers

pytestmark = pytest.mark.couchdb

# One function for every verdict CouchDB distinguishes, chosen by the document's `kind`.
VERDICTS = """function(newDoc, oldDoc, userCtx, secObj) {
  var kind = newDoc.kind;
  if (kind === 'forbid') throw({forbidden: 'no ' + newDoc._id});
  if (kind === 'unauth') throw({unauthorized: 'who is ' + newDoc._id});
  if (kind === 'string') throw('a plain string');
  if (kind === 'other') throw({other: 'another key'});
  if (kind === 'error') throw(new TypeError('an error'));
  if (kind === 'number') throw(42);
}"""

# Shows what the function was given, as a 403 reason (revisions left out: ours differ).
SHOW = """function(newDoc, oldDoc, userCtx, secObj) {
  if (!newDoc.show && !newDoc._deleted) return;
  function strip(doc) {
    if (!doc) return doc;
    var out = {};
    for (var k in doc) if (k !== '_rev' && k !== '_revisions') out[k] = doc[k];
    out.has_revisions = !!doc._revisions;
    return out;
  }
  throw({forbidden: JSON.stringify({
    new: strip(newDoc), old: strip(oldDoc), user: userCtx, sec: secObj, self: this._id
  })});
}"""


async def on_all(
    peers: list[Any], method: str, path: str, body: Any = None, **kw: Any
) -> list[Any]:
    return [await peer.request(method, path, body, **kw) for peer in peers]


def same(answers: list[Any], *, strip_revs: bool = True) -> Any:
    """Assert every peer answered as CouchDB (the first) did; answer CouchDB's."""
    normal = [_normal(a, strip_revs) for a in answers]
    for other in normal[1:]:
        assert other == normal[0], answers
    return answers[0]


def _normal(answer: Any, strip_revs: bool) -> Any:
    status, body = answer
    if isinstance(body, list):
        body = [_row(r, strip_revs) for r in body]
    elif isinstance(body, dict):
        body = _row(body, strip_revs)
        if body.get("error") == "forbidden" and body.get("reason", "").startswith("{"):
            body["reason"] = json.loads(body["reason"])
    return status, body


def _row(row: dict[str, Any], strip_revs: bool) -> dict[str, Any]:
    row = dict(row)
    if "error" in row:
        # CouchDB names the revision in a new_edits=false error row; our rows do not (yet).
        row.pop("rev", None)
    if strip_revs and "rev" in row:
        row["rev"] = row["rev"].split("-")[0]
    row.pop("ref", None)  # CouchDB's random id of a 500
    return row


async def test_each_verdict_is_answered_as_couchdb_does(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/v", {"validate_doc_update": VERDICTS}))
        for kind in ("forbid", "unauth", "string", "other", "ok"):
            same(await on_all(peers, "PUT", f"/doc-{kind}", {"kind": kind}))
        # A JavaScript Error: CouchDB answers 500 with its name and the reason "{[]}"; ours
        # carries the message instead.
        answers = await on_all(peers, "PUT", "/doc-error", {"kind": "error"})
        assert [(status, body["error"]) for status, body in answers] == [(500, "TypeError")] * 3
        # A verdict CouchDB has no clause for fails the request with a 500.
        answers = await on_all(peers, "PUT", "/doc-number", {"kind": "number"})
        assert [status for status, _ in answers] == [500] * 3


async def test_bulk_docs_answers_refusals_as_rows_and_writes_the_rest(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/v", {"validate_doc_update": VERDICTS}))
        docs = [
            {"_id": f"b{i}", "kind": k}
            for i, k in enumerate(["forbid", "ok", "unauth", "string", None, "other", "forbid"])
        ]
        same(await on_all(peers, "POST", "/_bulk_docs", {"docs": docs}))
        _status, rows = (await on_all(peers, "POST", "/_bulk_docs", {"docs": docs}))[1]
        assert [r.get("error") for r in rows][:2] == ["forbidden", "conflict"]
        # A whole-request failure writes nothing.
        bad = [{"_id": "n1"}, {"_id": "n2", "kind": "number"}]
        answers = await on_all(peers, "POST", "/_bulk_docs", {"docs": bad})
        assert [status for status, _ in answers] == [500] * 3
        same(await on_all(peers, "GET", "/n1"))


async def test_the_function_sees_the_documents_the_user_and_the_security_object(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/show", {"validate_doc_update": SHOW}))
        # A new document: oldDoc is null; userCtx is the writer's, with the database's name
        # replaced per peer (the databases differ only in name on CouchDB).
        answers = await on_all(peers, "PUT", "/d1", {"show": 1, "v": 1}, user="bob")
        assert all(status == 403 for status, _ in answers), answers
        shown = [json.loads(body["reason"]) for _, body in answers]
        for one in shown:
            one["user"].pop("db")
        assert shown[1:] == [shown[0]] * 2, shown
        assert shown[0]["user"] == {"name": "bob", "roles": ["writer"]}
        assert shown[0]["old"] is None
        assert shown[0]["self"] == "_design/show"
        # An update: the parent revision is oldDoc, and newDoc carries the parent's history.
        revs = [b["rev"] for _, b in await on_all(peers, "PUT", "/d2", {"v": 1}, user="eve")]
        answers = [
            await peer.request("PUT", f"/d2?rev={rev}", {"show": 1, "v": 2}, user="eve")
            for peer, rev in zip(peers, revs, strict=True)
        ]
        shown = [json.loads(body["reason"]) for _, body in answers]
        for one in shown:
            one["user"].pop("db")
        assert shown[1:] == [shown[0]] * 2, shown
        assert shown[0]["old"]["v"] == 1 and shown[0]["new"]["has_revisions"]
        # A deletion: newDoc is {_id, _rev, _deleted: true}.
        answers = [
            await peer.request("DELETE", f"/d2?rev={rev}")
            for peer, rev in zip(peers, revs, strict=True)
        ]
        same(answers)


async def test_re_creating_a_deleted_document_passes_a_null_old_doc(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        revs = [b["rev"] for _, b in await on_all(peers, "PUT", "/d", {"v": 1})]
        for peer, rev in zip(peers, revs, strict=True):
            assert (await peer.request("DELETE", f"/d?rev={rev}"))[0] == 200
        same(await on_all(peers, "PUT", "/_design/show", {"validate_doc_update": SHOW}))
        answers = same(await on_all(peers, "PUT", "/d", {"show": 1}))
        assert json.loads(answers[1]["reason"])["old"] is None


async def test_replicated_writes_see_the_leaf_they_extend_as_old_doc(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/show", {"validate_doc_update": SHOW}))
        base = {"_id": "r", "_rev": "1-aaaa", "v": 1}
        same(await on_all(peers, "POST", "/_bulk_docs", {"docs": [base], "new_edits": False}))
        extends = {
            "_id": "r",
            "_rev": "3-cccc",
            "_revisions": {"start": 3, "ids": ["cccc", "bbbb", "aaaa"]},
            "show": 1,
        }
        branch = {
            "_id": "r",
            "_rev": "2-ffff",
            "_revisions": {"start": 2, "ids": ["ffff", "eeee"]},
            "show": 2,
        }
        answers = same(
            await on_all(peers, "POST", "/_bulk_docs", {"docs": [extends], "new_edits": False}),
            strip_revs=False,
        )
        assert json.loads(answers[1][0]["reason"])["old"]["v"] == 1
        answers = same(
            await on_all(peers, "POST", "/_bulk_docs", {"docs": [branch], "new_edits": False}),
            strip_revs=False,
        )
        assert json.loads(answers[1][0]["reason"])["old"] is None


async def test_design_and_local_documents_are_not_validated(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/v", {"validate_doc_update": VERDICTS}))
        same(await on_all(peers, "PUT", "/_design/other", {"kind": "forbid"}))
        same(await on_all(peers, "PUT", "/_local/x", {"kind": "forbid"}), strip_revs=False)


async def test_attachment_writes_are_validated(couchdb: CouchServer, tmp_path: Path) -> None:
    no_txt = """function(newDoc) {
      for (var name in (newDoc._attachments || {}))
        if (/\\.exe$/.test(name)) throw({forbidden: 'no programs: ' + name});
    }"""
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/v", {"validate_doc_update": no_txt}))
        revs = [b["rev"] for _, b in await on_all(peers, "PUT", "/d", {"v": 1})]
        answers = [
            await peer.request(
                "PUT", att_path("d", "x.exe", rev), data=b"MZ", content_type="text/plain"
            )
            for peer, rev in zip(peers, revs, strict=True)
        ]
        same(answers)
        answers = [
            await peer.request(
                "PUT", att_path("d", "x.txt", rev), data=b"hi", content_type="text/plain"
            )
            for peer, rev in zip(peers, revs, strict=True)
        ]
        same(answers)
        inline = {"_attachments": {"a.exe": {"content_type": "text/plain", "data": "TVo="}}}
        same(await on_all(peers, "PUT", "/new", inline))


async def test_copy_is_validated_as_a_write_of_the_destination(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    no_copies = """function(newDoc) {
      if (newDoc._id.indexOf('copy-') === 0) throw({forbidden: 'no copies of ' + newDoc.v});
    }"""
    async with three_peers(couchdb, tmp_path) as peers:
        http = peers[:2]  # COPY is an HTTP method; the embedded store has no such call
        same(await on_all(http, "PUT", "/_design/v", {"validate_doc_update": no_copies}))
        same(await on_all(http, "PUT", "/src", {"v": 7}))
        same(await on_all(http, "COPY", "/src", headers={"Destination": "copy-1"}))
        same(await on_all(http, "COPY", "/src", headers={"Destination": "other"}))


async def test_a_function_that_does_not_compile_fails_every_write(
    couchdb: CouchServer, tmp_path: Path
) -> None:
    async with three_peers(couchdb, tmp_path) as peers:
        same(await on_all(peers, "PUT", "/_design/bad", {"validate_doc_update": "function( {"}))
        answers = await on_all(peers, "PUT", "/d", {"v": 1})
        assert [(s, b["error"]) for s, b in answers] == [(500, "compilation_error")] * 3
