// The replay page (/replay/SESSION?token=…): the recorded session in a <video> (the server
// answers range requests, so seeking fetches only what is needed), the product card that
// was pinned at the playhead, and the chat as it stood then. Watch time goes back to the
// server every REPORT_S seconds of playing (and when the page is hidden) as replay_watch.
// Strings come from the page catalogs (web/i18n/LANG.json, keys replay.*) through t().

import { el, safeUrl } from './dom.js';
import { has, mountLanguageSwitch, t, translatePage } from './i18n.js';
import { readToken } from './token.js';

const REPORT_S = 15;
const session = decodeURIComponent(location.pathname.split('/').pop() || '');
const token = readToken();
const base = `/api/replays/${encodeURIComponent(session)}`;
const $ = (id) => document.getElementById(id);
const video = $('replay-video');

// A refusal in the reader's language when the catalog knows its code, else the server's
// English sentence.
function refusal(error) {
  const code = typeof error?.code === 'string' ? error.code : '';
  if (code && has(`replay.error.${code}`)) return t(`replay.error.${code}`);
  return error?.message || t('replay.failed');
}

function showError(message) {
  const box = $('replay-error');
  box.textContent = message;
  box.hidden = !message;
}

// --- the timeline at the playhead ------------------------------------------------------

let chat = [];
let products = [];
let shownProduct;
let shownLines = -1;

function productAt(time) {
  let current = null;
  for (const entry of products) {
    if (entry.t > time) break;
    current = entry.product;
  }
  return current;
}

function renderProduct(product) {
  const card = $('replay-product');
  card.replaceChildren();
  card.hidden = !product;
  if (!product) return;
  card.dataset.productId = product.id;
  const image = product.image ? safeUrl(product.image) : null;
  if (image) {
    const img = el('img');
    img.src = image;
    img.alt = '';
    card.append(img);
  }
  card.append(el('h3', '', product.title), el('p', 'price', product.price));
  const link = safeUrl(product.link);
  if (link) {
    const a = el('a', '', t('replay.buy'));
    a.href = link;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    card.append(a);
  }
}

function renderChat(time) {
  let count = 0;
  while (count < chat.length && chat[count].t <= time) count += 1;
  if (count === shownLines) return;
  shownLines = count;
  const list = $('replay-chat');
  const deleted = new Set(chat.slice(0, count).filter((e) => e.kind === 'chat_deleted').map((e) => e.id));
  list.replaceChildren(
    ...chat
      .slice(0, count)
      .filter((e) => e.kind === 'chat' && !deleted.has(e.id))
      .map((e) => {
        const item = el('li');
        item.append(el('span', 'who', e.name), el('span', 'text', e.text));
        return item;
      }),
  );
  list.scrollTop = list.scrollHeight;
}

function follow() {
  const time = video.currentTime;
  const product = productAt(time);
  if (product?.id !== shownProduct?.id || (product === null) !== (shownProduct === null)) {
    shownProduct = product;
    renderProduct(product);
  }
  renderChat(time);
}

// --- watch time --------------------------------------------------------------------

const pageId = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, '0')).join('');
let reports = 0;
let watched = 0;
let lastTime = null;

function noteProgress() {
  const now = video.currentTime;
  // Only playing counts: a seek (a jump) or a pause adds nothing.
  if (lastTime !== null && !video.paused && now > lastTime && now - lastTime < 2) {
    watched += now - lastTime;
  }
  lastTime = now;
  if (watched >= REPORT_S) report();
}

function report() {
  const seconds = Math.min(watched, 60);
  if (seconds < 0.5) return;
  watched -= seconds;
  reports += 1;
  fetch(`${base}/watch`, {
    method: 'POST',
    keepalive: true,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token, seconds: Math.round(seconds * 1000) / 1000, report: `${pageId}-${reports}` }),
  }).catch(() => {});
}

// --- start -------------------------------------------------------------------------

async function start() {
  translatePage();
  mountLanguageSwitch($('lang-slot'));
  let view;
  try {
    const response = await fetch(`${base}?token=${encodeURIComponent(token)}`);
    view = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(refusal(view.error));
  } catch (err) {
    $('replay-title').textContent = t('replay.unavailable');
    showError(err.message);
    video.hidden = true;
    return;
  }
  $('replay-title').textContent = view.title || t('replay.page_title');
  document.title = `${view.title} · ${t('replay.page_title')}`;
  const timeline = Array.isArray(view.timeline) ? view.timeline : [];
  chat = timeline.filter((e) => e.kind === 'chat' || e.kind === 'chat_deleted');
  products = timeline.filter((e) => e.kind === 'product');
  video.src = `${base}/video?token=${encodeURIComponent(token)}`;
  video.addEventListener('timeupdate', () => {
    follow();
    noteProgress();
  });
  video.addEventListener('seeked', () => {
    lastTime = video.currentTime;
    follow();
  });
  video.addEventListener('pause', () => report());
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'hidden') report();
  });
  follow();
  document.body.dataset.ready = '1';
}

start();
