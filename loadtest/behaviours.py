"""What bots do once in the room: the scenario's member and host actions.

- ``MemberActions`` (every member): chat lines, reactions, questions and upvotes, hands,
  each a Poisson process at the scenario's rate; answers stage invitations.
- ``HostActions`` (the host): answers the most upvoted open question every
  ``host.answer_every`` seconds; invites the first raised hand every
  ``host.invite_every`` seconds while the stage has room, and moves speakers off after
  ``host.seat_seconds``.
- ``watch_room`` (everyone): follows questions and the stage, and records the moments
  whose latency needs both sides (the sender's ``mark_sent``, each receiver's
  ``mark_seen``; ``loadtest.stats.Totals`` matches them): ``hand`` (raised → in the
  host's queue), ``invite`` (sent → the invitee told), ``seat`` (accepted → on stage for
  each member), ``unseat`` (moved off → off stage for each member), ``answer`` (marked
  answered → each member sees it).

Behaviours only act while ``Env.acting``; they never block a bot's reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from loadtest import wire
from loadtest.client import Client

REACTIONS = ("heart", "clap", "fire", "laugh", "wow", "party")
LINES = (
    "love this colour",
    "is it available in size M?",
    "hello from the core crew",
    "what is the price after the member discount?",
    "that looks amazing",
)
QUESTIONS = (
    "will this come back in stock?",
    "how does it fit compared to last season?",
    "can members pre-order?",
    "is there a gift box option?",
)


class RoomView:
    """What one bot knows of the room: questions (id → state, votes, author) and speakers."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.questions: dict[str, dict[str, Any]] = {}
        self.voted: set[str] = set()
        self.speakers: set[str] = set()
        state = client.joined.get("interactions", {})
        for question in state.get("questions", []):
            self.questions[question["id"]] = question
        self.speakers = set(client.joined.get("stage", {}).get("speakers", []))
        client.on("question", self._question)
        client.on("question_votes", self._votes)
        client.on("question_removed", self._removed)
        client.on("stage", self._stage)

    def _question(self, message: dict[str, Any]) -> None:
        question = message.get("question", {})
        qid = question.get("id")
        if not qid:
            return
        before = self.questions.get(qid)
        answered = question.get("state") == "answered"
        if answered and (before or {}).get("state") != "answered" and self.client.env.acting:
            self.client.rec.mark_seen(f"answer:{qid}")
        self.questions[qid] = question

    def _removed(self, message: dict[str, Any]) -> None:
        self.questions.pop(str(message.get("id")), None)

    def _votes(self, message: dict[str, Any]) -> None:
        question = self.questions.get(message.get("id", ""))
        if question is not None:
            question["votes"] = message.get("votes", question.get("votes", 0))

    def _stage(self, message: dict[str, Any]) -> None:
        now = set(message.get("speakers", []))
        if self.client.env.acting:  # at the end, speakers leave: nobody moved them off
            for pid in now - self.speakers:
                self.client.rec.mark_seen(f"seat:{pid}")
            for pid in self.speakers - now:
                self.client.rec.mark_seen(f"unseat:{pid}")
        self.speakers = now

    def open_questions(self) -> list[dict[str, Any]]:
        return [q for q in self.questions.values() if q.get("state") == "open"]


async def every(period: float, act: Callable[[], Awaitable[None]], client: Client) -> None:
    """Call ``act`` every ``period`` seconds while the run acts and the bot is in."""
    while client.env.acting and client.state == "joined":
        await asyncio.sleep(period)
        if client.env.acting and client.state == "joined":
            await act()


class MemberActions:
    def __init__(self, client: Client, view: RoomView) -> None:
        self.client = client
        self.view = view
        env = client.env
        sc = env.scenario
        chat = sc.chat.rate if env.rng.random() < sc.chat.senders else 0.0
        self.rates: list[tuple[float, Callable[[], Awaitable[None]]]] = [
            (chat, self.chat),
            (sc.reactions.rate, self.react),
            (sc.questions.ask_rate, self.ask),
            (sc.questions.upvote_rate, self.upvote),
            (sc.stage.hand_rate, self.raise_hand),
        ]
        self.rates = [(r, a) for r, a in self.rates if r > 0]
        self._seq = 0
        self._invited = False
        client.on("stage_self", self._stage_self)

    async def run(self) -> None:
        total = sum(rate for rate, _ in self.rates)
        if not total:
            return
        rng = self.client.env.rng
        # Start at a random phase, so that a burst of joins is not a burst of messages.
        await asyncio.sleep(rng.expovariate(total))
        while self.client.env.acting and self.client.state == "joined":
            pick = rng.random() * total
            for rate, act in self.rates:
                pick -= rate
                if pick <= 0:
                    await act()
                    break
            await asyncio.sleep(rng.expovariate(total))

    def _stamped(self, text: str) -> str:
        self._seq += 1
        return wire.stamp(text, self.client.spec.who, self._seq)

    async def chat(self) -> None:
        text = self._stamped(self.client.env.rng.choice(LINES))
        await self.client.send({"type": "chat_send", "text": text})

    async def react(self) -> None:
        emoji = self.client.env.rng.choice(REACTIONS)
        await self.client.send({"type": "reaction", "emoji": emoji})

    async def ask(self) -> None:
        text = self._stamped(self.client.env.rng.choice(QUESTIONS))
        await self.client.send({"type": "question_ask", "text": text})

    async def upvote(self) -> None:
        me = self.client.me.get("member_id")
        choices = [
            q["id"]
            for q in self.view.open_questions()
            if q["id"] not in self.view.voted and q.get("author", {}).get("member_id") != me
        ]
        if not choices:
            return
        qid = self.client.env.rng.choice(choices)
        self.view.voted.add(qid)
        await self.client.request({"type": "question_upvote", "id": qid}, "upvote")

    async def raise_hand(self) -> None:
        if self.client.role != "member" or self._invited:
            return
        self.client.rec.mark_sent(f"hand:{self.client.pid}")
        await self.client.send({"type": "hand_raise"})

    def _stage_self(self, message: dict[str, Any]) -> None:
        invited = bool(message.get("invited"))
        if invited and not self._invited:
            self.client.rec.mark_seen(f"invite:{self.client.pid}")
            self.client.spawn(self._reply(), "stage_reply")
        self._invited = invited

    async def _reply(self) -> None:
        accept = self.client.env.rng.random() < self.client.env.scenario.stage.accept
        if accept:
            self.client.rec.mark_sent(f"seat:{self.client.pid}")
        await self.client.send({"type": "stage_reply", "accept": accept})


class HostActions:
    def __init__(self, client: Client, view: RoomView) -> None:
        self.client = client
        self.view = view
        self.hands: list[str] = []
        self.invited: set[str] = set()
        self.seated_at: dict[str, float] = {}
        self._hands_seen: set[str] = set()
        client.on("hands", self._hands)
        client.on("stage", self._stage)
        if "hands" in client.joined:
            self._hands(client.joined["hands"])
        self._stage(client.joined.get("stage", {}))

    def _hands(self, message: dict[str, Any]) -> None:
        queue = [h["participant"]["id"] for h in message.get("queue", [])]
        for pid in queue:
            if pid not in self._hands_seen:
                self.client.rec.mark_seen(f"hand:{pid}")
        self._hands_seen = set(queue)
        self.hands = queue
        self.invited = set(message.get("invited", []))

    def _stage(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        speakers = set(message.get("speakers", []))
        self.seated_at = {pid: self.seated_at.get(pid, now) for pid in speakers}

    async def run(self) -> None:
        host = self.client.env.scenario.host
        tasks = []
        if host.answer_every > 0:
            tasks.append(every(host.answer_every, self.answer, self.client))
        if host.invite_every > 0:
            tasks.append(every(host.invite_every, self.invite, self.client))
        if host.seat_seconds > 0:
            tasks.append(every(min(1.0, host.seat_seconds / 2), self.move_off, self.client))
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)

    async def answer(self) -> None:
        candidates = self.view.open_questions()
        if not candidates:
            return
        top = max(candidates, key=lambda q: (q.get("votes", 0), -q.get("ts", 0)))
        self.client.rec.mark_sent(f"answer:{top['id']}")
        await self.client.send({"type": "question_answer", "id": top["id"]})

    async def invite(self) -> None:
        cap = self.client.env.scenario.room.speaker_cap
        if len(self.seated_at) + len(self.invited) >= cap:
            return
        for pid in self.hands:
            if pid not in self.invited and pid not in self.seated_at:
                self.invited.add(pid)
                self.client.rec.mark_sent(f"invite:{pid}")
                await self.client.send({"type": "stage_invite", "participant": pid})
                return

    async def move_off(self) -> None:
        limit = self.client.env.scenario.host.seat_seconds
        now = time.monotonic()
        for pid, since in list(self.seated_at.items()):
            if now - since >= limit:
                self.seated_at.pop(pid, None)
                self.client.rec.mark_sent(f"unseat:{pid}")
                await self.client.send({"type": "stage_move_off", "participant": pid})
