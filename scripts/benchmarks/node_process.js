/**
 * What the Node benchmark workers report about their own process.
 */
'use strict';

const fs = require('fs');

/** This process's peak resident set size in bytes (VmHWM; Linux), or null. */
function peakRssBytes() {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch (err) {
    return null;
  }
}

module.exports = { peakRssBytes };
