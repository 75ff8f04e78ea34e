"""The one Lua script behind the cluster-wide slots (`_redis_slots`): release, renew, take a turn.

Every call of a process's loop is one atomic step, timed by Redis's own clock (`TIME`), so the
machines' clocks do not matter:

1. release the leases given; drop expired leases (their holder died or stalled);
2. renew the leases given, in one of two ways. `xx` (the renewer thread) only extends leases
   that exist: it runs beside the loop that releases them, and must not bring a released lease
   back; the number missing is returned as `lost`. `add` (the loop itself, which knows exactly
   what it holds) re-asserts them: a lease Redis lost, because it restarted or the holder stalled
   past its expiry, is added back, since its request is still in flight; `lost` is the number
   added back;
3. grant up to `want` new leases, as many as are free, but only after the live waiters queued
   ahead of this one have what they asked for, so no process starves. A waiter that is granted
   and still wants more goes to the back of the queue (round robin between processes); one not
   granted keeps its place. A waiter's entry lives `ttl` ms unless refreshed by its next poll.

Arguments: "limit lease-ms waiter-ttl-ms grace-ms" (one string: fewer arguments are cheaper to
send), the waiter's id, how many it wants, the epoch it knows, `add` or `xx`, the numbers of
releases and renewals, then the ids released, renewed and offered for the new leases.

Keys (one hash tag, so all four live in one Redis Cluster slot): leases (zset id -> expiry ms),
queue (zset waiter -> position), waiters (hash waiter -> "deadline want"), epoch ("id grace-end").
The epoch string (Redis's time when it was made) is created when missing. When the caller knew an
earlier epoch, Redis lost its memory while leases may be held, and no lease is granted until
`grace` ms have passed, time for every holder to re-assert its leases, so the count is true again
before anything new is admitted.
"""

from __future__ import annotations

__all__ = ["SLOTS_SCRIPT"]

SLOTS_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local leases, queue, waiters, epoch_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local c1, c2, c3, c4 = string.match(ARGV[1], '(%d+) (%d+) (%d+) (%d+)')
local limit, lease, ttl, grace = tonumber(c1), tonumber(c2), tonumber(c3), tonumber(c4)
local me, want = ARGV[2], tonumber(ARGV[3])
local epoch = redis.call('GET', epoch_key)
if not epoch then
  local grace_end = 0
  if ARGV[4] ~= '' then grace_end = now + grace end
  epoch = t[1] .. '.' .. t[2] .. ' ' .. string.format('%.0f', grace_end)
  redis.call('SET', epoch_key, epoch)
end
local grace_end = tonumber(string.sub(epoch, string.find(epoch, ' ', 1, true) + 1))
local readd, nrel, nren = ARGV[5] == 'add', tonumber(ARGV[6]), tonumber(ARGV[7])
local i = 8
for _ = 1, nrel do
  redis.call('ZREM', leases, ARGV[i])
  i = i + 1
end
redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
local lost = 0
for _ = 1, nren do
  if readd then
    lost = lost + redis.call('ZADD', leases, now + lease, ARGV[i])
  else
    lost = lost + 1 - redis.call('ZADD', leases, 'XX', 'CH', now + lease, ARGV[i])
  end
  i = i + 1
end
local granted = 0
if want > 0 then
  local rank = redis.call('ZRANK', queue, me)
  local free = limit - redis.call('ZCARD', leases)
  if free > 0 and now >= grace_end then
    local ahead = {}
    if not rank then
      ahead = redis.call('ZRANGE', queue, 0, -1)
    elseif rank > 0 then
      ahead = redis.call('ZRANGE', queue, 0, rank - 1)
    end
    local wanted = 0
    for _, id in ipairs(ahead) do
      local meta = redis.call('HGET', waiters, id)
      local alive = false
      if meta then
        local sep = string.find(meta, ' ', 1, true)
        if tonumber(string.sub(meta, 1, sep - 1)) >= now then
          alive = true
          wanted = wanted + tonumber(string.sub(meta, sep + 1))
        end
      end
      if not alive then
        redis.call('ZREM', queue, id)
        redis.call('HDEL', waiters, id)
      end
      if wanted >= free then break end
    end
    if free > wanted then granted = math.min(want, free - wanted) end
  end
  for j = 0, granted - 1 do
    redis.call('ZADD', leases, now + lease, ARGV[i + j])
  end
  if granted < want then
    if granted > 0 or not rank then redis.call('ZADD', queue, now, me) end
    redis.call('HSET', waiters, me, string.format('%.0f %d', now + ttl, want - granted))
  elseif rank then
    redis.call('ZREM', queue, me)
    redis.call('HDEL', waiters, me)
  end
else
  redis.call('ZREM', queue, me)
  redis.call('HDEL', waiters, me)
end
redis.call('PEXPIRE', leases, 2 * lease)
redis.call('PEXPIRE', queue, 2 * ttl)
redis.call('PEXPIRE', waiters, 2 * ttl)
return {granted, epoch, lost}
"""
