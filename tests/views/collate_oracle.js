'use strict';
// pouchdb-collate as a differential oracle for brainlink_docs.views.collation.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout, so a single
// long-lived process serves every hypothesis example.
//   request: {"keys": [k0, k1, ...]}
//   reply:   {"order": [i, j, ...]}   the keys' indexes sorted by collate (stable: ties keep
//                                     their request order), and by toIndexableString, which
//                                     PouchDB's map/reduce stores and compares as strings
//            {"indexable_order": [...]}
//   or       {"error": "..."}

const readline = require('node:readline');
const { collate, toIndexableString } = require('pouchdb-collate');

function order(keys, compare) {
  return keys.map((_, i) => i).sort((i, j) => compare(keys[i], keys[j]) || i - j);
}

function byIndexableString(a, b) {
  const x = toIndexableString(a);
  const y = toIndexableString(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let reply;
  try {
    const { keys } = JSON.parse(line);
    reply = { order: order(keys, collate), indexable_order: order(keys, byIndexableString) };
  } catch (err) {
    reply = { error: String(err && err.stack ? err.stack : err) };
  }
  process.stdout.write(JSON.stringify(reply) + '\n');
});
