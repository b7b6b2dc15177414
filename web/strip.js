// The session's figures so far (the host console's live strip under the video, and the
// top of a co-host's Activity sheet): people in the room, questions waiting, product clicks, purchases and revenue,
// tier changes. interactions.js owns the state (rebuilt from the server's session
// summary after a reload) and calls in here with `ix`.

import { el } from './dom.js';
import { formatMoney, formatNumber, t } from './i18n.js';

function figure(key, value) {
  const item = el('li', 'strip-figure');
  item.dataset.figure = key;
  item.append(el('strong', 'strip-value', value), el('span', 'strip-label', t(`strip.${key}`)));
  return item;
}

// Revenue per currency, as the purchases reported it.
function revenue(purchases) {
  const sums = new Map();
  for (const p of purchases) {
    const amount = Number(p.amount);
    if (!Number.isFinite(amount)) continue;
    const currency = typeof p.currency === 'string' ? p.currency : '';
    sums.set(currency, (sums.get(currency) || 0) + amount);
  }
  if (!sums.size) return formatNumber(0);
  return [...sums].map(([currency, sum]) => formatMoney(sum, currency)).join(' + ');
}

// The host's strip under the video; a co-host reads the same figures at the top of the
// Activity sheet (ix.ui.shopFigures).
export function renderStrip(ix) {
  const host = document.body.dataset.role === 'host';
  const strip = document.getElementById('strip');
  if (strip) {
    strip.hidden = !host;
    if (host) strip.replaceChildren(figures(ix));
  }
  const slot = ix.ui.shopFigures;
  if (slot) {
    const cohost = !host && ix.isModerator();
    slot.hidden = !cohost;
    if (cohost) slot.replaceChildren(figures(ix));
  }
}

function figures(ix) {
  const totals = ix.state.productTotals || {};
  let clicks = 0;
  for (const stats of Object.values(totals)) clicks += Number(stats.clicks) || 0;
  const waiting = [...ix.state.questions.values()].filter((q) => q.state === 'open').length;
  const list = el('ul', 'strip-figures');
  list.append(
    figure('people', formatNumber(ix.participants().size)),
    figure('questions', formatNumber(waiting)),
    figure('clicks', formatNumber(clicks)),
    figure('purchases', formatNumber(ix.state.purchases.length)),
    figure('revenue', revenue(ix.state.purchases)),
    figure('tiers', formatNumber((window.salonTierChanges || []).length)),
  );
  return list;
}
