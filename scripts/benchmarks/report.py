"""The replicator benchmark's verdict: ratios of ours to each peer, and the issue's goals.

Rows are ``rows[remote][phase][replicator]``, phases ``pull``, ``push`` (each with
``docs_per_s``), ``incremental`` (``seconds``) and ``latency`` (``p50_ms``, ``p95_ms``); a row
that failed its correctness check holds ``error`` instead of figures, so it yields no ratio and
no goal it feeds can be met. Every ratio reads the same way: above 1 means ours was faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

PEERS = ("pouchdb", "couchdb")
DIRECTIONS = ("pull", "push")
# The goals for our replicator.
POUCHDB_THROUGHPUT_GOAL = 2.0  # docs/s at least twice PouchDB's replicator's
COUCHDB_THROUGHPUT_GOAL = 3.0  # docs/s at least three times CouchDB's own replicator's
INCREMENTAL_GOAL_S = 0.5  # 1,000 changed documents after a full replication
RSS_GOAL_MB = 200.0  # peak RSS of the replicator process (the issue states it at 1M docs)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (no interpolation: a figure that was really measured)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _figure(rows: dict[str, Any], phase: str, who: str, key: str) -> float | None:
    value = rows.get(phase, {}).get(who, {}).get(key)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` to three places; ``None`` when either was not measured."""
    return round(a / b, 3) if a is not None and b is not None else None


def ratios(rows: dict[str, Any]) -> dict[str, float | None]:
    """One remote's ratios, ours over each peer (throughput) or each peer over ours (seconds)."""
    out: dict[str, float | None] = {}
    for peer in PEERS:
        for direction in DIRECTIONS:
            ours = _figure(rows, direction, "ours", "docs_per_s")
            out[f"{direction}_vs_{peer}"] = ratio(
                ours, _figure(rows, direction, peer, "docs_per_s")
            )
        theirs = _figure(rows, "incremental", peer, "seconds")
        out[f"incremental_vs_{peer}"] = ratio(
            theirs, _figure(rows, "incremental", "ours", "seconds")
        )
        for key in ("p50_ms", "p95_ms"):
            theirs = _figure(rows, "latency", peer, key)
            ours = _figure(rows, "latency", "ours", key)
            out[f"latency_{key.removesuffix('_ms')}_vs_{peer}"] = ratio(theirs, ours)
    return out


def every(values: dict[str, float | None], holds: Callable[[float], bool]) -> dict[str, Any]:
    """met only when every value was measured and ``holds`` of each; the values show how far."""
    measured = [v for v in values.values() if v is not None]
    met = bool(values) and len(measured) == len(values) and all(holds(v) for v in measured)
    return {"met": met, "values": values}


def goals(
    all_ratios: dict[str, dict[str, float | None]],
    remotes: dict[str, Any],
    peak_rss_mb: float | None,
) -> dict[str, dict[str, Any]]:
    """The issue's goals, each judged on every remote (and direction) run; values are keyed
    ``remote.ratio`` or ``remote``."""

    def each(*keys: str) -> dict[str, float | None]:
        return {f"{name}.{key}": r.get(key) for name, r in all_ratios.items() for key in keys}

    def ours(phase: str, key: str) -> dict[str, float | None]:
        return {name: _figure(rows, phase, "ours", key) for name, rows in remotes.items()}

    def at_least(goal: float) -> Callable[[float], bool]:
        return lambda v: v >= goal

    return {
        f"docs_per_s_{POUCHDB_THROUGHPUT_GOAL:g}x_pouchdb": every(
            each("pull_vs_pouchdb", "push_vs_pouchdb"), at_least(POUCHDB_THROUGHPUT_GOAL)
        ),
        f"docs_per_s_{COUCHDB_THROUGHPUT_GOAL:g}x_couchdb_replicator": every(
            each("pull_vs_couchdb", "push_vs_couchdb"), at_least(COUCHDB_THROUGHPUT_GOAL)
        ),
        f"incremental_under_{INCREMENTAL_GOAL_S:g}s": every(
            ours("incremental", "seconds"), lambda v: v < INCREMENTAL_GOAL_S
        ),
        "latency_p50_at_most_pouchdbs": every(each("latency_p50_vs_pouchdb"), at_least(1.0)),
        f"peak_rss_under_{RSS_GOAL_MB:g}mb": every(
            {"ours": peak_rss_mb}, lambda v: v < RSS_GOAL_MB
        ),
    }
