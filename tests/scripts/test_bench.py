"""Smoke tests of ``scripts/bench``: its workload generator, its help text, and one tiny run.

The full benchmark takes minutes; these only prove the harness works end to end (both stores
run, the report has every key, the numbers are real) so a broken harness is caught before
someone waits half an hour for a 1M run.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from couch import CouchServer

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
    options = ("--docs", "--skip-1m", "--only", "--out", "--reads", "--ranges", "--workdir")
    options += ("--server", "--skip-server", "--server-1m", "--server-seconds", "--server-profile")
    options += ("--auth", "--auth-only", "--users", "--replication")
    for option in options:
        assert option in out
    assert "wrk" in out
    assert "--worker-ours" not in out


def run_solo(mode: str, args: list[str], out_file: Path, couchdb_url: str) -> dict[str, Any]:
    """A run of one mode that runs only its own rows (``--replicator``, ``--merge``) with a real
    CouchDB; its report's part, once the run has succeeded and nothing else ran."""
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args, "--out", str(out_file)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COUCHDB_URL": couchdb_url},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report: dict[str, Any] = json.loads(out_file.read_text())
    assert set(report) == {"machine", mode, "elapsed_seconds"}  # nothing else ran
    part: dict[str, Any] = report[mode]
    return part


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
            "--skip-server",
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


SERVER_TARGETS = ("ours", "ours_normal", "pouchdb_server")
WRK_ROWS = ("get_c1", "get_c32", "put_c1", "put_c32")
SCAN_ROWS = ("all_docs", "changes", "changes_include_docs")
SERVER_GOALS = (
    "at_least_2x_pouchdb_server_every_row",
    "get_p99_under_5ms_32_clients",
    "bulk_docs_at_least_14000_docs_per_s",
    "rss_under_150mb_serving_1m_docs",
)


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


@pytest.mark.node
@pytest.mark.skipif(not node_available(), reason="needs node and node_modules/pouchdb-server")
@pytest.mark.skipif(not wrk_available(), reason="needs wrk (apt-get install -y wrk)")
def test_tiny_server_run_reports_every_row(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COUCHDB_URL"}
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--server", "--docs", "1500", "--server-seconds", "1"),
            *("--workdir", str(tmp_path / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # --server runs only the server benchmark.
    assert "sizes" not in report
    server = report["server"]
    assert server["workload"]["docs"] == 1500
    assert list(server["targets"]) == list(SERVER_TARGETS)
    for name in SERVER_TARGETS:
        target = server["targets"][name]
        assert "error" not in target, target
        assert target["peak_rss_mb"] > 0
        assert target["waited_for_quiet_seconds"] >= 0
        for c in ("c1", "c32"):
            assert target["generator_ceiling"][c]["req_per_s"] > 0
        rows = target["rows"]
        for row in WRK_ROWS:
            assert rows[row]["ok"], (name, row, rows[row])
            assert rows[row]["requests"] > 0
            assert 0 < rows[row]["p50_ms"] <= rows[row]["p99_ms"]
            assert isinstance(rows[row]["generator"]["within_70pct_of_ceiling"], bool)
            assert isinstance(rows[row]["generator_bound"], bool)
        # Every PUT was an update with the rev the server returned: none conflicted.
        assert rows["put_c32"]["put"]["failed"] == 0
        assert rows["put_c32"]["put"]["created"] == rows["put_c32"]["requests"]
        assert rows["bulk_docs"]["docs"] == 1500
        assert rows["bulk_docs"]["docs_per_s"] > 0
        for row in SCAN_ROWS:
            assert rows[row]["rows"] == 1500, (name, row)
            assert rows[row]["rows_per_s"] > 0
    ratios = server["ratios"]
    assert set(ratios) == {"ours_vs_pouchdb_server", "ours_normal_vs_pouchdb_server"}
    for value in ratios["ours_vs_pouchdb_server"].values():
        assert value is not None and value > 0
    assert set(server["goals"]) == set(SERVER_GOALS)
    for goal in SERVER_GOALS[:3]:
        assert isinstance(server["goals"][goal], bool), goal
    # No --server-1m: the 1M goal is unmeasured rather than guessed.
    assert server["goals"]["rss_under_150mb_serving_1m_docs"] is None
    assert server["targets_1m"] is None
    assert isinstance(server["disturbed_targets"], list)
    # The server processes are gone and the workdir is empty (no --keep).
    assert not any((tmp_path / "work").iterdir())


def load_server_bench() -> ModuleType:
    return load_bench().server_bench()


def test_hot_spots_are_per_thread_shares_of_self_time(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    raw.write_text(
        "thread (1): MainThread;run (runners.py:118);handle (app.py:10);send (writer.py:5) 30\n"
        "thread (1): MainThread;run (runners.py:118);handle (app.py:12) 10\n"
        "thread (2): sqlite-writer;loop (writer.py:90);commit (writer.py:120) 40\n"
        "thread (3): sqlite-writer;loop (writer.py:90);commit (writer.py:121) 20\n"
    )
    spots = load_server_bench().hot_spots(raw, possible=100)
    assert list(spots) == ["sqlite-writer", "MainThread"]
    assert spots["sqlite-writer"]["running_share_of_wall"] == 0.6
    assert spots["sqlite-writer"]["top_self"] == [("commit (writer.py)", 1.0)]
    assert spots["MainThread"]["top_self"] == [
        ("send (writer.py)", 0.75),
        ("handle (app.py)", 0.25),
    ]


def test_ratios_read_so_that_above_one_favours_ours() -> None:
    rows = {
        "get_c1": {"req_per_s": 4000.0, "p50_ms": 0.25, "p99_ms": 1.0},
        "bulk_docs": {"docs_per_s": 20000.0},
    }
    slower = {
        "get_c1": {"req_per_s": 1000.0, "p50_ms": 1.0, "p99_ms": 5.0},
        "bulk_docs": {"docs_per_s": 5000.0},
    }
    ratios = load_server_bench().row_ratios(
        {"rows": rows, "peak_rss_mb": 50.0}, {"rows": slower, "peak_rss_mb": 200.0}
    )
    assert ratios == {
        "get_c1_req_per_s": 4.0,
        "bulk_docs_docs_per_s": 4.0,
        "get_c1_p50_latency": 4.0,
        "get_c1_p99_latency": 5.0,
        "peak_rss": 0.25,
    }


def test_auth_needs_the_server_benchmark() -> None:
    bench = load_bench()
    with pytest.raises(SystemExit):
        bench.parse_args(["--skip-server", "--auth"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--auth-only", "--server"])


def test_auth_ratios_divide_each_member_row_by_the_admins() -> None:
    server = load_server_bench()
    rows = {
        f"get_{variant}_c{c}": {"req_per_s": rate * c, "other_processes_cpu_share": 0.0}
        for c in (1, 32)
        for variant, rate in (
            ("admin_basic", 1000.0),
            ("member_basic", 950.0),
            ("member_cookie", 900.0),
            ("member_jwt", 800.0),
        )
    }
    rows["get_member_jwt_c32"]["other_processes_cpu_share"] = 0.5
    ratios = server.auth_ratios(rows)
    assert ratios == {
        "member_basic_c1": 0.95,
        "member_cookie_c1": 0.9,
        "member_jwt_c1": 0.8,
        "member_basic_c32": 0.95,
        "member_cookie_c32": 0.9,
        "member_jwt_c32": 0.8,
    }
    met, details = server.auth_goals(ratios, rows)
    assert met == {"member_gets_at_least_0.9x_admin": False}
    goal = details["member_gets_at_least_0.9x_admin"]
    assert goal["rows_below_target"] == ["member_jwt_c1", "member_jwt_c32"]
    assert goal["disturbed_get_rows"] == ["get_member_jwt_c32"]
    # Nothing measured is not a failure: the goal is unknown.
    assert server.auth_goals(server.auth_ratios({}), {})[0] == {
        "member_gets_at_least_0.9x_admin": None
    }


AUTH_VARIANTS = ("admin_basic", "member_basic", "member_cookie", "member_jwt")


@pytest.mark.slow
@pytest.mark.skipif(not wrk_available(), reason="needs wrk (apt-get install -y wrk)")
def test_tiny_auth_run_reports_every_row(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--auth-only", "--docs", "500", "--server-seconds", "1"),
            *("--workdir", str(tmp_path / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    # --auth-only: no embedded benchmark and no other server.
    assert "sizes" not in report
    server = report["server"]
    assert "targets" not in server
    assert server["workload"]["docs"] == 500
    auth = server["auth"]
    assert "error" not in auth, auth
    # Each variant is who its row needs, and the db is closed to anonymous requests.
    assert auth["checks"]["member_cookie"]["authenticated"] == "cookie"
    assert auth["checks"]["member_jwt"]["authenticated"] == "jwt"
    assert auth["checks"]["anonymous"]["get_status"] == 401
    rows = auth["rows"]
    for c in ("c1", "c32"):
        for variant in AUTH_VARIANTS:
            row = rows[f"get_{variant}_{c}"]
            assert row["ok"], (variant, c, row)
            assert row["requests"] > 0
        assert rows[f"session_login_{c}"]["ok"]
        assert auth["logins_per_s"][f"session_login_{c}"] > 0
    first = rows["first_login_pbkdf2"]
    assert first["ok"] and first["iterations"] == 600_000
    assert auth["logins_per_s"]["first_login_pbkdf2"] > 0
    assert len(auth["ratios_to_admin_basic"]) == 6
    assert all(v > 0 for v in auth["ratios_to_admin_basic"].values())
    assert isinstance(auth["goals"]["member_gets_at_least_0.9x_admin"], bool)
    assert not any((tmp_path / "work").iterdir())


def test_hot_spots_count_our_functions_once_per_stack(tmp_path: Path) -> None:
    raw = tmp_path / "stacks.txt"
    pkg = "/x/brainlink_docs"
    raw.write_text(
        f"thread (1): MainThread;run (runners.py:1);authenticate ({pkg}/http/auth.py:9)"
        f";user ({pkg}/http/auth.py:20);user ({pkg}/http/auth.py:21) 3\n"
        "thread (1): MainThread;run (runners.py:1);select (selectors.py:5) 1\n"
    )
    spots = load_server_bench().hot_spots(raw, possible=4)["MainThread"]
    assert spots["top_inclusive_brainlink_docs"] == [
        ("http/auth.py:authenticate", 0.75),
        ("http/auth.py:user", 0.75),
    ]


def test_interleaved_runs_combine_into_one_row_of_their_mean() -> None:
    def run(round_: int, rate: float, others: float, errors: dict[str, int]) -> dict[str, Any]:
        return {
            "connections": 32,
            "requests": int(rate * 10),
            "seconds": 10.0,
            "req_per_s": rate,
            **{f"{p}_ms": 1.0 + round_ for p in ("p50", "p90", "p99", "p999", "mean")},
            "max_ms": 5.0 * (round_ + 1),
            "errors": errors,
            "ok": not errors,
            "server_cpu_share": 1.0,
            "generator_cpu_share": 0.2,
            "other_processes_cpu_share": others,
            "round": round_,
            "waited_for_quiet_s": 0.5,
        }

    row = load_server_bench().combine_runs(
        [run(0, 3000.0, 0.0, {}), run(1, 2000.0, 0.4, {"status": 2})]
    )
    assert row["req_per_s"] == 2500.0 and row["requests"] == 50_000 and row["seconds"] == 20.0
    assert row["p99_ms"] == 1.5 and row["max_ms"] == 10.0
    # One disturbed or failed run marks the whole row.
    assert row["other_processes_cpu_share"] == 0.4
    assert row["errors"] == {"status": 2} and row["ok"] is False
    assert [r["req_per_s"] for r in row["rounds"]] == [3000.0, 2000.0]
    assert row["runs"] == 2 and "round" not in row


@pytest.mark.node
@pytest.mark.skipif(not node_available(), reason="needs node and node_modules/pouchdb")
def test_tiny_users_run_reports_both_servers_and_ratios(tmp_path: Path) -> None:
    out_file = tmp_path / "users.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--users", "30", "--out", str(out_file)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out_file.read_text())["per_user_databases"]
    assert report["users"] == 30
    for name in ("ours", "pouchdb_server"):
        side = report[name]
        assert "error" not in side, side
        assert side["databases"] == 30
        assert side["databases_per_s"] > 0
        for key in ("all_dbs_ms", "create_db_ms", "first_request_to_unused_db_ms"):
            assert side[key] > 0
        assert side["memory"]["rss_mb"] > 0 and side["open_fds"] > 0
    assert all(isinstance(v, float) and v > 0 for v in report["ratios"].values()), report["ratios"]
    assert "server" not in json.loads(out_file.read_text())  # --users runs nothing else


def test_tiny_replication_run_measures_couchdbs_replicator_against_ours(
    tmp_path: Path, couchdb: CouchServer
) -> None:
    out_file = tmp_path / "replication.json"
    args = ["--replication", "40", "--only", "ours", "--out", str(out_file)]
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COUCHDB_URL": couchdb.url},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out_file.read_text())["replication"]
    assert report["docs"] == 40
    assert report["with_text_attachment"] == 8 and report["with_binary_attachment"] == 2
    for direction in ("pull", "push"):
        row = report["ours"][direction]
        assert row["seconds"] > 0 and row["docs_per_s"] > 0, row
    assert "server" not in json.loads(out_file.read_text())  # --replication runs nothing else


@pytest.mark.parametrize("workload", ["--replication", "--replicator"])
def test_the_replication_workloads_need_a_couchdb(workload: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "COUCHDB_URL"}
    proc = subprocess.run(
        [sys.executable, str(BENCH), workload, "10"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2
    assert "COUCHDB_URL" in proc.stderr
