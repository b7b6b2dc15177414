// Salon engagement in the host console: tier changes of the people in the room.
//
// A feature module (web/features.js). The server sends `tier` to the room's hosts and
// co-hosts when scoring moves someone present to another tier (docs/protocol.md), and the
// session's changes so far in `joined` (interactions.summary.tier_changes), so a reload
// rebuilds the list. This module lists the changes, with the rule's reason, updates that
// person's tier badge in "In the room" and says it in the notice line. Text goes on the
// page with textContent.

import { registerFeature } from './features.js';
import { has, t, tierName } from './i18n.js';

const KEEP = 20; // changes listed, newest first

let list = null;
const changes = [];
// What tests (and curious people in the console) may read.
window.salonTierChanges = changes;

function section() {
  if (list) return list;
  const main = document.getElementById('main');
  if (!main) return null;
  const box = document.createElement('section');
  box.id = 'tier-changes';
  box.className = 'tier-changes';
  box.setAttribute('aria-labelledby', 'tier-changes-heading');
  const heading = document.createElement('h2');
  heading.id = 'tier-changes-heading';
  heading.textContent = t('tiers.heading');
  list = document.createElement('ol');
  list.className = 'tier-change-list';
  list.setAttribute('aria-live', 'polite');
  const empty = document.createElement('li');
  empty.className = 'muted tier-change-empty';
  empty.textContent = t('tiers.empty');
  list.append(empty);
  box.append(heading, list);
  const shop = document.getElementById('ix-shop');
  if (shop) shop.append(box); else main.append(box);
  return list;
}

function normal(message) {
  const name = typeof message.name === 'string' && message.name ? message.name : message.member_id;
  return {
    participant: message.participant, member_id: message.member_id, name,
    from: message.from ?? null, to: message.to, reason: message.reason || '',
    rule: typeof message.rule === 'string' ? message.rule : '',
  };
}

function draw(change) {
  const target = section();
  if (!target) return;
  for (const empty of target.querySelectorAll('.tier-change-empty')) empty.remove();
  const li = document.createElement('li');
  li.dataset.member = change.member_id;
  li.dataset.tier = change.to;
  const head = document.createElement('strong');
  head.textContent = t('tiers.change', {
    name: change.name, from: change.from ? tierName(change.from) : t('tiers.new'), to: tierName(change.to),
  });
  const why = document.createElement('span');
  why.className = 'tier-change-reason';
  // The rule that decided, in the page's language; the server's English reason (with its
  // figures) only for a rule the catalog does not know.
  why.textContent = has(`tiers.reason.${change.rule}`) ? t(`tiers.reason.${change.rule}`) : change.reason;
  li.append(head, why);
  target.prepend(li);
  while (target.children.length > KEEP) target.lastChild.remove();
}

function onTier(message, api) {
  const change = normal(message);
  changes.unshift(change);
  changes.splice(KEEP);
  const p = api.participants().get(change.participant);
  if (p) {
    p.tier = change.to;
    api.renderParticipants();
  }
  draw(change);
  api.notice(t('tiers.notice', { name: change.name, tier: tierName(change.to) }));
  document.dispatchEvent(new Event('salon:figures'));
  return true;
}

registerFeature({
  onJoined(message, api) {
    if (!api.isHost() && !(api.you() && api.you().role === 'cohost')) return;
    const summary = message.interactions && message.interactions.summary;
    const past = summary && Array.isArray(summary.tier_changes) ? summary.tier_changes : [];
    changes.splice(0);
    if (list) {
      list.replaceChildren();
      list = null;
      document.getElementById('tier-changes')?.remove();
    }
    section();
    // Oldest first, so that the newest ends on top.
    for (const item of past.slice(-KEEP)) {
      const change = normal(item);
      changes.unshift(change);
      draw(change);
    }
  },
  onMessage(message, api) {
    // Appointed co-host during the session: the list starts here (a reload brings the
    // session's earlier changes).
    if (message.type === 'role') {
      const you = api.you();
      if (you && (you.role === 'cohost' || you.role === 'host')) section();
      return false;
    }
    return message.type === 'tier' ? onTier(message, api) : false;
  },
});
