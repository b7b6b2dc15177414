// The room page's elements, and the parts of the page drawn from plain values: the
// connection status line, the room's title and tiers, the live badge and the stage
// placeholder. room.js decides what to show; this draws it, as text, never as HTML.

const $ = (id) => document.getElementById(id);
export const ui = {
  title: $('room-title'),
  tiers: $('room-tiers'),
  liveBadge: $('live-badge'),
  status: $('conn-status'),
  notice: $('notice'),
  ended: $('ended'),
  endedTitle: $('ended-title'),
  endedMessage: $('ended-message'),
  rejoinBtn: $('rejoin-btn'),
  stage: $('stage'),
  remoteVideo: $('remote-video'),
  localVideo: $('local-video'),
  placeholder: $('stage-placeholder'),
  liveBtn: $('live-btn'),
  soundBtn: $('sound-btn'),
  leaveBtn: $('leave-btn'),
  people: $('people'),
  slots: $('slots'),
  peopleCount: $('people-count'),
  peopleList: $('people-list'),
};

const STATUS_TEXT = {
  connecting: 'Connecting…',
  joined: 'In the room',
  media: 'Media connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

export function showStatus(state) {
  ui.status.textContent = STATUS_TEXT[state] || state;
  ui.status.dataset.state = state;
}

function listWords(words) {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

export function renderRoomHeader(room) {
  const title = typeof room.title === 'string' && room.title ? room.title : (room.id || 'Salon room');
  ui.title.textContent = title;
  document.title = `${title} · Salon`;
  const tiers = Array.isArray(room.tiers) ? room.tiers.filter((t) => typeof t === 'string') : [];
  ui.tiers.textContent = tiers.length ? `Open to ${listWords(tiers)} members` : '';
}

export function renderLiveBadge(live) {
  ui.liveBadge.dataset.live = String(live);
  ui.liveBadge.textContent = live ? 'Live' : 'Not live';
}

// What stands in for the video: why there is nothing to see yet, if there is not.
export function renderStagePlaceholder({ host, hasLocalMedia, live }) {
  let text = '';
  if (host) {
    if (!hasLocalMedia) text = "You're not live. Press Go live to start your camera and microphone.";
  } else if (!live) {
    text = 'The host is not live right now. The stream starts here as soon as they go live.';
  } else if (!ui.remoteVideo.videoWidth) {
    text = 'Starting the stream…';
  }
  ui.placeholder.textContent = text;
  ui.placeholder.hidden = !text;
}
