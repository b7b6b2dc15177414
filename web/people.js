// The room page's people list ("In the room"): who is here, in stage order (host,
// co-hosts, speakers, then members by name), with their role, and their tier only when
// the server sent one (it sends tiers to hosts and co-hosts, not to members). Names come
// from people: they are put on the page with textContent, never as HTML.

import { roleName, t, tierName } from './i18n.js';

const ROLE_RANK = { host: 0, cohost: 1, speaker: 2 };
const ROLES = new Set(['host', 'cohost', 'speaker', 'member']);

export function displayName(p) {
  return (typeof p.name === 'string' && p.name.trim()) || p.member_id || t('people.guest');
}

function roleRank(p) {
  return ROLE_RANK[p.role] ?? 3;
}

// Fill `list` (a <ul>) and `count` from `participants` (Map id -> participant);
// `decorate(li, p)` adds what features show. Returns the people in the order shown.
export function renderPeopleList(list, count, participants, you, decorate) {
  const people = [...participants.values()].sort((a, b) => (
    roleRank(a) - roleRank(b) || displayName(a).localeCompare(displayName(b))
  ));
  const items = people.map((p) => {
    const li = document.createElement('li');
    li.className = 'person';
    li.dataset.role = ROLES.has(p.role) ? p.role : 'member';
    const name = document.createElement('span');
    name.className = 'person-name';
    name.textContent = displayName(p);
    li.append(name);
    if (you && p.id === you.id) {
      const me = document.createElement('span');
      me.className = 'person-you';
      me.textContent = ` ${t('people.you')}`;
      li.append(me);
    }
    const meta = document.createElement('span');
    meta.className = 'person-meta';
    const role = document.createElement('span');
    role.className = 'tag tag-role';
    role.textContent = roleName(p.role);
    meta.append(' ', role);
    if (typeof p.tier === 'string' && p.tier) {
      const tier = document.createElement('span');
      tier.className = `tag tag-tier tier-${p.tier.replace(/[^a-z]/g, '')}`;
      tier.textContent = tierName(p.tier);
      meta.append(' ', tier);
    }
    li.append(meta);
    li.dataset.participant = p.id;
    decorate(li, p);
    return li;
  });
  list.replaceChildren(...items);
  const n = people.length;
  count.textContent = t('people.count', { count: n });
  return people;
}
