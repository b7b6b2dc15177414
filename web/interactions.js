// Salon interactions: chat, reactions, Q&A with upvotes, polls and the pinned product.
//
// A feature module (web/features.js). It fills the "interactions" section of the room
// page: the product card and polls (product.js and polls.js draw those), the question
// list, reactions and the chat. Hosts
// and co-hosts also get the moderation controls (delete a chat line; pin, answer and
// dismiss questions; create and close polls; pin a product) and the activity (the
// session's figures, shop activity and tier changes): a tab of the host console, a sheet
// from the bottom bar on a co-host's page.
// The server decides everything (docs/protocol.md, "Interactions"); this page asks and
// shows.
//
// Everything from the server or from people goes on the page with textContent, never
// as HTML; links and images come only from http(s) addresses the server has checked.

import { button, el, textForm } from './dom.js';
import { MODERATORS, registerFeature } from './features.js';
import { t } from './i18n.js';
import { putPoll, renderPolls } from './polls.js';
import { renderProduct, renderShop } from './product.js';
import { buildTabs, currentSheet, dockButton, onSheet, openSheet, sheetHead } from './sheets.js';
import { renderStrip } from './strip.js';

const EMOJI = { heart: '❤️', clap: '👏', fire: '🔥', laugh: '😂', wow: '😮', party: '🎉' };
const CHAT_KEEP = 200; // chat lines kept on the page
const FLOATERS_MAX = 12; // emoji drawn per reaction update, whatever the counts

const state = {
  joined: false,
  session: null,
  limits: { chat_max_length: 500, question_max_length: 300 },
  reactions: Object.keys(EMOJI),
  chat: [], // messages, oldest first
  questions: new Map(), // id -> question
  voted: new Set(), // question ids this member upvoted
  polls: new Map(), // id -> poll (insertion order: oldest first)
  myVotes: new Map(), // poll id -> option index
  picked: new Map(), // poll id -> option picked but not sent yet
  product: null,
  productStats: null,
  purchases: [], // shown to moderators, newest first
  summary: null, // the session's figures so far (moderators): see strip.js
  productTotals: {}, // product id -> its latest stats this session (moderators)
  productHidden: false, // a member closed the product card
  unseenPoll: false, // a poll opened while the poll sheet was closed
  reactionTotals: {}, // what this page has seen since it joined, per emoji
  reactionUpdates: 0,
};
// What tests (and curious people in the console) may read.
window.salonInteractions = state;

let api = null;
let root = null;
const ui = {};

// ---------------------------------------------------------------- small helpers

// What polls.js and product.js get: this feature's state and a few of its helpers.
const ix = {
  state,
  ui,
  send: (type, fields) => send(type, fields),
  isModerator: () => isModerator(),
  notice: (text) => api.notice(text),
  participants: () => (api ? api.participants() : new Map()),
  refresh: () => renderDock(),
};

function send(type, fields = {}) {
  if (!api) return false;
  return api.send({ type, ref: api.nextRef(type), ...fields });
}

function isModerator() {
  const you = api && api.you();
  return Boolean(you && MODERATORS.has(you.role));
}

function myMemberId() {
  const you = api && api.you();
  return you ? you.member_id : null;
}

function nameOf(author) {
  return (author && typeof author.name === 'string' && author.name.trim())
    || (author && author.member_id) || t('common.someone');
}

// ---------------------------------------------------------------- layout

// Every panel is a child of #interactions (display: contents): layout.css places each one,
// per viewport and role. Members open Q&A and polls as sheets from the bottom bar (#dock);
// the host console shows them, the product and the shop activity under tabs.
function card(name, className, labelledBy) {
  const node = el('section', `ix-card ${className}`);
  node.id = `ix-${name}`;
  node.setAttribute('aria-labelledby', labelledBy);
  return node;
}

function build() {
  root = document.getElementById('interactions');
  if (!root) return;
  ui.product = card('product', 'ix-product', 'ix-product-heading');
  ui.polls = card('polls', 'ix-polls sheet', 'ix-polls-heading');
  ui.polls.dataset.sheetName = 'poll';
  ui.qa = card('qa', 'ix-qa sheet', 'ix-qa-heading');
  ui.qa.dataset.sheetName = 'qa';
  ui.shop = card('shop', 'ix-shop sheet', 'ix-shop-heading');
  ui.shop.dataset.sheetName = 'activity';
  // A co-host's sheet: its own heading and the figures the host has in the live strip.
  const activityHeading = el('h2', '', t('tab.activity'));
  activityHeading.id = 'ix-activity-heading';
  ui.shopHead = sheetHead(activityHeading);
  ui.shopFigures = el('section', 'ix-shop-figures');
  ui.shopFigures.setAttribute('aria-label', t('strip.label'));
  ui.shopBody = el('div', 'ix-shop-body');
  ui.shop.append(ui.shopHead, ui.shopFigures, ui.shopBody);
  ui.chat = card('chat', 'ix-chat', 'ix-chat-heading');
  // Reactions float over the video.
  ui.floaters = el('div', 'ix-floaters');
  ui.floaters.setAttribute('aria-hidden', 'true');
  const frame = document.querySelector('.video-frame');
  if (frame) frame.append(ui.floaters);
  root.replaceChildren(ui.chat, ui.product, ui.polls, ui.qa, ui.shop);
  buildChat();
  buildQa();
  buildDock();
  onSheet((name) => {
    if (name === 'poll') state.unseenPoll = false;
    renderDock();
  });
}

// ---------------------------------------------------------------- the bottom bar

function buildDock() {
  const dock = document.getElementById('dock');
  if (!dock) return;
  ui.reactions = el('div', 'ix-reaction-bar');
  ui.reactions.setAttribute('role', 'group');
  ui.reactions.setAttribute('aria-label', t('reactions.label'));
  ui.reactionTally = el('p', 'ix-reaction-tally muted');
  ui.reactionTally.setAttribute('aria-live', 'off');
  ui.dockButtons = el('div', 'dock-buttons');
  ui.qaBtn = dockButton('qa', '❓', t('dock.qa'));
  ui.pollBtn = dockButton('poll', '📊', t('dock.poll'));
  ui.productBtn = button('🛍️', () => {
    state.productHidden = !state.productHidden;
    renderProduct(ix);
    renderDock();
  }, { className: 'dock-btn', aria: t('dock.product') });
  ui.productBtn.append(el('span', 'dock-btn-label', t('dock.product_short')));
  ui.activityBtn = dockButton('activity', '📋', t('dock.activity'));
  ui.activityBtn.hidden = true;
  ui.dockButtons.append(ui.productBtn, ui.qaBtn, ui.pollBtn, ui.activityBtn);
  const row = el('div', 'dock-row');
  const stageSlot = document.getElementById('dock-stage');
  if (stageSlot) row.append(stageSlot);
  row.append(ui.dockButtons);
  dock.replaceChildren(ui.reactions, ui.chatForm, row, ui.reactionTally);
  buildReactions();
}

function renderDock() {
  if (!ui.productBtn) return;
  ui.productBtn.hidden = !state.product || isModerator();
  // Co-hosts read the activity from the bar; the host has the console's tab.
  const activity = isModerator() && !(api && api.isHost());
  ui.activityBtn.hidden = !activity;
  if (!activity && currentSheet() === 'activity') openSheet(null);
  ui.productBtn.setAttribute('aria-pressed', String(Boolean(state.product) && !state.productHidden));
  ui.pollBtn.classList.toggle('has-news', state.unseenPoll);
  ui.pollBtn.setAttribute('aria-label', state.unseenPoll ? t('dock.poll_new') : t('dock.poll'));
  const open = [...state.questions.values()].filter((q) => q.state === 'open').length;
  ui.qaBtn.setAttribute('aria-label', open ? t('dock.qa_count', { count: open }) : t('dock.qa'));
}

// The host console: a tab per panel of the second column.
function buildConsole() {
  const tabs = document.getElementById('console-tabs');
  if (!tabs || tabs.childElementCount) return;
  tabs.setAttribute('aria-label', t('console.tabs'));
  buildTabs(tabs, [
    ['qa', t('tab.qa'), 'ix-qa'],
    ['polls', t('tab.polls'), 'ix-polls'],
    ['products', t('tab.products'), 'ix-product'],
    ['people', t('tab.people'), 'people'],
    ['activity', t('tab.activity'), 'ix-shop'],
    ['rewards', t('tab.rewards'), 'rewards'],
  ]);
}

// ---------------------------------------------------------------- chat

function buildChat() {
  const heading = el('h2', '', t('chat.heading'));
  heading.id = 'ix-chat-heading';
  ui.chatLog = el('ol', 'ix-chat-log');
  ui.chatLog.setAttribute('role', 'log');
  ui.chatLog.setAttribute('aria-label', t('chat.log'));
  const { form, input } = textForm('ix-form ix-chat-form',
    { label: t('chat.input'), placeholder: t('chat.placeholder'), submitText: t('chat.send') },
    (text) => send('chat_send', { text }));
  ui.chatInput = input;
  ui.chatForm = form;
  ui.chat.replaceChildren(heading, ui.chatLog);
}

function chatItem(message) {
  const li = el('li', 'ix-chat-line');
  li.dataset.id = message.id;
  const author = message.author || {};
  const who = el('span', 'ix-author', nameOf(author));
  if (MODERATORS.has(author.role)) who.classList.add('ix-author-host');
  li.append(who, ' ', el('span', 'ix-chat-text', message.text));
  if (isModerator()) {
    li.append(' ', button(t('chat.delete'), () => send('chat_delete', { id: message.id }), {
      className: 'ix-small ix-quiet',
      aria: t('chat.delete_from', { name: nameOf(author) }),
    }));
  }
  return li;
}

function renderChat() {
  if (!ui.chatLog) return;
  // The host types in the console's chat panel; members and co-hosts in the bottom bar.
  if (api && api.isHost()) ui.chat.append(ui.chatForm);
  else if (ui.chatForm.parentElement !== ui.reactions.parentElement) ui.reactions.after(ui.chatForm);
  ui.chatInput.maxLength = state.limits.chat_max_length;
  ui.chatLog.replaceChildren(...state.chat.map(chatItem));
  ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

function onChat(message) {
  state.chat.push(message);
  if (state.chat.length > CHAT_KEEP) state.chat.splice(0, state.chat.length - CHAT_KEEP);
  const nearBottom = ui.chatLog.scrollHeight - ui.chatLog.scrollTop - ui.chatLog.clientHeight < 60;
  ui.chatLog.append(chatItem(message));
  while (ui.chatLog.children.length > CHAT_KEEP) ui.chatLog.firstElementChild.remove();
  if (nearBottom) ui.chatLog.scrollTop = ui.chatLog.scrollHeight;
}

function onChatDeleted(id) {
  state.chat = state.chat.filter((m) => m.id !== id);
  for (const li of ui.chatLog.querySelectorAll('.ix-chat-line')) {
    if (li.dataset.id === id) li.remove();
  }
}

// ---------------------------------------------------------------- reactions

function buildReactions() {
  const buttons = state.reactions.map((name) => {
    const b = button(EMOJI[name] || name, () => send('reaction', { emoji: name }), {
      className: 'ix-reaction',
      aria: t(`reaction.${name}`),
    });
    b.dataset.reaction = name;
    return b;
  });
  ui.reactions.replaceChildren(...buttons);
}

function onReactions(counts) {
  state.reactionUpdates += 1;
  let drawn = 0;
  const total = Object.values(counts).reduce((a, b) => a + (Number(b) || 0), 0);
  for (const [name, count] of Object.entries(counts)) {
    const n = Number(count) || 0;
    state.reactionTotals[name] = (state.reactionTotals[name] || 0) + n;
    // A fair share of the floaters per emoji, at least one each.
    const share = Math.max(1, Math.round((n / Math.max(total, 1)) * FLOATERS_MAX));
    for (let i = 0; i < share && drawn < FLOATERS_MAX; i += 1, drawn += 1) {
      const f = el('span', 'ix-floater', EMOJI[name] || '');
      f.style.left = `${5 + Math.random() * 85}%`;
      f.style.animationDelay = `${Math.random() * 0.3}s`;
      f.addEventListener('animationend', () => f.remove());
      ui.floaters.append(f);
    }
  }
  const parts = Object.entries(state.reactionTotals)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${EMOJI[name] || name} ${n}`);
  ui.reactionTally.textContent = parts.join('  ');
}

// ---------------------------------------------------------------- Q&A

function buildQa() {
  const heading = el('h2', '', t('qa.heading'));
  heading.id = 'ix-qa-heading';
  ui.qaNow = el('div', 'ix-now');
  ui.qaList = el('ol', 'ix-questions');
  ui.qaList.setAttribute('aria-label', t('qa.heading'));
  const { form, input } = textForm('ix-form',
    { label: t('qa.input'), placeholder: t('qa.placeholder'), submitText: t('qa.ask') },
    (text) => send('question_ask', { text }));
  ui.qaInput = input;
  ui.qa.replaceChildren(sheetHead(heading), ui.qaNow, ui.qaList, form);
}

function questionOrder(a, b) {
  const rank = (q) => (q.state === 'open' ? 0 : 1);
  return rank(a) - rank(b) || b.votes - a.votes || a.ts - b.ts
    || Number(String(a.id).slice(1)) - Number(String(b.id).slice(1));
}

function questionItem(q, { now = false } = {}) {
  const li = el(now ? 'div' : 'li', 'ix-question');
  li.dataset.id = q.id;
  li.dataset.state = q.state;
  if (q.pinned) li.classList.add('ix-pinned');
  const text = el('p', 'ix-question-text', q.text);
  const meta = el('p', 'ix-question-meta muted');
  meta.append(`${nameOf(q.author)} · `);
  const votes = el('span', 'ix-votes', t('qa.votes', { count: q.votes }));
  meta.append(votes);
  if (q.state === 'answered') meta.append(' · ', el('span', 'tag ix-answered', t('qa.answered')));
  if (q.pinned) meta.append(' · ', el('span', 'tag ix-pinned-tag', t('qa.now')));
  const actions = el('div', 'ix-actions');
  const mine = q.author && q.author.member_id === myMemberId();
  if (q.state === 'open' && !mine) {
    const voted = state.voted.has(q.id);
    const up = button(`${voted ? '▲' : '△'} ${t('qa.upvote')}`, () => {
      send(state.voted.has(q.id) ? 'question_unvote' : 'question_upvote', { id: q.id });
    }, { className: 'ix-small ix-upvote', aria: t('qa.upvote') });
    up.setAttribute('aria-pressed', String(voted));
    up.title = voted ? t('qa.unvote_title') : t('qa.upvote_title');
    actions.append(up);
  }
  if (isModerator()) {
    if (q.state === 'open') {
      actions.append(q.pinned
        ? button(t('qa.unpin'), () => send('question_unpin', { id: q.id }), { className: 'ix-small' })
        : button(t('qa.pin'), () => send('question_pin', { id: q.id }), { className: 'ix-small' }));
      actions.append(button(t('qa.mark_answered'), () => send('question_answer', { id: q.id }), {
        className: 'ix-small',
      }));
    }
    actions.append(button(t('qa.dismiss'), () => send('question_dismiss', { id: q.id }), {
      className: 'ix-small ix-quiet',
    }));
  }
  li.append(text, meta);
  if (actions.children.length) li.append(actions);
  return li;
}

function renderQa() {
  if (!ui.qaList) return;
  ui.qaInput.maxLength = state.limits.question_max_length;
  const focus = focusedControl(ui.qa);
  const shown = [...state.questions.values()].filter((q) => q.state !== 'dismissed');
  const pinned = shown.find((q) => q.pinned);
  ui.qaNow.replaceChildren();
  ui.qaNow.hidden = !pinned;
  if (pinned) {
    const box = el('div', 'ix-now-box');
    box.setAttribute('role', 'region');
    box.setAttribute('aria-label', t('qa.now'));
    box.append(el('p', 'ix-now-label', t('qa.now')), questionItem(pinned, { now: true }));
    ui.qaNow.append(box);
  }
  const items = shown.filter((q) => !q.pinned).sort(questionOrder).map((q) => questionItem(q));
  if (!items.length && !pinned) items.push(el('li', 'muted ix-empty', t('qa.empty')));
  ui.qaList.replaceChildren(...items);
  restoreFocus(focus);
  renderDock();
  renderStrip(ix);
}

// Lists are redrawn as votes come in: keep keyboard focus on the same control.
function focusedControl(container) {
  const active = document.activeElement;
  if (!active || !container.contains(active) || active.tagName !== 'BUTTON') return null;
  const item = active.closest('[data-id]');
  return item ? { id: item.dataset.id, label: active.getAttribute('aria-label') || active.textContent } : null;
}

function restoreFocus(focus) {
  if (!focus) return;
  for (const item of ui.qa.querySelectorAll('[data-id]')) {
    if (item.dataset.id !== focus.id) continue;
    for (const b of item.querySelectorAll('button')) {
      if ((b.getAttribute('aria-label') || b.textContent) === focus.label) { b.focus(); return; }
    }
  }
}

function putQuestion(q) {
  if (!q || typeof q.id !== 'string') return;
  const old = state.questions.get(q.id);
  state.questions.set(q.id, { ...old, ...q });
  renderQa();
}

// ---------------------------------------------------------------- everything

let wasModerator = false;

function renderAll() {
  wasModerator = isModerator();
  if (api && api.isHost()) buildConsole();
  renderChat();
  renderQa();
  renderPolls(ix);
  renderProduct(ix);
  renderShop(ix);
  renderDock();
  renderStrip(ix);
}

function onJoined(message, featureApi) {
  api = featureApi;
  const data = message.interactions;
  if (!data || typeof data !== 'object') return;
  if (!root) build();
  if (!root) return;
  state.joined = true;
  state.session = data.session || null;
  if (data.limits) state.limits = { ...state.limits, ...data.limits };
  state.chat = Array.isArray(data.chat) ? data.chat.slice(-CHAT_KEEP) : [];
  state.questions.clear();
  state.voted.clear();
  for (const q of Array.isArray(data.questions) ? data.questions : []) {
    state.questions.set(q.id, q);
    if (q.voted) state.voted.add(q.id);
  }
  state.polls.clear();
  state.myVotes.clear();
  for (const poll of Array.isArray(data.polls) ? data.polls : []) {
    state.polls.set(poll.id, poll);
    if (typeof poll.my_vote === 'number') state.myVotes.set(poll.id, poll.my_vote);
  }
  state.product = data.product || null;
  state.productStats = data.product_stats || null;
  // What the host console rebuilds after a reload: the session so far (server side:
  // Interactions.joined_state).
  state.summary = data.summary || null;
  state.purchases = state.summary && Array.isArray(state.summary.purchases)
    ? state.summary.purchases.slice().reverse() : [];
  state.productTotals = {};
  for (const stats of (state.summary && state.summary.products) || []) {
    if (stats && typeof stats.id === 'string') state.productTotals[stats.id] = stats;
  }
  if (state.productStats) state.productTotals[state.productStats.id] = state.productStats;
  root.hidden = false;
  renderAll();
}

function onMessage(message) {
  if (!root || !state.joined) return false;
  switch (message.type) {
    case 'chat': onChat(message); return true;
    case 'chat_deleted': onChatDeleted(message.id); return true;
    case 'reactions': onReactions(message.counts || {}); return true;
    case 'question': putQuestion(message.question); return true;
    case 'question_votes': {
      const q = state.questions.get(message.id);
      if (q) putQuestion({ ...q, votes: message.votes });
      return true;
    }
    case 'question_voted':
      if (message.voted) state.voted.add(message.id); else state.voted.delete(message.id);
      if (state.questions.has(message.id)) {
        putQuestion({ ...state.questions.get(message.id), votes: message.votes });
      }
      return true;
    case 'question_removed':
      state.questions.delete(message.id);
      state.voted.delete(message.id);
      renderQa();
      return true;
    case 'poll':
      // A new poll is open: the host's form has done its job.
      if (message.poll && message.poll.state === 'open' && ui.pollForm) ui.pollForm.reset();
      if (message.poll && message.poll.state === 'open' && !state.polls.has(message.poll.id)
          && document.body.dataset.sheet !== 'poll') state.unseenPoll = true;
      putPoll(ix, message.poll);
      renderDock();
      return true;
    case 'poll_results': {
      const poll = state.polls.get(message.id);
      if (poll) putPoll(ix, { ...poll, counts: message.counts, total: message.total });
      return true;
    }
    case 'poll_voted':
      state.myVotes.set(message.id, message.option);
      renderPolls(ix);
      return true;
    case 'product':
      if (message.product && ui.productForm) ui.productForm.querySelector('form').reset();
      state.product = message.product || null;
      state.productHidden = false; // a new pin shows over the video
      renderProduct(ix);
      renderDock();
      return true;
    case 'product_stats':
      state.productStats = message;
      if (typeof message.id === 'string') state.productTotals[message.id] = message;
      renderProduct(ix);
      renderStrip(ix);
      return true;
    case 'purchase':
      state.purchases.unshift(message);
      state.purchases.splice(50);
      renderShop(ix);
      renderStrip(ix);
      return true;
    case 'role':
      // Someone's role changed (a co-host appointed, say): moderation controls follow,
      // once room.js has applied it.
      setTimeout(() => { if (wasModerator !== isModerator()) renderAll(); }, 0);
      return false;
    default:
      return false;
  }
}

document.addEventListener('salon:figures', () => { if (state.joined) renderStrip(ix); });

registerFeature({
  onJoined,
  onMessage,
  onPresence() {
    // A role may have changed with a presence update: redraw the controls that depend on it.
    if (root && state.joined && wasModerator !== isModerator()) renderAll();
    else if (root && state.joined) renderStrip(ix);
  },
  onLeft() {
    // Left, refused or reconnecting: the next `joined` brings the room's state afresh.
    state.joined = false;
    if (root) root.hidden = true;
  },
});
