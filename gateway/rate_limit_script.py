"""Every rate-limit rule of a request checked and consumed in one Redis call.

The algorithm is the ``limits`` library's sliding-window counter, unchanged, with its
key layout (so ``limits`` itself reads the same buckets; ``tests/gateway`` compares
the two hit for hit):

- each (rule, identity) has a *current* counter, created with a TTL of two windows
  on its first hit, and a *previous* one;
- once the current counter's TTL falls below one window (a window has passed since
  it was created), it is renamed to previous (keeping its TTL, now under one window)
  and a new current starts at 0 with that TTL plus one window;
- the count is ``floor(previous x previous_ttl / window) + current``: the previous
  window's hits weighted by how much of it still overlaps the sliding window;
- a hit is allowed while ``count + 1 <= limit``.

What this script adds to ``limits``' own (one call per rule, then a second per rule
for the figures): all rules of a request in one call, consumed together only if every
one allows it (an export refused by its per-client hourly cap does not spend the
user's per-minute budget), and the figures of each rule in the answer:

- ``remaining`` after this hit;
- ``reset_ms``: until the current window ends (its counter rolls over); a new bucket
  resets one window from now;
- ``retry_ms`` (for a refused rule): until one more hit would be allowed; while the
  current window alone is full that is its end plus the decay of its count, otherwise
  the decay of the previous window's weight.

Redis runs a script atomically, so concurrent requests of one identity never both see
the last free slot.
"""

from __future__ import annotations

SLIDING_WINDOW_SCRIPT = """
local rules = #KEYS / 2
local state = {}
local allowed = 1
for i = 1, rules do
  local previous_key, current_key = KEYS[2 * i - 1], KEYS[2 * i]
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i]) * 1000
  local current_ttl = tonumber(redis.call('pttl', current_key))
  if current_ttl > 0 and current_ttl < window then
    redis.call('rename', current_key, previous_key)
    redis.call('set', current_key, 0, 'PX', current_ttl + window)
  end
  local previous = tonumber(redis.call('get', previous_key)) or 0
  local previous_ttl = math.max(tonumber(redis.call('pttl', previous_key)), 0)
  local current = tonumber(redis.call('get', current_key)) or 0
  current_ttl = math.max(tonumber(redis.call('pttl', current_key)), 0)
  local count = math.floor(previous * previous_ttl / window) + current
  if count + 1 > limit then
    allowed = 0
  end
  state[i] = {limit, window, previous, previous_ttl, current, current_ttl, count}
end
local out = {allowed}
for i = 1, rules do
  local limit, window, previous, previous_ttl, current, current_ttl, count = unpack(state[i])
  if allowed == 1 then
    if current_ttl > 0 then
      redis.call('incrby', KEYS[2 * i], 1)
    else
      redis.call('set', KEYS[2 * i], 1, 'PX', window * 2)
      current_ttl = window * 2
    end
    count = count + 1
  end
  local reset_ms = window
  if current_ttl > 0 then
    reset_ms = current_ttl - window
  end
  local retry_ms = 0
  if allowed == 0 and count + 1 > limit then
    if current + 1 > limit then
      -- the current window alone is full: its end, then its weight must decay
      -- below the limit (current x (window - u) / window < limit)
      retry_ms = reset_ms + math.floor(window * (current - limit) / current) + 1
    else
      -- the previous window's weight must decay below what is left
      retry_ms = math.floor(previous_ttl - (limit - current) * window / previous) + 1
    end
    retry_ms = math.max(retry_ms, 1)
  end
  out[#out + 1] = math.max(limit - count, 0)
  out[#out + 1] = reset_ms
  out[#out + 1] = retry_ms
end
return out
"""
