"""Tests of ``scripts/bench --entities``: one tiny real run (the embedded store, our server and
the real CouchDB; every answer checked; the report's arithmetic), the workload's shape, and the
verdict's rules on answers that are wrong.

The full run takes many minutes; the tiny one proves the harness end to end (each worker
writes, pushes the design, builds every index and calls every query, each answer passes its
check, the ratios and goals follow from the rows) before anyone waits for 100,000 documents.
"""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
from couch import CouchServer

from brainlink_docs.models import Brainlink, load, refusal
from scripts.test_bench import BENCH, load_bench, run_solo
from scripts.test_bench_replicator import benchmarks

DOCS = 1_000  # one user: every kind of entity, a chat deep enough for the deep page
QUERIES = 10
TARGETS = ("embedded", "ours_server", "couchdb")
# Every query the app's layer offers (its coroutines that only read), and the deep page.
# Every query of Brainlink but the message search, whose rows are --search's (CouchDB has none).
QUERY_NAMES = {
    name
    for name, method in vars(Brainlink).items()
    if inspect.iscoroutinefunction(method) and not name.startswith(("_", "append", "search_"))
} | {"chat_messages_deep"}


def entities_modules(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """``entities_report`` and ``entities_workload``, as scripts/bench imports them."""
    return benchmarks(monkeypatch, "entities_report"), benchmarks(monkeypatch, "entities_workload")


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory, couchdb: CouchServer) -> dict[str, Any]:
    out_file = tmp_path_factory.mktemp("entities") / "entities.json"
    args = ["--entities", str(DOCS), "--entities-queries", str(QUERIES)]
    return run_solo("entities", args, out_file, couchdb.url)


@pytest.mark.couchdb
def test_tiny_run_checks_every_query_on_every_target(tiny_report: dict[str, Any]) -> None:
    assert (tiny_report["docs"], tiny_report["users"]) == (DOCS, 1)
    assert set(tiny_report["targets"]) == set(TARGETS)
    for name, row in tiny_report["targets"].items():
        assert "error" not in row and "note" not in row, (name, row)
        for phase in ("write", "design", "build"):
            assert "error" not in row[phase], (name, phase, row[phase])
        assert row["write"]["docs"] == row["build"]["docs"] == DOCS
        assert set(row["queries"]) == set(QUERY_NAMES)
        for query, figures in row["queries"].items():
            assert figures.get("requests") == QUERIES, (name, query, figures)


@pytest.mark.couchdb
def test_tiny_run_ratios_and_goals_follow_from_its_rows(tiny_report: dict[str, Any]) -> None:
    rows = tiny_report["targets"]
    for row in rows.values():
        assert row["build"]["docs_per_s"] == pytest.approx(DOCS / row["build"]["seconds"], 1e-3)
    for ours in ("embedded", "ours_server"):
        got = tiny_report["ratios"][f"{ours}_vs_couchdb"]
        for query in QUERY_NAMES:
            theirs, mine = (rows[t]["queries"][query]["p99_ms"] for t in ("couchdb", ours))
            want = theirs / mine
            assert got[f"{query}_p99"] == pytest.approx(want, rel=1e-2)
    goals = tiny_report["goals"]
    assert goals["queries_p99_under_5ms_at_1m"] == {"met": None, "values": {}}  # not run
    at_n = goals["queries_p99_under_5ms_at_n"]
    assert at_n["values"] == pytest.approx(
        {q: rows["embedded"]["queries"][q]["p99_ms"] for q in QUERY_NAMES}, rel=1e-3
    )
    assert at_n["met"] == all(v < 5 for v in at_n["values"].values())


def test_workload_is_seeded_valid_entities_in_the_apps_proportions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, workload = entities_modules(monkeypatch)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plan_a, expected = workload.make_plan(tmp_path / "a", 3_000, 5)
    plan_b, _ = workload.make_plan(tmp_path / "b", 3_000, 5)
    first, second = (orjson.loads(p.read_bytes()) for p in (plan_a, plan_b))
    assert first["calls"] == second["calls"]
    assert Path(first["workload"]).read_bytes() == Path(second["workload"]).read_bytes()
    lines = Path(first["workload"]).read_bytes().splitlines()
    docs = [d for line in lines for d in orjson.loads(line)]
    assert len(docs) == len({d["_id"] for d in docs}) == 3_000
    assert all(refusal(doc) is None for doc in docs)
    assert all(load(doc).doc_id() == doc["_id"] for doc in docs)
    types = Counter(doc["type"] for doc in docs)
    assert types["user"] == expected.users == 3
    assert 0.65 < (types["chat"] + types["chatMessage"]) / 3_000 < 0.75
    assert 0.18 < (types["fileSystem"] + types["directory"] + types["file"]) / 3_000 < 0.22
    for kind in ("panel", "pipelineNode", "pipelineEdge", "permission", "userSettings"):
        assert types[kind] > 0
    assert sum(expected.view_rows.values()) > 0
    assert set(workload.QUERY_NAMES) == QUERY_NAMES  # the benchmark asks every query
    assert all(len(expected.answers[q]) == 5 for q in QUERY_NAMES)


def test_a_wrong_answer_is_a_row_with_its_error_and_no_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report, workload = entities_modules(monkeypatch)
    expected = workload.Expected(10)
    expected.answers = {q: [["a", "b"], ["c"]] for q in QUERY_NAMES}
    right = {q: {"latencies_ms": [1.0, 2.0], "answers": [["a", "b"], ["c"]]} for q in QUERY_NAMES}
    rows = report.figures({"queries": right}, expected)
    assert rows["queries"]["chat_messages"]["p99_ms"] == 2.0
    assert "error" in rows["build"]  # not run: no figure
    wrong = {**right, "chat_messages": {"latencies_ms": [1.0, 2.0], "answers": [["b", "a"], ["c"]]}}
    rows = report.figures({"queries": wrong}, expected)
    assert "answers unlike" in rows["queries"]["chat_messages"]["error"]
    peer = {"queries": {q: {"p99_ms": 9.0} for q in QUERY_NAMES}}
    ratios = report.ratios(rows, peer)
    assert ratios["chat_messages_p99"] is None
    assert ratios["recent_files_p99"] == 4.5
    assert report.goals(rows, rows)["queries_p99_under_5ms_at_1m"]["met"] is False


def test_entities_options_belong_to_entities_and_are_documented() -> None:
    bench = load_bench()
    for stray in (["--entities-1m"], ["--entities-queries", "5"]):
        with pytest.raises(SystemExit):
            bench.parse_args(stray)
    with pytest.raises(SystemExit):
        bench.parse_args(["--entities", "10"])  # fewer than one user's documents
    assert bench.parse_args(["--entities"]).entities == bench.ENTITIES_DOCS
    out = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for option in ("--entities ", "--entities-queries", "--entities-1m"):
        assert option in out


def test_only_our_failures_fail_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    entities = benchmarks(monkeypatch, "entities")
    good = {"write": {"docs": 1}, "build": {"docs": 1}, "queries": {"recent_files": {"p99_ms": 1}}}
    bad_query = {**good, "queries": {"recent_files": {"error": "answers unlike the expected"}}}
    result = {"targets": {"embedded": good, "ours_server": good, "couchdb": bad_query}}
    assert entities.failed_rows({"entities": result}) == []  # CouchDB's: its finding
    result["targets"]["ours_server"] = bad_query
    assert entities.failed_rows({"entities": result}) == [bad_query["queries"]["recent_files"]]
    result["targets"]["ours_server"] = good
    result["embedded_1m"] = {**good, "build": {"error": "rows of each view"}}
    assert entities.failed_rows({"entities": result}) == [{"error": "rows of each view"}]
