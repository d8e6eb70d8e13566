'use strict';
// PouchDB (Node, LevelDB adapter) driven from the Python interop tests.
//
// Usage: node pouch_driver.js REMOTE_DB_URL WORKDIR
//   REMOTE_DB_URL  our server's database, credentials in the URL (PouchDB's HTTP adapter sends
//                  them as basic auth); WORKDIR  where the LevelDB databases live.
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout, in order.
// Every reply is {"ok": true, "result": ...} or {"ok": false, "error": "..."}. A command names a
// database with "db": "remote" is the server, any other name a LevelDB database in WORKDIR
// (default "local").
//
//   {op: "bulk_docs", db, docs, new_edits}   -> [{id, rev} | {id, error, reason}]
//   {op: "put", db, doc}                     -> {id, rev}
//   {op: "get", db, id, opts}                -> the document, or {error, status}
//   {op: "replicate", source, target, opts}  -> one-shot replication's result (see below)
//   {op: "sync_live_start", db}              -> starts db.sync(remote, {live, retry})
//   {op: "sync_live_status"}                 -> events seen so far by the live sync
//   {op: "sync_live_stop"}                   -> cancels it and waits for 'complete'
//   {op: "heads", db}                        -> {id: [winning rev, deleted]} from _changes
//   {op: "dump", db}                         -> every document's full state (see dump())
//   {op: "close"}                            -> closes every database, then exits
//
// A replication result is PouchDB's (docs_read, docs_written, doc_write_failures, errors,
// status, last_seq) plus changes_seen: how many changes the replicator looked at (its
// 'checkpoint' events carrying revs_diff), which is what shows a run resumed from a checkpoint.
//
// stdout carries only replies: PouchDB's console chatter ("just detecting if the remote supports
// _bulk_get") is sent to stderr.

const crypto = require('node:crypto');
const path = require('node:path');
const { serveCommands } = require('../json_lines.js');

for (const name of ['log', 'info', 'warn', 'error', 'debug']) {
  console[name] = (...args) => process.stderr.write(args.map(String).join(' ') + '\n');
}

const PouchDB = require('pouchdb');

const [remoteUrl, workdir] = process.argv.slice(2);
if (!remoteUrl || !workdir) {
  process.stderr.write('usage: node pouch_driver.js REMOTE_DB_URL WORKDIR\n');
  process.exit(2);
}

// How many document reads a dump keeps in flight against one database.
const DUMP_CONCURRENCY = 16;
// A replication's changes/bulk_docs batch (PouchDB's default is 100; CouchDB's replicator 500).
const BATCH_SIZE = 100;

const dbs = new Map();
let live = null;

function open(name) {
  const key = name || 'local';
  if (!dbs.has(key)) {
    dbs.set(key, key === 'remote' ? new PouchDB(remoteUrl) : new PouchDB(path.join(workdir, key)));
  }
  return dbs.get(key);
}

function errorJson(err) {
  return { error: err.name || err.error || 'error', status: err.status, reason: err.message };
}

function resultRow(row) {
  if (row.error) {
    return { id: row.id, error: row.name || row.error, reason: row.message || row.reason };
  }
  return { id: row.id, rev: row.rev };
}

async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

function attachmentState(atts) {
  if (!atts) {
    return undefined;
  }
  const out = {};
  for (const name of Object.keys(atts).sort()) {
    const att = atts[name];
    const data = Buffer.from(att.data, 'base64');
    out[name] = {
      content_type: att.content_type,
      digest: att.digest,
      revpos: att.revpos,
      length: data.length,
      data_md5: 'md5-' + crypto.createHash('md5').update(data).digest('base64'),
      // The bytes themselves, so the Python side can check each digest by its store's rule.
      data: att.data,
    };
  }
  return out;
}

function leafState(doc) {
  const state = { ...doc };
  if (doc._attachments) {
    state._attachments = attachmentState(doc._attachments);
  }
  return state;
}

async function heads(db) {
  const changes = await db.changes({ since: 0, batch_size: 1000, style: 'main_only' });
  const out = {};
  for (const row of changes.results) {
    out[row.id] = [row.changes[0].rev, Boolean(row.deleted)];
  }
  return out;
}

// Every document as {winner, deleted, conflicts, leaves: {rev: leaf}}: the winning revision and
// deleted flag from _changes, _conflicts from a conflicts=true read of the winner (a deleted
// winner has none: every leaf is then deleted), and each leaf of open_revs=all read with
// revs=true (its _revisions path) and attachments=true (data hashed here, so a copy whose stored
// digest is right but whose bytes are wrong still differs).
async function dump(db) {
  const winners = await heads(db);
  const ids = Object.keys(winners).sort();
  const docs = await pool(ids, DUMP_CONCURRENCY, async (id) => {
    const [winner, deleted] = winners[id];
    const leaves = {};
    for (const entry of await db.get(id, { open_revs: 'all', revs: true, attachments: true })) {
      if (entry.ok) {
        leaves[entry.ok._rev] = leafState(entry.ok);
      } else {
        leaves[entry.missing] = { missing: true };
      }
    }
    let conflicts = null;
    if (!deleted) {
      const doc = await db.get(id, { conflicts: true });
      if (doc._rev !== winner) {
        throw new Error(`${id}: GET says ${doc._rev} wins, _changes says ${winner}`);
      }
      conflicts = doc._conflicts || [];
    }
    return [id, { winner, deleted, conflicts, leaves }];
  });
  return Object.fromEntries(docs);
}

async function replicate(cmd) {
  const source = open(cmd.source);
  const target = open(cmd.target);
  let changesSeen = 0;
  const rep = PouchDB.replicate(source, target, { batch_size: BATCH_SIZE, ...(cmd.opts || {}) });
  rep.on('checkpoint', (event) => {
    if (event.revs_diff) {
      changesSeen += 1;
    }
  });
  try {
    const result = await rep;
    return { ...summary(result), changes_seen: changesSeen };
  } catch (err) {
    return { ...summary(err.result || {}), changes_seen: changesSeen, fatal: errorJson(err) };
  }
}

function summary(result) {
  return {
    ok: result.ok,
    status: result.status,
    docs_read: result.docs_read,
    docs_written: result.docs_written,
    doc_write_failures: result.doc_write_failures,
    errors: (result.errors || []).map(errorJson),
    last_seq: result.last_seq,
  };
}

function syncLiveStart(cmd) {
  if (live) {
    throw new Error('a live sync is already running');
  }
  const state = { events: { change: 0, paused: 0, active: 0, denied: 0, error: 0 }, errors: [] };
  const sync = open(cmd.db).sync(open('remote'), {
    live: true,
    retry: true,
    batch_size: BATCH_SIZE,
  });
  for (const name of ['change', 'paused', 'active', 'denied', 'error']) {
    sync.on(name, (info) => {
      state.events[name] += 1;
      if ((name === 'paused' && info) || name === 'denied' || name === 'error') {
        state.errors.push({ event: name, ...errorJson(info) });
      }
    });
  }
  state.done = new Promise((resolve) => {
    sync.on('complete', (info) => resolve(info));
  });
  live = { sync, state };
  return { started: true };
}

async function syncLiveStop() {
  if (!live) {
    throw new Error('no live sync is running');
  }
  const { sync, state } = live;
  live = null;
  sync.cancel();
  const info = await state.done;
  return {
    events: state.events,
    errors: state.errors,
    push: info && info.push ? summary(info.push) : null,
    pull: info && info.pull ? summary(info.pull) : null,
  };
}

async function run(cmd) {
  switch (cmd.op) {
    case 'bulk_docs': {
      const rows = await open(cmd.db).bulkDocs(cmd.docs, { new_edits: cmd.new_edits !== false });
      return rows.map(resultRow);
    }
    case 'put':
      return resultRow(await open(cmd.db).put(cmd.doc));
    case 'get':
      try {
        return await open(cmd.db).get(cmd.id, cmd.opts || {});
      } catch (err) {
        return errorJson(err);
      }
    case 'replicate':
      return replicate(cmd);
    case 'sync_live_start':
      return syncLiveStart(cmd);
    case 'sync_live_status':
      return live ? { events: live.state.events, errors: live.state.errors } : null;
    case 'sync_live_stop':
      return syncLiveStop();
    case 'heads':
      return heads(open(cmd.db));
    case 'dump':
      return dump(open(cmd.db));
    case 'close':
      if (live) {
        await syncLiveStop();
      }
      for (const db of dbs.values()) {
        await db.close();
      }
      dbs.clear();
      return { closed: true };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

serveCommands(run);
