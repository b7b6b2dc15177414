"""What the REST edges (``server/http/core.py``, ``server/http/engagement.py``,
``server/http/commerce.py``) share: the error body, the admin-key check and guard, a
size-capped body read and the JSON body parse. Nothing here knows about rooms or
engagement.

Every refusal is ``{"error": {"code", "message"}}``: a client's mistake is a 4xx, a data
store that cannot answer is 503 ``unavailable``; neither logs a traceback."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from server import operations as ops
from server.error_text import sentence
from server.rooms.errors import RoomError
from server.settings import Settings
from server.text import TextError

logger = logging.getLogger(__name__)

# Decimal exponents beyond this are not amounts (see exact_number).
MAX_EXPONENT = 30

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class RequestError(ValueError):
    """A request refused with ``status`` and ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str, **params: Any) -> web.Response:
    body = {"code": code, "message": message, **params}
    return web.json_response({"error": body}, status=status)


def room_error_response(status: int, error: RoomError) -> web.Response:
    """A domain refusal: its code, its parameters (``params``, as on the socket) and the
    sentence of the server's catalog."""
    extra: dict[str, Any] = {"params": error.params} if error.params else {}
    return error_response(status, error.code, sentence(error), **extra)


# What a refused string holds (the other TextError codes say it is missing or too long):
# the same split as the WebSocket edge's ``invalid_text`` / ``invalid_field``.
_CONTENT_PROBLEMS = frozenset({"bad_unicode", "control_character", "bidi_control"})


def text_code(exc: TextError) -> str:
    """``invalid_text`` (what the string holds) or ``invalid_field`` (missing, empty, long)."""
    return "invalid_text" if exc.code in _CONTENT_PROBLEMS else "invalid_field"


def text_error_response(exc: TextError) -> web.Response:
    """400 for a string the text rules refused (``text_code``), with ``field``, ``reason``
    (the ``TextError`` code) and its parameters (``char`` or ``limit``) beside the
    sentence."""
    return error_response(
        400, text_code(exc), exc.sentence(), field=exc.field, reason=exc.code, **exc.params
    )


def admin_key_matches(request: web.Request, settings: Settings) -> bool:
    """True if ``Authorization: Bearer <key>`` carries the admin key (and one is configured).

    Strict: the key alone, without the ``Bearer`` scheme, is refused (RFC 6750)."""
    key = settings.auth.admin_key
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), key.encode())


def admin_only(settings: Settings, handler: Handler, *, unavailable: bool = True) -> Handler:
    """``handler`` behind the admin key; ``RequestError``, the shared field checks'
    ``InputError`` and the text rules' ``TextError`` answer as 4xx. A data store that
    cannot answer (Redis, socket, timeout) answers 503 ``unavailable``; ``unavailable=False``
    lets such a failure through (nothing passes it today)."""

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
        except TextError as exc:
            return text_error_response(exc)
        except (RedisError, OSError, TimeoutError) as exc:
            if not unavailable:
                raise
            return unavailable_response(request, exc)

    return guarded


# aiohttp's own refusals under /api/ (no such path, wrong method, a body it will not read)
# answer with the same error body as the handlers'.
_HTTP_CODES = {
    400: ("bad_request", "The request is malformed."),
    404: ("not_found", "There is no such path."),
    405: ("method_not_allowed", "This path does not take that method."),
    413: ("too_large", "The body is too large."),
}


@web.middleware
async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Under ``/api/``, aiohttp's plain-text 4xx become ``{"error": {"code", "message"}}``."""
    if not request.path.startswith("/api/"):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code, message = _HTTP_CODES.get(exc.status, ("refused", exc.reason + "."))
        response = error_response(exc.status, code, message)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response


def unavailable_response(request: web.Request, exc: BaseException) -> web.Response:
    """503 ``unavailable`` for a data store that cannot answer; one warning line, no trace."""
    logger.warning(
        "%s %s: data store unavailable: %s: %s",
        request.method,
        request.path,
        type(exc).__name__,
        exc,
    )
    return error_response(503, "unavailable", "The data store cannot answer now: retry later.")


def exact_number(text: str) -> Decimal | float:
    """A JSON fraction read exactly (``parse_float=exact_number``), for amounts.

    A number far beyond any amount (``1e999999999``) stays a float (``inf`` or ``0.0``,
    which no amount accepts): formatting it as a Decimal would take seconds and gigabytes."""
    value = Decimal(text)
    if abs(value.adjusted()) > MAX_EXPONENT:
        return float(text)
    return value


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def parse_json(raw: bytes, **options: Any) -> Any:
    """``raw`` as JSON (``{}`` when empty), or ``RequestError`` 400 ``bad_json``.

    Nesting deep enough to exhaust the parser's recursion (``"[" * 30000``) is refused
    like any other bad JSON: it used to escape as a ``RecursionError`` and a 500. So are
    ``NaN`` and ``Infinity``, which Python reads but JSON does not have."""
    try:
        return json.loads(raw or b"{}", parse_constant=_not_json, **options)
    except (ValueError, RecursionError):
        raise RequestError(400, "bad_json", "The body is not valid JSON.") from None


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as a whole number from ``low`` to ``high`` (``default``
    when absent), or ``RequestError`` 400 ``invalid_field``.

    ASCII digits only: ``"²".isdigit()`` is true but ``int("²")`` raises, which used to
    escape as a 500."""
    text = request.query.get(name, str(default))
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else low - 1
    if not low <= value <= high:
        raise RequestError(
            400, "invalid_field", f"{name} must be a whole number from {low} to {high}."
        )
    return value


async def read_capped(request: web.Request, limit: int) -> bytes:
    """The raw body; ``RequestError`` 413 if it is longer than ``limit`` bytes."""
    too_large = RequestError(413, "too_large", f"The body must be at most {limit} bytes.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise too_large
    return raw
