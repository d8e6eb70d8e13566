// The other half of tests/node_driver.py: read one JSON command per stdin line, answer each
// with one JSON line ({ok: true, result} or {ok: false, error, stack}), stop after "close".
'use strict';

const readline = require('readline');

function reply(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function serveCommands(run, onExit = async () => {}) {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) {
      continue;
    }
    let cmd;
    try {
      cmd = JSON.parse(line);
      reply({ ok: true, result: await run(cmd) });
    } catch (err) {
      reply({ ok: false, error: `${err.name || 'Error'}: ${err.message}`, stack: err.stack });
    }
    if (cmd && cmd.op === 'close') {
      break;
    }
  }
  await onExit();
  process.exit(0);
}

module.exports = { serveCommands };
