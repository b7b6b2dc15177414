"""The operator's rewards routes under ``/api``, behind the admin key, and their ``PATHS``.

Coupons and points rewards are defined here; claims, redemptions per drop, draws (with
their audit), quizzes, points and the totals are read here. A reported purchase with a
``coupon`` reaches ``purchase_reported`` through ``server/http/commerce.py``. Refusals
answer ``{"error": {"code", "message"}}`` with the code of the ``RewardError`` (or the
text rule) and change nothing.
"""

from __future__ import annotations

import logging
from typing import Any, Final

from aiohttp import web

from server import reward_ops as ops
from server.engagement.reports import valid_session_name
from server.error_text import sentence
from server.http.common import (
    Handler,
    RequestError,
    admin_only,
    error_response,
    parse_json,
    read_capped,
    room_error_response,
)
from server.http.openapi import (
    ID,
    SESSION_PARAM,
    TIER,
    Operation,
    Schema,
    obj,
    operation,
    path_param,
)
from server.rooms import rewards as rules
from server.rooms.reward_errors import RewardError
from server.rooms.reward_service import Rewards
from server.settings import Settings
from server.text import TextError

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024

STATUS = {"no_coupon": 404, "no_reward": 404, "unavailable": 503}


async def _body(request: web.Request) -> dict[str, Any]:
    data = parse_json(await read_capped(request, MAX_BODY))
    if not isinstance(data, dict):
        raise RequestError(400, "bad_json", "The body must be a JSON object.")
    return data


class RewardsApi:
    def __init__(self, settings: Settings, rewards: Rewards) -> None:
        self._settings = settings
        self._rewards = rewards

    def routes(self) -> list[web.AbstractRouteDef]:
        handlers: dict[tuple[str, str], Handler] = {
            ("PUT", "/api/coupons/{coupon_id}"): self.put_coupon,
            ("GET", "/api/coupons"): self.list_coupons,
            ("GET", "/api/coupons/{coupon_id}"): self.get_coupon,
            ("PUT", "/api/points/rewards/{reward_id}"): self.put_reward,
            ("GET", "/api/points/rewards"): self.list_rewards,
            ("GET", "/api/members/{member_id}/points"): self.member_points,
            ("GET", "/api/rooms/{room_id}/rewards"): self.room_rewards,
            ("GET", "/api/metrics/rewards"): self.totals,
            ("GET", "/api/metrics/sessions/{session}/rewards"): self.session,
        }
        return [web.route(m, p, self._guard(h)) for (m, p), h in handlers.items()]

    def _guard(self, handler: Handler) -> Handler:
        async def refusing(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except RewardError as exc:
                return room_error_response(STATUS.get(exc.code, 400), exc)
            except TextError as exc:
                return error_response(400, "invalid_field", exc.sentence())

        return admin_only(self._settings, refusing, unavailable=True)

    async def put_coupon(self, request: web.Request) -> web.Response:
        spec = await ops.put_coupon(
            self._rewards.coupons, request.match_info["coupon_id"], await _body(request)
        )
        return web.json_response(spec.to_json())

    async def list_coupons(self, request: web.Request) -> web.Response:
        return web.json_response({"coupons": await ops.coupons(self._rewards.coupons)})

    async def get_coupon(self, request: web.Request) -> web.Response:
        return web.json_response(
            await ops.coupon(self._rewards.coupons, request.match_info["coupon_id"])
        )

    async def put_reward(self, request: web.Request) -> web.Response:
        reward = await ops.put_reward(
            self._rewards.points,
            self._rewards.coupons,
            request.match_info["reward_id"],
            await _body(request),
        )
        return web.json_response(reward)

    async def list_rewards(self, request: web.Request) -> web.Response:
        return web.json_response({"rewards": await self._rewards.points.rewards()})

    async def member_points(self, request: web.Request) -> web.Response:
        return web.json_response(
            await ops.member_points(self._rewards.points, request.match_info["member_id"])
        )

    async def room_rewards(self, request: web.Request) -> web.Response:
        return web.json_response(
            await ops.room_rewards(self._rewards.records, request.match_info["room_id"])
        )

    async def totals(self, request: web.Request) -> web.Response:
        return web.json_response(await ops.totals(self._rewards.points, self._rewards.coupons))

    async def session(self, request: web.Request) -> web.Response:
        name = request.match_info["session"]
        if not valid_session_name(name):
            raise RequestError(400, "invalid_id", "A session is ROOM_ID:SESSION_ID.")
        return web.json_response(await ops.session_rewards(self._rewards.records, name))

    # --- for the engagement API and the purchases API --------------------------------

    async def session_extra(self, name: str, campaign: dict[str, Any]) -> dict[str, Any]:
        """What ``/api/metrics/sessions/{session}`` adds: reward figures and their ROI."""
        figures = await ops.session_rewards(self._rewards.records, name)
        return {"rewards": figures, "roi_with_rewards": ops.roi_with_rewards(campaign, figures)}

    async def purchase_reported(self, purchase: dict[str, Any]) -> dict[str, Any]:
        """A new purchase: redeem its coupon (if any) and add its points.

        The purchase stands whatever happens to the coupon (the shop has taken the
        order): a code that cannot be redeemed is reported in the answer, not refused.
        """
        out: dict[str, Any] = {}
        member, order = purchase["member_id"], purchase["order_id"]
        code = purchase.get("coupon")
        if code:
            try:
                done = await self._rewards.redeem(member, code, order)
                out["coupon"] = {
                    "redeemed": True,
                    "code": code,
                    "coupon": done.coupon_id,
                    "drop": done.drop_id,
                    "value": done.value,
                }
            except RewardError as exc:
                out["coupon"] = {
                    "redeemed": False,
                    "code": code,
                    "error": exc.code,
                    "params": exc.params,
                    "message": sentence(exc),
                }
        try:
            out["points"] = await self._rewards.purchase_points(
                member, order, purchase["amount"], purchase["currency"]
            )
        except RewardError as exc:
            logger.warning("order %s: points not added: %s", order, exc.code)
            out["points"] = None
        return out


# --- the OpenAPI description of the rewards routes ------------------------------------

_TITLE: Final[Schema] = {"type": "string", "minLength": 1, "maxLength": rules.MAX_TITLE}
_MONEY: Final[Schema] = {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"}
_COUNT: Final[Schema] = {"type": "integer", "minimum": 0}
_COUPON_BODY: Final = obj(
    ("title", "value", "count"),
    extra=False,
    title=_TITLE,
    pattern={
        "type": "string",
        "pattern": "^[A-Z0-9#-]{1,32}$",
        "default": "SALON-########",
        "description": f"Each '#' a random character; at least {rules.MIN_RANDOM} of them.",
    },
    value={
        "oneOf": [
            {"type": "string", "pattern": "^[0-9]{1,7}(\\.[0-9]{1,2})?$"},
            {"type": "integer", "minimum": 1, "maximum": int(rules.MAX_VALUE)},
        ],
        "description": f'The amount off ("10.00"): above 0, at most {rules.MAX_VALUE}.',
    },
    tiers={
        "oneOf": [{"type": "array", "items": TIER}, {"type": "string"}],
        "description": "Eligible tiers, a list or comma-separated; none: every member.",
    },
    count={"type": "integer", "minimum": 1, "maximum": rules.MAX_COUNT},
    per_member={"type": "integer", "minimum": 1, "maximum": rules.MAX_PER_MEMBER, "default": 1},
    expires_ms={"type": "integer", "minimum": 0, "maximum": 2**53, "default": 0},
)
_COUPON: Final = obj(
    ("id", "title", "pattern", "value", "tiers", "count", "per_member", "expires_ms"),
    id=ID,
    title={"type": "string"},
    pattern={"type": "string"},
    value=_MONEY,
    tiers={"type": "array", "items": TIER},
    count={"type": "integer"},
    per_member={"type": "integer"},
    expires_ms={"type": "integer"},
)
_FIGURES: Final = obj(
    ("coupon", "claimed", "redeemed", "drops"),
    coupon=_COUPON,
    claimed=_COUNT,
    redeemed=_COUNT,
    drops={
        "type": "array",
        "items": obj(
            ("id", "claims", "redeemed", "discount"),
            id={"type": "string"},
            claims=_COUNT,
            redeemed=_COUNT,
            discount=_MONEY,
        ),
    },
)
_REWARD: Final = obj(
    ("id", "title", "cost", "coupon"),
    id=ID,
    title={"type": "string"},
    cost={"type": "integer"},
    coupon=ID,
)
_REWARD_BODY: Final = obj(
    ("title", "cost", "coupon"),
    extra=False,
    title=_TITLE,
    cost={"type": "integer", "minimum": 1, "maximum": ops.MAX_COST},
    coupon=ID,
)
_RECORDS: Final[Schema] = {"type": "array", "items": {"type": "object"}}
_TOTALS: Final = obj(
    ("points_issued", "points_redeemed", "checkins", "coupons", "claimed", "redeemed"),
    points_issued=_COUNT,
    points_redeemed=_COUNT,
    checkins=_COUNT,
    coupons=_COUNT,
    claimed=_COUNT,
    redeemed=_COUNT,
)

PATHS: Final[dict[str, dict[str, Operation]]] = {
    "/api/coupons": {
        "get": operation(
            "Every coupon with its claims and redemptions.",
            obj(("coupons",), coupons={"type": "array", "items": _FIGURES}),
            errors=(),
        )
    },
    "/api/coupons/{coupon_id}": {
        "put": operation(
            "Create or replace a coupon definition (codes already given keep working).",
            _COUPON,
            params=[path_param("coupon_id")],
            body=_COUPON_BODY,
        ),
        "get": operation(
            "A coupon's claims and redemptions per drop.",
            _FIGURES,
            params=[path_param("coupon_id")],
            errors=(400, 404),
        ),
    },
    "/api/points/rewards": {
        "get": operation(
            "The rewards redeemable for points.",
            obj(("rewards",), rewards={"type": "array", "items": _REWARD}),
            errors=(),
        )
    },
    "/api/points/rewards/{reward_id}": {
        "put": operation(
            "Create or replace a reward redeemable for points: the coupon it gives.",
            _REWARD,
            params=[path_param("reward_id")],
            body=_REWARD_BODY,
            errors=(400, 404),
        )
    },
    "/api/members/{member_id}/points": {
        "get": operation(
            "A member's points balance, check-in streak and latest changes.",
            obj(
                ("member_id", "balance", "earned", "spent", "checkin", "log"),
                member_id=ID,
                balance={"type": "integer"},
                earned={"type": "integer"},
                spent={"type": "integer"},
                checkin=obj(
                    ("last_day", "streak", "days"),
                    last_day={"type": "integer", "nullable": True},
                    streak=_COUNT,
                    days=_COUNT,
                ),
                log=_RECORDS,
            ),
            params=[path_param("member_id")],
        )
    },
    "/api/rooms/{room_id}/rewards": {
        "get": operation(
            "A room's latest drops, draws (each audit checked again: `verified`) and quizzes.",
            obj(
                ("room_id", "drops", "draws", "quizzes"),
                room_id=ID,
                drops=_RECORDS,
                draws={
                    "type": "array",
                    "items": obj(("verified",), verified={"type": "boolean"}),
                },
                quizzes=_RECORDS,
            ),
            params=[path_param("room_id")],
        )
    },
    "/api/metrics/rewards": {
        "get": operation(
            "Points issued and redeemed, check-ins, draws, quizzes and coupons in all.",
            _TOTALS,
            errors=(),
        )
    },
    "/api/metrics/sessions/{session}/rewards": {
        "get": operation(
            "A room session's reward figures (drops, claims, redemptions, discount...).",
            obj(
                ("drops", "claims", "redemptions", "discount"),
                drops=_COUNT,
                claims=_COUNT,
                redemptions=_COUNT,
                discount=_MONEY,
            ),
            params=[SESSION_PARAM],
        )
    },
}
