"""Built-in reduces on awkward values answer what CouchDB answers (table, the real CouchDB).

``_sum`` of values it cannot add answers an error *value* (the query succeeds);
``_stats`` of one fails the query with 500 ``invalid_value`` and an Erlang-formatted term.
Each case's values are emitted by documents ``a``, ``b``, … under one key, and reach the
built-in in that order when CouchDB builds the index. (At query time CouchDB may reduce a
leaf's rows again, last to first: an error that depends on the order, such as
``[{"p": 1}, [1, 2]]``, then differs; those cases are left out, see design_docs/views.md.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from couch import CouchServer

from brainlink_docs.errors import QueryServerError
from brainlink_docs.views.js.builtins import stats_values, sum_values
from tests.views.couch_views import couch_database

pytestmark = pytest.mark.couchdb

SUM_CASES = [
    [1, 2.5],
    [[1, 2], {"p": 1}],
    [True],
    [[1, "x"]],
    [[[1]]],
    [5, {"p": 1}],
    [{"a": {"x": 1}}, {"a": {"x": 2, "y": 3}}],
    ["str"],
    [{"a": 1, "b": "s"}],
    [{"a": 1}, {"b": "s"}],
    [[1, 2, 3], [1]],
    [None, 1],
    [1, None],
    [{"b": 1, "a": 2}, {"c": [1, 2]}],
    [0.5, [1.5, 2]],
]
STATS_CASES = [
    [1, 2, 3],
    [[1, 2], [3, 4]],
    [True],
    ["\u00e9t\u00e9"],
    [{"sum": 1, "count": 1, "min": 1, "max": 1, "sumsqr": 1}, 2],
    [2, {"sum": 1, "count": 1, "min": 1, "max": 1, "sumsqr": 1}],
    [None],
    [1, "x"],
    ["x", 1],
    [1, True],
    [{"a": [1, {"b": None}]}],
    [{"sum": 1, "count": "x", "min": 1, "max": 1, "sumsqr": 1}],
]


async def couch_reduce(couchdb: CouchServer, values: list[Any], reduce: str) -> tuple[int, Any]:
    """CouchDB's answer to ``reduce=true`` over ``values`` emitted under one key, alone in a
    database (a b-tree reduces across keys too, so one crashing case would break others)."""
    async with couch_database(couchdb) as couch:
        docs = [{"_id": chr(97 + i), "v": value} for i, value in enumerate(values)]
        await couch.put_docs(docs)
        view = {"map": "function(doc){ emit(null, doc.v); }", "reduce": reduce}
        status, body = await couch.put_design("d", {"views": {"v": view}})
        assert status == 201, body
        return await couch.request("GET", "/_design/d/_view/v")


def assert_same_answer(compute: Callable[[], Any], status: int, body: Any) -> None:
    """Our value equals CouchDB's row value, or our error is CouchDB's (status and token;
    reason too, but for the line breaks CouchDB's ``~p`` puts in long terms)."""
    try:
        ours = compute()
    except QueryServerError as exc:
        assert exc.status == status, body
        if exc.error == "case_clause":  # a crash at index time: its reason is a stack trace
            assert body["error"].startswith(("case_clause", "{case_clause,")), body
            return
        assert (exc.error, exc.reason) == (body["error"], re.sub(r",\n\s+", ",", body["reason"]))
        return
    assert status == 200, body
    assert ours == body["rows"][0]["value"]


@pytest.mark.parametrize("values", SUM_CASES, ids=str)
async def test_sum_answers_couchdbs_value_or_error(couchdb: CouchServer, values: list[Any]) -> None:
    status, body = await couch_reduce(couchdb, values, "_sum")
    assert_same_answer(lambda: sum_values(values), status, body)


@pytest.mark.parametrize("values", STATS_CASES, ids=str)
async def test_stats_answers_couchdbs_value_or_error(
    couchdb: CouchServer, values: list[Any]
) -> None:
    status, body = await couch_reduce(couchdb, values, "_stats")
    assert_same_answer(lambda: stats_values(values), status, body)
