// Stage slots on the room page's `sub` connection: one recvonly transceiver and one
// <audio>/<video> element per slot the server described (`tracks`: who speaks in each).
// Transceivers are never dropped, only reused when speakers change, so m-lines keep their
// places; a slot shows while it has a speaker other than us and is negotiated to
// receive. media.js owns the connection and calls in here.

import { t } from './i18n.js';
import { displayName } from './people.js';

export function normalTracks(tracks) {
  const pick = (list) => (Array.isArray(list)
    ? list.map((p) => (typeof p === 'string' ? p : null)) : []);
  return { audio: pick(tracks && tracks.audio), video: pick(tracks && tracks.video) };
}

// `container` holds the slot elements; `participants` is the page's Map id -> person.
export function createStageSlots(container, salon, participants) {
  // Recvonly transceivers of `sub` beyond the host's pair, per kind, in order.
  const transceivers = { audio: [], video: [] };
  const elements = new Map(); // transceiver -> its <audio>/<video> element

  // One recvonly transceiver per stage slot the server described (never fewer than before:
  // transceivers are reused when speakers change, so m-lines keep their places).
  function ensure(pc, soundOn) {
    for (const kind of ['audio', 'video']) {
      const list = transceivers[kind];
      while (list.length < salon.tracks[kind].length) {
        const transceiver = pc.addTransceiver(kind, { direction: 'recvonly' });
        list.push(transceiver);
        const element = document.createElement(kind === 'audio' ? 'audio' : 'video');
        element.autoplay = true;
        element.playsInline = true;
        element.muted = !soundOn;
        element.hidden = true;
        element.className = `slot slot-${kind}`;
        element.dataset.slot = String(list.length - 1);
        element.srcObject = new MediaStream([transceiver.receiver.track]);
        elements.set(transceiver, element);
        container.append(element);
      }
    }
  }

  // Show each slot that has a speaker and is negotiated to receive; hide the rest.
  function render(soundOn) {
    const out = [];
    const you = salon.you && salon.you.id;
    for (const kind of ['audio', 'video']) {
      transceivers[kind].forEach((transceiver, slot) => {
        const element = elements.get(transceiver);
        const who = salon.tracks[kind][slot] || null;
        const receiving = transceiver.currentDirection === 'recvonly'
          || transceiver.currentDirection === 'sendrecv';
        const active = Boolean(who && who !== you && receiving);
        if (element) {
          element.hidden = !active || kind === 'audio';
          element.dataset.participant = active ? who : '';
          const person = active ? participants.get(who) : null;
          element.setAttribute('aria-label', person ? t('media.camera_of', { name: displayName(person) }) : t('media.camera'));
          if (active) {
            element.muted = !soundOn;
            element.play().catch(() => {});
          }
        }
        out.push({
          kind,
          slot,
          participant: who,
          mid: transceiver.mid,
          direction: transceiver.currentDirection,
          active,
          trackState: transceiver.receiver.track.readyState,
          trackMuted: transceiver.receiver.track.muted,
        });
      });
    }
    salon.slots = out;
  }

  function setSound(soundOn) {
    for (const element of elements.values()) element.muted = !soundOn;
  }

  function clear() {
    for (const element of elements.values()) element.remove();
    elements.clear();
    transceivers.audio = [];
    transceivers.video = [];
    salon.slots = [];
  }

  return { ensure, render, setSound, clear };
}
