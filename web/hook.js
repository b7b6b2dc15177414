// The hook-link page (/r/CODE): shows the scheduled session in the visitor's time zone,
// counts the visit, lets a member RSVP (with the token of their member link, or by
// registering when the link allows it), shows the link's coupon (its title, then the
// member's code after the RSVP) and turns into the live room's link at the start.
// Strings come from the page catalogs (web/i18n/LANG.json, keys hook.*) through t().

import { requestCard } from './consult_request.js';
import { button, el, labelled } from './dom.js';
import { formatDateTime, has, mountLanguageSwitch, t, translatePage } from './i18n.js';

// The session's state as the page says it (literal keys, so the catalog test finds them).
const STATES = {
  upcoming: () => t('hook.upcoming'),
  live: () => t('hook.live'),
  over: () => t('hook.over'),
};

const code = decodeURIComponent(location.pathname.split('/').pop() || '');
const tokenKey = `salon.hook.${code}.token`;
const $ = (id) => document.getElementById(id);

function visitorId() {
  let id = localStorage.getItem('salon.visitor');
  if (!id) {
    const bytes = crypto.getRandomValues(new Uint8Array(8));
    id = 'v-' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
    localStorage.setItem('salon.visitor', id);
  }
  return id;
}

// A token in the link is kept for this code and taken out of the address bar.
const params = new URLSearchParams(location.search);
if (params.get('token')) {
  localStorage.setItem(tokenKey, params.get('token'));
  history.replaceState(null, '', location.pathname);
}
const token = () => localStorage.getItem(tokenKey);

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(refusal(data.error));
  return data;
}

// A refusal in the reader's language when the catalog knows its code, else the server's
// English sentence.
function refusal(error) {
  const code = typeof error?.code === 'string' ? error.code : '';
  if (code && has(`hook.error.${code}`)) return t(`hook.error.${code}`, error);
  return error?.message || t('hook.failed');
}

function showError(message) {
  const box = $('hook-error');
  box.textContent = message;
  box.hidden = !message;
}

// dateStyle/timeStyle cannot be combined with timeZoneName: spell the fields out.
const WHEN = {
  weekday: 'long',
  year: 'numeric',
  month: 'long',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
  timeZoneName: 'short',
};

// A coupon's refusal as the page says it (literal keys, so the catalog test finds them).
const COUPON_REFUSALS = {
  sold_out: () => t('hook.coupon_error.sold_out'),
  expired: () => t('hook.coupon_error.expired'),
  claim_limit: () => t('hook.coupon_error.claim_limit'),
  not_eligible: () => t('hook.coupon_error.not_eligible'),
};

// The link's coupon: its title before the RSVP, the member's code (or why none) after.
// Everything is set as text.
function renderCoupon(view) {
  const box = $('hook-coupon');
  const mine = view.member?.coupon;
  box.replaceChildren();
  if (mine?.code) {
    box.append(
      el('p', 'hook-coupon-code', t('hook.coupon', { code: mine.code })),
      el('p', 'muted', t('hook.coupon_detail', { title: mine.title, value: mine.value })),
    );
  } else if (mine?.refused) {
    const reason = COUPON_REFUSALS[mine.refused.code]?.() ?? mine.refused.message;
    box.append(el('p', 'hook-coupon-refused', t('hook.coupon_refused', { reason })));
  } else if (view.coupon && view.state !== 'over') {
    box.append(el('p', 'hook-coupon-offer', t('hook.coupon_offer', { title: view.coupon.title })));
  }
  box.hidden = !box.childElementCount;
}

let pollTimer = null;

function render(view) {
  const s = view.session;
  document.title = s.title;
  $('hook-title').textContent = s.title;
  $('hook-time').textContent = formatDateTime(s.starts_ms, WHEN);
  $('hook-time').dataset.startsMs = String(s.starts_ms);
  const cover = $('hook-cover');
  if (s.cover_url) {
    cover.src = s.cover_url;
    cover.hidden = false;
  }
  $('hook-state').textContent = `${STATES[view.state]?.() ?? ''} ${t('hook.spots', { taken: view.rsvps, capacity: s.capacity })}`;
  $('hook-state').dataset.state = view.state;
  $('hook-who').textContent = view.member ? t('hook.signed_in', { name: view.member.name }) : '';
  renderCoupon(view);
  const actions = $('hook-actions');
  actions.replaceChildren();
  if (view.state === 'over') return;
  if (view.member) mountConsult();
  if (view.state === 'live' && view.member) {
    const join = el('a', 'hook-join', t('hook.join'));
    join.href = `/rooms/${encodeURIComponent(s.room_id)}?token=${encodeURIComponent(token())}`;
    actions.append(join);
    return;
  }
  if (view.member?.rsvped) {
    actions.append(el('p', 'hook-rsvped', t('hook.rsvped')));
  } else if (view.member) {
    actions.append(button(t('hook.rsvp'), () => act(() => call('POST', `/api/hooks/${code}/rsvp`, { token: token() }))));
  } else if (view.registration) {
    const input = el('input');
    input.autocomplete = 'name';
    input.maxLength = 64;
    actions.append(labelled(t('hook.name'), input), button(t('hook.register'), () => act(async () => {
      const made = await call('POST', `/api/hooks/${code}/register`, { name: input.value });
      localStorage.setItem(tokenKey, made.token);
      await call('POST', `/api/hooks/${code}/rsvp`, { token: made.token });
    })));
  } else {
    actions.append(el('p', 'muted', t('hook.member_only')));
  }
}

// Built once (a refresh must not lose a note being typed).
function mountConsult() {
  const box = $('hook-consult');
  if (box.childElementCount) return;
  const heading = el('h2', null, t('consult.heading'));
  heading.id = 'hook-consult-heading';
  box.append(heading, requestCard(token).node);
  box.hidden = false;
}

async function act(work) {
  showError('');
  try {
    await work();
  } catch (err) {
    showError(err.message);
  }
  await refresh();
}

async function refresh() {
  clearTimeout(pollTimer);
  let view;
  try {
    const query = token() ? `?token=${encodeURIComponent(token())}` : '';
    view = await call('GET', `/api/hooks/${encodeURIComponent(code)}${query}`);
  } catch (err) {
    showError(err.message);
    pollTimer = setTimeout(refresh, 10000);
    return;
  }
  render(view);
  if (view.state === 'upcoming') {
    // Look again at the start (by the server's clock), and at least every 30 s.
    const wait = Math.min(30000, Math.max(500, view.session.starts_ms - view.now_ms + 200));
    pollTimer = setTimeout(refresh, wait);
  } else if (view.state === 'live') {
    pollTimer = setTimeout(refresh, 30000);
  }
}

async function start() {
  translatePage();
  mountLanguageSwitch($('lang-slot'));
  const body = token() ? { token: token() } : { visitor: visitorId() };
  call('POST', `/api/hooks/${encodeURIComponent(code)}/visit`, body).catch(() => {});
  await refresh();
}

start();
