// The pages' language: which one (the switch's choice in localStorage, else the browser's
// languages), its catalog (web/i18n/LANG.json), `t(key, params)` and Intl formatting.
//
// Every string a page shows comes from a catalog; room titles, names and product names
// stay as people wrote them. Keys with a count pick their plural form with
// Intl.PluralRules: `people.count` reads `people.count.one` or `people.count.other`.
// Dates and times are shown in the reader's own time zone (the browser's), never mixed.

export const LANGUAGES = { en: 'English', 'zh-CN': '中文' };
const STORAGE = 'salon.lang';

// The first of `wanted` (BCP 47 tags, best first) that a catalog serves: any zh* reads
// zh-CN, any en* reads en; English when nothing matches.
export function pickLanguage(stored, wanted) {
  if (stored && LANGUAGES[stored]) return stored;
  for (const tag of wanted || []) {
    const lower = String(tag).toLowerCase();
    if (lower === 'zh' || lower.startsWith('zh-')) return 'zh-CN';
    if (lower === 'en' || lower.startsWith('en-')) return 'en';
  }
  return 'en';
}

function storedLanguage() {
  try {
    return localStorage.getItem(STORAGE);
  } catch {
    return null;
  }
}

export const lang = pickLanguage(storedLanguage(), navigator.languages || [navigator.language]);

async function loadCatalog(name) {
  try {
    const response = await fetch(`/static/i18n/${name}.json`, { cache: 'no-cache' });
    if (response.ok) return await response.json();
  } catch (err) {
    console.error('[salon] no catalog for', name, err);
  }
  return {};
}

// English fills any gap, so a missing key never shows as a bare key.
const [catalog, fallback] = await Promise.all([
  loadCatalog(lang), lang === 'en' ? Promise.resolve(null) : loadCatalog('en'),
]);
const plurals = new Intl.PluralRules(lang);

function lookup(key) {
  if (Object.hasOwn(catalog, key)) return catalog[key];
  if (fallback && Object.hasOwn(fallback, key)) return fallback[key];
  return null;
}

export function has(key) {
  return lookup(key) !== null;
}

// `t('chat.delete_from', { name })`: the sentence with {placeholders} filled, numbers formatted.
export function t(key, params = {}) {
  let text = null;
  if (typeof params.count === 'number') {
    text = lookup(`${key}.${plurals.select(params.count)}`) ?? lookup(`${key}.other`);
  }
  if (text === null) text = lookup(key);
  if (text === null) return key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => {
    if (!Object.hasOwn(params, name)) return whole;
    const value = params[name];
    return typeof value === 'number' ? formatNumber(value) : String(value);
  });
}

// ---------------------------------------------------------------- Intl

export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(lang, options).format(value);
}

export function formatPercent(rate, digits = 1) {
  return new Intl.NumberFormat(lang, {
    style: 'percent', minimumFractionDigits: digits, maximumFractionDigits: digits,
  }).format(rate);
}

// Amounts travel as decimal strings with an ISO currency ("129.00", "CNY").
export function formatMoney(amount, currency) {
  const value = Number(amount);
  if (!Number.isFinite(value)) return String(amount ?? '');
  if (typeof currency === 'string' && /^[A-Z]{3}$/.test(currency)) {
    try {
      return new Intl.NumberFormat(lang, { style: 'currency', currency }).format(value);
    } catch {
      // An unknown currency code: fall through to a plain number.
    }
  }
  return formatNumber(value, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

export function formatList(words, type = 'conjunction') {
  return new Intl.ListFormat(lang, { style: 'long', type }).format(words);
}

// A moment (ISO string or epoch ms) in the reader's time zone.
export function formatDateTime(value, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return '–';
  return new Intl.DateTimeFormat(lang, options).format(date);
}

export function formatTime(value) {
  return formatDateTime(value, { hour: '2-digit', minute: '2-digit' });
}

export function timeZoneName() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export function tierName(tier) {
  return has(`tier.${tier}`) ? t(`tier.${tier}`) : String(tier);
}

export function roleName(role) {
  return has(`role.${role}`) ? t(`role.${role}`) : t('role.member');
}

// ---------------------------------------------------------------- the page

// Static text in the HTML: data-i18n (text), data-i18n-label (aria-label),
// data-i18n-placeholder and data-i18n-title.
export function translatePage(root = document) {
  document.documentElement.lang = lang;
  for (const node of root.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll('[data-i18n-label]')) {
    node.setAttribute('aria-label', t(node.dataset.i18nLabel));
  }
  for (const node of root.querySelectorAll('[data-i18n-placeholder]')) {
    node.setAttribute('placeholder', t(node.dataset.i18nPlaceholder));
  }
  for (const node of root.querySelectorAll('[data-i18n-title]')) {
    node.setAttribute('title', t(node.dataset.i18nTitle));
  }
}

// The language switch: a labelled <select>; choosing remembers the language and reloads
// the page (`beforeSwitch()` may save what the reload must keep).
export function mountLanguageSwitch(container, beforeSwitch = () => {}) {
  if (!container) return null;
  const label = document.createElement('label');
  label.className = 'lang-switch';
  const text = document.createElement('span');
  text.className = 'visually-hidden';
  text.textContent = t('lang.label');
  const select = document.createElement('select');
  select.id = 'lang-select';
  for (const [code, name] of Object.entries(LANGUAGES)) {
    const option = document.createElement('option');
    option.value = code;
    option.lang = code;
    option.textContent = name;
    option.selected = code === lang;
    select.append(option);
  }
  select.addEventListener('change', () => {
    try {
      localStorage.setItem(STORAGE, select.value);
    } catch {
      return;
    }
    beforeSwitch();
    window.location.reload();
  });
  label.append(text, select);
  container.append(label);
  return select;
}
