"""Tests of ``scripts/bench --merge``: one tiny real run (every place, every check, the report's
arithmetic), the workload's expected merges, and the verdict's rules.

The full run takes minutes; the tiny one proves the harness end to end (the conflicted database
is built, our replicator and the resolver run on the embedded store, our server and the real
CouchDB, the bulk writes and the two-device sync run and pass their checks, the ratios and goals
follow from the rows) so a broken harness is caught before anyone waits for 10,000.
"""

from __future__ import annotations

import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
from couch import CouchServer

from brainlink_docs.merge import crdt
from scripts.test_bench import BENCH, load_bench, run_solo
from scripts.test_bench_replicator import benchmarks

DOCS = 60
SYNC_DOCS = 40
PLACES = ("embedded", "ours_server", "couchdb")
GOALS = ("resolve_at_least_replicator_speed", "stamping_overhead_under_10pct")


def merge_modules(monkeypatch: pytest.MonkeyPatch) -> tuple[ModuleType, ModuleType]:
    """``benchmarks.merge`` and ``benchmarks.merge_workload``, imported as scripts/bench does."""
    return benchmarks(monkeypatch, "merge"), benchmarks(monkeypatch, "merge_workload")


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory, couchdb: CouchServer) -> dict[str, Any]:
    out_file = tmp_path_factory.mktemp("merge") / "merge.json"
    args = ["--merge", str(DOCS), "--merge-sync-docs", str(SYNC_DOCS), "--merge-repeats", "1"]
    return run_solo("merge", args, out_file, couchdb.url)


@pytest.mark.couchdb
def test_tiny_run_checks_resolution_and_replication_everywhere(
    tiny_report: dict[str, Any],
) -> None:
    assert tiny_report["docs"] == DOCS
    assert set(tiny_report["resolve"]) == set(PLACES)
    for name, place in tiny_report["resolve"].items():
        replicated, resolved = place["replicate"], place["resolve"]
        assert "error" not in replicated and "error" not in resolved, (name, place)
        assert replicated["docs_written"] == 3 * DOCS  # every leaf of every document
        assert replicated["doc_write_failures"] == 0
        assert (resolved["resolved"], resolved["failed"]) == (DOCS, [])
        for row in (replicated, resolved):
            assert row["docs_per_s"] == pytest.approx(DOCS / row["seconds"], rel=1e-3)
        want = resolved["docs_per_s"] / replicated["docs_per_s"]
        assert place["resolve_to_replicate"] == pytest.approx(want, rel=1e-2)
        assert tiny_report["resolve_to_replicate"][name] == place["resolve_to_replicate"]


@pytest.mark.couchdb
def test_tiny_run_times_stamping_and_two_devices_converging(tiny_report: dict[str, Any]) -> None:
    stamping = tiny_report["stamping"]
    medians = stamping["median_docs_per_s"]
    for phase in ("new", "update"):
        want = 1 - medians["stamped"][phase] / medians["plain"][phase]
        assert stamping["overhead"][phase] == pytest.approx(want, rel=1e-3, abs=1e-4)
        for how in ("plain", "stamped"):
            assert len(stamping["runs_docs_per_s"][how][phase]) == 1
    sync = tiny_report["end_to_end"]
    assert "error" not in sync, sync
    assert (sync["docs"], sync["syncs"], sync["rounds"]) == (SYNC_DOCS, 3, 2)
    assert sync["seconds"] == pytest.approx(sum(s["seconds"] for s in sync["steps"]), rel=1e-3)
    last = sync["steps"][-1]
    assert last["identical_after"] is True
    assert not any(last["conflicted_after"].values())
    # The second device meets the first's edits: both it and the server resolve every one.
    second = sync["steps"][1]
    assert (second["resolved_on_device"], second["resolved_on_server"]) == (SYNC_DOCS, SYNC_DOCS)


@pytest.mark.couchdb
def test_tiny_run_goals_follow_from_its_rows(tiny_report: dict[str, Any]) -> None:
    goals = tiny_report["goals"]
    assert set(goals) == set(GOALS)
    speed = goals["resolve_at_least_replicator_speed"]
    assert set(speed["values"]) == {"embedded", "ours_server"}  # CouchDB's row is not judged
    assert speed["met"] == all(v >= 1 for v in speed["values"].values())
    overhead = goals["stamping_overhead_under_10pct"]
    assert overhead["values"] == tiny_report["stamping"]["overhead"]
    assert overhead["met"] == all(v < 0.1 for v in overhead["values"].values())


def test_a_failed_row_gives_no_ratio_and_meets_no_goal(monkeypatch: pytest.MonkeyPatch) -> None:
    merge, _ = merge_modules(monkeypatch)
    resolve = {
        "embedded": {"replicate": {"docs_per_s": 1000.0}, "resolve_to_replicate": 1.5},
        "ours_server": {"replicate": {"error": "leaf revisions written: 2, expected 3"}},
    }
    goals = merge.goals(resolve, {"error": "documents written: 9, expected 10"})
    assert goals["resolve_at_least_replicator_speed"]["met"] is False  # one place alone: no
    assert goals["resolve_at_least_replicator_speed"]["values"]["ours_server"] is None
    assert goals["stamping_overhead_under_10pct"]["met"] is False


def test_each_expected_merge_holds_every_replicas_change_and_increment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, workload = merge_modules(monkeypatch)
    for i in (0, 7, 12_345):
        base, merged = workload.settings_doc(i), workload.expected(i, workload.REPLICAS)
        assert merged["theme"] == "high-contrast" != base["theme"]
        assert merged["font_size"] == 21 != base["font_size"]
        assert merged["layout"]["left"] == "outline" != base["layout"]["left"]
        assert merged["layout"]["right"] == base["layout"]["right"]
        opens = crdt.counter_value(merged["usage"]["opens"])
        assert opens == crdt.counter_value(base["usage"]["opens"]) + 3
        assert workload.settings_doc(i) == base  # document i is the same whatever N is


def test_a_merge_unlike_the_expected_body_fails_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    _, workload = merge_modules(monkeypatch)
    docs = {f"settings:ws-{i:07d}": workload.expected(i, workload.REPLICAS) for i in range(3)}
    docs |= {f"merge-resolution:settings:ws-{i:07d}:2-x": {} for i in range(3)}
    workload.check_merged(docs, 3, workload.REPLICAS)
    docs["settings:ws-0000001"] = workload.expected(1, workload.REPLICAS[:2])
    with pytest.raises(workload.Check, match="merges unlike the expected body"):
        workload.check_merged(docs, 3, workload.REPLICAS)
    docs["settings:ws-0000001"] = {"_conflicts": ["2-y"]}
    with pytest.raises(workload.Check, match="conflicted documents"):
        workload.check_merged(docs, 3, workload.REPLICAS)


def test_merge_options_belong_to_merge_and_are_documented() -> None:
    bench = load_bench()
    with pytest.raises(SystemExit):
        bench.parse_args(["--merge-repeats", "3"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--merge", "0"])
    assert bench.parse_args(["--merge"]).merge == bench.MERGE_DOCS
    out = subprocess.run(
        [sys.executable, str(BENCH), "--help"], capture_output=True, text=True, timeout=60
    ).stdout
    for option in ("--merge ", "--merge-sync-docs", "--merge-repeats", "--merge-profile"):
        assert option in out
