"""The periodic refit of the predicted purchases, and where the predictions are kept.

``refit`` reads every member's order log (``olog``) and first-seen time, fits
``Predictor`` in a thread (never on the event loop), and writes each member's figures
to ``salon:{m:ID}:predicted`` (a hash of its own: the scorer's compare-and-set on the
member hash is not disturbed). The scorer owns the schedule (``Scorer.run``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

from server.engagement.members import MEMBER_INDEX_KEY
from server.engagement.predict import Prediction, Predictor
from server.engagement.state_codec import decode_order_log, text
from server.ids import MemberId
from server.redis_client import RedisClient

logger = logging.getLogger(__name__)

CHUNK: Final = 1000


def predicted_key(member_id: MemberId) -> str:
    return f"salon:{{m:{member_id}}}:predicted"


async def refit(redis: RedisClient, now: int) -> int:
    """Fit on every member and write their predictions; returns how many were written
    (0 when there is too little history to fit)."""
    ids = sorted(text(m) for m in await redis.smembers(MEMBER_INDEX_KEY))
    members: list[tuple[MemberId, tuple[tuple[int, int], ...], int]] = []
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        async with redis.pipeline(transaction=False) as pipe:
            for member in chunk:
                pipe.hmget(f"salon:{{m:{member}}}:member", "olog", "since")
            rows = await pipe.execute()
        for member, (olog, since) in zip(chunk, rows, strict=True):
            try:
                first = int(text(since) or 0)
            except ValueError:
                first = 0
            members.append((MemberId(member), decode_order_log(text(olog)), first))
    started = time.perf_counter()
    pairs = [(log, first) for _, log, first in members]
    predictions = await asyncio.to_thread(_fit_and_predict, pairs, now)
    if predictions is None:
        logger.info("predictions: too little order history to fit (%d members)", len(members))
        return 0
    logger.info(
        "predictions refitted on %d members in %.1f s", len(members), time.perf_counter() - started
    )
    for start in range(0, len(members), CHUNK):
        async with redis.pipeline(transaction=False) as pipe:
            for (member, _, _), p in zip(
                members[start : start + CHUNK], predictions[start : start + CHUNK], strict=True
            ):
                pipe.hset(predicted_key(member), mapping=_fields(p, now))
            await pipe.execute()
    return len(members)


def _fit_and_predict(
    members: list[tuple[tuple[tuple[int, int], ...], int]], now: int
) -> list[Prediction] | None:
    model = Predictor.fit(members, now)
    return None if model is None else model.predict(members, now)


def _fields(p: Prediction, now: int) -> dict[Any, Any]:
    return {
        "p_alive": repr(p.p_alive),
        "orders": repr(p.expected_orders),
        "value": str(p.expected_value_minor),
        "at": str(now),
    }


async def read_prediction(redis: RedisClient, member_id: MemberId) -> dict[str, Any] | None:
    raw = await redis.hgetall(predicted_key(member_id))
    data = {text(k): text(v) for k, v in raw.items()}
    try:
        return Prediction(
            float(data["p_alive"]), float(data["orders"]), int(data["value"])
        ).to_json() | {"fitted_at": int(data["at"])}
    except (KeyError, ValueError):
        return None
