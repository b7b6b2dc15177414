"""The webhook dispatcher: one background task per endpoint that posts its queue in
order, signed, and moves on only once the receiver answered 2xx (or the delivery is
older than ``give_up_after``). Failures retry with exponential backoff; the same
``Salon-Delivery-Id`` is sent on every attempt, so receivers deduplicate.

Across nodes an endpoint is delivered by one node at a time: the worker holds a lease
in Redis (``store.lease_key``) and renews it before each delivery. The app owns the
dispatcher (``start``/``stop`` in ``cleanup_ctx``); rooms never wait on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Final

import aiohttp
from redis.exceptions import RedisError

from server.engagement.events import now_ms
from server.engagement.tasks import Backoff, cancel_and_wait, check_cancelled
from server.http.commerce import sign
from server.redis_client import RedisClient
from server.settings import WebhookSettings
from server.webhooks.store import Delivery, Endpoint, WebhookStore, lease_key

logger = logging.getLogger(__name__)

SIGNATURE_HEADER: Final = "Salon-Signature"
DELIVERY_HEADER: Final = "Salon-Delivery-Id"
KIND_HEADER: Final = "Salon-Event"
# Seconds between two looks for deliveries queued by other nodes (an endpoint's worker).
POLL: Final = 0.5
# Seconds between two looks for endpoints added or removed on other nodes; this node's
# own changes are seen at once (``WebhookStore.on_endpoints_changed``). An endpoint added
# elsewhere is delivered by the node that added it meanwhile: nothing waits on this.
ENDPOINTS_EVERY: Final = 5.0
LEASE_MS: Final = 30_000
# KEYS[1] the lease. ARGV[1] this worker, ARGV[2] ms. 1 if held (renewed), else 0.
LEASE_SCRIPT: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


class WebhookDispatcher:
    def __init__(self, redis: RedisClient, store: WebhookStore, settings: WebhookSettings) -> None:
        self._store = store
        self._settings = settings
        self._lease = redis.register_script(LEASE_SCRIPT)
        self._me = uuid.uuid4().hex
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._refresh = asyncio.Event()
        store.on_endpoints_changed.append(self._refresh.set)
        self.delivered = 0
        self.failed_attempts = 0

    def wake(self) -> None:
        """New deliveries were queued by this node: look now rather than at the next poll."""
        for event in self._wakeups.values():
            event.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout),
            headers={"User-Agent": "Salon-Webhooks/1"},
        )
        self._task = asyncio.create_task(self._supervise(), name="webhook-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        for task in self._workers.values():
            await cancel_and_wait(task)
        self._workers.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _supervise(self) -> None:
        while True:
            check_cancelled()
            self._refresh.clear()  # before the read: a change during it is looked at again
            try:
                endpoints = {e.id: e for e in await self._store.endpoints()}
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("webhook dispatcher: Redis unavailable: %s", exc)
                endpoints = None
            if endpoints is not None:
                for endpoint_id in list(self._workers):
                    if endpoint_id not in endpoints:
                        await cancel_and_wait(self._workers.pop(endpoint_id))
                        self._wakeups.pop(endpoint_id, None)
                for endpoint_id, endpoint in endpoints.items():
                    task = self._workers.get(endpoint_id)
                    if task is None or task.done():
                        self._wakeups[endpoint_id] = asyncio.Event()
                        self._workers[endpoint_id] = asyncio.create_task(
                            self._work(endpoint), name=f"webhook-{endpoint_id}"
                        )
            # Redis down: look again soon, as before; else at the next change or look.
            with contextlib.suppress(TimeoutError):
                wait = POLL if endpoints is None else ENDPOINTS_EVERY
                await asyncio.wait_for(self._refresh.wait(), wait)

    async def _work(self, endpoint: Endpoint) -> None:
        backoff = Backoff(self._settings.backoff_min, self._settings.backoff_max)
        wakeup = self._wakeups[endpoint.id]
        attempts = 0
        while True:
            check_cancelled()
            try:
                held = await self._lease(keys=[lease_key(endpoint.id)], args=[self._me, LEASE_MS])
                delivery = await self._store.next_delivery(endpoint.id) if held else None
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("webhook %s: Redis unavailable: %s", endpoint.id, exc)
                await backoff.sleep()
                continue
            if delivery is None:
                wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wakeup.wait(), POLL)
                continue
            attempts += 1
            status, error = await self._post(endpoint, delivery)
            delivered = status is not None and 200 <= status < 300
            expired = now_ms() - delivery.queued_ms > self._settings.give_up_after * 1000
            state = "delivered" if delivered else ("failed" if expired else "retrying")
            record = {
                "state": state,
                "attempts": attempts,
                "last_status": status,
                "last_error": error,
                "at_ms": now_ms(),
            }
            try:
                await self._store.set_status(endpoint.id, delivery, record, delivered or expired)
            except (RedisError, OSError, TimeoutError) as exc:
                # Not marked: it will be posted again (same id), which at-least-once allows.
                logger.warning("webhook %s: status not saved: %s", endpoint.id, exc)
            if delivered or expired:
                if delivered:
                    self.delivered += 1
                else:
                    logger.warning(
                        "webhook %s: gave up on %s after %d attempts",
                        endpoint.id,
                        delivery.id,
                        attempts,
                    )
                attempts = 0
                backoff.reset()
            else:
                self.failed_attempts += 1
                await backoff.sleep()

    async def _post(self, endpoint: Endpoint, delivery: Delivery) -> tuple[int | None, str]:
        assert self._session is not None
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(endpoint.secret, delivery.body, int(time.time())),
            DELIVERY_HEADER: delivery.id,
            KIND_HEADER: delivery.kind,
        }
        try:
            async with self._session.post(
                endpoint.url, data=delivery.body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                return response.status, "" if response.status < 300 else f"HTTP {response.status}"
        except TimeoutError:
            return None, "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"[:200]
