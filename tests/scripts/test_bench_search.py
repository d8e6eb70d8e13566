"""Tests of ``scripts/bench --search``: one tiny real run (the embedded store and our server,
every row, the same answers on both, the goal following from the rows) and the options'
rules.

The full run (100,000 messages) takes minutes; the tiny one proves the harness end to end so a
broken harness is caught before anyone waits for it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from scripts.test_bench import BENCH, load_bench
from scripts.test_bench_replicator import benchmarks

DOCS = 1_500
QUERIES = 20
ROWS = ("word", "two_words", "prefix", "chat", "common_word")


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out_file = tmp_path_factory.mktemp("search") / "search.json"
    args = ["--search", str(DOCS), "--search-queries", str(QUERIES), "--out", str(out_file)]
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(out_file.read_text())
    assert set(report) == {"machine", "search", "elapsed_seconds"}  # nothing else ran
    part: dict[str, Any] = report["search"]
    return part


def test_tiny_run_measures_every_row_on_both_targets(tiny_report: dict[str, Any]) -> None:
    assert tiny_report["docs"] == DOCS
    assert set(tiny_report["targets"]) == {"embedded", "ours_server"}
    for name, row in tiny_report["targets"].items():
        assert "error" not in row, (name, row)
        for phase in ("write", "build"):
            seconds = row[phase]["seconds"]
            rate = row[phase]["docs_per_s" if phase == "write" else "msgs_per_s"]
            assert rate == pytest.approx(DOCS / seconds, rel=1e-2)
        assert row["index_bytes"] > 0
        for kind in ROWS:
            assert "error" not in row[kind], (name, kind, row[kind])  # same answers as embedded
            assert row[kind]["requests"] == QUERIES
            assert 0 < row[kind]["p50_ms"] <= row[kind]["p99_ms"] <= row[kind]["max_ms"]
        assert row["common_word"]["mean_hits"] == 20  # the commonest words fill every page


def test_tiny_run_goal_follows_from_its_rows(tiny_report: dict[str, Any]) -> None:
    goal = tiny_report["goals"]["search_p99_under_20ms"]
    assert goal["docs"] == DOCS
    rows = tiny_report["targets"]
    want = {
        f"{name}.{kind}": rows[name][kind]["p99_ms"]
        for name in rows
        for kind in ("word", "prefix", "chat")
    }
    assert goal["values"] == want
    assert goal["met"] == all(value < 20 for value in want.values())


def test_a_row_with_an_error_does_not_meet_the_goal(monkeypatch: pytest.MonkeyPatch) -> None:
    search = benchmarks(monkeypatch, "search")
    fast = {kind: {"p99_ms": 1.0} for kind in ROWS}
    rows = {"embedded": dict(fast), "ours_server": dict(fast)}
    assert search.goals(rows, 10)["search_p99_under_20ms"]["met"] is True
    rows["ours_server"]["chat"] = {"p99_ms": 1.0, "error": "answers differ"}
    assert search.goals(rows, 10)["search_p99_under_20ms"]["met"] is False
    assert search.failed_rows({"search": {"targets": rows}}) == [rows["ours_server"]["chat"]]


def test_search_options_belong_to_search_and_are_documented() -> None:
    bench = load_bench()
    with pytest.raises(SystemExit):
        bench.parse_args(["--search-queries", "5"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--search", "0"])
    assert bench.parse_args(["--search"]).search == bench.SEARCH_DOCS
    out = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for option in ("--search ", "--search-queries"):
        assert option in out
