// Salon rewards in the room: offers (coupons), quizzes for prizes, lucky draws, daily
// check-ins and points.
//
// A feature module (web/features.js) that fills the "rewards" section of the room page.
// Members see the running offer (and claim it, or read why they cannot), the quiz with
// its countdown, draw results, their points with the check-in button and the rewards
// they can redeem. Hosts and co-hosts also get the controls: drop a coupon, end the
// offer, ask a quiz, run a draw. The server decides everything (docs/protocol.md,
// "Rewards"); this page asks and shows. Text goes on the page with textContent only.
//
// Members open the section as a sheet from the bottom bar (web/sheets.js), as they do Q&A
// and the poll; a new offer, quiz or draw marks the bar's Rewards button rather than
// covering the video. The host console shows it under its Rewards tab.

import { button, el, labelled } from './dom.js';
import { MODERATORS, registerFeature } from './features.js';
import { formatList, t } from './i18n.js';
import { currentSheet, dockButton, onSheet, sheetHead } from './sheets.js';

// Every string this module shows, from the catalogs (web/i18n/*.json, keys rw.*).
const T = {
  heading: t('rw.heading'),
  yourPoints: t('rw.your_points'),
  loading: '…',
  points: (n) => t('rw.points', { count: n }),
  streak: (n) => (n > 0 ? t('rw.streak', { count: n }) : t('rw.no_streak')),
  checkIn: t('rw.check_in'),
  checkedIn: t('rw.checked_in'),
  checkedInNow: (points) => t('rw.checked_in_now', { points }),
  offer: t('rw.offer'),
  offerValue: (value) => t('rw.offer_value', { value }),
  remaining: (n) => t('rw.remaining', { count: n }),
  claim: t('rw.claim'),
  claimed: t('rw.your_code'),
  offerEnded: t('rw.offer_ended'),
  quiz: t('rw.quiz'),
  secondsLeft: (s) => t('rw.seconds_left', { seconds: Math.ceil(s) }),
  answered: t('rw.answer_sent'),
  prizePoints: (n) => t('rw.prize_points', { points: n }),
  prizeCoupon: t('rw.prize_coupon'),
  results: (answered, winners) => t('rw.results', { answered, winners }),
  votes: (n) => t('rw.votes', { count: n }),
  right: t('rw.right'),
  youWonPoints: (n) => t('rw.you_won_points', { points: n }),
  youWonCode: (code) => t('rw.you_won_code', { code }),
  soldOut: t('rw.sold_out'),
  draw: t('rw.draw'),
  drawWinners: (names, eligible) => t('rw.draw_winners', { names: formatList(names), eligible }),
  youWon: t('rw.you_won'),
  yourCode: (code) => t('rw.code_is', { code }),
  catalog: t('rw.catalog'),
  redeem: (cost) => t('rw.redeem', { cost }),
  redeemed: (title, code) => t('rw.redeemed', { title, code }),
  // Host controls
  hostHeading: t('rw.host_heading'),
  couponId: t('rw.coupon_id'),
  drop: t('rw.drop'),
  endOffer: t('rw.end_offer'),
  question: t('rw.question'),
  option: (i) => t('rw.option', { number: i + 1 }),
  correct: t('rw.correct'),
  seconds: t('rw.seconds'),
  prizePointsField: t('rw.points_field'),
  ask: t('rw.ask'),
  condition: t('rw.condition'),
  conditions: Object.fromEntries(
    ['present', 'chatted', 'asked', 'voted', 'watched'].map((c) => [c, t(`rw.cond.${c}`)]),
  ),
  minutes: t('rw.minutes'),
  winners: t('rw.winners'),
  weighted: t('rw.weighted'),
  prizeCouponField: t('rw.prize_coupon_field'),
  note: t('rw.note'),
  runDraw: t('rw.run_draw'),
};

const OPTION_FIELDS = 4;

const state = {
  me: null, // rewards_self: balance, streak, checked_in, catalog
  drop: null, // the running offer as this member sees it
  code: null, // the code this member claimed from the running offer
  quiz: null, // running quiz, with deadline (ms on this page's clock)
  myAnswer: null,
  quizResult: null,
  quizPrize: null,
  draw: null, // the last draw result
  drawPrize: null,
  redeemed: [],
};
// What tests (and curious people in the console) may read.
window.salonRewards = state;

let api = null;
let root = null;
let ticker = null;
let dockBtn = null; // the bottom bar's Rewards button (members)
let news = false; // something new arrived while the sheet was closed

function send(type, fields = {}) {
  return api ? api.send({ type, ref: api.nextRef(type), ...fields }) : false;
}

function isModerator() {
  const you = api ? api.you() : null;
  return Boolean(you && MODERATORS.has(you.role));
}

function card(title, className = '') {
  const box = el('section', `rw-card ${className}`.trim());
  box.setAttribute('aria-label', title);
  box.append(el('h3', null, title));
  return box;
}

// ---------------------------------------------------------------- member view

function pointsCard() {
  const box = card(T.yourPoints, 'rw-points');
  if (!state.me) {
    box.append(el('p', 'rw-balance', T.loading));
    return box;
  }
  const me = state.me;
  box.append(el('p', 'rw-balance', T.points(me.balance)), el('p', 'rw-streak', T.streak(me.streak)));
  if (!isModerator()) {
    const check = button(me.checked_in ? T.checkedIn : T.checkIn, () => send('checkin'), { className: 'primary' });
    check.disabled = Boolean(me.checked_in);
    box.append(check);
    if (Array.isArray(me.catalog) && me.catalog.length) {
      const list = el('ul', 'rw-catalog');
      list.setAttribute('aria-label', T.catalog);
      for (const reward of me.catalog) {
        const li = el('li', null);
        const redeem = button(T.redeem(reward.cost), () => send('points_redeem', { reward: reward.id }));
        redeem.disabled = me.balance < reward.cost;
        li.append(el('span', null, reward.title), redeem);
        list.append(li);
      }
      box.append(list);
    }
  }
  for (const line of state.redeemed) box.append(el('p', 'rw-code', line));
  return box;
}

function offerCard() {
  const drop = state.drop;
  const box = card(T.offer, 'rw-offer');
  box.append(el('p', 'rw-offer-title', drop.title), el('p', 'rw-offer-value', T.offerValue(drop.value)));
  box.append(el('p', 'rw-remaining', T.remaining(drop.remaining)));
  if (state.code) {
    const p = el('p', 'rw-code');
    p.append(el('span', null, `${T.claimed}: `), el('strong', null, state.code));
    box.append(p);
  } else if (drop.eligible) {
    const claim = button(T.claim, () => send('coupon_claim', { drop: drop.id }), { className: 'primary' });
    claim.disabled = drop.remaining <= 0;
    box.append(claim);
  } else if (drop.why && !isModerator()) {
    // Why not, in the page's language from the refusal's code (the English `why` is for
    // old pages).
    const text = drop.why_code && api
      ? api.errorText({ code: drop.why_code, params: drop.why_params || {} }) : drop.why;
    const why = el('p', 'rw-why', text);
    why.setAttribute('role', 'note');
    box.append(why);
  }
  if (isModerator()) box.append(button(T.endOffer, () => send('coupon_end')));
  return box;
}

function quizCard() {
  const quiz = state.quiz;
  const result = state.quizResult && (!quiz || state.quizResult.id === quiz.id) ? state.quizResult : null;
  const shown = result || quiz;
  const box = card(T.quiz, 'rw-quiz');
  box.append(el('p', 'rw-question', shown.question));
  const prize = shown.prize || {};
  box.append(el('p', 'rw-prize', prize.coupon ? T.prizeCoupon : T.prizePoints(prize.points)));
  const list = el('ol', 'rw-options');
  shown.options.forEach((text, index) => {
    const li = el('li', null);
    if (result) {
      li.append(el('span', null, text), el('span', 'rw-count', T.votes(result.counts[index] || 0)));
      if (index === result.correct) {
        li.classList.add('rw-right');
        li.append(el('span', 'rw-right-label', T.right));
      }
    } else if (!isModerator() && state.myAnswer === null) {
      li.append(button(text, () => {
        if (send('quiz_answer', { quiz: quiz.id, option: index })) state.myAnswer = index;
        render();
      }));
    } else {
      li.append(el('span', state.myAnswer === index ? 'rw-mine' : null, text));
    }
    list.append(li);
  });
  box.append(list);
  if (result) {
    box.append(el('p', 'rw-results', T.results(result.answered, result.winners)));
    if (state.quizPrize) box.append(el('p', 'rw-code', state.quizPrize));
  } else {
    const left = Math.max(0, (quiz.deadline - Date.now()) / 1000);
    box.append(el('p', 'rw-countdown', T.secondsLeft(left)));
    if (state.myAnswer !== null) box.append(el('p', 'rw-answered', T.answered));
  }
  return box;
}

function drawCard() {
  const draw = state.draw;
  const box = card(T.draw, 'rw-draw');
  const names = draw.winners.map((w) => w.name);
  box.append(el('p', 'rw-winners', T.drawWinners(names, draw.eligible)));
  if (draw.note) box.append(el('p', 'rw-note', draw.note));
  if (state.drawPrize) box.append(el('p', 'rw-won', state.drawPrize));
  return box;
}

// ---------------------------------------------------------------- host controls

function input(type, value = '') {
  const node = el('input');
  node.type = type;
  node.value = value;
  return node;
}

function hostCard() {
  const box = card(T.hostHeading, 'rw-host');
  const couponId = input('text');
  const dropForm = el('form', 'rw-form');
  dropForm.append(labelled(T.couponId, couponId), button(T.drop, () => {
    if (couponId.value.trim()) send('coupon_drop', { coupon: couponId.value.trim() });
  }, { className: 'primary' }));

  const question = input('text');
  const options = Array.from({ length: OPTION_FIELDS }, () => input('text'));
  const correct = el('select');
  options.forEach((_, i) => correct.append(new Option(T.option(i), String(i))));
  const seconds = input('number', '15');
  const points = input('number', '100');
  const quizForm = el('form', 'rw-form');
  quizForm.append(labelled(T.question, question));
  options.forEach((node, i) => quizForm.append(labelled(T.option(i), node)));
  quizForm.append(labelled(T.correct, correct), labelled(T.seconds, seconds),
    labelled(T.prizePointsField, points), button(T.ask, () => {
      const texts = options.map((o) => o.value.trim()).filter(Boolean);
      send('quiz_ask', {
        question: question.value.trim(), options: texts, correct: Number(correct.value),
        seconds: Number(seconds.value), points: Number(points.value),
      });
    }, { className: 'primary' }));

  const condition = el('select');
  for (const [value, text] of Object.entries(T.conditions)) condition.append(new Option(text, value));
  const minutes = input('number', '5');
  const winners = input('number', '1');
  const weighted = input('checkbox');
  const prizeCoupon = input('text');
  const note = input('text');
  const drawForm = el('form', 'rw-form');
  drawForm.append(labelled(T.condition, condition), labelled(T.minutes, minutes),
    labelled(T.winners, winners), labelled(T.weighted, weighted),
    labelled(T.prizeCouponField, prizeCoupon), labelled(T.note, note), button(T.runDraw, () => {
      const fields = { condition: condition.value, winners: Number(winners.value), weighted: weighted.checked };
      if (condition.value === 'watched') fields.minutes = Number(minutes.value);
      if (prizeCoupon.value.trim()) fields.coupon = prizeCoupon.value.trim();
      if (note.value.trim()) fields.note = note.value.trim();
      send('draw_run', fields);
    }, { className: 'primary' }));
  for (const form of [dropForm, quizForm, drawForm]) {
    form.addEventListener('submit', (event) => event.preventDefault());
  }
  box.append(dropForm, quizForm, drawForm);
  return box;
}

// ---------------------------------------------------------------- the bottom bar's button

function mountDockButton() {
  if (dockBtn && dockBtn.isConnected) return;
  const row = document.querySelector('#dock .dock-buttons');
  if (!row) return;
  dockBtn = dockButton('rewards', '🎁', t('dock.rewards'));
  row.append(dockBtn);
  renderDockButton();
}

function renderDockButton() {
  if (!dockBtn) return;
  dockBtn.classList.toggle('has-news', news);
  dockBtn.setAttribute('aria-label', news ? t('dock.rewards_new') : t('dock.rewards'));
}

function markNews() {
  if (currentSheet() === 'rewards') return;
  news = true;
  renderDockButton();
}

onSheet((name) => {
  if (name !== 'rewards' || !news) return;
  news = false;
  renderDockButton();
});

// ---------------------------------------------------------------- rendering

let hostBox = null;

function render() {
  if (!root) return;
  root.hidden = false;
  root.classList.add('sheet');
  root.dataset.sheetName = 'rewards';
  // The host's forms are built once: redrawing would lose what the host is typing.
  if (isModerator() && !hostBox) hostBox = hostCard();
  if (!isModerator()) hostBox = null;
  const cards = [pointsCard()];
  if (state.drop) cards.push(offerCard());
  if (state.quiz || state.quizResult) cards.push(quizCard());
  if (state.draw) cards.push(drawCard());
  if (hostBox) cards.push(hostBox);
  root.replaceChildren(sheetHead(el('h2', null, T.heading)), ...cards);
}

function tick() {
  if (state.quiz && !state.quizResult) {
    const node = root && root.querySelector('.rw-countdown');
    if (node) node.textContent = T.secondsLeft(Math.max(0, (state.quiz.deadline - Date.now()) / 1000));
  }
}

// ---------------------------------------------------------------- messages

function startQuiz(quiz) {
  state.quiz = { ...quiz, deadline: Date.now() + quiz.seconds_left * 1000 };
  state.myAnswer = null;
  state.quizResult = null;
  state.quizPrize = null;
}

const HANDLERS = {
  rewards_self(message) { state.me = message; },
  coupon_drop(message) { state.drop = message; state.code = null; markNews(); },
  coupon_stock(message) { if (state.drop && state.drop.id === message.id) state.drop.remaining = message.remaining; },
  coupon_end(message) {
    if (state.drop && state.drop.id === message.id) {
      state.drop = null;
      state.code = null;
      api.notice(T.offerEnded);
    }
  },
  coupon_claimed(message) { state.code = message.code; },
  quiz(message) { startQuiz(message); markNews(); },
  quiz_answered(message) { state.myAnswer = message.option; },
  quiz_result(message) {
    state.quizResult = message;
    state.quiz = null;
    send('rewards_me');
  },
  quiz_you(message) {
    if (message.code) state.quizPrize = T.youWonCode(message.code);
    else if (message.sold_out) state.quizPrize = T.soldOut;
    else state.quizPrize = T.youWonPoints(message.points);
  },
  draw_result(message) { state.draw = message; state.drawPrize = null; markNews(); },
  draw_won(message) {
    state.drawPrize = message.code ? `${T.youWon} ${T.yourCode(message.code)}` : T.youWon;
    api.notice(T.youWon);
  },
  checkin_done(message) {
    state.me = { ...(state.me || { catalog: [] }), balance: message.balance, streak: message.streak, checked_in: true };
    api.notice(T.checkedInNow(message.points));
  },
  points_redeemed(message) {
    state.redeemed.push(T.redeemed(message.reward.title, message.code));
    if (state.me) state.me.balance = message.balance;
  },
};

function onJoined(message, featureApi) {
  api = featureApi;
  root = document.getElementById('rewards');
  const rewards = message.rewards || {};
  state.drop = rewards.drop || null;
  state.code = null;
  state.me = null;
  if (rewards.quiz) startQuiz(rewards.quiz);
  mountDockButton();
  // A late joiner's bar shows that an offer or a quiz is running.
  if (state.drop || state.quiz) markNews();
  send('rewards_me');
  if (!ticker) ticker = setInterval(tick, 250);
  render();
}

registerFeature({
  onJoined,
  onMessage(message) {
    const handler = HANDLERS[message.type];
    if (!handler) return false;
    handler(message);
    render();
    return true;
  },
  onPresence() {
    if (root && api && (hostBox !== null) !== isModerator()) render();
  },
  onLeft() {
    if (root) root.hidden = true;
  },
});
