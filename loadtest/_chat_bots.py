"""Signaling-only members for ``loadtest.chat_bench``: many WebSockets in one process.

The process connects every member to the room, has the first few ask the questions the
run will upvote, then follows one schedule: message ``i`` goes out at ``t0 + i / rate``,
its kind taken in turn from the mix. Every socket records when each broadcast reaches
it; because senders and recipients share this process (and ``time.monotonic``), the
latency of every delivery is known exactly:

- chat: the text carries the message's index;
- upvote: each question's vote count only grows, so (question, count) names the upvote;
- reaction: updates carry counts per emoji; the n-th reaction of an emoji is delivered by
  the first update that brings that emoji's running total to n.
"""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import msgpack

REACTIONS = ("heart", "clap", "fire", "laugh", "wow", "party")
CONNECT_BATCH = 25
DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Plan:
    url: str
    room: str
    tokens: list[str]
    rate: float
    warmup: float
    duration: float
    mix: tuple[str, ...]
    questions: int
    binary: bool
    chat_padding: int = 40


@dataclass
class Tally:
    """What the run measured, per kind: latencies (s) of deliveries after the warm-up."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    delivered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: list[str] = field(default_factory=list)
    updates: int = 0  # reaction updates one socket received while measuring


class Run:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tally = Tally()
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.member_ids: list[str] = []
        self.question_ids: dict[int, str] = {}
        self.measure_from = float("inf")
        # Send times, keyed as the deliveries will name them.
        self.chat_sent: dict[int, float] = {}
        self.vote_sent: dict[tuple[str, int], float] = {}
        self.reaction_sent: dict[str, list[float]] = {name: [] for name in REACTIONS}
        self._questions_seen: dict[int, set[str]] = defaultdict(set)
        self._questions_ready = asyncio.Event()

    # --- wire ------------------------------------------------------------------------

    def encode(self, message: dict[str, Any]) -> str | bytes:
        if self.plan.binary:
            return bytes(msgpack.packb(message))
        return json.dumps(message, separators=(",", ":"))

    async def send(self, index: int, message: dict[str, Any]) -> None:
        frame = self.encode(message)
        ws = self.sockets[index]
        if isinstance(frame, bytes):
            await ws.send_bytes(frame)
        else:
            await ws.send_str(frame)

    # --- connecting ------------------------------------------------------------------

    async def connect(self, session: aiohttp.ClientSession) -> None:
        protocol = "salon.v1.msgpack" if self.plan.binary else "salon.v1.json"
        self.sockets = [None] * len(self.plan.tokens)  # type: ignore[list-item]
        self.member_ids = [""] * len(self.plan.tokens)

        async def one(index: int) -> None:
            ws = await session.ws_connect(self.plan.url, protocols=(protocol,), heartbeat=None)
            self.sockets[index] = ws
            await self.send(index, {"type": "join", "token": self.plan.tokens[index]})
            joined = self.decode(await ws.receive(timeout=30))
            if joined.get("type") != "joined":
                raise RuntimeError(f"member {index} was not admitted: {joined}")
            self.member_ids[index] = joined["you"]["member_id"]

        for start in range(0, len(self.plan.tokens), CONNECT_BATCH):
            batch = range(start, min(start + CONNECT_BATCH, len(self.plan.tokens)))
            await asyncio.gather(*(one(i) for i in batch))

    def decode(self, msg: aiohttp.WSMessage) -> dict[str, Any]:
        if msg.type == aiohttp.WSMsgType.BINARY:
            data: dict[str, Any] = msgpack.unpackb(msg.data)
            return data
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            return data
        raise RuntimeError(f"socket closed: {msg.type} {msg.data!r}")

    # --- receiving -------------------------------------------------------------------

    async def receive(self, index: int) -> None:
        ws = self.sockets[index]
        reaction_totals = dict.fromkeys(REACTIONS, 0)
        clock = time.monotonic
        samples = self.tally.samples
        delivered = self.tally.delivered
        while True:
            msg = await ws.receive()
            now = clock()
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                return
            message = self.decode(msg)
            kind = message.get("type")
            if kind == "chat":
                sent = self.chat_sent.get(int(message["text"].split(" ", 1)[0][1:]), 0.0)
                if sent >= self.measure_from:
                    samples["chat"].append(now - sent)
                    delivered["chat"] += 1
            elif kind == "question_votes":
                sent = self.vote_sent.get((message["id"], message["votes"]), 0.0)
                if sent >= self.measure_from:
                    samples["upvote"].append(now - sent)
                    delivered["upvote"] += 1
            elif kind == "reactions":
                if index == 0 and now >= self.measure_from:
                    self.tally.updates += 1
                for name, count in message["counts"].items():
                    sent_times = self.reaction_sent[name]
                    before = reaction_totals[name]
                    reaction_totals[name] = before + count
                    for rank in range(before, min(before + count, len(sent_times))):
                        if sent_times[rank] >= self.measure_from:
                            samples["reaction"].append(now - sent_times[rank])
                            delivered["reaction"] += 1
            elif kind == "question":
                question = message["question"]
                author = question["text"].removeprefix("bench question ")
                if author.isdigit():
                    self.question_ids[int(author)] = question["id"]
                    seen = self._questions_seen[int(author)]
                    seen.add(str(index))
                    if len(self.question_ids) == self.plan.questions and all(
                        len(self._questions_seen[q]) == len(self.sockets)
                        for q in range(self.plan.questions)
                    ):
                        self._questions_ready.set()
            elif kind == "error":
                self.tally.errors.append(f"{message.get('code')}: {message.get('message')}")

    # --- the schedule ----------------------------------------------------------------

    async def ask_questions(self) -> None:
        for q in range(self.plan.questions):
            await self.send(q, {"type": "question_ask", "text": f"bench question {q}"})
        try:
            await asyncio.wait_for(self._questions_ready.wait(), 30)
        except TimeoutError:
            seen = {q: len(who) for q, who in self._questions_seen.items()}
            raise RuntimeError(
                f"questions not seen by everyone: {seen}; errors {self.tally.errors[:3]}"
            ) from None

    async def run_schedule(self, t0: float) -> None:
        plan = self.plan
        members = len(self.sockets)
        total = int(plan.rate * (plan.warmup + plan.duration))
        self.measure_from = t0 + plan.warmup
        counters: dict[str, int] = defaultdict(int)
        padding = "x" * plan.chat_padding
        clock = time.monotonic
        for i in range(total):
            delay = t0 + i / plan.rate - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            kind = plan.mix[i % len(plan.mix)]
            n = counters[kind]
            counters[kind] += 1
            if kind == "chat":
                sender = n % members
                message: dict[str, Any] = {"type": "chat_send", "text": f"m{n} {padding}"}
                self.chat_sent[n] = clock()
            elif kind == "reaction":
                sender = (n * 7) % members
                name = REACTIONS[n % len(REACTIONS)]
                message = {"type": "reaction", "emoji": name}
                self.reaction_sent[name].append(clock())
            else:
                question, k = n % plan.questions, n // plan.questions
                if k >= members - 1:
                    raise RuntimeError("every member has upvoted every question: add questions")
                sender = (question + 1 + k) % members  # never the author, never twice
                qid = self.question_ids[question]
                message = {"type": "question_upvote", "id": qid}
                self.vote_sent[(qid, k + 1)] = clock()
            if clock() >= self.measure_from:
                self.tally.sent[kind] += 1
            await self.send(sender, message)


def _percentile(ordered: list[float], share: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def summarize(tally: Tally, recipients: int) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind, samples in tally.samples.items():
        ordered = sorted(samples)
        kinds[kind] = {
            "sent": tally.sent[kind],
            "deliveries": tally.delivered[kind],
            "expected": tally.sent[kind] * recipients,
            "p50_ms": _percentile(ordered, 0.50) * 1000,
            "p90_ms": _percentile(ordered, 0.90) * 1000,
            "p99_ms": _percentile(ordered, 0.99) * 1000,
            "max_ms": ordered[-1] * 1000 if ordered else float("nan"),
        }
    direct = sorted(tally.samples.get("chat", []) + tally.samples.get("upvote", []))
    return {
        "kinds": kinds,
        "direct": {
            "p50_ms": _percentile(direct, 0.50) * 1000,
            "p99_ms": _percentile(direct, 0.99) * 1000,
            "count": len(direct),
        },
        "reaction_updates": tally.updates,
        "errors": tally.errors[:20],
        "error_count": len(tally.errors),
    }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _main(conn: Connection, plan: Plan) -> None:
    run = Run(plan)
    timeout = aiohttp.ClientTimeout(total=None)
    # Each WebSocket holds a connection: lift the connector's default cap of 100.
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        await run.connect(session)
        readers = [asyncio.create_task(run.receive(i)) for i in range(len(run.sockets))]
        await run.ask_questions()
        conn.send({"ok": True, "members": len(run.sockets)})
        loop = asyncio.get_running_loop()
        t0: float = await loop.run_in_executor(None, conn.recv)
        schedule = asyncio.create_task(run.run_schedule(t0))
        await asyncio.sleep(max(0.0, t0 + plan.warmup - time.monotonic()))
        cpu_start = _cpu()
        await schedule
        cpu = _cpu() - cpu_start
        await asyncio.sleep(DRAIN_SECONDS)
        for ws in run.sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    summary = summarize(run.tally, len(run.sockets))
    summary["bot_cpu_seconds"] = cpu
    conn.send({"ok": True, **summary})


def bots_main(conn: Connection, plan: Plan, cpus: list[int] | None) -> None:
    """Entry point of the bot process (``multiprocessing``)."""
    import os

    if cpus:
        os.sched_setaffinity(0, cpus)
    runner: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        runner = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency
        pass
    try:
        with asyncio.Runner(loop_factory=runner) as loop_runner:
            loop_runner.run(_main(conn, plan))
    except Exception as exc:
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}"})
        raise
