--[[
The wrk side of scripts/bench's server benchmark (scripts/bench_server.py runs it).

  wrk -t1 -cN -dS -H "Authorization: ..." -s scripts/bench_server.lua URL -- get PATHS_FILE
  wrk -t1 -cN -dS -H "Authorization: ..." -s scripts/bench_server.lua URL -- put DOCS_FILE DB THREADS

get: each request is a GET of a path picked uniformly at random from PATHS_FILE (one path a
     line; a file of one "/_up" line measures the generator's ceiling).
put: DOCS_FILE has one document a line, "id<TAB>rev<TAB>body" where body is the document's
     JSON object without its opening brace. Each request updates one document with the rev the
     server returned for it last (the rev from DOCS_FILE the first time). A document is never
     in flight twice: documents wait in a FIFO queue, leave it when a request is written and
     come back when its 201 arrives, so no request can conflict. wrk does not say which
     connection a response belongs to, so documents are not tied to one connection; with as
     many documents as connections times PUT_POOL_PER_CLIENT in the file, the queue never
     empties. With several wrk threads, thread i of THREADS takes every THREADS-th document.
     A non-201 answer (none is expected) is counted in "failed" and its document sits out the
     rest of the run, since the answer does not say which document it was.

Both modes end with one line "BENCH_JSON {...}" on stdout: requests, duration, latency
percentiles in microseconds, socket errors and, for put, 201s, other statuses and starvation.
]]

local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread runs its own Lua state).
local paths = {}
local ids, revs, bodies, slot_of = {}, {}, {}, {}
local queue, head, tail = {}, 1, 0
local db_path, put_headers
-- wrk calls request() once on thread 0 before the run to check the script; that call must not
-- take a document out of the queue for good.
local verifying = false
created, failed, starved, unknown = 0, 0, 0, 0

local function push(i)
  tail = tail + 1
  queue[tail] = i
end

local function pop()
  if head > tail then
    return nil
  end
  local i = queue[head]
  queue[head] = nil
  head = head + 1
  return i
end

local function get_request()
  return wrk.format(nil, paths[math.random(#paths)])
end

local function put_request()
  local i = pop()
  if i == nil then
    -- Every document is in flight or was lost to an error: create a new one instead.
    starved = starved + 1
    return wrk.format("PUT", db_path .. "starved-" .. index .. "-" .. starved, put_headers, "{}")
  end
  if verifying then
    verifying = false
    push(i)
  end
  local body = "{\"_rev\":\"" .. revs[i] .. "\"," .. bodies[i]
  return wrk.format("PUT", db_path .. ids[i], put_headers, body)
end

local function put_response(status, headers, body)
  if status ~= 201 then
    failed = failed + 1
    return
  end
  created = created + 1
  local i = slot_of[body:match("\"id\":\"([^\"]*)\"")]
  if i == nil then
    unknown = unknown + 1
    return
  end
  revs[i] = body:match("\"rev\":\"([^\"]*)\"")
  push(i)
end

function init(args)
  local mode = args[1]
  math.randomseed(20240601 + index)
  if mode == "get" then
    for line in io.lines(args[2]) do
      paths[#paths + 1] = line
    end
    request = get_request
    response = nil
    return
  end
  if mode ~= "put" then
    error("mode must be get or put, not " .. tostring(mode))
  end
  db_path = "/" .. args[3] .. "/"
  local nthreads = tonumber(args[4])
  local n = 0
  for line in io.lines(args[2]) do
    if n % nthreads == index then
      local id, rev, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      local i = #ids + 1
      ids[i], revs[i], bodies[i], slot_of[id] = id, rev, body, i
      push(i)
    end
    n = n + 1
  end
  put_headers = {}
  for name, value in pairs(wrk.headers) do
    put_headers[name] = value
  end
  put_headers["Content-Type"] = "application/json"
  verifying = index == 0
  request = put_request
  response = put_response
end

function done(summary, latency, requests)
  local put = { created = 0, failed = 0, starved = 0, unknown = 0 }
  for _, thread in ipairs(threads) do
    for name in pairs(put) do
      put[name] = put[name] + (thread:get(name) or 0)
    end
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,"
      .. "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d},"
      .. "\"latency_us\":{\"mean\":%.1f,\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d},"
      .. "\"put\":{\"created\":%d,\"failed\":%d,\"starved\":%d,\"unknown\":%d}}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max,
    put.created, put.failed, put.starved, put.unknown))
end
