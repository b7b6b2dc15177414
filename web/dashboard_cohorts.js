// The dashboard's member-level panels (issue 14): score distribution per tier, cohorts by
// join month (retention, potential → buyer conversion, days to second purchase), time to
// second purchase, and the at-risk list with the value at stake
// (GET /api/metrics/cohorts, /api/metrics/at-risk).
//
// Strings from the catalogs, numbers and money with Intl, counts of people on
// whole-number axes. It reads the admin key the dashboard keeps in this tab's
// sessionStorage; everything from the server is written with textContent.

import { formatMoney, formatNumber, formatPercent, t, tierName } from './i18n.js';

const KEY_STORAGE = 'salon.adminKey';
const REFRESH_MS = 30000;
const TIERS = ['core', 'active', 'potential', 'silent'];
const TIER_COLORS = { core: '#d9b36c', active: '#3fb27f', potential: '#6b9cff', silent: '#7d8594' };
const RISK_SHOWN = 10;
const Chart = window.Chart;

const $ = (id) => document.getElementById(id);
let chart = null;

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = String(text);
  return node;
}

function score(value) {
  return value === null || value === undefined ? '–'
    : formatNumber(value, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
}

function percent(rate) {
  return rate === null || rate === undefined ? '–' : formatPercent(rate);
}

function days(value) {
  return value === null || value === undefined ? '–' : t('dash.days', { n: value });
}

function facts(list, pairs) {
  list.replaceChildren();
  for (const [name, value, key] of pairs) {
    const dt = cell('dt', name);
    const dd = cell('dd', value);
    dd.dataset.fact = key;
    list.append(dt, dd);
  }
}

async function get(path, key) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${key}` }, cache: 'no-store' });
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

// A bucket's label: "0–1", …, "100+".
function bucketLabels(edges) {
  return edges.map((edge, i) => (i + 1 < edges.length
    ? `${formatNumber(edge)}–${formatNumber(edges[i + 1])}` : `${formatNumber(edge)}+`));
}

function drawScores(data) {
  const body = $('scores-table').tBodies[0];
  body.replaceChildren();
  for (const tier of TIERS) {
    const f = data.score_by_tier[tier];
    if (!f) continue;
    const tr = document.createElement('tr');
    tr.dataset.tier = tier;
    tr.append(
      cell('th', tierName(tier)), cell('td', formatNumber(f.members)), cell('td', score(f.p25)),
      cell('td', score(f.median)), cell('td', score(f.p75)), cell('td', score(f.max)),
    );
    tr.firstChild.scope = 'row';
    body.append(tr);
  }
  if (!Chart) return;
  const chartData = {
    labels: bucketLabels(data.score_edges),
    datasets: TIERS.filter((tier) => data.score_by_tier[tier]).map((tier) => ({
      label: tierName(tier), data: data.score_by_tier[tier].buckets, backgroundColor: TIER_COLORS[tier],
    })),
  };
  if (chart) {
    chart.data = chartData;
    chart.update('none');
    return;
  }
  chart = new Chart($('scores-chart'), {
    type: 'bar',
    data: chartData,
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { labels: { color: '#e8eaef' } } },
      scales: {
        x: { stacked: true, ticks: { color: '#a3a9b6' }, grid: { color: '#2c313c' } },
        y: { stacked: true, beginAtZero: true, ticks: { color: '#a3a9b6', precision: 0 }, grid: { color: '#2c313c' } },
      },
    },
  });
}

function drawCohorts(data) {
  const body = $('cohorts-table').tBodies[0];
  body.replaceChildren();
  for (const c of data.cohorts) {
    const tr = document.createElement('tr');
    tr.dataset.month = c.month;
    tr.append(
      cell('th', c.month === 'unknown' ? t('dash.month_unknown') : c.month),
      cell('td', formatNumber(c.members)),
      cell('td', `${percent(c.retention)} (${formatNumber(c.retained)})`),
      cell('td', `${percent(c.conversion)} (${formatNumber(c.buyers)})`),
      cell('td', formatNumber(c.repeat_buyers)),
      cell('td', days(c.median_days_to_second)),
    );
    tr.firstChild.scope = 'row';
    body.append(tr);
  }
  $('no-cohorts').hidden = data.cohorts.length > 0;
  $('cohorts-table').hidden = data.cohorts.length === 0;
}

function drawSecond(data) {
  const s = data.second_purchase;
  const within = s.within_days.map((limit, i) => [
    t('dash.second_within', { n: limit }), formatNumber(s.counts[i]), `within_${limit}`,
  ]);
  facts($('second-figures'), [
    [t('dash.second_buyers'), formatNumber(s.buyers), 'buyers'],
    [t('dash.second_repeat'), `${formatNumber(s.repeat_buyers)} (${percent(s.repeat_rate)})`, 'repeat'],
    [t('dash.second_median'), days(s.median_days), 'median'],
    ...within,
    [t('dash.second_later', { n: s.within_days[s.within_days.length - 1] }),
      formatNumber(s.counts[s.counts.length - 1]), 'later'],
  ]);
}

function drawRisk(risk) {
  facts($('risk-figures'), [
    [t('dash.risk_members'), formatNumber(risk.members), 'members'],
    [t('dash.risk_value', { days: risk.window_days }), formatMoney(risk.value_at_stake, risk.currency), 'value'],
  ]);
  const body = $('risk-table').tBodies[0];
  body.replaceChildren();
  for (const row of risk.top.slice(0, RISK_SHOWN)) {
    const tr = document.createElement('tr');
    tr.dataset.member = row.member_id;
    tr.append(cell('td', row.member_id), cell('td', formatMoney(row.value_in_window, risk.currency)));
    body.append(tr);
  }
  $('risk-table').hidden = risk.top.length === 0;
}

async function refresh() {
  const key = sessionStorage.getItem(KEY_STORAGE);
  if (!key || !$('scores-panel')) return;
  try {
    const [cohorts, risk] = await Promise.all([
      get('/api/metrics/cohorts', key), get(`/api/metrics/at-risk?limit=${RISK_SHOWN}`, key),
    ]);
    for (const id of ['scores-panel', 'cohorts-panel', 'second-panel', 'risk-panel']) $(id).hidden = false;
    drawScores(cohorts);
    drawCohorts(cohorts);
    drawSecond(cohorts);
    drawRisk(risk);
  } catch (err) {
    console.warn('[salon] cohort panels', err);
  }
}

const form = $('key-form');
if (form) form.addEventListener('submit', () => setTimeout(refresh, 500));
setInterval(refresh, REFRESH_MS);
refresh();
