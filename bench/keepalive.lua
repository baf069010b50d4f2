-- POST /api/v1/leases/<id>/keepalive over KV_BENCH_LEASES leases granted before the run,
-- ids KV_BENCH_LEASE_FIRST.. (granted one after another, so consecutive).
local common = require("common")
local counter = 0

setup = common.number_thread

function init(args)
  first = tonumber(os.getenv("KV_BENCH_LEASE_FIRST") or "1")
  leases = tonumber(os.getenv("KV_BENCH_LEASES") or "100")
  common.send_token()
end

function request()
  counter = counter + 1
  local id = first + (counter * 7919 + tid * 104729) % leases
  return wrk.format("POST", string.format("/api/v1/leases/%d/keepalive", id))
end
