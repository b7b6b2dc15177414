"""How one member's scoring state is kept in Redis: key names, the hash fields, and the
two scripts that read and write all of a member's keys at once (one ``{m:ID}`` slot).

``ledger.py`` decides what to write; this module only knows the representation. The
member hash keeps readable fields (``score``, ``orders``, ``last_active``…) next to the
gate's ``tier``, so that an operator looking at Redis sees what the scorer sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from server.engagement.members import Tier
from server.engagement.scoring import MemberState
from server.ids import MemberId


def caps_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:caps"


def orders_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:orders"


# KEYS: member, applied, caps, orders, history. ARGV[1]: the version read; ARGV[2]: JSON
# {"h": {field: value}, "a": [[ts, id]], "trim": cutoff, "ttl": ms, "c": {field: points},
# "cd": [field], "o": {order id: order}, "t": history entry or ""}; every value a string.
# Returns 1 when written, 0 when the version moved (read and fold again).
WRITE_SCRIPT: Final = """
local current = redis.call('HGET', KEYS[1], 'ver') or '0'
if current ~= ARGV[1] then
  return 0
end
local w = cjson.decode(ARGV[2])
redis.call('HSET', KEYS[1], 'ver', tostring(tonumber(current) + 1))
for k, v in pairs(w.h) do
  redis.call('HSET', KEYS[1], k, v)
end
if #w.a > 0 then
  for _, pair in ipairs(w.a) do
    redis.call('ZADD', KEYS[2], pair[1], pair[2])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. w.trim)
  redis.call('PEXPIRE', KEYS[2], w.ttl)
end
for k, v in pairs(w.c) do
  redis.call('HSET', KEYS[3], k, v)
end
for _, k in ipairs(w.cd) do
  redis.call('HDEL', KEYS[3], k)
end
if next(w.c) ~= nil then
  redis.call('PEXPIRE', KEYS[3], w.ttl)
end
for k, v in pairs(w.o) do
  redis.call('HSET', KEYS[4], k, v)
end
if w.t ~= '' then
  redis.call('LPUSH', KEYS[5], w.t)
  redis.call('LTRIM', KEYS[5], 0, tonumber(w.n) - 1)
end
return 1
"""

# KEYS: member, applied, caps, orders. ARGV: the state fields, then a count and the event
# ids, then a count and the cap fields, then "1" to read the orders. One call per member
# (instead of four commands) returns [fields, applied scores, cap values, orders].
READ_SCRIPT: Final = """
local i = 1
local n = tonumber(ARGV[i]); i = i + 1
local names = {}
for j = 1, n do names[j] = ARGV[i]; i = i + 1 end
local state = redis.call('HMGET', KEYS[1], unpack(names))
n = tonumber(ARGV[i]); i = i + 1
local seen = {}
if n > 0 then
  local ids = {}
  for j = 1, n do ids[j] = ARGV[i]; i = i + 1 end
  seen = redis.call('ZMSCORE', KEYS[2], unpack(ids))
end
n = tonumber(ARGV[i]); i = i + 1
local caps = {}
if n > 0 then
  local fields = {}
  for j = 1, n do fields[j] = ARGV[i]; i = i + 1 end
  caps = redis.call('HMGET', KEYS[3], unpack(fields))
end
local orders = {}
if ARGV[i] == '1' then orders = redis.call('HGETALL', KEYS[4]) end
return {state, seen, caps, orders}
"""

_INT_FIELDS: Final = {
    "ver": "version",
    "score_at": "score_at",
    "since": "since",
    "last_active": "last_active",
    "orders": "orders",
    "revenue": "revenue_minor",
    "first_order": "first_order",
    "last_order": "last_order",
    "repurchases": "repurchases",
    "shares": "shares",
    "interactions": "interactions",
    "tier_at": "tier_at",
}
_FLOAT_FIELDS: Final = {"score": "score", "watch_s": "watch_seconds"}
# What the scorer reads of a member hash (HMGET: half the reply of HGETALL).
STATE_FIELDS: Final = (*_INT_FIELDS, *_FLOAT_FIELDS, "tier", "mode", "reason")


def text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def state_from_hash(member_id: MemberId, raw: Mapping[Any, Any]) -> MemberState:
    """Read a member hash; a field that is missing or unreadable is 0 (or empty)."""
    data = {text(k): text(v) for k, v in raw.items()}
    values: dict[str, Any] = {}
    for name, attr in _INT_FIELDS.items():
        try:
            values[attr] = int(data.get(name) or 0)
        except ValueError:
            values[attr] = 0
    for name, attr in _FLOAT_FIELDS.items():
        try:
            values[attr] = float(data.get(name) or 0.0)
        except ValueError:
            values[attr] = 0.0
    tier: Tier | None = None
    if "tier" in data:
        try:
            tier = Tier(data["tier"])
        except ValueError:
            tier = Tier.SILENT  # the gate reads an unknown tier as silent, and so do we
    return MemberState(
        member_id=member_id,
        tier=tier,
        pinned=data.get("mode", "pinned") != "auto",
        reason=data.get("reason", ""),
        **values,
    )


def state_fields(state: MemberState) -> dict[str, str]:
    """The scoring fields of ``state`` as hash values (never name, mode or ver)."""
    out = {name: str(getattr(state, attr)) for name, attr in _INT_FIELDS.items() if name != "ver"}
    out.update({name: repr(float(getattr(state, attr))) for name, attr in _FLOAT_FIELDS.items()})
    if state.tier is not None:
        out["tier"] = state.tier.value
    out["reason"] = state.reason
    return out
