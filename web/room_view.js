// The room page's elements, and the parts of the page drawn from plain values: the
// connection status line, the room's title and tiers, the live badge, the stage
// placeholder and the sentence of an error. room.js decides what to show; this draws it,
// as text, never as HTML, in the page's language (i18n.js).

import {
  formatList, formatNumber, has, t, tierName,
} from './i18n.js';

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
  endedNext: $('ended-next'),
  endedLink: $('ended-link'),
  rejoinBtn: $('rejoin-btn'),
  stage: $('stage'),
  remoteVideo: $('remote-video'),
  localVideo: $('local-video'),
  placeholder: $('stage-placeholder'),
  liveBtn: $('live-btn'),
  soundBtn: $('sound-btn'),
  leaveBtn: $('leave-btn'),
  people: $('people'),
  peopleBtn: $('people-btn'),
  slots: $('slots'),
  peopleCount: $('people-count'),
  peopleList: $('people-list'),
  langSlot: $('lang-slot'),
  dock: $('dock'),
};

export function showStatus(state) {
  ui.status.textContent = has(`status.${state}`) ? t(`status.${state}`) : state;
  ui.status.dataset.state = state;
}

function tierList(tiers) {
  return formatList(tiers.map(tierName));
}

export function renderRoomHeader(room) {
  const title = typeof room.title === 'string' && room.title ? room.title : (room.id || t('room.untitled'));
  ui.title.textContent = title;
  document.title = `${title} · Salon`;
  const tiers = Array.isArray(room.tiers) ? room.tiers.filter((x) => typeof x === 'string') : [];
  ui.tiers.textContent = tiers.length ? t('room.open_to', { tiers: tierList(tiers) }) : '';
}

export function renderLiveBadge(live) {
  ui.liveBadge.dataset.live = String(live);
  ui.liveBadge.textContent = live ? t('room.live') : t('room.not_live');
}

// What stands in for the video: why there is nothing to see yet, if there is not.
export function renderStagePlaceholder({ host, hasLocalMedia, live }) {
  let text = '';
  if (host) {
    if (!hasLocalMedia) text = t('room.host_not_live');
  } else if (!live) {
    text = t('room.waiting_for_host');
  } else if (!ui.remoteVideo.videoWidth) {
    text = t('room.starting');
  }
  ui.placeholder.textContent = text;
  ui.placeholder.hidden = !text;
}

// Parameters as the catalog's sentences want them: tiers by their names, lists joined,
// numbers formatted.
function readableParams(params) {
  const out = {};
  for (const [key, value] of Object.entries(params || {})) {
    if ((key === 'allowed' || key === 'tiers') && Array.isArray(value)) {
      out[key] = tierList(value.map(String));
    } else if (key === 'tier' && typeof value === 'string') out.tier = tierName(value);
    else if (typeof value === 'number') out[key] = formatNumber(value);
    else if (typeof value === 'string') out[key] = value;
  }
  return out;
}

// The sentence for an `error` from the server, from its stable code and params in the
// page's language: `error.CODE.CASE` when the error names a case the catalog has, else
// `error.CODE`; a code no catalog knows reads the generic sentence, never the server's
// English or the bare code. `local` errors are the page's own, already in its language.
export function errorText(error) {
  const code = error && typeof error.code === 'string' ? error.code : '';
  const params = error && error.params && typeof error.params === 'object' ? error.params : {};
  if (code === 'local' && typeof error.message === 'string') return error.message;
  const shown = readableParams(params);
  if (code && typeof params.case === 'string' && has(`error.${code}.${params.case}`)) {
    return t(`error.${code}.${params.case}`, shown);
  }
  if (code && has(`error.${code}`)) return t(`error.${code}`, shown);
  return t('error.generic');
}
