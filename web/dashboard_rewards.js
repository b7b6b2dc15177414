// The dashboard's rewards panel: points issued and redeemed, check-ins, and each
// coupon's claims and redemptions per drop (GET /api/metrics/rewards, /api/coupons).
//
// Every string comes from the catalogs (i18n.js); counts, the discount (in the rules'
// currency, read once from /api/metrics) and each drop's time (in the reader's own time
// zone) are formatted with Intl. It reads the admin key the dashboard keeps in this
// tab's sessionStorage and refreshes with it; everything from the server is written with
// textContent.

import { formatDateTime, formatMoney, formatNumber, t } from './i18n.js';

const KEY_STORAGE = 'salon.adminKey';
const REFRESH_MS = 30000;
// /api/metrics/rewards field -> catalog key of its label.
const TOTALS = [
  ['points_issued', 'dash.rw_points_issued'], ['points_redeemed', 'dash.rw_points_redeemed'],
  ['checkins', 'dash.rw_checkins'], ['coupons', 'dash.rw_coupons'],
  ['claimed', 'dash.rw_claimed'], ['redeemed', 'dash.rw_redeemed'],
  ['draws', 'dash.rw_draws'], ['draw_entrants', 'dash.rw_draw_entrants'],
  ['quizzes', 'dash.rw_quizzes'], ['quiz_answers', 'dash.rw_quiz_answers'],
  ['quiz_correct', 'dash.rw_quiz_correct'],
];
const COLUMNS = [
  'dash.rw_col_coupon', 'dash.rw_col_drop', 'dash.rw_col_room', 'dash.rw_col_claims',
  'dash.rw_col_redeemed', 'dash.rw_col_discount', 'dash.rw_col_dropped',
];

const panel = document.getElementById('rewards-panel');
let currency = null; // the rules' currency, once /api/metrics has named it

const missing = (value) => value === null || value === undefined;
const count = (value) => (missing(value) ? '–' : formatNumber(Number(value)));
const money = (amount) => (missing(amount) ? '–' : formatMoney(amount, currency));
const when = (ms) => (missing(ms) ? '–' : formatDateTime(Number(ms), { dateStyle: 'short', timeStyle: 'short' }));

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = missing(text) ? '–' : String(text);
  return node;
}

async function get(path, key) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function render(totals, coupons) {
  const heading = cell('h2', t('dash.rw_heading'));
  heading.id = 'rewards-title';
  const facts = document.createElement('dl');
  facts.className = 'facts';
  for (const [field, label] of TOTALS) facts.append(cell('dt', t(label)), cell('dd', count(totals[field])));
  const table = document.createElement('table');
  table.className = 'sessions';
  table.setAttribute('aria-label', t('dash.rw_table'));
  const head = document.createElement('tr');
  for (const name of COLUMNS) head.append(cell('th', t(name)));
  const body = document.createElement('tbody');
  for (const coupon of coupons) {
    for (const drop of coupon.drops.length ? coupon.drops : [{}]) {
      const row = document.createElement('tr');
      row.append(cell('td', coupon.coupon.title), cell('td', drop.id), cell('td', drop.room),
        cell('td', count(drop.claims)), cell('td', count(drop.redeemed)),
        cell('td', money(drop.discount)), cell('td', when(drop.at)));
      body.append(row);
    }
  }
  table.append(document.createElement('thead'), body);
  table.tHead.append(head);
  panel.replaceChildren(heading, facts, coupons.length ? table : cell('p', t('dash.rw_none')));
  panel.hidden = false;
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!panel || !key) return;
  try {
    const [totals, coupons, metrics] = await Promise.all([
      get('/api/metrics/rewards', key), get('/api/coupons', key),
      currency === null ? get('/api/metrics', key) : Promise.resolve(null),
    ]);
    if (metrics) currency = metrics.value?.currency ?? null;
    render(totals, coupons.coupons);
  } catch (err) {
    console.warn('[salon] rewards panel', err);
  }
}

const form = document.getElementById('key-form');
if (form) form.addEventListener('submit', () => setTimeout(refresh, 500));
setInterval(refresh, REFRESH_MS);
refresh();
