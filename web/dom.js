// Small DOM helpers for the room page's feature modules. Text always goes in with
// textContent, never as HTML.

export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function button(label, onClick, { className = '', aria = null } = {}) {
  const b = el('button', className, label);
  b.type = 'button';
  if (aria) b.setAttribute('aria-label', aria);
  b.addEventListener('click', onClick);
  return b;
}

export function labelled(labelText, input) {
  const wrap = el('label', 'field');
  wrap.append(el('span', 'field-label', labelText), input);
  return wrap;
}

// Only http(s) addresses reach the page (the server checks them); check again anyway.
export function safeUrl(text) {
  try {
    const url = new URL(String(text));
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
  } catch {
    return null;
  }
}

// A one-line text form (chat, questions): `onText(text)` gets the trimmed text and
// returns true when it was sent, which clears the input. Returns the form and its input.
export function textForm(className, { label, placeholder, submitText }, onText) {
  const form = el('form', className);
  const input = el('input');
  input.type = 'text';
  input.autocomplete = 'off';
  input.setAttribute('aria-label', label);
  input.placeholder = placeholder;
  const submit = el('button', 'primary', submitText);
  submit.type = 'submit';
  form.append(input, submit);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (onText(text)) input.value = '';
  });
  return { form, input };
}
