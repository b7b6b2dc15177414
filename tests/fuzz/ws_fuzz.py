"""The WebSocket protocol fuzzer: hypothesis bursts against a running server, with checks.

``run_ws_fuzz(url, seconds, ...)`` joins three sockets to one room: a host speaking JSON
and a member speaking msgpack, both fuzzed, and a *watcher* (JSON) that is never fuzzed.
Hypothesis (run in a worker thread, so the event loop keeps serving) draws bursts of
frames (``tests/fuzz/ws_frames.py``) from what the room holds now; after each burst:

- the fuzzed socket answers a ``ping`` with its ``pong``, or has been closed with a
  documented close code (it then reconnects and joins again);
- every ``error`` it received has a code listed in docs/protocol.md, and none is
  ``internal`` (reserved for bugs);
- now and then (``marker_every`` seconds) the watcher sends a chat line that the watcher
  and every joined fuzzed socket must receive: the room still talks to everyone.

The report (a dict) gives frames sent, failures (with the burst that caused each),
tracebacks seen in the server's log (``tracebacks``: a counter the caller provides), error
and close codes received, reconnects and RSS before and after (``rss``). ``python -m
tests.fuzz.ws_fuzz --seconds N`` runs it against a ``salon serve`` of its own
(``tests/fuzz/local_salon.py``) and prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgpack
from aiortc import RTCConfiguration, RTCPeerConnection
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from tests.fuzz.ws_frames import Frame, Known, frame

PROTOCOL_DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
JSON_PROTOCOL, MSGPACK_PROTOCOL = "salon.v1.json", "salon.v1.msgpack"
ANSWER_TIMEOUT = 15.0
# Frames after which the server closes the connection: framing violations (1009: any
# frame above the limit; 1007) and `leave` (1000). If the fuzzer is still sending when
# the server gives up waiting for its close reply, the server's socket closes with data
# unread, the kernel resets the connection, and the client may never read the close
# frame (aiohttp then says 1006). Only after one of these is 1006 expected.
VIOLATIONS = frozenset({"invalid UTF-8 text"})


def closes_connection(item: Frame) -> bool:
    return item.note in VIOLATIONS or "leave" in item.note


ABNORMAL_CLOSURE = 1006
MAX_FAILURES_KEPT = 50


def documented_codes(path: Path = PROTOCOL_DOC) -> tuple[frozenset[str], frozenset[int]]:
    """Error codes (first column of every table headed ``code``) and close codes
    (the ``closes`` column, and every ``Close code`` sentence) of docs/protocol.md."""
    codes: set[str] = set()
    closes: set[int] = set()
    in_codes = False
    for line in path.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if "|" in line else []
        if cells and cells[0] == "code":
            in_codes = True
            continue
        if not cells:
            in_codes = False
        elif in_codes and cells[0].startswith("`"):
            codes.update(re.findall(r"`([a-z_]+)`", cells[0]))
            closes.update(int(n) for n in re.findall(r"\b(\d{4})\b", cells[-1]))
        if line.startswith("Close code"):
            closes.update(int(n) for n in re.findall(r"\b(\d{4})\b", line))
    return frozenset(codes), frozenset(closes)


@dataclass
class _Report:
    codes: frozenset[str]
    closes_ok: frozenset[int]
    frames: int = 0
    probes: int = 0
    bursts: int = 0
    markers: int = 0
    reconnects: int = 0
    burst_seconds: float = 0.0  # time on the loop (sending, waiting); the rest is hypothesis
    failure_count: int = 0
    failures: list[str] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    closes: Counter[int] = field(default_factory=Counter)

    def fail(self, what: str) -> None:
        self.failure_count += 1
        if len(self.failures) < MAX_FAILURES_KEPT:
            self.failures.append(what)


@dataclass
class _Room:
    """What the room holds, as the sockets have been told (shared by all of them)."""

    participants: set[str] = field(default_factory=set)
    chats: deque[str] = field(default_factory=lambda: deque(maxlen=100))
    questions: set[str] = field(default_factory=set)
    polls: set[str] = field(default_factory=set)
    products: set[str] = field(default_factory=set)

    def learn(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "joined":
            self.participants.update(p["id"] for p in message.get("participants", []))
            state = message.get("interactions") or {}
            self.chats.extend(line["id"] for line in state.get("chat", []))
            self.questions.update(q["id"] for q in state.get("questions", []))
            self.polls.update(p["id"] for p in state.get("polls", []))
        elif kind == "presence":  # one delta per interval: who joined, who left
            self.participants.update(p["id"] for p in message.get("joined", []))
            self.participants.difference_update(message.get("left", []))
        elif kind == "chat":
            self.chats.append(message["id"])
        elif kind == "question":
            self.questions.add(message["question"]["id"])
        elif kind == "question_removed":
            self.questions.discard(message["id"])
        elif kind == "poll":
            self.polls.add(message["poll"]["id"])
        elif kind == "product" and message.get("product"):
            self.products = {message["product"]["id"]}


class _Conn:
    """One socket of the fuzzer: its reader checks everything the server sends."""

    def __init__(
        self,
        name: str,
        url: str,
        token: str,
        room: str,
        binary: bool,
        report: _Report,
        state: _Room,
    ) -> None:
        self.name, self.url, self.token, self.room, self.binary = name, url, token, room, binary
        self.report, self.state = report, state
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pid: str | None = None
        self.joined = False
        self.closed = True
        self.closing = False  # the fuzzer closes this socket itself
        self.violated = False  # a frame that closes the connection was sent on it
        self.pongs: set[str] = set()
        self.markers: set[str] = set()
        self.refused: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def open(self, session: aiohttp.ClientSession) -> bool:
        """Connect and join; True once ``joined`` arrived."""
        await self.close()
        protocol = MSGPACK_PROTOCOL if self.binary else JSON_PROTOCOL
        self.ws = await session.ws_connect(self.url, protocols=(protocol,), heartbeat=None)
        self.joined, self.closed, self.closing, self.pid = False, False, False, None
        self.violated = False
        self._reader = asyncio.create_task(self._read(self.ws), name=f"fuzz-{self.name}")
        # Before the join: a request that needs it, then the join itself.
        await self.send({"type": "chat_send", "text": "too early", "ref": "early"})
        await self.send({"type": "join", "token": self.token, "room": self.room, "ref": "join"})
        return await self.until(lambda: self.joined or self.closed) and self.joined

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._reader is not None:
            await self._reader
        self.ws, self._reader = None, None

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        if self.binary:
            await self.ws.send_bytes(msgpack.packb(message))
        else:
            await self.ws.send_str(json.dumps(message))

    async def send_frame(self, item: Frame, pools: dict[str, tuple[str, ...]]) -> int:
        """Send ``item``; return its size in bytes."""
        assert self.ws is not None
        data = item.payload(pools)
        raw = data if isinstance(data, bytes) else data.encode()
        if item.binary:
            await self.ws.send_bytes(raw)
        else:
            await self.ws.send_frame(raw, aiohttp.WSMsgType.TEXT)  # maybe not UTF-8: on purpose
        return len(raw)

    async def until(self, done: Callable[[], bool], timeout: float = ANSWER_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while not done():
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return done()
        return True

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        code: int | None = None
        try:
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    self._on_frame(msg.data, msg.type == aiohttp.WSMsgType.BINARY)
                elif msg.type == aiohttp.WSMsgType.CLOSE:
                    # The server's own code: the client's reply may fail once the server
                    # has dropped the connection, and aiohttp then reports 1006.
                    code = int(msg.data)
                elif msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
                self._changed.set()
        finally:
            self.closed = True
            code = code if code is not None else ws.close_code
            self.report.closes[code or 0] += 1
            expected = self.closing or (code == ABNORMAL_CLOSURE and self.violated)
            if code not in self.report.closes_ok and not expected:
                self.report.fail(
                    f"{self.name}: closed with undocumented code {code} ({ws.exception()!r})"
                )
            self._changed.set()

    def _on_frame(self, data: str | bytes, binary: bool) -> None:
        if binary != self.binary:
            self.report.fail(f"{self.name}: the server sent a frame in the other encoding")
        try:
            message = msgpack.unpackb(data) if binary else json.loads(data)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            self.report.fail(f"{self.name}: the server sent an undecodable frame ({exc})")
            return
        kind = message.get("type")
        self.state.learn(message)
        if kind == "joined":
            self.joined, self.pid = True, message["you"]["id"]
        elif kind == "pong" and isinstance(message.get("ref"), str):
            self.pongs.add(message["ref"])
        elif kind == "chat" and str(message.get("text", "")).startswith("marker "):
            self.markers.add(message["text"])
        elif kind == "error":
            code = message.get("code")
            self.report.errors[str(code)] += 1
            if code not in self.report.codes or code == "internal":
                self.report.fail(f"{self.name}: error code {code!r}: {message.get('message')}")
            if message.get("ref") == "join":
                self.refused.append(message)


async def offer_sdp() -> str:
    """A real offer (audio and video, receive only) without candidates: nothing to dial."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
    finally:
        await pc.close()
    return "".join(line for line in sdp.splitlines(True) if not line.startswith("a=candidate"))


def _received(conn: _Conn, text: str) -> Callable[[], bool]:
    return lambda: text in conn.markers or conn.closed


class _Done(Exception):
    """The time budget is spent: ends the hypothesis run."""


class _Fuzzer:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        conns: dict[str, _Conn],
        watcher: _Conn,
        report: _Report,
        sdp: str,
        marker_every: float,
        limit: int,
    ) -> None:
        self.session, self.conns, self.watcher = session, conns, watcher
        self.report, self.sdp, self.marker_every = report, sdp, marker_every
        self.limit = limit
        self._last_marker = 0.0

    def known(self) -> dict[str, Known]:
        return {name: Known(c.token, c.room, self.sdp) for name, c in self.conns.items()}

    def pools(self, conn: _Conn) -> dict[str, tuple[str, ...]]:
        """The ids a frame from ``conn`` may refer to, as the room holds them now."""
        state = self.state
        return {
            "participants": tuple(sorted(state.participants)),
            "chats": tuple(state.chats),
            "questions": tuple(sorted(state.questions)),
            "polls": tuple(sorted(state.polls)),
            "products": tuple(sorted(state.products)),
        }

    @property
    def state(self) -> _Room:
        return self.watcher.state

    async def reopen(self, conn: _Conn) -> None:
        self.report.reconnects += 1
        if not await conn.open(self.session):
            self.report.fail(f"{conn.name}: could not join again: {conn.refused[-1:]}")

    async def burst(self, name: str, frames: list[Frame]) -> None:
        began = time.monotonic()
        try:
            await self._burst(name, frames)
        finally:
            self.report.burst_seconds += time.monotonic() - began

    async def _burst(self, name: str, frames: list[Frame]) -> None:
        conn = self.conns[name]
        report = self.report
        report.bursts += 1
        if conn.closed:
            await self.reopen(conn)
        notes = [f.note for f in frames]
        for item in frames:
            if conn.closed:
                break
            try:
                size = await conn.send_frame(item, self.pools(conn))
                conn.violated = conn.violated or size > self.limit or closes_connection(item)
            except (ConnectionError, RuntimeError):
                break
            report.frames += 1
        if not conn.closed:
            probe = f"probe{report.bursts}"
            try:
                await conn.send({"type": "ping", "ref": probe})
                report.probes += 1
            except (ConnectionError, RuntimeError):
                pass
            if not await conn.until(lambda: probe in conn.pongs or conn.closed):
                report.fail(f"{name}: no pong within {ANSWER_TIMEOUT}s after {notes}")
            conn.pongs.discard(probe)
        if time.monotonic() - self._last_marker >= self.marker_every:
            await self.marker()

    async def marker(self) -> None:
        self._last_marker = time.monotonic()
        self.report.markers += 1
        text = f"marker {self.report.markers}"
        if self.watcher.closed:
            self.report.fail("the watcher's socket was closed")
            await self.reopen(self.watcher)
        await self.watcher.send({"type": "chat_send", "text": text})
        for conn in (self.watcher, *self.conns.values()):
            if conn.joined and not conn.closed:
                if not await conn.until(_received(conn, text)):
                    self.report.fail(f"{conn.name}: did not receive the watcher's {text!r}")
                conn.markers.discard(text)


def _drive(
    fuzzer: _Fuzzer,
    loop: asyncio.AbstractEventLoop,
    first: dict[str, Known],
    stop: Callable[[], bool],
    seed: int | None,
    limit: int,
) -> None:
    """Hypothesis's side (a worker thread): draw bursts, run each on the loop."""
    known = first
    binaries = {name: conn.binary for name, conn in fuzzer.conns.items()}

    @settings(
        max_examples=10**9,
        deadline=None,
        phases=[Phase.generate],
        database=None,
        verbosity=Verbosity.quiet,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one_burst(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(known)))
        frames = data.draw(
            st.lists(frame(known[name], binaries[name], limit), min_size=10, max_size=40)
        )
        if stop():  # after the draws: every example draws alike, whatever the clock says
            raise _Done
        future = asyncio.run_coroutine_threadsafe(fuzzer.burst(name, frames), loop)
        future.result()

    test = one_burst if seed is None else hypothesis_seed(seed)(one_burst)
    with contextlib.suppress(_Done):
        test()


async def run_ws_fuzz(
    url: str,
    seconds: float,
    *,
    host_token: str,
    member_tokens: Sequence[str],
    room: str,
    min_frames: int = 0,
    marker_every: float = 1.1,
    max_message_bytes: int = 64 * 1024,
    seed: int | None = None,
    tracebacks: Callable[[], int] | None = None,
    rss: Callable[[], int] | None = None,
) -> dict[str, Any]:
    """Fuzz ``url`` (``ws://host:port/ws``) for ``seconds`` (and at least ``min_frames``).

    ``host_token`` and two ``member_tokens`` (the fuzzed msgpack member, then the
    watcher) are tokens for ``room``, valid for the whole run. ``marker_every`` spaces the
    watcher's chat lines: at the default chat rate (1/s) keep it above 1 s.
    ``tracebacks()`` counts tracebacks in the server's log so far; ``rss()`` reads the
    server's resident memory in bytes.
    """
    codes, closes_ok = documented_codes()
    report = _Report(codes, closes_ok)
    state = _Room()
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    tracebacks_before = tracebacks() if tracebacks else 0
    async with aiohttp.ClientSession() as session:
        conns = {
            "host-json": _Conn("host-json", url, host_token, room, False, report, state),
            "member-msgpack": _Conn(
                "member-msgpack", url, member_tokens[0], room, True, report, state
            ),
        }
        watcher = _Conn("watcher", url, member_tokens[1], room, False, report, state)
        for conn in (watcher, *conns.values()):
            if not await conn.open(session):
                raise RuntimeError(f"{conn.name} could not join {room}: {conn.refused}")
        sdp = await offer_sdp()
        fuzzer = _Fuzzer(session, conns, watcher, report, sdp, marker_every, max_message_bytes)
        rss_before = rss() if rss else None
        deadline = started + seconds

        def stop() -> bool:
            return time.monotonic() >= deadline and report.frames >= min_frames

        try:
            await asyncio.to_thread(
                _drive, fuzzer, loop, fuzzer.known(), stop, seed, max_message_bytes
            )
            await fuzzer.marker()  # a last look at the room
        finally:
            for conn in (*conns.values(), watcher):
                await conn.close()
    return {
        "seconds": round(time.monotonic() - started, 1),
        "frames": report.frames,
        "probes": report.probes,
        "bursts": report.bursts,
        "markers": report.markers,
        "reconnects": report.reconnects,
        "burst_seconds": round(report.burst_seconds, 1),
        "failure_count": report.failure_count,
        "failures": report.failures,
        "tracebacks": (tracebacks() - tracebacks_before) if tracebacks else None,
        "errors": dict(report.errors.most_common()),
        "closes": dict(report.closes.most_common()),
        "rss_before": rss_before,
        "rss_after": rss() if rss else None,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)
    from tests.fuzz.local_salon import fuzz_local

    result = asyncio.run(fuzz_local(args.seconds, args.seed))
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0 if not result["failure_count"] and not result["tracebacks"] else 1


if __name__ == "__main__":
    sys.exit(main())
