"""Cross-member aggregates, written after each batch: what the operator's metrics read.

Two kinds of writes, both safe to repeat, so a batch redone after a crash or a lost
reply never counts twice:

- **Projections** of member state (``METRICS_SCRIPT``, one call on the ``{metrics}``
  slot): each member's tier, orders, revenue and repurchase flag are stored with the
  member's version, and the totals (members per tier, buyers, repeat buyers, orders,
  revenue) move by the difference only when a newer version arrives. Order does not
  matter and a repeat changes nothing. The same call keeps the last-activity index, the
  sweep's review times, the funnel sets, the room-session index and an hourly snapshot
  of the tier counts (the dashboard's tier distribution over time).
- **Room sessions** (``SESSION_SCRIPT``, one call per session on its own slot): every
  event id is added to the session's ``seen`` set first and counted only if it was new;
  purchases count once per order id. A session is ``ROOM:SESSION`` (the room session id
  the event carries) or ``ROOM:dYYYYMMDD`` when it carries none.

A crash between the member write and these leaves the projection one version behind
until that member's next change or review (at most ``tiers.review_interval``): the
totals are eventually exact, never double counted.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Final

import msgpack
from redis.exceptions import NoScriptError

from server.engagement import keys
from server.engagement.events import (
    Event,
    EventKind,
    PurchaseError,
    is_member_action,
    is_scored_action,
    number,
    parse_purchase,
    valid_id,
)
from server.engagement.rules import DAY_MS, Rules
from server.engagement.scoring import INTERACTION_KINDS, MemberState, utc_day
from server.ids import MemberId, is_valid_id
from server.redis_client import ClusterScripts, RedisClient, queue_script

SESSION_TTL_MS: Final = 400 * DAY_MS
SESSION_PARTS: Final = ("seen", "stats", "attendees", "participants", "buyers", "orders", "minutes")
TIER_HISTORY_MAX: Final = 24 * 400

# KEYS: proj, totals, tier_history, last_active, due, invited, joined, hooked, sessions,
# at_risk.
# ARGV[1]: msgpack {"m": [[id, ver, tier|'-', orders, revenue, repurchased, last_active,
# due, valued orders, value at risk (-1: not at risk)]],
# "hour", "prev_hour", "inv": [id], "joined": [id], "hook": [id], "s": [[session, ts]],
# "old": ms}. The first tier change of an hour also records the counts it started from
# as the previous hour's closing snapshot (when that hour has none): a chart of the
# history then shows a change made within the current hour.
# Every key is read and written a few times per call, not per member: the projections
# with one HMGET and one HSET, the totals' differences summed, each index with one ZADD
# (per 4,000 values).
METRICS_SCRIPT: Final = """
local w = cmsgpack.unpack(ARGV[1])
local changed = false
local function tier_counts()
  local t = redis.call('HMGET', KEYS[2],
    'tier:core', 'tier:active', 'tier:potential', 'tier:silent')
  return cjson.encode({core = tonumber(t[1]) or 0, active = tonumber(t[2]) or 0,
    potential = tonumber(t[3]) or 0, silent = tonumber(t[4]) or 0})
end
local function many(cmd, key, list, option)
  for s = 1, #list, 4000 do
    if option then
      redis.call(cmd, key, option, unpack(list, s, math.min(s + 3999, #list)))
    else
      redis.call(cmd, key, unpack(list, s, math.min(s + 3999, #list)))
    end
  end
end
local function many_read(cmd, key, list)
  local out = {}
  for s = 1, #list, 4000 do
    local part = redis.call(cmd, key, unpack(list, s, math.min(s + 3999, #list)))
    for j, v in ipairs(part) do out[s + j - 1] = v end
  end
  return out
end
local before = nil
if w.prev_hour and redis.call('HEXISTS', KEYS[3], w.hour) == 0
    and redis.call('HEXISTS', KEYS[3], w.prev_hour) == 0 then
  before = tier_counts()
end
local deltas, fields = {}, {}
local function bump(field, by)
  if by ~= 0 then
    if not deltas[field] then fields[#fields + 1] = field; deltas[field] = 0 end
    deltas[field] = deltas[field] + by
  end
end
local function flag(cond) if cond then return 1 end return 0 end
local ids = {}
for i, m in ipairs(w.m) do ids[i] = m[1] end
local olds = many_read('HMGET', KEYS[1], ids)
local proj, risky, safe, seen, due = {}, {}, {}, {}, {}
for i, m in ipairs(w.m) do
  local id, ver, nt = m[1], tonumber(m[2]), m[3]
  local no, nr, np, nv = tonumber(m[4]), tonumber(m[5]), tonumber(m[6]), tonumber(m[9])
  if nt == '-' then no, nr, np, nv = 0, 0, 0, 0 end
  local ov, ot, oo, orv, orp, ovo = -1, '-', 0, 0, 0, 0
  local old = olds[i]
  if old then
    local f = {}
    for x in string.gmatch(old, '%S+') do f[#f + 1] = x end
    ov, ot, oo, orv, orp = tonumber(f[1]), f[2], tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
    -- A projection from before issue 14 has no valued count: its member's orders are
    -- added to the valued ones when the member is next projected.
    ovo = tonumber(f[6] or '0')
  end
  if ver > ov and (old or nt ~= '-') then
    if ot ~= nt then
      if ot ~= '-' then bump('tier:' .. ot, -1) end
      if nt ~= '-' then bump('tier:' .. nt, 1) end
      bump('members', flag(nt ~= '-') - flag(ot ~= '-'))
      changed = true
    end
    bump('buyers', flag(no > 0) - flag(oo > 0))
    bump('repeat_buyers', flag(no > 1) - flag(oo > 1))
    bump('repurchasers', np - orp)
    bump('orders', no - oo)
    bump('revenue', nr - orv)
    bump('valued_orders', nv - ovo)
    proj[#proj + 1] = id
    proj[#proj + 1] = table.concat({ver, nt, no, nr, np, nv}, ' ')
  end
  if nt ~= '-' and tonumber(m[10]) >= 0 then
    risky[#risky + 1] = m[10]
    risky[#risky + 1] = id
  else
    safe[#safe + 1] = id
  end
  if nt ~= '-' then
    if tonumber(m[7]) > 0 then
      seen[#seen + 1] = m[7]
      seen[#seen + 1] = id
    end
    due[#due + 1] = m[8]
    due[#due + 1] = id
  end
end
for _, field in ipairs(fields) do
  if deltas[field] ~= 0 then redis.call('HINCRBY', KEYS[2], field, deltas[field]) end
end
many('HSET', KEYS[1], proj)
many('ZADD', KEYS[10], risky)
many('ZREM', KEYS[10], safe)
many('ZADD', KEYS[4], seen, 'GT')
many('ZADD', KEYS[5], due)
if changed then
  if before then redis.call('HSET', KEYS[3], w.prev_hour, before) end
  redis.call('HSET', KEYS[3], w.hour, tier_counts())
  if redis.call('HLEN', KEYS[3]) > tonumber(w.hmax) then
    local hours = redis.call('HKEYS', KEYS[3])
    table.sort(hours)
    redis.call('HDEL', KEYS[3], hours[1])
  end
end
many('SADD', KEYS[6], w.inv)
many('SADD', KEYS[7], w.joined)
many('SADD', KEYS[8], w.hook)
local sessions = {}
for _, s in ipairs(w.s) do
  sessions[#sessions + 1] = s[2]
  sessions[#sessions + 1] = s[1]
end
many('ZADD', KEYS[9], sessions, 'GT')
if #w.s > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', '(' .. w.old) end
return 1
"""

# KEYS: seen, stats, attendees, participants, buyers, orders, minutes (one session).
# ARGV[1]: msgpack {"room", "session", "ttl", "e": [[id, ts, code, member, a, b]]}: code
# j (join), l (leave: a watch seconds, b "1" if early), i (interaction), p (purchase: a
# order id, b revenue in minor units), o (anything else); ts a number.
SESSION_SCRIPT: Final = """
local w = cmsgpack.unpack(ARGV[1])
local new = 0
-- Counts are summed here and written once per field, and the ids are looked up and
-- added in a few commands for the whole batch (ZMSCORE, then one ZADD NX per 4,000
-- values): a batch of thousands of events costs a handful of commands, not one per event.
local stats, minutes, sets = {}, {}, {{}, {}, {}}
local watch, first, last = 0, nil, nil
local function add(t, k, by) t[k] = (t[k] or 0) + by end
local ids = {}
for i, e in ipairs(w.e) do ids[i] = e[1] end
local known = {}
for s = 1, #ids, 4000 do
  local part = redis.call('ZMSCORE', KEYS[1], unpack(ids, s, math.min(s + 3999, #ids)))
  for j, v in ipairs(part) do known[s + j - 1] = v end
end
local taken, adds = {}, {}
for i, e in ipairs(w.e) do
  local id, ts, code, member = e[1], e[2], e[3], e[4]
  if not known[i] and not taken[id] then
    taken[id] = true
    adds[#adds + 1] = ts
    adds[#adds + 1] = id
    new = new + 1
    local t = tonumber(ts)
    local minute = tostring(math.floor(t / 60000))
    if not first or t < first then first = t end
    if not last or t > last then last = t end
    if code == 'j' then
      add(stats, 'joins', 1)
      sets[1][member] = true
      add(minutes, minute .. ':j', 1)
    elseif code == 'l' then
      add(stats, 'leaves', 1)
      watch = watch + tonumber(e[5])
      if e[6] == '1' then add(stats, 'early_leaves', 1) end
    elseif code == 'i' then
      add(stats, 'interactions', 1)
      sets[2][member] = true
      add(minutes, minute .. ':i', 1)
    elseif code == 'p' then
      if redis.call('HSETNX', KEYS[6], e[5], e[6]) == 1 then
        add(stats, 'purchases', 1)
        add(stats, 'revenue', tonumber(e[6]))
        sets[3][member] = true
        add(minutes, minute .. ':p', 1)
        add(minutes, minute .. ':r', tonumber(e[6]))
      end
    end
  end
end
for s = 1, #adds, 4000 do
  redis.call('ZADD', KEYS[1], 'NX', unpack(adds, s, math.min(s + 3999, #adds)))
end
if first then
  local old = redis.call('HGET', KEYS[2], 'first_ts')
  if not old or first < tonumber(old) then redis.call('HSET', KEYS[2], 'first_ts', first) end
  old = redis.call('HGET', KEYS[2], 'last_ts')
  if not old or last > tonumber(old) then redis.call('HSET', KEYS[2], 'last_ts', last) end
end
for k, v in pairs(stats) do redis.call('HINCRBY', KEYS[2], k, v) end
if watch > 0 then redis.call('HINCRBYFLOAT', KEYS[2], 'watch_s', watch) end
for k, v in pairs(minutes) do redis.call('HINCRBY', KEYS[7], k, v) end
for i, set in ipairs(sets) do
  local members = {}
  for member in pairs(set) do members[#members + 1] = member end
  for s = 1, #members, 4000 do
    redis.call('SADD', KEYS[i + 2], unpack(members, s, math.min(s + 3999, #members)))
  end
end
redis.call('HSET', KEYS[2], 'room', w.room, 'session', w.session)
for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], w.ttl) end
return new
"""


def session_name(event: Event) -> str | None:
    """``ROOM:SESSION`` for an event in a room, or None for one outside any room."""
    if not event.room_id:
        return None
    session = event.data.get("session")
    if isinstance(session, str) and valid_id(session):
        return f"{event.room_id}:{session}"
    return f"{event.room_id}:d{utc_day(event.ts_ms)}"


def session_entry(event: Event, rules: Rules) -> list[str | int]:
    """What a room session counts of ``event``, a member action (staff work is not
    counted: the caller leaves it out)."""
    head: list[str | int] = [event.id, event.ts_ms]
    member = event.member_id
    if event.kind is EventKind.JOIN:
        return [*head, "j", member, "", ""]
    if event.kind is EventKind.LEAVE:
        watched = max(0.0, number(event.data, "watch_seconds") or 0.0)
        early = "1" if watched < rules.early_leave_seconds else "0"
        return [*head, "l", member, repr(watched), early]
    if event.kind is EventKind.PURCHASE:
        try:
            purchase = parse_purchase(event.data)
        except PurchaseError:
            return [*head, "o", member, "", ""]
        revenue = purchase.amount_minor if purchase.currency == rules.currency else 0
        return [*head, "p", member, purchase.order_id, str(revenue)]
    if event.kind in INTERACTION_KINDS and is_scored_action(event):
        return [*head, "i", member, "", ""]
    return [*head, "o", member, "", ""]


def projection(state: MemberState, due: int, now: int, window_ms: float) -> list[str]:
    """What the totals count of a member, and the value at stake when at risk (their
    orders' value in the window)."""
    _, value_at_risk = state.orders_since(now - int(window_ms))
    return [
        state.member_id,
        str(state.version),
        state.tier.value if state.tier else "-",
        str(state.orders),
        str(state.revenue_minor),
        "1" if state.repurchases > 0 else "0",
        str(state.last_active),
        str(due),
        str(state.valued_orders),
        str(value_at_risk) if state.at_risk else "-1",
    ]


def hour_of(ts_ms: int) -> str:
    return time.strftime("%Y%m%d%H", time.gmtime(ts_ms // 1000))


class Aggregates:
    """Writes the metrics' aggregates for a batch of events and member states."""

    def __init__(self, redis: RedisClient, rules: Rules) -> None:
        self._redis = redis
        self._rules = rules
        self._metrics = redis.register_script(METRICS_SCRIPT)
        self._session = redis.register_script(SESSION_SCRIPT)
        self._scripts = ClusterScripts(redis, self._metrics, self._session)

    async def write(
        self,
        events: Iterable[Event],
        states: Mapping[MemberId, tuple[MemberState, int]],
        now: int,
    ) -> None:
        """Count ``events`` into their sessions and funnel sets, project ``states``."""
        sessions: dict[str, list[list[str | int]]] = defaultdict(list)
        invited: set[str] = set()
        joined: set[str] = set()
        hooked: set[str] = set()
        for event in events:
            if not is_member_action(event):
                continue  # staff work: neither a session's nor the funnel's
            name = session_name(event)
            if name is not None:
                sessions[name].append(session_entry(event, self._rules))
            if event.kind is EventKind.JOIN:
                joined.add(event.member_id)
            elif event.kind is EventKind.INVITE:
                invitee = event.data.get("invitee")
                if is_valid_id(invitee):
                    invited.add(str(invitee))
            elif event.kind is EventKind.EXTERNAL and event.data.get("action") == "hook_click":
                hooked.add(event.member_id)
        payload = {
            "m": [
                projection(state, due, now, self._rules.order_window_ms)
                for state, due in states.values()
            ],
            "hour": hour_of(now),
            "prev_hour": hour_of(now - 3_600_000),
            "hmax": str(TIER_HISTORY_MAX),
            "inv": sorted(invited),
            "joined": sorted(joined),
            "hook": sorted(hooked),
            "s": [
                [name, str(max(int(e[1]) for e in entries))] for name, entries in sessions.items()
            ],
            "old": str(now - SESSION_TTL_MS),
        }
        # A restarted or promoted Redis has no scripts: load them and run once more, here,
        # for a batch retried later would find its events applied and count nothing.
        for attempt in (1, 2):
            await self._scripts.ready()
            try:
                await self._execute(payload, sessions)
                return
            except NoScriptError:
                self._scripts.forget()
                if attempt == 2:
                    raise

    async def _execute(self, payload: dict[str, Any], sessions: dict[str, list[Any]]) -> None:
        """Run the metrics script and one session script per session, in one pipeline."""
        async with self._redis.pipeline(transaction=False) as pipe:
            await queue_script(
                pipe,
                self._metrics,
                keys=[
                    keys.PROJECTION,
                    keys.TOTALS,
                    keys.TIER_HISTORY,
                    keys.LAST_ACTIVE,
                    keys.DUE,
                    keys.INVITED,
                    keys.JOINED,
                    keys.HOOKED,
                    keys.SESSIONS,
                    keys.AT_RISK,
                ],
                args=[msgpack.packb(payload)],
            )
            for name, entries in sessions.items():
                room, _, session = name.partition(":")
                await queue_script(
                    pipe,
                    self._session,
                    keys=[keys.session_key(name, part) for part in SESSION_PARTS],
                    args=[
                        msgpack.packb(
                            {"room": room, "session": session, "ttl": SESSION_TTL_MS, "e": entries}
                        )
                    ],
                )
            await pipe.execute()
