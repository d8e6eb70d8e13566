"""Tests of ``scripts/bench --replicator``: one tiny real run of every replicator against both
remotes (the report's shape, its checks and its arithmetic), and the verdict's rules.

The full run takes many minutes; the tiny one proves the harness end to end (ours, PouchDB's
and CouchDB's replicators all run, every row passed its correctness check, the ratios and goals
are computed from the rows) so a broken harness is caught before anyone waits for 100,000.
"""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
from couch import CouchServer

from scripts.test_bench import BENCH, ROOT, node_available, run_solo

DOCS = 200
CHANGED = 50
WRITES = 5
REPLICATORS = ("ours", "pouchdb", "couchdb")
REMOTES = ("ours_server", "couchdb")


def benchmarks(monkeypatch: pytest.MonkeyPatch, name: str) -> ModuleType:
    """Import ``scripts/benchmarks/<name>`` as ``scripts/bench`` does (scripts/ on the path)."""
    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    module = __import__(f"benchmarks.{name}", fromlist=[name])
    return module


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory, couchdb: CouchServer) -> dict[str, Any]:
    if not node_available():
        pytest.skip("needs node and node_modules/pouchdb")
    out_file = tmp_path_factory.mktemp("replicator") / "replicator.json"
    args = ["--replicator", str(DOCS), "--replicator-changed", str(CHANGED)]
    args += ["--replicator-writes", str(WRITES)]
    return run_solo("replicator", args, out_file, couchdb.url)


@pytest.mark.node
@pytest.mark.couchdb
def test_tiny_run_checks_every_replicator_against_both_remotes(
    tiny_report: dict[str, Any],
) -> None:
    assert (tiny_report["docs"], tiny_report["changed_docs"]) == (DOCS, CHANGED)
    assert set(tiny_report["remotes"]) == set(REMOTES)
    for remote in tiny_report["remotes"].values():
        assert "error" not in remote, remote
        for who in REPLICATORS:
            for direction in ("pull", "push"):
                row = remote[direction][who]
                assert row["docs_written"] == DOCS, row
                assert row["docs_per_s"] == pytest.approx(DOCS / row["seconds"], rel=1e-3)
            assert remote["incremental"][who]["docs_written"] == CHANGED
            latency = remote["latency"][who]
            assert latency["writes"] == WRITES
            assert 0 < latency["p50_ms"] <= latency["p95_ms"] <= latency["max_ms"]
        for who in ("ours", "pouchdb"):  # their own processes: the local side counted too
            assert remote["pull"][who]["local_doc_count"] == DOCS
            assert remote["pull"][who]["doc_write_failures"] == 0
            assert remote["latency"][who]["doc_count"] >= DOCS + WRITES
            assert remote["pull"][who]["peak_rss_mb"] > 0


@pytest.mark.node
@pytest.mark.couchdb
def test_tiny_run_ratios_and_goals_follow_from_its_rows(tiny_report: dict[str, Any]) -> None:
    for name, remote in tiny_report["remotes"].items():
        ratios = tiny_report["ratios"][name]
        for peer in ("pouchdb", "couchdb"):
            for direction in ("pull", "push"):
                ours, theirs = remote[direction]["ours"], remote[direction][peer]
                want = ours["docs_per_s"] / theirs["docs_per_s"]
                assert ratios[f"{direction}_vs_{peer}"] == pytest.approx(want, rel=1e-2)
            want = remote["latency"][peer]["p50_ms"] / remote["latency"]["ours"]["p50_ms"]
            assert ratios[f"latency_p50_vs_{peer}"] == pytest.approx(want, rel=1e-2)
    rss = [
        r[p]["ours"]["peak_rss_mb"]
        for r in tiny_report["remotes"].values()
        for p in ("pull", "push")
    ]
    assert tiny_report["ours_peak_rss_mb"] == max(rss)
    goals = tiny_report["goals"]
    assert goals["docs_per_s_2x_pouchdb"]["met"] == all(
        v >= 2 for v in goals["docs_per_s_2x_pouchdb"]["values"].values()
    )
    assert len(goals["docs_per_s_3x_couchdb_replicator"]["values"]) == 4
    assert goals["peak_rss_under_200mb"]["met"] == (max(rss) < 200)
    assert all(isinstance(goal["met"], bool) for goal in goals.values())


def test_a_failed_run_gives_no_ratio_and_meets_no_goal(monkeypatch: pytest.MonkeyPatch) -> None:
    report = benchmarks(monkeypatch, "report")
    measured = {
        "pull": {"ours": {"docs_per_s": 3000.0}, "pouchdb": {"docs_per_s": 1000.0}},
        "push": {"ours": {"docs_per_s": 3000.0}, "pouchdb": {"error": "docs_written: 90"}},
    }
    ratios = report.ratios(measured)
    assert ratios["pull_vs_pouchdb"] == 3.0
    assert ratios["push_vs_pouchdb"] is None
    goals = report.goals({"r": ratios}, {"r": measured}, None)
    assert goals["docs_per_s_2x_pouchdb"]["met"] is False  # pull alone met it: not enough
    assert goals["peak_rss_under_200mb"]["met"] is False


def test_latency_ratios_read_so_that_above_one_favours_ours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report = benchmarks(monkeypatch, "report")
    rows = {"latency": {"ours": {"p50_ms": 5.0}, "pouchdb": {"p50_ms": 10.0}}}
    assert report.ratios(rows)["latency_p50_vs_pouchdb"] == 2.0
    goals = report.goals({"r": report.ratios(rows)}, {"r": rows}, 50.0)
    assert goals["latency_p50_at_most_pouchdbs"]["met"] is True
    assert goals["peak_rss_under_200mb"]["met"] is True


def test_percentile_is_a_measured_value(monkeypatch: pytest.MonkeyPatch) -> None:
    report = benchmarks(monkeypatch, "report")
    values = [float(v) for v in range(1, 201)]
    assert report.percentile(values, 0.5) == 100.0
    assert report.percentile(values, 0.95) == 190.0
    assert report.percentile([7.0], 0.95) == 7.0


def test_help_documents_the_replicator_options() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for option in ("--replicator ", "--replicator-1m", "--replicator-changed"):
        assert option in out
    for option in ("--replicator-writes", "--replicator-profile"):
        assert option in out
