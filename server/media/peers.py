"""A live room's media: peer connections, feeds and stage slots, wired together.

Each participant may hold two peer connections (as LiveKit does): ``pub`` to publish
and ``sub`` to receive the room's feeds. The browser always offers; the server answers.
Video is VP8 and audio Opus on both sides, so media is forwarded as it arrives: RTP
packets by default, whole frames when ``media.forwarding = "frames"``.

``RoomMedia`` composes three parts and owns only the wiring between them:
- negotiation (``negotiation.PeerConnections``): offer/answer, ICE, connection state;
- the slot table (``slots.SlotTable``, pure): who publishes the main feeds, who is in
  which stage slot, what each subscriber's slot m-lines show, who is muted;
- the forwarder (``forwarders.Forwarder``): the feeds, packets or frames.

Feeds: the host's camera and microphone are the room's *main* feeds (``feeds``); each
speaker's published track gets a feed of its own, keyed by publisher and kind, and a
stage slot. A subscriber's ``sub`` offer carries one audio and one video m-line for the
main feeds, then one m-line per stage slot of each kind, in slot order. When slots
change the room tells everyone (``on_tracks_changed``); the browser re-offers on the
same ``sub`` connection, with more m-lines if it needs them, and the answer marks each
slot ``sendonly`` (a speaker is there) or ``inactive`` (nobody, or the subscriber
itself). The outlet behind a slot's sender is switched between feeds, never stopped, so
the sender keeps its sequence numbers and the connection stays up.

Active speaker: each audio feed's levels go to ``on_levels`` (``speakers.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

from aiortc import RTCPeerConnection

from server.ids import ParticipantId, RoomId
from server.media.counters import MediaCounters
from server.media.errors import NegotiationFailed
from server.media.forwarders import MediaFeed, Outlet, forwarder_for, outlet_of
from server.media.ice import IcePolicy
from server.media.negotiation import (
    KINDS,
    PcName,
    PeerConnections,
    codec_preferences,
    offered_kinds,
)
from server.media.slots import SlotTable
from server.media.speakers import LevelReporter, LevelsListener
from server.settings import MediaSettings

logger = logging.getLogger(__name__)


class RoomMedia:
    """The media side of one live room."""

    def __init__(
        self,
        room_id: RoomId,
        policy: IcePolicy,
        settings: MediaSettings,
        on_live_change: Callable[[bool, ParticipantId | None], None],
        counters: MediaCounters | None = None,
    ) -> None:
        """``counters``: the process's media totals (a fresh set when not given)."""
        self.room_id = room_id
        self.counters = counters if counters is not None else MediaCounters()
        self._forwarder = forwarder_for(settings, self.counters)
        self._on_live_change = on_live_change
        self._peers = PeerConnections(room_id, policy, self.stop)
        self._table = SlotTable()
        self.feeds = {kind: self._forwarder.feed(kind) for kind in KINDS}
        for feed in self.feeds.values():
            feed.on_source_ended = self._source_ended
        # Stage publishing: one feed per (speaker, kind); its slot is in the table.
        self._stage_feeds: dict[tuple[ParticipantId, str], MediaFeed] = {}
        # Told when slots change (subscribers must re-offer) and, while anyone speaks,
        # the speakers and the levels of every audio publisher.
        self.on_tracks_changed: Callable[[], None] | None = None
        self.on_levels: LevelsListener | None = None
        self._levels = LevelReporter(
            f"levels-{room_id}", self._audio_feeds, lambda: self.on_levels, self.counters
        )

    @property
    def live(self) -> bool:
        return any(feed.live for feed in self.feeds.values())

    @property
    def publisher(self) -> ParticipantId | None:
        """Who feeds the main feeds (the host publishing), if anyone."""
        return self._table.publisher

    def peer(self, participant: ParticipantId, name: PcName) -> RTCPeerConnection | None:
        return self._peers.get(participant, name)

    def tracks_json(self) -> dict[str, list[str | None]]:
        """Who is in each stage slot, per kind (what a subscriber's offer must cover)."""
        return self._table.tracks_json()

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
        Raises ``NegotiationFailed``; the connection is then closed.
        """
        kinds = offered_kinds(offer_sdp)
        if not kinds:
            raise NegotiationFailed("no_media")
        if self._peers.reusable(participant, name, offer_sdp):
            pc = self._peers.get(participant, name)
            assert pc is not None  # reusable() found it
        else:
            await self.stop(participant, name)
            pc = self._peers.open(participant, name)
            if name == "pub":
                self._prepare_publisher(pc, participant, kinds, stage)

        def before() -> None:
            if name == "sub":
                self._prepare_subscriber(pc, participant, kinds)

        def after() -> None:
            if name == "sub":
                self._assign_slots(pc, participant)

        try:
            return await self._peers.answer(participant, name, pc, offer_sdp, before, after)
        except NegotiationFailed:
            await self.stop(participant, name)
            raise

    async def add_candidate(
        self, participant: ParticipantId, name: PcName, candidate: dict[str, Any] | None
    ) -> None:
        """Add a browser's ICE candidate; ``NegotiationFailed`` if it is unusable."""
        await self._peers.add_candidate(participant, name, candidate)

    def _prepare_publisher(
        self, pc: RTCPeerConnection, participant: ParticipantId, kinds: list[str], stage: bool
    ) -> None:
        # Only the kinds offered: a transceiver with no m-line breaks aiortc's answer
        # (a host with a camera and no microphone offers video alone).
        for kind in dict.fromkeys(kinds):
            pc.addTransceiver(kind, direction="recvonly").setCodecPreferences(
                codec_preferences(kind)
            )

        @pc.on("track")
        def on_track(track: Any) -> None:
            # Fired inside setRemoteDescription, before the receiver starts its worker.
            receiver = next(t.receiver for t in pc.getTransceivers() if t.receiver.track is track)
            if stage:
                self._attach_stage(participant, track, receiver)
                return
            feed = self.feeds[track.kind]
            feed.publisher = participant
            self._attach(feed, track, receiver)
            if self._table.set_publisher(participant):
                self._on_live_change(True, participant)

    def _attach(self, feed: MediaFeed, track: Any, receiver: Any) -> None:
        feed.muted = self._table.drops(feed.publisher, feed.kind)
        self._forwarder.receiving(track, receiver, feed)
        feed.attach(track, receiver)
        if feed.kind == "audio":
            self._levels.start()

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
                transceiver.setCodecPreferences(codec_preferences(kind))
                track.attach_sender(transceiver.sender)

    def _slot_transceivers(self, pc: RTCPeerConnection, kind: str) -> list[Any]:
        """``pc``'s transceivers for stage slots of ``kind``, slot 0 first."""
        return [t for t in pc.getTransceivers() if t.kind == kind][1:]

    def _assign_slots(self, pc: RTCPeerConnection, participant: ParticipantId) -> None:
        """Point each slot's outlet at its speaker's feed; no speaker: inactive."""
        for kind in KINDS:
            transceivers = self._slot_transceivers(pc, kind)
            sources = self._table.sources_for(participant, kind, len(transceivers))
            for transceiver, publisher in zip(transceivers, sources, strict=True):
                feed = None
                if publisher is not None:
                    feed = self._stage_feeds.get((publisher, kind))
                outlet = outlet_of(transceiver.sender.track)
                if outlet is not None:
                    outlet.switch(feed)
                transceiver.direction = "sendonly" if feed is not None else "inactive"

    # --- stage feeds --------------------------------------------------------------------

    def _attach_stage(self, participant: ParticipantId, track: Any, receiver: Any) -> None:
        kind = track.kind
        old = self._stage_feeds.pop((participant, kind), None)
        if old is not None:
            old.release()
        feed = self._forwarder.feed(kind, participant)
        self._attach(feed, track, receiver)
        self._stage_feeds[(participant, kind)] = feed
        slot = self._table.occupy(participant, kind).slot
        # Subscribers whose offer already has this slot get the feed at once; everyone is
        # told so that the others (and the direction of this slot) follow by re-offering.
        for owner, pc in self._peers.subscribers():
            if owner == participant:
                continue
            transceivers = self._slot_transceivers(pc, kind)
            if slot < len(transceivers):
                outlet = outlet_of(transceivers[slot].sender.track)
                if outlet is not None:
                    outlet.switch(feed)
        logger.info("room %s: %s publishes %s in slot %d", self.room_id, participant, kind, slot)
        self._tracks_changed()

    def _stop_stage(self, participant: ParticipantId) -> bool:
        stopped = False
        for kind in KINDS:
            feed = self._stage_feeds.pop((participant, kind), None)
            if feed is not None:
                feed.release()
                self._table.vacate(participant, kind)
                stopped = True
        return stopped

    def _tracks_changed(self) -> None:
        if self.on_tracks_changed is not None:
            self.on_tracks_changed()

    # --- mute ---------------------------------------------------------------------------

    def set_muted(self, participant: ParticipantId, muted: bool) -> None:
        """Stop (or resume) forwarding ``participant``'s microphone, now and later."""
        self._table.set_muted(participant, muted)
        for feed in self._audio_feeds():
            if feed.publisher == participant:
                feed.muted = self._table.drops(participant, feed.kind)

    def is_muted(self, participant: ParticipantId) -> bool:
        return self._table.is_muted(participant)

    def _audio_feeds(self) -> list[MediaFeed]:
        feeds = [self.feeds["audio"]]
        feeds += [f for (_, kind), f in self._stage_feeds.items() if kind == "audio"]
        return feeds

    # --- teardown -----------------------------------------------------------------------

    async def stop(self, participant: ParticipantId, name: PcName) -> None:
        pc = self._peers.pop(participant, name)
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
        if name == "pub" and self._table.clear_publisher(participant):
            self._on_live_change(False, None)
        await pc.close()

    async def remove(self, participant: ParticipantId) -> None:
        self._table.forget(participant)
        await asyncio.gather(self.stop(participant, "pub"), self.stop(participant, "sub"))

    async def close(self) -> None:
        await self._levels.close()
        await asyncio.gather(*(self.stop(p, n) for p, n in self._peers.connections()))
        for feed in self.feeds.values():
            feed.close()
        for feed in self._stage_feeds.values():
            feed.close()
        self._stage_feeds.clear()

    def _source_ended(self) -> None:
        if not self.live and self._table.clear_publisher():
            self._on_live_change(False, None)

    def stats(self) -> dict[str, int]:
        feeds = (*self.feeds.values(), *self._stage_feeds.values())
        return {
            "peer_connections": len(self._peers),
            "subscribers": self.feeds["video"].subscriber_count,
            "frames_in": sum(f.frames_in for f in feeds),
            "stage_feeds": len(self._stage_feeds),
            # Forwarded to subscribers' senders, over every feed.
            **{
                key: sum(getattr(f, key) for f in feeds)
                for key in ("frames_out", "bytes_out", "packets_out")
            },
        }
