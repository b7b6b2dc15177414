"""Purchases reported by an operator's shop: ``POST /api/purchases``.

Two ways in: the operator's admin key (``Authorization: Bearer …``, like ``server/http/core.py``)
or a signature by the shop's backend with ``commerce.webhook_secret``::

    X-Salon-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + raw body>

A signature older or newer than ``commerce.signature_tolerance`` is refused, so a
captured request cannot be replayed later. Each ``order_id`` is accepted once: a repeat
answers 200 with the first answer and ``"duplicate": true`` and records nothing.

Attribution (docs/decisions.md, "Purchases"): a purchase is credited to the room session
the member is in when it is reported, on any node (``server/rooms/whereabouts.py``; the
node holding the room is told through ``server/rooms/effects.py``); failing that, to the
session of the member's last product click within ``commerce.attribution_window``;
failing that, to no room.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from redis.exceptions import RedisError

from server.cluster.registry import NodeRegistry
from server.engagement.events import EventKind, PurchaseError, new_event, now_ms, purchase_data
from server.engagement.recorder import EventRecorder
from server.error_text import sentence
from server.http.common import (
    RequestError,
    admin_key_matches,
    error_response,
    exact_number,
    parse_json,
    read_capped,
)
from server.http.openapi import ID, Operation, obj, operation
from server.ids import MemberId, RoomId, is_valid_id
from server.redis_client import RedisClient
from server.reward_ops import purchase_coupon
from server.rooms.click_store import ClickStore
from server.rooms.effects import Effects
from server.rooms.notices import purchase_made
from server.rooms.reward_errors import RewardError
from server.rooms.room import Room
from server.rooms.service import RoomService
from server.rooms.whereabouts import Whereabout, Whereabouts, live
from server.settings import Settings

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
ORDER_TTL = 90 * 24 * 3600
SIGNATURE_HEADER = "X-Salon-Signature"
FIELDS = ("order_id", "member_id", "product_id", "amount", "currency", "coupon")


def order_key(order_id: str) -> str:
    return f"salon:{{o:{order_id}}}:purchase"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Salon-Signature`` value for ``body`` (what a shop's backend sends)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def check_signature(
    secret: str, header: str, body: bytes, now: float, tolerance: int
) -> str | None:
    """None if ``header`` signs ``body`` with ``secret`` recently enough, else why not."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return "the signature has no timestamp"
    if abs(now - timestamp) > tolerance:
        return "the signature's timestamp is too old or in the future"
    expected = sign(secret, body, timestamp).partition("v1=")[2]
    if not any(hmac.compare_digest(expected, given) for given in parts.get("v1", [])):
        return "the signature does not match the body"
    return None


# Purchases' own refusals carry their status (401 for a bad signature, 400 for a field).
InputError = RequestError


def parse_purchase(body: bytes) -> dict[str, Any]:
    """The purchase in ``body``, checked field by field, or ``InputError`` saying what.

    ``amount`` may be a JSON number or a decimal string (``"129.90"``); it is kept as the
    event contract's decimal string (``server.engagement.events.purchase_data``).
    """
    data = parse_json(body, parse_float=exact_number)
    if not isinstance(data, dict):
        raise InputError(400, "bad_json", "The body must be a JSON object.")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InputError(400, "invalid_field", f"Unknown field '{unknown[0][:40]}'.")
    for key in ("member_id", "product_id"):
        if not is_valid_id(data.get(key)):
            raise InputError(
                400, "invalid_field", f"The {key} must be an id (letters, digits, '.', '_', '-')."
            )
    try:
        checked = purchase_data(data.get("order_id"), data.get("amount"), data.get("currency"))
    except PurchaseError as exc:
        raise InputError(
            400, "invalid_field", f"This purchase cannot be recorded: {exc}."
        ) from None
    coupon = {} if data.get("coupon") is None else {"coupon": _coupon(data["coupon"])}
    return {
        "order_id": checked["order_id"],
        "member_id": data["member_id"],
        "product_id": data["product_id"],
        "amount": checked["amount"],
        "currency": checked["currency"],
        **coupon,
    }


def _coupon(value: Any) -> str:
    """The optional coupon code (redeemed by ``server/http/rewards.py``)."""
    try:
        return purchase_coupon(value)
    except RewardError as exc:
        raise InputError(400, "invalid_field", sentence(exc)) from None


class CommerceApi:
    def __init__(
        self,
        settings: Settings,
        service: RoomService,
        clicks: ClickStore,
        redis: RedisClient,
        recorder: EventRecorder,
    ) -> None:
        self._settings = settings
        self._service = service
        self._clicks = clicks
        self._redis = redis
        self._recorder = recorder
        # Rewards (coupon redemption, purchase points): set by the app factory.
        self.on_purchase: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]] | None = None
        # Rooms live on other nodes (set by the app factory when this node registers).
        self.cross_node: CrossNode | None = None

    def routes(self) -> list[web.AbstractRouteDef]:
        return [web.post("/api/purchases", self.post_purchase)]

    async def _read_body(self, request: web.Request) -> bytes:
        return await read_capped(request, MAX_BODY)

    def _authorize(self, request: web.Request, body: bytes) -> None:
        if request.headers.get("Authorization", ""):
            if admin_key_matches(request, self._settings):
                return
            raise InputError(401, "unauthorized", "A valid admin key or signature is required.")
        secret = self._settings.commerce.webhook_secret
        header = request.headers.get(SIGNATURE_HEADER)
        if not secret or header is None:
            raise InputError(401, "unauthorized", "A valid admin key or signature is required.")
        tolerance = self._settings.commerce.signature_tolerance
        problem = check_signature(secret, header, body, time.time(), tolerance)
        if problem is not None:
            raise InputError(401, "unauthorized", f"The signature was refused: {problem}.")

    async def post_purchase(self, request: web.Request) -> web.Response:
        try:
            body = await self._read_body(request)
            self._authorize(request, body)
            purchase = parse_purchase(body)
        except InputError as exc:
            return error_response(exc.status, exc.code, exc.message)
        try:
            return await self._accept(purchase)
        except (RedisError, OSError, TimeoutError) as exc:
            logger.warning("purchase %s not accepted: %s", purchase["order_id"], exc)
            return error_response(
                503, "unavailable", "Purchases cannot be stored right now: retry later."
            )

    async def _accept(self, purchase: dict[str, Any]) -> web.Response:
        member = MemberId(purchase["member_id"])
        room, attribution = await self._attribute(member)
        answer = {"purchase": purchase, "attribution": attribution}
        stored = await self._redis.set(
            order_key(purchase["order_id"]), json.dumps(answer), nx=True, ex=ORDER_TTL
        )
        if not stored:
            first = await self._redis.get(order_key(purchase["order_id"]))
            previous = json.loads(first) if first else answer
            return web.json_response({**previous, "duplicate": True}, status=200)
        self._recorder.record(
            new_event(
                EventKind.PURCHASE,
                attribution["room_id"] if attribution else "",
                member,
                **purchase_data(
                    purchase["order_id"],
                    purchase["amount"],
                    purchase["currency"],
                    product_id=purchase["product_id"],
                    session=attribution["session"] if attribution else "",
                    via=attribution["via"] if attribution else "",
                ),
            )
        )
        # Credited means on disk (the journal) or in Redis: a crash cannot lose it.
        await self._recorder.durable(self._settings.redis.timeout)
        details = {k: purchase[k] for k in ("order_id", "amount", "currency")}
        if room is not None and attribution is not None:
            await purchase_made(room, member, purchase["product_id"], details)
        elif attribution is not None and self.cross_node is not None:
            # The session is live on another node, or ended: whoever holds it is told.
            await self.cross_node.effects.purchase(
                attribution["room_id"],
                attribution["session"],
                member,
                purchase["product_id"],
                details,
            )
        rewards = await self.on_purchase(purchase) if self.on_purchase else {}
        logger.info(
            "purchase %s by %s credited to %s",
            purchase["order_id"],
            member,
            f"{attribution['room_id']} ({attribution['via']})" if attribution else "no room",
        )
        return web.json_response({**answer, **rewards, "duplicate": False}, status=201)

    async def _attribute(self, member: MemberId) -> tuple[Room | None, dict[str, Any] | None]:
        """The room session this purchase belongs to, and the live room if it is here.

        The room the member joined last, on this node or (``cross_node``) any live one."""
        now_wall, now_mono = now_ms(), time.monotonic()
        present: list[tuple[int, RoomId, str, Room | None]] = [
            (
                now_wall - int((now_mono - p.joined_at) * 1000),
                RoomId(room.room_id),
                room.session_id,
                room,
            )
            for room in self._service.live_rooms.values()
            if (p := room.current_of(member)) is not None
        ]
        if self.cross_node is not None:
            present += [
                (e.joined_ms, e.room_id, e.session, None)
                for e in await self.cross_node.elsewhere(member)
            ]
        if present:
            _, room_id, session, room = max(present, key=lambda item: item[0])
            return room, {"room_id": room_id, "session": session, "via": "presence"}
        window = self._settings.commerce.attribution_window
        click = await self._clicks.last(member)
        if click is None or click.ts_ms < now_ms() - window * 1000:
            return None, None
        live = self._service.live_rooms.get(RoomId(click.room_id))
        here = live if live and live.session_id == click.session_id else None
        return here, {"room_id": click.room_id, "session": click.session_id, "via": "click"}


@dataclass(frozen=True, slots=True)
class CrossNode:
    """What a purchase needs of the other nodes: where the member is live (the index and
    the registry of live nodes) and the channel that tells the node holding the room."""

    whereabouts: Whereabouts
    effects: Effects
    registry: NodeRegistry

    async def elsewhere(self, member: MemberId) -> list[Whereabout]:
        """The live rooms ``member`` is in on other live nodes."""
        entries = await self.whereabouts.where(member)
        if not entries:
            return []
        nodes = {node.node_id: node.started_ms for node in await self.registry.nodes()}
        return [e for e in live(entries, nodes) if e.node != self.whereabouts.node]


# --- the OpenAPI description of ``POST /api/purchases`` ------------------------------------

_PURCHASE: Final = obj(
    ("order_id", "member_id", "product_id", "amount", "currency"),
    extra=False,
    order_id={"type": "string", "pattern": "^[\\x21-\\x7e]{1,128}$"},
    member_id=ID,
    product_id=ID,
    amount={
        "oneOf": [
            {"type": "string", "pattern": "^[0-9]+(\\.[0-9]{1,2})?$"},
            {"type": "number", "minimum": 0},
        ],
        "description": 'A decimal string ("129.90") or a JSON number, two decimals at most.',
    },
    currency={"type": "string", "pattern": "^[A-Z]{3}$"},
    coupon={
        "type": "string",
        "nullable": True,
        "pattern": "^ *[A-Za-z0-9-]{4,32} *$",
        "description": "A coupon code the member used at checkout (any case); redeemed "
        "with the purchase: a code that cannot be redeemed does not refuse the purchase.",
    },
)
_COUPON_OUTCOME: Final = obj(
    ("redeemed", "code"),
    redeemed={"type": "boolean"},
    code={"type": "string"},
    coupon={"type": "string", "description": "Redeemed: the coupon's id."},
    drop={"type": "string", "description": "Redeemed: the drop the code came from."},
    value={"type": "string", "description": "Redeemed: the amount off."},
    error={"type": "string", "description": "Not redeemed: the code saying why."},
    message={"type": "string", "description": "Not redeemed: the sentence saying why."},
)
_ATTRIBUTION: Final = {
    "nullable": True,
    **obj(
        ("room_id", "session", "via"),
        room_id=ID,
        session={"type": "string"},
        via={"type": "string", "enum": ["presence", "click"]},
    ),
}

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/purchases": {
        "post": {
            **operation(
                "Report a purchase (admin key, or the shop's X-Salon-Signature). A repeated "
                "order_id answers 200 with the first answer and `duplicate: true`.",
                obj(
                    ("purchase", "attribution", "duplicate"),
                    purchase=_PURCHASE,
                    attribution=_ATTRIBUTION,
                    duplicate={"type": "boolean"},
                    coupon=_COUPON_OUTCOME,
                    points={
                        "type": "integer",
                        "nullable": True,
                        "description": "The points this purchase earned (null: not added).",
                    },
                ),
                status=201,
                also=(200,),
                body=_PURCHASE,
            ),
            "security": [{"adminKey": []}, {"shopSignature": []}],
        }
    }
}
