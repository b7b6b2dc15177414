"""Where webhooks live in Redis: endpoints, one delivery queue (a stream) per endpoint,
the endpoint's cursor (the last entry delivered or given up) and each delivery's status.

Everything is under the ``{webhooks}`` hash tag, so a pipeline touching several
endpoints stays in one slot on Redis Cluster. Endpoint checks (``check_url``,
``check_kinds``) are pure and raise ``WebhookError`` with a code and parameters.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from yarl import URL

from server.redis_client import Atomic, RedisClient

ENDPOINTS_KEY: Final = "salon:{webhooks}:endpoints"
# Entries kept per endpoint queue (delivered ones are the history `deliveries` shows).
QUEUE_MAXLEN: Final = 10_000
MAX_URL: Final = 2048
MAX_ENDPOINTS: Final = 100
# The kinds an endpoint may ask for; "*" means every kind.
KINDS: Final = (
    "tier.changed",
    "member.registered",
    "rsvp.created",
    "session.started",
    "session.ended",
    "purchase.attributed",
    "consultation.requested",
    "consultation.accepted",
    "consultation.ended",
)


def queue_key(endpoint_id: str) -> str:
    return f"salon:{{webhooks}}:q:{endpoint_id}"


def cursor_key(endpoint_id: str) -> str:
    return f"salon:{{webhooks}}:cursor:{endpoint_id}"


def status_key(endpoint_id: str) -> str:
    return f"salon:{{webhooks}}:status:{endpoint_id}"


def lease_key(endpoint_id: str) -> str:
    return f"salon:{{webhooks}}:lease:{endpoint_id}"


class WebhookError(ValueError):
    """A refused endpoint or lookup: ``code`` for programs, ``params`` for the sentence."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params

    def sentence(self) -> str:
        p = self.params
        match self.code:
            case "bad_url":
                return f"The URL must be an absolute http or https URL (got {p['url']!r})."
            case "bad_kind":
                return f"Unknown event kind {p['kind']!r}: use one of {', '.join(KINDS)} or *."
            case "bad_secret":
                return "The secret must be 16 to 128 printable characters without spaces."
            case "too_many":
                return f"At most {MAX_ENDPOINTS} endpoints may be registered."
            case _:
                return f"No webhook endpoint {p.get('endpoint')!r}."


def check_url(value: Any) -> str:
    """An absolute http(s) URL with a host, or ``WebhookError('bad_url')``."""
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL:
        raise WebhookError("bad_url", url=str(value)[:80])
    try:
        url = URL(value)
    except ValueError:
        raise WebhookError("bad_url", url=value[:80]) from None
    if url.scheme not in ("http", "https") or not url.host or url.user or url.password:
        raise WebhookError("bad_url", url=value[:80])
    return value


def check_kinds(value: Any) -> tuple[str, ...]:
    """A list (or comma-separated string) of known kinds, or ``("*",)`` for all."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not items:
        raise WebhookError("bad_kind", kind=str(value)[:40])
    kinds: list[str] = []
    for item in items:
        kind = item.strip() if isinstance(item, str) else item
        if kind != "*" and kind not in KINDS:
            raise WebhookError("bad_kind", kind=str(kind)[:40])
        if kind not in kinds:
            kinds.append(kind)
    return ("*",) if "*" in kinds else tuple(kinds)


def check_secret(value: Any) -> str:
    if value is None:
        return "whsec_" + secrets.token_urlsafe(24)
    if not isinstance(value, str) or not 16 <= len(value) <= 128:
        raise WebhookError("bad_secret")
    if any(not ("\x21" <= c <= "\x7e") for c in value):
        raise WebhookError("bad_secret")
    return value


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    url: str
    secret: str
    kinds: tuple[str, ...]
    created_ms: int

    def wants(self, kind: str) -> bool:
        return "*" in self.kinds or kind in self.kinds

    def to_json(self, with_secret: bool = False) -> dict[str, Any]:
        shown = self.secret if with_secret else self.secret[:10] + "…"
        return {
            "id": self.id,
            "url": self.url,
            "kinds": list(self.kinds),
            "secret": shown,
            "created_ms": self.created_ms,
        }

    @classmethod
    def from_raw(cls, raw: bytes | str) -> Endpoint:
        data = json.loads(raw)
        return cls(
            id=data["id"],
            url=data["url"],
            secret=data["secret"],
            kinds=tuple(data["kinds"]),
            created_ms=int(data["created_ms"]),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One queued delivery and what became of it."""

    entry: str  # the stream entry id: the order within the endpoint
    id: str  # the idempotency id (``Salon-Delivery-Id``)
    kind: str
    body: bytes
    queued_ms: int

    @classmethod
    def from_entry(cls, entry: Any, fields: Any) -> Delivery:
        return cls(
            entry=entry.decode() if isinstance(entry, bytes) else str(entry),
            id=fields[b"id"].decode(),
            kind=fields[b"kind"].decode(),
            body=fields[b"body"],
            queued_ms=int(fields[b"ts"]),
        )


class WebhookStore:
    """Endpoints, queues, cursors and statuses; one round trip (or pipeline) per call."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        # Called after this process added or removed an endpoint (the dispatcher looks
        # again at once rather than at its next look).
        self.on_endpoints_changed: list[Callable[[], None]] = []

    def _changed(self) -> None:
        for hook in list(self.on_endpoints_changed):
            hook()

    async def add(self, url: Any, kinds: Any, secret: Any = None) -> Endpoint:
        endpoint = Endpoint(
            id="wh_" + secrets.token_hex(6),
            url=check_url(url),
            secret=check_secret(secret),
            kinds=check_kinds(kinds if kinds is not None else ["*"]),
            created_ms=time.time_ns() // 1_000_000,
        )
        if await self._redis.hlen(ENDPOINTS_KEY) >= MAX_ENDPOINTS:
            raise WebhookError("too_many")
        payload = {**endpoint.to_json(with_secret=True)}
        await self._redis.hset(ENDPOINTS_KEY, endpoint.id, json.dumps(payload))
        self._changed()
        return endpoint

    async def endpoints(self) -> list[Endpoint]:
        raw = await self._redis.hgetall(ENDPOINTS_KEY)
        return sorted((Endpoint.from_raw(v) for v in raw.values()), key=lambda e: e.created_ms)

    async def get(self, endpoint_id: str) -> Endpoint:
        raw = await self._redis.hget(ENDPOINTS_KEY, endpoint_id)
        if raw is None:
            raise WebhookError("not_found", endpoint=endpoint_id)
        return Endpoint.from_raw(raw)

    async def remove(self, endpoint_id: str) -> None:
        tx = Atomic(self._redis, ENDPOINTS_KEY)
        tx.hdel(ENDPOINTS_KEY, endpoint_id)
        for key in (queue_key, cursor_key, status_key):
            tx.delete(key(endpoint_id))
        removed, *_ = await tx.execute()
        if not removed:
            raise WebhookError("not_found", endpoint=endpoint_id)
        self._changed()

    async def enqueue(self, items: list[tuple[str, str, bytes, int]]) -> int:
        """Queue ``(id, kind, body, ts_ms)`` for every endpoint that wants the kind, in
        order; returns how many deliveries were queued."""
        endpoints = await self.endpoints()
        queued = 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for delivery_id, kind, body, ts_ms in items:
                for endpoint in endpoints:
                    if endpoint.wants(kind):
                        fields: dict[Any, Any] = {
                            "id": delivery_id,
                            "kind": kind,
                            "body": body,
                            "ts": ts_ms,
                        }
                        pipe.xadd(
                            queue_key(endpoint.id), fields, maxlen=QUEUE_MAXLEN, approximate=True
                        )
                        queued += 1
            if queued:
                await pipe.execute()
        return queued

    async def next_delivery(self, endpoint_id: str) -> Delivery | None:
        """The first delivery after the endpoint's cursor, or None."""
        cursor: Any = await self._redis.get(cursor_key(endpoint_id))
        low = "(" + cursor.decode() if cursor else "-"
        entries: Any = await self._redis.xrange(queue_key(endpoint_id), min=low, max="+", count=1)
        if not entries:
            return None
        entry, fields = entries[0]
        return Delivery.from_entry(entry, fields)

    async def set_status(
        self, endpoint_id: str, delivery: Delivery, status: dict[str, Any], done: bool
    ) -> None:
        """Record an attempt; ``done`` (delivered or given up) moves the cursor past it."""
        tx = Atomic(self._redis, status_key(endpoint_id))
        tx.hset(status_key(endpoint_id), delivery.id, json.dumps(status))
        if done:
            tx.set(cursor_key(endpoint_id), delivery.entry)
        await tx.execute()

    async def deliveries(self, endpoint_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The newest ``limit`` deliveries of an endpoint, newest first, with status."""
        await self.get(endpoint_id)
        entries: Any = await self._redis.xrevrange(queue_key(endpoint_id), count=limit)
        items = [Delivery.from_entry(entry, fields) for entry, fields in entries]
        raw = (
            await self._redis.hmget(status_key(endpoint_id), [d.id for d in items]) if items else []
        )
        out = []
        for delivery, status in zip(items, raw, strict=True):
            state = json.loads(status) if status else {"state": "pending", "attempts": 0}
            out.append(
                {"id": delivery.id, "kind": delivery.kind, "queued_ms": delivery.queued_ms, **state}
            )
        return out
