"""One Redis pub/sub channel heard by this node: the subscription's task, its retries
after a lost connection, and its orderly stop.

Pub/sub delivers only to nodes connected at that moment: a subclass that must not miss
what was published while it was cut off catches up in ``on_subscribed`` (called after
every (re)subscription, before messages are read). Subclasses say what a message does in
``on_message``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from server.redis_client import RedisClient, disconnect, ready

logger = logging.getLogger(__name__)

RETRY_DELAY = 1.0
# How long a read waits for a message before looking again (and noticing a cancellation).
POLL = 1.0
STOP_TIMEOUT = 5.0


class ChannelListener(ABC):
    """Subscribes to ``channel`` and hands each message to ``on_message``.

    Owned by the app's ``cleanup_ctx``: ``start()`` starts one task, ``stop()`` cancels it.
    A lost connection is logged and retried every ``RETRY_DELAY`` seconds. ``redis`` is
    the listener's own client (the subscription holds a connection, and ``stop``
    disconnects the client's connections)."""

    def __init__(self, redis: RedisClient, channel: str, name: str) -> None:
        self._redis = redis
        self.channel = channel
        self.name = name
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self.subscribed = asyncio.Event()

    async def on_subscribed(self) -> None:  # noqa: B027 (a hook: most listeners need none)
        """Called after each (re)subscription, before messages are read."""

    @abstractmethod
    async def on_message(self, data: bytes) -> None:
        """One message published on the channel (every subclass says what it does)."""

    def start(self) -> None:
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"{self.name}-listener")

    async def stop(self) -> None:
        if self._task is None:
            return
        task, self._task = self._task, None
        # A flag as well as the cancellation: redis-py may turn a cancelled read into a
        # connection error, which the loop would otherwise take for an outage.
        self._stop.set()
        task.cancel()
        # A read blocked inside redis-py can outlive its cancellation (as the scorer's
        # does, server/app.py): dropping the connections ends it, so stopping is bounded.
        await asyncio.sleep(0)
        await disconnect(self._redis)
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, STOP_TIMEOUT)

    async def _run(self) -> None:
        quiet = False  # one warning per outage, not one per retry
        while not self._stop.is_set():
            pubsub = None
            try:
                await ready(self._redis)
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.channel)
                await self.on_subscribed()
                self.subscribed.set()
                if quiet:
                    logger.info("%s: listening on %s again", self.name, self.channel)
                quiet = False
                await self._listen(pubsub)
            except (RedisError, OSError, TimeoutError) as exc:
                if self._stop.is_set():
                    return
                logger.log(
                    logging.DEBUG if quiet else logging.WARNING,
                    "%s: cannot listen on %s (%s: %s); retrying every %.0f s",
                    self.name,
                    self.channel,
                    type(exc).__name__,
                    exc,
                    RETRY_DELAY,
                )
                quiet = True
            finally:
                self.subscribed.clear()
                if pubsub is not None:
                    with contextlib.suppress(RedisError, OSError, TimeoutError):
                        await asyncio.wait_for(
                            pubsub.aclose(),  # type: ignore[no-untyped-call]
                            STOP_TIMEOUT,
                        )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), RETRY_DELAY)

    async def _listen(self, pubsub: PubSub) -> None:
        while not self._stop.is_set():
            message = await pubsub.get_message(timeout=POLL)
            if message is None or message.get("type") != "message":
                continue
            await self.on_message(message["data"])
