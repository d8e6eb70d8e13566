"""Benchmarks that grow one workload at a time (STYLE.md §1): each workload a module, with the
remotes and replicator processes it runs (``targets``), its load drivers (``ours_replicate.py``,
``pouchdb_replicate.js``) and its verdict (``report``) beside it.

``scripts/bench`` is the entry point; it puts ``scripts/`` on ``sys.path`` (as the directory of
the script run), so this package and the older single-file benchmarks it reuses
(``bench_server``, ``bench_replication``) import by name.
"""
