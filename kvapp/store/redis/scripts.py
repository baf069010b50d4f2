"""The Redis backend's data layout and the Lua scripts that change or read it atomically.

Layout, every key under one namespace ``NS`` (default ``kv``)::

    NS:rev     string   the store-wide revision counter (absent = 0)
    NS:pairs   hash     key -> "REVISION:CREATED:VALUE"
    NS:keys    zset     every key with score 0, so ZRANGEBYLEX pages by prefix and ``after``
    NS:events  list     the last ``history`` events as JSON arrays, oldest first
    NS:op:ID   string   the revision write ID took, kept OP_TTL seconds (see below)

Why scripts rather than MULTI/WATCH: a compare-and-swap put must read the pair, decide,
take the next revision and write the pair and its event as one step. A script runs with
Redis doing nothing else, so a revision is never handed out twice, a pair and its event
never disagree, and there is no optimistic-retry loop under contention.

Invariant the scripts keep: ``NS:events`` holds events for exactly the revisions
``rev - LLEN + 1 .. rev`` (one event per revision, pushed by the script that took it), so
the oldest retained revision is computed, never stored.

Every call may be sent twice: a connection left stale by a Redis restart fails once even
though Redis is back, and a reply can be lost after the script ran. Reads are naturally
safe to repeat; a write carries an op ID, and a second run of the same ID returns the first
run's answer instead of taking another revision.

Revisions travel as decimal strings and are compared as strings: Lua numbers are doubles,
and ``tostring`` would print 14 significant digits.
"""

from __future__ import annotations

# Helpers shared by the write scripts. KEYS: rev, pairs, keys, events, op.
# ``op`` (NS:op:<uuid>) names one write: it records the revision the write took, for
# OP_TTL seconds, so a write sent again after its reply was lost is answered, not redone.
_WRITE_HELPERS = """
local function unpack_pair(packed)
  local a = string.find(packed, ':', 1, true)
  local b = string.find(packed, ':', a + 1, true)
  return string.sub(packed, 1, a - 1), string.sub(packed, a + 1, b - 1), string.sub(packed, b + 1)
end

local function or_false(value)
  if value == cjson.null then return false end
  return value
end

local function replay()
  local revision = redis.call('GET', KEYS[5])
  if not revision then return nil end
  local current = tonumber(redis.call('GET', KEYS[1]))
  local index = tonumber(revision) - (current - redis.call('LLEN', KEYS[4]) + 1)
  local event = index >= 0 and redis.call('LINDEX', KEYS[4], index)
  if not event then return {'applied', revision} end
  local e = cjson.decode(event)
  if e[2] == 'put' then return {'ok', e[1], e[5], or_false(e[6])} end
  return {'ok', e[1], or_false(e[6])}
end

-- The pair's packed form (false if absent), its created revision and value, and whether
-- ``expected`` ("" = unconditional) rules the write out.
local function lookup(key, expected)
  local packed = redis.call('HGET', KEYS[2], key)
  local current_rev, created, prev = '0', nil, false
  if packed then current_rev, created, prev = unpack_pair(packed) end
  return packed, created, prev, expected ~= '' and expected ~= current_rev
end

local function commit(event, history, ttl)
  redis.call('RPUSH', KEYS[4], cjson.encode(event))
  redis.call('LTRIM', KEYS[4], -history, -1)
  redis.call('SET', KEYS[5], event[1], 'EX', ttl)
end

local done = replay()
if done then return done end
"""

# ARGV: key, value, if_revision ("" = unconditional), history, op ttl.
# Returns {"conflict", current_packed_or_false} or {"ok", revision, created, prev_or_false}
# (or {"applied", revision} for a replayed write whose event is already trimmed).
PUT = (
    _WRITE_HELPERS
    + """
local key, value = ARGV[1], ARGV[2]
local packed, created, prev, conflict = lookup(key, ARGV[3])
if conflict then return {'conflict', packed} end
local revision = string.format('%d', redis.call('INCR', KEYS[1]))
created = created or revision
redis.call('HSET', KEYS[2], key, revision .. ':' .. created .. ':' .. value)
if not packed then redis.call('ZADD', KEYS[3], 0, key) end
commit({revision, 'put', key, value, created, prev or cjson.null}, tonumber(ARGV[4]), ARGV[5])
return {'ok', revision, created, prev}
"""
)

# ARGV: key, if_revision ("" = unconditional), history, op ttl.
# Returns {"conflict", current_packed_or_false}, {"missing"} or {"ok", revision, prev}.
DELETE = (
    _WRITE_HELPERS
    + """
local key = ARGV[1]
local packed, _, prev, conflict = lookup(key, ARGV[2])
if conflict then return {'conflict', packed} end
if not packed then return {'missing'} end
local revision = string.format('%d', redis.call('INCR', KEYS[1]))
redis.call('HDEL', KEYS[2], key)
redis.call('ZREM', KEYS[3], key)
commit({revision, 'delete', key, cjson.null, cjson.null, prev}, tonumber(ARGV[3]), ARGV[4])
return {'ok', revision, prev}
"""
)

# KEYS: rev, pairs, keys.  ARGV: lex min ("[a" / "(a"), lex max ("+" / "(p\\xff"), limit + 1.
# Returns {revision, key1, packed1, key2, packed2, ...}: a page and the revision it was read at.
LIST = """
local keys = redis.call('ZRANGEBYLEX', KEYS[3], ARGV[1], ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
local reply = {redis.call('GET', KEYS[1]) or '0'}
for i = 1, #keys do
  reply[#reply + 1] = keys[i]
  reply[#reply + 1] = redis.call('HGET', KEYS[2], keys[i])
end
return reply
"""

# KEYS: rev, events.  ARGV: after.
# Returns {revision, oldest, event_json...}; no events past ``oldest - 1`` means compacted.
EVENTS_SINCE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = tonumber(ARGV[1])
local retained = redis.call('LLEN', KEYS[2])
local oldest = current - retained + 1
local reply = {string.format('%d', current), string.format('%d', oldest)}
if after >= current or after + 1 < oldest then return reply end
local events = redis.call('LRANGE', KEYS[2], after + 1 - oldest, -1)
for i = 1, #events do reply[#reply + 1] = events[i] end
return reply
"""

# KEYS: rev, pairs, keys, events, staged pairs, staged keys.  ARGV: revision.
# Moves a staged import into place if the store is still empty; returns 1, or 0 if not empty.
# Staging keys are unique per import, so "staged keys gone, revision set" is our own earlier run.
INSTALL_IMPORT = """
if redis.call('EXISTS', KEYS[5]) == 0 and redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= 0 or redis.call('HLEN', KEYS[2]) ~= 0 then return 0 end
if redis.call('EXISTS', KEYS[5]) == 1 then
  redis.call('RENAME', KEYS[5], KEYS[2])
  redis.call('RENAME', KEYS[6], KEYS[3])
end
redis.call('DEL', KEYS[4])
redis.call('SET', KEYS[1], ARGV[1])
return 1
"""
