// Salon interactions: chat, reactions, Q&A with upvotes, polls and the pinned product.
//
// A feature module (web/features.js). It fills the "interactions" section of the room
// page: the product card and polls, the question list, reactions and the chat. Hosts
// and co-hosts also get the moderation controls (delete a chat line; pin, answer and
// dismiss questions; create and close polls; pin a product) and the shop activity.
// The server decides everything (docs/protocol.md, "Interactions"); this page asks and
// shows.
//
// Everything from the server or from people goes on the page with textContent, never
// as HTML; links and images come only from http(s) addresses the server has checked.

import { registerFeature } from './features.js';

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

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function button(label, onClick, { className = '', aria = null } = {}) {
  const b = el('button', className, label);
  b.type = 'button';
  if (aria) b.setAttribute('aria-label', aria);
  b.addEventListener('click', onClick);
  return b;
}

function labelled(labelText, input) {
  const wrap = el('label', 'field');
  wrap.append(el('span', 'field-label', labelText), input);
  return wrap;
}

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

function timeOf(ms) {
  const d = new Date(typeof ms === 'number' ? ms : Date.now());
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

// Only http(s) addresses reach the page (the server checks them); check again anyway.
function safeUrl(text) {
  try {
    const url = new URL(String(text));
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
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
  const form = el('form', 'ix-form ix-chat-form');
  ui.chatInput = el('input');
  ui.chatInput.type = 'text';
  ui.chatInput.autocomplete = 'off';
  ui.chatInput.setAttribute('aria-label', 'Chat message');
  ui.chatInput.placeholder = 'Say something…';
  const submit = el('button', 'primary', 'Send');
  submit.type = 'submit';
  form.append(ui.chatInput, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = ui.chatInput.value.trim();
    if (!text) return;
    if (send('chat_send', { text })) ui.chatInput.value = '';
  });
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
  const form = el('form', 'ix-form');
  ui.qaInput = el('input');
  ui.qaInput.type = 'text';
  ui.qaInput.autocomplete = 'off';
  ui.qaInput.setAttribute('aria-label', 'Your question');
  ui.qaInput.placeholder = 'Ask the host a question…';
  const submit = el('button', 'primary', 'Ask');
  submit.type = 'submit';
  form.append(ui.qaInput, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = ui.qaInput.value.trim();
    if (!text) return;
    if (send('question_ask', { text })) ui.qaInput.value = '';
  });
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

// ---------------------------------------------------------------- polls

function renderPolls() {
  if (!ui.polls) return;
  const heading = el('h2', '', 'Polls');
  heading.id = 'ix-polls-heading';
  const parts = [heading];
  const polls = [...state.polls.values()].reverse(); // newest first
  for (const poll of polls) parts.push(pollCard(poll));
  if (isModerator() && !polls.some((p) => p.state === 'open')) {
    ui.pollForm = ui.pollForm || pollForm(); // kept: a redraw must not lose what is typed
    parts.push(ui.pollForm);
  }
  if (!isModerator() && !polls.length) parts.push(el('p', 'muted', 'No poll yet.'));
  ui.polls.replaceChildren(...parts);
  ui.polls.hidden = !isModerator() && !polls.length;
}

function pollCard(poll) {
  const card = el('div', 'ix-poll');
  card.dataset.id = poll.id;
  card.dataset.state = poll.state;
  card.setAttribute('role', 'group');
  card.setAttribute('aria-label', `Poll: ${poll.question}`);
  card.append(el('p', 'ix-poll-question', poll.question));
  const mine = state.myVotes.get(poll.id);
  const total = Number(poll.total) || 0;
  const open = poll.state === 'open';
  const name = `poll-${poll.id}`;
  const list = el('ul', 'ix-poll-options');
  poll.options.forEach((option, index) => {
    const count = Number(poll.counts[index]) || 0;
    const share = total ? Math.round((count / total) * 100) : 0;
    const li = el('li', 'ix-poll-option');
    if (open && !isModerator()) {
      const radio = el('input');
      radio.type = 'radio';
      radio.name = name;
      radio.value = String(index);
      radio.checked = (state.picked.has(poll.id) ? state.picked.get(poll.id) : mine) === index;
      radio.addEventListener('change', () => state.picked.set(poll.id, index));
      li.append(labelled(option, radio));
    } else {
      li.append(el('span', 'ix-poll-label', option));
    }
    const bar = el('span', 'ix-bar');
    const fill = el('span', 'ix-bar-fill');
    fill.style.width = `${share}%`;
    bar.append(fill);
    const result = el('span', 'ix-poll-result', `${share}% (${count})`);
    result.dataset.count = String(count);
    if (mine === index) li.append(el('span', 'tag ix-your-vote', 'Your vote'));
    li.append(bar, result);
    list.append(li);
  });
  card.append(list);
  const footer = el('p', 'ix-poll-meta muted', `${total} ${total === 1 ? 'vote' : 'votes'} · ${open ? 'Open' : 'Closed'}`);
  footer.setAttribute('aria-live', 'polite');
  card.append(footer);
  if (open && !isModerator()) {
    card.append(button('Vote', () => {
      const picked = card.querySelector(`input[name="${name}"]:checked`);
      if (!picked) { api.notice('Pick an option first.'); return; }
      state.picked.delete(poll.id);
      send('poll_vote', { id: poll.id, option: Number(picked.value) });
    }, { className: 'primary ix-small' }));
  }
  if (open && isModerator()) {
    card.append(button('Close poll', () => send('poll_close', { id: poll.id }), { className: 'ix-small' }));
  }
  return card;
}

function pollForm() {
  const form = el('form', 'ix-form ix-poll-form');
  form.setAttribute('aria-label', 'New poll');
  const question = el('input');
  question.type = 'text';
  question.maxLength = 200;
  question.required = true;
  form.append(labelled('Poll question', question));
  const options = [];
  for (let i = 1; i <= 6; i += 1) {
    const input = el('input');
    input.type = 'text';
    input.maxLength = 80;
    input.required = i <= 2;
    options.push(input);
    form.append(labelled(`Option ${i}${i > 2 ? ' (optional)' : ''}`, input));
  }
  const submit = el('button', 'primary ix-small', 'Create poll');
  submit.type = 'submit';
  form.append(submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const texts = options.map((o) => o.value.trim()).filter(Boolean);
    send('poll_create', { question: question.value.trim(), options: texts });
  });
  return form;
}

function putPoll(poll) {
  if (!poll || typeof poll.id !== 'string') return;
  state.polls.set(poll.id, { ...state.polls.get(poll.id), ...poll });
  renderPolls();
}

// ---------------------------------------------------------------- product

function renderProduct() {
  if (!ui.product) return;
  const heading = el('h2', '', 'Featured product');
  heading.id = 'ix-product-heading';
  const parts = [heading];
  const p = state.product;
  if (p) {
    const card = el('div', 'ix-product-card');
    card.dataset.id = p.id;
    const image = safeUrl(p.image);
    if (image) {
      const img = el('img', 'ix-product-image');
      img.alt = '';
      img.src = image;
      img.referrerPolicy = 'no-referrer';
      img.loading = 'lazy';
      img.addEventListener('error', () => img.remove());
      card.append(img);
    }
    const info = el('div', 'ix-product-info');
    info.append(el('p', 'ix-product-title', p.title), el('p', 'ix-product-price', p.price));
    const link = safeUrl(p.link);
    if (link) {
      const a = el('a', 'ix-buy', 'View product');
      a.href = link;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.setAttribute('aria-label', `View product: ${p.title}`);
      a.addEventListener('click', () => send('product_click', { id: p.id }));
      info.append(a);
    }
    card.append(info);
    parts.push(card);
    if (isModerator()) {
      const s = state.productStats && state.productStats.id === p.id ? state.productStats : null;
      const stats = el('p', 'ix-product-stats muted', s
        ? `${s.clicks} ${s.clicks === 1 ? 'click' : 'clicks'} by ${s.clickers} · ${s.purchases} bought`
        : 'No clicks yet');
      stats.setAttribute('aria-live', 'polite');
      parts.push(stats, button('Unpin product', () => send('product_unpin'), { className: 'ix-small' }));
    }
  } else if (!isModerator()) {
    ui.product.hidden = true;
    ui.product.replaceChildren(...parts);
    return;
  }
  if (isModerator()) {
    ui.productForm = ui.productForm || productForm(); // kept: a redraw must not lose input
    ui.productForm.querySelector('summary').textContent = state.product
      ? 'Pin another product' : 'Pin a product';
    parts.push(ui.productForm);
  }
  ui.product.hidden = false;
  ui.product.replaceChildren(...parts);
}

function productForm() {
  const details = el('details', 'ix-product-form');
  details.append(el('summary', '', 'Pin a product'));
  const form = el('form', 'ix-form');
  const fields = {};
  for (const [key, label, type, required] of [
    ['id', 'Product id', 'text', true],
    ['title', 'Title', 'text', true],
    ['price', 'Price', 'text', true],
    ['image', 'Image address (https)', 'url', false],
    ['link', 'Product page (https)', 'url', true],
  ]) {
    const input = el('input');
    input.type = type;
    input.required = required;
    fields[key] = input;
    form.append(labelled(label, input));
  }
  const submit = el('button', 'primary ix-small', 'Pin product');
  submit.type = 'submit';
  form.append(submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const product = {};
    for (const [key, input] of Object.entries(fields)) product[key] = input.value.trim();
    if (!product.image) delete product.image;
    if (send('product_pin', product)) details.open = false;
  });
  details.append(form);
  // Open while nothing is pinned: it is the host's first step.
  details.open = !state.product;
  return details;
}

// ---------------------------------------------------------------- shop activity (moderators)

function renderShop() {
  if (!ui.shop) return;
  ui.shop.hidden = !isModerator();
  if (!isModerator()) { ui.shop.replaceChildren(); return; }
  const heading = el('h2', '', 'Shop activity');
  heading.id = 'ix-shop-heading';
  const list = el('ul', 'ix-purchases');
  list.setAttribute('aria-label', 'Purchases');
  for (const p of state.purchases) {
    list.append(el('li', 'ix-purchase', `${p.name || p.member_id} bought ${p.product_id} · ${p.amount} ${p.currency}`));
  }
  if (!state.purchases.length) list.append(el('li', 'muted', 'No purchases in this session yet.'));
  ui.shop.replaceChildren(heading, list);
}

// ---------------------------------------------------------------- everything

let wasModerator = false;

function renderAll() {
  wasModerator = isModerator();
  renderChat();
  renderQa();
  renderPolls();
  renderProduct();
  renderShop();
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
      putPoll(message.poll);
      return true;
    case 'poll_results': {
      const poll = state.polls.get(message.id);
      if (poll) putPoll({ ...poll, counts: message.counts, total: message.total });
      return true;
    }
    case 'poll_voted':
      state.myVotes.set(message.id, message.option);
      renderPolls();
      return true;
    case 'product':
      if (message.product && ui.productForm) ui.productForm.querySelector('form').reset();
      state.product = message.product || null;
      renderProduct();
      return true;
    case 'product_stats':
      state.productStats = message;
      renderProduct();
      return true;
    case 'purchase':
      state.purchases.unshift(message);
      state.purchases.splice(50);
      renderShop();
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
