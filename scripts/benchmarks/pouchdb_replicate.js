#!/usr/bin/env node
/*
 * PouchDB's side of the replicator benchmark (scripts/benchmarks/replicator.py): one
 * replication with PouchDB 9's own replicator between a remote database and a LevelDB PouchDB
 * (leveldown, in DB_DIR), in this process alone so its peak RSS (VmHWM) is the replicator's.
 *
 *   node pouchdb_replicate.js pull REMOTE_URL DB_DIR         one-shot, remote -> local
 *   node pouchdb_replicate.js push DB_DIR REMOTE_URL         one-shot, local -> remote
 *   node pouchdb_replicate.js live REMOTE_URL DB_DIR WRITES WARMUP PREFIX
 *       `live: true` pull; then WARMUP untimed and WRITES timed writes to the remote, each one
 *       timed from the write until the local database's change feed shows it
 *
 * PouchDB runs with its defaults (batch_size 100, batches_limit 10): the replicator as an app
 * gets it. Credentials travel in REMOTE_URL. Prints one JSON object on stdout; an error is
 * {"error": ...} and exit status 1, so a broken run never reports a figure.
 */
'use strict';

const fs = require('fs');
const PouchDB = require('pouchdb');
const { peakRssBytes } = require('./node_process');

// A live write not seen locally within this long is lost, not slow: fail the run.
const LIVE_WAIT_MS = 60000;

/** Seconds since `t0` (a process.hrtime.bigint() reading). */
function since(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** One timed one-shot replication, and what it says it did. */
async function oneShot(source, target) {
  const t0 = process.hrtime.bigint();
  const result = await PouchDB.replicate(source, target);
  const seconds = since(t0);
  return {
    seconds,
    docs_read: result.docs_read,
    docs_written: result.docs_written,
    doc_write_failures: result.doc_write_failures,
    ok: result.ok,
    status: result.status,
  };
}

/** Resolve when the local change feed shows `id`; reject after LIVE_WAIT_MS. */
function seen(waiters, id) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      waiters.delete(id);
      reject(new Error(`write ${id} not replicated within ${LIVE_WAIT_MS} ms`));
    }, LIVE_WAIT_MS);
    waiters.set(id, () => {
      clearTimeout(timer);
      resolve(process.hrtime.bigint());
    });
  });
}

async function live(remoteUrl, dir, writes, warmup, prefix) {
  const remote = new PouchDB(remoteUrl);
  const local = new PouchDB(dir);
  const waiters = new Map();
  const feed = local.changes({ live: true, since: 'now' }).on('change', (change) => {
    const done = waiters.get(change.id);
    if (done) {
      waiters.delete(change.id);
      done();
    }
  });
  const replication = PouchDB.replicate(remote, local, { live: true, retry: true });
  let failure = null;
  replication.on('denied', (err) => { failure = err; });
  replication.on('error', (err) => { failure = err; });
  const latencies = [];
  try {
    for (let i = 0; i < warmup + writes; i++) {
      const id = `${prefix}${String(i).padStart(6, '0')}`;
      const arrived = seen(waiters, id);
      const t0 = process.hrtime.bigint();
      await remote.put({ _id: id, type: 'latency_probe', n: i });
      const t1 = await arrived;
      if (i >= warmup) latencies.push(Number(t1 - t0) / 1e6);
      if (failure) throw failure;
    }
  } finally {
    replication.cancel();
    feed.cancel();
  }
  const info = await local.info();
  await local.close();
  await remote.close();
  return { latencies_ms: latencies, doc_count: info.doc_count };
}

async function main(argv) {
  const [mode, a, b, ...rest] = argv;
  let out;
  if (mode === 'pull' || mode === 'push') {
    const source = new PouchDB(a);
    const target = new PouchDB(b);
    out = await oneShot(source, target);
    const local = mode === 'pull' ? target : source;
    out.local_doc_count = (await local.info()).doc_count;
    await source.close();
    await target.close();
  } else if (mode === 'live') {
    const [writes, warmup, prefix] = rest;
    out = await live(a, b, Number(writes), Number(warmup), prefix);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  out.peak_rss_bytes = peakRssBytes();
  out.pouchdb_version = require('pouchdb/package.json').version;
  return out;
}

main(process.argv.slice(2)).then(
  (out) => {
    process.stdout.write(JSON.stringify(out) + '\n');
    process.exit(0);
  },
  (err) => {
    process.stdout.write(JSON.stringify({ error: String((err && err.stack) || err) }) + '\n');
    process.exit(1);
  },
);
