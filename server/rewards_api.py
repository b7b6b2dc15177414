"""The operator's rewards routes under ``/api``, behind the admin key (``ROUTES`` lists them).

Coupons and points rewards are defined here; claims, redemptions per drop, draws (with
their audit), quizzes, points and the totals are read here. A reported purchase with a
``coupon`` reaches ``purchase_reported`` through ``server/commerce_api.py``. Refusals
answer ``{"error": {"code", "message"}}`` with the code of the ``RewardError`` (or the
text rule) and change nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from server import reward_ops as ops
from server.engagement.reports import valid_session_name
from server.http_common import Handler, RequestError, admin_only, error_response, read_capped
from server.rewards_text import sentence
from server.rooms.reward_errors import RewardError
from server.rooms.reward_service import Rewards
from server.settings import Settings
from server.text import TextError

logger = logging.getLogger(__name__)

MAX_BODY = 16 * 1024

# (method, path, summary): for the OpenAPI description.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("PUT", "/api/coupons/{coupon_id}", "Create or replace a coupon definition"),
    ("GET", "/api/coupons", "Every coupon with its claims and redemptions"),
    ("GET", "/api/coupons/{coupon_id}", "A coupon's claims and redemptions per drop"),
    ("PUT", "/api/points/rewards/{reward_id}", "Create or replace a reward redeemable for points"),
    ("GET", "/api/points/rewards", "The rewards redeemable for points"),
    ("GET", "/api/members/{member_id}/points", "A member's points balance, streak and ledger"),
    ("GET", "/api/rooms/{room_id}/rewards", "A room's drops, draws (with audit) and quizzes"),
    ("GET", "/api/metrics/rewards", "Points issued and redeemed, check-ins, coupons"),
    ("GET", "/api/metrics/sessions/{session}/rewards", "A room session's reward figures"),
)

STATUS = {"no_coupon": 404, "no_reward": 404, "unavailable": 503}


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await read_capped(request, MAX_BODY)
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise RequestError(400, "bad_json", "The body is not valid JSON.") from None
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
        return [web.route(m, p, self._guard(handlers[(m, p)])) for m, p, _ in ROUTES]

    def _guard(self, handler: Handler) -> Handler:
        async def refusing(request: web.Request) -> web.StreamResponse:
            try:
                return await handler(request)
            except RewardError as exc:
                return error_response(STATUS.get(exc.code, 400), exc.code, sentence(exc))
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
