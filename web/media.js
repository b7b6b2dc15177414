// Media for the room page: the `sub` and `pub` peer connections, publishing on stage
// (speakers), going live (the host), and the page's loudspeaker. The stage slots' own
// transceivers and elements on `sub` are slots.js's.
//
// The `sub` connection carries the host's audio and video (its first two m-lines) and
// one m-line per stage slot (`tracks` from the server: who speaks in each slot). When
// the slots change the page adds recvonly transceivers as needed and offers again on the
// same connection; the server's answer marks empty slots inactive, which Chromium shows
// by muting that receiver's track (it does not end it), so the page drops the slot's
// element. Speakers publish their microphone (and camera when the room allows it) on
// `pub` when their role becomes speaker or co-host, and stop when it no longer is.
//
// room.js owns the socket and calls in here; `page` gives what this needs of it: ui,
// salon, send, nextRef, showNotice, participants (Map), iceServers(), joined(),
// active() (joined and not finished), isHost(), refreshState(), renderStage().

import { t } from './i18n.js';
import { createStageSlots, normalTracks } from './slots.js';

const ON_STAGE = new Set(['speaker', 'cohost']);

export function createMedia(page) {
  const { ui, salon, send, nextRef, showNotice } = page;
  const pendingOffers = { sub: null, pub: null }; // ref of the offer awaiting its answer
  let localStream = null; // host's camera and microphone while live, or a speaker's
  let goingLive = false;
  const slots = createStageSlots(ui.slots, salon, page.participants);
  let subBusy = false; // a `sub` offer is out, waiting for its answer
  let subDirty = false; // the slots changed meanwhile: offer again after the answer
  let stagePublishing = false;
  let soundOn = false;
  let subRetryTimer = 0;

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
      slots.render(soundOn);
      if (subDirty) renegotiateSub();
    }).catch((err) => {
      console.error('[salon] bad answer', name, err);
      if (name === 'sub') subBusy = false;
      showNotice(t('media.bad_answer'));
    });
  }

  // ---------------------------------------------------------------- peer connections

  function newPeer(name) {
    const pc = new RTCPeerConnection({ iceServers: page.iceServers() });
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
      page.refreshState();
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
      subRetryTimer = setTimeout(() => { if (page.active()) startSub(); }, 2000);
    } else if (stagePublishing) {
      // A speaker's microphone: publish again on a fresh connection.
      stagePublishing = false;
      closePeer('pub');
      stopLocalMedia();
      setTimeout(syncStagePublishing, 1000);
    } else if (localStream && page.active()) {
      // The host's outgoing media failed (a network change): publish again, no click.
      closePeer('pub');
      setTimeout(() => { if (page.active()) resumeLive(true); }, 1000);
    } else {
      failLive(t('media.lost'));
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
    if (!page.isHost()) ui.remoteVideo.hidden = false;
    slots.ensure(pc, soundOn);
    subBusy = true;
    subDirty = false;
    negotiate('sub', pc, flush).catch((err) => {
      subBusy = false;
      console.error('[salon] sub offer failed', err);
      showNotice(t('media.unsupported'));
    });
  }

  // ---------------------------------------------------------------- stage slots (sub)

  function setTracks(message) {
    salon.tracks = normalTracks(message);
    renegotiateSub();
    slots.render(soundOn);
  }

  function renegotiateSub() {
    const pc = salon.pcs.sub;
    if (!pc || !page.active()) return;
    if (subBusy || pc.signalingState !== 'stable') {
      subDirty = true;
      return;
    }
    subBusy = true;
    subDirty = false;
    slots.ensure(pc, soundOn);
    negotiate('sub', pc, () => {}).catch((err) => {
      subBusy = false;
      console.error('[salon] sub renegotiation failed', err);
    });
  }

  function clearSlots() {
    slots.clear();
    subBusy = false;
    subDirty = false;
  }

  // ---------------------------------------------------------------- on stage (pub)

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
    if (onStage && !stagePublishing && page.active()) {
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
      page.refreshState();
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
    if (!stagePublishing || !page.active()) {
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
    slots.setSound(soundOn);
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
    ui.soundBtn.textContent = soundOn ? t('media.sound_off') : t('media.sound_on');
  }

  ui.soundBtn.addEventListener('click', () => {
    soundOn = !soundOn;
    renderSoundButton();
    playRemote();
  });

  ui.remoteVideo.addEventListener('resize', page.renderStage);
  ui.remoteVideo.addEventListener('loadeddata', page.renderStage);

  // ---------------------------------------------------------------- going live (pub)

  function setLiveButton(mode) {
    const btn = ui.liveBtn;
    btn.dataset.mode = mode;
    btn.disabled = mode === 'busy';
    btn.setAttribute('aria-busy', String(mode === 'busy'));
    btn.textContent = mode === 'stop' ? t('media.stop_live') : mode === 'busy' ? t('media.starting') : t('room.go_live');
    btn.classList.toggle('danger', mode === 'stop');
  }

  function describeMediaError(err) {
    switch (err && err.name) {
      case 'NotAllowedError':
      case 'SecurityError':
        return t('media.not_allowed');
      case 'NotFoundError':
      case 'OverconstrainedError':
        return t('media.not_found');
      case 'NotReadableError':
        return t('media.in_use');
      default:
        return t('media.failed', { detail: (err && err.message) || String(err) });
    }
  }

  async function goLive() {
    if (goingLive || !page.joined()) return;
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
      if (!page.active()) {
        stream.getTracks().forEach((t) => t.stop());
        setLiveButton('go');
        return;
      }
      localStream = stream;
      ui.localVideo.srcObject = stream;
      ui.localVideo.hidden = false;
      ui.localVideo.play().catch(() => {});
      setLiveButton('stop');
      page.renderStage();
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
    page.refreshState();
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
    page.renderStage();
    page.refreshState();
  }

  function failLive(text) {
    closePeer('pub');
    stopLocalMedia();
    setLiveButton('go');
    page.renderStage();
    page.refreshState();
    showNotice(text, { sticky: true });
  }

  ui.liveBtn.addEventListener('click', () => {
    if (ui.liveBtn.dataset.mode === 'stop') stopLive();
    else goLive();
  });

  // Back in the room (joined again): a host whose camera is still on publishes again; one
  // who was live before a reload (`wasLive`, from the server's `resumed`) goes live again.
  function resumeLive(wasLive) {
    if (localStream && localStream.getTracks().some((t) => t.readyState === 'live')) {
      setLiveButton('stop');
      publish().catch((err) => failLive(t('media.restart_failed', { detail: err.message || String(err) })));
    } else if (wasLive) {
      goLive();
    } else {
      setLiveButton('go');
    }
  }

  // An error answering one of our offers; true when it is dealt with (nothing to show).
  function onOfferError(ref, text) {
    if (ref && ref === pendingOffers.pub) {
      pendingOffers.pub = null;
      failLive(text);
      return true;
    }
    if (ref && ref === pendingOffers.sub) {
      // The server closed `sub` when the offer failed: start a fresh one.
      pendingOffers.sub = null;
      subBusy = false;
      if (page.active()) startSub();
    }
    return false;
  }

  function micLive() {
    return Boolean(localStream && localStream.getAudioTracks().length);
  }

  function hasLocalMedia() {
    return localStream !== null;
  }

  return {
    onAnswer,
    onOfferError,
    startSub,
    closeAllPeers,
    stopLocalMedia,
    normalTracks,
    setTracks,
    renderSlots: () => slots.render(soundOn),
    onStageState,
    setMicEnabled,
    syncStagePublishing,
    renderSoundButton,
    resumeLive,
    micLive,
    hasLocalMedia,
  };
}
