"""Scenarios: small TOML files that say who joins, how fast, and what they do.

``load(name_or_path)`` reads ``loadtest/scenarios/<name>.toml`` (or any path) into a
frozen ``Scenario``; every section and key is optional, an unknown one stops the run
with its name (like the server's settings). Command-line flags override a few keys
(``--members``, ``--rate``, ``--duration``) through ``Scenario.with_overrides``.

Rates of member actions are per member per second, drawn as Poisson processes; the
server's own rate limits (``interactions.*_rate``) still apply, and what they refuse
shows up as ``rate_limited`` errors in the report.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from loadtest.wire import ENCODINGS

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
TIERS = ("core", "active", "potential", "silent")


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message names the offending key."""


@dataclass(frozen=True)
class RoomSection:
    tiers: tuple[str, ...] = ("core",)
    capacity: int = 0  # 0: room for every member
    speaker_cap: int = 6


@dataclass(frozen=True)
class MembersSection:
    count: int = 20
    rate: float = 10.0  # joins per second
    encoding: str = "msgpack"  # json | msgpack | mixed (alternating)
    tier: str = "core"


@dataclass(frozen=True)
class HostSection:
    join: bool = True
    publish: bool = False
    video: str = "pattern"  # encoded live; "replay": encoded once; or a file, in a loop
    width: int = 640
    height: int = 480
    max_kbps: int = 1500  # cap on the publisher's VP8 bitrate
    audio: bool = True
    answer_every: float = 0.0  # Q&A: seconds between answers to the top question
    invite_every: float = 0.0  # stage: seconds between invitations to raised hands
    seat_seconds: float = 0.0  # stage: seconds a speaker stays before being moved off


@dataclass(frozen=True)
class MediaSection:
    subscribers: int = 0  # members that are media bots; -1: every member
    steps: tuple[int, ...] = ()  # measure the server's CPU at these subscriber counts
    step_seconds: float = 15.0
    per_worker: int = 50  # media bots per process
    receive: str = "frames"  # or "packets": count RTP only, no jitter buffer (lighter)


@dataclass(frozen=True)
class ChatSection:
    rate: float = 0.0
    senders: float = 1.0  # share of members who chat


@dataclass(frozen=True)
class QuestionsSection:
    ask_rate: float = 0.0
    upvote_rate: float = 0.0


@dataclass(frozen=True)
class StageSection:
    hand_rate: float = 0.0  # chance per second that a member raises a hand
    accept: float = 1.0  # chance an invited member accepts
    publish: bool = False  # media bots on stage publish a tone


@dataclass(frozen=True)
class ReactionsSection:
    rate: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    duration: float = 20.0
    room: RoomSection = field(default_factory=RoomSection)
    members: MembersSection = field(default_factory=MembersSection)
    host: HostSection = field(default_factory=HostSection)
    media: MediaSection = field(default_factory=MediaSection)
    chat: ChatSection = field(default_factory=ChatSection)
    questions: QuestionsSection = field(default_factory=QuestionsSection)
    stage: StageSection = field(default_factory=StageSection)
    reactions: ReactionsSection = field(default_factory=ReactionsSection)

    @property
    def media_bots(self) -> int:
        wanted = self.media.subscribers
        return self.members.count if wanted < 0 else min(wanted, self.members.count)

    @property
    def steps(self) -> tuple[int, ...]:
        """Subscriber counts to hold and measure, ascending; the last is every media bot."""
        total = self.media_bots
        if not self.media.steps or not total:
            return ()
        return tuple(sorted({n for n in self.media.steps if 0 < n < total} | {total}))

    def with_overrides(
        self, members: int | None = None, rate: float | None = None, duration: float | None = None
    ) -> Scenario:
        changed = self
        if members is not None or rate is not None:
            section = dataclasses.replace(
                self.members,
                count=self.members.count if members is None else members,
                rate=self.members.rate if rate is None else rate,
            )
            changed = dataclasses.replace(changed, members=section)
        if duration is not None:
            changed = dataclasses.replace(changed, duration=duration)
        changed.check()
        return changed

    def check(self) -> None:
        if self.members.count < 0 or self.members.rate <= 0:
            raise ScenarioError("members.count must be ≥ 0 and members.rate > 0")
        if self.duration <= 0:
            raise ScenarioError("duration must be positive")
        if self.members.encoding not in ENCODINGS:
            raise ScenarioError(f"members.encoding must be one of {', '.join(ENCODINGS)}")
        for tier in (*self.room.tiers, self.members.tier):
            if tier not in TIERS:
                raise ScenarioError(f"unknown tier {tier!r} (one of {', '.join(TIERS)})")
        if self.media_bots and not self.host.join:
            raise ScenarioError("media subscribers need a host (host.join = true)")
        if self.media.receive not in ("frames", "packets"):
            raise ScenarioError('media.receive must be "frames" or "packets"')
        if self.media.step_seconds <= 0 or self.media.per_worker < 1:
            raise ScenarioError("media.step_seconds must be > 0 and media.per_worker ≥ 1")
        for name in ("accept", "senders"):
            section = self.stage if name == "accept" else self.chat
            if not 0 <= getattr(section, name) <= 1:
                raise ScenarioError(f"{name} must be between 0 and 1")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _section(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ScenarioError(f"[{where}] must be a table")
    known = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ScenarioError(f"unknown key {where}.{key} (known: {', '.join(known)})")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list):
                raise ScenarioError(f"{where}.{key} must be a list")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ScenarioError(f"{where}.{key} must be true or false")
        elif isinstance(default, int | float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError(f"{where}.{key} must be a number")
            if isinstance(default, int) and not isinstance(value, int):
                raise ScenarioError(f"{where}.{key} must be a whole number")
        elif isinstance(default, str) and not isinstance(value, str):
            raise ScenarioError(f"{where}.{key} must be a string")
        values[key] = value
    return cls(**values)


SECTIONS: dict[str, type[Any]] = {
    "room": RoomSection,
    "members": MembersSection,
    "host": HostSection,
    "media": MediaSection,
    "chat": ChatSection,
    "questions": QuestionsSection,
    "stage": StageSection,
    "reactions": ReactionsSection,
}


def parse(data: dict[str, Any], name: str) -> Scenario:
    values: dict[str, Any] = {"name": str(data.get("name", name))}
    for key, value in data.items():
        if key == "name":
            continue
        if key in SECTIONS:
            values[key] = _section(SECTIONS[key], value, key)
        elif key == "description":
            values[key] = str(value)
        elif key == "duration":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ScenarioError("duration must be a number of seconds")
            values[key] = float(value)
        else:
            raise ScenarioError(
                f"unknown key {key!r} (known: name, description, duration, {', '.join(SECTIONS)})"
            )
    scenario = Scenario(**values)
    scenario.check()
    return scenario


def resolve(name: str) -> Path:
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        return path
    return SCENARIO_DIR / f"{name.replace('-', '_')}.toml"


def load(name: str) -> Scenario:
    path = resolve(name)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        known = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise ScenarioError(f"no scenario {name!r} (built in: {known})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
    return parse(data, path.stem)


def builtin() -> list[Scenario]:
    return [load(str(p)) for p in sorted(SCENARIO_DIR.glob("*.toml"))]
