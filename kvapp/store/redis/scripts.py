"""The Redis backend's data layout and the Lua scripts that change or read it atomically.

Layout, every key under one namespace ``NS`` (default ``kv``)::

    NS:rev              string  the store-wide revision counter (absent = 0)
    NS:pairs            hash    key -> "REVISION:CREATED:VALUE", or "REVISION:CREATED/LEASE:VALUE"
                                for a pair with a lease (the first form is also what older code wrote)
    NS:keys             zset    every key with score 0, so ZRANGEBYLEX pages by prefix and ``after``
    NS:events           list    the last ``history`` events as JSON arrays, oldest first (below)
    NS:event_keys       list    for each indexed event, "=KEY" (it replaced a pair) or "+KEY" (it did not)
    NS:indexed          string  the revision the per-key index is complete up to
    NS:history:KEY      zset    the revisions of KEY's retained events, scored by revision
    NS:gone             zset    keys whose newest retained event deleted them (score 0, by lex)
    NS:lease_seq        string  the highest lease id ever granted (ids are never reused)
    NS:lease_ttls       hash    live lease id -> TTL in seconds
    NS:lease_ids        zset    live lease ids scored by id, so leases page in id order
    NS:lease_deadlines  zset    live lease ids scored by deadline, ms on Redis's clock (TIME)
    NS:lease:ID         zset    the keys attached to lease ID (score 0, so they come back sorted)
    NS:op:OPID          string  what write OPID did, kept OP_TTL seconds (see below)

An event is ``[revision, type, key, value, created, prev, lease, reason, time, prev_revision,
prev_created, prev_lease]`` (numbers as decimal strings, absent as null; ``time`` in ms, the
``prev_*`` the pair it replaced, "0"s when there was none). Code before leases and history
wrote only the first six; they are still read, with the rest unknown.

Why scripts rather than MULTI/WATCH: a compare-and-swap put must read the pair, decide,
take the next revision and write the pair and its event as one step. A script runs with
Redis doing nothing else, so a revision is never handed out twice, a pair and its event
never disagree, and there is no optimistic-retry loop under contention. A transaction, a
prefix delete, a revoke and an expiry are each one script for the same reason. Every
script builds its key names from the namespace (ARGV[1]); they touch keys they find on the
way (a lease's keys, a key's history), so they assume one Redis primary, not a Cluster.

Invariants the scripts keep:

- ``NS:events`` holds events for exactly the revisions ``rev - LLEN + 1 .. rev`` (one event
  per revision, pushed by the script that took it), so the oldest retained revision is
  computed, never stored.
- While ``NS:indexed`` equals ``NS:rev``, ``NS:event_keys`` has one entry per revision
  ``rev - LLEN(event_keys) + 1 .. rev``, each of those events is in its key's
  ``NS:history:KEY``, and nothing else is: both are trimmed in the script that trims the
  events. That revision range is what reads at a past revision can undo, so a read at R
  costs the events of one key after R, not the whole history. Code from before the index
  wrote events without it; the first script after such a write (``NS:indexed`` behind
  ``NS:rev``) empties the index, and reads before that point are answered "compacted".
- A lease is live while it has a deadline in the future; one past its deadline is gone for
  every call (keepalive, attach, revoke, show) even before an expiry script deletes its keys.
  The expiry script deletes a lease's keys and forgets the lease in one step, so of any
  number of processes running it at once exactly one deletes each key.

Every write may be sent twice: a connection left stale by a Redis restart fails once even
though Redis is back, and a reply can be lost after the script ran. Reads are naturally
safe to repeat; a write carries an op ID (ARGV[2]), and a write that changed anything
records under it the revisions it took and its small answer (``extra``). A second run of
the same ID returns the first run's answer, events read back from ``NS:events``, instead of
writing again; when those events are trimmed already, or the answer was over
OP_RECORD_MAX (a transaction reading big values), it can only say which revisions it took.
A keepalive is not recorded: running it twice only renews the lease twice.

Revisions travel as decimal strings and are compared as strings: Lua numbers are doubles,
and ``tostring`` would print 14 significant digits. Times are ms since the epoch, also as
strings. Strings are compared byte by byte (``bytes_less``), never with Lua's ``<``, which
collates by the server's locale; UTF-8 bytes sort in code point order.
"""

from __future__ import annotations

OP_RECORD_MAX = 64 * 1024  # bytes of answer a write keeps for its replay; above it only its revisions

# --- shared by every script: names, the clock, pairs and byte order --------------------------

_PRELUDE = """
local NS = ARGV[1]
local REV, PAIRS, KEYSET, EVENTS = NS .. ':rev', NS .. ':pairs', NS .. ':keys', NS .. ':events'
local EVENT_KEYS, INDEXED, GONE = NS .. ':event_keys', NS .. ':indexed', NS .. ':gone'
local LEASE_SEQ, LEASE_TTLS = NS .. ':lease_seq', NS .. ':lease_ttls'
local LEASE_IDS, DEADLINES = NS .. ':lease_ids', NS .. ':lease_deadlines'
local function history_of(key) return NS .. ':history:' .. key end
local function keys_of_lease(id) return NS .. ':lease:' .. id end

local function num(n) return string.format('%d', n) end
local function revision_now() return redis.call('GET', REV) or '0' end

-- One reading of Redis's clock per script: every event of a commit carries the same time,
-- and every process agrees on lease deadlines.
local clock = redis.call('TIME')
local NOW = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local NOW_TEXT = num(NOW)

-- Byte order (= code point order for UTF-8). Blocks of the common prefix are skipped by
-- substring equality, a memcmp, so a long value costs few steps of Lua.
local BLOCK = 256
local function bytes_less(a, b)
  local n, i = math.min(#a, #b), 1
  while i + BLOCK - 1 <= n and string.sub(a, i, i + BLOCK - 1) == string.sub(b, i, i + BLOCK - 1) do
    i = i + BLOCK
  end
  while i <= n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
    i = i + 1
  end
  return #a < #b
end

local function unpack_pair(packed)
  local a = string.find(packed, ':', 1, true)
  local b = string.find(packed, ':', a + 1, true)
  local middle = string.sub(packed, a + 1, b - 1)
  local slash = string.find(middle, '/', 1, true)
  local created, lease = middle, '0'
  if slash then created, lease = string.sub(middle, 1, slash - 1), string.sub(middle, slash + 1) end
  return string.sub(packed, 1, a - 1), created, lease, string.sub(packed, b + 1)
end

local function pack_pair(revision, created, lease, value)
  if lease == '0' then return revision .. ':' .. created .. ':' .. value end
  return revision .. ':' .. created .. '/' .. lease .. ':' .. value
end

local function revision_of(packed)
  if not packed then return '0' end
  return string.sub(packed, 1, string.find(packed, ':', 1, true) - 1)
end

-- The lease of a packed pair, without copying its value.
local function lease_of(packed)
  if not packed then return '0' end
  local a = string.find(packed, ':', 1, true)
  local middle = string.sub(packed, a + 1, string.find(packed, ':', a + 1, true) - 1)
  local slash = string.find(middle, '/', 1, true)
  return slash and string.sub(middle, slash + 1) or '0'
end

local function events_oldest(current) return tonumber(current) - redis.call('LLEN', EVENTS) + 1 end

local function lease_live(id)
  local deadline = redis.call('ZSCORE', DEADLINES, id)
  return deadline and tonumber(deadline) > NOW
end
"""

# --- reads at a past revision ------------------------------------------------------------------

_PAST = """
-- The oldest revision R + 1 a read at R may need: the index reaches back that far.
local function readable_oldest(current)
  if (redis.call('GET', INDEXED) or '0') ~= current then return tonumber(current) + 1 end
  return tonumber(current) - redis.call('LLEN', EVENT_KEYS) + 1
end

-- The revision a read at ``at`` sees: ``at``, or the one before the commit (one script's
-- writes: a transaction, a prefix delete, an expiry) it falls inside. Readers never see
-- between two of a commit's events.
local function visible(at, current)
  local oldest = events_oldest(current)
  local next_one = tonumber(at) + 1
  if next_one > tonumber(current) or next_one < oldest then return at end
  local start = cjson.decode(redis.call('LINDEX', EVENTS, next_one - oldest))[13]
  if start and start ~= cjson.null and tonumber(start) <= tonumber(at) then return num(tonumber(start) - 1) end
  return at
end

-- nil when reads at ``at`` can be answered, else the refusal to return.
local function unreachable(at, current)
  if tonumber(at) > tonumber(current) then return {'future', current} end
  local oldest = readable_oldest(current)
  if tonumber(at) + 1 < oldest then return {'compacted', num(oldest)} end
  return nil
end

local function event_at(revision, oldest)
  return redis.call('LINDEX', EVENTS, tonumber(revision) - oldest)
end

-- The packed pair as it stood at ``at`` (false: absent then): the pair its oldest event after
-- ``at`` replaced, or the pair as it is now when nothing wrote it since.
local function pair_at(key, at, oldest)
  local undo = redis.call('ZRANGEBYSCORE', history_of(key), '(' .. at, '+inf', 'LIMIT', 0, 1)[1]
  if not undo then return redis.call('HGET', PAIRS, key) end
  local e = cjson.decode(event_at(undo, oldest))
  if e[6] == cjson.null then return false end
  return pack_pair(e[10], e[11], e[12], e[6])
end
"""

# --- writes: revisions, events, the index, trimming, the op record ------------------------------

_COMMIT = """
local OP = NS .. ':op:' .. ARGV[2]
local HISTORY, OP_TTL, MAX_LEASES = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local OP_RECORD_MAX = @OP_RECORD_MAX@
local commit = {first = false, last = false, changed = false, events = {}}

local function unindex(key, revision)
  local history = history_of(key)
  redis.call('ZREM', history, revision)
  if redis.call('EXISTS', history) == 0 then redis.call('ZREM', GONE, key) end
end

-- Another writer (code from before the index) took revisions the index lacks: empty the
-- index, so a read at a revision before now is answered "compacted" rather than wrongly.
local function resync_index(current)
  local indexed = redis.call('GET', INDEXED) or '0'
  if indexed == current then return end
  local entries = redis.call('LRANGE', EVENT_KEYS, 0, -1)
  local first = tonumber(indexed) - #entries + 1
  for i, entry in ipairs(entries) do unindex(string.sub(entry, 2), num(first + i - 1)) end
  redis.call('DEL', EVENT_KEYS)
end

local function next_revision()
  if not commit.first then resync_index(revision_now()) end
  local revision = num(redis.call('INCR', REV))
  commit.first = commit.first or revision
  commit.last = revision
  return revision
end

-- e: {revision, type, key, value, created, prev, lease, reason, time, prev_revision, prev_created, prev_lease,
--     commit: the first revision of this script's writes, so reads never land inside them}
local function push_event(e)
  local json = cjson.encode(e)
  local key, existed = e[3], e[6] ~= cjson.null
  redis.call('RPUSH', EVENTS, json)
  redis.call('RPUSH', EVENT_KEYS, (existed and '=' or '+') .. key)
  redis.call('ZADD', history_of(key), e[1], e[1])
  if e[2] == 'delete' then
    redis.call('ZADD', GONE, 0, key)
  elseif not existed then
    redis.call('ZREM', GONE, key)
  end
  commit.events[#commit.events + 1] = json
end

local function put_pair(key, value, lease, packed)
  local revision0, created0, lease0, prev = '0', '0', '0', cjson.null
  if packed then revision0, created0, lease0, prev = unpack_pair(packed) end
  local revision = next_revision()
  local created = packed and created0 or revision
  redis.call('HSET', PAIRS, key, pack_pair(revision, created, lease, value))
  if not packed then redis.call('ZADD', KEYSET, 0, key) end
  if lease0 ~= lease then
    if lease0 ~= '0' then redis.call('ZREM', keys_of_lease(lease0), key) end
    if lease ~= '0' then redis.call('ZADD', keys_of_lease(lease), 0, key) end
  end
  push_event({revision, 'put', key, value, created, prev, lease, cjson.null, NOW_TEXT, revision0, created0, lease0,
              commit.first})
end

local function delete_pair(key, packed, reason)
  local revision0, created0, lease0, prev = unpack_pair(packed)
  local revision = next_revision()
  redis.call('HDEL', PAIRS, key)
  redis.call('ZREM', KEYSET, key)
  if lease0 ~= '0' then redis.call('ZREM', keys_of_lease(lease0), key) end
  push_event({revision, 'delete', key, cjson.null, cjson.null, prev, lease0, reason or cjson.null, NOW_TEXT,
              revision0, created0, lease0, commit.first})
end

local function too_many() return {'too_many', num(redis.call('HLEN', LEASE_TTLS))} end

local function grant(ttl)
  if redis.call('HLEN', LEASE_TTLS) >= MAX_LEASES then return nil end
  local id = num(redis.call('INCR', LEASE_SEQ))
  redis.call('HSET', LEASE_TTLS, id, ttl)
  redis.call('ZADD', LEASE_IDS, id, id)
  redis.call('ZADD', DEADLINES, num(NOW + tonumber(ttl) * 1000), id)
  commit.changed = true
  return id
end

-- The lease a put leaves its key with: '' keeps the key's, '0' detaches, an id attaches,
-- a ttl grants a new one. nil and the refusal to return when that cannot be.
local function lease_for(packed, lease, ttl)
  if ttl ~= '' then
    local id = grant(ttl)
    if not id then return nil, too_many() end
    return id
  end
  if lease == '' then return lease_of(packed) end
  if lease == '0' or lease_live(lease) then return lease end
  return nil, {'no_lease', lease}
end

-- Delete every key of lease ``id`` (consecutive revisions, in key order), then forget it.
local function end_lease(id, reason)
  local attached = keys_of_lease(id)
  for _, key in ipairs(redis.call('ZRANGE', attached, 0, -1)) do
    local packed = redis.call('HGET', PAIRS, key)
    if packed then delete_pair(key, packed, reason) end
  end
  redis.call('DEL', attached)
  redis.call('HDEL', LEASE_TTLS, id)
  redis.call('ZREM', LEASE_IDS, id)
  redis.call('ZREM', DEADLINES, id)
  commit.changed = true
end

-- Events beyond HISTORY are dropped, and with them their entries in the index.
local function trim()
  local excess = redis.call('LLEN', EVENTS) - HISTORY
  if excess <= 0 then return end
  redis.call('LTRIM', EVENTS, excess, -1)
  local last = tonumber(commit.last)
  local first = last - redis.call('LLEN', EVENT_KEYS) + 1
  local drop = (last - HISTORY + 1) - first
  if drop <= 0 then return end
  local entries = redis.call('LRANGE', EVENT_KEYS, 0, drop - 1)
  redis.call('LTRIM', EVENT_KEYS, drop, -1)
  for i, entry in ipairs(entries) do unindex(string.sub(entry, 2), num(first + i - 1)) end
end

-- {'ok', extra as JSON, event...}; a write that changed anything records it under its op ID.
local function finish(extra)
  if commit.last then
    redis.call('SET', INDEXED, commit.last)
    trim()
  end
  extra.revision = revision_now()
  local extra_json = cjson.encode(extra)
  if commit.last or commit.changed then
    local kept = #extra_json <= OP_RECORD_MAX and extra_json or false
    redis.call('SET', OP, cjson.encode({commit.first or '', commit.last or '', kept}), 'EX', OP_TTL)
  end
  local reply = {'ok', extra_json}
  for i = 1, #commit.events do reply[#reply + 1] = commit.events[i] end
  return reply
end

-- The answer of a write that already ran under this op ID, or nil.
local function replayed()
  local recorded = redis.call('GET', OP)
  if not recorded then return nil end
  local r = cjson.decode(recorded)
  if not r[3] then return {'applied', r[1], r[2]} end
  local reply = {'ok', r[3]}
  if r[1] ~= '' then
    local oldest = events_oldest(revision_now())
    if tonumber(r[1]) < oldest then return {'applied', r[1], r[2]} end
    local events = redis.call('LRANGE', EVENTS, tonumber(r[1]) - oldest, tonumber(r[2]) - oldest)
    for i = 1, #events do reply[#reply + 1] = events[i] end
  end
  return reply
end

local done = replayed()
if done then return done end
""".replace("@OP_RECORD_MAX@", str(OP_RECORD_MAX))

# Compares of a transaction; numbers are decimal strings without leading zeros.
_COMPARE = """
local function order_of(a, b)
  if a == b then return 0 end
  return bytes_less(a, b) and -1 or 1
end

local function decimal_order(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  return order_of(a, b)
end

local function satisfies(op, order)
  if op == '==' then return order == 0 end
  if op == '!=' then return order ~= 0 end
  if op == '<' then return order < 0 end
  return order > 0
end

-- c: {key, target, op, wanted}; an absent key has value nil and 0 for the numbers.
local function compare_holds(c)
  local packed = redis.call('HGET', PAIRS, c[1])
  local target, op, wanted = c[2], c[3], c[4]
  local revision, created, lease, value = '0', '0', '0', nil
  if packed then revision, created, lease, value = unpack_pair(packed) end
  if target ~= 'value' then
    local actual = ({revision = revision, created = created, lease = lease})[target]
    return satisfies(op, decimal_order(actual, wanted))
  end
  if wanted == cjson.null then wanted = nil end
  if value == nil or wanted == nil then
    if op == '==' then return value == wanted end
    if op == '!=' then return value ~= wanted end
    return false
  end
  return satisfies(op, order_of(value, wanted))
end
"""

_WRITE = _PRELUDE + _COMMIT

# ARGV (every write): namespace, op ID, history, op ttl, max leases; then the script's own.
# Replies: {'ok', extra_json, event_json...} (extra is {"revision": R, ...}),
# {'applied', first, last} for a replay that can only name its revisions, or a refusal:
# {'conflict', packed_or_false}, {'missing'}, {'no_lease', id}, {'too_many', live}.

# ARGV[6..]: key, value, if_revision ("" = unconditional), lease ("" = keep, "0" = none), ttl ("" = none).
PUT = (
    _WRITE
    + """
local key, value, expected = ARGV[6], ARGV[7], ARGV[8]
local packed = redis.call('HGET', PAIRS, key)
if expected ~= '' and expected ~= revision_of(packed) then return {'conflict', packed} end
local lease, refused = lease_for(packed, ARGV[9], ARGV[10])
if not lease then return refused end
put_pair(key, value, lease, packed)
return finish({})
"""
)

# ARGV[6..]: key, if_revision ("" = unconditional).
DELETE = (
    _WRITE
    + """
local key, expected = ARGV[6], ARGV[7]
local packed = redis.call('HGET', PAIRS, key)
if expected ~= '' and expected ~= revision_of(packed) then return {'conflict', packed} end
if not packed then return {'missing'} end
delete_pair(key, packed, nil)
return finish({})
"""
)

# ARGV[6..]: lex min, lex max, limit. extra: {"more": whether pairs remain under the prefix}.
DELETE_PREFIX = (
    _WRITE
    + """
local limit = tonumber(ARGV[8])
local keys = redis.call('ZRANGEBYLEX', KEYSET, ARGV[6], ARGV[7], 'LIMIT', 0, limit + 1)
for i = 1, math.min(#keys, limit) do delete_pair(keys[i], redis.call('HGET', PAIRS, keys[i]), nil) end
return finish({more = #keys > limit})
"""
)

# ARGV[6]: the transaction as JSON {"compare": [[key, target, op, value]...], "success": [op...],
# "failure": [op...]}, an op being [kind, key, value, lease, ttl] ("" where it has none).
# extra: {"succeeded", "results": per op, the packed pair a get read (false: absent), true for a
# put, whether a delete deleted}.
TXN = (
    _WRITE
    + _COMPARE
    + """
local txn = cjson.decode(ARGV[6])
local succeeded = true
for _, c in ipairs(txn.compare) do
  if not compare_holds(c) then
    succeeded = false
    break
  end
end
local ops = succeeded and txn.success or txn.failure
-- Refused whole before anything is written: a named lease that is gone, or grants past the limit.
local grants = 0
for _, op in ipairs(ops) do
  if op[1] == 'put' then
    if op[5] ~= '' then
      grants = grants + 1
    elseif op[4] ~= '' and op[4] ~= '0' and not lease_live(op[4]) then
      return {'no_lease', op[4]}
    end
  end
end
if grants > 0 and redis.call('HLEN', LEASE_TTLS) + grants > MAX_LEASES then return too_many() end
local results = {}
for i, op in ipairs(ops) do
  local packed = redis.call('HGET', PAIRS, op[2])
  if op[1] == 'get' then
    results[i] = packed
  elseif op[1] == 'put' then
    put_pair(op[2], op[3], lease_for(packed, op[4], op[5]), packed)
    results[i] = true
  else
    results[i] = packed and true or false
    if packed then delete_pair(op[2], packed, nil) end
  end
end
return finish({succeeded = succeeded, results = results})
"""
)

# ARGV[6]: ttl in seconds. extra: {"id", "ttl"}.
GRANT = (
    _WRITE
    + """
local id = grant(ARGV[6])
if not id then return too_many() end
return finish({id = id, ttl = ARGV[6]})
"""
)

# ARGV[6..]: lease id, reason. extra: {"id"}; the events are its keys' deletes.
REVOKE = (
    _WRITE
    + """
if not lease_live(ARGV[6]) then return {'no_lease', ARGV[6]} end
end_lease(ARGV[6], ARGV[7])
return finish({id = ARGV[6]})
"""
)

# ARGV[6..]: most leases to end, reason. extra: {"ended": [id...], "more": whether that limit was hit}.
EXPIRE = (
    _WRITE
    + """
local batch = tonumber(ARGV[6])
local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', NOW_TEXT, 'LIMIT', 0, batch)
for _, id in ipairs(due) do end_lease(id, ARGV[7]) end
return finish({ended = due, more = #due == batch})
"""
)

# ARGV: namespace, lease id. Returns {'ok', ttl} or {'no_lease', id}. Not recorded: see the docstring.
KEEPALIVE = (
    _PRELUDE
    + """
local id = ARGV[2]
local ttl = redis.call('HGET', LEASE_TTLS, id)
if not ttl or not lease_live(id) then return {'no_lease', id} end
redis.call('ZADD', DEADLINES, num(NOW + tonumber(ttl) * 1000), id)
return {'ok', ttl}
"""
)

# --- reads -------------------------------------------------------------------------------------

# ARGV: namespace, lease id. Returns {'ok', ttl, deadline, now, key...} or {'no_lease', id}.
LEASE = (
    _PRELUDE
    + """
local id = ARGV[2]
if not lease_live(id) then return {'no_lease', id} end
local reply = {'ok', redis.call('HGET', LEASE_TTLS, id), redis.call('ZSCORE', DEADLINES, id), NOW_TEXT}
for _, key in ipairs(redis.call('ZRANGE', keys_of_lease(id), 0, -1)) do reply[#reply + 1] = key end
return reply
"""
)

# ARGV: namespace, after (exclusive id, "0" for the start), limit + 1.
# Returns {now, {id, ttl, deadline, key...}...}: live leases by id, reaped or not yet.
LEASES = (
    _PRELUDE
    + """
local reply = {NOW_TEXT}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', LEASE_IDS, '(' .. ARGV[2], '+inf', 'LIMIT', 0, tonumber(ARGV[3]))) do
  local item = {id, redis.call('HGET', LEASE_TTLS, id), redis.call('ZSCORE', DEADLINES, id)}
  for _, key in ipairs(redis.call('ZRANGE', keys_of_lease(id), 0, -1)) do item[#item + 1] = key end
  reply[#reply + 1] = item
end
return reply
"""
)

# ARGV: namespace, key, revision. Returns {'ok', packed_or_false}, {'future', current} or {'compacted', oldest}.
GET_AT = (
    _PRELUDE
    + _PAST
    + """
local key, at = ARGV[2], ARGV[3]
local current = revision_now()
if tonumber(at) > tonumber(current) then return {'future', current} end
at = visible(at, current)
local refused = unreachable(at, current)
if refused then return refused end
if at == current then return {'ok', redis.call('HGET', PAIRS, key)} end
return {'ok', pair_at(key, at, events_oldest(current))}
"""
)

# ARGV: namespace, lex min, lex max, revision ("" = now), pairs wanted, keys to scan at most,
# bytes to gather at most (0: no limit), and for the count: prefix, its lex min and max ("" = no count).
# Returns {'ok', revision, count_or_false, exhausted (1/0), last scanned key_or_false, key, packed, ...},
# or {'future', current} / {'compacted', oldest}. At a past revision the keys deleted since
# (NS:gone) are merged in, and keys that did not exist then are scanned but skipped.
LIST = (
    _PRELUDE
    + _PAST
    + """
local CHUNK = 256  -- keys read from a zset at a time
local want, scan_max, bytes_max = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local current = revision_now()
local asked = ARGV[4] == '' and current or ARGV[4]
if tonumber(asked) > tonumber(current) then return {'future', current} end
local at = visible(asked, current)
local refused = unreachable(at, current)
if refused then return refused end
local past = at ~= current
local oldest = events_oldest(current)

local function walker(zset)
  local batch, i, from, finished = {}, 1, ARGV[2], false
  local walk = {}
  function walk.peek()
    if i > #batch then
      if finished then return nil end
      batch, i = redis.call('ZRANGEBYLEX', zset, from, ARGV[3], 'LIMIT', 0, CHUNK), 1
      finished = #batch < CHUNK
      if #batch == 0 then return nil end
      from = '(' .. batch[#batch]
    end
    return batch[i]
  end
  function walk.take()
    local key = walk.peek()
    i = i + 1
    return key
  end
  return walk
end

local live, gone = walker(KEYSET), past and walker(GONE) or nil
local function next_key()
  local a, b = live.peek(), gone and gone.peek()
  if not b then return live.take() end
  if not a or bytes_less(b, a) then return gone.take() end
  if a == b then gone.take() end
  return live.take()
end

-- How many more pairs were under ``prefix`` at ``at`` than now: each key written since is
-- judged by its first event after ``at`` (did it replace a pair?) and by whether it exists now.
local function count_change(prefix)
  local first = tonumber(current) - redis.call('LLEN', EVENT_KEYS) + 1
  local seen, change = {}, 0
  for _, entry in ipairs(redis.call('LRANGE', EVENT_KEYS, tonumber(at) + 1 - first, -1)) do
    local key = string.sub(entry, 2)
    if not seen[key] and string.sub(key, 1, #prefix) == prefix then
      seen[key] = true
      if string.sub(entry, 1, 1) == '=' then change = change + 1 end
      change = change - redis.call('HEXISTS', PAIRS, key)
    end
  end
  return change
end

local count = false
if ARGV[9] ~= '' then
  count = redis.call('ZLEXCOUNT', KEYSET, ARGV[9], ARGV[10])
  if past then count = count + count_change(ARGV[8]) end
end

local reply = {'ok', asked, count, 0, false}
local found, scanned, gathered = 0, 0, 0
while found < want and scanned < scan_max and (bytes_max == 0 or gathered < bytes_max) do
  local key = next_key()
  if not key then break end
  scanned = scanned + 1
  reply[5] = key
  local packed
  if past then packed = pair_at(key, at, oldest) else packed = redis.call('HGET', PAIRS, key) end
  if packed then
    found = found + 1
    gathered = gathered + #key + #packed
    reply[#reply + 1] = key
    reply[#reply + 1] = packed
  end
end
if not (live.peek() or (gone and gone.peek())) then reply[4] = 1 end
return reply
"""
)

# ARGV: namespace, key, before ("" = none), limit + 1.
# Returns {oldest readable revision, event_json...}: the key's retained events, newest first.
HISTORY = (
    _PRELUDE
    + _PAST
    + """
local current = revision_now()
local oldest = events_oldest(current)
local high = ARGV[3] == '' and '+inf' or '(' .. ARGV[3]
local reply = {num(readable_oldest(current))}
local revisions = redis.call('ZREVRANGEBYSCORE', history_of(ARGV[2]), high, '-inf', 'LIMIT', 0, tonumber(ARGV[4]))
for _, revision in ipairs(revisions) do reply[#reply + 1] = event_at(revision, oldest) end
return reply
"""
)

# ARGV: namespace, after.
# Returns {revision, oldest, event_json...}; no events past ``oldest - 1`` means compacted.
EVENTS_SINCE = """
local current = tonumber(redis.call('GET', ARGV[1] .. ':rev') or '0')
local after = tonumber(ARGV[2])
local retained = redis.call('LLEN', ARGV[1] .. ':events')
local oldest = current - retained + 1
local reply = {string.format('%d', current), string.format('%d', oldest)}
if after >= current or after + 1 < oldest then return reply end
local events = redis.call('LRANGE', ARGV[1] .. ':events', after + 1 - oldest, -1)
for i = 1, #events do reply[#reply + 1] = events[i] end
return reply
"""

# KEYS: rev, pairs, keys, events, staged pairs, staged keys, staged lease TTLs.
# ARGV: revision, namespace, staging prefix (its ':lease:ID' sets hold each lease's keys),
# the exported store's highest lease id (new grants go above it and every imported id).
# Moves a staged import into place if the store is still empty; returns 1, or 0 if not empty
# (or if leases are imported into a store that already has some: their ids could clash).
# Each imported lease keeps its id and gets a full TTL from now, as a restart gives.
# Staging keys are unique per import, so "staged keys gone, revision set" is our own earlier run.
# An empty store (revision 0) was never written, so it has no index to clear; NS:indexed
# stays behind NS:rev, so reads before the import's revision are answered "compacted".
INSTALL_IMPORT = """
if redis.call('EXISTS', KEYS[5]) == 0 and redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= 0 or redis.call('HLEN', KEYS[2]) ~= 0 then return 0 end
local NS, STAGING = ARGV[2], ARGV[3]
local LEASE_SEQ, LEASE_TTLS = NS .. ':lease_seq', NS .. ':lease_ttls'
local LEASE_IDS, DEADLINES = NS .. ':lease_ids', NS .. ':lease_deadlines'
local leases = redis.call('HGETALL', KEYS[7])
if #leases > 0 and redis.call('HLEN', LEASE_TTLS) ~= 0 then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('RENAME', KEYS[5], KEYS[2])
  redis.call('RENAME', KEYS[6], KEYS[3])
end
redis.call('DEL', KEYS[4])
local top = math.max(tonumber(redis.call('GET', LEASE_SEQ) or '0'), tonumber(ARGV[4]))
if #leases > 0 then
  local clock = redis.call('TIME')
  local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
  for i = 1, #leases, 2 do
    local id, ttl = leases[i], leases[i + 1]
    redis.call('HSET', LEASE_TTLS, id, ttl)
    redis.call('ZADD', LEASE_IDS, id, id)
    redis.call('ZADD', DEADLINES, string.format('%d', now + tonumber(ttl) * 1000), id)
    local attached = STAGING .. ':lease:' .. id
    if redis.call('EXISTS', attached) == 1 then  -- a lease with no keys has no set: a RENAME would fail halfway
      redis.call('RENAME', attached, NS .. ':lease:' .. id)
    end
    top = math.max(top, tonumber(id))
  end
  redis.call('DEL', KEYS[7])
end
if top > 0 then redis.call('SET', LEASE_SEQ, string.format('%d', top)) end
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
