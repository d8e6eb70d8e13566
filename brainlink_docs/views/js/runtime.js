// The query-server runtime, evaluated once into every design document's QuickJS context.
//
// It restates CouchDB 3.5's share/server/{util,views,state}.js and couchjs's sandbox for
// one design document (our own code; the facts are CouchDB's):
// - globals a design function sees: emit, log, sum, toJSON, isArray, JSON and, in map
//   functions only, require (CommonJS modules from views.lib, resolved from the root
//   {views: {lib: lib}} as CouchDB's State.addFun does);
// - a map function that throws skips that document for that view and logs
//   "function raised exception <error> with doc._id <id>"; throwing 'fatal_error' or
//   ["fatal", error, reason] aborts the whole call, as does an InternalError;
// - documents are deep-frozen before mapping (CouchDB's recursivelySeal), so one view
//   cannot change what the next one sees;
// - functions compile in SpiderMonkey 1.8.5 mode (CouchDB patches QuickJS the same way): a
//   top-level anonymous `function (` is an expression, a named declaration is not.
// Python talks to it only through __couch.* with JSON strings in and out, one call per batch.

// Evaluates design-function source outside the runtime's closure, so user code sees globals
// only; `require` is a parameter so each map function gets its own, and reduce functions none.
function __compile(__source, require) {
  return eval(__source);
}

var __couch = (function (global) {
  "use strict";

  var logs = [];
  var emitted = [];
  var lib = null;
  var mapFuns = {};
  var reduceFuns = {};
  var batch = null;

  // CouchDB's QuickJS build leaves these out (JS_AddIntrinsic* in couchjs.c adds base
  // objects, eval, JSON, RegExp, Map/Set and Date only); a view that works here must work there.
  [
    "Promise", "Proxy", "WeakRef", "FinalizationRegistry", "Iterator", "queueMicrotask",
    "ArrayBuffer", "SharedArrayBuffer", "DataView", "Atomics", "Uint8ClampedArray", "Int8Array",
    "Uint8Array", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "BigInt64Array",
    "BigUint64Array", "Float16Array", "Float32Array", "Float64Array", "DisposableStack",
    "AsyncDisposableStack", "SuppressedError", "DOMException", "btoa", "atob", "performance",
  ].forEach(function (name) {
    delete global[name];
  });
  delete String.prototype.localeCompare;
  delete String.prototype.normalize;

  function log(message) {
    if (typeof message !== "string") {
      message = JSON.stringify(message);
    }
    logs.push(String(message));
  }

  function emit(key, value) {
    emitted.push([key, value]);
  }

  function sum(values) {
    var total = 0;
    for (var i in values) {
      total += values[i];
    }
    return total;
  }

  function isArray(obj) {
    return Object.prototype.toString.call(obj) === "[object Array]";
  }

  function describe(err) {
    try {
      return String(err);
    } catch (e) {
      return Object.prototype.toString.call(err);
    }
  }

  function isFatal(err) {
    return isArray(err) && err[0] === "fatal";
  }

  // CouchDB's handleViewError: most errors are logged and the row (or reduction) dropped.
  function handleViewError(err, doc) {
    if (err === "fatal_error") {
      throw ["fatal", "map_runtime_error", "function raised 'fatal_error'"];
    }
    // QuickJS throws null when it cannot even allocate the error (out of memory); CouchDB's
    // dispatch treats a null error as fatal too.
    if (err === null || isFatal(err) || err instanceof InternalError) {
      throw err;
    }
    var message = "function raised exception " + describe(err);
    if (doc) {
      message += " with doc._id " + doc._id;
    }
    log(message);
  }

  // ---- require: CouchDB's resolveModule, restated ----

  function noParent(mod) {
    return ["error", "invalid_require_path", "Object has no parent " + JSON.stringify(mod.current)];
  }

  function resolveModule(names, mod, root) {
    if (names.length === 0) {
      if (typeof mod.current !== "string") {
        throw ["error", "invalid_require_path",
          "Must require a JavaScript string, not: " + typeof mod.current];
      }
      return { current: mod.current, parent: mod.parent, id: mod.id, exports: {} };
    }
    var name = names.shift();
    if (name === "..") {
      if (!(mod.parent && mod.parent.parent)) throw noParent(mod);
      return resolveModule(names, {
        id: mod.id.slice(0, mod.id.lastIndexOf("/")),
        parent: mod.parent.parent,
        current: mod.parent.current,
      });
    }
    if (name === ".") {
      if (!mod.parent) throw noParent(mod);
      return resolveModule(names, { parent: mod.parent, current: mod.current, id: mod.id });
    }
    if (root) {
      mod = { current: root };
    }
    if (mod.current === null || mod.current === undefined || mod.current[name] === undefined) {
      throw ["error", "invalid_require_path",
        'Object has no property "' + name + '". ' + JSON.stringify(mod.current)];
    }
    return resolveModule(names, {
      current: mod.current[name],
      parent: mod,
      id: mod.id ? mod.id + "/" + name : name,
    });
  }

  // One require per function, with its own module cache, as CouchDB's compileFunction. Map
  // functions resolve from {views: {lib: lib}}; validate and filter functions from the design
  // document itself (CouchDB's State.addFun passes the ddoc for those).
  function makeRequire(root) {
    var cache = {};
    function require(name, module) {
      module = module || {};
      var found = resolveModule(String(name).split("/"), module.parent, root);
      if (!Object.prototype.hasOwnProperty.call(cache, found.id)) {
        cache[found.id] = {}; // an empty exports first stops circular requires recursing
        try {
          var factory = __compile(
            "(function (module, exports, require) { " + found.current + "\n })",
            undefined
          );
          factory.apply(global, [found, found.exports, function (inner) {
            return require(inner, found);
          }]);
        } catch (e) {
          throw ["error", "compilation_error",
            "Module require('" + name + "') raised error " + describe(e)];
        }
        cache[found.id] = found.exports;
      }
      return cache[found.id];
    }
    return function (name) {
      return require(name);
    };
  }

  // ---- compiling ----

  // A leading anonymous function (after comments and spaces) is an expression statement in
  // CouchDB's patched QuickJS; "0, " makes it one here, anything else evaluates as written.
  var ANONYMOUS = /^(?:\s|\/\/[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*(?:async\s+)?function\s*\(/;

  function compile(source, require) {
    var fun;
    try {
      fun = __compile(ANONYMOUS.test(source) ? "0, " + source : source, require);
    } catch (err) {
      return { error: describe(err) + " (" + source + ")" };
    }
    if (typeof fun !== "function") {
      return { error: "Expression does not eval to a function. (" + source + ")" };
    }
    return { fun: fun };
  }

  // Compiles every map and reduce source; answers {view: {map?: reason, reduce?: reason}}
  // for those that fail, so the caller can report the first as CouchDB does.
  function load(libJson, mapsJson, reducesJson) {
    lib = JSON.parse(libJson);
    var maps = JSON.parse(mapsJson);
    var reduces = JSON.parse(reducesJson);
    var failures = {};
    var name, compiled;
    for (name in maps) {
      compiled = compile(maps[name], makeRequire({ views: { lib: lib } }));
      if (compiled.error) (failures[name] = failures[name] || {}).map = compiled.error;
      else mapFuns[name] = compiled.fun;
    }
    for (name in reduces) {
      compiled = compile(reduces[name], undefined);
      if (compiled.error) (failures[name] = failures[name] || {}).reduce = compiled.error;
      else reduceFuns[name] = compiled.fun;
    }
    return JSON.stringify(failures);
  }

  function deepFreeze(root) {
    var stack = [root];
    while (stack.length) {
      var obj = stack.pop();
      Object.freeze(obj);
      for (var key in obj) {
        var value = obj[key];
        if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
          stack.push(value);
        }
      }
    }
  }

  // ---- map: one call per batch, resumable after a time-limit interrupt ----

  function mapStart(docsJson, viewsJson) {
    var names = JSON.parse(viewsJson);
    var funs = names.map(function (name) { return mapFuns[name]; });
    batch = { docs: JSON.parse(docsJson), funs: funs, out: [] };
    logs = [];
    return batch.docs.length;
  }

  function mapOne(doc, funs) {
    deepFreeze(doc);
    var parts = new Array(funs.length);
    for (var i = 0; i < funs.length; i++) {
      emitted = [];
      try {
        funs[i](doc);
        parts[i] = JSON.stringify(emitted);
      } catch (err) {
        handleViewError(err, doc);
        parts[i] = "[]";
      }
    }
    return "[" + parts.join(",") + "]";
  }

  // Maps from the first unmapped document on; a QuickJS interrupt (time limit) leaves the
  // finished documents in `batch.out`, so Python can call again and lose no work.
  function mapResume() {
    try {
      for (var i = batch.out.length; i < batch.docs.length; i++) {
        batch.out.push(mapOne(batch.docs[i], batch.funs));
      }
    } catch (err) {
      if (isFatal(err)) return fatal(err);
      throw err;
    }
    var result = flat(['{"rows":[', batch.out.join(","), '],"logs":', JSON.stringify(logs), "}"]);
    batch = null;
    return result;
  }

  function mapProgress() {
    return batch ? batch.out.length : -1;
  }

  // Strings returned to Python must be flat: quickjs-ng hands "+"-built long strings over as
  // ropes, which its Python binding cannot convert; Array.prototype.join builds a flat one.
  function flat(pieces) {
    return pieces.join("");
  }

  function fatal(err) {
    batch = null;
    return JSON.stringify({ fatal: [String(err[1]), String(err[2])], logs: logs });
  }

  // ---- reduce ----

  function reduce(name, inputJson, rereduce) {
    logs = [];
    var input = JSON.parse(inputJson);
    var keys = null;
    var values = input;
    if (!rereduce) {
      keys = new Array(input.length);
      values = new Array(input.length);
      for (var i = 0; i < input.length; i++) {
        keys[i] = input[i][0];
        values[i] = input[i][1];
      }
    }
    var result;
    try {
      result = reduceFuns[name](keys, values, rereduce);
    } catch (err) {
      try {
        handleViewError(err);
      } catch (fatalErr) {
        if (isFatal(fatalErr)) return fatal(fatalErr);
        throw fatalErr;
      }
      result = null;
    }
    // Stringified inside an array, as CouchDB's runReduce does: undefined becomes null.
    return flat(['{"values":', JSON.stringify([result]), ',"logs":', JSON.stringify(logs), "}"]);
  }


  // ---- validate_doc_update and filters: CouchDB's validate.js and filter.js ----

  var ddoc = null;
  var validateFun = null;
  var filterFuns = {};

  // Compiles the design document's validate_doc_update and filters; answers
  // {validate?: reason, filters: {name: reason}} for those that fail.
  function loadFunctions(ddocJson) {
    ddoc = JSON.parse(ddocJson);
    var failures = { filters: {} };
    var compiled;
    if (typeof ddoc.validate_doc_update === "string") {
      compiled = compile(ddoc.validate_doc_update, makeRequire(ddoc));
      if (compiled.error) failures.validate = compiled.error;
      else validateFun = compiled.fun;
    }
    var filters = ddoc.filters || {};
    for (var name in filters) {
      if (typeof filters[name] !== "string") continue;
      compiled = compile(filters[name], makeRequire(ddoc));
      if (compiled.error) failures.filters[name] = compiled.error;
      else filterFuns[name] = compiled.fun;
    }
    return JSON.stringify(failures);
  }

  // A process-kind failure (time limit, out of memory) must reach Python as it is.
  function isProcessFailure(err) {
    return err === null || err instanceof InternalError;
  }

  // validate.js: each [newDoc, oldDoc] pair is checked with the ddoc as `this`; the verdict
  // is 1 (valid), what the function threw, or {"$error": [name, message]} for a JavaScript
  // Error, which CouchDB's Validate.validate re-throws rather than responds with.
  function validate(casesJson, userCtxJson, secObjJson) {
    logs = [];
    var cases = JSON.parse(casesJson);
    var userCtx = JSON.parse(userCtxJson);
    var secObj = JSON.parse(secObjJson);
    var verdicts = new Array(cases.length);
    for (var i = 0; i < cases.length; i++) {
      try {
        validateFun.apply(ddoc, [cases[i][0], cases[i][1], userCtx, secObj]);
        verdicts[i] = 1;
      } catch (err) {
        if (isProcessFailure(err)) throw err;
        verdicts[i] = err && err.name && err.stack
          ? { $error: [String(err.name), String(err.message)] }
          : err === undefined ? null : err;
      }
    }
    return flat(['{"verdicts":', JSON.stringify(verdicts), ',"logs":', JSON.stringify(logs), "}"]);
  }

  // filter.js: a truthy answer passes; a throw fails the whole call, as it does CouchDB's.
  function filter(name, docsJson, reqJson) {
    logs = [];
    var docs = JSON.parse(docsJson);
    var req = JSON.parse(reqJson);
    var fun = filterFuns[name];
    var passes = new Array(docs.length);
    try {
      for (var i = 0; i < docs.length; i++) {
        passes[i] = fun.apply(ddoc, [docs[i], req]) ? true : false;
      }
    } catch (err) {
      if (isProcessFailure(err)) throw err;
      var error = err && err.name && err.stack
        ? [String(err.name), String(err.message)]
        : ["unknown_error", "unnamed_error"];
      return JSON.stringify({ error: error, logs: logs });
    }
    return flat(['{"passes":', JSON.stringify(passes), ',"logs":', JSON.stringify(logs), "}"]);
  }

  global.emit = emit;
  global.log = log;
  global.sum = sum;
  global.isArray = isArray;
  global.toJSON = function (value) {
    return JSON.stringify(value);
  };

  return {
    load: load,
    mapStart: mapStart,
    mapResume: mapResume,
    mapProgress: mapProgress,
    reduce: reduce,
    loadFunctions: loadFunctions,
    validate: validate,
    filter: filter,
  };
})(globalThis);
