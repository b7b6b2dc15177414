// The operator's dashboard: reads /api/metrics with the admin key and draws it.
//
// The key is typed into the page and kept in this tab's sessionStorage only (never in a
// URL, never in localStorage). Everything that comes from the server is written with
// textContent: room ids, session ids and member names are data, not markup.

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
  return rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)} %`;
}

function number(value, digits = 2) {
  return value === null || value === undefined ? '–' : Number(value).toFixed(digits);
}

function money(amount, currency) {
  return amount === null || amount === undefined ? '–' : `${amount} ${currency || ''}`.trim();
}

function shortTime(iso) {
  return iso ? iso.replace('T', ' ').replace(/:\d\dZ$/, ' UTC') : '–';
}

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
    const message = body && body.error ? body.error.message : `The server answered ${response.status}.`;
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
    strong.textContent = String(tiers.now[tier] ?? 0);
    li.append(strong, document.createTextNode(tier));
    ui.tierNow.append(li);
  }
  // Hourly snapshots exist only for hours in which a tier changed; end with "now".
  const points = [...tiers.history, { hour: 'now', ...tiers.now }];
  chart('tier-chart', {
    type: 'line',
    data: {
      labels: points.map((p) => (p.hour === 'now' ? 'now' : shortTime(p.hour))),
      datasets: TIERS.map((tier) => ({
        label: tier, data: points.map((p) => p[tier] ?? 0), stepped: true, fill: true,
        borderColor: TIER_COLORS[tier], backgroundColor: `${TIER_COLORS[tier]}55`,
      })),
    },
    options: { scales: { y: { stacked: true, beginAtZero: true, ticks: { color: '#a3a9b6', precision: 0 } },
                         x: { ticks: { color: '#a3a9b6' } } } },
  });
}

function drawFunnel(f) {
  chart('funnel-chart', {
    type: 'bar',
    data: {
      labels: ['Invited', 'Joined', 'Hook visitors', 'Became members'],
      datasets: [{
        label: 'people', data: [f.invited, f.invited_joined, f.hook_visitors, f.hook_members],
        backgroundColor: ['#6b9cff', '#3fb27f', '#a3a9b6', '#d9b36c'],
      }],
    },
    options: { plugins: { legend: { display: false } } },
  });
  facts(ui.funnelFigures, [
    ['Invite → join', percent(f.invite_join_rate)],
    ['Hook link → member', percent(f.hook_member_rate)],
  ]);
}

function drawHealth(h) {
  const week = h.last_7_days;
  const month = h.last_30_days;
  facts(ui.healthFigures, [
    ['Members', h.members],
    ['Active in the last 7 days', percent(week.active_share)],
    ['Active in the last 30 days', percent(month.active_share)],
    ['Interactions per attendee-minute (7 days)', number(week.interactions_per_attendee_minute)],
    [`Early leaves, under ${h.early_leave_seconds} s (7 days)`, percent(week.early_leave_rate)],
    ['Silent members', percent(h.silent_share)],
  ]);
}

function drawValue(v) {
  facts(ui.valueFigures, [
    ['Buyers', v.buyers],
    ['Orders', v.orders],
    ['Revenue', money(v.revenue, v.currency)],
    [`Repurchase rate (within ${v.repurchase_window_days} days)`, percent(v.repurchase_rate)],
    ['Average order value', money(v.average_order_value, v.currency)],
    ['LTV per buyer', money(v.ltv_per_buyer, v.currency)],
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
      s.room_id, s.session.split(':').slice(1).join(':'), shortTime(s.started), s.attendees,
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
    button.textContent = 'Timeline';
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
    ui.sessionTitle.textContent = `${s.room_id} · ${shortTime(s.started)} · ${s.attendees} attendees`;
    ui.cost.value = s.cost ?? '';
    chart('timeline-chart', {
      type: 'bar',
      data: {
        labels: s.timeline.map((t) => shortTime(t.minute).slice(11)),
        datasets: [
          { type: 'line', label: 'interactions', data: s.timeline.map((t) => t.interactions),
            borderColor: '#6b9cff', backgroundColor: '#6b9cff', yAxisID: 'y' },
          { label: 'purchases', data: s.timeline.map((t) => t.purchases),
            backgroundColor: '#d9b36c', yAxisID: 'y' },
          { label: 'joins', data: s.timeline.map((t) => t.joins),
            backgroundColor: '#3fb27f66', yAxisID: 'y' },
        ],
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
    ui.status.textContent = `Updated ${new Date().toLocaleTimeString()}`;
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
  ui.status.textContent = 'Enter the admin key to see the metrics.';
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
    const mode = m.mode === 'pinned' ? 'set by an operator' : 'decided by scoring';
    ui.memberHead.textContent = `${m.name} (${m.member_id}): ${m.tier ?? 'not a member'}, ${mode}`;
    ui.memberReason.textContent = m.verdict.reason;
    const r = m.rfm;
    facts(ui.memberFigures, [
      ['Score', number(m.score, 1)],
      ['Orders', r.frequency],
      ['LTV', money(r.ltv, r.currency)],
      ['Average order', money(r.average_order_value, r.currency)],
      ['Days since last order', r.recency_days ?? '–'],
      [`Repurchases within ${r.repurchase_window_days} days`, r.repurchases],
      ['Last active', shortTime(m.activity.last_active)],
    ]);
    ui.memberRules.replaceChildren();
    for (const rule of m.verdict.rules) {
      const li = document.createElement('li');
      li.dataset.matched = String(rule.matched);
      const conditions = rule.conditions
        .map((c) => `${c.condition} ${c.have} (needs ${c.need}) ${c.ok ? '✓' : '✗'}`)
        .join('; ');
      li.textContent = `${rule.matched ? '▶ ' : ''}${rule.tier}: ${conditions || 'everyone else'}`;
      ui.memberRules.append(li);
    }
  } catch (err) {
    showError(err);
  }
});

if (!Chart) {
  showError('The chart library did not load.');
} else if (sessionStorage.getItem(KEY_STORAGE)) {
  start();
} else {
  forgetKey();
}
