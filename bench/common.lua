-- What every benchmark script shares (found through LUA_PATH, which bench/load.py sets):
-- a number per wrk thread, so each thread makes its own keys, and the token if one is set.
local common = {}
local threads = 0

function common.number_thread(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function common.send_token()
  local token = os.getenv("KV_TOKEN")
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

-- init() for scripts that write JSON bodies under KV_BENCH_PREFIX (or ``default``): sets the
-- global ``prefix``, the content type and the token.
function common.json_writer(default)
  return function(args)
    prefix = os.getenv("KV_BENCH_PREFIX") or default
    wrk.headers["Content-Type"] = "application/json"
    common.send_token()
  end
end

return common
