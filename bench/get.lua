-- GET /api/v1/kv/bench/<nnnnnnnnnn> over the keys the benchmark seeded (KV_BENCH_KEYS of them),
-- each request a different key so no cache of one hot key flatters the result.
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  keys = tonumber(os.getenv("KV_BENCH_KEYS") or "1000")
  token = os.getenv("KV_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  counter = counter + 1
  local n = (counter * 7919 + tid * 104729) % keys
  return wrk.format("GET", string.format("/api/v1/kv/bench/%010d", n))
end
