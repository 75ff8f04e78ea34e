"""The Lua script behind the Redis-shared token bucket (`_redis_buckets`).

The bucket is a hash: `level` (units available now, negative in debt), `ts` (when `level` was
last refilled, Redis's clock in ms), `total` (units ever taken) and `epoch` (which bucket this
is). Each call refills by `TIME`, applies a pending refund or charge (`delta`), then:

- `take` with costs c1..cn: takes each at once (even into debt) and returns its ticket, the
  running total after it. A ticket is served when the credit (`level + total`, which grows at
  `rate`) reaches it: first come first served, with no polling.
- `check` with the epoch of a ticket: the credit now, or `void` if that bucket is gone (Redis
  restarted), in which case the waiter takes again.
- `settle`: only the `delta`.

Returns {epoch, credit, ticket...} (numbers as strings: Redis turns Lua numbers into integers).
The hash expires once full again, when it is equal to a missing one.
"""

from __future__ import annotations

__all__ = ["BUCKET_SCRIPT"]

BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local op, rate, cap = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local delta = tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'level', 'ts', 'total', 'epoch')
local level, ts, total, epoch = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), v[4]
if not epoch then
  if op == 'check' then return {'void'} end
  level, ts, total, epoch = cap, now, 0, ARGV[4]
elseif op == 'check' and epoch ~= ARGV[4] then
  return {'void'}
end
if now > ts then
  level = math.min(cap, level + (now - ts) * rate)
  ts = now
end
level = math.min(cap, level + delta)
local credit = level + total
local reply = {epoch, string.format('%.17g', credit)}
if op == 'take' then
  for i = 6, #ARGV do
    local cost = tonumber(ARGV[i])
    total = total + cost
    level = level - cost
    reply[#reply + 1] = string.format('%.17g', total)
  end
end
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'ts', string.format('%.17g', ts),
  'total', string.format('%.17g', total), 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - level) / rate) + 1000)
return reply
"""
