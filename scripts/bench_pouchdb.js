#!/usr/bin/env node
/*
 * The PouchDB side of scripts/bench: runs one benchmark plan against PouchDB 9 on its LevelDB
 * adapter (leveldown, in the directory given) and prints one JSON object of measurements.
 *
 *   node scripts/bench_pouchdb.js PLAN.json DB_DIR
 *
 * The plan and the workload file are written by scripts/bench, so both stores see exactly the
 * same documents, ids and ranges from one generator (the workload is defined once, in Python).
 * This file only replays it. It mirrors `run_ours` in scripts/bench phase for phase; keep the
 * two in step when either changes.
 *
 * Timing covers only the awaited PouchDB calls: reading and JSON-parsing the workload file
 * happens between them, untimed, so the load generator cannot be the bottleneck. Peak RSS is
 * this process's own high-water mark (VmHWM), which counts LevelDB's native memory too.
 *
 * Progress goes to stderr; stdout carries only the result JSON.
 */
'use strict';

const fs = require('fs');
const path = require('path');
const PouchDB = require('pouchdb');

// Bytes read from the workload file per read(2); each line is one 1,000-document batch (~1 MB),
// so a few MB keeps syscalls rare without holding more than a couple of batches.
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

/** Nanoseconds on the monotonic clock, as a Number (exact well beyond any run's length). */
function nowNs() {
  return Number(process.hrtime.bigint());
}

/**
 * Yield the lines of a file one at a time with synchronous reads, so no background stream
 * reads ahead (and competes with LevelDB for the disk) while a timed call is in flight.
 * @param {string} file
 * @returns {Generator<string>}
 */
function* readLines(file) {
  const fd = fs.openSync(file, 'r');
  try {
    const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
    let pending = [];
    for (;;) {
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      let start = 0;
      let nl;
      while ((nl = chunk.indexOf(10, start)) !== -1 && nl < n) {
        pending.push(chunk.subarray(start, nl));
        yield Buffer.concat(pending).toString('utf8');
        pending = [];
        start = nl + 1;
      }
      if (start < n) pending.push(Buffer.from(chunk.subarray(start, n)));
    }
    if (pending.length > 0) yield Buffer.concat(pending).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Resident set size in bytes from /proc/self/status on Linux: `peak` is VmHWM, the high-water
 * mark of this process image only (getrusage's maxrss can, after exec, still carry the parent's
 * size at fork time); `anon` is heap, `file` is mapped files. LevelDB mmaps its table files, so
 * every page of the database it reads counts in `file` (reclaimable page cache, yet RSS).
 * Falls back to resourceUsage elsewhere.
 * @returns {{peak: number, current: number, anon: number|null, file: number|null}}
 */
function rss() {
  try {
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)[1]);
    return {
      peak: kib('VmHWM') * 1024,
      current: kib('VmRSS') * 1024,
      anon: kib('RssAnon') * 1024,
      file: kib('RssFile') * 1024,
    };
  } catch {
    const current = process.memoryUsage().rss;
    return { peak: process.resourceUsage().maxRSS * 1024, current, anon: null, file: null };
  }
}

/** The current RSS split, in MB (10^6 bytes), for the per-phase report. */
function rssSnapshotMb() {
  const { current, anon, file } = rss();
  const mb = (bytes) => (bytes === null ? null : bytes / 1e6);
  return { rss: mb(current), anon: mb(anon), file: mb(file) };
}

/**
 * Total size in bytes of the files under a directory (the LevelDB database on disk).
 * @param {string} dir
 * @returns {number}
 */
function diskBytes(dir) {
  let total = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? diskBytes(full) : fs.statSync(full).size;
  }
  return total;
}

/** Print a progress line on stderr, prefixed so interleaved output stays attributable. */
function progress(message) {
  process.stderr.write(`[pouchdb] ${message}\n`);
}

/**
 * Bulk-write every batch of the workload file; only the bulkDocs calls are timed.
 * @param {PouchDB.Database} db
 * @param {object} plan
 */
async function writePhase(db, plan) {
  let timedNs = 0;
  let docs = 0;
  let batches = 0;
  let errors = 0;
  const wallStart = nowNs();
  for (const line of readLines(plan.workload)) {
    const batch = JSON.parse(line);
    const t0 = nowNs();
    const results = await db.bulkDocs(batch);
    timedNs += nowNs() - t0;
    docs += batch.length;
    batches += 1;
    for (const r of results) if (r.error) errors += 1;
    if (docs % plan.progress_every === 0) progress(`wrote ${docs}/${plan.docs}`);
  }
  if (errors > 0) throw new Error(`bulkDocs reported ${errors} per-document errors`);
  const seconds = timedNs / 1e9;
  return {
    docs,
    batches,
    seconds,
    wall_seconds: (nowNs() - wallStart) / 1e9,
    docs_per_s: docs / seconds,
  };
}

/**
 * Point reads, strictly one at a time: the latency a UI sees opening one message.
 * @param {PouchDB.Database} db
 * @param {string[]} ids
 */
async function readPhase(db, ids) {
  const latencies = new Float64Array(ids.length);
  const start = nowNs();
  for (let i = 0; i < ids.length; i++) {
    const t0 = nowNs();
    const doc = await db.get(ids[i]);
    latencies[i] = nowNs() - t0;
    if (doc._id !== ids[i]) throw new Error(`get(${ids[i]}) returned ${doc._id}`);
  }
  const seconds = (nowNs() - start) / 1e9;
  latencies.sort();
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return {
    reads: ids.length,
    seconds,
    reads_per_s: ids.length / seconds,
    p50_us: pct(0.5) / 1e3,
    p99_us: pct(0.99) / 1e3,
  };
}

/**
 * The whole _changes feed without docs, in pages, as a replicator or indexer reads it.
 * @param {PouchDB.Database} db
 * @param {number} pageSize
 */
async function changesPhase(db, pageSize) {
  let since = 0;
  let rows = 0;
  const start = nowNs();
  for (;;) {
    const page = await db.changes({ since, limit: pageSize });
    rows += page.results.length;
    if (page.results.length < pageSize || page.last_seq === since) break;
    since = page.last_seq;
  }
  const seconds = (nowNs() - start) / 1e9;
  return { rows, page_size: pageSize, seconds, rows_per_s: rows / seconds };
}

/**
 * Short key ranges with documents, as a chat view pages through a conversation.
 * @param {PouchDB.Database} db
 * @param {string[]} starts
 * @param {number} limit
 */
async function allDocsPhase(db, starts, limit) {
  let rows = 0;
  const start = nowNs();
  for (const startkey of starts) {
    const page = await db.allDocs({ startkey, limit, include_docs: true });
    rows += page.rows.length;
  }
  const seconds = (nowNs() - start) / 1e9;
  return {
    ranges: starts.length,
    limit,
    rows,
    seconds,
    ranges_per_s: starts.length / seconds,
    rows_per_s: rows / seconds,
  };
}

/** Run the plan's phases in order against a fresh database and print the result JSON. */
async function main() {
  const [planFile, dbDir] = process.argv.slice(2);
  if (!planFile || !dbDir) {
    process.stderr.write('usage: node scripts/bench_pouchdb.js PLAN.json DB_DIR\n');
    process.exit(2);
  }
  const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const started = nowNs();
  const db = new PouchDB(dbDir);
  const phases = {};
  const rssAfter = {};

  phases.write = await writePhase(db, plan);
  rssAfter.write = rssSnapshotMb();
  const info = await db.info();
  if (info.doc_count !== plan.docs) {
    throw new Error(`doc_count ${info.doc_count} after writing ${plan.docs}`);
  }
  progress(`write: ${phases.write.docs_per_s.toFixed(0)} docs/s`);

  phases.point_reads = await readPhase(db, plan.read_ids);
  rssAfter.point_reads = rssSnapshotMb();
  progress(`point reads: ${phases.point_reads.reads_per_s.toFixed(0)} reads/s`);

  phases.changes = await changesPhase(db, plan.changes_page_size);
  rssAfter.changes = rssSnapshotMb();
  if (phases.changes.rows !== plan.docs) {
    throw new Error(`_changes returned ${phases.changes.rows} rows for ${plan.docs} docs`);
  }
  progress(`changes: ${phases.changes.rows_per_s.toFixed(0)} rows/s`);

  phases.all_docs = await allDocsPhase(db, plan.range_starts, plan.range_limit);
  rssAfter.all_docs = rssSnapshotMb();
  progress(`all_docs: ${phases.all_docs.rows_per_s.toFixed(0)} rows/s`);

  await db.close();
  const memory = rss();
  const result = {
    store: 'pouchdb',
    versions: {
      node: process.versions.node,
      pouchdb: require('pouchdb/package.json').version,
      leveldown: require('leveldown/package.json').version,
    },
    adapter: db.adapter,
    // leveldown's batch() defaults to sync:false and PouchDB passes no option: no fsync.
    durability: 'LevelDB, sync:false (no fsync per batch)',
    ...phases,
    peak_rss_bytes: memory.peak,
    peak_rss_mb: memory.peak / 1e6,
    rss_after_phase_mb: rssAfter,
    disk_bytes: diskBytes(dbDir),
    wall_seconds: (nowNs() - started) / 1e9,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`[pouchdb] failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
