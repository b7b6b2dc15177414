// 1:1 consultations on the room page (server/http/consult.py, docs/decisions.md).
//
// A member asks for a private video consultation from the "Advisor" sheet of the bottom
// bar, with an optional note; the page then asks the server every few seconds what became
// of it and, once an advisor accepted, shows the link to the private room. A host gets a
// "Consultations" tab in the console: the pending requests, each with Accept and Decline;
// accepting shows the link to the private room. Inside a private room (room.kind
// "consult") none of this shows: the two people talk (the member is on stage from the
// start, the host's page goes live by itself: web/room.js).
//
// Who is asking comes from this page's own room token. Text from people (names, notes)
// goes on the page with textContent only.

import { button, el, labelled } from './dom.js';
import { registerFeature } from './features.js';
import { formatList, has, t } from './i18n.js';
import { dockButton, sheetHead } from './sheets.js';
import { readToken } from './token.js';

const POLL_MS = 3000;
const NOTE_MAX = 500;

let root = null;
let mode = null; // 'member' | 'host' | null (a private room, or not joined yet)
let pollTimer = 0;
let requestId = null;
let ui = {};

class Refusal extends Error {
  constructor(error) {
    super(error?.message || t('consult.failed'));
    this.code = typeof error?.code === 'string' ? error.code : '';
    this.params = error?.params || {};
  }
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Refusal(data.error);
  return data;
}

// A refusal in the reader's language when the catalog knows its code.
function refusalText(err) {
  const code = err instanceof Refusal ? err.code : '';
  if (code && has(`consult.error.${code}`)) {
    const params = { ...err.params };
    if (Array.isArray(params.tiers)) params.tiers = formatList(params.tiers.map((x) => t(`tier.${x}`)));
    return t(`consult.error.${code}`, params);
  }
  return err?.message || t('consult.failed');
}

// Only links to a room page on this server are followed.
function roomLink(text) {
  try {
    const url = new URL(String(text), window.location.href);
    return url.origin === window.location.origin && url.pathname.startsWith('/rooms/') ? url.href : null;
  } catch {
    return null;
  }
}

function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = 0;
}

function schedule(fn) {
  stopPolling();
  pollTimer = setTimeout(fn, POLL_MS);
}

// ---------------------------------------------------------------- members

function mountMember() {
  const row = document.querySelector('#dock .dock-buttons');
  if (row && !row.querySelector('[data-open-sheet="consult"]')) {
    row.append(dockButton('consult', '💬', t('dock.consult')));
  }
  root.classList.add('sheet');
  root.dataset.sheetName = 'consult';
  const note = el('textarea', 'consult-note');
  note.maxLength = NOTE_MAX;
  note.rows = 3;
  const ask = button(t('consult.request'), () => request(note), { className: 'primary' });
  const status = el('p', 'consult-status');
  status.setAttribute('role', 'status');
  const link = el('a', 'button-link primary consult-join', t('consult.join'));
  link.hidden = true;
  ui = { note, ask, status, link };
  root.replaceChildren(
    sheetHead(el('h2', null, t('consult.heading'))),
    el('p', 'muted', t('consult.intro')),
    labelled(t('consult.note'), note),
    ask,
    status,
    link,
  );
  if (requestId) follow();
}

async function request(note) {
  ui.ask.disabled = true;
  ui.status.textContent = '';
  try {
    const made = await call('POST', '/api/consultations', { token: readToken(), note: note.value });
    requestId = made.consultation.id;
    note.value = '';
    showMine(made.consultation, null);
  } catch (err) {
    if (err instanceof Refusal && err.code === 'already_requested' && err.params.id) {
      requestId = err.params.id;
      follow();
      return;
    }
    ui.status.textContent = refusalText(err);
    ui.ask.disabled = false;
  }
}

function showMine(consultation, link) {
  const state = consultation.status;
  const href = link ? roomLink(link) : null;
  ui.status.textContent = t(`consult.state.${state}`);
  ui.link.hidden = !href;
  if (href) ui.link.href = href;
  // Pending or accepted: one request at a time; declined or ended: ask again.
  ui.ask.disabled = state === 'pending' || state === 'accepted';
  if (state === 'pending' || (state === 'accepted' && !href)) schedule(follow);
}

async function follow() {
  if (mode !== 'member' || !requestId) return;
  try {
    const seen = await call(
      'GET', `/api/consultations/${encodeURIComponent(requestId)}?token=${encodeURIComponent(readToken())}`,
    );
    showMine(seen.consultation, seen.link);
  } catch (err) {
    ui.status.textContent = refusalText(err);
    schedule(follow);
  }
}

// ---------------------------------------------------------------- advisors (hosts)

function mountHost() {
  const tabs = document.getElementById('console-tabs');
  if (tabs && !document.getElementById('tab-consult')) {
    const tab = el('button', null, t('consult.tab'));
    tab.type = 'button';
    tab.id = 'tab-consult';
    tab.dataset.tab = 'consult';
    tab.setAttribute('role', 'tab');
    tab.setAttribute('aria-selected', 'false');
    tab.setAttribute('aria-controls', 'consult');
    tab.tabIndex = -1;
    tabs.append(tab);
  }
  root.classList.remove('sheet');
  root.setAttribute('role', 'tabpanel');
  root.setAttribute('aria-labelledby', 'tab-consult');
  root.dataset.panel = 'consult';
  const list = el('ul', 'consult-list');
  list.setAttribute('aria-label', t('consult.inbox'));
  const empty = el('p', 'muted', t('consult.none'));
  const opened = el('div', 'consult-opened');
  ui = { list, empty, opened };
  root.replaceChildren(el('h2', null, t('consult.inbox')), opened, empty, list);
  inbox();
}

async function inbox() {
  if (mode !== 'host') return;
  try {
    const { consultations } = await call('POST', '/api/consultations/inbox', { token: readToken() });
    renderInbox(consultations);
  } catch (err) {
    ui.empty.textContent = refusalText(err);
  }
  schedule(inbox);
}

function renderInbox(consultations) {
  ui.empty.textContent = t('consult.none');
  ui.empty.hidden = consultations.length > 0;
  ui.list.replaceChildren(...consultations.map((c) => {
    const li = el('li', 'consult-item');
    li.append(el('strong', null, c.member_name), el('span', 'muted', t('consult.from', { room: c.origin_room })));
    if (c.note) li.append(el('p', 'consult-text', c.note));
    const actions = el('div', 'consult-actions');
    actions.append(
      button(t('consult.accept'), () => answer(c, true), {
        className: 'primary', aria: t('consult.accept_label', { name: c.member_name }),
      }),
      button(t('consult.decline'), () => answer(c, false), {
        className: 'secondary', aria: t('consult.decline_label', { name: c.member_name }),
      }),
    );
    li.append(actions);
    return li;
  }));
}

async function answer(consultation, accept) {
  const verb = accept ? 'accept' : 'decline';
  try {
    const done = await call(
      'POST', `/api/consultations/${encodeURIComponent(consultation.id)}/${verb}`, { token: readToken() },
    );
    const href = done.link ? roomLink(done.link) : null;
    if (href) {
      const link = el('a', 'button-link primary', t('consult.open', { name: consultation.member_name }));
      link.href = href;
      ui.opened.replaceChildren(link);
    }
  } catch (err) {
    ui.opened.replaceChildren(el('p', 'consult-status', refusalText(err)));
  }
  inbox();
}

// ---------------------------------------------------------------- the feature

registerFeature({
  onJoined(message, api) {
    root = root || document.getElementById('consult');
    if (!root) return;
    const you = api.you();
    const room = message.room || {};
    const next = room.kind === 'consult' || !you ? null : api.isHost() ? 'host' : you.role === 'member' || you.role === 'speaker' ? 'member' : null;
    if (next === mode && root.childElementCount) return;
    mode = next;
    stopPolling();
    root.hidden = mode === null;
    if (mode === 'member') mountMember();
    else if (mode === 'host') mountHost();
  },
  onLeft() {
    stopPolling();
  },
});
