-- PUT /api/v1/kv/bench/<thread>-<n> with a 16-byte value: every request writes a new key,
-- so the store grows during the run as it would under real load.
local common = require("common")
local counter = 0

setup = common.number_thread

init = common.json_writer("bench/new/")

function request()
  counter = counter + 1
  local path = string.format("/api/v1/kv/%s%d-%d", prefix, tid, counter)
  return wrk.format("PUT", path, nil, '{"value":"0123456789abcdef"}')
end
