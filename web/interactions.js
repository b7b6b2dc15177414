// Salon interactions: chat, reactions, Q&A with upvotes, polls and the pinned product.
//
// A feature module (web/features.js). It fills the "interactions" section of the room
// page: the product card and polls (product.js and polls.js draw those), the question
// list, reactions and the chat. Hosts
// and co-hosts also get the moderation controls (delete a chat line; pin, answer and
// dismiss questions; create and close polls; pin a product) and the shop activity.
// The server decides everything (docs/protocol.md, "Interactions"); this page asks and
// shows.
//
// Everything from the server or from people goes on the page with textContent, never
// as HTML; links and images come only from http(s) addresses the server has checked.

import { button, el, textForm } from './dom.js';
import { registerFeature } from './features.js';
import { putPoll, renderPolls } from './polls.js';
import { renderProduct, renderShop } from './product.js';

const MODERATORS = new Set(['host', 'cohost']);
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
    || (author && author.member_id) || 'Someone';
}

// ---------------------------------------------------------------- layout

function build() {
  root = document.getElementById('interactions');
  if (!root) return;
  const side = el('div', 'ix-column ix-main');
  const talk = el('div', 'ix-column ix-talk');

  ui.product = el('section', 'ix-card ix-product');
  ui.product.setAttribute('aria-labelledby', 'ix-product-heading');
  ui.polls = el('section', 'ix-card ix-polls');
  ui.polls.setAttribute('aria-labelledby', 'ix-polls-heading');
  ui.qa = el('section', 'ix-card ix-qa');
  ui.qa.setAttribute('aria-labelledby', 'ix-qa-heading');
  ui.shop = el('section', 'ix-card ix-shop');
  ui.shop.setAttribute('aria-labelledby', 'ix-shop-heading');
  side.append(ui.product, ui.polls, ui.qa, ui.shop);

  ui.reactions = el('section', 'ix-card ix-reactions');
  ui.reactions.setAttribute('aria-label', 'Reactions');
  ui.chat = el('section', 'ix-card ix-chat');
  ui.chat.setAttribute('aria-labelledby', 'ix-chat-heading');
  talk.append(ui.reactions, ui.chat);

  root.replaceChildren(side, talk);
  buildChat();
  buildQa();
  buildReactions();
}

// ---------------------------------------------------------------- chat

function buildChat() {
  const heading = el('h2', '', 'Chat');
  heading.id = 'ix-chat-heading';
  ui.chatLog = el('ol', 'ix-chat-log');
  ui.chatLog.setAttribute('role', 'log');
  ui.chatLog.setAttribute('aria-label', 'Chat messages');
  const { form, input } = textForm('ix-form ix-chat-form',
    { label: 'Chat message', placeholder: 'Say something…', submitText: 'Send' },
    (text) => send('chat_send', { text }));
  ui.chatInput = input;
  ui.chat.replaceChildren(heading, ui.chatLog, form);
}

function chatItem(message) {
  const li = el('li', 'ix-chat-line');
  li.dataset.id = message.id;
  const author = message.author || {};
  const who = el('span', 'ix-author', nameOf(author));
  if (MODERATORS.has(author.role)) who.classList.add('ix-author-host');
  li.append(who, ' ', el('span', 'ix-chat-text', message.text));
  if (isModerator()) {
    li.append(' ', button('Delete', () => send('chat_delete', { id: message.id }), {
      className: 'ix-small ix-quiet',
      aria: `Delete message from ${nameOf(author)}`,
    }));
  }
  return li;
}

function renderChat() {
  if (!ui.chatLog) return;
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
  const bar = el('div', 'ix-reaction-bar');
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', 'Send a reaction');
  for (const name of state.reactions) {
    bar.append(button(EMOJI[name] || name, () => send('reaction', { emoji: name }), {
      className: 'ix-reaction',
      aria: `React with ${name}`,
    }));
  }
  ui.floaters = el('div', 'ix-floaters');
  ui.floaters.setAttribute('aria-hidden', 'true');
  ui.reactionTally = el('p', 'ix-reaction-tally muted');
  ui.reactions.replaceChildren(bar, ui.floaters, ui.reactionTally);
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
  const heading = el('h2', '', 'Questions');
  heading.id = 'ix-qa-heading';
  ui.qaNow = el('div', 'ix-now');
  ui.qaList = el('ol', 'ix-questions');
  ui.qaList.setAttribute('aria-label', 'Questions');
  const { form, input } = textForm('ix-form',
    { label: 'Your question', placeholder: 'Ask the host a question…', submitText: 'Ask' },
    (text) => send('question_ask', { text }));
  ui.qaInput = input;
  ui.qa.replaceChildren(heading, ui.qaNow, ui.qaList, form);
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
  const votes = el('span', 'ix-votes', `${q.votes} ${q.votes === 1 ? 'vote' : 'votes'}`);
  meta.append(votes);
  if (q.state === 'answered') meta.append(' · ', el('span', 'tag ix-answered', 'Answered'));
  if (q.pinned) meta.append(' · ', el('span', 'tag ix-pinned-tag', 'Answering now'));
  const actions = el('div', 'ix-actions');
  const mine = q.author && q.author.member_id === myMemberId();
  if (q.state === 'open' && !mine) {
    const voted = state.voted.has(q.id);
    const up = button(voted ? '▲ Upvote' : '△ Upvote', () => {
      send(state.voted.has(q.id) ? 'question_unvote' : 'question_upvote', { id: q.id });
    }, { className: 'ix-small ix-upvote', aria: 'Upvote' });
    up.setAttribute('aria-pressed', String(voted));
    up.title = voted ? 'Take your upvote back' : 'Upvote this question';
    actions.append(up);
  }
  if (isModerator()) {
    if (q.state === 'open') {
      actions.append(q.pinned
        ? button('Unpin', () => send('question_unpin', { id: q.id }), { className: 'ix-small' })
        : button('Pin', () => send('question_pin', { id: q.id }), { className: 'ix-small' }));
      actions.append(button('Mark answered', () => send('question_answer', { id: q.id }), {
        className: 'ix-small',
      }));
    }
    actions.append(button('Dismiss', () => send('question_dismiss', { id: q.id }), {
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
    box.setAttribute('aria-label', 'Answering now');
    box.append(el('p', 'ix-now-label', 'Answering now'), questionItem(pinned, { now: true }));
    ui.qaNow.append(box);
  }
  const items = shown.filter((q) => !q.pinned).sort(questionOrder).map((q) => questionItem(q));
  if (!items.length && !pinned) items.push(el('li', 'muted ix-empty', 'No questions yet. Ask the first one.'));
  ui.qaList.replaceChildren(...items);
  restoreFocus(focus);
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
  renderChat();
  renderQa();
  renderPolls(ix);
  renderProduct(ix);
  renderShop(ix);
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
      putPoll(ix, message.poll);
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
      renderProduct(ix);
      return true;
    case 'product_stats':
      state.productStats = message;
      renderProduct(ix);
      return true;
    case 'purchase':
      state.purchases.unshift(message);
      state.purchases.splice(50);
      renderShop(ix);
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

registerFeature({
  onJoined,
  onMessage,
  onPresence() {
    // A role may have changed with a presence update: redraw the controls that depend on it.
    if (root && state.joined && wasModerator !== isModerator()) renderAll();
  },
  onLeft() {
    // Left, refused or reconnecting: the next `joined` brings the room's state afresh.
    state.joined = false;
    if (root) root.hidden = true;
  },
});
