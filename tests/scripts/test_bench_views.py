"""Tests of ``scripts/bench --views``: one tiny real run (every target: the embedded store, our
server, the real CouchDB and PouchDB; every check; the report's arithmetic), and the verdict's
rules on answers that are wrong.

The full run takes many minutes; the tiny one proves the harness end to end (each worker
writes, builds, edits and queries, each answer passes its check, the ratios and goals follow
from the rows) so a broken harness is caught before anyone waits for 100,000.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from couch import CouchServer

from scripts.test_bench import BENCH, load_bench, node_available, run_solo
from scripts.test_bench_replicator import benchmarks

DOCS = 400  # two chats (about 200 messages to a chat): ranges end at a chat boundary
QUERIES = 20
TARGETS = ("embedded", "ours_server", "couchdb", "pouchdb")
PHASES = ("write", "build", "incremental", "keyed", "range", "reduce", "find")
GOALS = (
    "build_3x_couchdb",
    "incremental_3x_couchdb",
    "keyed_p99_3x_couchdb",
    "find_p99_3x_couchdb",
    "write_with_views_at_least_0.5x_without",
    "keyed_p99_1m_under_2ms",
)


def views_modules(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType, ModuleType]:
    """``benchmarks.views``, ``views_report`` and ``views_workload``, as scripts/bench imports
    them."""
    names = ("views", "views_report", "views_workload")
    views, report, workload = (benchmarks(monkeypatch, name) for name in names)
    return views, report, workload


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory, couchdb: CouchServer) -> dict[str, Any]:
    if not node_available():
        pytest.skip("needs node and node_modules/pouchdb")
    out_file = tmp_path_factory.mktemp("views") / "views.json"
    args = ["--views", str(DOCS), "--views-queries", str(QUERIES)]
    return run_solo("views", args, out_file, couchdb.url)


@pytest.mark.node
@pytest.mark.couchdb
def test_tiny_run_checks_every_phase_on_every_target(tiny_report: dict[str, Any]) -> None:
    assert tiny_report["docs"] == DOCS
    assert set(tiny_report["targets"]) == set(TARGETS)
    for name, row in tiny_report["targets"].items():
        assert "error" not in row and "note" not in row, (name, row)
        for phase in PHASES:
            assert "error" not in row[phase], (name, phase, row[phase])
        assert row["incremental"]["edited"] == DOCS  # every document (fewer than 1,000)
        assert row["reduce"]["groups"] == tiny_report["chats"]
        assert row["find"]["requests"] == QUERIES
        for phase in ("keyed", "range"):
            assert row[phase]["requests"] == QUERIES
    embedded = tiny_report["targets"]["embedded"]
    assert embedded["write_plain"]["docs"] == DOCS  # the baseline without the design document


@pytest.mark.node
@pytest.mark.couchdb
def test_tiny_run_figures_ratios_and_goals_follow_from_its_rows(
    tiny_report: dict[str, Any],
) -> None:
    rows = tiny_report["targets"]
    for row in rows.values():
        for phase in ("write", "build"):
            assert row[phase]["docs_per_s"] == pytest.approx(DOCS / row[phase]["seconds"], 1e-3)
        reduce = row["reduce"]
        assert sorted(reduce["runs_seconds"])[len(reduce["runs_seconds"]) // 2] == reduce["seconds"]
    for ours in ("embedded", "ours_server"):
        for peer in ("couchdb", "pouchdb"):
            got = tiny_report["ratios"][f"{ours}_vs_{peer}"]
            a, b = rows[ours], rows[peer]
            want = a["build"]["docs_per_s"] / b["build"]["docs_per_s"]
            assert got["build_docs_per_s"] == pytest.approx(want, rel=1e-2)
            want = b["keyed"]["p99_ms"] / a["keyed"]["p99_ms"]
            assert got["keyed_p99"] == pytest.approx(want, rel=1e-2)
            want = b["incremental"]["seconds"] / a["incremental"]["seconds"]
            assert got["incremental"] == pytest.approx(want, rel=1e-2)
    goals = tiny_report["goals"]
    assert set(goals) == set(GOALS)
    for ours in ("embedded", "ours_server"):
        build = tiny_report["ratios"][f"{ours}_vs_couchdb"]["build_docs_per_s"]
        assert goals["build_3x_couchdb"]["values"][ours] == build
    build = goals["build_3x_couchdb"]
    assert build["met"] == all(v >= 3 for v in build["values"].values())
    with_views = tiny_report["write_with_views_to_without"]
    want = rows["embedded"]["write"]["docs_per_s"] / rows["embedded"]["write_plain"]["docs_per_s"]
    assert with_views == pytest.approx(want, rel=1e-2)
    assert goals["write_with_views_at_least_0.5x_without"]["met"] == (with_views >= 0.5)
    assert goals["keyed_p99_1m_under_2ms"] == {"met": None, "values": {}}  # not run: not judged


def test_plan_expects_every_chat_and_the_edits_in_the_sums(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, _, workload = views_modules(monkeypatch)
    made = load_bench().write_workload(tmp_path, 1_500, 0, 0)
    plan, expected = workload.make_plan(Path(made.plan["workload"]), 1_500, tmp_path, 30)
    assert sum(expected.per_chat.values()) == 1_500
    docs = [doc for batch in workload.batches(Path(made.plan["workload"])) for doc in batch]
    edits = json.loads((tmp_path / "edits.json").read_text())
    assert len(edits) == workload.EDITS
    before = sum(doc["token_count"] for doc in docs)
    assert expected.total_tokens_after_edits == before + workload.EDITS * workload.EDIT_TOKENS
    assert all(edit["metadata"]["edited"] for edit in edits)
    assert plan.is_file()


def test_a_wrong_answer_is_a_row_with_its_error_and_no_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, report, workload = views_modules(monkeypatch)
    expected = workload.Expected(30)
    expected.per_chat.update({"a": 25, "b": 5})
    expected.tokens_after_edits.update({"a": 100, "b": 7})
    plan = {"keyed_chats": ["a", "b"], "keyed_limit": 20}
    right = {
        "keyed": {"latencies_ms": [1.0, 2.0], "answers": [[20, 20], [5, 5]]},
        "reduce": {"runs_seconds": [0.1], "rows": [["a", 100], ["b", 7]]},
    }
    rows = report.figures(right, plan, expected)
    assert rows["keyed"]["p99_ms"] == 2.0
    assert rows["reduce"]["groups"] == 2
    wrong = {
        "keyed": {"latencies_ms": [1.0, 2.0], "answers": [[20, 19], [5, 5]]},
        "reduce": {"runs_seconds": [0.1], "rows": [["a", 100], ["b", 8]]},
    }
    rows = report.figures(wrong, plan, expected)
    assert "answers" in rows["keyed"]["error"]
    assert "group sums" in rows["reduce"]["error"]
    # No figure: no ratio, and the goals it feeds are not met.
    peer = {"keyed": {"p99_ms": 9.0}}
    ratios = {"embedded_vs_couchdb": report.ratios(rows, peer)}
    assert ratios["embedded_vs_couchdb"]["keyed_p99"] is None
    goals = report.goals(ratios, rows, None)
    assert goals["keyed_p99_3x_couchdb"]["met"] is False


def test_views_options_belong_to_views_and_are_documented() -> None:
    bench = load_bench()
    for stray in (["--views-1m"], ["--views-queries", "5"]):
        with pytest.raises(SystemExit):
            bench.parse_args(stray)
    with pytest.raises(SystemExit):
        bench.parse_args(["--views", "0"])
    assert bench.parse_args(["--views"]).views == bench.VIEWS_DOCS
    out = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for option in ("--views ", "--views-queries", "--views-1m", "--views-profile"):
        assert option in out
