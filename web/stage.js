// Salon stage: raise a hand, answer an invitation, speak, mute; the host's hand queue and
// moderation (invite, dismiss, move off stage, mute, co-host, remove, ban); who speaks now.
//
// A feature module (web/features.js): it draws a "Stage" panel at the top of the people
// list, a member's own controls (hand, invitation, microphone) in the bottom bar, and a
// per-person menu of moderation actions for hosts and co-hosts (Remove and Ban ask
// first). The server decides everything (see docs/protocol.md, "Stage"); this page only
// asks and shows. The microphone itself is room.js's business: it publishes when the
// role becomes speaker or co-host.
//
// Everything from the server or from people goes on the page with textContent.

import { confirmAction } from './confirm.js';
import { button, el } from './dom.js';
import { MODERATORS, registerFeature } from './features.js';
import { roleName, t, tierName } from './i18n.js';

const ON_STAGE = new Set(['speaker', 'cohost']);
const TIERS = new Set(['core', 'active', 'potential', 'silent']);

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

function nameOf(p) {
  return (p && typeof p.name === 'string' && p.name.trim()) || (p && p.member_id) || t('common.someone');
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

// Members see the stage at the top of the people list; the host console gives it a
// panel of its own next to the video, with the people list under a tab.
function ensurePanel() {
  const console = document.getElementById('stage-console');
  const host = myRole() === 'host' && console;
  const parent = host ? console : document.getElementById('people');
  if (panel && panel.isConnected && panel.parentElement === parent) return panel;
  if (panel) panel.remove();
  panel = el('section', 'stage-panel');
  panel.id = 'stage-panel';
  panel.setAttribute('aria-labelledby', 'stage-heading');
  parent.prepend(panel);
  if (console) console.hidden = !host;
  return panel;
}

function render() {
  if (!api) return;
  const root = ensurePanel();
  const heading = el('h2', '', t('stage.heading'));
  heading.id = 'stage-heading';
  const parts = [heading, renderOnStage()];
  // The host's own microphone controls sit in the console's stage panel; everyone
  // else's in the bottom bar, within thumb's reach.
  const mine = renderMine();
  const dock = document.getElementById('dock-stage');
  if (myRole() === 'host' || !dock) {
    parts.push(mine);
    if (dock) dock.replaceChildren();
  } else {
    dock.replaceChildren(mine);
  }
  if (MODERATORS.has(myRole())) parts.push(renderQueue());
  root.replaceChildren(...parts.filter(Boolean));
  updateSpeaking();
}

function speakingIndicator(pid) {
  const dot = el('span', 'speaking-indicator', t('stage.speaking'));
  dot.dataset.speakingFor = pid;
  dot.hidden = !state.speaking.has(pid);
  return dot;
}

function renderOnStage() {
  const list = el('ul', 'on-stage');
  list.setAttribute('aria-label', t('stage.on_stage'));
  const people = api.participants();
  const onStage = [...people.values()].filter((p) => p.role === 'host' || ON_STAGE.has(p.role));
  for (const p of onStage) {
    const li = el('li', 'on-stage-person');
    li.dataset.participant = p.id;
    li.append(el('span', 'person-name', nameOf(p)));
    li.append(' ', el('span', 'tag tag-role', roleName(p.role)));
    if (isMuted(p.id)) li.append(' ', el('span', 'tag tag-muted', t('stage.muted')));
    li.append(' ', speakingIndicator(p.id));
    list.append(li);
  }
  const count = onStage.filter((p) => ON_STAGE.has(p.role)).length;
  const wrap = el('div', 'on-stage-wrap');
  wrap.append(el('p', 'muted', t('stage.speakers', { count, cap: state.stage.cap })), list);
  return wrap;
}

// This person's own controls: hand, invitation, microphone, leaving the stage.
function renderMine() {
  const box = el('div', 'stage-mine');
  const role = myRole();
  if (role === 'member') {
    if (state.self.invited) {
      const prompt = el('div', 'stage-invite');
      prompt.setAttribute('role', 'group');
      prompt.setAttribute('aria-label', t('stage.invitation'));
      prompt.append(el('p', '', state.invitedBy
        ? t('stage.invites_you', { name: nameOf(state.invitedBy) }) : t('stage.host_invites_you')));
      prompt.append(
        button(t('stage.accept'), () => act('stage_reply', null, { accept: true }), { className: 'primary' }),
        ' ',
        button(t('stage.decline'), () => act('stage_reply', null, { accept: false })),
      );
      box.append(prompt);
    }
    const hand = state.self.hand
      ? button(`✋ ${t('stage.lower_hand')}`, () => act('hand_lower'), { className: 'hand-btn is-raised' })
      : button(`✋ ${t('stage.raise_hand')}`, () => act('hand_raise'), { className: 'hand-btn' });
    hand.setAttribute('aria-label', state.self.hand ? t('stage.lower_hand') : t('stage.raise_hand'));
    box.append(hand);
  }
  const you = me();
  const publishing = ON_STAGE.has(role) || (role === 'host' && api.micLive());
  if (you && publishing) {
    const muted = isMuted(you.id);
    box.append(el('p', 'mic-state', muted ? t('stage.mic_muted') : t('stage.mic_on')));
    box.append(muted
      ? button(t('stage.unmute'), () => { api.setMicEnabled(true); act('unmute', you.id); }, { className: 'primary' })
      : button(t('stage.mute'), () => { state.selfMuteAsked = true; api.setMicEnabled(false); act('mute', you.id); }));
  }
  if (ON_STAGE.has(role)) box.append(' ', button(t('stage.leave'), () => act('stage_leave'), { className: 'secondary' }));
  return box;
}

function renderQueue() {
  const wrap = el('div', 'hand-queue');
  const heading = el('h3', '', t('stage.hands'));
  heading.id = 'hands-heading';
  const list = el('ol', 'hands');
  list.setAttribute('aria-labelledby', 'hands-heading');
  for (const entry of state.hands.queue) {
    const p = entry.participant || {};
    const li = el('li', 'hand');
    li.dataset.participant = p.id;
    li.append(el('span', 'person-name', nameOf(p)));
    if (typeof p.tier === 'string' && TIERS.has(p.tier)) {
      li.append(' ', el('span', `tag tag-tier tier-${p.tier}`, tierName(p.tier)));
    }
    if (typeof entry.score === 'number') {
      li.append(' ', el('span', 'tag tag-score', t('stage.score', { score: entry.score })));
    }
    if (state.hands.invited.includes(p.id)) li.append(' ', el('span', 'tag', t('stage.invited')));
    const actions = el('span', 'hand-actions');
    actions.append(
      button(t('stage.invite'), () => act('stage_invite', p.id), { className: 'primary' }),
      ' ',
      button(t('stage.dismiss'), () => act('hand_dismiss', p.id)),
    );
    li.append(' ', actions);
    list.append(li);
  }
  if (!state.hands.queue.length) list.append(el('li', 'muted', t('stage.no_hands')));
  wrap.append(heading, list);
  return wrap;
}

// ---------------------------------------------------------------- people list

// The per-person menu of a host or co-host: one "⋯" button per person, its actions in a
// menu (role=menu); Remove and Ban ask first.
let openMenuFor = null; // participant id whose menu is open (kept across redraws)

function closeMenus() {
  openMenuFor = null;
  for (const menu of document.querySelectorAll('.person-menu')) menu.hidden = true;
  for (const b of document.querySelectorAll('.person-menu-btn')) b.setAttribute('aria-expanded', 'false');
}

document.addEventListener('click', (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (target && !target.closest('.person-actions')) closeMenus();
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && openMenuFor) closeMenus();
});

function decorate(li, p) {
  const meta = li.querySelector('.person-meta') || li;
  if (isMuted(p.id)) meta.append(' ', el('span', 'tag tag-muted', t('stage.muted')));
  if (p.role === 'host' || ON_STAGE.has(p.role)) meta.append(' ', speakingIndicator(p.id));
  const you = me();
  const role = myRole();
  if (!you || p.id === you.id || !MODERATORS.has(role) || p.role === 'host') return;
  const name = nameOf(p);
  const menu = el('div', 'person-menu');
  menu.setAttribute('role', 'menu');
  menu.setAttribute('aria-label', t('stage.menu_for', { name }));
  const add = (label, onClick, className = '') => {
    const item = button(label, () => { closeMenus(); onClick(); }, { className: `menu-item ${className}` });
    item.setAttribute('role', 'menuitem');
    menu.append(item);
  };
  if (p.role === 'member') {
    if (!state.hands.invited.includes(p.id)) add(t('stage.invite'), () => act('stage_invite', p.id));
  } else if (ON_STAGE.has(p.role)) {
    if (isMuted(p.id)) add(t('stage.ask_unmute'), () => act('ask_unmute', p.id));
    else add(t('stage.mute'), () => act('mute', p.id));
    add(t('stage.move_off'), () => act('stage_move_off', p.id));
  }
  if (role === 'host' && !state.stage.cohost && p.role !== 'cohost') {
    add(t('stage.make_cohost'), () => act('make_cohost', p.id));
  }
  add(t('stage.remove'), async () => {
    if (await confirmAction(t('stage.remove_confirm', { name }), t('stage.remove'))) {
      act('remove', p.id, { ban: false });
    }
  });
  add(t('stage.ban'), async () => {
    if (await confirmAction(t('stage.ban_confirm', { name }), t('stage.ban'))) {
      act('remove', p.id, { ban: true });
    }
  }, 'menu-danger');
  const toggle = button('⋯', () => {
    const opening = menu.hidden;
    closeMenus();
    if (opening) {
      openMenuFor = p.id;
      menu.hidden = false;
      toggle.setAttribute('aria-expanded', 'true');
      const first = menu.querySelector('[role="menuitem"]');
      if (first) first.focus();
    }
  }, { className: 'person-menu-btn' });
  toggle.setAttribute('aria-label', t('stage.actions_for', { name }));
  toggle.setAttribute('aria-haspopup', 'menu');
  const open = openMenuFor === p.id;
  toggle.setAttribute('aria-expanded', String(open));
  menu.hidden = !open;
  const actions = el('span', 'person-actions');
  actions.append(toggle, menu);
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
  if (after && !before && !state.selfMuteAsked) api.notice(t('stage.muted_by_host'));
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
      api.notice(t('stage.invitation_gone'));
    }
  },
  unmute_request(message) {
    api.notice(t('stage.asks_unmute', { name: nameOf(message.by) }));
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
