// The operator's dashboard: reads /api/metrics with the admin key and draws it.
//
// The key is typed into the page and kept in this tab's sessionStorage only (never in a
// URL, never in localStorage). Everything that comes from the server is written with
// textContent: room ids, session ids and member names are data, not markup.
//
// Every string comes from the catalogs (i18n.js); numbers, money and times are formatted
// with Intl, every time in the reader's own time zone (named in the status line), and
// counts of people are charted on whole-number axes.

import {
  formatDateTime, formatMoney, formatNumber, formatPercent, formatTime, mountLanguageSwitch, t,
  tierName, timeZoneName, translatePage,
} from './i18n.js';

const KEY_STORAGE = 'salon.adminKey';
const REFRESH_MS = 30000;
const TIERS = ['core', 'active', 'potential', 'silent'];
const TIER_COLORS = { core: '#d9b36c', active: '#3fb27f', potential: '#6b9cff', silent: '#7d8594' };
const Chart = window.Chart;

const $ = (id) => document.getElementById(id);
const ui = {
  keyForm: $('key-form'), key: $('admin-key'), forget: $('forget-key'), status: $('status'),
  error: $('error'), board: $('board'), tierNow: $('tier-now'),
  funnelFigures: $('funnel-figures'), healthFigures: $('health-figures'),
  valueFigures: $('value-figures'), sessionsBody: document.querySelector('#sessions tbody'),
  noSessions: $('no-sessions'), detail: $('session-detail'), sessionTitle: $('session-title'),
  costForm: $('cost-form'), cost: $('cost'), memberForm: $('member-form'),
  memberId: $('member-id'), memberDetail: $('member-detail'), memberHead: $('member-head'),
  memberReason: $('member-reason'), memberFigures: $('member-figures'), memberRules: $('member-rules'),
};
const charts = {};
let selected = null;
let timer = null;

// ------------------------------------------------------------------ formatting

function percent(rate) {
  return rate === null || rate === undefined ? '–' : formatPercent(rate);
}

function number(value, digits = 2) {
  return value === null || value === undefined ? '–'
    : formatNumber(Number(value), { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function count(value) {
  return value === null || value === undefined ? '–' : formatNumber(Number(value));
}

function money(amount, currency) {
  return amount === null || amount === undefined ? '–' : formatMoney(amount, currency);
}

// A moment from the server (ISO, UTC) in the reader's time zone.
function shortTime(iso) {
  return iso ? formatDateTime(iso, { dateStyle: 'short', timeStyle: 'short' }) : '–';
}

// Whole numbers only on axes that count people or events.
const WHOLE = { precision: 0, stepSize: 1 };

function facts(dl, rows) {
  dl.replaceChildren();
  for (const [label, value] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = label;
    const dd = document.createElement('dd');
    dd.textContent = String(value);
    dl.append(dt, dd);
  }
}

// ------------------------------------------------------------------ fetching

class ApiError extends Error {}

async function api(path, options = {}) {
  const key = sessionStorage.getItem(KEY_STORAGE);
  const response = await fetch(path, {
    ...options,
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
    cache: 'no-store',
  });
  let body = null;
  try { body = await response.json(); } catch { body = null; }
  if (!response.ok) {
    const message = response.status === 401
      ? t('dash.unauthorized') : t('dash.server_answered', { status: response.status });
    if (response.status === 401) forgetKey();
    throw new ApiError(message);
  }
  return body;
}

function showError(err) {
  ui.error.textContent = err instanceof Error ? err.message : String(err);
}

// ------------------------------------------------------------------ charts

function chart(id, config) {
  if (charts[id]) {
    charts[id].data = config.data;
    charts[id].update('none');
    return charts[id];
  }
  const defaults = {
    responsive: true, maintainAspectRatio: false, animation: false,
    plugins: { legend: { labels: { color: '#e8eaef' } } },
    scales: {
      x: { ticks: { color: '#a3a9b6' }, grid: { color: '#2c313c' } },
      y: { ticks: { color: '#a3a9b6' }, grid: { color: '#2c313c' }, beginAtZero: true },
    },
  };
  charts[id] = new Chart($(id), { ...config, options: { ...defaults, ...(config.options || {}) } });
  return charts[id];
}

function drawTiers(tiers) {
  ui.tierNow.replaceChildren();
  for (const tier of TIERS) {
    const li = document.createElement('li');
    li.dataset.tier = tier;
    const strong = document.createElement('strong');
    strong.textContent = count(tiers.now[tier] ?? 0);
    li.append(strong, document.createTextNode(tierName(tier)));
    ui.tierNow.append(li);
  }
  // Hourly snapshots exist only for hours in which a tier changed; end with "now".
  const points = [...tiers.history, { hour: 'now', ...tiers.now }];
  chart('tier-chart', {
    type: 'line',
    data: {
      labels: points.map((p) => (p.hour === 'now' ? t('dash.now') : shortTime(p.hour))),
      datasets: TIERS.map((tier) => ({
        label: tierName(tier), data: points.map((p) => p[tier] ?? 0), stepped: true, fill: true,
        borderColor: TIER_COLORS[tier], backgroundColor: `${TIER_COLORS[tier]}55`,
      })),
    },
    options: { scales: { y: { stacked: true, beginAtZero: true, ticks: { color: '#a3a9b6', ...WHOLE } },
                         x: { ticks: { color: '#a3a9b6' } } } },
  });
}

function drawFunnel(f) {
  chart('funnel-chart', {
    type: 'bar',
    data: {
      labels: [t('dash.invited'), t('dash.joined'), t('dash.hook_visitors'), t('dash.became_members')],
      datasets: [{
        label: t('dash.people'), data: [f.invited, f.invited_joined, f.hook_visitors, f.hook_members],
        backgroundColor: ['#6b9cff', '#3fb27f', '#a3a9b6', '#d9b36c'],
      }],
    },
    options: {
      plugins: { legend: { display: false } },
      scales: {
        x: { ticks: { color: '#a3a9b6' }, grid: { color: '#2c313c' } },
        y: { beginAtZero: true, ticks: { color: '#a3a9b6', ...WHOLE }, grid: { color: '#2c313c' } },
      },
    },
  });
  facts(ui.funnelFigures, [
    [t('dash.invite_join'), percent(f.invite_join_rate)],
    [t('dash.hook_member'), percent(f.hook_member_rate)],
  ]);
}

function drawHealth(h) {
  const week = h.last_7_days;
  const month = h.last_30_days;
  facts(ui.healthFigures, [
    [t('dash.members'), count(h.members)],
    [t('dash.active_7'), percent(week.active_share)],
    [t('dash.active_30'), percent(month.active_share)],
    [t('dash.interaction_rate'), number(week.interactions_per_attendee_minute)],
    [t('dash.early_leaves', { seconds: h.early_leave_seconds }), percent(week.early_leave_rate)],
    [t('dash.silent_share'), percent(h.silent_share)],
  ]);
}

function drawValue(v) {
  facts(ui.valueFigures, [
    [t('dash.buyers'), count(v.buyers)],
    [t('dash.orders'), count(v.orders)],
    [t('dash.revenue'), money(v.revenue, v.currency)],
    [t('dash.repurchase_rate', { days: v.repurchase_window_days }), percent(v.repurchase_rate)],
    [t('dash.aov'), money(v.average_order_value, v.currency)],
    [t('dash.ltv'), money(v.ltv_per_buyer, v.currency)],
  ]);
}

function drawSessions(sessions) {
  ui.sessionsBody.replaceChildren();
  ui.noSessions.hidden = sessions.length > 0;
  for (const s of sessions) {
    const tr = document.createElement('tr');
    tr.dataset.session = s.session;
    tr.setAttribute('aria-selected', String(s.session === selected));
    const cells = [
      s.room_id, s.session.split(':').slice(1).join(':'), shortTime(s.started), count(s.attendees),
      percent(s.participation_rate), percent(s.conversion_rate), money(s.revenue, s.currency),
      money(s.cost, s.currency), s.roi === null ? '–' : percent(s.roi),
    ];
    for (const value of cells) {
      const td = document.createElement('td');
      td.textContent = String(value);
      tr.append(td);
    }
    const td = document.createElement('td');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = t('dash.timeline');
    button.setAttribute('aria-label', t('dash.timeline_of', { session: s.session }));
    button.addEventListener('click', () => openSession(s.session));
    td.append(button);
    tr.append(td);
    ui.sessionsBody.append(tr);
  }
}

async function openSession(name) {
  selected = name;
  for (const tr of ui.sessionsBody.querySelectorAll('tr')) {
    tr.setAttribute('aria-selected', String(tr.dataset.session === name));
  }
  try {
    const s = await api(`/api/metrics/sessions/${encodeURIComponent(name)}`);
    ui.detail.hidden = false;
    ui.sessionTitle.textContent = `${s.room_id} · ${shortTime(s.started)} · ${t('dash.attendees', { count: s.attendees })}`;
    ui.cost.value = s.cost ?? '';
    chart('timeline-chart', {
      type: 'bar',
      data: {
        labels: s.timeline.map((row) => formatTime(row.minute)),
        datasets: [
          { type: 'line', label: t('dash.interactions'), data: s.timeline.map((row) => row.interactions),
            borderColor: '#6b9cff', backgroundColor: '#6b9cff', yAxisID: 'y' },
          { label: t('dash.purchases'), data: s.timeline.map((row) => row.purchases),
            backgroundColor: '#d9b36c', yAxisID: 'y' },
          { label: t('dash.joins'), data: s.timeline.map((row) => row.joins),
            backgroundColor: '#3fb27f66', yAxisID: 'y' },
        ],
      },
      options: {
        scales: {
          x: { ticks: { color: '#a3a9b6' }, grid: { color: '#2c313c' } },
          y: { beginAtZero: true, ticks: { color: '#a3a9b6', ...WHOLE }, grid: { color: '#2c313c' } },
        },
      },
    });
  } catch (err) {
    showError(err);
  }
}

// ------------------------------------------------------------------ loading

async function refresh() {
  try {
    const m = await api('/api/metrics');
    ui.error.textContent = '';
    ui.board.hidden = false;
    drawTiers(m.tiers);
    drawFunnel(m.funnel);
    drawHealth(m.health);
    drawValue(m.value);
    drawSessions(m.sessions);
    if (selected === null && m.sessions.length) await openSession(m.sessions[0].session);
    ui.status.textContent = t('dash.updated', { time: formatTime(new Date()), zone: timeZoneName() });
  } catch (err) {
    showError(err);
  }
}

function start() {
  ui.forget.hidden = false;
  ui.key.value = '';
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
  refresh();
}

function forgetKey() {
  sessionStorage.removeItem(KEY_STORAGE);
  clearInterval(timer);
  ui.forget.hidden = true;
  ui.board.hidden = true;
  ui.status.textContent = t('dash.enter_key');
}

ui.keyForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const key = ui.key.value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  start();
});

ui.forget.addEventListener('click', forgetKey);

ui.costForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  if (!selected) return;
  try {
    await api(`/api/metrics/sessions/${encodeURIComponent(selected)}/cost`, {
      method: 'PUT', body: JSON.stringify({ cost: ui.cost.value.trim() }),
    });
    await refresh();
    await openSession(selected);
  } catch (err) {
    showError(err);
  }
});

ui.memberForm.addEventListener('submit', async (e) => {
  e.preventDefault();
  const id = ui.memberId.value.trim();
  if (!id) return;
  try {
    const m = await api(`/api/members/${encodeURIComponent(id)}/explain`);
    ui.error.textContent = '';
    ui.memberDetail.hidden = false;
    const mode = m.mode === 'pinned' ? t('dash.mode_pinned') : t('dash.mode_scored');
    ui.memberHead.textContent = `${m.name} (${m.member_id}): ${m.tier ? tierName(m.tier) : t('dash.not_member')}, ${mode}`;
    ui.memberReason.textContent = m.verdict.reason;
    const r = m.rfm;
    facts(ui.memberFigures, [
      [t('dash.score'), number(m.score, 1)],
      [t('dash.orders'), count(r.frequency)],
      [t('dash.ltv_member'), money(r.ltv, r.currency)],
      [t('dash.average_order'), money(r.average_order_value, r.currency)],
      [t('dash.days_since'), count(r.recency_days)],
      [t('dash.repurchases', { days: r.repurchase_window_days }), count(r.repurchases)],
      [t('dash.last_active'), shortTime(m.activity.last_active)],
    ]);
    ui.memberRules.replaceChildren();
    for (const rule of m.verdict.rules) {
      const li = document.createElement('li');
      li.dataset.matched = String(rule.matched);
      const conditions = rule.conditions
        .map((c) => `${c.condition} ${c.have} (${t('dash.needs', { need: c.need })}) ${c.ok ? '✓' : '✗'}`)
        .join('; ');
      li.textContent = `${rule.matched ? '▶ ' : ''}${tierName(rule.tier)}: ${conditions || t('dash.everyone_else')}`;
      ui.memberRules.append(li);
    }
  } catch (err) {
    showError(err);
  }
});

translatePage();
mountLanguageSwitch(document.getElementById('lang-slot'));
if (!Chart) {
  showError(t('dash.no_chart'));
} else if (sessionStorage.getItem(KEY_STORAGE)) {
  start();
} else {
  forgetKey();
}
