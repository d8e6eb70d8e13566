"""Smoke tests of ``scripts/bench``: its workload generator, its help text, and one tiny run.

The full benchmark takes minutes; these only prove the harness works end to end (both stores
run, the report has every key, the numbers are real) so a broken harness is caught before
someone waits half an hour for a 1M run.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench"

PHASE_METRICS = {
    "write": ("docs", "seconds", "docs_per_s"),
    "point_reads": ("reads", "seconds", "reads_per_s", "p50_us", "p99_us"),
    "changes": ("rows", "seconds", "rows_per_s"),
    "all_docs": ("ranges", "rows", "seconds", "rows_per_s"),
}
SIDE_METRICS = ("peak_rss_bytes", "peak_rss_mb", "disk_bytes", "wall_seconds", "process_seconds")
RATIOS = (
    "write_docs_per_s",
    "point_reads_per_s",
    "changes_rows_per_s",
    "all_docs_rows_per_s",
    "peak_rss_bytes",
    "disk_bytes",
)
GOALS = (
    "bulk_write_1.5x_pouchdb",
    "point_reads_2x_pouchdb",
    "changes_scan_1m_under_10s",
    "peak_rss_1m_under_300mb",
)


def load_bench() -> ModuleType:
    """Import the script as a module (it has no .py suffix, so spell out the loader)."""
    loader = importlib.machinery.SourceFileLoader("bench_script", str(BENCH))
    spec = importlib.util.spec_from_loader("bench_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses resolve string annotations through sys.modules, so register before running.
    sys.modules[spec.name] = module
    loader.exec_module(module)
    return module


def test_workload_is_deterministic_and_shaped_like_chat_messages() -> None:
    bench = load_bench()
    docs: list[dict[str, Any]] = list(bench.chat_messages(500))
    assert docs == list(bench.chat_messages(500))
    assert len({doc["_id"] for doc in docs}) == 500
    for doc in docs:
        assert doc["_id"] == f"msg:{doc['chat_id']}:{doc['sequence_num']:06d}"
        assert doc["type"] == "chat_message"
        assert doc["created_at"].endswith("Z")
    average = sum(len(json.dumps(doc)) for doc in docs) / len(docs)
    assert 800 < average < 1300


def test_help_documents_every_option_and_the_shell_shim_works() -> None:
    # Through bash, so the shim at the top of the script is exercised too.
    out = subprocess.run(
        ["bash", str(BENCH), "--help"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    for option in ("--docs", "--skip-1m", "--only", "--out", "--reads", "--ranges", "--workdir"):
        assert option in out
    assert "--worker-ours" not in out


def node_available() -> bool:
    return shutil.which("node") is not None and (ROOT / "node_modules" / "pouchdb").is_dir()


@pytest.mark.node
@pytest.mark.skipif(not node_available(), reason="needs node and node_modules/pouchdb")
def test_tiny_run_reports_every_figure(tmp_path: Path) -> None:
    out_file = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--docs", "2000", "--reads", "1000", "--ranges", "100", "--skip-1m"),
            *("--workdir", str(tmp_path / "work"), "--out", str(out_file)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report == json.loads(out_file.read_text())
    assert {"machine", "workload", "sizes", "goals", "goal_details"} <= report.keys()
    assert report["store_source_changed_during_run"] is False
    assert list(report["sizes"]) == ["2000"]

    size = report["sizes"]["2000"]
    assert size["workload"]["docs"] == 2000
    for side in ("ours", "pouchdb"):
        result = size[side]
        assert "error" not in result, result
        for phase, metrics in PHASE_METRICS.items():
            for metric in metrics:
                assert result[phase][metric] > 0, (side, phase, metric)
        for metric in SIDE_METRICS:
            assert result[metric] > 0, (side, metric)
        assert result["write"]["docs"] == result["changes"]["rows"] == 2000
        assert result["point_reads"]["reads"] == 1000
    assert size["ours"]["all_docs"]["rows"] == size["pouchdb"]["all_docs"]["rows"]
    for ratio in RATIOS:
        assert size["ratio"][ratio] > 0, ratio

    assert set(report["goals"]) == set(GOALS)
    assert isinstance(report["goals"]["bulk_write_1.5x_pouchdb"], bool)
    assert isinstance(report["goals"]["point_reads_2x_pouchdb"], bool)
    # No 1M run, so the 1M goals are unmeasured rather than guessed.
    assert report["goals"]["changes_scan_1m_under_10s"] is None
    assert report["goals"]["peak_rss_1m_under_300mb"] is None
    # The workdir holds nothing once the run is over (no --keep).
    assert not any((tmp_path / "work").iterdir())
