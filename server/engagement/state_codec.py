"""How one member's scoring state is kept in Redis: key names, the hash fields, and the
two scripts that read and write all of a member's keys at once (one ``{m:ID}`` slot).

``ledger.py`` decides what to write; this module only knows the representation. The
member hash keeps readable fields (``score``, ``orders``, ``last_active``…) next to the
gate's ``tier``, so that an operator looking at Redis sees what the scorer sees.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, Final

from server.engagement.members import Tier, applied_key, history_key, member_key
from server.engagement.scoring import MemberState
from server.ids import MemberId


def caps_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:caps"


def orders_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:orders"


def history_ids_key(member_id: MemberId) -> str:
    """Ids of imported events older than the applied-id window (kept as long as the
    member: a history import may be run again at any time)."""
    return f"salon:{{m:{member_id}}}:hist"


# Keys per member, in this order, in both scripts below.
KEYS_PER_MEMBER: Final = 6


@functools.lru_cache(maxsize=65_536)
def member_keys(member_id: MemberId) -> tuple[bytes, ...]:
    """member, applied, caps, orders, tier history, imported ids (``KEYS_PER_MEMBER``):
    one ``{m:ID}`` hash tag, so one member's keys always share a slot. Bytes: a batch
    sends thousands of keys, and redis-py passes bytes through without encoding them.
    Cached: every round builds them twice for each of its members (read and write)."""
    return tuple(
        k.encode()
        for k in (
            member_key(member_id),
            applied_key(member_id),
            caps_key(member_id),
            orders_key(member_id),
            history_key(member_id),
            history_ids_key(member_id),
        )
    )


# Many members per call: KEYS are ``member_keys`` of each member, ARGV[1] a msgpack list
# with one entry per member: [version read, {"h": [field, value, ...], "a": [ts, id, ...],
# "trim": cutoff, "ttl": ms, "c": {field: points}, "cd": [field], "o": {order id: order},
# "t": history entry or "", "n": history kept, "x": [old imported id]}] (every value a string).
# Returns a list with, per member, 1 when written or 0 when the version moved.
WRITE_SCRIPT: Final = """
-- unpack() takes a few thousand values at most: long lists go in slices.
local function many(cmd, key, list)
  for s = 1, #list, 4000 do
    redis.call(cmd, key, unpack(list, s, math.min(s + 3999, #list)))
  end
end
local function pairs_of(map)
  local flat = {}
  for k, v in pairs(map) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  return flat
end
local all = cmsgpack.unpack(ARGV[1])
local out = {}
for i, item in ipairs(all) do
  local b = (i - 1) * 6
  local K1, K2, K3, K4, K5 = KEYS[b + 1], KEYS[b + 2], KEYS[b + 3], KEYS[b + 4], KEYS[b + 5]
  local current = redis.call('HGET', K1, 'ver') or '0'
  if current ~= item[1] then
    out[i] = 0
  else
    local w = item[2]
    redis.call('HSET', K1, 'ver', tostring(tonumber(current) + 1), unpack(w.h))
    if #w.a > 0 then
      many('ZADD', K2, w.a)
      redis.call('ZREMRANGEBYSCORE', K2, '-inf', '(' .. w.trim)
      redis.call('PEXPIRE', K2, w.ttl)
    end
    -- One HSET for all of a member's cap records (and orders), not one per field.
    local caps = pairs_of(w.c)
    if #caps > 0 then many('HSET', K3, caps) end
    many('HDEL', K3, w.cd)
    if #caps > 0 then redis.call('PEXPIRE', K3, w.ttl) end
    many('HSET', K4, pairs_of(w.o))
    if w.t ~= '' then
      redis.call('LPUSH', K5, w.t)
      redis.call('LTRIM', K5, 0, tonumber(w.n) - 1)
    end
    many('SADD', KEYS[b + 6], w.x)
    out[i] = 1
  end
end
return out
"""

# Many members per call: KEYS as for WRITE_SCRIPT; ARGV[1] a msgpack list of the state
# field names, ARGV[2] a msgpack list with one entry per member: [event ids, cap fields,
# 1 to read the orders, ids to look up among the imported ones]. Returns one msgpack
# string (one reply to parse, however many members): per member [fields, applied
# scores, cap values, orders as a flat list, imported flags]; a missing value is false.
READ_SCRIPT: Final = """
-- unpack() takes a few thousand values at most: long lists go in slices.
local function many(cmd, key, list)
  local out = {}
  for s = 1, #list, 4000 do
    local part = redis.call(cmd, key, unpack(list, s, math.min(s + 3999, #list)))
    for _, v in ipairs(part) do out[#out + 1] = v end
  end
  return out
end
local names = cmsgpack.unpack(ARGV[1])
local all = cmsgpack.unpack(ARGV[2])
local out = {}
for i, item in ipairs(all) do
  local b = (i - 1) * 6
  local state = redis.call('HMGET', KEYS[b + 1], unpack(names))
  local seen, caps, orders, old = {}, {}, {}, {}
  if #item[1] > 0 then seen = many('ZMSCORE', KEYS[b + 2], item[1]) end
  if #item[2] > 0 then caps = many('HMGET', KEYS[b + 3], item[2]) end
  if item[3] == 1 then orders = redis.call('HGETALL', KEYS[b + 4]) end
  if #item[4] > 0 then old = many('SMISMEMBER', KEYS[b + 6], item[4]) end
  out[i] = {state, seen, caps, orders, old}
end
return cmsgpack.pack(out)
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
    "valued": "valued_orders",
}
_FLOAT_FIELDS: Final = {"score": "score", "watch_s": "watch_seconds"}
# What the scorer reads of a member hash (HMGET: half the reply of HGETALL).
STATE_FIELDS: Final = (*_INT_FIELDS, *_FLOAT_FIELDS, "tier", "mode", "reason", "olog", "risk")


def text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value


def state_from_hash(member_id: MemberId, raw: Mapping[Any, Any]) -> MemberState:
    """Read a member hash; a field that is missing or unreadable is 0 (or empty)."""
    data = {
        (k if isinstance(k, str) else k.decode()): (v if isinstance(v, str) else v.decode())
        for k, v in raw.items()
    }
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
    if "valued" not in data:
        # Written before orders were converted: every counted order was in the currency.
        values["valued_orders"] = values["orders"] if values["revenue_minor"] else 0
    return MemberState(
        member_id=member_id,
        tier=tier,
        pinned=data.get("mode", "pinned") != "auto",
        reason=data.get("reason", ""),
        order_log=decode_order_log(data.get("olog", "")),
        at_risk=data.get("risk") == "1",
        **values,
    )


def encode_order_log(log: tuple[tuple[int, int], ...]) -> str:
    return " ".join(f"{ts}:{value}" for ts, value in log)


def decode_order_log(raw: str) -> tuple[tuple[int, int], ...]:
    """``ts:value ts:value``; an unreadable pair is left out."""
    out = []
    for pair in raw.split():
        ts, _, value = pair.partition(":")
        try:
            out.append((int(ts), int(value)))
        except ValueError:
            continue
    return tuple(out)


def state_fields(state: MemberState) -> dict[str, str]:
    """The scoring fields of ``state`` as hash values (never name, mode or ver)."""
    out = {name: str(getattr(state, attr)) for name, attr in _INT_FIELDS.items() if name != "ver"}
    out.update({name: repr(float(getattr(state, attr))) for name, attr in _FLOAT_FIELDS.items()})
    if state.tier is not None:
        out["tier"] = state.tier.value
    out["reason"] = state.reason
    out["olog"] = encode_order_log(state.order_log)
    out["risk"] = "1" if state.at_risk else "0"
    return out
