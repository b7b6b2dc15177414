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
