"""Redis key names of the cross-member aggregates (one member's keys are in members.py
and ledger.py, under that member's ``{m:ID}`` hash tag).

Everything here shares the ``{metrics}`` hash tag, so that one script can update the
projections, totals and indexes together on Redis Cluster; a room session's figures
live under their own ``{s:ROOM:SESSION}`` tag (``session_key``).
"""

from __future__ import annotations

from typing import Final

# member id → "ver tier orders revenue repurchased": what the totals last counted.
PROJECTION: Final = "salon:{metrics}:proj"
# Counters: members, tier:<tier>, buyers, repeat_buyers, repurchasers, orders, revenue.
TOTALS: Final = "salon:{metrics}:totals"
# Hour (YYYYMMDDHH, UTC) → JSON tier counts at the end of that hour.
TIER_HISTORY: Final = "salon:{metrics}:tier_history"
# member id → last activity (ms): the 7- and 30-day active shares.
LAST_ACTIVE: Final = "salon:{metrics}:last_active"
# member id → when the sweep should look at the member again (ms).
DUE: Final = "salon:{metrics}:due"
# Funnel sets: invited members, members who joined a room, visitors from a hook link.
INVITED: Final = "salon:{metrics}:invited"
JOINED: Final = "salon:{metrics}:joined"
HOOKED: Final = "salon:{metrics}:hooked"
# Members flagged at risk, by the value of their orders in the window (minor units).
AT_RISK: Final = "salon:{metrics}:at_risk"
# Room sessions by their last event time (ms); members are session names.
SESSIONS: Final = "salon:{metrics}:sessions"


def session_key(session: str, part: str) -> str:
    """A key of one room session (``session`` is ``ROOM:SESSION_ID``)."""
    return f"salon:{{s:{session}}}:{part}"
