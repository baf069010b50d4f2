-- GET /api/v1/kv/bench/<nnnnnnnnnn> over the keys the benchmark seeded (KV_BENCH_KEYS of them),
-- each request a different key so no cache of one hot key flatters the result. With
-- KV_BENCH_REVISION set, every read is at that past revision (?revision=R).
local common = require("common")
local counter = 0

setup = common.number_thread

function init(args)
  keys = tonumber(os.getenv("KV_BENCH_KEYS") or "1000")
  local revision = os.getenv("KV_BENCH_REVISION")
  query = (revision and revision ~= "") and ("?revision=" .. revision) or ""
  common.send_token()
end

function request()
  counter = counter + 1
  local n = (counter * 7919 + tid * 104729) % keys
  return wrk.format("GET", string.format("/api/v1/kv/bench/%010d%s", n, query))
end
