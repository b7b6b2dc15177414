"""GcPacing: the serving process's collector never walks the whole heap but on schedule."""

from __future__ import annotations

import gc
import weakref
from collections.abc import AsyncIterator

import pytest

from server.gc_pacing import NEVER, GcPacing
from tests.support.waiting import eventually


class Node:
    """Something that can sit in a reference cycle and be watched through a weakref."""

    def __init__(self) -> None:
        self.other: Node | None = None


def cycle() -> weakref.ref[Node]:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
async def pacing() -> AsyncIterator[GcPacing]:
    pacing = GcPacing(interval=3600, full_interval=3600)
    pacing.start()
    try:
        yield pacing
    finally:
        await pacing.stop()


async def test_start_freezes_and_turns_automatic_full_collections_off() -> None:
    before = gc.get_threshold()
    pacing = GcPacing(interval=3600, full_interval=3600)
    pacing.start()
    try:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (before[0], before[1], NEVER)
    finally:
        await pacing.stop()
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_a_paced_collection_leaves_what_survived_out_of_the_next(pacing: GcPacing) -> None:
    """Issue 17: a full collection walked every live object (some 300,000 with 2,000 people
    in a room) and stopped the loop for 0.2-0.7 s during bursts of joins. What survives a
    paced collection is frozen: the next one walks only what was made since."""
    alive = [[i] for i in range(50_000)]  # tracked containers, as sessions are made of
    pacing.collect()
    assert len(gc.get_objects()) < 10_000  # what a collection walks now
    assert len(alive) == 50_000


async def test_garbage_made_since_the_last_collection_is_collected(pacing: GcPacing) -> None:
    watched = cycle()
    pacing.collect()
    assert watched() is None


async def test_a_frozen_cycle_is_found_by_the_full_collection(pacing: GcPacing) -> None:
    a = Node()
    a.other = Node()
    a.other.other = a
    watched = weakref.ref(a)
    pacing.collect()  # alive: frozen
    del a
    pacing.collect()
    assert watched() is not None  # a paced collection does not walk the frozen
    pacing.collect_all()
    assert watched() is None


async def test_collections_run_on_their_schedule() -> None:
    pacing = GcPacing(interval=0.01, full_interval=0.05)
    pacing.start()
    try:
        await eventually(
            lambda: pacing.collections >= 3 and pacing.full_collections >= 1,
            what="three paced collections and a full one",
        )
    finally:
        await pacing.stop()
    assert pacing.longest > 0 and pacing.longest_full > 0
