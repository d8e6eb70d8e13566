#!/usr/bin/env node
/*
 * PouchDB's side of the views benchmark (scripts/benchmarks/views.py), the twin of
 * views_ours.py: the plan's phases against a new LevelDB PouchDB (leveldown, in DB_DIR), with
 * PouchDB's own map/reduce (db.query on a persisted design document) and pouchdb-find
 * (db.createIndex, db.find), in this process alone so its peak RSS (VmHWM) is PouchDB's.
 *
 *   node pouchdb_views.js PLAN DB_DIR
 *
 * Phases (views_workload.py writes the plan): write (the design document, then each batch in one
 * bulkDocs), build (the first query of each view), incremental (the edits written untimed, then
 * the next query of each view timed), keyed, range (with include_docs), reduce (group=true),
 * find. Each timing covers the PouchDB calls alone. Answers come back raw and compact for
 * views_report.py to judge, as views_ours.py's do. Prints one JSON object on stdout; a phase
 * that fails is {"error": ...} in its place; a crash is {"error": ...} and exit status 1.
 */
'use strict';

const fs = require('fs');
const readline = require('readline');
const PouchDB = require('pouchdb');
const { peakRssBytes } = require('./node_process');
PouchDB.plugin(require('pouchdb-find'));

/** Milliseconds since `t0` (a process.hrtime.bigint() reading). */
function msSince(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

class Run {
  constructor(plan, db) {
    this.plan = plan;
    this.db = db;
    this.ddoc = plan.ddoc;
    this.edits = JSON.parse(fs.readFileSync(plan.edits, 'utf8'));
    this.editIds = new Set(this.edits.map((doc) => doc._id));
    this.revs = new Map();
  }

  async write() {
    await this.db.put(this.plan.design_doc);
    let ms = 0;
    let docs = 0;
    const failed = [];
    const lines = readline.createInterface({ input: fs.createReadStream(this.plan.workload) });
    for await (const line of lines) {
      if (!line.trim()) continue;
      const batch = JSON.parse(line);
      const t0 = process.hrtime.bigint();
      const results = await this.db.bulkDocs(batch);
      ms += msSince(t0);
      docs += results.length;
      for (const r of results) {
        if (r.error) {
          if (failed.length < 5) failed.push(r.id);
        } else if (this.editIds.has(r.id)) {
          this.revs.set(r.id, r.rev);
        }
      }
    }
    return { docs, seconds: ms / 1000, failed };
  }

  /** The first row of each view (each brought up to date first): their total_rows. */
  async bothViews() {
    const keyed = await this.db.query(`${this.ddoc}/by_chat`, { limit: 1 });
    const tokens = await this.db.query(`${this.ddoc}/tokens`, { reduce: false, limit: 1 });
    return [keyed.total_rows, tokens.total_rows];
  }

  /** The _sum of every row: the check that the edits reached the index (not timed). */
  async tokensSum() {
    const total = await this.db.query(`${this.ddoc}/tokens`);
    return total.rows.length ? total.rows[0].value : null;
  }

  async build() {
    const t0 = process.hrtime.bigint();
    const totalRows = await this.bothViews();
    return { seconds: msSince(t0) / 1000, total_rows: totalRows };
  }

  async incremental() {
    const docs = this.edits.map((doc) => ({ ...doc, _rev: this.revs.get(doc._id) }));
    const results = await this.db.bulkDocs(docs);
    const t0 = process.hrtime.bigint();
    const totalRows = await this.bothViews();
    const seconds = msSince(t0) / 1000;
    const failed = results.filter((r) => r.error).map((r) => r.id).slice(0, 5);
    const sum = await this.tokensSum();
    return { seconds, edited: results.length, failed, total_rows: totalRows, tokens_sum: sum };
  }

  async keyed(chatsKey, limitKey, includeDocs) {
    const latencies = [];
    const answers = [];
    const limit = this.plan[limitKey];
    for (const chat of this.plan[chatsKey]) {
      const opts = { startkey: [chat], endkey: [chat, {}], limit, include_docs: includeDocs };
      const t0 = process.hrtime.bigint();
      const page = await this.db.query(`${this.ddoc}/by_chat`, opts);
      latencies.push(msSince(t0));
      const mine = page.rows.filter((row) => belongs(row, chat, includeDocs)).length;
      answers.push([page.rows.length, mine]);
    }
    return { latencies_ms: latencies, answers };
  }

  async reduce() {
    const seconds = [];
    let rows = [];
    for (let i = 0; i < this.plan.reduce_repeats; i++) {
      const t0 = process.hrtime.bigint();
      const page = await this.db.query(`${this.ddoc}/tokens`, { group: true });
      seconds.push(msSince(t0) / 1000);
      rows = page.rows.map((row) => [row.key, row.value]);
    }
    return { runs_seconds: seconds, rows };
  }

  async find() {
    const limit = this.plan.find_limit;
    const t0 = process.hrtime.bigint();
    await this.db.createIndex(this.plan.find_index);
    await this.db.find({ selector: { chat_id: this.plan.find_chats[0] }, limit });
    const indexSeconds = msSince(t0) / 1000;
    const latencies = [];
    const answers = [];
    for (const chat of this.plan.find_chats) {
      const t1 = process.hrtime.bigint();
      const { docs } = await this.db.find({ selector: { chat_id: chat }, limit });
      latencies.push(msSince(t1));
      answers.push([docs.length, docs.filter((doc) => doc.chat_id === chat).length]);
    }
    return { index_seconds: indexSeconds, latencies_ms: latencies, answers };
  }
}

/** A row of `chat`'s range, with (when asked for) its own document of that chat. */
function belongs(row, chat, includeDocs) {
  if (row.key[0] !== chat) return false;
  if (!includeDocs) return true;
  return Boolean(row.doc) && row.doc._id === row.id && row.doc.chat_id === chat;
}

async function phase(name, run) {
  try {
    return await run();
  } catch (err) {
    return { error: `${name}: ${String((err && err.stack) || err)}` };
  }
}

async function main(argv) {
  const [planFile, dir] = argv;
  const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const db = new PouchDB(dir);
  const run = new Run(plan, db);
  const phases = {
    write: () => run.write(),
    build: () => run.build(),
    incremental: () => run.incremental(),
    keyed: () => run.keyed('keyed_chats', 'keyed_limit', false),
    range: () => run.keyed('range_chats', 'range_limit', true),
    reduce: () => run.reduce(),
    find: () => run.find(),
  };
  const out = {};
  try {
    for (const name of plan.phases) {
      out[name] = await phase(name, phases[name]);
      if (name === 'write' && out[name].error) break;
    }
  } finally {
    await db.close();
  }
  out.peak_rss_bytes = peakRssBytes();
  out.pouchdb_version = require('pouchdb/package.json').version;
  out.pouchdb_find_version = require('pouchdb-find/package.json').version;
  return out;
}

main(process.argv.slice(2)).then(
  (out) => {
    // Exit only once the line is written: a pipe takes 64 KiB at a time, and exiting at once
    // would cut a longer answer (1,000 latencies a row) short.
    process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0));
  },
  (err) => {
    process.stdout.write(JSON.stringify({ error: String((err && err.stack) || err) }) + '\n');
    process.exit(1);
  },
);
