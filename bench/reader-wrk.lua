-- wrk script of the reader benchmark (bench/reader.bench.ts): POST /v1/features/lookup with
-- random keys 1..keyCount, `batch` keys per request, `count` requests built up front per thread
-- (so the load generator spends no time building them).
-- usage: wrk -t1 -c50 -d10s -s bench/reader-wrk.lua http://127.0.0.1:PORT -- <feature> <keyCount> <batch> <token> <count>
local requests = {}
local n = 0

function init(args)
  local feature, keyCount, batch, token = args[1], tonumber(args[2]), tonumber(args[3]), args[4]
  local count = tonumber(args[5] or "1000")
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
  for i = 1, count do
    local keys = {}
    for j = 1, batch do keys[j] = tostring(math.random(1, keyCount)) end
    local body = '{"feature":"' .. feature .. '","keys":[' .. table.concat(keys, ",") .. ']}'
    requests[i] = wrk.format("POST", "/v1/features/lookup", headers, body)
  end
end

function request()
  n = n % #requests + 1
  return requests[n]
end

function done(summary, latency, _)
  local s = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"seconds":%.3f,"rps":%.1f,"p50_us":%d,"p99_us":%d,"p999_us":%d,"max_us":%d,' ..
      '"socket_errors":%d,"non2xx":%d}\n',
    summary.requests, s, summary.requests / s, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
