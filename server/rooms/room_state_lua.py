"""The Lua scripts of the Redis room state: each atomic rule of a room session in one
script, whose keys all carry the room's hash tag (one slot, so they run on Redis Cluster).

Replies are small: numbers, or the bytes the codec (``room_state_codec.py``) wrote.
"""

from __future__ import annotations

from typing import Final

# KEYS: session meta. ARGV: a new session id, its start (ms), a session id that counts
# as closed whatever Redis says (this node closed it, the write may have failed) or ''.
# The live session of the room if there is one (a node taking the room over finds it),
# else a new one: [id, started].
OPEN: Final = """
local cur = redis.call('HMGET', KEYS[1], 'id', 'started', 'closed')
if cur[1] and cur[3] ~= '1' and cur[1] ~= ARGV[3] then return {cur[1], cur[2]} end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'started', ARGV[2], 'closed', '0')
return {ARGV[1], ARGV[2]}
"""

# KEYS: meta, places, then every other key of the session. ARGV: session id, TTL (s).
# Marks the session closed, frees its places, and lets every key expire.
CLOSE: Final = """
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'closed', '1')
end
redis.call('DEL', KEYS[2])
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# KEYS: a hash. ARGV: a field. Its value (or nil), removed: read and clear in one step.
TAKE: Final = """
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v then redis.call('HDEL', KEYS[1], ARGV[1]) end
return v
"""

# KEYS: meta, places. ARGV: session id, member, capacity.
# -1: the session is over; 0: full; 1: the member holds a place.
CLAIM: Final = """
local meta = redis.call('HMGET', KEYS[1], 'id', 'closed')
if meta[1] ~= ARGV[1] or meta[2] == '1' then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 1 end
if redis.call('SCARD', KEYS[2]) >= tonumber(ARGV[3]) then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
return 1
"""

# KEYS: chat sequence, ids (list, oldest first), bodies (hash). ARGV: body, retained.
# The new message's number; the oldest beyond ``retained`` are dropped.
CHAT_POST: Final = """
local n = redis.call('INCR', KEYS[1])
local id = 'c' .. n
redis.call('RPUSH', KEYS[2], id)
redis.call('HSET', KEYS[3], id, ARGV[1])
while redis.call('LLEN', KEYS[2]) > tonumber(ARGV[2]) do
  redis.call('HDEL', KEYS[3], redis.call('LPOP', KEYS[2]))
end
return n
"""

# KEYS: ids, bodies. ARGV: message id. The body removed, or nil.
CHAT_DELETE: Final = """
local body = redis.call('HGET', KEYS[2], ARGV[1])
if not body then return false end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('LREM', KEYS[1], 1, ARGV[1])
return body
"""

# KEYS: ids, bodies. ARGV: how many. The last messages, oldest first: id, body, ...
CHAT_HISTORY: Final = """
local ids = redis.call('LRANGE', KEYS[1], -tonumber(ARGV[1]), -1)
local out = {}
for _, id in ipairs(ids) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then out[#out + 1] = id; out[#out + 1] = body end
end
return out
"""

# KEYS: a saved value (hash: v = version, d = bytes). ARGV: the version read, new bytes.
# 1: written; 0: someone wrote first (the caller reads again and retries its rule).
SWAP: Final = """
local v = redis.call('HGET', KEYS[1], 'v') or '0'
if v ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', tonumber(v) + 1, 'd', ARGV[2])
return 1
"""
