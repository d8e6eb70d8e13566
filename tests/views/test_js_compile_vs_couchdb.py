"""A design document CouchDB refuses on save, we refuse with the same status, error and
reason; one it accepts, we compile (differential, the real CouchDB)."""

from __future__ import annotations

from typing import Any

import pytest
from couch import CouchServer

from brainlink_docs.errors import CouchError
from brainlink_docs.views.js import QueryServer, design_doc
from tests.views.couch_views import couch_database

pytestmark = pytest.mark.couchdb

OK_MAP = "function(doc){ emit(doc._id, 1); }"
CASES = {
    "syntax_error": {"v": {"map": "function(doc){ emit(doc._id, }"}},
    "not_a_function": {"v": {"map": "1 + 1"}},
    "named_declaration": {"v": {"map": "function map(doc){ emit(doc._id, 1); }"}},
    "reduce_syntax_error": {"v": {"map": OK_MAP, "reduce": "function(k, v){ return }}"}},
    "maps_before_reduces": {
        "a": {"map": OK_MAP, "reduce": "function(k, v){ return }}"},
        "b": {"map": "function(doc){ emit( }"},
    },
    "first_bad_map_in_document_order": {
        "b": {"map": "function(doc){ emit( }"},
        "a": {"map": "function(doc){ emit(, }"},
    },
    "empty_map": {"v": {"map": ""}},
    "unknown_builtin": {"v": {"map": OK_MAP, "reduce": "_median"}},
    "map_not_a_string": {"v": {"map": 1}},
    "no_map": {"v": {"reduce": "_sum"}},
    "view_not_an_object": {"v": "function(doc){}"},
    "bad_module_is_not_compiled_on_save": {"v": {"map": OK_MAP}, "lib": {"m": "exports.x = }"}},
    "trailing_declaration": {"v": {"map": OK_MAP + "\nfunction helper(x) { return x; }"}},
    "arrow": {"v": {"map": "(doc) => emit(doc._id, 1)"}},
    "leading_comment": {"v": {"map": "// by id\n/* all */ function (doc) { emit(doc._id); };"}},
    "parenthesised": {"v": {"map": "(function(doc){ emit(doc._id, 1); })"}},
    "builtin_by_prefix": {"v": {"map": OK_MAP, "reduce": "_count_all"}},
}


async def our_answer(server: QueryServer, body: dict[str, Any]) -> tuple[int, Any]:
    try:
        await server.check(design_doc(body))
    except CouchError as exc:
        return exc.status, exc.to_json()
    return 201, None


@pytest.mark.parametrize("case", list(CASES))
async def test_saving_answers_as_couchdb(
    couchdb: CouchServer, query_server: QueryServer, case: str
) -> None:
    body = {"_id": "_design/d", "views": CASES[case]}
    async with couch_database(couchdb) as couch:
        status, answer = await couch.put_design("d", body)
    ours = await our_answer(query_server, body)
    if status == 201:
        assert ours == (201, None)
    else:
        assert ours == (status, {"error": answer["error"], "reason": answer["reason"]})
