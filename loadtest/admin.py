"""The operator's side of a run: a room, its members and their tokens, made through the API.

Everything goes through the server's REST API (``PUT /api/members/{id}``,
``PUT /api/rooms/{id}``, ``POST /api/tokens`` with the admin key), so it works against
a remote server as well as a local one; requests run concurrently, a bounded number at
a time. Given the server's secret instead (``--secret``), tokens are minted here
(``loadtest.tokens``, as an operator's backend would), which is faster for thousands of
members; members and the room still go through the API.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import aiohttp

from loadtest.scenario import Scenario
from loadtest.tokens import entry_token

T = TypeVar("T")
CONCURRENCY = 32
REQUEST_TIMEOUT = 15.0
TOKEN_TTL = 6 * 3600


class AdminError(RuntimeError):
    """The server refused or did not answer an operator request."""


@dataclass(frozen=True)
class Cast:
    """Who takes part in one run: the room, the host, and the members in join order."""

    room: str
    host: str
    members: list[str]
    host_token: str
    tokens: list[str]


def run_id() -> str:
    return secrets.token_hex(3)


class Admin:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, admin_key: str) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {admin_key}"}

    async def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._base}{path}"
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        for attempt in range(3):
            try:
                async with self._session.request(
                    method, url, json=body, headers=self._headers, timeout=timeout
                ) as response:
                    data: dict[str, Any] = await response.json(content_type=None)
                    if response.status >= 400:
                        error = data.get("error", {}) if isinstance(data, dict) else {}
                        raise AdminError(
                            f"{method} {path}: {response.status} {error.get('code', '')}: "
                            f"{error.get('message', data)}"
                        )
                    return data
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:
                if attempt == 2:
                    raise AdminError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
                await asyncio.sleep(0.5 * (attempt + 1))
        raise AssertionError("unreachable")

    async def put_member(self, member_id: str, tier: str, name: str) -> None:
        await self._call("PUT", f"/api/members/{member_id}", {"tier": tier, "name": name})

    async def put_room(self, room_id: str, scenario: Scenario, capacity: int) -> dict[str, Any]:
        body = {
            "title": f"Load test: {scenario.name}",
            "tiers": list(scenario.room.tiers),
            "capacity": capacity,
            "speaker_cap": scenario.room.speaker_cap,
        }
        return await self._call("PUT", f"/api/rooms/{room_id}", body)

    async def put_room_as(self, room_id: str, title: str, tiers: list[str], capacity: int) -> None:
        body = {"title": title, "tiers": tiers, "capacity": capacity}
        await self._call("PUT", f"/api/rooms/{room_id}", body)

    async def put_coupon(self, coupon_id: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", f"/api/coupons/{coupon_id}", body)

    async def coupon(self, coupon_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/api/coupons/{coupon_id}", {})

    async def token(self, member_id: str, room_id: str, role: str) -> str:
        body = {"member_id": member_id, "room_id": room_id, "role": role, "ttl": TOKEN_TTL}
        return str((await self._call("POST", "/api/tokens", body))["token"])


async def bounded(calls: list[Callable[[], Awaitable[T]]], limit: int = CONCURRENCY) -> list[T]:
    """Run ``calls`` at most ``limit`` at a time; results in order; the first error wins."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await call()

    return list(await asyncio.gather(*(one(c) for c in calls)))


def local_tokens(secret: str, room: str, members: list[str], role: str) -> list[str]:
    """Tokens minted here with the server's secret, as ``salon token`` would."""
    return [entry_token(secret, m, room, role, TOKEN_TTL) for m in members]


async def seed_room(
    base_url: str, admin_key: str, room: str, title: str, members: list[str], capacity: int
) -> None:
    """A room open to core members and ``members`` in it as core (a benchmark's cast)."""
    async with aiohttp.ClientSession() as session:
        admin = Admin(session, base_url, admin_key)
        await admin.put_room_as(room, title, ["core"], capacity)
        await bounded([partial(admin.put_member, m, "core", f"Member {m}") for m in members])


async def prepare(
    base_url: str, admin_key: str, scenario: Scenario, secret: str | None = None
) -> Cast:
    """Create the room and its members and mint every token; bounded and concurrent."""
    tag = run_id()
    room = f"lt-{tag}"
    host = f"lt-{tag}-host"
    members = [f"lt-{tag}-m{i}" for i in range(scenario.members.count)]
    capacity = scenario.room.capacity or max(1, len(members) + 10)
    async with aiohttp.ClientSession() as session:
        admin = Admin(session, base_url, admin_key)
        await admin.put_room(room, scenario, capacity)
        tier = scenario.members.tier
        await bounded(
            [partial(admin.put_member, m, tier, f"Bot {m.rsplit('-', 1)[-1]}") for m in members]
        )
        if secret:
            host_token = local_tokens(secret, room, [host], "host")[0]
            tokens = local_tokens(secret, room, members, "member")
        else:
            host_token = await admin.token(host, room, "host")
            tokens = await bounded([partial(admin.token, m, room, "member") for m in members])
    return Cast(room, host, members, host_token, tokens)
