'use strict';
// PouchDB's own merge algorithm as a differential oracle for brainlink_docs.revs.
//
// Protocol: one JSON request per line on stdin, one JSON reply per line on stdout, so a single
// long-lived process serves every hypothesis example.
//   request: {"revs_limit": N, "steps": [{"revs": ["3-c", "2-b", "1-a"], "deleted": false}, ...]}
//            (each step is a path, leaf first, as CouchDB's _revisions lists it)
//   reply:   {"states": [{"winner", "leaves": [{"rev", "deleted"}], "conflicts", "revs"}, ...]}
//            (one state per step, after merge(tree, path, revs_limit))
//   or       {"error": "..."}
//
// Each path becomes a single-branch rev tree exactly as pouchdb-adapter-utils builds one from a
// document's _revisions with new_edits=false (makeRevTreeFromRevisions): the leaf carries
// {status: 'available'} plus deleted: true for a deletion, every ancestor {status: 'missing'}.

const readline = require('node:readline');
const {
  merge,
  winningRev,
  collectLeaves,
  collectConflicts,
  rootToLeaf,
} = require('pouchdb-merge');

function splitRev(rev) {
  const dash = rev.indexOf('-');
  return { pos: parseInt(rev.slice(0, dash), 10), id: rev.slice(dash + 1) };
}

function pathToRevTree(revs, deleted) {
  const opts = { status: 'available' };
  if (deleted) {
    opts.deleted = true;
  }
  let ids = [splitRev(revs[0]).id, opts, []];
  for (let i = 1; i < revs.length; i++) {
    ids = [splitRev(revs[i]).id, { status: 'missing' }, [ids]];
  }
  return { pos: splitRev(revs[revs.length - 1]).pos, ids };
}

function summarize(tree) {
  const metadata = { rev_tree: tree };
  const revs = new Set();
  for (const path of rootToLeaf(tree)) {
    path.ids.forEach((node, i) => revs.add(`${path.pos + i}-${node.id}`));
  }
  return {
    winner: winningRev(metadata),
    leaves: collectLeaves(tree).map((leaf) => ({ rev: leaf.rev, deleted: !!leaf.opts.deleted })),
    conflicts: collectConflicts(metadata),
    revs: [...revs].sort(),
  };
}

function run(request) {
  let tree = [];
  const states = [];
  for (const step of request.steps) {
    tree = merge(tree, pathToRevTree(step.revs, step.deleted), request.revs_limit).tree;
    states.push(summarize(tree));
  }
  return { states };
}

const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
lines.on('line', (line) => {
  let reply;
  try {
    reply = run(JSON.parse(line));
  } catch (err) {
    reply = { error: String((err && err.stack) || err) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
});
