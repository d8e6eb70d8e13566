'use strict';
// Headless Chromium (the system's, through npm playwright-core) driven from the Python browser
// tests.
//
// Usage: node browser_driver.js CHROMIUM_PATH
//
// Protocol: one JSON command per line on stdin, one JSON reply per line on stdout, in order.
// Every reply is {"ok": true, "result": ...} or {"ok": false, "error": "...", "stack": "..."}.
// A command names a page ("alice", "bob", ...); each page lives in its own browser context, so
// its cookies and IndexedDB are its own, as two people's browsers are.
//
//   {op: "open", page, url}          -> opens url in a new context, waits for window.api.ready
//   {op: "call", page, fn, args}     -> await window.api[fn](...args) in that page, its result
//   {op: "close_page", page}         -> closes the page's context
//   {op: "close"}                    -> closes the browser, then exits
//
// stdout carries only replies. stderr gets the browser's console, page errors, and every
// request to another origin than the page's with its status (or failure), which is what shows a
// missing CORS header or cookie when a test fails.

const { serveCommands } = require('../json_lines.js');
const { chromium } = require('playwright-core');

const [executablePath] = process.argv.slice(2);
if (!executablePath) {
  process.stderr.write('usage: node browser_driver.js CHROMIUM_PATH\n');
  process.exit(2);
}

// Without these, Chromium (running as root, hence no sandbox) spends its time calling home on a
// machine with no way out: component updates, sync, field trials, QUIC probes.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];
// How long a page may take to load the PouchDB bundles and say it is ready.
const READY_TIMEOUT_MS = 15000;

let browser = null;
const pages = new Map();

function log(...parts) {
  process.stderr.write(`[${new Date().toISOString()}] ${parts.join(' ')}\n`);
}

async function openPage(name, url) {
  if (pages.has(name)) {
    throw new Error(`page ${name} is already open`);
  }
  if (!browser) {
    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true });
  }
  const context = await browser.newContext();
  const page = await context.newPage();
  const origin = new URL(url).origin;
  page.on('console', (msg) => log(`${name} console.${msg.type()}:`, msg.text()));
  page.on('pageerror', (err) => log(`${name} pageerror:`, err.stack || String(err)));
  page.on('requestfailed', (req) =>
    log(`${name} FAILED ${req.method()} ${req.url()}:`, (req.failure() || {}).errorText),
  );
  page.on('response', (res) => {
    const req = res.request();
    if (new URL(req.url()).origin !== origin) {
      log(`${name} ${req.method()} ${req.url()} -> ${res.status()}`);
    }
  });
  pages.set(name, { context, page });
  await page.goto(url);
  await page.waitForFunction(() => window.api && window.api.ready === true, null, {
    timeout: READY_TIMEOUT_MS,
  });
  return { opened: name, userAgent: await page.evaluate(() => navigator.userAgent) };
}

function pageOf(name) {
  const entry = pages.get(name);
  if (!entry) {
    throw new Error(`no page ${name}`);
  }
  return entry.page;
}

async function callPage(name, fn, args) {
  return pageOf(name).evaluate(([fn, args]) => window.api.call(fn, args), [fn, args || []]);
}

async function closePage(name) {
  const entry = pages.get(name);
  if (entry) {
    pages.delete(name);
    await entry.context.close();
  }
  return { closed: name };
}

async function run(cmd) {
  switch (cmd.op) {
    case 'open':
      return openPage(cmd.page, cmd.url);
    case 'call':
      return callPage(cmd.page, cmd.fn, cmd.args);
    case 'close_page':
      return closePage(cmd.page);
    case 'close':
      for (const name of [...pages.keys()]) {
        await closePage(name);
      }
      if (browser) {
        await browser.close();
        browser = null;
      }
      return { closed: true };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

serveCommands(run, async () => {
  if (browser) {
    await browser.close();
  }
});
