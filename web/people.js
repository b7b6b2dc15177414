// The room page's people list ("In the room"), paged: the first page comes with `joined`
// (hosts, co-hosts, speakers, then the newest members), `presence` deltas keep it and the
// count up to date, "Show more" asks for the next page, and hosts and co-hosts can search
// everyone by name. The page holds only the people it shows (a page or a few), never the
// whole room: a delta changes the rows it names and nothing else, and a full redraw (a
// role changed) costs the rows shown. Names come from people: they are put on the page
// with textContent, never as HTML. Tiers show only when the server sent them (it sends them
// to hosts and co-hosts, not to members).

import { button, el } from './dom.js';
import { roleName, t, tierName } from './i18n.js';
import { MODERATORS } from './features.js';

const ROLE_RANK = { host: 0, cohost: 1, speaker: 2 };
const ROLES = new Set(['host', 'cohost', 'speaker', 'member']);

export function displayName(p) {
  return (typeof p.name === 'string' && p.name.trim()) || p.member_id || t('people.guest');
}

function roleRank(p) {
  return ROLE_RANK[p.role] ?? 3;
}

function featured(p) {
  return roleRank(p) < 3;
}

// Featured first (by role, then who came first), then members newest first.
function listOrder(a, b) {
  return roleRank(a) - roleRank(b)
    || (featured(a) ? (a.n ?? 0) - (b.n ?? 0) : (b.n ?? 0) - (a.n ?? 0));
}

function personRow(p, you, decorate) {
  const li = el('li', 'person');
  li.dataset.role = ROLES.has(p.role) ? p.role : 'member';
  li.append(el('span', 'person-name', displayName(p)));
  if (you && p.id === you.id) li.append(el('span', 'person-you', ` ${t('people.you')}`));
  const meta = el('span', 'person-meta');
  meta.append(' ', el('span', 'tag tag-role', roleName(p.role)));
  if (typeof p.tier === 'string' && p.tier) {
    meta.append(' ', el('span', `tag tag-tier tier-${p.tier.replace(/[^a-z]/g, '')}`, tierName(p.tier)));
  }
  li.append(meta);
  li.dataset.participant = p.id;
  decorate(li, p);
  return li;
}

// `ui`: the list (<ul>), the count (<p>) and the panel around them; `people`: the page's
// Map id -> participant of those shown (others read it: stage slots, badges);
// `decorate(li, p)` adds what features show; `send`, `nextRef`; `you()` is this person.
export function createPeopleList({ ui, people, decorate, send, nextRef, you }) {
  const rows = new Map(); // id -> <li>, for the people in `people`
  let count = 0;
  let pageSize = 50;
  let limit = 50; // members shown: a page, plus one per "Show more"
  let members = 0; // member rows shown
  let waiting = null; // the ref of the page asked for

  const more = button(t('people.more'), () => askMore(), { className: 'secondary people-more' });
  more.hidden = true;
  const search = el('form', 'people-search');
  search.hidden = true;
  const query = el('input');
  query.type = 'search';
  query.maxLength = 64;
  query.setAttribute('aria-label', t('people.search_label'));
  query.placeholder = t('people.search_placeholder');
  const found = el('ul', 'people-list people-found');
  found.setAttribute('aria-label', t('people.search_results'));
  search.append(query, ' ', button(t('people.find'), () => askSearch()), found);
  search.addEventListener('submit', (event) => { event.preventDefault(); askSearch(); });
  ui.list.after(more, search);

  function showCount() {
    ui.count.textContent = t('people.count', { count });
    more.hidden = rows.size >= count;
  }

  function isModerator() {
    const me = you();
    return Boolean(me && MODERATORS.has(me.role));
  }

  // The first member row: members are inserted before it (newest first).
  function firstMemberRow() {
    for (let node = ui.list.firstElementChild; node; node = node.nextElementSibling) {
      const p = people.get(node.dataset.participant);
      if (p && !featured(p)) return node;
    }
    return null;
  }

  function drop(id) {
    const row = rows.get(id);
    const p = people.get(id);
    if (row) row.remove();
    rows.delete(id);
    people.delete(id);
    if (p && !featured(p)) members -= 1;
  }

  // Members beyond the limit go, oldest first: they are a "Show more" away.
  function trim() {
    let node = ui.list.lastElementChild;
    while (members > limit && node) {
      const previous = node.previousElementSibling;
      const p = people.get(node.dataset.participant);
      if (p && !featured(p)) drop(p.id);
      node = previous;
    }
  }

  function add(p, { top }) {
    if (!p || typeof p.id !== 'string' || rows.has(p.id)) return;
    people.set(p.id, p);
    const row = personRow(p, you(), decorate);
    rows.set(p.id, row);
    if (featured(p)) {
      // A handful at most: find the place among them.
      let before = ui.list.firstElementChild;
      while (before && featured(people.get(before.dataset.participant) || {})
        && listOrder(people.get(before.dataset.participant), p) < 0) {
        before = before.nextElementSibling;
      }
      ui.list.insertBefore(row, before);
      return;
    }
    members += 1;
    if (top) ui.list.insertBefore(row, firstMemberRow());
    else ui.list.append(row);
  }

  // Every shown row drawn again (a role or a badge changed): costs the rows shown.
  function render() {
    const shown = [...people.values()].sort(listOrder);
    rows.clear();
    ui.list.replaceChildren(...shown.map((p) => {
      const row = personRow(p, you(), decorate);
      rows.set(p.id, row);
      return row;
    }));
    members = shown.filter((p) => !featured(p)).length;
    search.hidden = !isModerator();
    showCount();
    return shown;
  }

  function askMore() {
    let oldest = null;
    for (const p of people.values()) {
      if (!featured(p) && typeof p.n === 'number' && (oldest === null || p.n < oldest)) oldest = p.n;
    }
    waiting = nextRef('people');
    send({ type: 'people_page', ...(oldest === null ? {} : { before: oldest }), ref: waiting });
  }

  function askSearch() {
    const text = query.value.trim();
    if (!text) { found.replaceChildren(); return; }
    send({ type: 'people_search', query: text, ref: nextRef('find') });
  }

  return {
    // `joined`: the first page and the count.
    reset(message) {
      people.clear();
      const first = Array.isArray(message.participants) ? message.participants : [];
      pageSize = Math.max(1, first.filter((p) => p && !featured(p)).length, pageSize);
      limit = pageSize;
      for (const p of first) if (p && typeof p.id === 'string') people.set(p.id, p);
      count = Number.isInteger(message.count) ? message.count : people.size;
      found.replaceChildren();
      return render();
    },
    // `presence`: who left, who joined (featured and the newest), the count.
    applyDelta(message) {
      for (const id of Array.isArray(message.left) ? message.left : []) drop(id);
      const joined = Array.isArray(message.joined) ? message.joined : [];
      // Newest first on the wire: insert the oldest first so the newest ends on top.
      for (let i = joined.length - 1; i >= 0; i -= 1) add(joined[i], { top: true });
      if (Number.isInteger(message.count)) count = message.count;
      trim();
      showCount();
    },
    // `people_page`: older members, after those shown.
    onPage(message) {
      if (message.ref !== waiting) return;
      waiting = null;
      limit += pageSize;
      for (const p of Array.isArray(message.people) ? message.people : []) add(p, { top: false });
      if (Number.isInteger(message.count)) count = message.count;
      showCount();
    },
    // `people_found`: a moderator's search, shown under the box with the same actions.
    onFound(message) {
      const list = Array.isArray(message.people) ? message.people : [];
      found.replaceChildren(...list.map((p) => personRow(p, you(), decorate)));
      if (!list.length) found.append(el('li', 'muted', t('people.nobody_found')));
    },
    // A participant changed (role, tier): keep its join number, redraw.
    update(p) {
      if (!p || typeof p.id !== 'string') return [...people.values()];
      const before = people.get(p.id);
      if (!before && !featured(p)) return render(); // not shown and not featured
      people.set(p.id, { ...p, n: p.n ?? before?.n });
      return render();
    },
    render,
    // How many are in the room (not only those shown).
    count: () => count,
  };
}
