// Salon room page: one page for members (watch the host) and the host (go live).
//
// Speaks docs/protocol.md over one WebSocket (subprotocol salon.v1.json): join with the
// token from the URL, then a `sub` peer connection receives the room's media and, for the
// host and for speakers on stage, a `pub` peer connection publishes.
//
// This file owns the socket, the connection state and the page around the stream; the
// peer connections and going live are in media.js (stage slots in slots.js), the people
// list in people.js, the page's elements and what is drawn from plain values in
// room_view.js.
//
// Everything that came from the server or from people (names, titles, messages) is put
// on the page with textContent, never as HTML.

import { callFeatures } from './features.js';
import { mountLanguageSwitch, t, translatePage } from './i18n.js';
import { createMedia } from './media.js';
import { createPeopleList } from './people.js';
import {
  errorText, renderLiveBadge, renderRoomHeader, renderStagePlaceholder, showStatus, ui,
} from './room_view.js';
import { forgetResume, keepResume, readResume, readToken } from './token.js';
import { initSheets, restoreSheet } from './sheets.js';

const PROTOCOL = 'salon.v1.json';
const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
// After these the server closes the socket for good: reconnecting would be refused again.
const FATAL_CODES = new Set([
  'token_invalid', 'token_expired', 'wrong_room', 'room_not_found', 'unknown_member',
  'tier_too_low', 'room_full', 'private_room', 'unavailable', 'replaced', 'banned', 'removed',
]);
const CLOSE_REFUSED = 4403;
const CLOSE_REPLACED = 4409;
const CLOSE_REMOVED = 4410;

// What tests (and curious people in the console) may read. Kept up to date in place.
const salon = {
  pcs: { sub: null, pub: null },
  state: 'connecting',
  participants: [],
  room: null,
  you: null,
  live: false,
  publisher: null,
  // Stage slots as the server last described them, and this page's receivers for them.
  tracks: { audio: [], video: [] },
  slots: [],
  stagePublishing: false,
  micMuted: false,
};
window.salon = salon;
// Sending by hand (the console, tests) is no more than any client can do: the server
// checks every message against the sender's role.
salon.send = (message) => send(message);

// Read once, then taken out of the address bar (token.js): it must not linger in the
// history, in bookmarks or on a shared screen.
const token = readToken();
// Same alphabet as server/ids.py: ids travel in keys, URLs and tokens.
const ROOM_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// The page is served at /rooms/{room_id}; telling the server which room we are looking
// at lets it refuse a token minted for another room (wrong_room) instead of showing it.
const pathRoom = (() => {
  const match = window.location.pathname.match(/^\/rooms\/([^/]+)\/?$/);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return '';
  }
})();

let ws = null;
let joined = false;
let finished = false; // refused, replaced or left: no more reconnecting
let attempt = 0;
let reconnectTimer = 0;
let comeBackAfterMs = null; // the server is stopping: reconnect after this (+ jitter)
let lastError = null;
let iceServers = [];
let refSeq = 0;
const participants = new Map();
let noticeTimer = 0;

const media = createMedia({
  ui,
  salon,
  send,
  nextRef,
  showNotice,
  participants,
  iceServers: () => iceServers,
  joined: () => joined,
  active: () => joined && !finished,
  isHost,
  refreshState,
  renderStage,
});

// ---------------------------------------------------------------- small helpers

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(message));
    return true;
  }
  return false;
}

function nextRef(kind) {
  refSeq += 1;
  return `${kind}-${refSeq}`;
}

function isHost() {
  return salon.you !== null && salon.you.role === 'host';
}

// What feature modules (features.js) may use.
const featureApi = {
  send,
  nextRef,
  you: () => salon.you,
  participants: () => participants,
  isHost,
  notice: (text) => showNotice(text),
  // The sentence for a server `error` in the page's language.
  errorText: (message) => errorText(message),
  // Redraw the people list (after a feature changed what it shows).
  renderParticipants: () => renderParticipants(),
  // Stage: turn this page's microphone on or off (the server is told separately).
  setMicEnabled: (enabled) => media.setMicEnabled(enabled),
  // Is this page publishing a microphone (host live, or a speaker on stage)?
  micLive: () => media.micLive(),
};

// The people list: pages of the room's people, kept up to date by presence deltas.
const peopleList = createPeopleList({
  ui: { list: ui.peopleList, count: ui.peopleCount },
  people: participants,
  decorate: (li, p) => callFeatures('decorateParticipant', li, p, featureApi),
  send,
  nextRef,
  you: () => salon.you,
});

function showNotice(text, { sticky = false } = {}) {
  clearTimeout(noticeTimer);
  ui.notice.textContent = text;
  if (!sticky) noticeTimer = setTimeout(() => { ui.notice.textContent = ''; }, 10000);
}

// ---------------------------------------------------------------- connection state

function setState(state) {
  salon.state = state;
  showStatus(state);
}

// The words shown once the socket is in the room depend on the media connection that
// matters to this person: the host's outgoing one while live, otherwise the incoming one.
function refreshState() {
  if (finished) { setState('disconnected'); return; }
  // A reload with a resume token kept is a reconnection too (the person was in the room).
  if (!joined) { setState(attempt > 0 || readResume() ? 'reconnecting' : 'connecting'); return; }
  const pc = isHost() ? salon.pcs.pub : salon.pcs.sub;
  const media = pc ? pc.connectionState : 'new';
  if (media === 'connected') setState('media');
  else if (media === 'disconnected' || media === 'failed') setState('reconnecting');
  else setState('joined');
}

// ---------------------------------------------------------------- end states

function showEnded(title, message, { canRejoin, link = null }) {
  finished = true;
  clearTimeout(reconnectTimer);
  media.closeAllPeers();
  media.stopLocalMedia();
  ui.stage.hidden = true;
  ui.people.hidden = true;
  ui.liveBadge.hidden = true;
  ui.dock.hidden = true;
  document.body.dataset.role = 'ended';
  ui.ended.hidden = false;
  ui.endedTitle.textContent = title;
  // Unhide first, then fill: assistive technology announces the alert's new text.
  ui.endedMessage.textContent = message;
  ui.rejoinBtn.hidden = !canRejoin;
  // The operator's next step for people the room turns away (a membership page, an open room).
  const href = link ? safeLink(link) : null;
  ui.endedNext.hidden = !href;
  if (href) {
    ui.endedLink.href = href;
    ui.endedLink.textContent = t('ended.next');
  }
  setState('disconnected');
}

function safeLink(text) {
  try {
    const url = new URL(String(text), window.location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

// A refusal: the room's title (from the refusal, when the page never joined) as heading.
function refuse(error) {
  const params = (error && error.params) || {};
  if (!salon.room && typeof params.room_title === 'string' && params.room_title) {
    renderRoomHeader({ title: params.room_title });
  } else if (!salon.room) {
    ui.title.textContent = t('ended.cannot_enter');
  }
  showEnded(t('ended.cannot_enter'), error ? errorText(error) : t('ended.cannot_enter_text'), {
    canRejoin: false, link: params.next || null,
  });
}

function refuseLocally(key) {
  refuse({ code: 'local', message: t(key) });
}

// ---------------------------------------------------------------- signaling socket

function socketUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  // ?room= lets a load balancer send every socket of a room to the node that owns it.
  const query = pathRoom && ROOM_ID.test(pathRoom) ? `?room=${encodeURIComponent(pathRoom)}` : '';
  return `${scheme}//${window.location.host}/ws${query}`;
}

function connect() {
  clearTimeout(reconnectTimer);
  lastError = null;
  refreshState();
  let sock;
  try {
    sock = new WebSocket(socketUrl(), PROTOCOL);
  } catch (err) {
    console.error('[salon] cannot open the socket', err);
    scheduleReconnect();
    return;
  }
  ws = sock;
  sock.addEventListener('open', () => {
    if (sock !== ws) return;
    const join = { type: 'join', token };
    if (pathRoom) join.room = pathRoom;
    const resume = readResume();
    if (resume) join.resume = resume;
    send(join);
  });
  sock.addEventListener('message', (event) => {
    if (sock !== ws || typeof event.data !== 'string') return;
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    if (message && typeof message === 'object' && typeof message.type === 'string') {
      handleMessage(message);
    }
  });
  sock.addEventListener('close', (event) => {
    if (sock === ws) onSocketClosed(event.code);
  });
}

function onSocketClosed(code) {
  ws = null;
  joined = false;
  media.closeAllPeers();
  callFeatures('onLeft', featureApi);
  console.info('[salon] socket closed', code);
  if (finished) { refreshState(); return; }
  if (code === CLOSE_REFUSED) {
    refuse(lastError);
    return;
  }
  if (code === CLOSE_REMOVED) {
    showEnded(t('ended.removed'), lastError ? errorText(lastError) : t('error.removed_plain'),
      { canRejoin: false });
    return;
  }
  if (code === CLOSE_REPLACED) {
    showEnded(t('ended.replaced'), t('error.replaced'), { canRejoin: true });
    return;
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  const backoff = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
  const base = comeBackAfterMs ?? backoff;
  comeBackAfterMs = null;
  attempt += 1;
  refreshState();
  // A little jitter so that a room full of members does not come back in lockstep.
  reconnectTimer = setTimeout(connect, base + Math.random() * 500);
}

function handleMessage(message) {
  switch (message.type) {
    case 'joined': onJoined(message); break;
    case 'answer': media.onAnswer(message); break;
    case 'presence': onPresence(message); break;
    case 'people_page': peopleList.onPage(message); shownPeople(); break;
    case 'people_found': peopleList.onFound(message); break;
    case 'stream':
      setLive(Boolean(message.live), message.publisher ?? null);
      callFeatures('onMessage', message, featureApi);
      break;
    case 'error': onError(message); break;
    case 'reconnect':
      // server_stopping: the socket closes next; come back after the delay it names.
      comeBackAfterMs = Math.max(0, Number(message.retry_after) || 1) * 1000;
      break;
    case 'role':
      onRole(message);
      callFeatures('onMessage', message, featureApi);
      break;
    case 'tracks':
      media.setTracks(message);
      callFeatures('onMessage', message, featureApi);
      break;
    case 'stage':
      media.onStageState(message);
      callFeatures('onMessage', message, featureApi);
      break;
    // Stage and interaction modules (features.js); unknown types are ignored: newer
    // server, older page.
    default: callFeatures('onMessage', message, featureApi); break;
  }
}

function onJoined(message) {
  joined = true;
  attempt = 0;
  salon.room = message.room || null;
  salon.you = message.you || null;
  // For the next reconnection (a reload, a lost socket): this session's resume token.
  keepResume(message.resume_token);
  salon.resumed = message.resumed || null;
  iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
  renderRoom();
  shownPeople(peopleList.reset(message));
  document.body.dataset.role = isHost() ? 'host' : 'member';
  ui.ended.hidden = true;
  ui.stage.hidden = false;
  ui.people.hidden = false;
  ui.peopleBtn.hidden = false;
  ui.dock.hidden = false;
  salon.tracks = media.normalTracks(message.tracks);
  if (isHost()) {
    ui.liveBtn.hidden = false;
    ui.soundBtn.hidden = false;
    ui.remoteVideo.hidden = true;
    // The host hears the speakers on stage: a `sub` connection of its own.
    media.startSub();
    // Back after a reconnect with the camera still on, or after a reload while live (the
    // server says so in `resumed`): publish again, without a click. In a private
    // consultation (room kind "consult") both people talk from the start.
    const consult = Boolean(salon.room && salon.room.kind === 'consult');
    media.resumeLive(Boolean(message.resumed && message.resumed.live) || consult);
  } else {
    ui.liveBtn.hidden = true;
    ui.soundBtn.hidden = false;
    media.startSub();
  }
  setLive(Boolean(message.live), null);
  refreshState();
  media.syncStagePublishing();
  callFeatures('onJoined', message, featureApi);
  restoreSheet();
}

function onRole(message) {
  const p = message.participant;
  if (!p || typeof p.id !== 'string') return;
  if (salon.you && p.id === salon.you.id) {
    salon.you = p;
    media.syncStagePublishing();
  }
  shownPeople(peopleList.update(p));
  media.renderSlots();
}

function onPresence(message) {
  peopleList.applyDelta(message);
  shownPeople();
  callFeatures('onPresence', message, featureApi);
}

function onError(message) {
  lastError = message;
  const text = errorText(message);
  console.warn('[salon] error', message.code, message.message);
  if (FATAL_CODES.has(message.code)) {
    // The close (4403/4409) follows; show the reason now rather than wait for it.
    if (message.code === 'replaced') {
      showEnded(t('ended.replaced'), text, { canRejoin: true });
    } else if (message.code === 'removed') {
      showEnded(t('ended.removed'), text, { canRejoin: false });
    } else {
      refuse(message);
    }
    return;
  }
  if (media.onOfferError(message.ref, text)) return;
  showNotice(text);
}

// ---------------------------------------------------------------- leaving

function leave() {
  if (finished) return;
  send({ type: 'leave' });
  forgetResume(); // leaving on purpose: "Join again" comes back as a plain member
  showEnded(t('ended.left'), t('ended.left_text'), { canRejoin: true });
}

ui.leaveBtn.addEventListener('click', leave);
ui.rejoinBtn.addEventListener('click', () => window.location.reload());
window.addEventListener('pagehide', () => {
  if (!finished) send({ type: 'leave' });
  finished = true;
  media.closeAllPeers();
  media.stopLocalMedia();
});
// Back from the back/forward cache the socket and peers are gone: start afresh.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload();
});

// ---------------------------------------------------------------- rendering

function setLive(live, publisher) {
  salon.live = live;
  salon.publisher = live ? publisher : null;
  renderLiveBadge(live);
  renderStage();
}

function renderRoom() {
  renderRoomHeader(salon.room || {});
}

function renderStage() {
  renderStagePlaceholder({ host: isHost(), hasLocalMedia: media.hasLocalMedia(), live: salon.live });
}

function renderParticipants() {
  // Stage and interaction modules add their own badges and actions to each person.
  shownPeople(peopleList.render());
}

// What tests read: the people shown (a page or a few, never the whole room).
function shownPeople(people = [...participants.values()]) {
  const count = peopleList.count();
  ui.peopleBtn.textContent = t('people.button', { count });
  ui.peopleBtn.setAttribute('aria-label', t('people.button_label', { count }));
  salon.participants = people.map((p) => ({ ...p }));
}

// ---------------------------------------------------------------- start

// The chat floats just above the bottom bar, however tall the bar is (layout.css).
function followDockHeight() {
  if (typeof ResizeObserver === 'undefined') return;
  new ResizeObserver(() => {
    document.documentElement.style.setProperty('--dock-h', `${ui.dock.offsetHeight}px`);
  }).observe(ui.dock);
}

function start() {
  translatePage();
  followDockHeight();
  mountLanguageSwitch(ui.langSlot);
  initSheets();
  renderLiveBadge(false);
  showStatus('connecting');
  if (!token) {
    refuseLocally('ended.no_token');
    return;
  }
  if (pathRoom !== null && !ROOM_ID.test(pathRoom)) {
    refuseLocally('ended.bad_address');
    return;
  }
  if (typeof RTCPeerConnection === 'undefined' || typeof WebSocket === 'undefined') {
    refuseLocally('ended.old_browser');
    return;
  }
  media.renderSoundButton();
  connect();
}

start();
