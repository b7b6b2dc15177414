// A member's request for a 1:1 consultation (server/http/consult.py): the note, the
// button, what became of the request (asked again every few seconds) and, once an advisor
// accepted, the link to the private room. Used by the room page's Advisor sheet
// (web/consult.js) and the hook-link page (web/hook.js); also the REST helpers both share.
// Text from people goes on the page with textContent only.

import { button, el, labelled } from './dom.js';
import { formatList, has, t } from './i18n.js';

const POLL_MS = 3000;
const NOTE_MAX = 500;

export class Refusal extends Error {
  constructor(error) {
    super(error?.message || t('consult.failed'));
    this.code = typeof error?.code === 'string' ? error.code : '';
    this.params = error?.params || {};
  }
}

export async function call(method, path, body) {
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
export function refusalText(err) {
  const code = err instanceof Refusal ? err.code : '';
  if (code && has(`consult.error.${code}`)) {
    const params = { ...err.params };
    if (Array.isArray(params.tiers)) params.tiers = formatList(params.tiers.map((x) => t(`tier.${x}`)));
    return t(`consult.error.${code}`, params);
  }
  return err?.message || t('consult.failed');
}

// Only links to a room page on this server are followed.
export function roomLink(text) {
  try {
    const url = new URL(String(text), window.location.href);
    return url.origin === window.location.origin && url.pathname.startsWith('/rooms/') ? url.href : null;
  } catch {
    return null;
  }
}

// The request card; `token()` gives the page's member token. `stop()` ends the polling.
export function requestCard(token) {
  let requestId = null;
  let timer = 0;
  const note = el('textarea', 'consult-note');
  note.maxLength = NOTE_MAX;
  note.rows = 3;
  const ask = button(t('consult.request'), () => request(), { className: 'primary' });
  const status = el('p', 'consult-status');
  status.setAttribute('role', 'status');
  const link = el('a', 'button-link primary consult-join', t('consult.join'));
  link.hidden = true;
  const node = el('div', 'consult-card');
  node.append(el('p', 'muted', t('consult.intro')), labelled(t('consult.note'), note), ask, status, link);

  function later(fn) {
    clearTimeout(timer);
    timer = setTimeout(fn, POLL_MS);
  }

  async function request() {
    ask.disabled = true;
    status.textContent = '';
    try {
      const made = await call('POST', '/api/consultations', { token: token(), note: note.value });
      requestId = made.consultation.id;
      note.value = '';
      show(made.consultation, null);
    } catch (err) {
      if (err instanceof Refusal && err.code === 'already_requested' && err.params.id) {
        requestId = err.params.id;
        follow();
        return;
      }
      status.textContent = refusalText(err);
      ask.disabled = false;
    }
  }

  function show(consultation, roomHref) {
    const state = consultation.status;
    const href = roomHref ? roomLink(roomHref) : null;
    status.textContent = t(`consult.state.${state}`);
    link.hidden = !href;
    if (href) link.href = href;
    // Pending or accepted: one request at a time; declined or ended: ask again.
    ask.disabled = state === 'pending' || state === 'accepted';
    if (state === 'pending' || (state === 'accepted' && !href)) later(follow);
  }

  async function follow() {
    if (!requestId) return;
    const path = `/api/consultations/${encodeURIComponent(requestId)}?token=${encodeURIComponent(token())}`;
    try {
      const seen = await call('GET', path);
      show(seen.consultation, seen.link);
    } catch (err) {
      status.textContent = refusalText(err);
      later(follow);
    }
  }

  return { node, stop: () => clearTimeout(timer), resume: () => follow() };
}
