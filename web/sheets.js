// Sheets and tabs of the room page. A member opens Q&A, the poll and the people list as
// sheets over the stream (one at a time: body[data-sheet]); the host console shows the
// same panels under tabs (body[data-tab]). Buttons name what they open with
// data-open-sheet / data-tab and carry aria-expanded / aria-selected.

import { button, el } from './dom.js';
import { t } from './i18n.js';

const opened = new Set(); // listeners: (name|null) after a sheet opens or closes

export function currentSheet() {
  return document.body.dataset.sheet || null;
}

function sheetKey() {
  return `salon.sheet:${window.location.pathname}`;
}

export function openSheet(name) {
  if (name) document.body.dataset.sheet = name;
  else delete document.body.dataset.sheet;
  try {
    // Kept per tab: a reload (or a lost socket) opens it again (restoreSheet).
    if (name) sessionStorage.setItem(sheetKey(), name);
    else sessionStorage.removeItem(sheetKey());
  } catch {
    // Storage refused: the sheet is simply closed after a reload.
  }
  for (const b of document.querySelectorAll('[data-open-sheet]')) {
    b.setAttribute('aria-expanded', String(b.dataset.openSheet === name));
  }
  for (const fn of opened) fn(name || null);
}

// After (re)joining: open the sheet this tab had open, if this person still has its
// button (a co-host's Activity; a member back as a member has none).
export function restoreSheet() {
  let name = null;
  try {
    name = sessionStorage.getItem(sheetKey());
  } catch {
    return;
  }
  if (!name || currentSheet() === name) return;
  const opener = [...document.querySelectorAll('[data-open-sheet]')]
    .find((b) => b.dataset.openSheet === name);
  if (opener && !opener.hidden) openSheet(name);
}

export function onSheet(fn) {
  opened.add(fn);
}

export function toggleSheet(name) {
  openSheet(currentSheet() === name ? null : name);
}

// A bottom-bar button that opens (and closes) `sheet`: an icon, `label` for assistive
// technology, and the catalog's short label `dock.SHEET_short` under the icon.
export function dockButton(sheet, icon, label) {
  const b = button(icon, () => {}, { className: 'dock-btn', aria: label });
  b.dataset.openSheet = sheet;
  b.setAttribute('aria-expanded', 'false');
  b.append(el('span', 'dock-btn-label', t(`dock.${sheet}_short`)));
  return b;
}

// A sheet's heading row: its heading and a close button.
export function sheetHead(heading) {
  const head = el('div', 'sheet-head');
  const close = button('×', () => {}, { className: 'sheet-close', aria: t('sheet.close') });
  close.dataset.closeSheet = '';
  head.append(heading, close);
  return head;
}

export function initSheets() {
  document.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    const opener = target.closest('[data-open-sheet]');
    if (opener) { toggleSheet(opener.dataset.openSheet); return; }
    if (target.closest('[data-close-sheet]')) openSheet(null);
    const tab = target.closest('[role="tab"][data-tab]');
    if (tab) selectTab(tab.dataset.tab);
  });
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && currentSheet()) openSheet(null);
  });
  const people = document.getElementById('people-btn');
  if (people) people.dataset.openSheet = 'people';
}

// ---------------------------------------------------------------- host console tabs

export function selectTab(name) {
  document.body.dataset.tab = name;
  for (const tab of document.querySelectorAll('[role="tab"][data-tab]')) {
    const on = tab.dataset.tab === name;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
  }
}

// `tabs`: [[name, label, panelId], ...] in order; the first is selected unless one is.
export function buildTabs(container, tabs) {
  const buttons = tabs.map(([name, label, panelId]) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.setAttribute('role', 'tab');
    b.id = `tab-${name}`;
    b.dataset.tab = name;
    b.textContent = label;
    b.setAttribute('aria-controls', panelId);
    const panel = document.getElementById(panelId);
    if (panel) {
      panel.setAttribute('role', 'tabpanel');
      panel.setAttribute('aria-labelledby', b.id);
      panel.dataset.panel = name;
    }
    return b;
  });
  container.replaceChildren(...buttons);
  container.addEventListener('keydown', (event) => {
    if (event.key !== 'ArrowRight' && event.key !== 'ArrowLeft') return;
    const names = tabs.map(([name]) => name);
    const at = names.indexOf(document.body.dataset.tab);
    const next = names[(at + (event.key === 'ArrowRight' ? 1 : names.length - 1)) % names.length];
    selectTab(next);
    container.querySelector(`[data-tab="${next}"]`).focus();
  });
  container.hidden = false;
  selectTab(tabs.some(([n]) => n === document.body.dataset.tab) ? document.body.dataset.tab : tabs[0][0]);
}
