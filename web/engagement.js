// Salon engagement in the host console: tier changes of the people in the room.
//
// A feature module (web/features.js). The server sends `tier` to the room's hosts and
// co-hosts when scoring moves someone present to another tier (docs/protocol.md). This
// module lists the changes, with the rule's reason, updates that person's tier badge in
// "In the room" and says it in the notice line. Text goes on the page with textContent.

import { registerFeature } from './features.js';

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
  heading.textContent = 'Tier changes';
  list = document.createElement('ol');
  list.className = 'tier-change-list';
  list.setAttribute('aria-live', 'polite');
  box.append(heading, list);
  main.append(box);
  return list;
}

function onTier(message, api) {
  const name = typeof message.name === 'string' && message.name ? message.name : message.member_id;
  const change = {
    participant: message.participant, member_id: message.member_id, name,
    from: message.from ?? null, to: message.to, reason: message.reason || '',
  };
  changes.unshift(change);
  changes.splice(KEEP);
  const p = api.participants().get(change.participant);
  if (p) {
    p.tier = change.to;
    api.renderParticipants();
  }
  const target = section();
  if (target) {
    const li = document.createElement('li');
    li.dataset.member = change.member_id;
    li.dataset.tier = change.to;
    const head = document.createElement('strong');
    head.textContent = `${name}: ${change.from || 'new'} → ${change.to}`;
    const why = document.createElement('span');
    why.className = 'tier-change-reason';
    why.textContent = change.reason;
    li.append(head, why);
    target.prepend(li);
    while (target.children.length > KEEP) target.lastChild.remove();
  }
  api.notice(`${name} is now ${change.to}.`);
  return true;
}

registerFeature({
  onMessage(message, api) {
    return message.type === 'tier' ? onTier(message, api) : false;
  },
});
