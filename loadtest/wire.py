"""The bots' side of the wire: frame encoding, and send-time stamps inside message texts.

Bots speak docs/protocol.md in either encoding (``salon.v1.json`` text frames or
``salon.v1.msgpack`` binary frames). Chat lines and questions a bot sends carry a stamp
``[lt <sender> <seq> <epoch ns>]`` at the start of their text: every bot that receives
the broadcast, in any process of the same machine, reads the send time back from it and
so measures the delivery latency without any bookkeeping between processes.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import msgpack

JSON = "salon.v1.json"
MSGPACK = "salon.v1.msgpack"
ENCODINGS = ("json", "msgpack", "mixed")

_STAMP = re.compile(r"^\[lt (\S+) (\d+) (\d+)\] ")


def subprotocol(binary: bool) -> str:
    return MSGPACK if binary else JSON


def encode(message: dict[str, Any], binary: bool) -> str | bytes:
    if binary:
        return bytes(msgpack.packb(message, use_bin_type=True))
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def decode(data: str | bytes) -> dict[str, Any]:
    """One server frame as a dict; raises ``ValueError`` for anything else."""
    value = msgpack.unpackb(data, raw=False) if isinstance(data, bytes) else json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("a frame that is not an object")
    return value


def stamp(text: str, sender: str, seq: int, sent_ns: int | None = None) -> str:
    """``text`` with a send-time stamp in front (the time is now unless given)."""
    when = time.time_ns() if sent_ns is None else sent_ns
    return f"[lt {sender} {seq} {when}] {text}"


def read_stamp(text: str) -> tuple[str, int, int] | None:
    """``(sender, seq, sent_ns)`` from a stamped text, or None for any other text."""
    match = _STAMP.match(text)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3))


def latency_ms(sent_ns: int, now_ns: int | None = None) -> float:
    return max(0.0, ((time.time_ns() if now_ns is None else now_ns) - sent_ns) / 1e6)
