// Salon stage: raise a hand, answer an invitation, speak, mute; the host's hand queue and
// moderation (invite, dismiss, move off stage, mute, co-host, remove, ban); who speaks now.
//
// A feature module (web/features.js): it draws a "Stage" panel at the top of the people
// list and adds badges and actions to each person. The server decides everything (see
// docs/protocol.md, "Stage"); this page only asks and shows. The microphone itself is
// room.js's business: it publishes when the role becomes speaker or co-host.
//
// Everything from the server or from people goes on the page with textContent.

import { registerFeature } from './features.js';

const ON_STAGE = new Set(['speaker', 'cohost']);
const MODERATORS = new Set(['host', 'cohost']);
const TIER_LABEL = { core: 'Core', active: 'Active', potential: 'Potential', silent: 'Silent' };

const state = {
  stage: { speakers: [], cohost: null, muted: [], cap: 6, cameras: false },
  self: { hand: false, invited: false, muted: false },
  invitedBy: null,
  hands: { queue: [], invited: [] },
  speaking: new Set(),
  levels: {},
  selfMuteAsked: false,
  updates: 0, // `speaking` messages received
};
// What tests may read.
window.salonStage = state;

let panel = null;
let api = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, onClick, className = '') {
  const b = el('button', className, label);
  b.type = 'button';
  b.addEventListener('click', onClick);
  return b;
}

function nameOf(p) {
  return (p && typeof p.name === 'string' && p.name.trim()) || (p && p.member_id) || 'Someone';
}

function me() {
  return api ? api.you() : null;
}

function myRole() {
  const you = me();
  return you ? you.role : null;
}

function act(type, participant, extra = {}) {
  const message = { type, ref: api.nextRef(type), ...extra };
  if (participant) message.participant = participant;
  api.send(message);
}

function isMuted(pid) {
  return state.stage.muted.includes(pid);
}

// ---------------------------------------------------------------- the stage panel

function ensurePanel() {
  if (panel && panel.isConnected) return panel;
  const people = document.getElementById('people');
  panel = el('section', 'stage-panel');
  panel.id = 'stage-panel';
  panel.setAttribute('aria-labelledby', 'stage-heading');
  people.prepend(panel);
  return panel;
}

function render() {
  if (!api) return;
  const root = ensurePanel();
  const heading = el('h2', '', 'Stage');
  heading.id = 'stage-heading';
  const parts = [heading, renderOnStage(), renderMine()];
  if (MODERATORS.has(myRole())) parts.push(renderQueue());
  root.replaceChildren(...parts.filter(Boolean));
  updateSpeaking();
}

function speakingIndicator(pid) {
  const dot = el('span', 'speaking-indicator', 'Speaking');
  dot.dataset.speakingFor = pid;
  dot.hidden = !state.speaking.has(pid);
  return dot;
}

function renderOnStage() {
  const list = el('ul', 'on-stage');
  list.setAttribute('aria-label', 'On stage');
  const people = api.participants();
  const onStage = [...people.values()].filter((p) => p.role === 'host' || ON_STAGE.has(p.role));
  for (const p of onStage) {
    const li = el('li', 'on-stage-person');
    li.dataset.participant = p.id;
    li.append(el('span', 'person-name', nameOf(p)));
    li.append(' ', el('span', 'tag tag-role', p.role === 'host' ? 'Host' : p.role === 'cohost' ? 'Co-host' : 'Speaker'));
    if (isMuted(p.id)) li.append(' ', el('span', 'tag tag-muted', 'Muted'));
    li.append(' ', speakingIndicator(p.id));
    list.append(li);
  }
  const count = onStage.filter((p) => ON_STAGE.has(p.role)).length;
  const wrap = el('div', 'on-stage-wrap');
  wrap.append(el('p', 'muted', `${count} of ${state.stage.cap} speakers`), list);
  return wrap;
}

// This person's own controls: hand, invitation, microphone, leaving the stage.
function renderMine() {
  const box = el('div', 'stage-mine');
  const role = myRole();
  if (role === 'member') {
    if (state.self.invited) {
      const who = state.invitedBy ? nameOf(state.invitedBy) : 'The host';
      const prompt = el('div', 'stage-invite');
      prompt.setAttribute('role', 'group');
      prompt.setAttribute('aria-label', 'Invitation to the stage');
      prompt.append(el('p', '', `${who} invites you to the stage.`));
      prompt.append(
        button('Accept', () => act('stage_reply', null, { accept: true }), 'primary'),
        ' ',
        button('Decline', () => act('stage_reply', null, { accept: false })),
      );
      box.append(prompt);
    }
    box.append(state.self.hand
      ? button('Lower hand', () => act('hand_lower'))
      : button('Raise hand', () => act('hand_raise'), 'primary'));
    if (state.self.hand) box.append(' ', el('span', 'muted', 'Your hand is raised.'));
  }
  const you = me();
  const publishing = ON_STAGE.has(role) || (role === 'host' && api.micLive());
  if (you && publishing) {
    const muted = isMuted(you.id);
    box.append(el('p', 'mic-state', muted ? 'Your microphone is muted.' : 'Your microphone is on.'));
    box.append(muted
      ? button('Unmute', () => { api.setMicEnabled(true); act('unmute', you.id); }, 'primary')
      : button('Mute', () => { state.selfMuteAsked = true; api.setMicEnabled(false); act('mute', you.id); }));
  }
  if (ON_STAGE.has(role)) box.append(' ', button('Leave stage', () => act('stage_leave'), 'secondary'));
  return box;
}

function renderQueue() {
  const wrap = el('div', 'hand-queue');
  const heading = el('h3', '', 'Raised hands');
  heading.id = 'hands-heading';
  const list = el('ol', 'hands');
  list.setAttribute('aria-labelledby', 'hands-heading');
  for (const entry of state.hands.queue) {
    const p = entry.participant || {};
    const li = el('li', 'hand');
    li.dataset.participant = p.id;
    li.append(el('span', 'person-name', nameOf(p)));
    if (typeof p.tier === 'string' && TIER_LABEL[p.tier]) {
      li.append(' ', el('span', `tag tag-tier tier-${p.tier}`, TIER_LABEL[p.tier]));
    }
    const score = typeof entry.score === 'number' ? `Score ${entry.score}` : 'Score unknown';
    li.append(' ', el('span', 'tag tag-score', score));
    if (state.hands.invited.includes(p.id)) li.append(' ', el('span', 'tag', 'Invited'));
    const actions = el('span', 'hand-actions');
    actions.append(
      button('Invite to stage', () => act('stage_invite', p.id), 'primary'),
      ' ',
      button('Dismiss', () => act('hand_dismiss', p.id)),
    );
    li.append(' ', actions);
    list.append(li);
  }
  if (!state.hands.queue.length) list.append(el('li', 'muted', 'No raised hands.'));
  wrap.append(heading, list);
  return wrap;
}

// ---------------------------------------------------------------- people list

function decorate(li, p) {
  const meta = li.querySelector('.person-meta') || li;
  if (isMuted(p.id)) meta.append(' ', el('span', 'tag tag-muted', 'Muted'));
  if (p.role === 'host' || ON_STAGE.has(p.role)) meta.append(' ', speakingIndicator(p.id));
  const you = me();
  const role = myRole();
  if (!you || p.id === you.id || !MODERATORS.has(role) || p.role === 'host') return;
  const actions = el('span', 'person-actions');
  const add = (label, onClick, className) => actions.append(button(label, onClick, className), ' ');
  if (p.role === 'member') {
    if (!state.hands.invited.includes(p.id)) add('Invite to stage', () => act('stage_invite', p.id));
  } else if (ON_STAGE.has(p.role)) {
    if (isMuted(p.id)) add('Ask to unmute', () => act('ask_unmute', p.id));
    else add('Mute', () => act('mute', p.id));
    add('Move off stage', () => act('stage_move_off', p.id));
  }
  if (role === 'host' && !state.stage.cohost && p.role !== 'cohost') {
    add('Make co-host', () => act('make_cohost', p.id));
  }
  add('Remove', () => act('remove', p.id, { ban: false }), 'secondary');
  add('Ban', () => act('remove', p.id, { ban: true }), 'danger');
  li.append(actions);
}

// ---------------------------------------------------------------- speaking

function updateSpeaking() {
  for (const node of document.querySelectorAll('[data-speaking-for]')) {
    const on = state.speaking.has(node.dataset.speakingFor);
    node.hidden = !on;
    const holder = node.closest('li');
    if (holder) holder.classList.toggle('is-speaking', on);
  }
}

// ---------------------------------------------------------------- messages

function onStage(message) {
  const before = me() ? isMuted(me().id) : false;
  state.stage = {
    speakers: Array.isArray(message.speakers) ? message.speakers : [],
    cohost: typeof message.cohost === 'string' ? message.cohost : null,
    muted: Array.isArray(message.muted) ? message.muted : [],
    cap: Number.isInteger(message.cap) ? message.cap : 6,
    cameras: Boolean(message.cameras),
  };
  const you = me();
  const after = you ? isMuted(you.id) : false;
  if (after && !before && !state.selfMuteAsked) api.notice('Your microphone was muted by the host.');
  if (!after) state.selfMuteAsked = false;
}

const handlers = {
  stage(message) { onStage(message); },
  hands(message) {
    state.hands = {
      queue: Array.isArray(message.queue) ? message.queue : [],
      invited: Array.isArray(message.invited) ? message.invited : [],
    };
  },
  stage_self(message) {
    const wasInvited = state.self.invited;
    state.self = {
      hand: Boolean(message.hand),
      invited: Boolean(message.invited),
      muted: Boolean(message.muted),
    };
    if (message.by && typeof message.by === 'object') state.invitedBy = message.by;
    if (!state.self.invited) state.invitedBy = null;
    if (wasInvited && !state.self.invited && myRole() === 'member') {
      api.notice('The invitation to the stage was withdrawn or answered.');
    }
  },
  unmute_request(message) {
    api.notice(`${nameOf(message.by)} asks you to unmute your microphone.`);
  },
  speaking(message) {
    state.updates += 1;
    state.speaking = new Set(Array.isArray(message.speaking) ? message.speaking : []);
    state.levels = message.levels && typeof message.levels === 'object' ? message.levels : {};
    updateSpeaking();
    return 'quiet';
  },
  role() {},
  tracks() {},
  stream() {},
};

registerFeature({
  onJoined(message, featureApi) {
    api = featureApi;
    if (message.stage) onStage(message.stage);
    if (message.stage_self) handlers.stage_self(message.stage_self);
    state.hands = message.hands || { queue: [], invited: [] };
    state.speaking = new Set();
    render();
    api.renderParticipants();
  },
  onMessage(message, featureApi) {
    api = featureApi;
    const handler = handlers[message.type];
    if (!handler) return false;
    // Levels arrive four times a second: only the indicators change, not the lists.
    if (handler(message) === 'quiet') return true;
    render();
    api.renderParticipants();
    return true;
  },
  onPresence(message, featureApi) {
    api = featureApi;
    render();
  },
  decorateParticipant(li, p, featureApi) {
    api = featureApi;
    decorate(li, p);
  },
  onLeft() {
    state.speaking = new Set();
    if (panel) panel.replaceChildren();
  },
});
