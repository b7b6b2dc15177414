// A question before an action that cannot be undone (remove, ban): the page's <dialog>,
// modal, with Cancel focused first. Resolves true only when the person confirms.

import { t } from './i18n.js';

export function confirmAction(question, confirmLabel) {
  const dialog = document.getElementById('confirm');
  if (!dialog || typeof dialog.showModal !== 'function') return Promise.resolve(false);
  const text = document.getElementById('confirm-text');
  const ok = document.getElementById('confirm-ok');
  const cancel = document.getElementById('confirm-cancel');
  text.textContent = question;
  ok.textContent = confirmLabel;
  cancel.textContent = t('confirm.cancel');
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener('click', yes);
      cancel.removeEventListener('click', no);
      dialog.removeEventListener('cancel', no);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const yes = () => done(true);
    const no = () => done(false);
    ok.addEventListener('click', yes);
    cancel.addEventListener('click', no);
    dialog.addEventListener('cancel', no);
    dialog.showModal();
    cancel.focus();
  });
}
