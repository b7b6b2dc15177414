"""What the REST edges (``server/api.py``, ``server/engagement_api.py``,
``server/commerce_api.py``) share: the error body, the admin-key check and guard, and a
size-capped body read. Nothing here knows about rooms or engagement."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from redis.exceptions import RedisError

from server import operations as ops
from server.settings import Settings

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestError(ValueError):
    """A request refused with ``status`` and ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


def admin_key_matches(request: web.Request, settings: Settings) -> bool:
    """True if ``Authorization: Bearer`` carries the admin key (and one is configured)."""
    key = settings.auth.admin_key
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(key) and hmac.compare_digest(given.encode(), key.encode())


def admin_only(settings: Settings, handler: Handler, *, unavailable: bool = False) -> Handler:
    """``handler`` behind the admin key; ``RequestError`` and the shared field checks'
    ``InputError`` answer as 4xx. With ``unavailable``, a data store that cannot answer
    (Redis, socket, timeout) answers 503 instead of failing the request."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        if not admin_key_matches(request, settings):
            return error_response(401, "unauthorized", "A valid admin key is required.")
        try:
            return await handler(request)
        except RequestError as exc:
            return error_response(exc.status, exc.code, exc.message)
        except ops.InputError as exc:
            status = 413 if exc.code == "too_large" else 400
            return error_response(status, exc.code, exc.message)
        except (RedisError, OSError, TimeoutError) as exc:
            if not unavailable:
                raise
            logger.warning("%s %s: Redis unavailable: %s", request.method, request.path, exc)
            return error_response(
                503, "unavailable", "The data store cannot answer now: retry later."
            )

    return guarded


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The raw body; ``RequestError`` 413 if it is longer than ``limit`` bytes."""
    too_large = RequestError(413, "too_large", f"The body must be at most {limit} bytes.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    return raw
