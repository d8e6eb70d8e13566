"""The views benchmark's verdict: each worker's raw answers checked, its figures, the ratios of
ours to each peer and the issue's goals.

A worker reports per phase either ``{"error"}`` or raw answers (``views_ours.py`` and
``pouchdb_views.js`` alike). ``figures`` turns each phase into a row only once its answers are
right: every document written, each view holding N rows after the build, the edits' tokens in
the _sum after the incremental update, every keyed range, ranged page (its documents too) and
``_find`` answer exactly the chat's first rows, the grouped reduce every chat's exact sum. A
phase that fails its check is a row with its error and no figure, so it yields no ratio and
meets no goal. Every ratio reads the same way: above 1 means ours was faster.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from benchmarks.report import every, percentile, ratio
from benchmarks.views_workload import EDITS, Expected

OURS = ("embedded", "ours_server")
PEERS = ("couchdb", "pouchdb")
# The goals, each judged on ours (embedded and our server) against CouchDB.
COUCHDB_GOAL = 3.0  # index build, incremental update, keyed and _find p99: 3x CouchDB's
KEYED_P99_1M_MS_GOAL = 2.0  # keyed lookup p99 at 1,000,000 documents
WRITE_WITH_VIEWS_GOAL = 0.5  # bulk writes with two views defined >= half their speed without


class Check(RuntimeError):
    """An answer that is wrong: its row reports no figure."""


def expect(what: str, got: object, want: object) -> None:
    if got != want:
        raise Check(f"{what}: {got!r}, expected {want!r}")


def figures(raw: dict[str, Any], plan: dict[str, Any], expected: Expected) -> dict[str, Any]:
    """Each phase the worker ran, checked, as its row (figures or ``{"error"}``)."""
    judges = {
        "write_plain": lambda r: write_row(r, expected.docs),
        "write": lambda r: write_row(r, expected.docs),
        "build": lambda r: _build(r, expected),
        "incremental": lambda r: _incremental(r, expected),
        "keyed": lambda r: _latencies(r, plan["keyed_chats"], plan["keyed_limit"], expected),
        "range": lambda r: _latencies(r, plan["range_chats"], plan["range_limit"], expected),
        "reduce": lambda r: _reduce(r, expected),
        "find": lambda r: {
            **_latencies(r, plan["find_chats"], plan["find_limit"], expected),
            "index_seconds": r["index_seconds"],
        },
    }
    rows: dict[str, Any] = {}
    for name, judge in judges.items():
        if name in raw:
            rows[name] = judged(raw[name], name, judge)
    if raw.get("peak_rss_bytes"):
        rows["peak_rss_mb"] = raw["peak_rss_bytes"] / 1e6
    return rows


def judged(
    row: dict[str, Any], name: str, judge: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """A worker's phase as its row: its error, or ``judge``'s figures once its checks pass (a
    check that fails, or an answer missing a field, is the row's error)."""
    if "error" in row:
        return {"error": row["error"]}
    try:
        return judge(row)
    except (Check, KeyError, TypeError, IndexError) as exc:
        return {"error": f"{name}: {type(exc).__name__}: {exc}"}


def write_row(row: dict[str, Any], docs: int) -> dict[str, Any]:
    """A bulk write of ``docs`` documents: every one written, none failed."""
    expect("failed writes", row["failed"], [])
    expect("documents written", row["docs"], docs)
    return {
        "docs": row["docs"],
        "seconds": row["seconds"],
        "docs_per_s": row["docs"] / row["seconds"],
    }


def _build(row: dict[str, Any], expected: Expected) -> dict[str, Any]:
    expect("rows of by_chat and tokens after the build", row["total_rows"], [expected.docs] * 2)
    return {
        "docs": expected.docs,
        "seconds": row["seconds"],
        "docs_per_s": expected.docs / row["seconds"],
    }


def _incremental(row: dict[str, Any], expected: Expected) -> dict[str, Any]:
    expect("failed edits", row["failed"], [])
    expect("documents edited", row["edited"], min(EDITS, expected.docs))
    expect("rows of by_chat and tokens after the edits", row["total_rows"], [expected.docs] * 2)
    expect("tokens _sum after the edits", row["tokens_sum"], expected.total_tokens_after_edits)
    return {"edited": row["edited"], "seconds": row["seconds"]}


def _latencies(
    row: dict[str, Any], chats: list[str], limit: int, expected: Expected
) -> dict[str, Any]:
    """Every answer exactly the chat's first ``limit`` rows (or all it has): count and owner."""
    want = [[expected.rows(chat, limit)] * 2 for chat in chats]
    wrong = [(chats[i], got, want[i]) for i, got in enumerate(row["answers"]) if got != want[i]]
    expect("answers (rows, rows of the chat) unlike the chat's", wrong[:3], [])
    expect("answers", len(row["answers"]), len(chats))
    latencies = row["latencies_ms"]
    return {
        "requests": len(latencies),
        "limit": limit,
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": statistics.fmean(latencies),
    }


def _reduce(row: dict[str, Any], expected: Expected) -> dict[str, Any]:
    got = {key: value for key, value in row["rows"]}
    expect("groups", len(row["rows"]), len(expected.per_chat))
    wrong = [(k, got.get(k), v) for k, v in expected.tokens_after_edits.items() if got.get(k) != v]
    expect("group sums unlike the chat's tokens", wrong[:3], [])
    return {
        "groups": len(got),
        "seconds": statistics.median(row["runs_seconds"]),
        "runs_seconds": row["runs_seconds"],
    }


def _figure(rows: dict[str, Any], phase: str, key: str) -> float | None:
    value = rows.get(phase, {}).get(key)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def ratios(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, float | None]:
    """Ours over the peer for throughput, the peer over ours for times: >1 means ours faster."""

    def faster(phase: str, key: str) -> float | None:
        return ratio(_figure(peer, phase, key), _figure(ours, phase, key))

    return {
        "write_docs_per_s": ratio(
            _figure(ours, "write", "docs_per_s"), _figure(peer, "write", "docs_per_s")
        ),
        "build_docs_per_s": ratio(
            _figure(ours, "build", "docs_per_s"), _figure(peer, "build", "docs_per_s")
        ),
        "incremental": faster("incremental", "seconds"),
        "keyed_p50": faster("keyed", "p50_ms"),
        "keyed_p99": faster("keyed", "p99_ms"),
        "range_include_docs_p50": faster("range", "p50_ms"),
        "range_include_docs_p99": faster("range", "p99_ms"),
        "grouped_reduce": faster("reduce", "seconds"),
        "find_p50": faster("find", "p50_ms"),
        "find_p99": faster("find", "p99_ms"),
    }


def all_ratios(targets: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """``<ours>_vs_<peer>`` for each of ours and each peer that ran."""
    return {
        f"{ours}_vs_{peer}": ratios(targets[ours], targets[peer])
        for ours in OURS
        for peer in PEERS
        if ours in targets and peer in targets
    }


def write_with_views(embedded: dict[str, Any]) -> float | None:
    """The embedded store's bulk writes with the design document over without (1: no cost)."""
    return ratio(
        _figure(embedded, "write", "docs_per_s"), _figure(embedded, "write_plain", "docs_per_s")
    )


def goals(
    ratio_rows: dict[str, dict[str, float | None]],
    embedded: dict[str, Any],
    keyed_1m: dict[str, Any] | None,
) -> dict[str, dict[str, Any]]:
    """The issue's goals; values keyed ``<ours>`` (against CouchDB) or ``embedded``. A goal
    whose size was not run (the 1M row without --views-1m) is ``met: null``."""

    def vs_couchdb(key: str) -> dict[str, float | None]:
        return {ours: ratio_rows.get(f"{ours}_vs_couchdb", {}).get(key) for ours in OURS}

    def at_least(goal: float) -> Any:
        return lambda v: v >= goal

    out = {
        f"build_{COUCHDB_GOAL:g}x_couchdb": every(
            vs_couchdb("build_docs_per_s"), at_least(COUCHDB_GOAL)
        ),
        f"incremental_{COUCHDB_GOAL:g}x_couchdb": every(
            vs_couchdb("incremental"), at_least(COUCHDB_GOAL)
        ),
        f"keyed_p99_{COUCHDB_GOAL:g}x_couchdb": every(
            vs_couchdb("keyed_p99"), at_least(COUCHDB_GOAL)
        ),
        f"find_p99_{COUCHDB_GOAL:g}x_couchdb": every(
            vs_couchdb("find_p99"), at_least(COUCHDB_GOAL)
        ),
        f"write_with_views_at_least_{WRITE_WITH_VIEWS_GOAL:g}x_without": every(
            {"embedded": write_with_views(embedded)}, at_least(WRITE_WITH_VIEWS_GOAL)
        ),
    }
    name = f"keyed_p99_1m_under_{KEYED_P99_1M_MS_GOAL:g}ms"
    if keyed_1m is None:
        out[name] = {"met": None, "values": {}}
    else:
        p99 = {"embedded": _figure(keyed_1m, "keyed", "p99_ms")}
        out[name] = every(p99, lambda v: v < KEYED_P99_1M_MS_GOAL)
    return out
