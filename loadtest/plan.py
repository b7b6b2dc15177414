"""Who starts when, in which process: a scenario and its cast turned into a plan.

Members join in order at ``members.rate`` per second from the members' start; media
bots come first. With ``media.steps`` (say 10, 50, 100) the media bots join in steps
instead: the first ``step_seconds`` hold the host's stream with no subscriber (the
baseline), then each step adds its subscribers and holds them; the last part of each
step, once its joins are done and have settled, is the window in which the server's CPU
is measured. Bots are split into processes: media bots ``media.per_worker`` at a time,
signaling bots ``SIGNALING_PER_WORKER`` at a time, the host alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadtest.admin import Cast
from loadtest.client import BotSpec
from loadtest.scenario import Scenario

SIGNALING_PER_WORKER = 2000
SETTLE = 5.0  # seconds after a step's last join before its window opens
MIN_WINDOW = 3.0


@dataclass(frozen=True)
class Window:
    """A stretch of the run with a constant number of media subscribers."""

    subscribers: int
    start: float  # seconds after the members' start
    end: float


@dataclass
class Plan:
    host: BotSpec | None
    groups: list[tuple[str, list[BotSpec]]] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    length: float = 0.0  # seconds from the members' start until everyone leaves

    @property
    def members(self) -> int:
        return sum(len(specs) for _, specs in self.groups)


def _binary(scenario: Scenario, index: int) -> bool:
    encoding = scenario.members.encoding
    return encoding == "msgpack" or (encoding == "mixed" and index % 2 == 1)


def make_plan(scenario: Scenario, cast: Cast) -> Plan:
    rate = scenario.members.rate
    media = scenario.media_bots
    steps = scenario.steps
    hold = scenario.media.step_seconds
    starts: list[float] = []
    windows: list[Window] = []
    if steps:
        windows.append(Window(0, 1.0, hold))
        previous = 0
        for number, count in enumerate(steps, start=1):
            begin = number * hold
            starts += [begin + j / rate for j in range(count - previous)]
            opens = begin + (count - previous) / rate + SETTLE
            windows.append(Window(count, opens, begin + hold))
            previous = count
        # Signaling bots (members who are not media bots) join from the start.
        rest = scenario.members.count - previous
        starts += [j / rate for j in range(rest)]
        length = max(scenario.duration, (len(steps) + 1) * hold)
    else:
        starts = [j / rate for j in range(scenario.members.count)]
        length = scenario.duration
    if starts:
        length = max(length, max(starts) + 2.0)
    specs = [
        BotSpec(
            who=member,
            token=token,
            kind="media" if index < media else "signaling",
            binary=_binary(scenario, index),
            start_at=starts[index],
        )
        for index, (member, token) in enumerate(zip(cast.members, cast.tokens, strict=True))
    ]
    host = None
    if scenario.host.join:
        host = BotSpec(cast.host, cast.host_token, "host", _binary(scenario, 1), 0.0)
    plan = Plan(host, windows=[w for w in windows if w.end - w.start >= MIN_WINDOW], length=length)
    media_specs = [s for s in specs if s.kind == "media"]
    signaling = [s for s in specs if s.kind == "signaling"]
    per = scenario.media.per_worker
    for i in range(0, len(media_specs), per):
        plan.groups.append((f"media{i // per + 1}", media_specs[i : i + per]))
    for i in range(0, len(signaling), SIGNALING_PER_WORKER):
        plan.groups.append(
            (f"signaling{i // SIGNALING_PER_WORKER + 1}", signaling[i : i + SIGNALING_PER_WORKER])
        )
    return plan
