-- POST /api/v1/txn: 2 compares + 2 puts, every transaction on two new keys, so both compares
-- hold (an absent key is at revision 0) and both puts are written, as a real create-pair would.
local common = require("common")
local counter = 0

setup = common.number_thread

init = common.json_writer("bench/txn/")

function request()
  counter = counter + 1
  local a = string.format("%s%d-%d-a", prefix, tid, counter)
  local b = string.format("%s%d-%d-b", prefix, tid, counter)
  local body = string.format(
    '{"compare":[{"key":"%s","target":"revision","op":"==","value":0},' ..
    '{"key":"%s","target":"revision","op":"==","value":0}],' ..
    '"success":[{"op":"put","key":"%s","value":"0123456789abcdef"},' ..
    '{"op":"put","key":"%s","value":"0123456789abcdef"}]}',
    a, b, a, b)
  return wrk.format("POST", "/api/v1/txn", nil, body)
end
