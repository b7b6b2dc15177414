// The dashboard's rewards panel: points issued and redeemed, check-ins, and each
// coupon's claims and redemptions per drop (GET /api/metrics/rewards, /api/coupons).
//
// It reads the admin key the dashboard keeps in this tab's sessionStorage and refreshes
// with it; everything from the server is written with textContent.

const KEY_STORAGE = 'salon.adminKey';
const REFRESH_MS = 30000;
const T = {
  heading: 'Rewards',
  totals: [
    ['points_issued', 'Points issued'], ['points_redeemed', 'Points redeemed'],
    ['checkins', 'Check-ins'], ['coupons', 'Coupons'], ['claimed', 'Coupons claimed'],
    ['redeemed', 'Coupons redeemed'], ['draws', 'Lucky draws'], ['draw_entrants', 'Draw entrants'],
    ['quizzes', 'Quizzes'], ['quiz_answers', 'Quiz answers'], ['quiz_correct', 'Right answers'],
  ],
  columns: ['Coupon', 'Drop', 'Room', 'Claims', 'Redeemed', 'Discount'],
  none: 'No coupons yet.',
};

const panel = document.getElementById('rewards-panel');

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text === null || text === undefined ? '–' : String(text);
  return node;
}

async function get(path, key) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` } });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function render(totals, coupons) {
  const heading = cell('h2', T.heading);
  heading.id = 'rewards-title';
  const facts = document.createElement('dl');
  facts.className = 'facts';
  for (const [field, label] of T.totals) facts.append(cell('dt', label), cell('dd', totals[field]));
  const table = document.createElement('table');
  table.className = 'sessions';
  table.setAttribute('aria-label', 'Coupons per drop');
  const head = document.createElement('tr');
  for (const name of T.columns) head.append(cell('th', name));
  const body = document.createElement('tbody');
  for (const coupon of coupons) {
    for (const drop of coupon.drops.length ? coupon.drops : [{}]) {
      const row = document.createElement('tr');
      row.append(cell('td', coupon.coupon.title), cell('td', drop.id), cell('td', drop.room),
        cell('td', drop.claims), cell('td', drop.redeemed), cell('td', drop.discount));
      body.append(row);
    }
  }
  table.append(document.createElement('thead'), body);
  table.tHead.append(head);
  panel.replaceChildren(heading, facts, coupons.length ? table : cell('p', T.none));
  panel.hidden = false;
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!panel || !key) return;
  try {
    const [totals, coupons] = await Promise.all([
      get('/api/metrics/rewards', key), get('/api/coupons', key),
    ]);
    render(totals, coupons.coupons);
  } catch (err) {
    console.warn('[salon] rewards panel', err);
  }
}

const form = document.getElementById('key-form');
if (form) form.addEventListener('submit', () => setTimeout(refresh, 500));
setInterval(refresh, REFRESH_MS);
refresh();
