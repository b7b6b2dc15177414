// The dashboard's hook-link funnel of the last scheduled sessions: for each, what its hook
// links brought (visits, registrations, RSVPs, joined, bought), as a chart and a table
// (GET /api/sessions, /api/hooks, /api/metrics/hooks).
//
// A session's figures are the sum of its links' (a member who came through two links of
// one session counts once per link). Times are in the reader's zone, strings from the
// catalogs, counts on whole-number axes. It reads the admin key the dashboard keeps in
// this tab's sessionStorage; everything from the server is written with textContent.

import { formatDateTime, formatNumber, formatPercent, t } from './i18n.js';

const KEY_STORAGE = 'salon.adminKey';
const REFRESH_MS = 30000;
const LAST = 5; // sessions shown, the latest start first
const STEPS = ['visits', 'registrations', 'rsvps', 'joined', 'bought'];
const COLORS = ['#a3a9b6', '#6b9cff', '#9b7bff', '#3fb27f', '#d9b36c'];
const Chart = window.Chart;

const panel = document.getElementById('hooks-panel');
let chart = null;

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = String(text);
  return node;
}

async function get(path, key) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// The last sessions, each with its links' figures summed.
function lastSessions(sessions, links, figures, last = LAST) {
  const byCode = new Map(figures.map((f) => [f.code, f]));
  return [...sessions]
    .sort((a, b) => b.starts_ms - a.starts_ms)
    .slice(0, last)
    .map((session) => {
      const mine = links.filter((link) => link.session_id === session.id);
      const sums = Object.fromEntries(STEPS.map((step) => [step, 0]));
      for (const link of mine) {
        const f = byCode.get(link.code) || {};
        for (const step of STEPS) sums[step] += Number(f[step]) || 0;
      }
      return { session, links: mine.length, ...sums };
    });
}

function drawChart(rows) {
  if (!Chart) return;
  const data = {
    labels: rows.map((r) => r.session.title),
    datasets: STEPS.map((step, i) => ({
      label: t(`dash.hooks_${step}`), data: rows.map((r) => r[step]), backgroundColor: COLORS[i],
    })),
  };
  if (chart) {
    chart.data = data;
    chart.update('none');
    return;
  }
  chart = new Chart(document.getElementById('hooks-chart'), {
    type: 'bar',
    data,
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { labels: { color: '#e8eaef' } } },
      scales: {
        x: { ticks: { color: '#a3a9b6' }, grid: { color: '#2c313c' } },
        // Counts of people: whole numbers only.
        y: { beginAtZero: true, ticks: { color: '#a3a9b6', precision: 0, stepSize: 1 }, grid: { color: '#2c313c' } },
      },
    },
  });
}

function drawTable(rows) {
  const table = document.getElementById('hooks-table');
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement('tr');
    tr.dataset.session = r.session.id;
    const rate = r.visits ? formatPercent(r.joined / r.visits) : '–';
    tr.append(
      cell('td', r.session.title),
      cell('td', formatDateTime(r.session.starts_ms, { dateStyle: 'short', timeStyle: 'short' })),
      cell('td', formatNumber(r.links)),
      ...STEPS.map((step) => cell('td', formatNumber(r[step]))),
      cell('td', rate),
    );
    body.append(tr);
  }
  document.getElementById('no-hooks').hidden = rows.length > 0;
  table.hidden = rows.length === 0;
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!panel || !key) return;
  try {
    const [sessions, links, funnel] = await Promise.all([
      get('/api/sessions', key), get('/api/hooks', key), get('/api/metrics/hooks', key),
    ]);
    const rows = lastSessions(sessions.sessions, links.links, funnel.links);
    panel.hidden = false;
    drawTable(rows);
    drawChart(rows);
  } catch (err) {
    console.warn('[salon] hook funnel panel', err);
  }
}

const form = document.getElementById('key-form');
if (form) form.addEventListener('submit', () => setTimeout(refresh, 500));
setInterval(refresh, REFRESH_MS);
refresh();
