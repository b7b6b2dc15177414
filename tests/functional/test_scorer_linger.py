"""A lightly loaded scorer lingers between reads so that its rounds carry batches
(issue 17: the standalone scorer used 28 % of a core for 200 events a second, because
events arrive in the recorder's 5 ms batches and each round applied about one event,
paying a round's fixed Redis round trips and script calls every time)."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from server.engagement.events import EventKind, new_event
from server.engagement.rules import load_rules
from server.engagement.scorer import Scorer
from server.ids import MemberId
from server.settings import EngagementSettings
from tests.functional.conftest import xadd
from tests.support.waiting import eventually

EVENTS = 60
SPACING_S = 0.005  # the recorder's flush interval: one event per write


async def trickle(redis: Redis, linger: float) -> Scorer:
    """Run a scorer while ``EVENTS`` events arrive one every ``SPACING_S``; return it once
    it applied them all."""
    settings = EngagementSettings(spill_dir="", scorer_linger=linger)
    scorer = Scorer(redis, settings, "lingering", rules=load_rules())
    await scorer.ensure_group()
    await scorer.start()
    try:
        for i in range(EVENTS):
            await xadd(redis, new_event(EventKind.CHAT, "room", MemberId(f"m{i % 7}")))
            await asyncio.sleep(SPACING_S)
        await eventually(lambda: scorer.applied, until=lambda n: n == EVENTS, what="all applied")
        return scorer
    finally:
        await scorer.stop()


async def test_a_trickle_of_events_is_applied_in_few_rounds(redis: Redis) -> None:
    """Events 5 ms apart with a 50 ms linger: about one round per 50 ms of arrivals
    (some six), where a scorer that reads again at once makes a round of nearly every
    event (about sixty)."""
    scorer = await trickle(redis, 0.05)
    assert scorer.applied == EVENTS
    assert scorer.rounds <= EVENTS // 4, f"{scorer.rounds} rounds for {EVENTS} events"
