"""The one settings object: defaults, then an optional TOML file, then ``SALON_*`` variables.

Every section is a frozen dataclass. ``load_settings`` builds them in that order and calls
``validate``; an unknown key in the file or an unknown ``SALON_*`` variable fails at start-up
with a message that names it. Settings are handed to whoever needs them, never imported as
a global.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

MIN_SECRET_BYTES = 32


class SettingsError(ValueError):
    """A setting is unknown or has a value Salon cannot use."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    # Base URL printed in links; empty means http://host:port.
    public_url: str = ""


@dataclass(frozen=True, slots=True)
class RedisSettings:
    url: str = "redis://127.0.0.1:6379/0"
    # Seconds a gate read may take before the join is refused as unavailable.
    timeout: float = 2.0
    # Replicas a batch of events waits for (up to 1 s, WAIT after the XADD) before the
    # recorder counts it written; 0: no wait. With 1, a master killed right after a write
    # loses no written event: its replica, which takes over, has it (docs/cluster.md).
    wait_replicas: int = 0


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """This node in a cluster of Salon nodes (server/cluster/, docs/cluster.md)."""

    # Registry id; empty: HOSTNAME-PORT.
    id: str = ""
    # The URL pages reach this node on directly; empty: server.public_url, else host:port.
    advertised_url: str = ""
    # Seconds between two heartbeats, and after which a silent node counts as gone.
    heartbeat: float = 2.0
    ttl: float = 6.0
    # Register in the node registry at start-up (off: a node that must stay invisible).
    register: bool = True
    # Cluster mode (docs/cluster.md): a live room is owned by one node through its lease,
    # sockets landing elsewhere are relayed to the owner, a dead owner's rooms are taken
    # over. Needs rooms.state = "redis". Off: every node serves the rooms it is asked for.
    own_rooms: bool = False
    # Seconds a room lease lives without renewal, and between two renewals.
    lease_ttl: float = 3.0
    lease_renew: float = 1.0


@dataclass(frozen=True, slots=True)
class AuthSettings:
    secret: str = ""
    admin_key: str = ""
    token_ttl: int = 3600
    issuer: str = "salon"


@dataclass(frozen=True, slots=True)
class IceServer:
    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""


FORWARDING_MODES = ("packets", "frames")


@dataclass(frozen=True, slots=True)
class MediaSettings:
    # Addresses offered as ICE host candidates; empty means the machine's interfaces.
    ice_addresses: tuple[str, ...] = ()
    # UDP ports bound for media, inclusive; 0/0 means OS-chosen.
    rtp_port_min: int = 0
    rtp_port_max: int = 0
    # STUN/TURN servers, explicit: none by default so nothing reaches a public server.
    ice_servers: tuple[IceServer, ...] = ()
    # Frames a slow subscriber may lag before it is skipped to the next keyframe.
    subscriber_queue: int = 64
    # Minimum seconds between two keyframe requests sent to one publisher.
    keyframe_interval: float = 0.5
    # How published media reaches subscribers: "packets" (RTP packets forwarded with
    # their headers rewritten per subscriber) or "frames" (whole frames through aiortc's
    # jitter buffer and packetizer: more latency and CPU, kept for the benchmark).
    forwarding: str = "packets"
    # Bounds (kbit/s) of the REMB the packet path sends a publisher: the lowest of its
    # subscribers' REMBs and the server's own estimate, clamped to this range.
    remb_min_kbps: int = 150
    remb_max_kbps: int = 2500


@dataclass(frozen=True, slots=True)
class SignalingSettings:
    max_message_bytes: int = 64 * 1024
    heartbeat: float = 15.0
    # Seconds a new socket may stay silent before it must have sent ``join``.
    join_timeout: float = 10.0
    # Presence (server/rooms/presence.py): joins and leaves are told in one delta per
    # room at most every ``presence_interval`` seconds, and a room's deltas reach at most
    # ``presence_budget`` sockets a second (a bigger room gets them less often).
    presence_interval: float = 0.25
    presence_budget: int = 2000
    # People per page of the people list: the first page (in ``joined``) is the hosts,
    # co-hosts and speakers, then this many members, newest first.
    people_page: int = 50
    # A page that comes back with its resume token within this many seconds of leaving
    # gets its stage role (or live feed) back (server/rooms/resume.py).
    resume_grace: float = 30.0
    # Broadcast frames for one socket are written together (server/signaling/coalesce.py):
    # those of up to this many seconds, or of one loop iteration (0). 5 ms: about 40%
    # fewer socket writes at chat_bench's rate, for at most 5 ms more latency
    # (docs/decisions.md, "Coalesced socket writes").
    write_window: float = 0.005

    def check(self) -> None:
        """Raise ``SettingsError`` naming the first unusable value."""
        if not 0 <= self.write_window <= 0.02:
            raise SettingsError("signaling.write_window must be from 0 to 0.02 seconds")
        if not 0.01 <= self.presence_interval <= 10.0:
            raise SettingsError("signaling.presence_interval must be from 0.01 to 10 seconds")
        if self.presence_budget < 1:
            raise SettingsError("signaling.presence_budget must be at least 1")
        if not 1 <= self.people_page <= 500:
            raise SettingsError("signaling.people_page must be from 1 to 500")
        if not 0 <= self.resume_grace <= 3600:
            raise SettingsError("signaling.resume_grace must be from 0 to 3600 seconds")


@dataclass(frozen=True, slots=True)
class EngagementSettings:
    stream_maxlen: int = 1_000_000
    buffer_max: int = 100_000
    batch_size: int = 500
    flush_interval: float = 0.005
    scorer_enabled: bool = True
    scorer_group: str = "scorers"
    # Where events go when the memory buffer is full (Redis slow or down), until Redis
    # takes them again; relative paths are from the working directory.
    spill_dir: str = ".salon/spill"
    # Events waiting for the spill file's writer thread; beyond this they are dropped.
    spill_pending_max: int = 200_000
    # Size (bytes) at which a spill file is closed and the next one started.
    spill_file_bytes: int = 8 * 1024 * 1024
    # Seconds after which a recorded event is written and fsynced to the journal (in the
    # spill directory) at the latest; acknowledged REST events are fsynced at once.
    journal_interval: float = 0.02
    # Seconds a scorer waits after a read that found few events before it reads again,
    # so that a lightly loaded scorer's rounds carry batches, not one event each (0: read
    # again at once). Bounds what it adds to event-to-tier latency.
    scorer_linger: float = 0.01


@dataclass(frozen=True, slots=True)
class TiersSettings:
    """Tier rules and reviews (``server/engagement/``): the rules themselves are a file."""

    # TOML file of points, daily caps, decay and tier conditions; empty: the shipped
    # defaults (server/engagement/tiers.toml).
    rules_file: str = ""
    # Seconds between two sweeps for members whose tier time alone may have changed.
    sweep_interval: float = 10.0
    # Longest time (seconds) between two reviews of one member.
    review_interval: float = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class InteractionSettings:
    """Chat, reactions, Q&A, polls and product moments (see ``server/signaling/interactions.py``).

    Rate limits are token buckets per connection and kind of message: ``*_rate`` tokens
    per second, at most ``*_burst`` saved up.
    """

    chat_max_length: int = 500
    chat_history: int = 100
    question_max_length: int = 300
    max_questions: int = 500
    max_polls: int = 20
    # Seconds between two aggregated updates (reactions, poll results, click counts).
    flush_interval: float = 0.25
    chat_rate: float = 1.0
    chat_burst: int = 5
    reaction_rate: float = 5.0
    reaction_burst: int = 20
    question_rate: float = 0.2
    question_burst: int = 3
    vote_rate: float = 5.0
    vote_burst: int = 20
    click_rate: float = 1.0
    click_burst: int = 5
    moderation_rate: float = 10.0
    moderation_burst: int = 30

    def check(self) -> None:
        """Raise ``SettingsError`` naming the first unusable value."""
        for name in ("chat_max_length", "chat_history", "question_max_length"):
            if getattr(self, name) < 1:
                raise SettingsError(f"interactions.{name} must be at least 1")
        if self.max_questions < 1 or self.max_polls < 1:
            raise SettingsError("interactions.max_questions and max_polls must be at least 1")
        if not 0.01 <= self.flush_interval <= 5.0:
            raise SettingsError("interactions.flush_interval must be from 0.01 to 5 seconds")
        for kind in ("chat", "reaction", "question", "vote", "click", "moderation"):
            if getattr(self, f"{kind}_rate") <= 0 or getattr(self, f"{kind}_burst") < 1:
                raise SettingsError(
                    f"interactions.{kind}_rate must be positive and {kind}_burst at least 1"
                )


# Where a room session's state lives (server/rooms/room_states.py).
ROOM_STATES: Final = ("memory", "redis")


@dataclass(frozen=True, slots=True)
class RoomsSettings:
    """Room sessions (issue 11)."""

    # "memory": in this process (one node); "redis": in Redis, where every node sees it
    # and a node taking a room over finds its session (chat, questions, polls, product).
    state: str = "memory"


@dataclass(frozen=True, slots=True)
class CommerceSettings:
    """Purchases reported by an operator's shop (``server/http/commerce.py``)."""

    # Shared secret for HMAC-signed purchase reports; empty means admin key only.
    webhook_secret: str = ""
    # Seconds a signature's timestamp may differ from our clock (replay window).
    signature_tolerance: int = 300
    # Seconds after a product click during which a purchase is credited to that session.
    attribution_window: int = 24 * 3600


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Webhooks out (``server/webhooks/``): delivery timeouts and retries."""

    # Seconds a receiver has to answer one delivery.
    timeout: float = 10.0
    # Retry delay: doubles from ``backoff_min`` up to ``backoff_max`` seconds.
    backoff_min: float = 1.0
    backoff_max: float = 300.0
    # A delivery still failing this many seconds after it was queued is marked failed
    # and the endpoint's queue moves on (Stripe retries for three days).
    give_up_after: float = 3 * 24 * 3600.0
    # Seconds between two looks for scheduled sessions that are due to start.
    schedule_interval: float = 1.0


@dataclass(frozen=True, slots=True)
class ConsultSettings:
    """1:1 consultations (``server/consult/``) and the public hook routes' rate limits."""

    # Tiers that may request a consultation.
    tiers: tuple[str, ...] = ("core",)
    # Longest note a member may add to a request (characters).
    note_max: int = 500
    # A purchase within this many hours after a consultation ended is credited to it.
    attribution_hours: float = 24.0
    # Hours the two entry tokens of a consultation room stay valid.
    token_hours: float = 6.0
    # The public hook routes (/r/CODE and /api/hooks/CODE...): requests per second on
    # average and at once, per client address and per hook code.
    # Generous per address: carrier NAT puts many phones behind one address.
    hook_ip_rate: float = 2.0
    hook_ip_burst: int = 40
    hook_code_rate: float = 200.0
    hook_code_burst: int = 1000


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    """Replays (``server/rooms/replay.py``): where recordings go, what a watch may count."""

    # One WebM file per recorded session, with its timeline beside it, under this folder.
    dir: str = ".salon/replays"
    # False: no room is recorded, whatever its recording toggle says.
    enabled: bool = True
    # Seconds one replay_watch report may claim (the page reports every 15 s).
    watch_report_max: float = 60.0


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    node: NodeSettings = field(default_factory=NodeSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    signaling: SignalingSettings = field(default_factory=SignalingSettings)
    engagement: EngagementSettings = field(default_factory=EngagementSettings)
    tiers: TiersSettings = field(default_factory=TiersSettings)
    interactions: InteractionSettings = field(default_factory=InteractionSettings)
    rooms: RoomsSettings = field(default_factory=RoomsSettings)
    commerce: CommerceSettings = field(default_factory=CommerceSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    consult: ConsultSettings = field(default_factory=ConsultSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)

    def validate(self, need_secret: bool = True) -> Settings:
        """Raise ``SettingsError`` naming the first unusable value; return self."""
        if need_secret and not self.auth.secret:
            raise SettingsError("auth.secret (SALON_SECRET) must be set: it signs member tokens")
        if need_secret and len(self.auth.secret.encode()) < MIN_SECRET_BYTES:
            # HMAC-SHA256 keys shorter than its output weaken it (PyJWT warns below 32).
            raise SettingsError(
                f"auth.secret (SALON_SECRET) must be at least {MIN_SECRET_BYTES} bytes "
                f"(got {len(self.auth.secret.encode())}); make one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        if not 0 <= self.redis.wait_replicas <= 5:
            raise SettingsError("redis.wait_replicas must be from 0 to 5")
        if not 0 < self.node.heartbeat < self.node.ttl:
            raise SettingsError("node.heartbeat must be positive and below node.ttl")
        if not 0 <= self.server.port <= 65535:
            raise SettingsError(f"server.port {self.server.port} is not a TCP port")
        m = self.media
        if (m.rtp_port_min, m.rtp_port_max) != (0, 0) and not (
            1024 <= m.rtp_port_min <= m.rtp_port_max <= 65535
        ):
            raise SettingsError(
                f"media.rtp_ports {m.rtp_port_min}-{m.rtp_port_max} must be LO-HI within 1024-65535"
            )
        for address in m.ice_addresses:
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise SettingsError(
                    f"media.ice_addresses: {address!r} is not an IP address"
                ) from None
        if m.forwarding not in FORWARDING_MODES:
            raise SettingsError(
                f"media.forwarding {m.forwarding!r} must be one of: {', '.join(FORWARDING_MODES)}"
            )
        if not 0 < m.remb_min_kbps <= m.remb_max_kbps:
            raise SettingsError("media.remb_min_kbps must be positive and at most remb_max_kbps")
        if self.auth.token_ttl <= 0:
            raise SettingsError("auth.token_ttl must be positive")
        if self.tiers.sweep_interval <= 0 or self.tiers.review_interval <= 0:
            raise SettingsError("tiers.sweep_interval and tiers.review_interval must be positive")
        if self.engagement.buffer_max < 1 or self.engagement.spill_pending_max < 0:
            raise SettingsError("engagement.buffer_max must be at least 1")
        if not 0.001 <= self.engagement.journal_interval <= 1.0:
            raise SettingsError("engagement.journal_interval must be from 0.001 to 1 second")
        if not 0.0 <= self.engagement.scorer_linger <= 0.1:
            raise SettingsError("engagement.scorer_linger must be from 0 to 0.1 second")
        self.interactions.check()
        if self.rooms.state not in ROOM_STATES:
            raise SettingsError(
                f"rooms.state {self.rooms.state!r} must be one of: {', '.join(ROOM_STATES)}"
            )
        if self.node.own_rooms and self.rooms.state != "redis":
            raise SettingsError('node.own_rooms needs rooms.state = "redis"')
        if not 0 < self.node.lease_renew < self.node.lease_ttl:
            raise SettingsError("node.lease_renew must be positive and below node.lease_ttl")
        self.signaling.check()
        if self.commerce.signature_tolerance < 1 or self.commerce.attribution_window < 0:
            raise SettingsError("commerce.signature_tolerance and attribution_window: bad value")
        w = self.webhooks
        if not (w.timeout > 0 and 0 < w.backoff_min <= w.backoff_max and w.give_up_after > 0):
            raise SettingsError("webhooks: timeout, backoff_min <= backoff_max, give_up_after > 0")
        if w.schedule_interval <= 0:
            raise SettingsError("webhooks.schedule_interval must be positive")
        c = self.consult
        if not set(c.tiers) <= {"core", "active", "potential", "silent"}:
            raise SettingsError("consult.tiers must name tiers: core, active, potential, silent")
        if not (1 <= c.note_max <= 5000 and c.attribution_hours >= 0 and c.token_hours > 0):
            raise SettingsError("consult: note_max 1-5000, attribution_hours >= 0, token_hours > 0")
        if (
            min(c.hook_ip_rate, c.hook_code_rate) <= 0
            or min(c.hook_ip_burst, c.hook_code_burst) < 1
        ):
            raise SettingsError("consult.hook_*_rate must be positive and hook_*_burst at least 1")
        return self


# Short environment names the CLI documents; everything else is SALON_<SECTION>_<KEY>.
ENV_ALIASES: Mapping[str, tuple[str, str]] = {
    "SALON_SECRET": ("auth", "secret"),
    "SALON_ADMIN_KEY": ("auth", "admin_key"),
    "SALON_HOST": ("server", "host"),
    "SALON_PORT": ("server", "port"),
    "SALON_ICE_ADDRESSES": ("media", "ice_addresses"),
    "SALON_RTP_PORTS": ("media", "rtp_ports"),
}
ENV_CONFIG_FILE = "SALON_CONFIG"


def _coerce(section: str, key: str, current: Any, raw: Any) -> Any:
    """Turn a TOML or environment value into the type of the default it replaces."""
    where = f"{section}.{key}"
    try:
        if isinstance(current, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(current, int):
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(raw)
        if isinstance(current, float):
            return float(raw)
        if isinstance(current, str):
            if not isinstance(raw, str):
                raise ValueError(raw)
            return raw
    except ValueError:
        raise SettingsError(f"{where}: {raw!r} is not a valid {type(current).__name__}") from None
    if key == "ice_servers":
        return _ice_servers(raw)
    if isinstance(current, tuple):
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return tuple(str(item).strip() for item in items if str(item).strip())
    raise SettingsError(f"{where}: cannot be set")  # pragma: no cover - every type is listed


def _ice_servers(raw: Any) -> tuple[IceServer, ...]:
    if not isinstance(raw, list):
        raise SettingsError("media.ice_servers must be a list of {urls, username, credential}")
    servers = []
    for entry in raw:
        if not isinstance(entry, dict) or "urls" not in entry:
            raise SettingsError("media.ice_servers entries need 'urls'")
        unknown = set(entry) - {"urls", "username", "credential"}
        if unknown:
            raise SettingsError(f"media.ice_servers: unknown key {sorted(unknown)[0]!r}")
        urls = entry["urls"]
        urls = (urls,) if isinstance(urls, str) else tuple(urls)
        servers.append(
            IceServer(urls, str(entry.get("username", "")), str(entry.get("credential", "")))
        )
    return tuple(servers)


def parse_port_range(text: str) -> tuple[int, int]:
    """Parse ``LO-HI`` into two ints, raising ``SettingsError`` with the text on failure."""
    lo, sep, hi = text.partition("-")
    try:
        if not sep:
            raise ValueError(text)
        return int(lo), int(hi)
    except ValueError:
        raise SettingsError(f"rtp ports {text!r} must look like LO-HI, e.g. 40000-40100") from None


def _apply(settings: Settings, section: str, key: str, raw: Any, origin: str) -> Settings:
    if section not in {f.name for f in fields(Settings)}:
        raise SettingsError(f"unknown setting {origin}: no section {section!r}")
    current_section = getattr(settings, section)
    if section == "media" and key == "rtp_ports":
        lo, hi = parse_port_range(str(raw))
        new_section = replace(current_section, rtp_port_min=lo, rtp_port_max=hi)
        return replace(settings, media=new_section)
    names = {f.name for f in fields(current_section)}
    if key not in names:
        raise SettingsError(f"unknown setting {origin}: {section!r} has no key {key!r}")
    value = _coerce(section, key, getattr(current_section, key), raw)
    return replace(settings, **{section: replace(current_section, **{key: value})})


def _from_env_name(name: str) -> tuple[str, str] | None:
    if name in ENV_ALIASES:
        return ENV_ALIASES[name]
    rest = name.removeprefix("SALON_").lower()
    for f in fields(Settings):
        prefix = f.name + "_"
        if rest.startswith(prefix):
            return f.name, rest[len(prefix) :]
    return None


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    need_secret: bool = True,
) -> Settings:
    """Build settings: defaults → TOML file → ``SALON_*`` env → ``overrides`` → validate.

    ``overrides`` maps ``"section.key"`` to a value (the CLI's flags use it).
    """
    environ = os.environ if env is None else env
    settings = Settings()
    path = config_file or environ.get(ENV_CONFIG_FILE)
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read settings file {path}: {exc}") from None
        for section, values in data.items():
            if not isinstance(values, dict):
                raise SettingsError(f"unknown setting {section!r} in {path}: expected a [section]")
            for key, raw in values.items():
                settings = _apply(settings, section, key, raw, f"{section}.{key} in {path}")
    for name, raw in sorted(environ.items()):
        if not name.startswith("SALON_") or name == ENV_CONFIG_FILE:
            continue
        target = _from_env_name(name)
        if target is None:
            raise SettingsError(f"unknown setting {name}: no such section")
        settings = _apply(settings, target[0], target[1], raw, name)
    for dotted, raw in (overrides or {}).items():
        section, _, key = dotted.partition(".")
        settings = _apply(settings, section, key, raw, dotted)
    return settings.validate(need_secret)


def masked_url(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part (if any) shown as ``***``,
    for logs: ``redis://:pw@h:6379/0`` -> ``redis://:***@h:6379/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    hosts = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{hosts}"))


def as_dict(settings: Settings) -> dict[str, Any]:
    """Settings as plain data with secrets masked, for logs and diagnostics."""
    data = dataclasses.asdict(settings)
    data["redis"]["url"] = masked_url(settings.redis.url)
    for key in ("secret", "admin_key"):
        if data["auth"][key]:
            data["auth"][key] = "***"
    if data["commerce"]["webhook_secret"]:
        data["commerce"]["webhook_secret"] = "***"
    return data
