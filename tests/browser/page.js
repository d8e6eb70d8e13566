'use strict';
// The page the browser tests drive: PouchDB (IndexedDB adapter) on this page's origin, talking
// to the database server on another origin, as a Brainlink web app would.
//
// The driver calls window.api.call(fn, args) through page.evaluate; every function returns
// plain JSON. A page holds named databases, each a local IndexedDB database paired with its
// remote on the server (its fetch sends the session cookie, or a JWT bearer token instead).
// "which" names a side: "local" or "remote".
(function () {
  // A single request to our server answers in milliseconds; this only bounds a stall.
  const REQUEST_TIMEOUT_MS = 10000;
  let server = null;
  const dbs = new Map();

  function bytesOf(b64) {
    const raw = atob(b64);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes;
  }

  function base64Of(bytes) {
    let raw = '';
    for (let i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw);
  }

  function errorJson(err) {
    return {
      error: err.name || err.error || 'error',
      status: err.status,
      reason: err.reason || err.message,
    };
  }

  // The remote's fetch: {kind: "cookie"} sends the session cookie (a cross-origin request
  // carries it only with credentials "include"); {kind: "authorization", value: "Bearer ..."}
  // sends that header instead, and no cookie at all.
  function remoteFetch(auth) {
    if (auth.kind === 'cookie') {
      return (url, opts) => {
        opts.credentials = 'include';
        return PouchDB.fetch(url, opts);
      };
    }
    if (auth.kind === 'authorization') {
      return (url, opts) => {
        opts.credentials = 'omit';
        opts.headers.set('Authorization', auth.value);
        return PouchDB.fetch(url, opts);
      };
    }
    throw new Error(`unknown auth kind ${auth.kind}`);
  }

  function entry(name) {
    const found = dbs.get(name);
    if (!found) {
      throw new Error(`no database ${name}`);
    }
    return found;
  }

  function side(name, which) {
    const found = entry(name);
    if (which !== 'local' && which !== 'remote') {
      throw new Error(`side must be local or remote, not ${which}`);
    }
    return found[which];
  }

  async function winners(db) {
    const changes = await db.changes({ since: 0, style: 'main_only' });
    const out = {};
    for (const row of changes.results) {
      out[row.id] = [row.changes[0].rev, Boolean(row.deleted)];
    }
    return out;
  }

  async function fetchJson(method, path, body, headers, credentials, signal) {
    const init = { method, headers: { ...headers }, credentials, signal };
    if (body !== undefined) {
      init.body = typeof body === 'string' ? body : JSON.stringify(body);
      if (!Object.keys(init.headers).some((h) => h.toLowerCase() === 'content-type')) {
        init.headers['Content-Type'] = 'application/json';
      }
    }
    const response = await fetch(server + path, init);
    const out = { status: response.status, headers: {}, text: await response.text() };
    response.headers.forEach((value, key) => {
      out.headers[key] = value;
    });
    return out;
  }

  const handlers = {
    configure(serverUrl) {
      server = serverUrl.replace(/\/$/, '');
      return { server, origin: location.origin };
    },

    // One fetch to the server, as the app would make it; a network or CORS failure is
    // returned (fetch rejects with a TypeError that says nothing more), not thrown. A request
    // with no answer in REQUEST_TIMEOUT_MS is aborted: a 401 carrying "WWW-Authenticate: Basic"
    // makes a browser wait for its login dialog, which a headless one never shows.
    async request({ method = 'GET', path, body, headers = {}, credentials = 'include' }) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
      try {
        return await fetchJson(method, path, body, headers, credentials, abort.signal);
      } catch (err) {
        const stalled = abort.signal.aborted ? ' (no answer: a basic-auth challenge?)' : '';
        return { error: `${err.name}: ${err.message}${stalled}` };
      } finally {
        clearTimeout(timer);
      }
    },

    documentCookie() {
      return document.cookie;
    },

    openDb(name, remotePath, auth) {
      if (dbs.has(name)) {
        throw new Error(`database ${name} is already open`);
      }
      const local = new PouchDB(`local-${name}`, { adapter: 'indexeddb' });
      const remote = new PouchDB(server + remotePath, {
        fetch: remoteFetch(auth),
        skip_setup: true,
      });
      dbs.set(name, { local, remote, live: null });
      return { local: local.adapter, remote: remote.adapter };
    },

    startSync(name) {
      const found = entry(name);
      if (found.live) {
        throw new Error(`${name} is already syncing`);
      }
      const state = {
        events: { change: 0, paused: 0, active: 0, denied: 0, error: 0 },
        pushed: 0,
        pulled: 0,
        errors: [],
      };
      const sync = found.local.sync(found.remote, { live: true, retry: true });
      sync.on('change', (info) => {
        state.events.change += 1;
        const count = (info.change && info.change.docs && info.change.docs.length) || 0;
        if (info.direction === 'push') {
          state.pushed += count;
        } else {
          state.pulled += count;
        }
      });
      for (const event of ['paused', 'active', 'denied', 'error']) {
        sync.on(event, (info) => {
          state.events[event] += 1;
          if ((event === 'paused' && info) || event === 'denied' || event === 'error') {
            state.errors.push({ event, ...errorJson(info || {}) });
          }
        });
      }
      const done = new Promise((resolve) => sync.on('complete', resolve));
      found.live = { sync, state, done };
      return { started: name };
    },

    syncState(name) {
      const found = entry(name);
      return found.live ? found.live.state : null;
    },

    async stopSync(name) {
      const found = entry(name);
      if (!found.live) {
        throw new Error(`${name} is not syncing`);
      }
      const { sync, state, done } = found.live;
      found.live = null;
      sync.cancel();
      await done;
      return state;
    },

    // A one-shot replication, "pull" or "push"; a refused one returns its error.
    async replicate(name, direction) {
      const { local, remote } = entry(name);
      const [source, target] = direction === 'pull' ? [remote, local] : [local, remote];
      try {
        const result = await PouchDB.replicate(source, target);
        return { ok: result.ok, docs_written: result.docs_written, errors: result.errors };
      } catch (err) {
        return errorJson(err);
      }
    },

    async bulkDocs(name, which, docs, newEdits = true) {
      const rows = await side(name, which).bulkDocs(docs, { new_edits: newEdits });
      return rows.map((row) => (row.error ? errorJson(row) : { id: row.id, rev: row.rev }));
    },

    async put(name, which, doc) {
      const row = await side(name, which).put(doc);
      return { id: row.id, rev: row.rev };
    },

    async remove(name, which, id, rev) {
      const row = await side(name, which).remove(id, rev);
      return { id: row.id, rev: row.rev };
    },

    async get(name, which, id, opts = {}) {
      try {
        return await side(name, which).get(id, opts);
      } catch (err) {
        return errorJson(err);
      }
    },

    // A binary attachment from a Blob, as a file picked in the page would be stored.
    async putAttachment(name, which, id, rev, attName, b64, type) {
      const blob = new Blob([bytesOf(b64)], { type });
      const row = await side(name, which).putAttachment(id, attName, rev, blob, type);
      return { id: row.id, rev: row.rev };
    },

    async getAttachment(name, which, id, attName) {
      const blob = await side(name, which).getAttachment(id, attName);
      return { type: blob.type, data: base64Of(new Uint8Array(await blob.arrayBuffer())) };
    },

    // Every document as {winner, deleted, conflicts, leaves: {rev: leaf}}: the winner from
    // _changes, _conflicts from a conflicts=true read of a live winner, every leaf of
    // open_revs=all read with revs=true (its _revisions) and attachments=true (base64 data);
    // null when a document changed between those reads.
    async dump(name, which) {
      const db = side(name, which);
      const heads = await winners(db);
      const out = {};
      for (const id of Object.keys(heads).sort()) {
        const [winner, deleted] = heads[id];
        const leaves = {};
        for (const leaf of await db.get(id, { open_revs: 'all', revs: true, attachments: true })) {
          if (leaf.ok) {
            leaves[leaf.ok._rev] = leaf.ok;
          } else {
            leaves[leaf.missing] = { missing: true };
          }
        }
        let conflicts = null;
        if (!deleted) {
          const doc = await db.get(id, { conflicts: true });
          if (doc._rev !== winner) {
            return null; // written to while read (the live sync goes on): read again
          }
          conflicts = doc._conflicts || [];
        }
        out[id] = { winner, deleted, conflicts, leaves };
      }
      return out;
    },
  };

  window.api = {
    ready: typeof PouchDB === 'function' && PouchDB.adapters.indexeddb !== undefined,
    async call(fn, args) {
      const handler = handlers[fn];
      if (!handler) {
        throw new Error(`unknown function ${fn}`);
      }
      const result = await handler(...args);
      return result === undefined ? null : result;
    },
  };
})();
