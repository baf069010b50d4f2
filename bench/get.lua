-- GET /api/v1/kv/bench/<nnnnnnnnnn> over the keys the benchmark seeded (KV_BENCH_KEYS of them),
-- each request a different key so no cache of one hot key flatters the result.
local common = require("common")
local counter = 0

setup = common.number_thread

function init(args)
  keys = tonumber(os.getenv("KV_BENCH_KEYS") or "1000")
  common.send_token()
end

function request()
  counter = counter + 1
  local n = (counter * 7919 + tid * 104729) % keys
  return wrk.format("GET", string.format("/api/v1/kv/bench/%010d", n))
end
