// The room page's people list ("In the room"): who is here, in stage order (host,
// co-hosts, speakers, then members by name), with their role and tier. Names come from
// people: they are put on the page with textContent, never as HTML.

const ROLE_RANK = { host: 0, cohost: 1, speaker: 2 };
const ROLE_LABEL = { host: 'Host', cohost: 'Co-host', speaker: 'Speaker', member: 'Member' };

export function capitalize(word) {
  return word ? word.charAt(0).toUpperCase() + word.slice(1) : '';
}

export function displayName(p) {
  return (typeof p.name === 'string' && p.name.trim()) || p.member_id || 'Guest';
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
    li.dataset.role = ROLE_LABEL[p.role] ? p.role : 'member';
    const name = document.createElement('span');
    name.className = 'person-name';
    name.textContent = displayName(p);
    li.append(name);
    if (you && p.id === you.id) {
      const me = document.createElement('span');
      me.className = 'person-you';
      me.textContent = ' (you)';
      li.append(me);
    }
    const meta = document.createElement('span');
    meta.className = 'person-meta';
    const role = document.createElement('span');
    role.className = 'tag tag-role';
    role.textContent = ROLE_LABEL[p.role] || 'Member';
    meta.append(' ', role);
    if (typeof p.tier === 'string' && p.tier) {
      const tier = document.createElement('span');
      tier.className = `tag tag-tier tier-${p.tier.replace(/[^a-z]/g, '')}`;
      tier.textContent = capitalize(p.tier);
      meta.append(' ', tier);
    }
    li.append(meta);
    li.dataset.participant = p.id;
    decorate(li, p);
    return li;
  });
  list.replaceChildren(...items);
  const n = people.length;
  count.textContent = `${n} ${n === 1 ? 'person' : 'people'}`;
  return people;
}
