// Salon room page: one page for members (watch the host) and the host (go live).
//
// Speaks docs/protocol.md over one WebSocket (subprotocol salon.v1.json): join with the
// token from the URL, then a `sub` peer connection receives the room's media and, for the
// host and for speakers on stage, a `pub` peer connection publishes.
//
// The `sub` connection carries the host's audio and video (its first two m-lines) and
// one m-line per stage slot (`tracks` from the server: who speaks in each slot). When
// the slots change the page adds recvonly transceivers as needed and offers again on the
// same connection; the server's answer marks empty slots inactive, which Chromium shows
// by muting that receiver's track (it does not end it), so the page drops the slot's
// element. Speakers publish their microphone (and camera when the room allows it) on
// `pub` when their role becomes speaker or co-host, and stop when it no longer is.
//
// Everything that came from the server or from people (names, titles, messages) is put
// on the page with textContent, never as HTML.

import { callFeatures } from './features.js';

const PROTOCOL = 'salon.v1.json';
const RECONNECT_DELAYS_MS = [1000, 2000, 4000, 8000, 15000];
// After these the server closes the socket for good: reconnecting would be refused again.
const FATAL_CODES = new Set([
  'token_invalid', 'token_expired', 'wrong_room', 'room_not_found', 'unknown_member',
  'tier_too_low', 'room_full', 'unavailable', 'replaced', 'banned', 'removed',
]);
const CLOSE_REFUSED = 4403;
const CLOSE_REPLACED = 4409;
const CLOSE_REMOVED = 4410;
const ON_STAGE = new Set(['speaker', 'cohost']);

const STATUS_TEXT = {
  connecting: 'Connecting…',
  joined: 'In the room',
  media: 'Media connected',
  reconnecting: 'Reconnecting…',
  disconnected: 'Disconnected',
};

const $ = (id) => document.getElementById(id);
const ui = {
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

const token = new URLSearchParams(window.location.search).get('token') || '';
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
let lastError = null;
let iceServers = [];
let refSeq = 0;
const pendingOffers = { sub: null, pub: null }; // ref of the offer awaiting its answer
const participants = new Map();

let localStream = null; // host's camera and microphone while live, or a speaker's
let goingLive = false;
// Stage slots: recvonly transceivers of `sub` beyond the host's pair, per kind, in order.
const slotTransceivers = { audio: [], video: [] };
const slotElements = new Map(); // transceiver -> its <audio>/<video> element
let subBusy = false; // a `sub` offer is out, waiting for its answer
let subDirty = false; // the slots changed meanwhile: offer again after the answer
let stagePublishing = false;
let soundOn = false;
let subRetryTimer = 0;
let noticeTimer = 0;

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
  // Redraw the people list (after a feature changed what it shows).
  renderParticipants: () => renderParticipants(),
  // Stage: turn this page's microphone on or off (the server is told separately).
  setMicEnabled: (enabled) => setMicEnabled(enabled),
  // Is this page publishing a microphone (host live, or a speaker on stage)?
  micLive: () => Boolean(localStream && localStream.getAudioTracks().length),
};

function capitalize(word) {
  return word ? word.charAt(0).toUpperCase() + word.slice(1) : '';
}

function listWords(words) {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} and ${words[words.length - 1]}`;
}

function displayName(p) {
  return (typeof p.name === 'string' && p.name.trim()) || p.member_id || 'Guest';
}

function showNotice(text, { sticky = false } = {}) {
  clearTimeout(noticeTimer);
  ui.notice.textContent = text;
  if (!sticky) noticeTimer = setTimeout(() => { ui.notice.textContent = ''; }, 10000);
}

// ---------------------------------------------------------------- connection state

function setState(state) {
  salon.state = state;
  ui.status.textContent = STATUS_TEXT[state] || state;
  ui.status.dataset.state = state;
}

// The words shown once the socket is in the room depend on the media connection that
// matters to this person: the host's outgoing one while live, otherwise the incoming one.
function refreshState() {
  if (finished) { setState('disconnected'); return; }
  if (!joined) { setState(attempt > 0 ? 'reconnecting' : 'connecting'); return; }
  const pc = isHost() ? salon.pcs.pub : salon.pcs.sub;
  const media = pc ? pc.connectionState : 'new';
  if (media === 'connected') setState('media');
  else if (media === 'disconnected' || media === 'failed') setState('reconnecting');
  else setState('joined');
}

// ---------------------------------------------------------------- end states

function showEnded(title, message, { canRejoin }) {
  finished = true;
  clearTimeout(reconnectTimer);
  closeAllPeers();
  stopLocalMedia();
  ui.stage.hidden = true;
  ui.people.hidden = true;
  ui.liveBadge.hidden = true;
  if (!salon.room) ui.title.textContent = 'Salon';
  ui.ended.hidden = false;
  ui.endedTitle.textContent = title;
  // Unhide first, then fill: assistive technology announces the alert's new text.
  ui.endedMessage.textContent = message;
  ui.rejoinBtn.hidden = !canRejoin;
  setState('disconnected');
}

function refuse(message) {
  showEnded("You can't enter this room", message || "You can't enter this room.", { canRejoin: false });
}

// ---------------------------------------------------------------- signaling socket

function socketUrl() {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}/ws`;
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
  closeAllPeers();
  callFeatures('onLeft', featureApi);
  console.info('[salon] socket closed', code);
  if (finished) { refreshState(); return; }
  if (code === CLOSE_REFUSED) {
    refuse(lastError && lastError.message);
    return;
  }
  if (code === CLOSE_REMOVED) {
    showEnded('You were removed from the room',
      (lastError && lastError.message) || 'The host removed you from the room.', { canRejoin: false });
    return;
  }
  if (code === CLOSE_REPLACED) {
    showEnded('This window left the room',
      (lastError && lastError.message) || 'You joined this room from another window, so this one was closed.',
      { canRejoin: true });
    return;
  }
  scheduleReconnect();
}

function scheduleReconnect() {
  const base = RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
  attempt += 1;
  refreshState();
  // A little jitter so that a room full of members does not come back in lockstep.
  reconnectTimer = setTimeout(connect, base + Math.random() * 500);
}

function handleMessage(message) {
  switch (message.type) {
    case 'joined': onJoined(message); break;
    case 'answer': onAnswer(message); break;
    case 'presence': onPresence(message); break;
    case 'stream':
      setLive(Boolean(message.live), message.publisher ?? null);
      callFeatures('onMessage', message, featureApi);
      break;
    case 'error': onError(message); break;
    case 'role':
      onRole(message);
      callFeatures('onMessage', message, featureApi);
      break;
    case 'tracks':
      setTracks(message);
      callFeatures('onMessage', message, featureApi);
      break;
    case 'stage':
      onStageState(message);
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
  iceServers = Array.isArray(message.ice_servers) ? message.ice_servers : [];
  participants.clear();
  for (const p of Array.isArray(message.participants) ? message.participants : []) {
    if (p && typeof p.id === 'string') participants.set(p.id, p);
  }
  renderRoom();
  renderParticipants();
  ui.ended.hidden = true;
  ui.stage.hidden = false;
  ui.people.hidden = false;
  salon.tracks = normalTracks(message.tracks);
  if (isHost()) {
    ui.liveBtn.hidden = false;
    ui.soundBtn.hidden = false;
    ui.remoteVideo.hidden = true;
    // The host hears the speakers on stage: a `sub` connection of its own.
    startSub();
    // Back after a reconnect with the camera still on: publish again.
    if (localStream && localStream.getTracks().some((t) => t.readyState === 'live')) {
      publish().catch((err) => failLive(`Your stream could not restart: ${err.message || err}.`));
    } else {
      setLiveButton('go');
    }
  } else {
    ui.liveBtn.hidden = true;
    ui.soundBtn.hidden = false;
    startSub();
  }
  setLive(Boolean(message.live), null);
  refreshState();
  syncStagePublishing();
  callFeatures('onJoined', message, featureApi);
}

function onAnswer(message) {
  const name = message.pc;
  if (name !== 'sub' && name !== 'pub') return;
  const pc = salon.pcs[name];
  // An answer for an offer we have since replaced belongs to a closed connection.
  if (!pc || pc.signalingState !== 'have-local-offer') return;
  if (message.ref && pendingOffers[name] && message.ref !== pendingOffers[name]) return;
  pendingOffers[name] = null;
  pc.setRemoteDescription({ type: 'answer', sdp: String(message.sdp) }).then(() => {
    if (name !== 'sub' || salon.pcs.sub !== pc) return;
    subBusy = false;
    renderSlots();
    if (subDirty) renegotiateSub();
  }).catch((err) => {
    console.error('[salon] bad answer', name, err);
    if (name === 'sub') subBusy = false;
    showNotice('The media connection could not be set up. Please reload the page.');
  });
}

function onPresence(message) {
  const p = message.participant;
  if (!p || typeof p.id !== 'string') return;
  if (message.event === 'joined') participants.set(p.id, p);
  else if (message.event === 'left') participants.delete(p.id);
  renderParticipants();
  callFeatures('onPresence', message, featureApi);
}

function onError(message) {
  lastError = message;
  const text = typeof message.message === 'string' && message.message
    ? message.message : 'Something went wrong.';
  console.warn('[salon] error', message.code, text);
  if (FATAL_CODES.has(message.code)) {
    // The close (4403/4409) follows; show the reason now rather than wait for it.
    if (message.code === 'replaced') {
      showEnded('This window left the room', text, { canRejoin: true });
    } else if (message.code === 'removed') {
      showEnded('You were removed from the room', text, { canRejoin: false });
    } else {
      refuse(text);
    }
    return;
  }
  if (message.ref && message.ref === pendingOffers.pub) {
    pendingOffers.pub = null;
    failLive(text);
    return;
  }
  if (message.ref && message.ref === pendingOffers.sub) {
    // The server closed `sub` when the offer failed: start a fresh one.
    pendingOffers.sub = null;
    subBusy = false;
    if (joined && !finished) startSub();
  }
  showNotice(text);
}

// ---------------------------------------------------------------- peer connections

function newPeer(name) {
  const pc = new RTCPeerConnection({ iceServers });
  // Candidates found before the offer is on its way wait for it.
  const early = [];
  let offered = false;
  pc.addEventListener('icecandidate', (event) => {
    const c = event.candidate;
    if (c && !c.candidate) return; // Chrome's empty end-of-generation marker
    const message = { type: 'candidate', pc: name, candidate: c ? c.toJSON() : null };
    if (offered) send(message);
    else early.push(message);
  });
  pc.addEventListener('connectionstatechange', () => {
    if (salon.pcs[name] !== pc) return;
    console.info('[salon]', name, pc.connectionState);
    refreshState();
    if (pc.connectionState === 'failed') onPeerFailed(name);
  });
  const flush = () => {
    offered = true;
    for (const message of early.splice(0)) send(message);
  };
  return { pc, flush };
}

async function negotiate(name, pc, flush) {
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  if (salon.pcs[name] !== pc) return; // replaced meanwhile
  const ref = nextRef(name);
  pendingOffers[name] = ref;
  send({ type: 'offer', pc: name, sdp: pc.localDescription.sdp, ref });
  flush();
}

function closePeer(name) {
  const pc = salon.pcs[name];
  salon.pcs[name] = null;
  pendingOffers[name] = null;
  if (pc) pc.close();
}

function closeAllPeers() {
  clearTimeout(subRetryTimer);
  closePeer('sub');
  closePeer('pub');
  clearSlots();
  stagePublishing = false;
  salon.stagePublishing = false;
}

function onPeerFailed(name) {
  if (name === 'sub') {
    // Sending a new `sub` offer replaces the connection on the server.
    clearTimeout(subRetryTimer);
    subRetryTimer = setTimeout(() => { if (joined && !finished) startSub(); }, 2000);
  } else if (stagePublishing) {
    // A speaker's microphone: publish again on a fresh connection.
    stagePublishing = false;
    closePeer('pub');
    stopLocalMedia();
    setTimeout(syncStagePublishing, 1000);
  } else {
    failLive('Your stream stopped: the media connection was lost. Press Go live to try again.');
  }
}

// ---------------------------------------------------------------- watching (sub)

function startSub() {
  closePeer('sub');
  clearSlots();
  const { pc, flush } = newPeer('sub');
  const main = [
    pc.addTransceiver('audio', { direction: 'recvonly' }),
    pc.addTransceiver('video', { direction: 'recvonly' }),
  ];
  const stream = new MediaStream();
  pc.addEventListener('track', (event) => {
    // Only the host's pair plays in the main video; stage slots have elements of their own.
    if (!main.includes(event.transceiver)) return;
    stream.addTrack(event.track);
    if (ui.remoteVideo.srcObject !== stream) ui.remoteVideo.srcObject = stream;
    playRemote();
  });
  salon.pcs.sub = pc;
  if (!isHost()) ui.remoteVideo.hidden = false;
  ensureSlotTransceivers(pc);
  subBusy = true;
  subDirty = false;
  negotiate('sub', pc, flush).catch((err) => {
    subBusy = false;
    console.error('[salon] sub offer failed', err);
    showNotice('The stream could not be set up in this browser.');
  });
}

// ---------------------------------------------------------------- stage slots (sub)

function normalTracks(tracks) {
  const pick = (list) => (Array.isArray(list)
    ? list.map((p) => (typeof p === 'string' ? p : null)) : []);
  return { audio: pick(tracks && tracks.audio), video: pick(tracks && tracks.video) };
}

function setTracks(message) {
  salon.tracks = normalTracks(message);
  renegotiateSub();
  renderSlots();
}

// One recvonly transceiver per stage slot the server described (never fewer than before:
// transceivers are reused when speakers change, so m-lines keep their places).
function ensureSlotTransceivers(pc) {
  for (const kind of ['audio', 'video']) {
    const list = slotTransceivers[kind];
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
      slotElements.set(transceiver, element);
      ui.slots.append(element);
    }
  }
}

function renegotiateSub() {
  const pc = salon.pcs.sub;
  if (!pc || !joined || finished) return;
  if (subBusy || pc.signalingState !== 'stable') {
    subDirty = true;
    return;
  }
  subBusy = true;
  subDirty = false;
  ensureSlotTransceivers(pc);
  negotiate('sub', pc, () => {}).catch((err) => {
    subBusy = false;
    console.error('[salon] sub renegotiation failed', err);
  });
}

// Show each slot that has a speaker and is negotiated to receive; hide the rest.
function renderSlots() {
  const out = [];
  const you = salon.you && salon.you.id;
  for (const kind of ['audio', 'video']) {
    slotTransceivers[kind].forEach((transceiver, slot) => {
      const element = slotElements.get(transceiver);
      const who = salon.tracks[kind][slot] || null;
      const receiving = transceiver.currentDirection === 'recvonly'
        || transceiver.currentDirection === 'sendrecv';
      const active = Boolean(who && who !== you && receiving);
      if (element) {
        element.hidden = !active || kind === 'audio';
        element.dataset.participant = active ? who : '';
        const person = active ? participants.get(who) : null;
        element.setAttribute('aria-label', person ? `Camera of ${displayName(person)}` : 'Camera');
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

function clearSlots() {
  for (const element of slotElements.values()) element.remove();
  slotElements.clear();
  slotTransceivers.audio = [];
  slotTransceivers.video = [];
  subBusy = false;
  subDirty = false;
  salon.slots = [];
}

// ---------------------------------------------------------------- on stage (pub)

function onRole(message) {
  const p = message.participant;
  if (!p || typeof p.id !== 'string') return;
  participants.set(p.id, p);
  if (salon.you && p.id === salon.you.id) {
    salon.you = p;
    syncStagePublishing();
  }
  renderParticipants();
  renderSlots();
}

function onStageState(message) {
  const muted = Array.isArray(message.muted) && salon.you
    ? message.muted.includes(salon.you.id) : false;
  salon.micMuted = muted;
  // Muted by the host or by ourselves: the server drops the audio; the page stops
  // capturing it too.
  if (localStream) localStream.getAudioTracks().forEach((t) => { t.enabled = !muted; });
}

function setMicEnabled(enabled) {
  if (localStream) localStream.getAudioTracks().forEach((t) => { t.enabled = enabled; });
}

// Publish while our role is on stage; stop when it is not any more.
function syncStagePublishing() {
  const onStage = Boolean(salon.you && ON_STAGE.has(salon.you.role));
  if (onStage && !stagePublishing && joined && !finished) {
    publishStage().catch((err) => {
      console.error('[salon] stage microphone failed', err);
      stagePublishing = false;
      salon.stagePublishing = false;
      showNotice(describeMediaError(err), { sticky: true });
      send({ type: 'stage_leave' });
    });
  } else if (!onStage && stagePublishing) {
    stagePublishing = false;
    salon.stagePublishing = false;
    closePeer('pub');
    stopLocalMedia();
    refreshState();
  }
}

async function publishStage() {
  stagePublishing = true;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw Object.assign(new Error('this page needs a secure (https) address'), { name: 'SecurityError' });
  }
  const cameras = Boolean(salon.room && salon.room.speaker_cameras);
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: true,
    video: cameras ? { width: 640, height: 480 } : false,
  });
  if (!stagePublishing || !joined || finished) {
    stream.getTracks().forEach((t) => t.stop());
    return;
  }
  localStream = stream;
  stream.getAudioTracks().forEach((t) => { t.enabled = !salon.micMuted; });
  if (cameras) {
    ui.localVideo.srcObject = stream;
    ui.localVideo.hidden = false;
    ui.localVideo.play().catch(() => {});
  }
  salon.stagePublishing = true;
  await publish();
}

function playRemote() {
  const video = ui.remoteVideo;
  video.muted = !soundOn;
  for (const element of slotElements.values()) element.muted = !soundOn;
  video.play().catch(() => {
    // Sound without a click is blocked: play muted and let the person unmute.
    if (!video.muted) {
      soundOn = false;
      video.muted = true;
      renderSoundButton();
      video.play().catch(() => {});
    }
  });
}

function renderSoundButton() {
  // "Sound on/off" is the page's loudspeaker; "Mute"/"Unmute" are microphones (stage).
  ui.soundBtn.textContent = soundOn ? 'Sound off' : 'Sound on';
}

ui.soundBtn.addEventListener('click', () => {
  soundOn = !soundOn;
  renderSoundButton();
  playRemote();
});

ui.remoteVideo.addEventListener('resize', renderStage);
ui.remoteVideo.addEventListener('loadeddata', renderStage);

// ---------------------------------------------------------------- going live (pub)

function setLiveButton(mode) {
  const btn = ui.liveBtn;
  btn.dataset.mode = mode;
  btn.disabled = mode === 'busy';
  btn.setAttribute('aria-busy', String(mode === 'busy'));
  btn.textContent = mode === 'stop' ? 'Stop live' : mode === 'busy' ? 'Starting…' : 'Go live';
  btn.classList.toggle('danger', mode === 'stop');
}

function describeMediaError(err) {
  switch (err && err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'The browser did not allow the camera and microphone. Allow them for this site and press Go live again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone was found.';
    case 'NotReadableError':
      return 'The camera or microphone is in use by another application.';
    default:
      return `The camera and microphone could not be started: ${(err && err.message) || err}.`;
  }
}

async function goLive() {
  if (goingLive || !joined) return;
  goingLive = true;
  ui.notice.textContent = '';
  setLiveButton('busy');
  try {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw Object.assign(new Error('this page needs a secure (https) address'), { name: 'SecurityError' });
    }
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 480 },
    });
    if (!joined || finished) {
      stream.getTracks().forEach((t) => t.stop());
      setLiveButton('go');
      return;
    }
    localStream = stream;
    ui.localVideo.srcObject = stream;
    ui.localVideo.hidden = false;
    ui.localVideo.play().catch(() => {});
    setLiveButton('stop');
    renderStage();
    await publish();
  } catch (err) {
    console.error('[salon] go live failed', err);
    stopLocalMedia();
    setLiveButton('go');
    showNotice(describeMediaError(err), { sticky: true });
  } finally {
    goingLive = false;
  }
}

function publish() {
  closePeer('pub');
  const { pc, flush } = newPeer('pub');
  for (const track of [...localStream.getAudioTracks(), ...localStream.getVideoTracks()]) {
    pc.addTransceiver(track, { direction: 'sendonly', streams: [localStream] });
  }
  salon.pcs.pub = pc;
  refreshState();
  return negotiate('pub', pc, flush);
}

function stopLocalMedia() {
  if (localStream) localStream.getTracks().forEach((t) => t.stop());
  localStream = null;
  ui.localVideo.srcObject = null;
  ui.localVideo.hidden = true;
}

function stopLive() {
  send({ type: 'stop', pc: 'pub' });
  closePeer('pub');
  stopLocalMedia();
  setLiveButton('go');
  renderStage();
  refreshState();
}

function failLive(text) {
  closePeer('pub');
  stopLocalMedia();
  setLiveButton('go');
  renderStage();
  refreshState();
  showNotice(text, { sticky: true });
}

ui.liveBtn.addEventListener('click', () => {
  if (ui.liveBtn.dataset.mode === 'stop') stopLive();
  else goLive();
});

// ---------------------------------------------------------------- leaving

function leave() {
  if (finished) return;
  send({ type: 'leave' });
  showEnded('You left the room', 'You left the room. You can join again while your link is valid.',
    { canRejoin: true });
}

ui.leaveBtn.addEventListener('click', leave);
ui.rejoinBtn.addEventListener('click', () => window.location.reload());
window.addEventListener('pagehide', () => {
  if (!finished) send({ type: 'leave' });
  finished = true;
  closeAllPeers();
  stopLocalMedia();
});
// Back from the back/forward cache the socket and peers are gone: start afresh.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload();
});

// ---------------------------------------------------------------- rendering

function setLive(live, publisher) {
  salon.live = live;
  salon.publisher = live ? publisher : null;
  ui.liveBadge.dataset.live = String(live);
  ui.liveBadge.textContent = live ? 'Live' : 'Not live';
  renderStage();
}

function renderRoom() {
  const room = salon.room || {};
  const title = typeof room.title === 'string' && room.title ? room.title : (room.id || 'Salon room');
  ui.title.textContent = title;
  document.title = `${title} · Salon`;
  const tiers = Array.isArray(room.tiers) ? room.tiers.filter((t) => typeof t === 'string') : [];
  ui.tiers.textContent = tiers.length ? `Open to ${listWords(tiers)} members` : '';
}

function renderStage() {
  let text = '';
  if (isHost()) {
    if (!localStream) text = "You're not live. Press Go live to start your camera and microphone.";
  } else if (!salon.live) {
    text = 'The host is not live right now. The stream starts here as soon as they go live.';
  } else if (!ui.remoteVideo.videoWidth) {
    text = 'Starting the stream…';
  }
  ui.placeholder.textContent = text;
  ui.placeholder.hidden = !text;
}

const ROLE_RANK = { host: 0, cohost: 1, speaker: 2 };
const ROLE_LABEL = { host: 'Host', cohost: 'Co-host', speaker: 'Speaker', member: 'Member' };

function roleRank(p) {
  return ROLE_RANK[p.role] ?? 3;
}

function renderParticipants() {
  const you = salon.you;
  const people = [...participants.values()].sort((a, b) => (
    roleRank(a) - roleRank(b) || displayName(a).localeCompare(displayName(b))
  ));
  const items = people.map((p) => {
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset.role = ROLE_LABEL[p.role] ? p.role : 'member';
    const name = document.createElement('span');
    name.className = 'person-name';
    name.textContent = displayName(p);
    li.append(name);
    if (you && p.id === you.id) {
      const me = document.createElement('span');
      me.className = 'person-you';
      me.textContent = ' (you)';
      li.append(me);
    }
    const meta = document.createElement('span');
    meta.className = 'person-meta';
    const role = document.createElement('span');
    role.className = 'tag tag-role';
    role.textContent = ROLE_LABEL[p.role] || 'Member';
    meta.append(' ', role);
    if (typeof p.tier === 'string' && p.tier) {
      const tier = document.createElement('span');
      tier.className = `tag tag-tier tier-${p.tier.replace(/[^a-z]/g, '')}`;
      tier.textContent = capitalize(p.tier);
      meta.append(' ', tier);
    }
    li.append(meta);
    li.dataset.participant = p.id;
    // Stage and interaction modules add their own badges and actions here.
    callFeatures('decorateParticipant', li, p, featureApi);
    return li;
  });
  ui.peopleList.replaceChildren(...items);
  const n = people.length;
  ui.peopleCount.textContent = `${n} ${n === 1 ? 'person' : 'people'}`;
  salon.participants = people.map((p) => ({ ...p }));
}

// ---------------------------------------------------------------- start

function start() {
  if (!token) {
    refuse('This link has no access token. Ask the host for a new link.');
    return;
  }
  if (pathRoom !== null && !ROOM_ID.test(pathRoom)) {
    refuse('This address does not name a room. Check the link you were given.');
    return;
  }
  if (typeof RTCPeerConnection === 'undefined' || typeof WebSocket === 'undefined') {
    refuse('This browser cannot play live rooms. Please open the link in a current browser.');
    return;
  }
  renderSoundButton();
  connect();
}

start();
