// The pinned product on the room page (part of the interactions feature): its card and
// link, the host's pin form and click figures, and the shop activity moderators see.
// interactions.js owns the state and calls in here with `ix`: { state, ui,
// send(type, fields), isModerator(), notice(text) }.

import { button, el, labelled, safeUrl } from './dom.js';
import { formatMoney, t } from './i18n.js';

export function renderProduct(ix) {
  if (!ix.ui.product) return;
  const heading = el('h2', '', t('product.heading'));
  heading.id = 'ix-product-heading';
  const parts = [heading];
  const p = ix.state.product;
  if (p) {
    const card = el('div', 'ix-product-card');
    card.dataset.id = p.id;
    const image = safeUrl(p.image);
    if (image) {
      const img = el('img', 'ix-product-image');
      img.alt = '';
      img.src = image;
      img.referrerPolicy = 'no-referrer';
      img.loading = 'lazy';
      img.addEventListener('error', () => img.remove());
      card.append(img);
    }
    if (!ix.isModerator()) {
      const close = button('×', () => {
        ix.state.productHidden = true;
        renderProduct(ix);
        ix.refresh();
      }, { className: 'sheet-close ix-product-close', aria: t('product.hide') });
      card.append(close);
    }
    const info = el('div', 'ix-product-info');
    info.append(el('p', 'ix-product-title', p.title), el('p', 'ix-product-price', p.price));
    const link = safeUrl(p.link);
    if (link) {
      const a = el('a', 'ix-buy', t('product.view'));
      a.href = link;
      a.target = '_blank';
      a.rel = 'noopener noreferrer';
      a.setAttribute('aria-label', t('product.view_named', { title: p.title }));
      a.addEventListener('click', () => ix.send('product_click', { id: p.id }));
      info.append(a);
    }
    card.append(info);
    parts.push(card);
    if (ix.isModerator()) {
      const s = ix.state.productStats && ix.state.productStats.id === p.id ? ix.state.productStats : null;
      const stats = el('p', 'ix-product-stats muted', s
        ? `${t('product.clicks', { count: s.clicks, people: s.clickers })} · ${t('product.bought', { count: s.purchases })}`
        : t('product.no_clicks'));
      stats.setAttribute('aria-live', 'polite');
      parts.push(stats, button(t('product.unpin'), () => ix.send('product_unpin'), { className: 'ix-small' }));
    }
  }
  if (!ix.isModerator() && (!p || ix.state.productHidden)) {
    ix.ui.product.hidden = true;
    ix.ui.product.replaceChildren(...parts);
    return;
  }
  if (ix.isModerator()) {
    ix.ui.productForm = ix.ui.productForm || productForm(ix); // kept: a redraw must not lose input
    ix.ui.productForm.querySelector('summary').textContent = ix.state.product
      ? t('product.pin_another') : t('product.pin_a');
    parts.push(ix.ui.productForm);
  }
  ix.ui.product.hidden = false;
  ix.ui.product.replaceChildren(...parts);
}

function productForm(ix) {
  const details = el('details', 'ix-product-form');
  details.append(el('summary', '', t('product.pin_a')));
  const form = el('form', 'ix-form');
  const fields = {};
  for (const [key, label, type, required] of [
    ['id', t('product.field_id'), 'text', true],
    ['title', t('product.field_title'), 'text', true],
    ['price', t('product.field_price'), 'text', true],
    ['image', t('product.field_image'), 'url', false],
    ['link', t('product.field_link'), 'url', true],
  ]) {
    const input = el('input');
    input.type = type;
    input.required = required;
    fields[key] = input;
    form.append(labelled(label, input));
  }
  const submit = el('button', 'primary ix-small', t('product.pin'));
  submit.type = 'submit';
  form.append(submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const product = {};
    for (const [key, input] of Object.entries(fields)) product[key] = input.value.trim();
    if (!product.image) delete product.image;
    if (ix.send('product_pin', product)) details.open = false;
  });
  details.append(form);
  // Open while nothing is pinned: it is the host's first step (on a co-host's phone it
  // would cover the video: closed there).
  details.open = !ix.state.product && document.body.dataset.role === 'host';
  return details;
}

// ---------------------------------------------------------------- shop activity (moderators)
// The host console's Activity tab; a co-host's Activity sheet (interactions.js).

export function renderShop(ix) {
  if (!ix.ui.shop) return;
  ix.ui.shop.hidden = !ix.isModerator();
  if (!ix.isModerator()) return;
  const heading = el('h2', '', t('shop.heading'));
  heading.id = 'ix-shop-heading';
  const list = el('ul', 'ix-purchases');
  list.setAttribute('aria-label', t('shop.purchases'));
  for (const p of ix.state.purchases) {
    list.append(el('li', 'ix-purchase', t('shop.bought', {
      name: p.name || p.member_id, product: p.product_id, amount: formatMoney(p.amount, p.currency),
    })));
  }
  if (!ix.state.purchases.length) list.append(el('li', 'muted', t('shop.empty')));
  // Its own box: the tier changes (engagement.js) share the section.
  if (!ix.ui.shopBody || !ix.ui.shopBody.isConnected) {
    ix.ui.shopBody = el('div', 'ix-shop-body');
    ix.ui.shop.prepend(ix.ui.shopBody);
  }
  ix.ui.shopBody.replaceChildren(heading, list);
  // The console's tab names the panel; a co-host's sheet has a heading of its own.
  if (ix.ui.shopHead) ix.ui.shopHead.hidden = document.body.dataset.role === 'host';
}
