-- wrk script of bench/run.sh: counts non-2xx responses (over all threads) and prints
--   RESULT <req_per_s> <p50_ms> <p99_ms> <non2xx> <requests> <socket_errors>
-- With KEYS_FILE set, each request sends "Authorization: Token <key>" with the keys of
-- that file (one per line) in turn, so many distinct tokens are exercised.
local threads = {}
local keys = nil

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  local file = os.getenv("KEYS_FILE")
  if file and file ~= "" then
    keys = {}
    for line in io.lines(file) do table.insert(keys, line) end
    index = math.random(#keys)
  end
end

function request()
  if keys then
    index = index % #keys + 1
    return wrk.format(nil, nil, { ["Authorization"] = "Token " .. keys[index] })
  end
  return wrk.format()
end

function response(status, headers, body)
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + (t:get("non2xx") or 0) end
  local e = summary.errors
  io.write(string.format("RESULT %.1f %.2f %.2f %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000.0, latency:percentile(99) / 1000.0,
    n, summary.requests, e.connect + e.read + e.write + e.timeout))
end
