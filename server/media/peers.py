"""A live room's peer connections: who publishes into which feed, who subscribes.

Each participant may hold two peer connections (as LiveKit does): ``pub`` to publish
and ``sub`` to receive the room's feeds. The browser always offers; the server answers.
Video is VP8 and audio Opus on both sides, so media is forwarded as it arrives: RTP
packets by default, whole frames when ``media.forwarding = "frames"``
(``server/media/forwarders.py``).

Feeds: the host's camera and microphone are the room's *main* feeds (``feeds``); each
speaker's published track gets a feed of its own, keyed by publisher and kind, and a
*slot*: the lowest free index among that kind's stage slots. A subscriber's ``sub``
offer carries one audio and one video m-line for the main feeds, then one m-line per
stage slot of each kind, in slot order (the n-th extra audio m-line is audio slot n-1).
When slots change the room tells everyone (``on_tracks_changed``); the browser re-offers
on the same ``sub`` connection, with more m-lines if it needs them, and the answer marks
each slot ``sendonly`` (a speaker is there) or ``inactive`` (nobody, or the subscriber
itself). The relay track behind a slot's sender is switched between feeds, never
stopped, so the sender keeps its sequence numbers and the connection stays up.

Active speaker: each audio feed's levels go to ``on_levels`` (``server/media/speakers.py``
reads them off the RTP packets).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import Callable
from typing import Any, Literal, cast

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.sdp import candidate_from_sdp

from server.ids import ParticipantId, RoomId
from server.media.forwarders import OUTLETS, MediaFeed, Outlet, make_feed
from server.media.ice import IcePolicy, configure_peer
from server.media.passthrough import install, mark_passthrough
from server.media.speakers import LevelReporter, Levels, LevelsListener, sample_levels
from server.rooms.errors import MediaFailed
from server.settings import MediaSettings

logger = logging.getLogger(__name__)

PcName = Literal["pub", "sub"]
KINDS = ("audio", "video")
FORWARDED_CODECS = {"audio": ("audio/opus",), "video": ("video/vp8", "video/rtx")}

_MLINE = re.compile(r"^m=(audio|video|application) ", re.MULTILINE)
_UFRAG = re.compile(r"^a=ice-ufrag:(\S+)", re.MULTILINE)


def _codec_preferences(kind: str) -> list[Any]:
    wanted = FORWARDED_CODECS[kind]
    return [c for c in RTCRtpSender.getCapabilities(kind).codecs if c.mimeType.lower() in wanted]


def offered_kinds(sdp: str) -> list[str]:
    """The media kinds of an SDP's m-lines, in order (``application`` left out)."""
    return [kind for kind in _MLINE.findall(sdp) if kind in KINDS]


def _parse_candidate(line: str) -> Any:
    """A browser's candidate line as aiortc's ``RTCIceCandidate``, or ``MediaFailed``.

    aioice asserts that a line has eight fields and parses ports and addresses lazily: a
    line it cannot use must fail here, not later in its connectivity checks.
    """
    try:
        parsed = candidate_from_sdp(line.removeprefix("candidate:"))
    except (ValueError, IndexError, AssertionError) as exc:
        raise MediaFailed(
            f"the ICE candidate is malformed ({str(exc) or 'too few fields'})"
        ) from None
    if not 0 < parsed.port < 65536 or not 0 < parsed.component < 257:
        raise MediaFailed("the ICE candidate names no valid port or component")
    if not str(parsed.ip).endswith(".local"):  # mDNS names are what browsers hide IPs behind
        try:
            ipaddress.ip_address(parsed.ip)
        except ValueError:
            raise MediaFailed("the ICE candidate names no valid address") from None
    return parsed


def _ufrag(sdp: str | None) -> str | None:
    match = _UFRAG.search(sdp or "")
    return match.group(1) if match else None


class RoomMedia:
    """The media side of one live room."""

    def __init__(
        self,
        room_id: RoomId,
        policy: IcePolicy,
        settings: MediaSettings,
        on_live_change: Callable[[bool, ParticipantId | None], None],
    ) -> None:
        self._frames = settings.forwarding == "frames"
        if self._frames:
            install()
        self.room_id = room_id
        self._policy = policy
        self._settings = settings
        self._on_live_change = on_live_change
        self.feeds = {kind: make_feed(settings, kind) for kind in KINDS}
        for feed in self.feeds.values():
            feed.on_source_ended = self._source_ended
        self._pcs: dict[tuple[ParticipantId, PcName], RTCPeerConnection] = {}
        self.publisher: ParticipantId | None = None
        # Stage publishing: one feed per (speaker, kind) and the slot it occupies.
        self._stage_feeds: dict[tuple[ParticipantId, str], MediaFeed] = {}
        self._slots: dict[str, list[ParticipantId | None]] = {kind: [] for kind in KINDS}
        self._muted: set[ParticipantId] = set()
        # Told when slots change (subscribers must re-offer) and, while anyone speaks,
        # the speakers and the levels of every audio publisher.
        self.on_tracks_changed: Callable[[], None] | None = None
        self.on_levels: LevelsListener | None = None
        self._levels = LevelReporter(f"levels-{room_id}", self._audio_feeds, lambda: self.on_levels)

    @property
    def live(self) -> bool:
        return any(feed.live for feed in self.feeds.values())

    def peer(self, participant: ParticipantId, name: PcName) -> RTCPeerConnection | None:
        return self._pcs.get((participant, name))

    def tracks_json(self) -> dict[str, list[str | None]]:
        """Who is in each stage slot, per kind (what a subscriber's offer must cover)."""
        return {kind: [str(p) if p else None for p in slots] for kind, slots in self._slots.items()}

    def stage_feed(self, participant: ParticipantId, kind: str) -> MediaFeed | None:
        return self._stage_feeds.get((participant, kind))

    # --- negotiation --------------------------------------------------------------------

    async def answer(
        self, participant: ParticipantId, name: PcName, offer_sdp: str, *, stage: bool = False
    ) -> str:
        """Negotiate ``name`` for ``participant`` from the browser's offer; return the answer.

        ``stage``: a ``pub`` offer from a speaker, whose tracks get stage slots (the host's
        go to the main feeds). A ``sub`` offer from the connection already up (same ICE
        credentials) renegotiates it in place; any other offer replaces the connection.
        """
        if not offered_kinds(offer_sdp):
            raise MediaFailed("the offer has no audio or video section")
        existing = self._pcs.get((participant, name))
        if (
            name == "sub"
            and existing is not None
            and existing.signalingState == "stable"
            and existing.connectionState not in ("failed", "closed")
            and existing.remoteDescription is not None
            and _ufrag(existing.remoteDescription.sdp) == _ufrag(offer_sdp)
        ):
            return await self._negotiate(participant, name, existing, offer_sdp)
        await self.stop(participant, name)
        pc = RTCPeerConnection(self._policy.rtc_configuration())
        self._pcs[(participant, name)] = pc
        if name == "pub":
            self._prepare_publisher(pc, participant, offered_kinds(offer_sdp), stage)
        self._watch(pc, participant, name)
        return await self._negotiate(participant, name, pc, offer_sdp)

    async def _negotiate(
        self, participant: ParticipantId, name: PcName, pc: RTCPeerConnection, offer_sdp: str
    ) -> str:
        try:
            if name == "sub":
                self._prepare_subscriber(pc, participant, offered_kinds(offer_sdp))
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            if name == "sub":
                self._assign_slots(pc, participant)
            configure_peer(pc, self._policy)
            await pc.setLocalDescription(await pc.createAnswer())
        except (ValueError, TypeError, AttributeError, LookupError) as exc:
            await self.stop(participant, name)
            raise MediaFailed(str(exc) or type(exc).__name__) from None
        except Exception as exc:  # aiortc raises its own error classes for bad SDP
            await self.stop(participant, name)
            logger.info(
                "room %s: negotiation failed for %s/%s: %s", self.room_id, participant, name, exc
            )
            raise MediaFailed(str(exc) or type(exc).__name__) from None
        return str(pc.localDescription.sdp)

    def _prepare_publisher(
        self, pc: RTCPeerConnection, participant: ParticipantId, kinds: list[str], stage: bool
    ) -> None:
        # Only the kinds offered: a transceiver with no m-line breaks aiortc's answer
        # (a host with a camera and no microphone offers video alone).
        for kind in dict.fromkeys(kinds):
            pc.addTransceiver(kind, direction="recvonly").setCodecPreferences(
                _codec_preferences(kind)
            )

        @pc.on("track")
        def on_track(track: Any) -> None:
            # Fired inside setRemoteDescription, before the receiver starts its worker.
            if self._frames:
                mark_passthrough(track)
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            if stage:
                self._attach_stage(participant, track, receiver)
                return
            feed = self.feeds[track.kind]
            feed.publisher = participant
            feed.muted = track.kind == "audio" and participant in self._muted
            feed.attach(track, receiver)
            if track.kind == "audio":
                self._levels.listen(receiver, feed)
            if self.publisher != participant:
                self.publisher = participant
                self._on_live_change(True, participant)

    def _prepare_subscriber(
        self, pc: RTCPeerConnection, participant: ParticipantId, kinds: list[str]
    ) -> None:
        """Add a sending transceiver for every m-line of the offer that has none yet."""
        have = {kind: sum(1 for t in pc.getTransceivers() if t.kind == kind) for kind in KINDS}
        wanted = {kind: kinds.count(kind) for kind in KINDS}
        for kind in KINDS:
            for index in range(have[kind], wanted[kind]):
                feed = self.feeds[kind]
                track: Outlet = (
                    feed.subscribe(participant) if index == 0 else feed.outlet(participant)
                )
                transceiver = pc.addTransceiver(cast(Any, track), direction="sendonly")
                transceiver.setCodecPreferences(_codec_preferences(kind))
                track.attach_sender(transceiver.sender)

    def _slot_transceivers(self, pc: RTCPeerConnection, kind: str) -> list[Any]:
        """``pc``'s transceivers for stage slots of ``kind``, slot 0 first."""
        return [t for t in pc.getTransceivers() if t.kind == kind][1:]

    def _assign_slots(self, pc: RTCPeerConnection, participant: ParticipantId) -> None:
        """Point each slot's relay track at its speaker's feed; no speaker: inactive."""
        for kind in KINDS:
            slots = self._slots[kind]
            for slot, transceiver in enumerate(self._slot_transceivers(pc, kind)):
                publisher = slots[slot] if slot < len(slots) else None
                feed = None
                if publisher is not None and publisher != participant:
                    feed = self._stage_feeds.get((publisher, kind))
                track = transceiver.sender.track
                if isinstance(track, OUTLETS):
                    outlet: Outlet = track
                    outlet.switch(feed)
                transceiver.direction = "sendonly" if feed is not None else "inactive"

    def _watch(self, pc: RTCPeerConnection, participant: ParticipantId, name: PcName) -> None:
        @pc.on("connectionstatechange")
        async def on_state() -> None:
            logger.debug(
                "room %s: %s/%s is %s", self.room_id, participant, name, pc.connectionState
            )
            if (
                pc.connectionState in ("failed", "closed")
                and self._pcs.get((participant, name)) is pc
            ):
                await self.stop(participant, name)

    async def add_candidate(
        self, participant: ParticipantId, name: PcName, candidate: dict[str, Any] | None
    ) -> None:
        pc = self._pcs.get((participant, name))
        if pc is None or candidate is None or not candidate.get("candidate"):
            return
        parsed = _parse_candidate(str(candidate["candidate"]))
        parsed.sdpMid = candidate.get("sdpMid")
        parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
        with contextlib.suppress(ValueError):
            await pc.addIceCandidate(parsed)

    # --- stage feeds --------------------------------------------------------------------

    def _attach_stage(self, participant: ParticipantId, track: Any, receiver: Any) -> None:
        kind = track.kind
        key = (participant, kind)
        old = self._stage_feeds.pop(key, None)
        if old is not None:
            self._free_slot(participant, kind, old)
        feed = make_feed(self._settings, kind, participant)
        feed.muted = kind == "audio" and participant in self._muted
        feed.attach(track, receiver)
        if kind == "audio":
            self._levels.listen(receiver, feed)
        self._stage_feeds[key] = feed
        slots = self._slots[kind]
        slot = slots.index(None) if None in slots else len(slots)
        if slot == len(slots):
            slots.append(participant)
        else:
            slots[slot] = participant
        # Subscribers whose offer already has this slot get the feed at once; everyone is
        # told so that the others (and the direction of this slot) follow by re-offering.
        for (owner, name), pc in self._pcs.items():
            if name != "sub" or owner == participant:
                continue
            transceivers = self._slot_transceivers(pc, kind)
            if slot < len(transceivers):
                relay = transceivers[slot].sender.track
                if isinstance(relay, OUTLETS):
                    outlet: Outlet = relay
                    outlet.switch(feed)
        logger.info("room %s: %s publishes %s in slot %d", self.room_id, participant, kind, slot)
        self._tracks_changed()

    def _free_slot(self, participant: ParticipantId, kind: str, feed: MediaFeed) -> None:
        feed.release()
        slots = self._slots[kind]
        for index, who in enumerate(slots):
            if who == participant:
                slots[index] = None
        while slots and slots[-1] is None:
            slots.pop()

    def _stop_stage(self, participant: ParticipantId) -> bool:
        stopped = False
        for kind in KINDS:
            feed = self._stage_feeds.pop((participant, kind), None)
            if feed is not None:
                self._free_slot(participant, kind, feed)
                stopped = True
        return stopped

    def _tracks_changed(self) -> None:
        if self.on_tracks_changed is not None:
            self.on_tracks_changed()

    # --- mute and levels ----------------------------------------------------------------

    def set_muted(self, participant: ParticipantId, muted: bool) -> None:
        """Stop (or resume) forwarding ``participant``'s microphone, now and later."""
        if muted:
            self._muted.add(participant)
        else:
            self._muted.discard(participant)
        for feed in self._audio_feeds():
            if feed.publisher == participant:
                feed.muted = muted

    def is_muted(self, participant: ParticipantId) -> bool:
        return participant in self._muted

    def _audio_feeds(self) -> list[MediaFeed]:
        feeds = [self.feeds["audio"]]
        feeds += [f for (_, kind), f in self._stage_feeds.items() if kind == "audio"]
        return feeds

    def sample_levels(self) -> Levels:
        """Who speaks now, and every live, unmuted audio publisher's level (0..1)."""
        return sample_levels(self._audio_feeds())

    # --- teardown -----------------------------------------------------------------------

    async def stop(self, participant: ParticipantId, name: PcName) -> None:
        pc = self._pcs.pop((participant, name), None)
        if pc is None:
            return
        for transceiver in pc.getTransceivers():
            track = transceiver.sender.track
            if track is not None:
                track.stop()
            remote = transceiver.receiver.track
            if name == "pub" and remote is not None:
                self.feeds[remote.kind].detach(remote)
        if name == "pub" and self._stop_stage(participant):
            self._tracks_changed()
        if name == "pub" and self.publisher == participant:
            self.publisher = None
            self._on_live_change(False, None)
        await pc.close()

    async def remove(self, participant: ParticipantId) -> None:
        self._muted.discard(participant)
        await asyncio.gather(self.stop(participant, "pub"), self.stop(participant, "sub"))

    async def close(self) -> None:
        await self._levels.close()
        await asyncio.gather(*(self.stop(p, n) for p, n in list(self._pcs)))
        for feed in self.feeds.values():
            feed.close()
        for feed in self._stage_feeds.values():
            feed.close()
        self._stage_feeds.clear()

    def _source_ended(self) -> None:
        if not self.live and self.publisher is not None:
            self.publisher = None
            self._on_live_change(False, None)

    def stats(self) -> dict[str, int]:
        feeds = (*self.feeds.values(), *self._stage_feeds.values())
        return {
            "peer_connections": len(self._pcs),
            "subscribers": self.feeds["video"].subscriber_count,
            "frames_in": sum(f.frames_in for f in self.feeds.values())
            + sum(f.frames_in for f in self._stage_feeds.values()),
            "stage_feeds": len(self._stage_feeds),
            # Forwarded to subscribers' senders, over every feed (``Feed.count_forwarded``).
            **{
                key: sum(getattr(f, key) for f in feeds)
                for key in ("frames_out", "bytes_out", "packets_out")
            },
        }
