"""The wire format, parsed in one place with no I/O.

``parse(obj)`` turns a decoded JSON/msgpack object into one of the frozen client message
classes (the closed union ``ClientMessage``: the core messages here and each feature's
union) or raises ``ProtocolError(code, detail)``; ``decode_frame`` first turns a frame's
bytes or text into that object. What the server sends is built by the typed
constructors of ``server/outbound.py`` (rooms send it too); the socket's replies are
re-exported here.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, fields
from typing import Any, Literal

import msgpack

from server.ids import is_valid_id
from server.outbound import (
    answer,
    error,
    people_page,
    pong,
    reconnect,
    stream,
    wrong_encoding,
)
from server.rooms.resume import MAX_RESUME_TOKEN
from server.signaling import (
    messages_interactions,
    messages_people,
    messages_rewards,
    messages_stage,
)
from server.signaling.fields import ProtocolError, pc, string, wire_safe
from server.signaling.message_shapes import Parser, RefOnly
from server.signaling.messages_interactions import InteractionMessage
from server.signaling.messages_people import PeopleMessage
from server.signaling.messages_rewards import RewardMessage
from server.signaling.messages_stage import StageMessage

logger = logging.getLogger(__name__)

MAX_TOKEN = 4096
MAX_SDP = 48 * 1024
MAX_REF = 64
MAX_CANDIDATE = 1024

PcName = Literal["pub", "sub"]

__all__ = [
    "ProtocolError",
    "answer",
    "error",
    "parse",
    "people_page",
    "pong",
    "reconnect",
    "stream",
    "wrong_encoding",
]

# Feature modules define their own message classes and parsers; they are merged here so
# that every client message is still parsed through this one table.
FeatureMessage = StageMessage | InteractionMessage | RewardMessage | PeopleMessage
FEATURE_PARSERS: dict[str, Parser[FeatureMessage]] = {
    **messages_stage.PARSERS,
    **messages_interactions.PARSERS,
    **messages_rewards.PARSERS,
    **messages_people.PARSERS,
}


@dataclass(frozen=True, slots=True)
class Join:
    token: str
    room: str | None = None
    # The resume token of an earlier ``joined`` (server/rooms/resume.py).
    resume: str | None = None
    ref: str | None = None
    type: Literal["join"] = "join"


@dataclass(frozen=True, slots=True)
class Offer:
    pc: PcName
    sdp: str
    ref: str | None = None
    type: Literal["offer"] = "offer"


@dataclass(frozen=True, slots=True)
class Candidate:
    pc: PcName
    candidate: dict[str, Any] | None
    ref: str | None = None
    type: Literal["candidate"] = "candidate"


@dataclass(frozen=True, slots=True)
class Stop:
    pc: PcName
    ref: str | None = None
    type: Literal["stop"] = "stop"


@dataclass(frozen=True, slots=True)
class Leave(RefOnly):
    type: Literal["leave"] = "leave"


@dataclass(frozen=True, slots=True)
class Ping(RefOnly):
    """Answered with ``pong`` at once, before or after ``join`` (LiveKit's ping/pong)."""

    type: Literal["ping"] = "ping"


CoreMessage = Join | Offer | Candidate | Stop | Leave | Ping
# Every message a client may send: the session dispatches on it with ``match`` and
# ``assert_never``, so mypy proves that no type is left unhandled.
ClientMessage = CoreMessage | FeatureMessage
# The types ``parse`` handles itself; ``FEATURE_PARSERS`` holds the rest.
CORE_TYPES = ("join", "offer", "candidate", "stop", "leave", "ping")

_SURROGATES = re.compile("[\ud800-\udfff]")


def decode_frame(data: str | bytes, binary: bool) -> Any:
    """Decode one WebSocket frame: JSON text, or msgpack when ``binary``."""
    try:
        if binary:
            if not isinstance(data, bytes):
                raise ValueError("expected a binary frame")
            return msgpack.unpackb(data, raw=False, strict_map_key=True)
        return json.loads(data)
    except (
        ValueError,
        msgpack.ExtraData,
        msgpack.FormatError,
        msgpack.StackError,
        TypeError,
        # ``[`` x 30,000: the C decoder's recursion guard. Nothing else in the parse
        # recurses, so no other frame can raise it.
        RecursionError,
    ):
        kind = "msgpack" if binary else "JSON"
        raise ProtocolError("bad_message", f"The message is not valid {kind}.") from None


def encode_frame(message: dict[str, Any], binary: bool) -> str | bytes:
    """One frame for ``message``; a lone surrogate that got into it (a name stored before
    the text rules existed, say) becomes U+FFFD instead of breaking the socket's writer."""
    if binary:
        try:
            return bytes(msgpack.packb(message, use_bin_type=True))
        except UnicodeEncodeError:
            _replaced(message)
            return bytes(msgpack.packb(scrub(message), use_bin_type=True))
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if not text.isascii() and _SURROGATES.search(text) is not None:
        _replaced(message)
        return _SURROGATES.sub("\ufffd", text)
    return text


def scrub(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (and keys) replaced by U+FFFD."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _replaced(message: dict[str, Any]) -> None:
    logger.warning(
        "a %s message held a lone surrogate; sent with U+FFFD instead", message.get("type")
    )


def _candidate(obj: dict[str, Any], ref: str | None) -> dict[str, Any] | None:
    if "candidate" not in obj:
        raise ProtocolError("invalid_field", "'candidate' is required (null ends them).", ref)
    value = obj["candidate"]
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProtocolError("invalid_field", "'candidate' must be an object or null.", ref)
    text = value.get("candidate")
    mid = value.get("sdpMid")
    index = value.get("sdpMLineIndex")
    if not isinstance(text, str) or len(text) > MAX_CANDIDATE:
        raise ProtocolError("invalid_field", "'candidate.candidate' must be a short string.", ref)
    wire_safe(text, "candidate.candidate", ref)
    if mid is not None and (not isinstance(mid, str) or len(mid) > MAX_REF):
        raise ProtocolError("invalid_field", "'candidate.sdpMid' must be a short string.", ref)
    if mid is not None:
        wire_safe(mid, "candidate.sdpMid", ref)
    if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
        raise ProtocolError("invalid_field", "'candidate.sdpMLineIndex' must be an integer.", ref)
    return {"candidate": text, "sdpMid": mid, "sdpMLineIndex": index}


def parse(obj: Any) -> ClientMessage:
    """Validate a decoded frame and return the typed message it carries."""
    if not isinstance(obj, dict):
        raise ProtocolError("bad_message", "A message must be an object with a 'type'.")
    ref = obj.get("ref")
    if ref is not None and (not isinstance(ref, str) or len(ref) > MAX_REF):
        raise ProtocolError("invalid_field", f"'ref' must be a string of at most {MAX_REF}.")
    if ref is not None:
        wire_safe(ref, "ref", None)  # echoed in every reply: refused here, never echoed
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "A message must have a string 'type'.", ref)
    if kind == "join":
        room = obj.get("room")
        if room is not None and not is_valid_id(room):
            raise ProtocolError("invalid_field", "'room' must be a room id.", ref)
        resume = obj.get("resume")
        if resume is not None:
            resume = string(obj, "resume", MAX_RESUME_TOKEN, ref)
        return Join(token=string(obj, "token", MAX_TOKEN, ref), room=room, resume=resume, ref=ref)
    if kind == "offer":
        return Offer(pc=pc(obj, ref), sdp=string(obj, "sdp", MAX_SDP, ref, multiline=True), ref=ref)
    if kind == "candidate":
        return Candidate(pc=pc(obj, ref), candidate=_candidate(obj, ref), ref=ref)
    if kind == "stop":
        return Stop(pc=pc(obj, ref), ref=ref)
    if kind == "leave":
        return Leave(ref=ref)
    if kind == "ping":
        return Ping(ref=ref)
    feature = FEATURE_PARSERS.get(kind)
    if feature is not None:
        return feature(obj, ref)
    shown = kind if len(kind) <= 32 else kind[:32] + "…"
    shown = shown if shown.isprintable() else ascii(shown)[1:-1]
    raise ProtocolError("unknown_type", f"Unknown message type '{shown}'.", ref)


def to_wire(message: ClientMessage) -> dict[str, Any]:
    """The wire object for a client message (tests, bots and the load tester use it)."""
    out: dict[str, Any] = {"type": message.type}
    for name in (f.name for f in fields(message)):
        value = getattr(message, name)
        if name != "type" and not (name in ("ref", "room") and value is None):
            out[name] = value
    return out


# --- what the server sends: built in server/outbound.py, re-exported for the session --
