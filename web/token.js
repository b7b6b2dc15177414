// The room link's access token: read once from `?token=`, kept in this tab's
// sessionStorage (a reload, "Join again" and the language switch need it again), and
// taken out of the address bar with history.replaceState, so that it does not linger in
// the history, in bookmarks, or on a screen someone shares.

function storageKey() {
  return `salon.token:${window.location.pathname}`;
}

export function readToken() {
  const url = new URL(window.location.href);
  let token = url.searchParams.get('token');
  if (token) {
    try {
      sessionStorage.setItem(storageKey(), token);
    } catch {
      // Storage refused (private mode): the page works, a reload needs the link again.
    }
    url.searchParams.delete('token');
    const rest = url.searchParams.toString();
    window.history.replaceState(window.history.state, '', `${url.pathname}${rest ? `?${rest}` : ''}${url.hash}`);
    return token;
  }
  try {
    token = sessionStorage.getItem(storageKey());
  } catch {
    token = null;
  }
  return token || '';
}

// The resume token of the last `joined` (docs/protocol.md, "Resuming"): kept per tab, so
// that a reload or a lost socket comes back on stage, or live, without a click. Never
// shown, never logged.
const MAX_RESUME = 64;

function resumeKey() {
  return `salon.resume:${window.location.pathname}`;
}

export function readResume() {
  try {
    const value = sessionStorage.getItem(resumeKey());
    return value && value.length <= MAX_RESUME ? value : null;
  } catch {
    return null;
  }
}

export function keepResume(value) {
  try {
    if (typeof value === 'string' && value && value.length <= MAX_RESUME) {
      sessionStorage.setItem(resumeKey(), value);
    }
  } catch {
    // Storage refused (private mode): a reload comes back as a plain member.
  }
}

export function forgetResume() {
  try {
    sessionStorage.removeItem(resumeKey());
  } catch {
    // nothing kept
  }
}
