--[[
The wrk side of the `_session` login rows of scripts/bench --auth (scripts/bench_server.py runs it).

  wrk -t1 -cN -dS -s scripts/bench_auth.lua URL -- post PATH BODY_FILE CONTENT_TYPE

post: every request is the same POST of BODY_FILE's bytes to PATH with CONTENT_TYPE (a
      `{"name": ..., "password": ...}` login), built once per thread. No Authorization header
      (wrk adds only the -H headers given, and scripts/bench gives none for this mode), so each
      request is a login, not a request by someone already logged in. wrk counts an answer of 400
      or more (a refused login) in errors.status.

Ends with one line "BENCH_JSON {...}" on stdout in bench_server.lua's shape: requests, duration,
bytes, socket errors and latency percentiles in microseconds.
]]

local request_text

function init(args)
  if args[1] ~= "post" then
    error("mode must be post, not " .. tostring(args[1]))
  end
  local file = assert(io.open(args[3], "rb"))
  local body = file:read("*a")
  file:close()
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  headers["Content-Type"] = args[4]
  request_text = wrk.format("POST", args[2], headers, body)
end

function request()
  return request_text
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_JSON {\"requests\":%d,\"duration_us\":%d,\"bytes\":%d,"
      .. "\"errors\":{\"connect\":%d,\"read\":%d,\"write\":%d,\"status\":%d,\"timeout\":%d},"
      .. "\"latency_us\":{\"mean\":%.1f,\"p50\":%d,\"p90\":%d,\"p99\":%d,\"p999\":%d,\"max\":%d}}\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
