// 1:1 consultations on the room page (server/http/consult.py, docs/decisions.md).
//
// A member asks for a private video consultation from the "Private consultation" sheet,
// opened by the top bar's chip 💬 (web/consult_request.js). A host gets a "Consultations"
// tab in the console: the pending requests (asked again every few seconds), each with Accept and Decline;
// accepting shows the link to the private room. Inside a private room (room.kind
// "consult") none of this shows: the two people talk (the member is on stage from the
// start, the host's page goes live by itself: web/room.js).
//
// Who is asking comes from this page's own room token. Text from people (names, notes)
// goes on the page with textContent only.

import { requestCard, call, refusalText, roomLink } from './consult_request.js';
import { button, el } from './dom.js';
import { registerFeature } from './features.js';
import { t } from './i18n.js';
import { sheetHead } from './sheets.js';
import { readToken } from './token.js';

const POLL_MS = 3000;

let root = null;
let mode = null; // 'member' | 'host' | null (a private room, or not joined yet)
let pollTimer = 0;
let card = null;
let ui = {};

function stop() {
  clearTimeout(pollTimer);
  if (card) card.stop();
}

// ---------------------------------------------------------------- members

function mountMember() {
  // A chip in the top bar (the bottom bar is full on a phone): it opens the sheet.
  const people = document.getElementById('people-btn');
  if (people && !document.getElementById('consult-btn')) {
    const chip = button('💬', () => {}, { className: 'chip', aria: t('consult.open_sheet') });
    chip.id = 'consult-btn';
    chip.dataset.openSheet = 'consult';
    chip.setAttribute('aria-controls', 'consult');
    chip.setAttribute('aria-expanded', 'false');
    people.before(chip);
  }
  root.classList.add('sheet');
  root.dataset.sheetName = 'consult';
  card = card || requestCard(readToken);
  root.replaceChildren(sheetHead(el('h2', null, t('consult.heading'))), card.node);
  card.resume();
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
  clearTimeout(pollTimer);
  pollTimer = setTimeout(inbox, POLL_MS);
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
    stop();
    root.hidden = mode === null;
    const chip = document.getElementById('consult-btn');
    if (chip) chip.hidden = mode !== 'member';
    if (mode === 'member') mountMember();
    else if (mode === 'host') mountHost();
  },
  onLeft() {
    stop();
  },
});
