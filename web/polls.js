// Polls on the room page (part of the interactions feature): the open and closed polls
// with their results, voting, and the host's form to create one. interactions.js owns
// the state and calls in here with `ix`: { state, ui, send(type, fields), isModerator(),
// notice(text) }.

import { button, el, labelled } from './dom.js';
import { formatNumber, formatPercent, t } from './i18n.js';

export function renderPolls(ix) {
  if (!ix.ui.polls) return;
  const heading = el('h2', '', t('polls.heading'));
  heading.id = 'ix-polls-heading';
  const head = el('div', 'sheet-head');
  const close = button('×', () => {}, { className: 'sheet-close', aria: t('sheet.close') });
  close.dataset.closeSheet = '';
  head.append(heading, close);
  const parts = [head];
  const polls = [...ix.state.polls.values()].reverse(); // newest first
  for (const poll of polls) parts.push(pollCard(ix, poll));
  if (ix.isModerator() && !polls.some((p) => p.state === 'open')) {
    ix.ui.pollForm = ix.ui.pollForm || pollForm(ix); // kept: a redraw must not lose what is typed
    parts.push(ix.ui.pollForm);
  }
  if (!polls.length && !ix.isModerator()) parts.push(el('p', 'muted', t('polls.empty')));
  ix.ui.polls.replaceChildren(...parts);
}

function pollCard(ix, poll) {
  const card = el('div', 'ix-poll');
  card.dataset.id = poll.id;
  card.dataset.state = poll.state;
  card.setAttribute('role', 'group');
  card.setAttribute('aria-label', t('polls.card', { question: poll.question }));
  card.append(el('p', 'ix-poll-question', poll.question));
  const mine = ix.state.myVotes.get(poll.id);
  const total = Number(poll.total) || 0;
  const open = poll.state === 'open';
  const name = `poll-${poll.id}`;
  const list = el('ul', 'ix-poll-options');
  poll.options.forEach((option, index) => {
    const count = Number(poll.counts[index]) || 0;
    const share = total ? count / total : 0;
    const li = el('li', 'ix-poll-option');
    if (open && !ix.isModerator()) {
      const radio = el('input');
      radio.type = 'radio';
      radio.name = name;
      radio.value = String(index);
      radio.checked = (ix.state.picked.has(poll.id) ? ix.state.picked.get(poll.id) : mine) === index;
      radio.addEventListener('change', () => ix.state.picked.set(poll.id, index));
      li.append(labelled(option, radio));
    } else {
      li.append(el('span', 'ix-poll-label', option));
    }
    const bar = el('span', 'ix-bar');
    const fill = el('span', 'ix-bar-fill');
    fill.style.width = `${Math.round(share * 100)}%`;
    bar.append(fill);
    const result = el('span', 'ix-poll-result', `${formatPercent(share, 0)} (${formatNumber(count)})`);
    result.dataset.count = String(count);
    if (mine === index) li.append(el('span', 'tag ix-your-vote', t('polls.your_vote')));
    li.append(bar, result);
    list.append(li);
  });
  card.append(list);
  const footer = el('p', 'ix-poll-meta muted',
    `${t('polls.votes', { count: total })} · ${open ? t('polls.open') : t('polls.closed')}`);
  footer.setAttribute('aria-live', 'polite');
  card.append(footer);
  if (open && !ix.isModerator()) {
    card.append(button(t('polls.vote'), () => {
      const picked = card.querySelector(`input[name="${name}"]:checked`);
      if (!picked) { ix.notice(t('polls.pick_first')); return; }
      ix.state.picked.delete(poll.id);
      ix.send('poll_vote', { id: poll.id, option: Number(picked.value) });
    }, { className: 'primary ix-small' }));
  }
  if (open && ix.isModerator()) {
    card.append(button(t('polls.close'), () => ix.send('poll_close', { id: poll.id }), { className: 'ix-small' }));
  }
  return card;
}

function pollForm(ix) {
  const form = el('form', 'ix-form ix-poll-form');
  form.setAttribute('aria-label', t('polls.new'));
  const question = el('input');
  question.type = 'text';
  question.maxLength = 200;
  question.required = true;
  form.append(labelled(t('polls.question'), question));
  const options = [];
  for (let i = 1; i <= 6; i += 1) {
    const input = el('input');
    input.type = 'text';
    input.maxLength = 80;
    input.required = i <= 2;
    options.push(input);
    form.append(labelled(t(i > 2 ? 'polls.option_optional' : 'polls.option', { n: i }), input));
  }
  const submit = el('button', 'primary ix-small', t('polls.create'));
  submit.type = 'submit';
  form.append(submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const texts = options.map((o) => o.value.trim()).filter(Boolean);
    ix.send('poll_create', { question: question.value.trim(), options: texts });
  });
  return form;
}

export function putPoll(ix, poll) {
  if (!poll || typeof poll.id !== 'string') return;
  ix.state.polls.set(poll.id, { ...ix.state.polls.get(poll.id), ...poll });
  renderPolls(ix);
}
