-- wrk script of the reader benchmark (bench/reader.bench.ts): POST /v1/features/lookup with
-- `batch` keys per request, drawn from 1..keyCount by `dist`:
--   cycle    `count` requests of uniform keys built up front, then sent in turn (few distinct
--            keys: the all-cached case; the load generator spends no time building them)
--   uniform  every request drawn afresh, uniform over 1..keyCount (a cache of part of the keys
--            is nearly useless)
--   zipf     every request drawn afresh, key rank k with probability ∝ 1/k (s = 1: a
--            recommender's hot users); ranks are scattered over the key space by a fixed
--            permutation, so hot keys are not neighbours
-- usage: wrk -t1 -c50 -d10s -s bench/reader-wrk.lua http://127.0.0.1:PORT -- \
--          <feature> <keyCount> <batch> <token> <count> <dist> [<api>]
-- api: ferry (default: POST /v1/features/lookup {"feature":…,"keys":[…]}) or feast (Feast's
-- feature server: POST /get-online-features {"features":[…],"entities":{"user_id":[…]}}, with
-- <feature> the comma-separated feature references and no token)
local requests = {}
local n = 0
local mode, keyCount, batch, prefix, suffix, headers, path
local cdf, total

local function uniform()
  return math.random(1, keyCount)
end

-- rank by inverting the cumulative sum of 1/k (binary search), then scattered
local function zipf()
  local u = math.random() * total
  local lo, hi = 1, keyCount
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cdf[mid] < u then lo = mid + 1 else hi = mid end
  end
  return ((lo - 1) * 999983) % keyCount + 1
end

local function body(pick)
  local keys = {}
  for j = 1, batch do keys[j] = string.format("%d", pick()) end
  return prefix .. table.concat(keys, ",") .. suffix
end

function init(args)
  local feature, token = args[1], args[4]
  keyCount, batch = tonumber(args[2]), tonumber(args[3])
  local count = tonumber(args[5] or "1000")
  mode = args[6] or "cycle"
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
  if (args[7] or "ferry") == "feast" then
    headers = { ["Content-Type"] = "application/json" }
    local refs = {}
    for ref in string.gmatch(feature, "[^,]+") do refs[#refs + 1] = '"' .. ref .. '"' end
    prefix = '{"features":[' .. table.concat(refs, ",") .. '],"entities":{"user_id":['
    suffix = ']}}'
    path = "/get-online-features"
  else
    headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
    prefix = '{"feature":"' .. feature .. '","keys":['
    suffix = ']}'
    path = "/v1/features/lookup"
  end
  if mode == "zipf" then
    cdf, total = {}, 0
    for k = 1, keyCount do
      total = total + 1 / k
      cdf[k] = total
    end
  end
  if mode == "cycle" then
    for i = 1, count do requests[i] = wrk.format("POST", path, headers, body(uniform)) end
  end
end

function request()
  if mode == "cycle" then
    n = n % #requests + 1
    return requests[n]
  end
  return wrk.format("POST", path, headers, body(mode == "zipf" and zipf or uniform))
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
