"""A synthetic brand community with known behaviour: the ground truth tiers are tested on.

``generate(members, seed)`` builds members of five personas over the last ``days`` days
(orders go back a year) and every event they produced, with stable ids, so the same
seed gives the same community. Each member carries the tier an operator would give
them (``truth``) and whether they are clear-cut (``clear``: not on a boundary that
reasonable rules could decide either way); accuracy is measured on the clear-cut ones.

- **core**: 5-9 orders over the last 180-260 days (the last within 30), 90-300 each, one in
  five in USD; two or three sessions a week with chat, questions, votes; shares.
- **active**: 1-2 orders within the last 200 days; a few to ten sessions a month, some
  as keen as core members, four in ten share.
- **potential**: never bought; a few sessions a month, lately too.
- **silent**: nothing in the last 65+ days; orders, if any, over a year ago.
- **lapsing** (truth: active, at risk): 3-5 orders that stopped 130-200 days ago, still
  drops in now and then.
- **borderline** (not clear-cut): 3 small orders, the last 100-140 days ago.

``gaming_cases`` builds members who try to buy a tier with spam, each with a control
twin who took part honestly once on the same day (see ``docs/decisions.md``).
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from server.engagement.events import SCHEMA_VERSION, Event, EventKind, purchase_data
from server.engagement.history_import import COLUMNS, DATA_FIELDS
from server.engagement.members import Tier
from server.engagement.rules import DAY_MS
from server.ids import MemberId

HOUR_MS: Final = 3600 * 1000
ROOM: Final = "vip-lounge"
# Shares of each persona in a generated community.
MIX: Final = (
    ("core", 0.15),
    ("active", 0.25),
    ("potential", 0.25),
    ("silent", 0.20),
    ("lapsing", 0.10),
    ("borderline", 0.05),
)
TRUTH: Final = {
    "core": Tier.CORE,
    "active": Tier.ACTIVE,
    "potential": Tier.POTENTIAL,
    "silent": Tier.SILENT,
    "lapsing": Tier.ACTIVE,
    "borderline": Tier.ACTIVE,
}


@dataclass(frozen=True, slots=True)
class Member:
    member_id: MemberId
    persona: str
    truth: Tier
    clear: bool
    at_risk: bool


@dataclass(slots=True)
class Community:
    now_ms: int
    days: int
    members: list[Member] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def by_member(self) -> dict[MemberId, list[Event]]:
        out: dict[MemberId, list[Event]] = {m.member_id: [] for m in self.members}
        for event in self.events:
            out[event.member_id].append(event)
        return out


class _Maker:
    """Makes one community's events: ids from a counter, times snapped to sessions."""

    def __init__(self, seed: int, now_ms: int, days: int) -> None:
        self.rng = random.Random(seed)
        self.now = now_ms
        self.days = days
        self.seed = seed
        self.count = 0
        # The brand's live sessions: Monday, Wednesday and Friday at 19:00 UTC.
        start = now_ms - days * DAY_MS
        first = start - start % DAY_MS
        self.sessions = [
            first + d * DAY_MS + 19 * HOUR_MS
            for d in range(days + 1)
            if (first // DAY_MS + d + 3) % 7 in (0, 2, 4)
            and first + d * DAY_MS + 19 * HOUR_MS + 2 * HOUR_MS < now_ms
        ]

    def event(self, kind: EventKind, member: MemberId, ts: int, **data: Any) -> Event:
        self.count += 1
        return Event(
            f"syn{self.seed}-{self.count}",
            SCHEMA_VERSION,
            kind,
            ROOM if kind is not EventKind.PURCHASE else "",
            member,
            ts,
            data,
        )

    def session(self, member: MemberId, start: int, keen: float) -> Iterator[Event]:
        """One attended session; ``keen`` (0-1) scales how much the member takes part."""
        rng = self.rng
        session = f"s{start // DAY_MS}"
        yield self.event(EventKind.JOIN, member, start + rng.randint(0, 300_000), session=session)
        stay = rng.randint(20, 70) * 60
        t = start + 400_000
        for _ in range(rng.randint(round(6 * keen), round(10 * keen))):
            t += rng.randint(10_000, 200_000)
            yield self.event(EventKind.CHAT, member, t, session=session)
        for _ in range(rng.randint(0, round(15 * keen))):
            t += rng.randint(1_000, 60_000)
            yield self.event(EventKind.REACTION, member, t, session=session, emoji="fire")
        if rng.random() < keen:
            yield self.event(EventKind.QUESTION, member, t + 5_000, session=session)
            yield self.event(EventKind.POLL_VOTE, member, t + 9_000, session=session)
        for _ in range(rng.randint(0, round(3 * keen))):
            yield self.event(EventKind.UPVOTE, member, t + 12_000, session=session)
        yield self.event(
            EventKind.LEAVE, member, start + stay * 1000, session=session, watch_seconds=stay
        )

    def attend(
        self, member: MemberId, per_month: float, keen: float, since: int, until: int
    ) -> list[Event]:
        """Sessions between ``since`` and ``until`` at about ``per_month`` a month; at
        least one in the last fortnight of that span, so the member is clearly present."""
        chance = min(1.0, per_month / 13)  # 13 sessions a month
        chosen = [s for s in self.sessions if since <= s < until and self.rng.random() < chance]
        recent = [s for s in self.sessions if until - 14 * DAY_MS <= s < until]
        if recent and not any(s >= until - 14 * DAY_MS for s in chosen):
            chosen.append(self.rng.choice(recent))
        out: list[Event] = []
        for start in sorted(chosen):
            out.extend(self.session(member, start, keen))
        return out

    def orders(
        self, member: MemberId, count: int, first: int, last: int, low: int, high: int
    ) -> list[Event]:
        """``count`` orders spread from ``first`` to ``last`` (epoch ms), ``low``-``high``
        euros each; one in five in USD (the same value at the shipped rate)."""
        out = []
        step = (last - first) / max(count - 1, 1)
        for i in range(count):
            ts = int(first + i * step) if count > 1 else last
            euros = Decimal(self.rng.randint(low * 100, high * 100)) / 100
            currency = "EUR"
            if self.rng.random() < 0.2:
                currency, euros = "USD", (euros / Decimal("0.92")).quantize(Decimal("0.01"))
            self.count += 1
            data = purchase_data(f"o{self.seed}-{self.count}", euros, currency)
            out.append(self.event(EventKind.PURCHASE, member, ts, **data))
        return out

    def day(self, days_ago: float) -> int:
        return int(self.now - days_ago * DAY_MS)


def _persona_events(mk: _Maker, persona: str, member: MemberId) -> list[Event]:
    rng = mk.rng
    start = mk.day(mk.days)
    if persona == "core":
        n = rng.randint(5, 9)
        events = mk.orders(
            member, n, mk.day(rng.uniform(180, 260)), mk.day(rng.uniform(2, 30)), 90, 300
        )
        events += mk.attend(member, rng.uniform(8, 12), rng.uniform(0.7, 1.0), start, mk.now)
        for _ in range(rng.randint(2, 5)):
            events.append(mk.event(EventKind.SHARE, member, mk.day(rng.uniform(1, mk.days))))
        return events
    if persona == "active":
        # Some are as keen as core members, and share: only their buying differs.
        n = rng.randint(1, 2)
        events = mk.orders(
            member, n, mk.day(rng.uniform(60, 200)), mk.day(rng.uniform(5, 50)), 20, 150
        )
        events += mk.attend(member, rng.uniform(2, 10), rng.uniform(0.3, 1.0), start, mk.now)
        if rng.random() < 0.4:
            events.append(mk.event(EventKind.SHARE, member, mk.day(rng.uniform(1, mk.days))))
        return events
    if persona == "potential":
        return mk.attend(member, rng.uniform(1, 4), rng.uniform(0.2, 0.6), start, mk.now)
    if persona == "silent":
        events = mk.attend(member, rng.uniform(0, 3), 0.3, start, mk.day(rng.uniform(65, 85)))
        if rng.random() < 0.4:
            events += mk.orders(member, rng.randint(1, 3), mk.day(700), mk.day(400), 20, 200)
        return events
    if persona == "lapsing":
        n = rng.randint(3, 5)
        events = mk.orders(
            member, n, mk.day(rng.uniform(300, 340)), mk.day(rng.uniform(130, 200)), 80, 250
        )
        events += mk.attend(member, 1.5, 0.4, start, mk.day(rng.uniform(25, 45)))
        return events
    # borderline: a small repeat buyer whose last order is near the core rule's recency
    events = mk.orders(
        member, 3, mk.day(rng.uniform(200, 260)), mk.day(rng.uniform(100, 140)), 60, 130
    )
    events += mk.attend(member, rng.uniform(3, 8), 0.6, start, mk.now)
    return events


def generate(members: int = 2000, seed: int = 14, now_ms: int = 0, days: int = 90) -> Community:
    """A community of ``members`` with their events of the last ``days`` days (and their
    orders of the last two years), ending at ``now_ms`` (a fixed moment when 0)."""
    now = now_ms or 1_767_225_600_000  # 2026-01-01T00:00Z
    mk = _Maker(seed, now, days)
    out = Community(now, days)
    personas = [p for p, share in MIX for _ in range(round(members * share))]
    while len(personas) < members:
        personas.append("potential")
    mk.rng.shuffle(personas)
    for i, persona in enumerate(personas[:members]):
        member = MemberId(f"c{seed}-{i:05d}")
        out.members.append(
            Member(member, persona, TRUTH[persona], persona != "borderline", persona == "lapsing")
        )
        out.events.extend(_persona_events(mk, persona, member))
    out.events.sort(key=lambda e: (e.ts_ms, e.id))
    return out


@dataclass(frozen=True, slots=True)
class GamingCase:
    """A member who games (``events``) and the honest twin (``control``) with the same
    purchases: the gamer must end no higher than the twin."""

    name: str
    gamer: MemberId
    control: MemberId
    events: list[Event]
    control_events: list[Event]


def gaming_cases(seed: int = 14, now_ms: int = 0) -> list[GamingCase]:
    """The spam patterns of issue 14, each on a member with a given purchase history."""
    now = now_ms or 1_767_225_600_000
    mk = _Maker(seed + 1000, now, 90)
    cases = []

    def history(member: MemberId, kind: str) -> list[Event]:
        if kind == "old-buyer":  # two orders 200+ days ago, one share, silent since
            return [
                *mk.orders(member, 2, mk.day(230), mk.day(205), 40, 80),
                mk.event(EventKind.SHARE, member, mk.day(200)),
            ]
        if kind == "cheap-buyer":  # two 1.00 orders and a share
            out = []
            for i in (1, 2):
                mk.count += 1
                data = purchase_data(f"cheap{seed}-{mk.count}", "1.00", "EUR")
                out.append(mk.event(EventKind.PURCHASE, member, mk.day(10 + i), **data))
            return [*out, mk.event(EventKind.SHARE, member, mk.day(9))]
        return []  # never bought

    def spam(member: MemberId, pattern: str, days: int) -> list[Event]:
        out = []
        for d in range(days):
            base = mk.day(days - d) + 3600_000
            if pattern in ("chat", "mixed"):
                out += [mk.event(EventKind.CHAT, member, base + i * 50) for i in range(3000)]
            if pattern in ("reaction", "mixed"):
                out += [
                    mk.event(EventKind.REACTION, member, base + i * 20, emoji="fire")
                    for i in range(3000)
                ]
            if pattern in ("click", "mixed"):
                out += [
                    mk.event(EventKind.PRODUCT_CLICK, member, base + i * 100, product_id="p1")
                    for i in range(2000)
                ]
            if pattern in ("join", "mixed"):
                for i in range(500):  # reconnecting over and over
                    out.append(mk.event(EventKind.JOIN, member, base + i * 1000))
                    out.append(
                        mk.event(EventKind.LEAVE, member, base + i * 1000 + 500, watch_seconds=0.5)
                    )
            if pattern == "upvote-ring":
                out += [mk.event(EventKind.UPVOTE, member, base + i * 30) for i in range(3000)]
                out += [mk.event(EventKind.QUESTION, member, base + i * 60) for i in range(200)]
            if pattern == "idle-tab":  # a tab left open all day
                out.append(mk.event(EventKind.JOIN, member, base))
                out.append(
                    mk.event(EventKind.LEAVE, member, base + 23 * HOUR_MS, watch_seconds=23 * 3600)
                )
        return out

    n = 0
    for kind in ("old-buyer", "cheap-buyer", "never-bought"):
        for pattern, days in (
            ("chat", 1),
            ("reaction", 1),
            ("click", 1),
            ("join", 1),
            ("upvote-ring", 2),
            ("idle-tab", 7),
            ("mixed", 2),
        ):
            n += 1
            gamer, control = MemberId(f"gamer-{n}"), MemberId(f"honest-{n}")
            honest = list(mk.session(control, mk.day(1) + 3600_000, 0.5))
            cases.append(
                GamingCase(
                    f"{kind} + {pattern} spam for {days} day{'s' if days > 1 else ''}",
                    gamer,
                    control,
                    history(gamer, kind) + spam(gamer, pattern, days),
                    history(control, kind) + honest,
                )
            )
    return cases


def event_row(event: Event) -> dict[str, Any]:
    """An event as a history-import row (``server/engagement/history_import.py``)."""
    row: dict[str, Any] = {
        "id": event.id,
        "kind": event.kind.value,
        "member_id": event.member_id,
        "at": event.ts_ms,
    }
    if event.room_id:
        row["room_id"] = event.room_id
    row.update((k, v) for k, v in event.data.items() if k in HISTORY_FIELDS)
    return row


HISTORY_FIELDS: Final = DATA_FIELDS
CSV_HEADER: Final = COLUMNS


def to_jsonl(events: list[Event]) -> str:
    return "".join(json.dumps(event_row(e), separators=(",", ":")) + "\n" for e in events)


def to_csv(events: list[Event]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerows(event_row(e) for e in events)
    return out.getvalue()


def members_csv(community: Community) -> str:
    """The members file (``salon import --members``): everyone a member for 400 days."""
    since = time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime((community.now_ms - 400 * DAY_MS) // 1000)
    )
    lines = ["member_id,since"] + [f"{m.member_id},{since}" for m in community.members]
    return "\n".join(lines) + "\n"
